/* compile.h: internals of mx_compile (src/transforms/compile*.c).
 *
 *  compile.c          the closure: signature cache, tracing into a graph,
 *                     replaying a cached graph on new inputs
 *  compile_simplify.c CSE, scalar-constant merging, dead-node removal, node
 *                     order and the shape rules of shapeless replay
 *  compile_fuse.c     finding elementwise regions, the `compiled` primitive
 *                     that runs one region as one kernel, and its rules
 *  compile_cpu.c      C source for a region, the system compiler, the cache
 *                     directory, dlopen, and the CPU kernel of `compiled`
 *  compile_cuda.c     CUDA fusion (NVRTC) is not written yet: the hook reports
 *                     "[compile] no CUDA fusion yet" and GPU regions stay
 *                     unfused (CUDA backend issue)
 *
 * A compiled graph (mx_cgraph) is plain data detached from any mx_node:
 * values (the function's inputs, retained constant arrays, node outputs)
 * and nodes (primitive, a copy of the params, input value ids). Replaying
 * it builds ordinary mx nodes on new inputs. */
#ifndef MX_COMPILE_INTERNAL_H
#define MX_COMPILE_INTERNAL_H

#include "tr.h"

/* ---- compiled graphs ---- */
enum { MX_CV_INPUT = 0, MX_CV_CONST = 1, MX_CV_NODE = 2 };

typedef struct {
  int kind;    /* MX_CV_* */
  int index;   /* input number, or producing node */
  int out;     /* output number of that node */
  mx_array *c; /* MX_CV_CONST: a retained array (evaluated or not) */
  mx_dtype dtype;
  int ndim;
  int shape[MX_MAX_NDIM]; /* as traced */
} mx_cg_value;

/* How shapeless replay finds a node's output shape when its inputs' shapes
 * changed: keep the traced shape (inputs must keep theirs), take input 0's,
 * or broadcast the shapes of `src`. */
enum { MX_SR_TRACED = 0, MX_SR_SAME = 1, MX_SR_BCAST = 2 };

typedef struct {
  const mx_prim *prim;
  void *params; /* malloc'd copy (NULL when params_size is 0) */
  size_t params_size;
  int nin;
  int *in;  /* value ids */
  int nout; /* outputs are values out0 .. out0 + nout - 1 */
  int out0;
  mx_stream stream;
  int rule; /* MX_SR_* */
  int nsrc;
  int *src; /* value ids (MX_SR_BCAST) */
} mx_cg_node;

typedef struct {
  int nin; /* values 0 .. nin - 1 are the inputs */
  int nvals, nnodes, nout;
  int vcap, ncap;
  mx_cg_value *vals;
  mx_cg_node *nodes;
  int *outs; /* value ids */
} mx_cgraph;

mx_cgraph *mx_cg_new(int nin);
/* Records input i's traced dtype and shape. */
void mx_cg_set_input(mx_cgraph *g, int i, mx_dtype t, const int *shape, int ndim);
void mx_cg_free(mx_cgraph *g);
/* Appends a constant (takes its own reference); returns its id or -1. */
int mx_cg_add_const(mx_cgraph *g, mx_array *a);
/* Appends a node and its output values (dtypes/shapes given); params are
 * copied, `in` too. Returns the node index or -1. */
int mx_cg_add_node(mx_cgraph *g, const mx_prim *prim, const void *params,
                   size_t params_size, const int *in, int nin, int nout,
                   const mx_dtype *dtypes, const int *const *shapes, const int *ndims,
                   mx_stream stream);
mx_status mx_cg_set_outputs(mx_cgraph *g, const int *outs, int nout);

/* Builds the graph's outputs on new inputs (in[0 .. g->nin)); outs gets
 * g->nout arrays of the current scope. infer: input shapes may differ from
 * the traced ones (shapeless mode; node shapes follow the rules). */
mx_status mx_cg_replay(const mx_cgraph *g, mx_array *const *in, bool infer,
                       mx_array **outs);

/* ---- simplification (compile_simplify.c) ---- */
/* Merges equal scalar constants and equivalent nodes (same primitive,
 * equivalent params, same inputs), collapses broadcast chains, drops nodes
 * no output needs, orders broadcasts right before their first consumer and
 * sets the shape rules. Returns a new graph (g is freed) or NULL. cse:
 * false keeps the nodes as traced (dead ones still go). */
mx_cgraph *mx_cg_simplify(mx_cgraph *g, bool cse);
/* Only the order and shape rules (graphs built from parts). */
mx_status mx_cg_finish(mx_cgraph *g);
/* consumers[v] lists the nodes that read value v: built as CSR
 * (start[v] .. start[v + 1]) over `list`. */
mx_status mx_cg_consumers(const mx_cgraph *g, int **start, int **list);
/* True when the value is an evaluated constant of one element (a literal
 * that generated code may inline). */
bool mx_cg_is_scalar_const(const mx_cgraph *g, int v);

/* ---- fusion (compile_fuse.c) ---- */
typedef struct {
  int traced_nodes; /* before simplification */
  int nodes;        /* after simplification, before fusion */
  int fused;        /* generated kernels in the graph */
  int fused_nodes;  /* nodes they replace */
  bool fallback;    /* kernels were wanted but could not be built */
} mx_cg_fuse_info;

/* Replaces elementwise regions of g by `compiled` nodes (when code can be
 * generated and built). Returns the new graph (g freed) or NULL on error. */
mx_cgraph *mx_cg_fuse(mx_cgraph *g, mx_cg_fuse_info *info);

/* One operation of a fused region. Operands: MX_FR_IN(k) region input k,
 * MX_FR_OP(j) an earlier op's value, MX_FR_LIT(l) literal l. */
enum { MX_FK_UNARY, MX_FK_BINARY, MX_FK_SELECT, MX_FK_ASTYPE, MX_FK_IDENTITY };
enum { MX_FR_IN = 0, MX_FR_OP = 1, MX_FR_LIT = 2 };
typedef struct {
  int kind, idx;
} mx_fr_ref;
typedef struct {
  int kind;          /* MX_FK_* */
  int op;            /* unary/binary op code */
  int aux;           /* binary: equal_nan */
  mx_dtype dtype;    /* result */
  mx_dtype in_dtype; /* first operand's */
  int nargs;
  mx_fr_ref args[3];
} mx_fr_op;
typedef struct {
  mx_dtype dtype;
  unsigned char bytes[8];
} mx_fr_lit;

/* A fused region: what the kernel computes and the unfused graph it
 * stands for (inputs: the region inputs; used by the transform rules and
 * when the kernel cannot be built). Reference counted: the graph's carrier
 * constant and each node's carrier input hold it. */
typedef struct mx_fused_region mx_fused_region;
typedef void (*mx_fused_fn)(int64_t n, char *const *ptrs, const int64_t *strides);
enum { MX_FR_PENDING = 0, MX_FR_READY = 1, MX_FR_FAILED = 2 };
struct mx_fused_region {
  atomic_int refs;
  int nin, nout, nops, nlits;
  mx_dtype *in_dtypes;
  bool *in_scalar; /* one element when traced: the contiguous path loads it once */
  mx_fr_op *ops;
  mx_fr_lit *lits;
  int *out_ops; /* op computing output o */
  mx_dtype *out_dtypes;
  mx_cgraph *sub;
  mx_stream stream;
  /* CPU kernel (compile_cpu.c) */
  char name[40];           /* kernel symbol */
  char *src;               /* its C source */
  _Atomic(mx_fused_fn) fn; /* once loaded */
  atomic_int state;        /* MX_FR_* */
  mx_fused_region *next;   /* build queue (under the builder's lock) */
  bool queued;
};
mx_fused_region *mx_fused_region_retain(mx_fused_region *r);
void mx_fused_region_release(mx_fused_region *r);

/* The primitive: inputs (carrier, region inputs...), outputs the region's. */
extern const mx_prim mx_prim_compiled;
typedef struct {
  mx_fused_region *region; /* borrowed: the carrier input holds it */
} mx_compiled_params;

/* ---- CPU code (compile_cpu.c) ---- */
/* True if the CPU generator handles this op (dtypes given). */
bool mx_fuse_cpu_supports(const mx_fr_op *op);
/* At trace time: writes the region's kernel source and finds the kernel
 * among those loaded, or queues it for the next build. 1: the region can
 * run fused; 0: kernels cannot be built (MX_COMPILE_DISABLE, no compiler;
 * the one-line notice is printed); -1: the generator cannot write it. */
int mx_fuse_cpu_prepare(mx_fused_region *r);
/* Builds every queued kernel in one compiler run and loads them; the first
 * eval of a `compiled` node whose kernel is queued calls it, so all the
 * kernels traced before it share one run. */
void mx_fuse_cpu_build_queued(void);
/* Drops a reference (under the builder's lock, which also unqueues a dead
 * region); true when it was the last. */
bool mx_fuse_cpu_unref(mx_fused_region *r);
/* Eval of `compiled` on the CPU (the unfused sub-graph if the kernel could
 * not be built). */
mx_status mx_cpu_compiled(mx_node *n, mx_array **in, mx_array **out);
/* Process-wide count of compiler runs (for the statistics). */
int64_t mx_fuse_compiler_runs(void);

/* ---- CUDA hook (compile_cuda.c) ---- */
/* Would write CUDA C source for a region (for NVRTC) into *src (malloc'd)
 * and load it; returns MX_ERR_UNSUPPORTED with "[compile] no CUDA fusion
 * yet" for now, and compile keeps GPU regions unfused (saying so once). */
mx_status mx_fuse_cuda_build(mx_fused_region *r, char **src);
/* Eval of `compiled` on a GPU stream: reports the error, never runs the CPU
 * kernel behind the stream's back. */
mx_status mx_cuda_fused(mx_node *n, mx_array **in, mx_array **out);

/* ---- closures ---- */
/* The payload of f if f's function is fn, else NULL (closure.c). */
void *mx_closure_payload(const mx_closure *f, mx_closure_fn fn);

/* Prints `msg` on stderr the first time `flag` is seen unset. */
void mx_compile_notice_once(atomic_int *flag, const char *msg);

#endif
