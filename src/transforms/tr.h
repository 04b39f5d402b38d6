/* tr.h: internals shared by the transforms (src/transforms/): the pointer
 * map, the traced-graph tape, the helper ops that rules use, and the
 * transforms' own primitives.
 *
 * Contract between the drivers (autodiff.c, vmap.c) and the rule slots of
 * mx_prim (see rules.h for the list):
 *  vjp:  cotan[o] has out[o]'s shape and dtype (zeros where an output got no
 *        cotangent); out[o] is NULL for an output nobody holds any more.
 *        grads[i] is the cotangent of in[argnums[i]], or NULL for zero. The
 *        driver casts a grad to its input's dtype and checks its shape.
 *  jvp:  tangents[i] (shape and dtype of in[argnums[i]]) are given only for
 *        the inputs listed in argnums; out_tangents[o] NULL means zero.
 *  vmap: in_axes[i] is the batch axis of in[i] or -1 (not batched; at least
 *        one input is batched); the rule writes every output and its batch
 *        axis (-1 if that output is not batched). The driver checks shapes.
 * Rules build their results with ops; the arrays belong to the current
 * scope (the driver's). Only inexact (floating or complex) inputs are ever
 * listed in argnums. */
#ifndef MX_TR_H
#define MX_TR_H

#include "../primitives/prim_util.h"
#include "mx/transforms.h"

/* ---- pointer map (open addressing) ---- */
typedef struct {
  const void *key;
  mx_array *val;
  int axis;
} mx_tr_slot;
typedef struct {
  mx_tr_slot *slots;
  size_t cap, n;
} mx_tr_map;
mx_tr_slot *mx_tr_map_get(const mx_tr_map *m, const void *key);
/* The slot of key, inserted (val NULL, axis -1) if absent; NULL on OOM. */
mx_tr_slot *mx_tr_map_put(mx_tr_map *m, const void *key);
void mx_tr_map_free(mx_tr_map *m);

/* ---- the traced graph ---- */
/* Nodes reachable from outs through unevaluated arrays, in topological order
 * (inputs first), stopping at arrays whose pointer is a key of `leaves`. The
 * caller frees *nodes. */
mx_status mx_tr_build_tape(mx_array *const *outs, int n, const mx_tr_map *leaves,
                           mx_node ***nodes, int *nnodes);
/* Inputs of n that transforms follow: [*lo, *hi). All but a custom
 * function's carrier and forward results. */
void mx_tr_traced_inputs(const mx_node *n, int *lo, int *hi);
/* The live outputs of a node (NULL for dead ones) in outs[0..n->nout). */
void mx_tr_live_outputs(const mx_node *n, mx_array **outs);

/* ---- helper ops for rules (results in the current scope) ---- */
bool mx_tr_inexact(const mx_array *a);
mx_array *mx_tr_zeros_like(const mx_array *a);
/* a + b for arrays of the same dtype (broadcasting). */
mx_array *mx_tr_add(mx_array *a, mx_array *b);
/* a - b with the same conventions. */
mx_array *mx_tr_sub(mx_array *a, mx_array *b);
/* s * a */
mx_array *mx_tr_scale(mx_array *a, double s);
/* Sum x over the axes that broadcasting added or expanded, giving `shape`
 * (which must broadcast to x's shape). */
mx_array *mx_tr_sum_to_shape(mx_array *x, const int *shape, int ndim);
/* Sum over all elements: a 0-d array. */
mx_array *mx_tr_sum_all(mx_array *x);
/* The same primitive and params applied to new inputs that have the
 * original inputs' shapes and dtypes (output o's shape and dtype are kept).
 * For linear primitives this is their jvp. */
mx_array *mx_tr_reapply1(const mx_node *n, mx_array *const *in);
mx_status mx_tr_reapply(const mx_node *n, mx_array *const *in, mx_array **out);
/* Same primitive and params applied to inputs with new shapes; out shape
 * and dtype given. */
mx_array *mx_tr_remake1(const mx_node *n, const void *params, mx_array *const *in,
                        mx_dtype t, const int *shape, int ndim);

/* x[i] = the tangent of input i where given (argnums), else the input itself
 * for index inputs (bit i of index_mask) or zeros: the inputs of a linear
 * primitive's jvp. */
mx_status mx_tr_tangent_inputs(const mx_node *n, mx_array *const *tangents,
                               const int *argnums, int nargs, uint64_t index_mask,
                               mx_array **x);
/* Slice bounds (for mx_slice / mx_slice_update) that select exactly
 * count[d] elements from the normalised first index first[d] by step[d]. */
void mx_tr_slice_bounds(const int *first, const int *step_in, const int *count, int nd,
                        int *start, int *stop, int *step);

/* ---- batching helpers (vmap rules) ---- */
/* The batch size of a node's batched inputs. */
int mx_tr_batch_size(mx_array *const *in, const int *axes, int n);
/* x with its batch axis first; an unbatched x is returned as is. */
mx_array *mx_tr_batch_front(mx_array *x, int axis);
/* x with its batch axis first; an unbatched x is broadcast to B copies. */
mx_array *mx_tr_batch_bcast(mx_array *x, int axis, int B);
/* For ops that broadcast their inputs numpy-style: batched inputs get the
 * batch axis first and enough size-1 axes after it to reach rank
 * maxrank + 1, where maxrank is the largest unbatched rank; unbatched
 * inputs are left alone (broadcasting prepends their missing axes). */
mx_status mx_tr_align(mx_array *const *in, const int *axes, int n, mx_array **out);
/* The explicit batch loop for primitives without a batched form: for each
 * b, the node's primitive on the b-th slices of the batched inputs, the
 * results stacked on axis 0. */
mx_status mx_tr_vmap_loop(const mx_node *n, mx_array *const *in, const int *axes,
                          mx_array **out, int *out_axes);

/* ---- the transforms' primitives ---- */
/* Identity view marking a traced input of vjp/jvp. */
extern const mx_prim mx_prim_trace_input;
/* Input stand-in while vmap traces a function (cannot be evaluated). */
extern const mx_prim mx_prim_vmap_placeholder;
/* custom_function: inputs carrier, args..., forward results...; outputs:
 * the forward results. */
extern const mx_prim mx_prim_custom;
typedef struct {
  mx_closure *fun, *vjp, *jvp; /* borrowed: the carrier input holds them */
  int nargs, nout;
} mx_custom_params;

/* vjp/jvp with all primals differentiated (diff == NULL) or those with
 * diff[i]; cotangents may be NULL entries. seed_first: ignore cotangents
 * and use ones for output 0 (which must have one element). */
mx_status mx_tr_vjp(mx_closure *f, mx_array *const *primals, int n, const bool *diff,
                    mx_array *const *cot, int ncot, bool seed_first, mx_vec *outputs,
                    mx_vec *vjps);

#endif
