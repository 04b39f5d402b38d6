/* core.h: private definitions of the array core shared by ops, primitives and
 * backends: the array and node structs, buffers, the primitive vtable and the
 * helpers kernels use to allocate outputs.
 *
 * Layout convention: shapes are int (per axis), strides and sizes int64_t in
 * elements (not bytes). `offset` is the element offset of the first element
 * into the buffer. */
#ifndef MX_CORE_H
#define MX_CORE_H

#include <stdatomic.h>

#include "mx/mx.h"

typedef struct mx_buffer mx_buffer;
typedef struct mx_node mx_node;
typedef struct mx_prim mx_prim;

/* A block of memory shared by the arrays that view it. */
struct mx_buffer {
  atomic_int_fast64_t refs;
  void *host;                 /* host copy (NULL if only on the device) */
  size_t nbytes;              /* bytes requested */
  size_t capacity;            /* bytes held by the allocator (0 for external) */
  void (*release)(void *ctx); /* external memory: called on last release */
  void *release_ctx;
  void *dev;           /* device copy (CUDA) or NULL */
  size_t dev_capacity; /* bytes held by the device allocator */
  int valid;           /* MX_VALID_HOST | MX_VALID_DEVICE */
  bool small;          /* struct from mx_small_alloc (else calloc) */
};
#define MX_VALID_HOST 1
#define MX_VALID_DEVICE 2

enum { MX_ST_UNEVALUATED = 0, MX_ST_SCHEDULED = 1, MX_ST_EVALUATED = 2 };

/* The fields that graph building, evaluation and release touch for every
 * array come first, in one cache line: a decoded token streams the weights
 * through every cache level, so each array's metadata is a memory miss. */
struct mx_array {
  atomic_int refs;
  atomic_int status;
  mx_dtype dtype;
  int ndim;
  mx_buffer *buf; /* NULL until evaluated */
  mx_node *node;  /* producing node while unevaluated, else NULL */
  int64_t size;
  int64_t offset;
  int out_index;       /* which output of node */
  bool row_contiguous; /* valid after evaluation */
  mx_stream stream;
  int shape[MX_MAX_NDIM];
  int64_t strides[MX_MAX_NDIM];
};

/* Primitive vtable: one entry per primitive kind. Transforms and backends are
 * written against this table. Slots a primitive does not support stay NULL
 * and give a clear error ("[vjp] not implemented for X"). */
struct mx_prim {
  const char *name;
  /* Compute outputs from inputs. Outputs have shape and dtype set; the kernel
   * allocates them (mx_array_alloc) or makes them views (mx_array_set_view). */
  mx_status (*eval_cpu)(mx_node *n, mx_array **in, mx_array **out);
  mx_status (*eval_cuda)(mx_node *n, mx_array **in, mx_array **out);
  /* Autodiff: cotangents of the outputs -> cotangents of inputs argnums. */
  mx_status (*vjp)(mx_node *n, mx_array *const *in, mx_array *const *out,
                   mx_array *const *cotan, const int *argnums, int nargs,
                   mx_array **grads);
  /* Forward mode: tangents of inputs argnums -> tangents of the outputs. */
  mx_status (*jvp)(mx_node *n, mx_array *const *in, mx_array *const *tangents,
                   const int *argnums, int nargs, mx_array **out_tangents);
  /* Batching: in_axes[i] = batched axis of in[i] or -1. */
  mx_status (*vmap)(mx_node *n, mx_array *const *in, const int *in_axes, mx_array **out,
                    int *out_axes);
  /* compile: same computation? NULL means compare params bytewise. */
  bool (*is_equivalent)(const mx_node *a, const mx_node *b);
  /* CPU, optional: several ready nodes of this primitive run as one call
   * (eval_cpu_group(nodes, n), n >= 2) when cpu_group_ok(nodes[0], other)
   * says `other` may join nodes[0]; each node's outputs must be what
   * eval_cpu gives. The tape groups nodes that follow the first closely
   * (decode: the q/k/v and gate/up products of one input share one
   * preparation of it and one pool job). */
  bool (*cpu_group_ok)(const mx_node *first, const mx_node *other);
  mx_status (*eval_cpu_group)(mx_node *const *nodes, int n);
};

/* A computation: a primitive with plain-data params, its inputs (strong
 * references) and outputs (weak: outputs own the node). */
struct mx_node {
  atomic_int refs; /* one per attached output */
  const mx_prim *prim;
  void *params; /* copy, plain data, 16-byte aligned, in the node's block */
  size_t params_size;
  int nin;
  mx_array **in; /* in the node's block */
  int nout;
  mx_array **out; /* in the node's block */
  mx_stream stream;
  size_t block_size; /* node, in, out and params: one mx_small_alloc block */
};

/* ---- array internals ---- */
void mx_array_retain(mx_array *a);
void mx_array_release(mx_array *a);
/* Register a fresh (+1) array with the current scope; returns it. */
mx_array *mx_scope_adopt(mx_array *a);
/* New unevaluated output arrays for a node. Takes its own references to
 * inputs; params (params_size bytes) are copied. Returns NULL on error. */
mx_array *mx_node_make1(const mx_prim *p, const void *params, size_t params_size,
                        mx_array *const *in, int nin, mx_dtype dtype, const int *shape,
                        int ndim);
mx_status mx_node_make(const mx_prim *p, const void *params, size_t params_size,
                       mx_array *const *in, int nin, int nout, const mx_dtype *dtypes,
                       const int *const *shapes, const int *ndims, mx_array **out);
/* A new evaluated array over a buffer (takes a buffer reference). */
mx_array *mx_array_new_evaluated(mx_buffer *buf, mx_dtype t, const int *shape, int ndim,
                                 const int64_t *strides, int64_t offset);

/* Kernel helpers. */
mx_status mx_array_alloc(mx_array *out); /* contiguous host buffer */
/* out views src's buffer with its own strides/offset (elements of src's
 * dtype size equal to out's). */
void mx_array_set_view(mx_array *out, mx_array *src, const int64_t *strides,
                       int64_t offset);
/* Pointer to element 0 of an evaluated array on the host. */
static inline void *mx_array_ptr(const mx_array *a) {
  return (char *)a->buf->host + a->offset * (int64_t)mx_dtype_size(a->dtype);
}
void mx_row_strides(const int *shape, int ndim, int64_t *strides);
bool mx_check_row_contiguous(const int *shape, const int64_t *strides, int ndim);
int64_t mx_shape_size(const int *shape, int ndim);
/* Normalise axis into [0, ndim); false when out of range. */
bool mx_norm_axis(int *axis, int ndim);
/* Shape to "(2,3,4)" into a static per-thread buffer (for messages). */
const char *mx_shape_str(const int *shape, int ndim);
/* Broadcast two shapes; false if incompatible. */
bool mx_broadcast_shapes(const int *a, int na, const int *b, int nb, int *out, int *nout);

/* ---- buffers and allocator ---- */
mx_buffer *mx_buffer_alloc(size_t nbytes); /* records error on failure */
mx_buffer *mx_buffer_external(void *data, size_t nbytes, void (*release)(void *),
                              void *ctx);
void mx_buffer_retain(mx_buffer *b);
void mx_buffer_release(mx_buffer *b);
/* Make the host copy valid (downloads from device when needed). */
mx_status mx_buffer_ensure_host(mx_buffer *b);

/* Caching allocators: the host one, and the device one whose raw functions
 * the CUDA backend registers (limit 0 keeps the default). */
/* Small fixed-size blocks (array, node and buffer structs): a per-thread cache
 * of freed blocks in front of malloc, because graph building allocates and
 * frees several hundred of them per decoded token and glibc's calloc and
 * free for 100-300 byte blocks cost more than the ops they describe. The
 * caller passes the same size to free as to alloc. mx_small_alloc zeroes. */
void *mx_small_alloc(size_t n);
void mx_small_free(void *p, size_t n);
/* A per-thread scratch buffer of at least n bytes (64-byte aligned), kept
 * for the thread's next call with the same slot; contents are undefined.
 * Kernels use it for per-call temporaries of tens of KB, which malloc
 * would otherwise hand back to the system and fault in again on every
 * call. One slot per call site, never held across a call that may use
 * the same slot. NULL when out of memory. */
enum { MX_SCRATCH_SDPA, MX_SCRATCH_QMM, MX_SCRATCH_QX, MX_SCRATCH_COUNT };
void *mx_thread_scratch(int slot, size_t n);

typedef struct mx_allocator mx_allocator;
mx_allocator *mx_allocator_host(void);
mx_allocator *mx_allocator_device(void);
void mx_allocator_set_raw(mx_allocator *al, void *(*alloc_fn)(size_t),
                          void (*free_fn)(void *), size_t limit);
/* Records an error and returns NULL on failure; *cap_out = block size. */
void *mx_allocator_alloc(mx_allocator *al, size_t nbytes, size_t *cap_out);
void mx_allocator_free(mx_allocator *al, void *p, size_t cap);

/* ---- threads ---- */
typedef void (*mx_range_fn)(void *ctx, int64_t begin, int64_t end);
/* Runs fn over [0, n) split in chunks of at least `grain` across the pool;
 * returns when all are done. Nested calls run inline. */
void mx_parallel_for(int64_t n, int64_t grain, mx_range_fn fn, void *ctx);

/* ---- CUDA hooks (the CUDA backend; in a build without CUDA, cuda_none.c
 * answers "no GPU" / a clear error) ---- */
bool mx_cuda_compiled(void);
int mx_cuda_device_count(void);
mx_status mx_cuda_synchronize(void);
mx_status mx_cuda_buffer_to_host(mx_buffer *b);
void mx_cuda_buffer_free(mx_buffer *b);

#define MX_CHECK_NULL1(a)  \
  do {                     \
    if (!(a)) return NULL; \
  } while (0)

#endif
