/* compile_fuse.c: elementwise fusion of compiled graphs and the `compiled`
 * primitive that runs a fused region.
 *
 * Regions. Fusable nodes are unary, binary (but isclose), where, astype and
 * stop_gradient on real dtypes (the CPU generator says which op/dtype pairs
 * it can write, mx_fuse_cpu_supports), plus broadcasts that feed them.
 * Going backwards over the graph, each fusable node not yet placed roots a
 * region that grows towards its inputs: a producer joins when it is
 * fusable, has the region's shape and stream, and every consumer of its
 * value is already in the region (a graph output may join as an extra
 * output of the kernel). Producers are visited in decreasing order, so a
 * producer is judged after all its consumers were. A broadcast joins only
 * at the edge: its source becomes a kernel input read with zero strides.
 * Evaluated one-element constants become literals in the source. Regions
 * of a single computing node stay as they are (the plain kernels are as
 * fast), as do regions over 24 inputs (MLX's limit).
 *
 * Transforms. A `compiled` node keeps the unfused sub-graph of its region;
 * its vjp, jvp and vmap replay that sub-graph as ordinary nodes and apply
 * their rules (mx_vjp / mx_jvp / mx_vmap over a closure that replays it).
 * So grad(compile(f)) differentiates the same ops f used, recomputing the
 * region's intermediate values in the backward pass like checkpoint does,
 * and compile(grad(f)) fuses the backward graph like any other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../primitives/binary.h"
#include "../primitives/layout.h"
#include "../primitives/unary.h"
#include "../primitives/views.h"
#include "compile.h"

#define MAX_REGION_INPUTS 24
#define MAX_REGION_OUTPUTS 16

static mx_status fail(void) {
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static mx_status nomem(void) {
  return mx_set_error(MX_ERR_NOMEM, "[compile] out of memory");
}

static bool same_shape(const int *a, int na, const int *b, int nb) {
  return na == nb && memcmp(a, b, sizeof(int) * (size_t)na) == 0;
}

/* ---- regions ---- */
mx_fused_region *mx_fused_region_retain(mx_fused_region *r) {
  if (r) atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
  return r;
}

void mx_fused_region_release(mx_fused_region *r) {
  if (!r || !mx_fuse_cpu_unref(r)) return;
  free(r->src);
  free(r->in_dtypes);
  free(r->in_scalar);
  free(r->ops);
  free(r->lits);
  free(r->out_ops);
  free(r->out_dtypes);
  mx_cg_free(r->sub);
  free(r);
}

static void release_cb(void *p) { mx_fused_region_release(p); }

/* The op node k computes, if it can be fused (broadcasts: false). */
static bool fusable_op(const mx_cgraph *g, int k, mx_fr_op *op) {
  const mx_cg_node *n = &g->nodes[k];
  if (n->nout != 1 || n->nin < 1 || n->nin > 3) return false;
  memset(op, 0, sizeof *op);
  op->dtype = g->vals[n->out0].dtype;
  op->in_dtype = g->vals[n->in[0]].dtype;
  op->nargs = n->nin;
  if (n->prim == &mx_prim_unary && n->nin == 1) {
    const mx_unary_params *p = n->params;
    if (p->op == MX_UOP_ROUND && p->decimals != 0) return false;
    op->kind = MX_FK_UNARY;
    op->op = p->op;
  } else if (n->prim == &mx_prim_binary && n->nin == 2) {
    const mx_binary_params *p = n->params;
    op->kind = MX_FK_BINARY;
    op->op = p->op;
    op->aux = p->equal_nan;
  } else if (n->prim == &mx_prim_select && n->nin == 3) {
    op->kind = MX_FK_SELECT;
    op->in_dtype = g->vals[n->in[1]].dtype;
  } else if (n->prim == &mx_prim_astype && n->nin == 1) {
    op->kind = MX_FK_ASTYPE;
  } else if (n->prim == &mx_prim_stop_gradient && n->nin == 1) {
    op->kind = MX_FK_IDENTITY;
  } else {
    return false;
  }
  return mx_fuse_cpu_supports(op);
}

static bool is_edge_bcast(const mx_cgraph *g, int k) {
  const mx_cg_node *n = &g->nodes[k];
  return n->prim == &mx_prim_broadcast && n->nin == 1 && n->nout == 1 &&
         g->vals[n->out0].dtype != MX_COMPLEX64;
}

/* a max-heap of node indices (producers still to judge) */
typedef struct {
  int *a, n, cap;
} heap;

static bool heap_push(heap *h, int x) {
  if (h->n == h->cap) {
    int nc = h->cap ? 2 * h->cap : 32;
    int *na = realloc(h->a, sizeof(int) * (size_t)nc);
    if (!na) return false;
    h->a = na;
    h->cap = nc;
  }
  int i = h->n++;
  h->a[i] = x;
  while (i > 0 && h->a[(i - 1) / 2] < h->a[i]) {
    int p = (i - 1) / 2, t = h->a[p];
    h->a[p] = h->a[i];
    h->a[i] = t;
    i = p;
  }
  return true;
}

static int heap_pop(heap *h) {
  int top = h->a[0];
  h->a[0] = h->a[--h->n];
  for (int i = 0;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && h->a[l] > h->a[m]) m = l;
    if (r < h->n && h->a[r] > h->a[m]) m = r;
    if (m == i) break;
    int t = h->a[m];
    h->a[m] = h->a[i];
    h->a[i] = t;
    i = m;
  }
  return top;
}

typedef struct {
  const mx_cgraph *g;
  const int *cstart, *clist; /* consumers */
  const bool *is_out;        /* value is a graph output */
  int *region;               /* node -> region id, -1 none, -2 never */
} finder;

static bool all_consumers_in(const finder *f, int v, int rid) {
  for (int c = f->cstart[v]; c < f->cstart[v + 1]; c++)
    if (f->region[f->clist[c]] != rid) return false;
  return true;
}

static bool same_stream(mx_stream a, mx_stream b) {
  return a.index == b.index && a.device.type == b.device.type;
}

/* The region's outside operands after node n joins: front[0..nf) without
 * value `out`, plus n's operands that are not literals, into dst (room for
 * MAX_REGION_INPUTS + 4). Returns the count, or MAX_REGION_INPUTS + 1 when
 * it would exceed the limit. */
static int frontier(const mx_cgraph *g, const int *front, int nf, int out,
                    const mx_cg_node *n, int *dst) {
  int k = 0;
  for (int i = 0; i < nf; i++)
    if (front[i] != out) dst[k++] = front[i];
  for (int j = 0; j < n->nin; j++) {
    int v = n->in[j];
    bool seen = mx_cg_is_scalar_const(g, v);
    for (int i = 0; i < k && !seen; i++) seen = dst[i] == v;
    if (!seen) dst[k++] = v;
    if (k > MAX_REGION_INPUTS) return MAX_REGION_INPUTS + 1;
  }
  return k;
}

/* Grows region rid from root; members[] gets its nodes (any order). */
static mx_status grow(finder *f, int root, int rid, int **members, int *nmem) {
  const mx_cgraph *g = f->g;
  const mx_cg_node *rn = &g->nodes[root];
  const mx_cg_value *rv = &g->vals[rn->out0];
  heap h = {0};
  int *m = malloc(sizeof(int) * 8), mcap = 8, mn = 0;
  mx_status rc = m ? MX_OK : nomem();
  /* the values the region reads from outside (literals aside), kept
   * within MAX_REGION_INPUTS while it grows; its outputs likewise */
  int front[MAX_REGION_INPUTS + 4], next[MAX_REGION_INPUTS + 4], nfront = 0, nouts = 1;
  if (rc == MX_OK) {
    f->region[root] = rid;
    m[mn++] = root;
    nfront = frontier(g, next, 0, -1, rn, front);
  }
  for (int j = 0; j < rn->nin && rc == MX_OK; j++) {
    const mx_cg_value *x = &g->vals[rn->in[j]];
    if (x->kind == MX_CV_NODE && !heap_push(&h, x->index)) rc = nomem();
  }
  while (rc == MX_OK && h.n > 0) {
    int k = heap_pop(&h);
    while (h.n > 0 && h.a[0] == k) heap_pop(&h); /* duplicates */
    if (f->region[k] != -1) continue;
    const mx_cg_node *n = &g->nodes[k];
    const mx_cg_value *y = &g->vals[n->out0];
    mx_fr_op op;
    bool bc = is_edge_bcast(g, k);
    if (n->nout != 1 || !same_shape(y->shape, y->ndim, rv->shape, rv->ndim) ||
        !same_stream(n->stream, rn->stream) || !all_consumers_in(f, n->out0, rid))
      continue;
    if (bc ? f->is_out[n->out0] : !fusable_op(g, k, &op)) continue;
    int nf2 = frontier(g, front, nfront, n->out0, n, next);
    if (nf2 > MAX_REGION_INPUTS || (f->is_out[n->out0] && nouts == MAX_REGION_OUTPUTS))
      continue;
    memcpy(front, next, sizeof(int) * (size_t)nf2);
    nfront = nf2;
    nouts += f->is_out[n->out0];
    if (mn == mcap) {
      mcap *= 2;
      int *nm = realloc(m, sizeof(int) * (size_t)mcap);
      if (!nm) {
        rc = nomem();
        break;
      }
      m = nm;
    }
    f->region[k] = rid;
    m[mn++] = k;
    if (bc) continue; /* the source stays outside */
    for (int j = 0; j < n->nin && rc == MX_OK; j++) {
      const mx_cg_value *x = &g->vals[n->in[j]];
      if (x->kind == MX_CV_NODE && !heap_push(&h, x->index)) rc = nomem();
    }
  }
  free(h.a);
  if (rc != MX_OK) {
    free(m);
    return rc;
  }
  *members = m;
  *nmem = mn;
  return MX_OK;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* The region description of members[0..nm) (sorted), or NULL when it is
 * not worth a kernel (*skip) or on error. */
static mx_fused_region *describe(const finder *f, const int *members, int nm,
                                 bool *skip) {
  const mx_cgraph *g = f->g;
  *skip = false;
  int ncompute = 0;
  for (int i = 0; i < nm; i++) {
    const mx_cg_node *n = &g->nodes[members[i]];
    if (n->prim != &mx_prim_broadcast && n->prim != &mx_prim_stop_gradient) ncompute++;
  }
  if (ncompute < 2) {
    *skip = true;
    return NULL;
  }
  mx_fused_region *r = calloc(1, sizeof *r);
  if (r) atomic_init(&r->refs, 1);
  /* value -> operand of the region */
  mx_fr_ref *ref = malloc(sizeof *ref * (size_t)g->nvals);
  bool *has = calloc((size_t)g->nvals, 1);
  int *ins = malloc(sizeof(int) * (MAX_REGION_INPUTS + 4));
  int *lits = malloc(sizeof(int) * (size_t)(3 * nm + 1));
  int *outs = malloc(sizeof(int) * (size_t)nm);
  if (!r || !ref || !has || !ins || !lits || !outs) goto oom;
  r->stream = g->nodes[members[nm - 1]].stream;
  r->ops = calloc((size_t)nm, sizeof *r->ops);
  r->out_ops = malloc(sizeof(int) * (size_t)nm);
  if (!r->ops || !r->out_ops) goto oom;
  int nin = 0, nlit = 0, nout = 0;
  for (int i = 0; i < nm; i++) {
    int k = members[i];
    const mx_cg_node *n = &g->nodes[k];
    bool bc = n->prim == &mx_prim_broadcast;
    for (int j = 0; j < n->nin; j++) {
      int v = n->in[j];
      if (has[v]) continue;
      if (g->vals[v].kind == MX_CV_NODE && f->region[g->vals[v].index] == f->region[k])
        continue; /* computed inside (set when its node was described) */
      has[v] = true;
      if (mx_cg_is_scalar_const(g, v)) {
        ref[v] = (mx_fr_ref){MX_FR_LIT, nlit};
        lits[nlit++] = v;
      } else {
        if (nin == MAX_REGION_INPUTS) {
          *skip = true;
          goto done;
        }
        ref[v] = (mx_fr_ref){MX_FR_IN, nin};
        ins[nin++] = v;
      }
    }
    if (bc) {
      ref[n->out0] = ref[n->in[0]];
      has[n->out0] = true;
      continue;
    }
    mx_fr_op *op = &r->ops[r->nops];
    fusable_op(g, k, op);
    for (int j = 0; j < n->nin; j++) op->args[j] = ref[n->in[j]];
    ref[n->out0] = (mx_fr_ref){MX_FR_OP, r->nops};
    has[n->out0] = true;
    /* the root and graph outputs leave the kernel */
    if (k == members[nm - 1] || f->is_out[n->out0]) {
      if (nout == MAX_REGION_OUTPUTS) {
        *skip = true;
        goto done;
      }
      outs[nout] = n->out0;
      r->out_ops[nout++] = r->nops;
    }
    r->nops++;
  }
  r->nin = nin;
  r->nlits = nlit;
  r->nout = nout;
  r->in_dtypes = malloc(sizeof(mx_dtype) * (size_t)(nin ? nin : 1));
  r->in_scalar = calloc((size_t)(nin ? nin : 1), 1);
  r->lits = calloc((size_t)(nlit ? nlit : 1), sizeof *r->lits);
  r->out_dtypes = malloc(sizeof(mx_dtype) * (size_t)nout);
  if (!r->in_dtypes || !r->in_scalar || !r->lits || !r->out_dtypes) goto oom;
  for (int i = 0; i < nin; i++) {
    const mx_cg_value *x = &g->vals[ins[i]];
    r->in_dtypes[i] = x->dtype;
    r->in_scalar[i] = mx_shape_size(x->shape, x->ndim) == 1;
  }
  for (int l = 0; l < nlit; l++) {
    const mx_array *c = g->vals[lits[l]].c;
    r->lits[l].dtype = c->dtype;
    memcpy(r->lits[l].bytes, mx_array_ptr(c), mx_dtype_size(c->dtype));
  }
  for (int o = 0; o < nout; o++) r->out_dtypes[o] = g->vals[outs[o]].dtype;
  /* the sub-graph: region inputs, literal constants, the member nodes */
  if (!(r->sub = mx_cg_new(nin))) goto fail;
  for (int i = 0; i < nin; i++) {
    const mx_cg_value *x = &g->vals[ins[i]];
    mx_cg_set_input(r->sub, i, x->dtype, x->shape, x->ndim);
  }
  int *sid = malloc(sizeof(int) * (size_t)g->nvals);
  if (!sid) goto oom;
  for (int v = 0; v < g->nvals; v++) sid[v] = -1;
  for (int i = 0; i < nin; i++) sid[ins[i]] = i;
  bool ok = true;
  for (int l = 0; l < nlit && ok; l++)
    ok = (sid[lits[l]] = mx_cg_add_const(r->sub, g->vals[lits[l]].c)) >= 0;
  for (int i = 0; i < nm && ok; i++) {
    const mx_cg_node *n = &g->nodes[members[i]];
    int in[3];
    for (int j = 0; j < n->nin; j++) in[j] = sid[n->in[j]];
    const mx_cg_value *y = &g->vals[n->out0];
    const int *s = y->shape;
    int id = mx_cg_add_node(r->sub, n->prim, n->params, n->params_size, in, n->nin, 1,
                            &y->dtype, &s, &y->ndim, n->stream);
    ok = id >= 0;
    if (ok) sid[n->out0] = r->sub->nodes[id].out0;
  }
  for (int o = 0; o < nout && ok; o++) outs[o] = sid[outs[o]];
  free(sid);
  if (!ok || mx_cg_set_outputs(r->sub, outs, nout) != MX_OK ||
      mx_cg_finish(r->sub) != MX_OK)
    goto fail;
  goto done;
oom:
  nomem();
fail:
  mx_fused_region_release(r);
  r = NULL;
  *skip = false;
  goto out;
done:
  if (*skip) {
    mx_fused_region_release(r);
    r = NULL;
  }
out:
  free(ref);
  free(has);
  free(ins);
  free(lits);
  free(outs);
  return r;
}

/* ---- rewriting the graph ---- */
typedef struct {
  mx_fused_region *r;
  int *members, nm;
} fused;

/* The region's graph values: inputs and outputs, in kernel order. */
static void region_io(const finder *f, const int *members, int nm, int *ins, int *nin,
                      int *outs, int *nout) {
  const mx_cgraph *g = f->g;
  int rid = f->region[members[0]];
  *nin = *nout = 0;
  for (int i = 0; i < nm; i++) {
    const mx_cg_node *n = &g->nodes[members[i]];
    for (int j = 0; j < n->nin; j++) {
      int v = n->in[j];
      const mx_cg_value *x = &g->vals[v];
      if (x->kind == MX_CV_NODE && f->region[x->index] == rid) continue;
      if (mx_cg_is_scalar_const(g, v)) continue;
      bool seen = false;
      for (int q = 0; q < *nin; q++) seen |= ins[q] == v;
      if (!seen) ins[(*nin)++] = v;
    }
    if (n->prim == &mx_prim_broadcast) continue;
    if (members[i] == members[nm - 1] || f->is_out[n->out0]) outs[(*nout)++] = n->out0;
  }
}

static mx_cgraph *rewrite(const finder *f, fused *fs, int nf, const int *owner) {
  const mx_cgraph *g = f->g;
  mx_cgraph *ng = mx_cg_new(g->nin);
  int *newid = malloc(sizeof(int) * (size_t)g->nvals);
  int *io = malloc(sizeof(int) * (size_t)(2 * g->nvals + 2));
  int *outs = malloc(sizeof(int) * (size_t)(g->nout ? g->nout : 1));
  mx_status rc = ng && newid && io && outs ? MX_OK : nomem();
  for (int v = 0; rc == MX_OK && v < g->nvals; v++) newid[v] = v < g->nin ? v : -1;
  for (int i = 0; rc == MX_OK && i < g->nin; i++) ng->vals[i] = g->vals[i];
#define MAP(v) (newid[v] >= 0 ? newid[v] : (newid[v] = mx_cg_add_const(ng, g->vals[v].c)))
  mx_scope_begin();
  for (int k = 0; k < g->nnodes && rc == MX_OK; k++) {
    const mx_cg_node *n = &g->nodes[k];
    int fi = owner[k];
    if (fi >= 0 && fs[fi].members[fs[fi].nm - 1] != k) continue; /* placed at the root */
    if (fi < 0) {
      int in[64], *ins = in;
      if (n->nin > 64 && !(ins = malloc(sizeof(int) * (size_t)n->nin))) {
        rc = nomem();
        break;
      }
      for (int j = 0; j < n->nin && rc == MX_OK; j++)
        if ((ins[j] = MAP(n->in[j])) < 0) rc = fail();
      mx_dtype dt[64];
      const int *sh[64];
      int nd[64];
      if (n->nout > 64)
        rc = mx_set_error(MX_ERR_UNSUPPORTED, "[compile] too many outputs");
      for (int o = 0; o < n->nout && rc == MX_OK; o++) {
        dt[o] = g->vals[n->out0 + o].dtype;
        sh[o] = g->vals[n->out0 + o].shape;
        nd[o] = g->vals[n->out0 + o].ndim;
      }
      int id = rc == MX_OK ? mx_cg_add_node(ng, n->prim, n->params, n->params_size, ins,
                                            n->nin, n->nout, dt, sh, nd, n->stream)
                           : -1;
      if (ins != in) free(ins);
      if (id < 0) {
        rc = fail();
        break;
      }
      for (int o = 0; o < n->nout; o++) newid[n->out0 + o] = ng->nodes[id].out0 + o;
      continue;
    }
    /* the fused node: (carrier, region inputs...) -> region outputs */
    fused *F = &fs[fi];
    int nin, nout, *ins = io, *ous = io + g->nvals + 1;
    region_io(f, F->members, F->nm, ins + 1, &nin, ous, &nout);
    if (nin != F->r->nin || nout != F->r->nout) {
      rc = mx_set_error(MX_ERR_RUNTIME,
                        "[compile] internal error: region operands differ");
      break;
    }
    mx_buffer *buf =
        mx_buffer_external(F->r, 0, release_cb, mx_fused_region_retain(F->r));
    if (!buf) {
      mx_fused_region_release(F->r);
      rc = fail();
      break;
    }
    int zero = 0;
    mx_array *carrier = mx_array_new_evaluated(buf, MX_UINT8, &zero, 1, NULL, 0);
    if (!carrier || (ins[0] = mx_cg_add_const(ng, carrier)) < 0) {
      rc = fail();
      break;
    }
    for (int j = 1; j <= nin && rc == MX_OK; j++)
      if ((ins[j] = MAP(ins[j])) < 0) rc = fail();
    mx_dtype dt[64];
    const int *sh[64];
    int nd[64];
    for (int o = 0; o < nout && rc == MX_OK; o++) {
      dt[o] = g->vals[ous[o]].dtype;
      sh[o] = g->vals[ous[o]].shape;
      nd[o] = g->vals[ous[o]].ndim;
    }
    mx_compiled_params p;
    memset(&p, 0, sizeof p);
    p.region = F->r;
    int id = rc == MX_OK ? mx_cg_add_node(ng, &mx_prim_compiled, &p, sizeof p, ins,
                                          nin + 1, nout, dt, sh, nd, F->r->stream)
                         : -1;
    if (id < 0) {
      rc = fail();
      break;
    }
    for (int o = 0; o < nout; o++) newid[ous[o]] = ng->nodes[id].out0 + o;
  }
  for (int o = 0; o < g->nout && rc == MX_OK; o++)
    if ((outs[o] = MAP(g->outs[o])) < 0) rc = fail();
#undef MAP
  if (rc == MX_OK) rc = mx_cg_set_outputs(ng, outs, g->nout);
  if (rc == MX_OK) rc = mx_cg_finish(ng);
  mx_scope_end();
  free(newid);
  free(io);
  free(outs);
  if (rc != MX_OK) {
    mx_cg_free(ng);
    return NULL;
  }
  return ng;
}

mx_cgraph *mx_cg_fuse(mx_cgraph *g, mx_cg_fuse_info *info) {
  static atomic_int cuda_notice;
  int *cstart = NULL, *clist = NULL;
  bool *is_out = calloc((size_t)g->nvals, 1);
  int *region = malloc(sizeof(int) * (size_t)(g->nnodes ? g->nnodes : 1));
  int *owner = malloc(sizeof(int) * (size_t)(g->nnodes ? g->nnodes : 1));
  fused *fs = NULL;
  int nf = 0, fcap = 0;
  mx_status rc =
      is_out && region && owner ? mx_cg_consumers(g, &cstart, &clist) : nomem();
  for (int o = 0; rc == MX_OK && o < g->nout; o++) is_out[g->outs[o]] = true;
  for (int k = 0; rc == MX_OK && k < g->nnodes; k++) region[k] = owner[k] = -1;
  finder f = {g, cstart, clist, is_out, region};
  for (int k = g->nnodes - 1; k >= 0 && rc == MX_OK; k--) {
    mx_fr_op op;
    if (region[k] != -1 || !fusable_op(g, k, &op)) continue;
    int *members = NULL, nm = 0;
    if ((rc = grow(&f, k, k, &members, &nm)) != MX_OK) break;
    qsort(members, (size_t)nm, sizeof(int), cmp_int);
    bool skip;
    mx_fused_region *r = describe(&f, members, nm, &skip);
    if (!r) {
      free(members);
      if (!skip) {
        rc = fail();
        break;
      }
      /* not fused: its nodes stay (and may not join later regions) */
      region[k] = -2;
      continue;
    }
    if (nf == fcap) {
      fcap = fcap ? 2 * fcap : 8;
      fused *nfs = realloc(fs, sizeof *fs * (size_t)fcap);
      if (!nfs) {
        mx_fused_region_release(r);
        free(members);
        rc = nomem();
        break;
      }
      fs = nfs;
    }
    fs[nf++] = (fused){r, members, nm};
  }
  /* build: CPU regions in one compiler run; GPU ones through the hook */
  mx_fused_region **cpu = malloc(sizeof *cpu * (size_t)(nf ? nf : 1));
  int ncpu = 0;
  if (rc == MX_OK && !cpu) rc = nomem();
  for (int i = 0; i < nf && rc == MX_OK; i++) {
    if (fs[i].r->stream.device.type == MX_GPU) {
      char *src = NULL;
      if (mx_fuse_cuda_build(fs[i].r, &src) != MX_OK) {
        mx_clear_error();
        mx_compile_notice_once(&cuda_notice,
                               "[compile] no CUDA fusion yet: regions on GPU streams run "
                               "unfused");
      }
      free(src);
    } else {
      cpu[ncpu++] = fs[i].r;
    }
  }
  bool *ready = calloc((size_t)(nf ? nf : 1), 1);
  if (rc == MX_OK && !ready) rc = nomem();
  for (int i = 0, j = 0; i < nf && rc == MX_OK; i++) {
    if (j < ncpu && cpu[j] == fs[i].r) {
      int p = mx_fuse_cpu_prepare(fs[i].r);
      if (p == 0) info->fallback = true;
      ready[i] = p > 0;
      j++;
    }
  }
  free(cpu);
  /* keep the regions that run fused */
  int kept = 0;
  for (int i = 0; i < nf; i++) {
    bool ok = rc == MX_OK && ready[i];
    if (ok) {
      for (int j = 0; j < fs[i].nm; j++) owner[fs[i].members[j]] = kept;
      info->fused++;
      info->fused_nodes += fs[i].nm;
      fs[kept++] = fs[i];
    } else {
      mx_fused_region_release(fs[i].r);
      free(fs[i].members);
    }
  }
  nf = kept;
  free(ready);
  mx_cgraph *ng = NULL;
  if (rc == MX_OK) {
    if (nf == 0) {
      ng = g;
      g = NULL;
    } else if (!(ng = rewrite(&f, fs, nf, owner))) {
      rc = fail();
    }
  }
  for (int i = 0; i < nf; i++) {
    mx_fused_region_release(fs[i].r);
    free(fs[i].members);
  }
  free(fs);
  free(cstart);
  free(clist);
  free(is_out);
  free(region);
  free(owner);
  mx_cg_free(g);
  return rc == MX_OK ? ng : NULL;
}

/* ---- the primitive's rules: replay the unfused sub-graph ---- */
static mx_status expand_call(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  mx_fused_region *r = payload;
  if (nin != r->nin)
    return mx_set_error(MX_ERR_INVALID, "[compiled] expected %d inputs, got %d", r->nin,
                        nin);
  mx_array **outs = calloc((size_t)r->nout, sizeof *outs);
  if (!outs) return nomem();
  mx_status rc = mx_cg_replay(r->sub, in, true, outs);
  for (int o = 0; o < r->nout && rc == MX_OK; o++) rc = mx_vec_push(out, outs[o]);
  free(outs);
  return rc;
}

static void expand_free(void *p) { mx_fused_region_release(p); }

static mx_closure *expand_closure(const mx_node *n) {
  const mx_compiled_params *p = n->params;
  return mx_closure_new(expand_call, mx_fused_region_retain(p->region), expand_free);
}

static mx_status vjp_compiled(mx_node *n, mx_array *const *in, mx_array *const *out,
                              mx_array *const *cotan, const int *argnums, int nargs,
                              mx_array **grads) {
  (void)out;
  mx_closure *f = expand_closure(n);
  if (!f) return fail();
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  mx_status rc = mx_vjp(f, in + 1, n->nin - 1, cotan, n->nout, &o, &v);
  for (int i = 0; i < nargs && rc == MX_OK; i++) grads[i] = v.items[argnums[i] - 1];
  mx_vec_free(&o);
  mx_vec_free(&v);
  mx_closure_free(f);
  return rc;
}

static mx_status jvp_compiled(mx_node *n, mx_array *const *in, mx_array *const *tangents,
                              const int *argnums, int nargs, mx_array **out_tangents) {
  mx_closure *f = expand_closure(n);
  mx_array **t = calloc((size_t)n->nin, sizeof *t);
  mx_status rc = f && t ? MX_OK : (f ? nomem() : fail());
  for (int j = 0; j < nargs && rc == MX_OK; j++) t[argnums[j] - 1] = tangents[j];
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  if (rc == MX_OK) rc = mx_jvp(f, in + 1, n->nin - 1, t, &o, &v);
  for (int k = 0; k < n->nout && rc == MX_OK; k++) out_tangents[k] = v.items[k];
  mx_vec_free(&o);
  mx_vec_free(&v);
  mx_closure_free(f);
  free(t);
  return rc;
}

static mx_status vmap_compiled(mx_node *n, mx_array *const *in, const int *in_axes,
                               mx_array **out, int *out_axes) {
  mx_closure *f = expand_closure(n);
  mx_closure *vf = f ? mx_vmap(f, in_axes + 1, n->nin - 1, NULL, 0) : NULL;
  mx_vec v = MX_VEC_INIT;
  mx_status rc = vf ? mx_closure_call(vf, in + 1, n->nin - 1, &v) : fail();
  if (rc == MX_OK && v.n != n->nout)
    rc = mx_set_error(MX_ERR_RUNTIME, "[compiled] vmap gave %d outputs for %d", v.n,
                      n->nout);
  for (int k = 0; k < n->nout && rc == MX_OK; k++) {
    out[k] = v.items[k];
    out_axes[k] = 0;
  }
  mx_vec_free(&v);
  mx_closure_free(vf);
  mx_closure_free(f);
  return rc;
}

const mx_prim mx_prim_compiled = {
    .name = "compiled",
    .eval_cpu = mx_cpu_compiled,
    .eval_cuda = mx_cuda_fused,
    .vjp = vjp_compiled,
    .jvp = jvp_compiled,
    .vmap = vmap_compiled,
};
