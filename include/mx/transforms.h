/* mx/transforms.h: function values (closures) and the function transforms of
 * MLX: vjp, jvp, value_and_grad / grad, vmap, checkpoint, custom functions
 * and compile.
 *
 * A closure maps a list of arrays to a list of arrays. It carries a payload
 * and its destructor and is reference counted: mx_closure_new returns it with
 * one reference, mx_closure_retain adds one, mx_closure_free drops one (the
 * payload is destroyed with the last). Closures are not scope managed.
 *
 * Every transform that produces a function returns a new closure (one
 * reference, owned by the caller), so transforms compose: grad of grad, vmap
 * of grad, grad of vmap, checkpoint inside grad, ...
 *
 * Arrays a closure returns belong to the caller's scope, like op results.
 *
 * Tracing: transforms run the function once on tracer arrays and read the
 * graph it built, so the function must build its results with mx ops and must
 * not evaluate arrays that depend on its inputs (mx_eval, reading data): an
 * evaluated array has no graph. Arrays the function closes over are
 * constants.
 *
 * Gradients flow through floating (and complex) arrays only: integer and
 * bool arrays have zero tangents and cotangents (JAX's convention; MLX passes
 * gradients straight through astype to integers). */
#ifndef MX_TRANSFORMS_H
#define MX_TRANSFORMS_H

#include "array.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- array lists ---- */
/* A growable list of borrowed array pointers (the arrays belong to scopes as
 * usual). Start from MX_VEC_INIT (all zero). */
typedef struct {
  mx_array **items;
  int n, cap;
} mx_vec;
#define MX_VEC_INIT \
  { NULL, 0, 0 }
/* Appends a (which must not be NULL: a NULL records nothing new and returns
 * the pending error status, or MX_ERR_INVALID). */
mx_status mx_vec_push(mx_vec *v, mx_array *a);
void mx_vec_clear(mx_vec *v); /* n = 0, keeps the storage */
void mx_vec_free(mx_vec *v);  /* frees the storage, n = cap = 0 */

/* ---- closures ---- */
typedef struct mx_closure mx_closure;
/* Computes the outputs of inputs in[0..nin): pushes each output on `out`
 * (which the caller passes empty). Records an error with mx_set_error and
 * returns its status on failure. */
typedef mx_status (*mx_closure_fn)(void *payload, mx_array *const *in, int nin,
                                   mx_vec *out);
/* destroy (may be NULL) runs on payload when the last reference goes. */
mx_closure *mx_closure_new(mx_closure_fn fn, void *payload,
                           void (*destroy)(void *payload));
mx_closure *mx_closure_retain(mx_closure *f); /* returns f; NULL-safe */
void mx_closure_free(mx_closure *f);          /* NULL-safe */
/* Clears `out`, runs f and checks that every output is non-NULL. */
mx_status mx_closure_call(mx_closure *f, mx_array *const *in, int nin, mx_vec *out);
/* f's only output (an error if f does not return exactly one). */
mx_array *mx_closure_call1(mx_closure *f, mx_array *const *in, int nin);

/* ---- reverse and forward mode ---- */
/* outputs = f(primals); vjps[i] = sum_o cotangents[o] . d outputs[o] /
 * d primals[i]. ncotangents must equal the number of outputs; a NULL
 * cotangent means zero. Cotangents are cast to their output's dtype. */
mx_status mx_vjp(mx_closure *f, mx_array *const *primals, int nprimals,
                 mx_array *const *cotangents, int ncotangents, mx_vec *outputs,
                 mx_vec *vjps);
/* outputs = f(primals); jvps[o] = sum_i d outputs[o] / d primals[i] .
 * tangents[i]. tangents has nprimals entries (a NULL entry means zero). */
mx_status mx_jvp(mx_closure *f, mx_array *const *primals, int nprimals,
                 mx_array *const *tangents, mx_vec *outputs, mx_vec *jvps);

/* Closure forms. vjp_fn(primals[0..nprimals), cotangents...) -> (outputs...,
 * vjps...); jvp_fn(primals[0..n), tangents[0..n)) -> (outputs..., jvps...). */
mx_closure *mx_vjp_fn(mx_closure *f, int nprimals);
mx_closure *mx_jvp_fn(mx_closure *f);

/* value_and_grad(f, argnums)(inputs) -> (f's outputs..., one gradient per
 * argnum): gradients of f's FIRST output, which must have one element
 * (further outputs are auxiliary values and get no gradient). argnums ==
 * NULL means {0}; negative argnums count from the end of the inputs; they
 * must be distinct. Gradients come in the order of argnums. */
mx_closure *mx_value_and_grad(mx_closure *f, const int *argnums, int nargnums);
/* Same, returning only the gradients. */
mx_closure *mx_grad(mx_closure *f, const int *argnums, int nargnums);

/* ---- vectorization ---- */
/* vmap(f, in_axes, out_axes)(inputs): f applied to each slice along
 * in_axes[i] of input i, the results stacked along out_axes[o] of output o.
 * in_axes[i] == -1: input i is not mapped (the same for every slice);
 * in_axes == NULL: all 0. out_axes == NULL: all 0; a negative out axis
 * counts from the end of the batched output. At least one input must be
 * mapped, and every mapped axis must have the same size. Every primitive
 * has a batching rule; the few without a batched form (random sampling,
 * dynamic slices with batched starts, per-batch pad values, batched
 * quantized weights) loop over the batch explicitly inside their rule. */
mx_closure *mx_vmap(mx_closure *f, const int *in_axes, int nin_axes, const int *out_axes,
                    int nout_axes);

/* ---- custom functions ---- */
/* A closure that computes f but differentiates with user rules:
 *  vjp(primals[0..n), cotangents[0..m), outputs[0..m)) -> n vjps (one per
 *     primal; return zeros for primals without a gradient),
 *  jvp(primals[0..n), tangents[0..n)) -> m jvps (tangents of primals that
 *     are not differentiated are zeros).
 * Either rule may be NULL: the transform then traces f itself. vmap traces f
 * (the custom rules do not survive vmap). */
mx_closure *mx_custom_function(mx_closure *f, mx_closure *vjp, mx_closure *jvp);
mx_closure *mx_custom_vjp(mx_closure *f, mx_closure *vjp);
/* f whose intermediate values are not kept for the backward pass: the vjp
 * recomputes f's forward from the primals. */
mx_closure *mx_checkpoint(mx_closure *f);

/* ---- compile ---- */
/* compile(f): the same function, traced once per input signature into a
 * simplified graph whose elementwise regions run as generated kernels.
 *
 * A call keys the inputs' stream, dtypes and shapes; a new signature traces
 * f (on placeholder arrays: f must build its results with mx ops and must
 * not evaluate anything that depends on its inputs) and caches the graph;
 * a known one replays the cached graph on the new inputs without running
 * f. The graph is simplified (common subexpressions merged, one-element
 * constants folded, unused nodes dropped), then chains of elementwise ops
 * (unary, binary, where, astype and the broadcasts feeding them) become one
 * `compiled` node each, run by C code generated for the region. The first
 * evaluation that needs a kernel builds every kernel traced so far with one
 * run of the system compiler ($MX_CC, else $CC, else cc) into a cache
 * directory ($MX_COMPILE_CACHE, else $XDG_CACHE_HOME/mx, else ~/.cache/mx;
 * it must be the user's and not writable by others), where later processes
 * find it. Without a working compiler, or with MX_COMPILE_DISABLE=1, the
 * simplified graph runs unfused (a one-line notice on stderr, once per
 * process).
 *
 * Like MLX, f must be pure: state it reads that is not an input (the
 * global random key, closed-over arrays) is frozen when it is traced.
 * Compiled functions compose with the other transforms (grad of compile,
 * compile of grad, vmap, ...). Results equal the uncompiled function's:
 * bit for bit for arithmetic, comparisons and casts; exp/tanh/sigmoid use
 * the same polynomials as the vector kernels, other transcendental ops call
 * libm as the plain kernels do. */
enum {
  /* Key on ndims and dtypes only: new shapes replay the same graph (node
   * shapes re-inferred; a node whose shape cannot be inferred, such as a
   * reshape of an input whose size changed, reports an error). */
  MX_COMPILE_SHAPELESS = 1,
  MX_COMPILE_NO_SIMPLIFY = 2, /* keep the traced nodes (no CSE, no folding) */
  MX_COMPILE_NO_FUSE = 4      /* simplify only: no generated kernels */
};
mx_closure *mx_compile(mx_closure *f, int flags);

/* What a compiled function has done (for tests and tuning). */
typedef struct {
  int traces;        /* times f was traced */
  int cache_entries; /* signatures cached */
  /* the last trace: */
  int traced_nodes; /* input-dependent nodes f built */
  int nodes;        /* after simplification */
  int kernels;      /* generated kernels in the graph (built when first
                       evaluated; a failed build runs them unfused) */
  int fused_nodes;  /* nodes those kernels replaced */
  bool fallback;    /* kernels were wanted but the compiler was unavailable */
  /* process-wide: */
  int64_t compiler_runs; /* invocations of the system compiler */
} mx_compile_stats;
/* compiled == NULL fills the process-wide fields only (the rest zero); a
 * closure that mx_compile did not make is an error. */
mx_status mx_compile_get_stats(mx_closure *compiled, mx_compile_stats *st);

#ifdef __cplusplus
}
#endif
#endif
