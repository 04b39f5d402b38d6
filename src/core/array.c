/* array.c: array objects, reference counts, per-thread scopes, node creation
 * and metadata. Arrays are freed when their count reaches zero; a node is
 * freed when its last output detaches from it (after evaluation or when the
 * outputs die), which releases the node's inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/dtypes.h"
#include "core.h"

static atomic_int_fast64_t g_live = 0;

int64_t mx_live_arrays(void) { return atomic_load(&g_live); }

/* ---- scopes ---- */
typedef struct {
  mx_array **items;
  int n, cap;
  int *marks; /* start index of each open scope */
  int nmarks, capmarks;
} scope_stack;

static _Thread_local scope_stack g_scopes;

void mx_scope_begin(void) {
  scope_stack *s = &g_scopes;
  if (s->nmarks == s->capmarks) {
    int nc = s->capmarks ? 2 * s->capmarks : 16;
    int *nm = realloc(s->marks, (size_t)nc * sizeof *nm);
    if (!nm) abort(); /* cannot continue without scope bookkeeping */
    s->marks = nm;
    s->capmarks = nc;
  }
  s->marks[s->nmarks++] = s->n;
}

void mx_scope_end(void) {
  scope_stack *s = &g_scopes;
  if (s->nmarks == 0) return;
  int start = s->marks[--s->nmarks];
  for (int i = s->n - 1; i >= start; i--) mx_array_release(s->items[i]);
  s->n = start;
  if (s->nmarks == 0) {
    free(s->items);
    free(s->marks);
    memset(s, 0, sizeof *s);
  }
}

int mx_scope_depth(void) { return g_scopes.nmarks; }

mx_array *mx_scope_adopt(mx_array *a) {
  if (!a) return NULL;
  scope_stack *s = &g_scopes;
  if (s->nmarks == 0) return a; /* caller owns it */
  if (s->n == s->cap) {
    int nc = s->cap ? 2 * s->cap : 256;
    mx_array **ni = realloc(s->items, (size_t)nc * sizeof *ni);
    if (!ni) {
      mx_set_error(MX_ERR_NOMEM, "[scope] out of memory");
      mx_array_release(a);
      return NULL;
    }
    s->items = ni;
    s->cap = nc;
  }
  s->items[s->n++] = a;
  return a;
}

mx_array *mx_keep(mx_array *a) {
  if (a) mx_array_retain(a);
  return a;
}

void mx_free(mx_array *a) {
  if (a) mx_array_release(a);
}

/* ---- lifetime ---- */
static mx_array *array_new(mx_dtype t, const int *shape, int ndim) {
  mx_array *a = mx_small_alloc(sizeof *a);
  if (!a) {
    mx_set_error(MX_ERR_NOMEM, "[array] out of memory");
    return NULL;
  }
  atomic_init(&a->refs, 1);
  atomic_init(&a->status, MX_ST_UNEVALUATED);
  a->dtype = t;
  a->ndim = ndim;
  if (ndim) memcpy(a->shape, shape, (size_t)ndim * sizeof(int));
  a->size = mx_shape_size(shape, ndim);
  a->stream = mx_current_stream();
  atomic_fetch_add(&g_live, 1);
  return a;
}

void mx_array_retain(mx_array *a) {
  atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

static void array_free_struct(mx_array *x) {
  if (x->buf) mx_buffer_release(x->buf);
  mx_small_free(x, sizeof *x);
  atomic_fetch_sub(&g_live, 1);
}

/* A node is freed when its last live output goes away. Outputs that died
 * earlier stayed allocated (dead, refs == 0) so that kernels always see every
 * output's shape; they go now. Inputs are pushed on the stack for the caller
 * to release, so long chains never recurse. */
typedef struct {
  mx_array **items;
  int n, cap;
  mx_array *local[64];
} rel_stack;

static void rel_push(rel_stack *st, mx_array *a) {
  if (st->n == st->cap) {
    int nc = st->cap * 2;
    mx_array **ns = st->items == st->local ? malloc((size_t)nc * sizeof *ns)
                                           : realloc(st->items, (size_t)nc * sizeof *ns);
    if (!ns) abort(); /* broken invariant: cannot release the graph */
    if (st->items == st->local) memcpy(ns, st->local, sizeof st->local);
    st->items = ns;
    st->cap = nc;
  }
  st->items[st->n++] = a;
}

static void node_destroy(mx_node *node, rel_stack *st) {
  for (int o = 0; o < node->nout; o++)
    if (node->out[o]) array_free_struct(node->out[o]); /* dead outputs */
  for (int i = 0; i < node->nin; i++) rel_push(st, node->in[i]);
  mx_small_free(node, node->block_size);
}

static void release_all(rel_stack *st) {
  while (st->n > 0) {
    mx_array *x = st->items[--st->n];
    if (atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) != 1) continue;
    mx_node *node = x->node;
    if (!node) {
      array_free_struct(x);
      continue;
    }
    /* x stays in node->out as a dead output until the node goes */
    if (atomic_fetch_sub_explicit(&node->refs, 1, memory_order_acq_rel) == 1)
      node_destroy(node, st);
  }
  if (st->items != st->local) free(st->items);
}

void mx_array_release(mx_array *a) {
  rel_stack st;
  st.items = st.local;
  st.n = 0;
  st.cap = 64;
  rel_push(&st, a);
  release_all(&st);
}

/* Detach an evaluated, live output from its node. */
void mx_array_detach(mx_array *a);
void mx_array_detach(mx_array *a) {
  mx_node *node = a->node;
  if (!node) return;
  node->out[a->out_index] = NULL;
  a->node = NULL;
  if (atomic_fetch_sub_explicit(&node->refs, 1, memory_order_acq_rel) == 1) {
    rel_stack st;
    st.items = st.local;
    st.n = 0;
    st.cap = 64;
    node_destroy(node, &st);
    release_all(&st);
  }
}

mx_status mx_node_make(const mx_prim *p, const void *params, size_t params_size,
                       mx_array *const *in, int nin, int nout, const mx_dtype *dtypes,
                       const int *const *shapes, const int *ndims, mx_array **out) {
  for (int i = 0; i < nin; i++)
    if (!in[i]) return mx_last_status() ? mx_last_status() : MX_ERR_INVALID;
  for (int o = 0; o < nout; o++)
    if (ndims[o] < 0 || ndims[o] > MX_MAX_NDIM)
      return mx_set_error(MX_ERR_INVALID, "[%s] result has %d dimensions (max %d)",
                          p->name, ndims[o], MX_MAX_NDIM);
  /* one block: node | in[nin] | out[nout] | params, each part 16-aligned */
  size_t off_in = (sizeof(mx_node) + 15) & ~(size_t)15;
  size_t off_out = off_in + (((size_t)nin * sizeof(mx_array *) + 15) & ~(size_t)15);
  size_t off_par = off_out + (((size_t)nout * sizeof(mx_array *) + 15) & ~(size_t)15);
  size_t total = off_par + params_size;
  mx_node *n = mx_small_alloc(total);
  if (!n) return mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", p->name);
  n->block_size = total;
  n->prim = p;
  n->nin = nin;
  n->nout = nout;
  n->stream = mx_current_stream();
  n->in = (mx_array **)((char *)n + off_in);
  n->out = (mx_array **)((char *)n + off_out);
  if (params_size) {
    n->params = (char *)n + off_par;
    memcpy(n->params, params, params_size);
  }
  n->params_size = params_size;
  for (int o = 0; o < nout; o++) {
    mx_array *a = array_new(dtypes[o], shapes[o], ndims[o]);
    if (!a) {
      for (int j = 0; j < o; j++) mx_array_release(n->out[j]);
      /* node freed through the outputs' release; if none, free here */
      if (o == 0) mx_small_free(n, n->block_size);
      return MX_ERR_NOMEM;
    }
    a->node = n;
    a->out_index = o;
    a->stream = n->stream;
    n->out[o] = a;
    atomic_fetch_add(&n->refs, 1);
    if (o == 0)
      for (int i = 0; i < nin; i++) {
        mx_array_retain(in[i]);
        n->in[i] = in[i];
      }
  }
  for (int o = 0; o < nout; o++) out[o] = mx_scope_adopt(n->out[o]);
  return MX_OK;
}

mx_array *mx_node_make1(const mx_prim *p, const void *params, size_t params_size,
                        mx_array *const *in, int nin, mx_dtype dtype, const int *shape,
                        int ndim) {
  mx_array *out = NULL;
  const int *shapes[1] = {shape};
  if (mx_node_make(p, params, params_size, in, nin, 1, &dtype, shapes, &ndim, &out) !=
      MX_OK)
    return NULL;
  return out;
}

mx_array *mx_array_new_evaluated(mx_buffer *buf, mx_dtype t, const int *shape, int ndim,
                                 const int64_t *strides, int64_t offset) {
  mx_array *a = array_new(t, shape, ndim);
  if (!a) {
    mx_buffer_release(buf);
    return NULL;
  }
  a->buf = buf;
  a->offset = offset;
  if (strides)
    memcpy(a->strides, strides, (size_t)ndim * sizeof(int64_t));
  else
    mx_row_strides(shape, ndim, a->strides);
  a->row_contiguous = mx_check_row_contiguous(shape, a->strides, ndim);
  atomic_store(&a->status, MX_ST_EVALUATED);
  return mx_scope_adopt(a);
}

static bool check_shape(const char *op, const int *shape, int ndim) {
  if (ndim < 0 || ndim > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[%s] ndim %d out of range [0, %d]", op, ndim,
                 MX_MAX_NDIM);
    return false;
  }
  if (ndim > 0 && !shape) {
    mx_set_error(MX_ERR_INVALID, "[%s] shape is NULL", op);
    return false;
  }
  int64_t total = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) {
      mx_set_error(MX_ERR_INVALID, "[%s] negative dimension %d in shape %s", op, shape[i],
                   mx_shape_str(shape, ndim));
      return false;
    }
    total *= shape[i];
    if (total > ((int64_t)1 << 48)) {
      mx_set_error(MX_ERR_INVALID, "[%s] shape %s is too large", op,
                   mx_shape_str(shape, ndim));
      return false;
    }
  }
  return true;
}

mx_array *mx_array_from_data(const void *data, const int *shape, int ndim, mx_dtype t) {
  if ((unsigned)t >= MX_NUM_DTYPES) {
    mx_set_error(MX_ERR_INVALID, "[array] invalid dtype %d", (int)t);
    return NULL;
  }
  if (!check_shape("array", shape, ndim)) return NULL;
  int64_t size = mx_shape_size(shape, ndim);
  size_t nbytes = (size_t)size * mx_dtype_size(t);
  if (nbytes && !data) {
    mx_set_error(MX_ERR_INVALID, "[array] data is NULL");
    return NULL;
  }
  mx_buffer *b = mx_buffer_alloc(nbytes);
  if (!b) return NULL;
  if (nbytes) memcpy(b->host, data, nbytes);
  return mx_array_new_evaluated(b, t, shape, ndim, NULL, 0);
}

mx_array *mx_array_from_external(void *data, const int *shape, int ndim, mx_dtype t,
                                 void (*release)(void *), void *ctx) {
  if ((unsigned)t >= MX_NUM_DTYPES) {
    mx_set_error(MX_ERR_INVALID, "[array] invalid dtype %d", (int)t);
    return NULL;
  }
  if (!check_shape("array", shape, ndim)) return NULL;
  size_t nbytes = (size_t)mx_shape_size(shape, ndim) * mx_dtype_size(t);
  mx_buffer *b = mx_buffer_external(data, nbytes, release, ctx);
  if (!b) return NULL;
  return mx_array_new_evaluated(b, t, shape, ndim, NULL, 0);
}

mx_array *mx_array_scalar_f64(double v, mx_dtype t) {
  unsigned char tmp[16] = {0};
  mx_store_f64(tmp, t, v);
  return mx_array_from_data(tmp, NULL, 0, t);
}

mx_array *mx_array_scalar_i64(int64_t v, mx_dtype t) {
  unsigned char tmp[16] = {0};
  mx_store_i64(tmp, t, v);
  return mx_array_from_data(tmp, NULL, 0, t);
}

mx_array *mx_array_scalar_bool(bool v) {
  uint8_t b = v;
  return mx_array_from_data(&b, NULL, 0, MX_BOOL);
}

mx_array *mx_array_from_f32(const float *data, const int *shape, int ndim) {
  return mx_array_from_data(data, shape, ndim, MX_FLOAT32);
}

mx_array *mx_array_from_i32(const int32_t *data, const int *shape, int ndim) {
  return mx_array_from_data(data, shape, ndim, MX_INT32);
}

/* ---- metadata ---- */
int mx_array_ndim(const mx_array *a) { return a ? a->ndim : 0; }
const int *mx_array_shape(const mx_array *a) { return a ? a->shape : NULL; }
int mx_array_dim(const mx_array *a, int axis) {
  if (!a) return 0;
  if (axis < 0) axis += a->ndim;
  if (axis < 0 || axis >= a->ndim) {
    mx_set_error(MX_ERR_INVALID, "[dim] axis %d out of range for %d-d array", axis,
                 a->ndim);
    return 0;
  }
  return a->shape[axis];
}
int64_t mx_array_size(const mx_array *a) { return a ? a->size : 0; }
mx_dtype mx_array_dtype(const mx_array *a) { return a ? a->dtype : MX_FLOAT32; }
size_t mx_array_itemsize(const mx_array *a) { return a ? mx_dtype_size(a->dtype) : 0; }
size_t mx_array_nbytes(const mx_array *a) {
  return a ? (size_t)a->size * mx_dtype_size(a->dtype) : 0;
}
bool mx_array_is_evaluated(const mx_array *a) {
  return a && atomic_load(&((mx_array *)a)->status) == MX_ST_EVALUATED;
}
mx_stream mx_array_stream(const mx_array *a) {
  return a ? a->stream : mx_current_stream();
}

/* ---- shape helpers ---- */
void mx_row_strides(const int *shape, int ndim, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
}

bool mx_check_row_contiguous(const int *shape, const int64_t *strides, int ndim) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    if (shape[i] == 1) continue;
    if (strides[i] != s) return false;
    s *= shape[i];
  }
  return true;
}

int64_t mx_shape_size(const int *shape, int ndim) {
  int64_t s = 1;
  for (int i = 0; i < ndim; i++) s *= shape[i];
  return s;
}

bool mx_norm_axis(int *axis, int ndim) {
  int a = *axis < 0 ? *axis + ndim : *axis;
  if (a < 0 || a >= ndim) return false;
  *axis = a;
  return true;
}

const char *mx_shape_str(const int *shape, int ndim) {
  static _Thread_local char buf[4][256];
  static _Thread_local int which = 0;
  char *b = buf[which++ & 3];
  size_t n = 0;
  n += (size_t)snprintf(b + n, 256 - n, "(");
  for (int i = 0; i < ndim && n < 240; i++)
    n += (size_t)snprintf(b + n, 256 - n, i ? ",%d" : "%d", shape[i]);
  snprintf(b + n, 256 - n, ndim == 1 ? ",)" : ")");
  return b;
}

bool mx_broadcast_shapes(const int *a, int na, const int *b, int nb, int *out,
                         int *nout) {
  int n = na > nb ? na : nb;
  if (n > MX_MAX_NDIM) return false;
  for (int i = 0; i < n; i++) {
    int da = i < n - na ? 1 : a[i - (n - na)];
    int db = i < n - nb ? 1 : b[i - (n - nb)];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else
      return false;
  }
  *nout = n;
  return true;
}

/* ---- kernel helpers ---- */
mx_status mx_array_alloc(mx_array *out) {
  size_t nbytes = (size_t)out->size * mx_dtype_size(out->dtype);
  mx_buffer *b = mx_buffer_alloc(nbytes);
  if (!b) return MX_ERR_NOMEM;
  if (out->buf) mx_buffer_release(out->buf);
  out->buf = b;
  out->offset = 0;
  mx_row_strides(out->shape, out->ndim, out->strides);
  out->row_contiguous = true;
  return MX_OK;
}

void mx_array_set_view(mx_array *out, mx_array *src, const int64_t *strides,
                       int64_t offset) {
  mx_buffer_retain(src->buf);
  if (out->buf) mx_buffer_release(out->buf);
  out->buf = src->buf;
  memcpy(out->strides, strides, (size_t)out->ndim * sizeof(int64_t));
  out->offset = offset;
  out->row_contiguous = mx_check_row_contiguous(out->shape, out->strides, out->ndim);
}
