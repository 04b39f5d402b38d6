/* compile_simplify.c: simplification of compiled graphs (compile.h).
 *
 *  - equal one-element constants (same dtype, shape and bytes) become one;
 *  - common subexpressions: nodes with the same primitive, stream, inputs,
 *    output dtypes/shapes and equivalent params (mx_prim.is_equivalent,
 *    else the params bytes) become one. Compile calls is_equivalent with
 *    nodes that carry only prim/params/nin/nout (in and out are NULL);
 *  - broadcast(broadcast(x)) becomes one broadcast of x, a broadcast to
 *    the input's own shape disappears;
 *  - nodes no output needs are dropped;
 *  - each broadcast moves right before its first consumer, so the operands
 *    a shapeless replay reads to size it are already built;
 *  - shape rules for shapeless replay (compile.h). */
#include <stdlib.h>
#include <string.h>

#include "../primitives/binary.h"
#include "../primitives/layout.h"
#include "../primitives/unary.h"
#include "../primitives/views.h"
#include "compile.h"

static mx_status nomem(void) {
  return mx_set_error(MX_ERR_NOMEM, "[compile] out of memory");
}

static bool same_shape(const int *a, int na, const int *b, int nb) {
  return na == nb && memcmp(a, b, sizeof(int) * (size_t)na) == 0;
}

/* The bytes of a one-element evaluated constant readable on the host. */
static bool scalar_bytes(const mx_array *a, unsigned char *out) {
  if (atomic_load(&((mx_array *)a)->status) != MX_ST_EVALUATED || a->size != 1 ||
      !a->buf || !a->buf->host || !(a->buf->valid & MX_VALID_HOST))
    return false;
  memcpy(out, mx_array_ptr(a), mx_dtype_size(a->dtype));
  return true;
}

bool mx_cg_is_scalar_const(const mx_cgraph *g, int v) {
  unsigned char b[16];
  const mx_cg_value *x = &g->vals[v];
  return x->kind == MX_CV_CONST && x->dtype != MX_COMPLEX64 && scalar_bytes(x->c, b);
}

mx_status mx_cg_consumers(const mx_cgraph *g, int **start_out, int **list_out) {
  int *start = calloc((size_t)g->nvals + 1, sizeof *start);
  int total = 0;
  for (int k = 0; k < g->nnodes; k++) total += g->nodes[k].nin;
  int *list = malloc(sizeof(int) * (size_t)(total ? total : 1));
  int *fill = calloc((size_t)g->nvals + 1, sizeof *fill);
  if (!start || !list || !fill) {
    free(start);
    free(list);
    free(fill);
    return nomem();
  }
  for (int k = 0; k < g->nnodes; k++)
    for (int j = 0; j < g->nodes[k].nin; j++) start[g->nodes[k].in[j] + 1]++;
  for (int v = 0; v < g->nvals; v++) start[v + 1] += start[v];
  for (int k = 0; k < g->nnodes; k++)
    for (int j = 0; j < g->nodes[k].nin; j++) {
      int v = g->nodes[k].in[j];
      list[start[v] + fill[v]++] = k;
    }
  free(fill);
  *start_out = start;
  *list_out = list;
  return MX_OK;
}

/* ---- CSE ---- */
static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint64_t node_hash(const mx_cgraph *g, const mx_cg_node *n) {
  uint64_t h = mix(0, (uint64_t)(uintptr_t)n->prim);
  h = mix(h, (uint64_t)n->nin);
  for (int j = 0; j < n->nin; j++) h = mix(h, (uint64_t)n->in[j]);
  for (int o = 0; o < n->nout; o++) {
    const mx_cg_value *v = &g->vals[n->out0 + o];
    h = mix(h, (uint64_t)v->dtype);
    for (int d = 0; d < v->ndim; d++) h = mix(h, (uint64_t)v->shape[d]);
  }
  /* params bytes only when they decide equality */
  if (!n->prim->is_equivalent)
    for (size_t i = 0; i < n->params_size; i++)
      h = mix(h, ((const unsigned char *)n->params)[i]);
  return h;
}

static bool node_equal(const mx_cgraph *g, const mx_cg_node *a, const mx_cg_node *b) {
  if (a->prim != b->prim || a->nin != b->nin || a->nout != b->nout ||
      a->stream.index != b->stream.index ||
      a->stream.device.type != b->stream.device.type ||
      memcmp(a->in, b->in, sizeof(int) * (size_t)a->nin) != 0)
    return false;
  for (int o = 0; o < a->nout; o++) {
    const mx_cg_value *x = &g->vals[a->out0 + o], *y = &g->vals[b->out0 + o];
    if (x->dtype != y->dtype || !same_shape(x->shape, x->ndim, y->shape, y->ndim))
      return false;
  }
  if (a->prim->is_equivalent) {
    mx_node na = {.prim = a->prim,
                  .params = a->params,
                  .params_size = a->params_size,
                  .nin = a->nin,
                  .nout = a->nout,
                  .stream = a->stream};
    mx_node nb = {.prim = b->prim,
                  .params = b->params,
                  .params_size = b->params_size,
                  .nin = b->nin,
                  .nout = b->nout,
                  .stream = b->stream};
    return a->prim->is_equivalent(&na, &nb);
  }
  return a->params_size == b->params_size &&
         (a->params_size == 0 || memcmp(a->params, b->params, a->params_size) == 0);
}

/* repl[v]: the value v is replaced by; drop[k]: node k merged away. */
static mx_status cse(mx_cgraph *g, int *repl, bool *drop) {
  /* one-element constants */
  for (int v = 0; v < g->nvals; v++) {
    unsigned char bv[16], bw[16];
    if (!mx_cg_is_scalar_const(g, v)) continue;
    scalar_bytes(g->vals[v].c, bv);
    for (int w = 0; w < v; w++) {
      if (repl[w] != w || !mx_cg_is_scalar_const(g, w)) continue;
      const mx_cg_value *a = &g->vals[v], *b = &g->vals[w];
      if (a->dtype != b->dtype || !same_shape(a->shape, a->ndim, b->shape, b->ndim))
        continue;
      scalar_bytes(b->c, bw);
      if (memcmp(bv, bw, mx_dtype_size(a->dtype)) == 0) {
        repl[v] = w;
        break;
      }
    }
  }
  size_t cap = 16;
  while (cap < 2 * (size_t)g->nnodes) cap *= 2;
  int *table = malloc(sizeof(int) * cap);
  if (!table) return nomem();
  for (size_t i = 0; i < cap; i++) table[i] = -1;
  for (int k = 0; k < g->nnodes; k++) {
    mx_cg_node *n = &g->nodes[k];
    for (int j = 0; j < n->nin; j++) n->in[j] = repl[n->in[j]];
    if (n->prim == &mx_prim_broadcast && n->nin == 1) {
      const mx_cg_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out0];
      if (x->kind == MX_CV_NODE && g->nodes[x->index].prim == &mx_prim_broadcast)
        n->in[0] = g->nodes[x->index].in[0]; /* broadcast of a broadcast */
      x = &g->vals[n->in[0]];
      if (x->dtype == y->dtype && same_shape(x->shape, x->ndim, y->shape, y->ndim)) {
        repl[n->out0] = n->in[0];
        drop[k] = true;
        continue;
      }
    }
    uint64_t h = node_hash(g, n);
    size_t j = (size_t)h & (cap - 1);
    bool merged = false;
    while (table[j] >= 0) {
      const mx_cg_node *m = &g->nodes[table[j]];
      if (node_equal(g, m, n)) {
        for (int o = 0; o < n->nout; o++) repl[n->out0 + o] = m->out0 + o;
        drop[k] = merged = true;
        break;
      }
      j = (j + 1) & (cap - 1);
    }
    if (!merged) table[j] = k;
  }
  free(table);
  return MX_OK;
}

/* ---- rebuilding ---- */
typedef struct {
  const mx_cgraph *g;
  mx_cgraph *ng;
  const int *repl;
  const bool *live;
  int *newid; /* old value -> new value */
  bool *done; /* node emitted */
} rebuild;

static mx_status emit(rebuild *r, int k);

/* Emit the inputs of node k not emitted yet (broadcasts waiting for their
 * first consumer): first what those broadcasts read, then the broadcasts,
 * so every operand a broadcast's shape rule reads comes before it. */
static mx_status emit_bcast_inputs(rebuild *r, int k) {
  const mx_cg_node *n = &r->g->nodes[k];
  for (int pass = 0; pass < 2; pass++)
    for (int j = 0; j < n->nin; j++) {
      const mx_cg_value *x = &r->g->vals[n->in[j]];
      if (x->kind != MX_CV_NODE || r->done[x->index]) continue;
      mx_status rc = pass == 0 ? emit_bcast_inputs(r, x->index) : emit(r, x->index);
      if (rc != MX_OK) return rc;
    }
  return MX_OK;
}

static mx_status emit(rebuild *r, int k) {
  const mx_cg_node *n = &r->g->nodes[k];
  mx_status rc = emit_bcast_inputs(r, k);
  if (rc != MX_OK) return rc;
  int in[64], *ins = in;
  if (n->nin > 64 && !(ins = malloc(sizeof(int) * (size_t)n->nin))) return nomem();
  mx_dtype dt[64], *dts = dt;
  const int *sh[64], **shs = sh;
  int nd[64], *nds = nd;
  if (n->nout > 64) {
    dts = malloc(sizeof(mx_dtype) * (size_t)n->nout);
    shs = malloc(sizeof(int *) * (size_t)n->nout);
    nds = malloc(sizeof(int) * (size_t)n->nout);
  }
  if (!dts || !shs || !nds) rc = nomem();
  for (int j = 0; j < n->nin && rc == MX_OK; j++) {
    int v = n->in[j];
    if (r->newid[v] < 0) {
      /* a constant seen first here (inputs and node outputs are mapped) */
      int id = mx_cg_add_const(r->ng, r->g->vals[v].c);
      if (id < 0) rc = mx_last_status();
      r->newid[v] = id;
    }
    ins[j] = r->newid[v];
  }
  for (int o = 0; o < n->nout && rc == MX_OK; o++) {
    const mx_cg_value *v = &r->g->vals[n->out0 + o];
    dts[o] = v->dtype;
    shs[o] = v->shape;
    nds[o] = v->ndim;
  }
  int id = -1;
  if (rc == MX_OK) {
    id = mx_cg_add_node(r->ng, n->prim, n->params, n->params_size, ins, n->nin, n->nout,
                        dts, shs, nds, n->stream);
    if (id < 0) rc = mx_last_status();
  }
  if (rc == MX_OK) {
    for (int o = 0; o < n->nout; o++) r->newid[n->out0 + o] = r->ng->nodes[id].out0 + o;
    r->done[k] = true;
  }
  if (ins != in) free(ins);
  if (dts != dt) free(dts);
  if (shs != sh) free(shs);
  if (nds != nd) free(nds);
  return rc;
}

mx_cgraph *mx_cg_simplify(mx_cgraph *g, bool do_cse) {
  int nv = g->nvals, nn = g->nnodes;
  int *repl = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
  bool *drop = calloc((size_t)(nn ? nn : 1), 1);
  bool *vlive = calloc((size_t)(nv ? nv : 1), 1);
  bool *done = calloc((size_t)(nn ? nn : 1), 1);
  int *newid = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
  int *outs = malloc(sizeof(int) * (size_t)(g->nout ? g->nout : 1));
  mx_cgraph *ng = NULL;
  mx_status rc = MX_OK;
  if (!repl || !drop || !vlive || !done || !newid || !outs) rc = nomem();
  for (int v = 0; v < nv && rc == MX_OK; v++) {
    repl[v] = v;
    newid[v] = -1;
  }
  if (rc == MX_OK && do_cse) rc = cse(g, repl, drop);
  /* outputs, then liveness backwards */
  for (int o = 0; o < g->nout && rc == MX_OK; o++) {
    int v = g->outs[o];
    while (repl[v] != v) v = repl[v];
    g->outs[o] = v;
    vlive[v] = true;
  }
  for (int k = nn - 1; k >= 0 && rc == MX_OK; k--) {
    mx_cg_node *n = &g->nodes[k];
    bool live = false;
    for (int o = 0; o < n->nout; o++) live |= vlive[n->out0 + o];
    if (!live || drop[k]) {
      done[k] = true; /* never emitted */
      continue;
    }
    for (int j = 0; j < n->nin; j++) {
      int v = n->in[j];
      while (repl[v] != v) v = repl[v];
      n->in[j] = v;
      vlive[v] = true;
    }
  }
  if (rc == MX_OK && !(ng = mx_cg_new(g->nin))) rc = mx_last_status();
  for (int i = 0; i < g->nin && rc == MX_OK; i++) {
    newid[i] = i;
    ng->vals[i] = g->vals[i];
  }
  rebuild r = {g, ng, repl, vlive, newid, done};
  /* non-broadcast nodes in order; broadcasts when first needed */
  for (int k = 0; k < nn && rc == MX_OK; k++)
    if (!done[k] && g->nodes[k].prim != &mx_prim_broadcast) rc = emit(&r, k);
  for (int k = 0; k < nn && rc == MX_OK; k++)
    if (!done[k]) rc = emit(&r, k);
  for (int o = 0; o < g->nout && rc == MX_OK; o++) {
    int v = g->outs[o];
    if (newid[v] < 0) { /* a constant output */
      int id = mx_cg_add_const(ng, g->vals[v].c);
      if (id < 0) rc = mx_last_status();
      newid[v] = id;
    }
    outs[o] = newid[v];
  }
  if (rc == MX_OK) rc = mx_cg_set_outputs(ng, outs, g->nout);
  if (rc == MX_OK) rc = mx_cg_finish(ng);
  free(repl);
  free(drop);
  free(vlive);
  free(done);
  free(newid);
  free(outs);
  mx_cg_free(g);
  if (rc != MX_OK) {
    mx_cg_free(ng);
    return NULL;
  }
  return ng;
}

/* ---- shape rules ---- */
static int through_bcast(const mx_cgraph *g, int v) {
  const mx_cg_value *x = &g->vals[v];
  if (x->kind == MX_CV_NODE && g->nodes[x->index].prim == &mx_prim_broadcast)
    return g->nodes[x->index].in[0];
  return v;
}

/* The values whose shapes broadcast to elementwise node k's output: its
 * operands seen through broadcasts (the compiled primitive's carrier
 * skipped). n < 0 if k is not such a node or the shapes do not match. */
static int ew_sources(const mx_cgraph *g, int k, int *src) {
  const mx_cg_node *n = &g->nodes[k];
  int lo;
  if (n->prim == &mx_prim_binary || n->prim == &mx_prim_select)
    lo = 0;
  else if (n->prim == &mx_prim_compiled)
    lo = 1;
  else
    return -1;
  int m = 0, shape[MX_MAX_NDIM], nd = 0;
  for (int j = lo; j < n->nin; j++) {
    int v = through_bcast(g, n->in[j]);
    bool seen = false;
    for (int i = 0; i < m; i++) seen |= src[i] == v;
    if (seen) continue;
    src[m++] = v;
    int tmp[MX_MAX_NDIM], nt;
    const mx_cg_value *x = &g->vals[v];
    if (!mx_broadcast_shapes(shape, nd, x->shape, x->ndim, tmp, &nt)) return -1;
    memcpy(shape, tmp, sizeof tmp);
    nd = nt;
  }
  for (int o = 0; o < n->nout; o++) {
    const mx_cg_value *y = &g->vals[n->out0 + o];
    if (!same_shape(shape, nd, y->shape, y->ndim)) return -1;
  }
  return m;
}

static mx_status set_src(mx_cg_node *n, int rule, const int *src, int m) {
  free(n->src);
  n->src = NULL;
  n->nsrc = 0;
  n->rule = rule;
  if (rule != MX_SR_BCAST) return MX_OK;
  if (!(n->src = malloc(sizeof(int) * (size_t)(m ? m : 1)))) return nomem();
  if (m) memcpy(n->src, src, sizeof(int) * (size_t)m);
  n->nsrc = m;
  return MX_OK;
}

mx_status mx_cg_finish(mx_cgraph *g) {
  int *start, *list;
  mx_status rc = mx_cg_consumers(g, &start, &list);
  if (rc != MX_OK) return rc;
  int w = 1;
  for (int k = 0; k < g->nnodes; k++)
    if (g->nodes[k].nin > w) w = g->nodes[k].nin;
  int *src = malloc(sizeof(int) * (size_t)w);
  if (!src) rc = nomem();
  for (int k = 0; k < g->nnodes && rc == MX_OK; k++) {
    mx_cg_node *n = &g->nodes[k];
    const mx_prim *p = n->prim;
    int rule = MX_SR_TRACED, m = 0;
    if ((p == &mx_prim_unary || p == &mx_prim_astype || p == &mx_prim_stop_gradient ||
         p == &mx_prim_copy) &&
        n->nin == 1 && n->nout == 1) {
      const mx_cg_value *x = &g->vals[n->in[0]], *y = &g->vals[n->out0];
      if (same_shape(x->shape, x->ndim, y->shape, y->ndim)) rule = MX_SR_SAME;
    } else if (p == &mx_prim_broadcast && n->nout == 1) {
      /* sized like the first elementwise consumer of the same shape */
      const mx_cg_value *y = &g->vals[n->out0];
      for (int c = start[n->out0]; c < start[n->out0 + 1]; c++) {
        int ck = list[c];
        const mx_cg_value *cy = &g->vals[g->nodes[ck].out0];
        if (!same_shape(cy->shape, cy->ndim, y->shape, y->ndim)) continue;
        if ((m = ew_sources(g, ck, src)) >= 0) {
          rule = MX_SR_BCAST;
          break;
        }
      }
    } else if ((m = ew_sources(g, k, src)) >= 0) {
      rule = MX_SR_BCAST;
    }
    rc = set_src(n, rule, src, m < 0 ? 0 : m);
  }
  free(src);
  free(start);
  free(list);
  return rc;
}
