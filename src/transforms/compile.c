/* compile.c: mx_compile, MLX's compile transform.
 *
 * Calling a compiled function keys the inputs' signature (stream, dtypes
 * and shapes; only ndims with MX_COMPILE_SHAPELESS). On a miss the function
 * runs once on placeholder arrays (which cannot be evaluated) and the graph
 * it built becomes a compiled graph (compile.h): the nodes that depend on
 * the inputs, with everything else as constants. Input-independent work is
 * settled once here:
 *  - one-element results computed from evaluated arrays (scalar constants
 *    and arithmetic on them) are evaluated now (constant folding);
 *  - `full` arrays become a folded one-element constant broadcast to their
 *    shape, so kernels inline the value and shapeless replay can resize;
 *  - broadcasts of constants stay nodes (they are free, and fusion absorbs
 *    them);
 *  - anything else (closed-over arrays and what the function computed from
 *    them alone) is held as a constant array, evaluated at most once.
 * Then the graph is simplified (CSE, dead nodes; compile_simplify.c) and
 * its elementwise regions fused (compile_fuse.c). Later calls with the same
 * signature replay the cached graph on the new inputs: one node per
 * remaining primitive, no tracing.
 *
 * As in MLX, a compiled function must be pure: state it reads that is not
 * an input (the global random key, closed-over arrays that change) is
 * frozen at trace time. Transforms compose: grad/vjp/jvp/vmap of a compiled
 * function see the replayed graph, whose `compiled` nodes differentiate and
 * batch through the unfused sub-graph they keep (compile_fuse.c); compile
 * of a transformed function compiles the graph the transform built. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../primitives/creation.h"
#include "../primitives/views.h"
#include "compile.h"

static mx_status fail(void) {
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static mx_status nomem(void) {
  return mx_set_error(MX_ERR_NOMEM, "[compile] out of memory");
}

void mx_compile_notice_once(atomic_int *flag, const char *msg) {
  if (atomic_exchange(flag, 1) == 0) fprintf(stderr, "%s\n", msg);
}

/* ---- compiled graphs ---- */
mx_cgraph *mx_cg_new(int nin) {
  mx_cgraph *g = calloc(1, sizeof *g);
  if (!g) {
    nomem();
    return NULL;
  }
  g->nin = nin;
  g->vcap = nin > 16 ? nin : 16;
  g->vals = calloc((size_t)g->vcap, sizeof *g->vals);
  if (!g->vals) {
    free(g);
    nomem();
    return NULL;
  }
  g->nvals = nin;
  for (int i = 0; i < nin; i++)
    g->vals[i] = (mx_cg_value){.kind = MX_CV_INPUT, .index = i};
  return g;
}

void mx_cg_set_input(mx_cgraph *g, int i, mx_dtype t, const int *shape, int ndim) {
  mx_cg_value *v = &g->vals[i];
  v->dtype = t;
  v->ndim = ndim;
  memcpy(v->shape, shape, sizeof(int) * (size_t)ndim);
}

void mx_cg_free(mx_cgraph *g) {
  if (!g) return;
  for (int v = 0; v < g->nvals; v++)
    if (g->vals[v].kind == MX_CV_CONST) mx_array_release(g->vals[v].c);
  for (int k = 0; k < g->nnodes; k++) {
    free(g->nodes[k].params);
    free(g->nodes[k].in);
    free(g->nodes[k].src);
  }
  free(g->vals);
  free(g->nodes);
  free(g->outs);
  free(g);
}

static int add_value(mx_cgraph *g, mx_cg_value v) {
  if (g->nvals == g->vcap) {
    int nc = 2 * g->vcap;
    mx_cg_value *nv = realloc(g->vals, (size_t)nc * sizeof *nv);
    if (!nv) {
      nomem();
      return -1;
    }
    g->vals = nv;
    g->vcap = nc;
  }
  g->vals[g->nvals] = v;
  return g->nvals++;
}

int mx_cg_add_const(mx_cgraph *g, mx_array *a) {
  mx_cg_value v = {.kind = MX_CV_CONST, .c = a, .dtype = a->dtype, .ndim = a->ndim};
  memcpy(v.shape, a->shape, sizeof(int) * (size_t)a->ndim);
  int id = add_value(g, v);
  if (id >= 0) mx_array_retain(a);
  return id;
}

int mx_cg_add_node(mx_cgraph *g, const mx_prim *prim, const void *params,
                   size_t params_size, const int *in, int nin, int nout,
                   const mx_dtype *dtypes, const int *const *shapes, const int *ndims,
                   mx_stream stream) {
  if (g->nnodes == g->ncap) {
    int nc = g->ncap ? 2 * g->ncap : 16;
    mx_cg_node *nn = realloc(g->nodes, (size_t)nc * sizeof *nn);
    if (!nn) return nomem(), -1;
    g->nodes = nn;
    g->ncap = nc;
  }
  mx_cg_node n = {.prim = prim,
                  .params_size = params_size,
                  .nin = nin,
                  .nout = nout,
                  .stream = stream};
  n.in = malloc(sizeof(int) * (size_t)(nin ? nin : 1));
  if (params_size) n.params = malloc(params_size);
  if (!n.in || (params_size && !n.params)) {
    free(n.in);
    free(n.params);
    return nomem(), -1;
  }
  if (nin) memcpy(n.in, in, sizeof(int) * (size_t)nin);
  if (params_size) memcpy(n.params, params, params_size);
  n.out0 = g->nvals;
  for (int o = 0; o < nout; o++) {
    mx_cg_value v = {.kind = MX_CV_NODE,
                     .index = g->nnodes,
                     .out = o,
                     .dtype = dtypes[o],
                     .ndim = ndims[o]};
    memcpy(v.shape, shapes[o], sizeof(int) * (size_t)ndims[o]);
    if (add_value(g, v) < 0) {
      g->nvals = n.out0;
      free(n.in);
      free(n.params);
      return -1;
    }
  }
  g->nodes[g->nnodes] = n;
  return g->nnodes++;
}

mx_status mx_cg_set_outputs(mx_cgraph *g, const int *outs, int nout) {
  free(g->outs);
  g->outs = malloc(sizeof(int) * (size_t)(nout ? nout : 1));
  if (!g->outs) return nomem();
  if (nout) memcpy(g->outs, outs, sizeof(int) * (size_t)nout);
  g->nout = nout;
  return MX_OK;
}

/* ---- replay ---- */
static bool same_shape(const int *a, int na, const int *b, int nb) {
  return na == nb && memcmp(a, b, sizeof(int) * (size_t)na) == 0;
}

static mx_status shape_error(const mx_cg_node *n) {
  return mx_set_error(
      MX_ERR_INVALID,
      "[compile] shapeless: cannot infer the output shape of %s for the new "
      "input shapes (compile without MX_COMPILE_SHAPELESS)",
      n->prim->name);
}

/* Output shape of node n (one output) on inputs ins[] when their shapes
 * differ from the traced ones. */
static mx_status infer_shape(const mx_cgraph *g, const mx_cg_node *n,
                             mx_array *const *arr, mx_array *const *ins, int *shape,
                             int *nd) {
  if (n->prim == &mx_prim_reshape && n->nin == 1 && n->nout == 1) {
    /* a reshape keeps its traced shape while the size allows it */
    const mx_cg_value *y = &g->vals[n->out0];
    if (ins[0]->size != mx_shape_size(y->shape, y->ndim)) return shape_error(n);
    *nd = y->ndim;
    memcpy(shape, y->shape, sizeof(int) * (size_t)y->ndim);
    return MX_OK;
  }
  if (n->rule == MX_SR_SAME && n->nout == 1) {
    *nd = ins[0]->ndim;
    memcpy(shape, ins[0]->shape, sizeof(int) * (size_t)*nd);
  } else if (n->rule == MX_SR_BCAST) {
    *nd = 0;
    for (int j = 0; j < n->nsrc; j++) {
      const mx_array *s = arr[n->src[j]];
      if (!s) return shape_error(n);
      int tmp[MX_MAX_NDIM], nt;
      if (!mx_broadcast_shapes(shape, *nd, s->shape, s->ndim, tmp, &nt))
        return mx_set_error(MX_ERR_INVALID,
                            "[compile] shapeless: the new input shapes do not broadcast "
                            "(%s and %s)",
                            mx_shape_str(shape, *nd), mx_shape_str(s->shape, s->ndim));
      memcpy(shape, tmp, sizeof tmp);
      *nd = nt;
    }
  } else {
    return shape_error(n);
  }
  /* what the kernels assume about their inputs */
  for (int j = 0; j < n->nin; j++) {
    const mx_array *x = ins[j];
    int tmp[MX_MAX_NDIM], nt;
    if (n->prim == &mx_prim_compiled && j == 0) continue; /* carrier */
    bool ok;
    if (n->prim == &mx_prim_broadcast || n->prim == &mx_prim_compiled)
      ok = x->ndim <= *nd &&
           mx_broadcast_shapes(x->shape, x->ndim, shape, *nd, tmp, &nt) &&
           same_shape(tmp, nt, shape, *nd);
    else
      ok = same_shape(x->shape, x->ndim, shape, *nd);
    if (!ok) return shape_error(n);
  }
  return MX_OK;
}

mx_status mx_cg_replay(const mx_cgraph *g, mx_array *const *in, bool infer,
                       mx_array **outs) {
  int w = 1;
  for (int k = 0; k < g->nnodes; k++) {
    if (g->nodes[k].nin > w) w = g->nodes[k].nin;
    if (g->nodes[k].nout > w) w = g->nodes[k].nout;
  }
  mx_array **arr = calloc((size_t)(g->nvals ? g->nvals : 1), sizeof *arr);
  mx_array **ins = calloc((size_t)w, sizeof *ins), **res = calloc((size_t)w, sizeof *res);
  mx_dtype *dt = calloc((size_t)w, sizeof *dt);
  const int **shapes = calloc((size_t)w, sizeof *shapes);
  int *nds = calloc((size_t)w, sizeof *nds);
  mx_status rc = MX_OK;
  if (!arr || !ins || !res || !dt || !shapes || !nds) rc = nomem();
  for (int v = 0; v < g->nvals && rc == MX_OK; v++) {
    if (g->vals[v].kind == MX_CV_INPUT)
      arr[v] = in[g->vals[v].index];
    else if (g->vals[v].kind == MX_CV_CONST)
      arr[v] = g->vals[v].c;
  }
  int ishape[MX_MAX_NDIM], ind = 0;
  for (int k = 0; k < g->nnodes && rc == MX_OK; k++) {
    const mx_cg_node *n = &g->nodes[k];
    bool changed = false;
    for (int j = 0; j < n->nin; j++) {
      ins[j] = arr[n->in[j]];
      const mx_cg_value *tv = &g->vals[n->in[j]];
      if (!same_shape(ins[j]->shape, ins[j]->ndim, tv->shape, tv->ndim)) changed = true;
    }
    if (changed && !infer) {
      rc = mx_set_error(MX_ERR_INVALID,
                        "[compile] input shapes differ from the traced ones");
      break;
    }
    if (changed && (rc = infer_shape(g, n, arr, ins, ishape, &ind)) != MX_OK) break;
    for (int o = 0; o < n->nout; o++) {
      const mx_cg_value *ov = &g->vals[n->out0 + o];
      dt[o] = ov->dtype;
      shapes[o] = changed ? ishape : ov->shape;
      nds[o] = changed ? ind : ov->ndim;
    }
    rc = mx_node_make(n->prim, n->params, n->params_size, ins, n->nin, n->nout, dt,
                      shapes, nds, res);
    if (rc != MX_OK) break;
    /* the node runs where it ran when traced */
    mx_node *made = res[0]->node;
    made->stream = n->stream;
    for (int o = 0; o < n->nout; o++) {
      res[o]->stream = n->stream;
      arr[n->out0 + o] = res[o];
    }
  }
  for (int o = 0; o < g->nout && rc == MX_OK; o++) {
    int v = g->outs[o];
    outs[o] = arr[v];
    if (g->vals[v].kind != MX_CV_NODE) { /* an input or constant: one more reference */
      mx_array_retain(outs[o]);
      mx_scope_adopt(outs[o]);
    }
  }
  free(arr);
  free(ins);
  free(res);
  free(dt);
  free(shapes);
  free(nds);
  return rc;
}

/* ---- tracing ---- */
static mx_status eval_placeholder(mx_node *n, mx_array **in, mx_array **out) {
  (void)n, (void)in, (void)out;
  return mx_set_error(
      MX_ERR_INVALID,
      "[compile] cannot evaluate a value that depends on the inputs while "
      "compile traces the function");
}

static const mx_prim mx_prim_compile_placeholder = {
    .name = "compile_placeholder",
    .eval_cpu = eval_placeholder,
    .eval_cuda = eval_placeholder,
};

/* What happens to a traced node. */
enum { C_KEEP, C_IDENT, C_FOLD, C_FULL, C_LEAF };

static bool expandable(const mx_array *a) {
  return a && a->node && atomic_load(&((mx_array *)a)->status) == MX_ST_UNEVALUATED;
}

/* Post-order of the nodes reachable from outs through unevaluated arrays,
 * following every input (custom functions' forward results too), stopping
 * at the placeholders (keys of ph). */
static mx_status collect(mx_array *const *outs, int n, const mx_tr_map *ph,
                         mx_node ***tape, int *ntape, mx_tr_map *index) {
  typedef struct {
    mx_node *node;
    int next;
  } frame;
  frame *st = NULL;
  int sn = 0, scap = 0, tn = 0, tcap = 0;
  mx_node **t = NULL;
  mx_status rc = MX_OK;
  for (int i = 0; i < n && rc == MX_OK; i++) {
    mx_array *root = outs[i];
    if (!expandable(root) || mx_tr_map_get(ph, root) || mx_tr_map_get(index, root->node))
      continue;
    mx_node *push = root->node;
    if (!mx_tr_map_put(index, push)) rc = nomem();
    while (rc == MX_OK && (push || sn > 0)) {
      if (push) {
        if (sn == scap) {
          scap = scap ? 2 * scap : 64;
          frame *ns = realloc(st, (size_t)scap * sizeof *ns);
          if (!ns) {
            rc = nomem();
            break;
          }
          st = ns;
        }
        st[sn++] = (frame){push, 0};
        push = NULL;
        continue;
      }
      frame *f = &st[sn - 1];
      if (f->next < f->node->nin) {
        mx_array *x = f->node->in[f->next++];
        if (!expandable(x) || mx_tr_map_get(ph, x) || mx_tr_map_get(index, x->node))
          continue;
        if (!mx_tr_map_put(index, x->node)) {
          rc = nomem();
          break;
        }
        push = x->node;
      } else {
        if (tn == tcap) {
          tcap = tcap ? 2 * tcap : 64;
          mx_node **nt = realloc(t, (size_t)tcap * sizeof *nt);
          if (!nt) {
            rc = nomem();
            break;
          }
          t = nt;
        }
        mx_tr_map_get(index, f->node)->axis = tn;
        t[tn++] = f->node;
        sn--;
      }
    }
  }
  free(st);
  if (rc != MX_OK) {
    free(t);
    return rc;
  }
  *tape = t;
  *ntape = tn;
  return MX_OK;
}

static int64_t out_size_max(const mx_node *n) {
  int64_t m = 0;
  for (int o = 0; o < n->nout; o++)
    if (n->out[o]->size > m) m = n->out[o]->size;
  return m;
}

/* Primitives whose values stand for something outside this trace. */
static bool is_tracer_prim(const mx_prim *p) {
  return p == &mx_prim_trace_input || p == &mx_prim_vmap_placeholder ||
         p == &mx_prim_compile_placeholder;
}

typedef struct {
  mx_tr_map ids; /* array -> value id (in .axis) */
  mx_cgraph *g;
} builder;

/* The value id of array x (a constant on first sight). */
static int value_of(builder *b, mx_array *x) {
  mx_tr_slot *s = mx_tr_map_get(&b->ids, x);
  if (s) return s->axis;
  int id = mx_cg_add_const(b->g, x);
  if (id < 0) return -1;
  if (!(s = mx_tr_map_put(&b->ids, x))) return nomem(), -1;
  s->axis = id;
  return id;
}

static mx_status bind(builder *b, mx_array *x, int id) {
  mx_tr_slot *s = mx_tr_map_put(&b->ids, x);
  if (!s) return nomem();
  s->axis = id;
  return MX_OK;
}

/* The traced graph of results res (placeholders ph[0..nin)) as a compiled
 * graph; *ntraced: input-dependent nodes the function built. */
static mx_status build_graph(mx_array *const *ph, int nin, const mx_vec *res,
                             bool simplify, mx_cgraph **out, int *ntraced) {
  mx_tr_map phm = {0}, index = {0};
  mx_node **tape = NULL;
  int nt = 0;
  unsigned char *cls = NULL;
  builder b = {{0}, NULL};
  mx_vec fold = MX_VEC_INIT;
  mx_status rc = MX_OK;
  for (int i = 0; i < nin && rc == MX_OK; i++) {
    mx_tr_slot *s = mx_tr_map_put(&phm, ph[i]);
    if (!s)
      rc = nomem();
    else
      s->axis = i;
  }
  if (rc == MX_OK) rc = collect(res->items, res->n, &phm, &tape, &nt, &index);
  if (rc == MX_OK && !(cls = malloc((size_t)(nt ? nt : 1)))) rc = nomem();
  /* dependence on the inputs, and what is cheap to settle now */
  bool *dep = NULL, *avail = NULL;
  if (rc == MX_OK && (!(dep = calloc((size_t)(nt ? nt : 1), 1)) ||
                      !(avail = calloc((size_t)(nt ? nt : 1), 1))))
    rc = nomem();
  *ntraced = 0;
  for (int k = 0; k < nt && rc == MX_OK; k++) {
    mx_node *n = tape[k];
    bool d = false, av = !is_tracer_prim(n->prim) &&
                         (out_size_max(n) <= 1 || n->prim == &mx_prim_broadcast ||
                          n->prim == &mx_prim_full);
    for (int i = 0; i < n->nin; i++) {
      mx_array *x = n->in[i];
      if (mx_tr_map_get(&phm, x)) {
        d = true;
        av = false;
      } else if (expandable(x)) {
        int j = mx_tr_map_get(&index, x->node)->axis;
        d |= dep[j];
        av &= avail[j];
      } else if (atomic_load(&x->status) != MX_ST_EVALUATED) {
        av = false; /* scheduled elsewhere: leave it alone */
      }
    }
    dep[k] = d;
    avail[k] = av;
    if (d) {
      cls[k] = n->prim == &mx_prim_trace_input && n->nin == 1 && n->nout == 1 ? C_IDENT
                                                                              : C_KEEP;
      if (cls[k] == C_KEEP) ++*ntraced;
    } else if (n->prim == &mx_prim_broadcast) {
      cls[k] = C_KEEP;
      ++*ntraced;
    } else if (simplify && n->prim == &mx_prim_full && n->nout == 1) {
      cls[k] = C_FULL;
      ++*ntraced;
    } else if (simplify && av && out_size_max(n) <= 1) {
      cls[k] = C_FOLD;
    } else {
      cls[k] = C_LEAF;
    }
  }
  free(dep);
  free(avail);
  if (rc == MX_OK && !(b.g = mx_cg_new(nin))) rc = fail();
  for (int i = 0; i < nin && rc == MX_OK; i++) {
    mx_cg_set_input(b.g, i, ph[i]->dtype, ph[i]->shape, ph[i]->ndim);
    rc = bind(&b, ph[i], i);
  }
  int w = 1;
  for (int k = 0; k < nt; k++) {
    if (tape[k]->nin > w) w = tape[k]->nin;
    if (tape[k]->nout > w) w = tape[k]->nout;
  }
  int *ids = malloc(sizeof(int) * (size_t)w);
  mx_dtype *dt = malloc(sizeof(mx_dtype) * (size_t)w);
  const int **shapes = malloc(sizeof(int *) * (size_t)w);
  int *nds = malloc(sizeof(int) * (size_t)w);
  if (rc == MX_OK && (!ids || !dt || !shapes || !nds)) rc = nomem();
  for (int k = 0; k < nt && rc == MX_OK; k++) {
    mx_node *n = tape[k];
    if (cls[k] == C_IDENT) {
      rc = bind(&b, n->out[0], value_of(&b, n->in[0]));
    } else if (cls[k] == C_FOLD) {
      mx_array *live[64];
      if (n->nout > 64) {
        cls[k] = C_LEAF;
        continue;
      }
      mx_tr_live_outputs(n, live);
      for (int o = 0; o < n->nout && rc == MX_OK; o++)
        if (live[o]) rc = mx_vec_push(&fold, live[o]);
    } else if (cls[k] == C_FULL) {
      /* the value as a one-element constant, broadcast to the shape */
      mx_array *one = mx_node_make1(&mx_prim_full, n->params, n->params_size, NULL, 0,
                                    n->out[0]->dtype, NULL, 0);
      if (!one || (rc = mx_vec_push(&fold, one)) != MX_OK) {
        rc = fail();
        break;
      }
      int c = value_of(&b, one);
      if (c < 0) {
        rc = fail();
        break;
      }
      if (n->out[0]->ndim == 0) {
        rc = bind(&b, n->out[0], c);
      } else {
        mx_dtype t = n->out[0]->dtype;
        const int *s = n->out[0]->shape;
        int nd = n->out[0]->ndim;
        int id = mx_cg_add_node(b.g, &mx_prim_broadcast, NULL, 0, &c, 1, 1, &t, &s, &nd,
                                n->stream);
        rc = id < 0 ? fail() : bind(&b, n->out[0], b.g->nodes[id].out0);
      }
    } else if (cls[k] == C_KEEP) {
      for (int i = 0; i < n->nin && rc == MX_OK; i++)
        if ((ids[i] = value_of(&b, n->in[i])) < 0) rc = fail();
      for (int o = 0; o < n->nout; o++) {
        dt[o] = n->out[o]->dtype;
        shapes[o] = n->out[o]->shape;
        nds[o] = n->out[o]->ndim;
      }
      int id = rc == MX_OK ? mx_cg_add_node(b.g, n->prim, n->params, n->params_size, ids,
                                            n->nin, n->nout, dt, shapes, nds, n->stream)
                           : -1;
      if (id < 0) rc = fail();
      for (int o = 0; o < n->nout && rc == MX_OK; o++)
        rc = bind(&b, n->out[o], b.g->nodes[id].out0 + o);
    }
  }
  int *oids = malloc(sizeof(int) * (size_t)(res->n ? res->n : 1));
  if (rc == MX_OK && !oids) rc = nomem();
  for (int o = 0; o < res->n && rc == MX_OK; o++)
    if ((oids[o] = value_of(&b, res->items[o])) < 0) rc = fail();
  if (rc == MX_OK) rc = mx_cg_set_outputs(b.g, oids, res->n);
  /* fold: evaluated here, once (their nodes may go away now) */
  if (rc == MX_OK && fold.n) rc = mx_eval(fold.items, fold.n);
  free(oids);
  free(ids);
  free(dt);
  free(shapes);
  free(nds);
  free(tape);
  free(cls);
  mx_vec_free(&fold);
  mx_tr_map_free(&phm);
  mx_tr_map_free(&index);
  mx_tr_map_free(&b.ids);
  if (rc != MX_OK) {
    mx_cg_free(b.g);
    return rc;
  }
  *out = b.g;
  return MX_OK;
}

/* ---- the compiled closure ---- */
typedef struct centry {
  int *key;
  int nkey;
  mx_cgraph *g;
  struct centry *next;
} centry;

typedef struct {
  mx_closure *f;
  int flags;
  pthread_mutex_t mu;
  centry *entries;
  int traces, nentries;
  mx_cg_fuse_info last;
} cpayload;

static void cpayload_free(void *p) {
  cpayload *c = p;
  if (!c) return;
  for (centry *e = c->entries, *nx; e; e = nx) {
    nx = e->next;
    mx_cg_free(e->g);
    free(e->key);
    free(e);
  }
  mx_closure_free(c->f);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* stream, nin, then per input: dtype, ndim and (unless shapeless) shape */
static int *make_key(mx_array *const *in, int nin, bool shapeless, int *nkey) {
  int n = 3;
  for (int i = 0; i < nin; i++) n += 2 + (shapeless ? 0 : in[i]->ndim);
  int *k = malloc(sizeof(int) * (size_t)n);
  if (!k) return NULL;
  mx_stream s = mx_current_stream();
  int j = 0;
  k[j++] = (int)s.device.type;
  k[j++] = s.index;
  k[j++] = nin;
  for (int i = 0; i < nin; i++) {
    k[j++] = (int)in[i]->dtype;
    k[j++] = in[i]->ndim;
    if (!shapeless)
      for (int d = 0; d < in[i]->ndim; d++) k[j++] = in[i]->shape[d];
  }
  *nkey = n;
  return k;
}

static centry *find(cpayload *c, const int *key, int nkey) {
  for (centry *e = c->entries; e; e = e->next)
    if (e->nkey == nkey && memcmp(e->key, key, sizeof(int) * (size_t)nkey) == 0) return e;
  return NULL;
}

static mx_status trace(cpayload *c, mx_array *const *in, int nin, mx_cgraph **out,
                       mx_cg_fuse_info *info) {
  mx_status rc = MX_OK;
  mx_array **ph = calloc((size_t)(nin ? nin : 1), sizeof *ph);
  if (!ph) return nomem();
  mx_vec res = MX_VEC_INIT;
  mx_cgraph *g = NULL;
  memset(info, 0, sizeof *info);
  mx_scope_begin();
  for (int i = 0; i < nin && rc == MX_OK; i++) {
    ph[i] = mx_node_make1(&mx_prim_compile_placeholder, NULL, 0, NULL, 0, in[i]->dtype,
                          in[i]->shape, in[i]->ndim);
    if (!ph[i]) rc = fail();
  }
  if (rc == MX_OK) rc = mx_closure_call(c->f, ph, nin, &res);
  bool simplify = !(c->flags & MX_COMPILE_NO_SIMPLIFY);
  if (rc == MX_OK) rc = build_graph(ph, nin, &res, simplify, &g, &info->traced_nodes);
  mx_scope_end();
  mx_vec_free(&res);
  free(ph);
  if (rc == MX_OK && !(g = mx_cg_simplify(g, simplify))) rc = fail();
  if (rc == MX_OK) {
    info->nodes = g->nnodes;
    if (!(c->flags & MX_COMPILE_NO_FUSE) && !(g = mx_cg_fuse(g, info))) rc = fail();
  }
  if (rc != MX_OK) {
    mx_cg_free(g);
    return rc;
  }
  *out = g;
  return MX_OK;
}

static mx_status call_compiled(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  cpayload *c = payload;
  bool shapeless = c->flags & MX_COMPILE_SHAPELESS;
  int nkey;
  int *key = make_key(in, nin, shapeless, &nkey);
  if (!key) return nomem();
  pthread_mutex_lock(&c->mu);
  centry *e = find(c, key, nkey);
  pthread_mutex_unlock(&c->mu);
  mx_status rc = MX_OK;
  if (!e) {
    /* traced without the lock: the function may call compiled functions */
    mx_cgraph *g = NULL;
    mx_cg_fuse_info info;
    rc = trace(c, in, nin, &g, &info);
    if (rc != MX_OK) {
      free(key);
      return rc;
    }
    centry *ne = calloc(1, sizeof *ne);
    if (!ne) {
      mx_cg_free(g);
      free(key);
      return nomem();
    }
    pthread_mutex_lock(&c->mu);
    c->traces++;
    c->last = info;
    if ((e = find(c, key, nkey)) != NULL) { /* another thread won */
      mx_cg_free(g);
      free(ne);
      free(key);
    } else {
      ne->key = key;
      ne->nkey = nkey;
      ne->g = g;
      ne->next = c->entries;
      c->entries = ne;
      c->nentries++;
      e = ne;
    }
    key = NULL;
    pthread_mutex_unlock(&c->mu);
  }
  free(key);
  const mx_cgraph *g = e->g;
  mx_array **outs = calloc((size_t)(g->nout ? g->nout : 1), sizeof *outs);
  if (!outs) return nomem();
  mx_scope_begin();
  rc = mx_cg_replay(g, in, shapeless, outs);
  for (int o = 0; o < g->nout && rc == MX_OK; o++) mx_keep(outs[o]);
  mx_scope_end();
  for (int o = 0; o < g->nout && rc == MX_OK; o++) {
    mx_status r2 = mx_vec_push(out, mx_scope_adopt(outs[o]));
    if (r2 != MX_OK && rc == MX_OK) rc = r2;
  }
  free(outs);
  return rc;
}

mx_closure *mx_compile(mx_closure *f, int flags) {
  if (!f) {
    if (mx_last_status() == MX_OK) mx_set_error(MX_ERR_INVALID, "[compile] NULL closure");
    return NULL;
  }
  if (flags & ~(MX_COMPILE_SHAPELESS | MX_COMPILE_NO_SIMPLIFY | MX_COMPILE_NO_FUSE)) {
    mx_set_error(MX_ERR_INVALID, "[compile] unknown flags 0x%x", (unsigned)flags);
    return NULL;
  }
  cpayload *c = calloc(1, sizeof *c);
  if (!c) {
    nomem();
    return NULL;
  }
  c->f = mx_closure_retain(f);
  c->flags = flags;
  pthread_mutex_init(&c->mu, NULL);
  return mx_closure_new(call_compiled, c, cpayload_free);
}

mx_status mx_compile_get_stats(mx_closure *compiled, mx_compile_stats *st) {
  if (!st) return mx_set_error(MX_ERR_INVALID, "[compile] NULL stats");
  memset(st, 0, sizeof *st);
  st->compiler_runs = mx_fuse_compiler_runs();
  if (!compiled) return MX_OK; /* the process-wide fields only */
  cpayload *c = mx_closure_payload(compiled, call_compiled);
  if (!c) return mx_set_error(MX_ERR_INVALID, "[compile] not a compiled function");
  pthread_mutex_lock(&c->mu);
  st->traces = c->traces;
  st->cache_entries = c->nentries;
  st->traced_nodes = c->last.traced_nodes;
  st->nodes = c->last.nodes;
  st->kernels = c->last.fused;
  st->fused_nodes = c->last.fused_nodes;
  st->fallback = c->last.fallback;
  pthread_mutex_unlock(&c->mu);
  return MX_OK;
}
