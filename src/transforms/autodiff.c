/* autodiff.c: reverse mode (vjp) and forward mode (jvp) over traced graphs,
 * and the closures built on them (vjp_fn, jvp_fn, value_and_grad, grad).
 *
 * Tracing, as MLX: each differentiated primal is wrapped in a trace_input
 * node (an identity view), the function runs on those wrappers, and the
 * graph it built is read before anything is evaluated. The wrappers are the
 * leaves: the walk never goes below them, so it works the same whether the
 * primals are evaluated arrays or unevaluated results of earlier ops. A node
 * is "active" when one of its inputs is a wrapper or an active node's
 * output; only active nodes get rules applied. vjp runs the tape backwards
 * accumulating cotangents with add; jvp runs it forwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "tr.h"

/* ---- pointer map ---- */
static size_t hash_ptr(const void *p) {
  return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull);
}

mx_tr_slot *mx_tr_map_get(const mx_tr_map *m, const void *key) {
  if (!m->cap || !key) return NULL;
  size_t j = hash_ptr(key) & (m->cap - 1);
  while (m->slots[j].key) {
    if (m->slots[j].key == key) return &m->slots[j];
    j = (j + 1) & (m->cap - 1);
  }
  return NULL;
}

mx_tr_slot *mx_tr_map_put(mx_tr_map *m, const void *key) {
  mx_tr_slot *s = mx_tr_map_get(m, key);
  if (s) return s;
  if ((m->n + 1) * 2 > m->cap) {
    size_t nc = m->cap ? 2 * m->cap : 64;
    mx_tr_slot *ns = calloc(nc, sizeof *ns);
    if (!ns) {
      mx_set_error(MX_ERR_NOMEM, "[transforms] out of memory");
      return NULL;
    }
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->slots[i].key) continue;
      size_t j = hash_ptr(m->slots[i].key) & (nc - 1);
      while (ns[j].key) j = (j + 1) & (nc - 1);
      ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = nc;
  }
  size_t j = hash_ptr(key) & (m->cap - 1);
  while (m->slots[j].key) j = (j + 1) & (m->cap - 1);
  m->slots[j] = (mx_tr_slot){key, NULL, -1};
  m->n++;
  return &m->slots[j];
}

void mx_tr_map_free(mx_tr_map *m) {
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* ---- tape ---- */
void mx_tr_traced_inputs(const mx_node *n, int *lo, int *hi) {
  if (n->prim == &mx_prim_custom) {
    const mx_custom_params *p = MX_PARAMS(mx_custom_params, n);
    *lo = 1;
    *hi = 1 + p->nargs;
  } else {
    *lo = 0;
    *hi = n->nin;
  }
}

void mx_tr_live_outputs(const mx_node *n, mx_array **outs) {
  for (int o = 0; o < n->nout; o++) {
    mx_array *x = n->out[o];
    outs[o] = x && atomic_load(&x->refs) > 0 ? x : NULL;
  }
}

/* Only unevaluated arrays carry a graph; scheduled ones belong to an async
 * eval and are leaves here. */
static bool expandable(const mx_array *a, const mx_tr_map *leaves) {
  return a && a->node && atomic_load(&((mx_array *)a)->status) == MX_ST_UNEVALUATED &&
         !mx_tr_map_get(leaves, a);
}

typedef struct {
  mx_node *node;
  int next, hi;
} frame;

mx_status mx_tr_build_tape(mx_array *const *outs, int n, const mx_tr_map *leaves,
                           mx_node ***nodes_out, int *nnodes) {
  mx_tr_map seen = {0};
  frame *st = NULL;
  int sn = 0, scap = 0;
  mx_node **tape = NULL;
  int tn = 0, tcap = 0;
  mx_status rc = MX_OK;
  for (int i = 0; i < n && rc == MX_OK; i++) {
    mx_array *root = outs[i];
    if (!expandable(root, leaves) || mx_tr_map_get(&seen, root->node)) continue;
    if (!mx_tr_map_put(&seen, root->node)) {
      rc = MX_ERR_NOMEM;
      break;
    }
    mx_node *push = root->node;
    while (push || sn > 0) {
      if (push) {
        if (sn == scap) {
          scap = scap ? 2 * scap : 64;
          frame *ns = realloc(st, (size_t)scap * sizeof *ns);
          if (!ns) {
            rc = mx_set_error(MX_ERR_NOMEM, "[transforms] out of memory");
            break;
          }
          st = ns;
        }
        int lo, hi;
        mx_tr_traced_inputs(push, &lo, &hi);
        st[sn++] = (frame){push, lo, hi};
        push = NULL;
        continue;
      }
      frame *f = &st[sn - 1];
      if (f->next < f->hi) {
        mx_array *x = f->node->in[f->next++];
        if (!expandable(x, leaves) || mx_tr_map_get(&seen, x->node)) continue;
        if (!mx_tr_map_put(&seen, x->node)) {
          rc = MX_ERR_NOMEM;
          break;
        }
        push = x->node;
      } else {
        if (tn == tcap) {
          tcap = tcap ? 2 * tcap : 64;
          mx_node **nt = realloc(tape, (size_t)tcap * sizeof *nt);
          if (!nt) {
            rc = mx_set_error(MX_ERR_NOMEM, "[transforms] out of memory");
            break;
          }
          tape = nt;
        }
        tape[tn++] = f->node;
        sn--;
      }
    }
  }
  free(st);
  mx_tr_map_free(&seen);
  if (rc != MX_OK) {
    free(tape);
    return rc;
  }
  *nodes_out = tape;
  *nnodes = tn;
  return MX_OK;
}

/* ---- trace_input: the identity view that marks a traced primal ---- */
static mx_status eval_trace_input(mx_node *n, mx_array **in, mx_array **out) {
  (void)n;
  mx_array_set_view(out[0], in[0], in[0]->strides, in[0]->offset);
  return MX_OK;
}

static MX_TR_VJP(trace_input) {
  (void)n, (void)in, (void)out, (void)argnums, (void)nargs;
  grads[0] = cotan[0];
  return MX_OK;
}

static MX_TR_JVP(trace_input) {
  (void)n, (void)in, (void)argnums, (void)nargs;
  out_tangents[0] = tangents[0];
  return MX_OK;
}

static MX_TR_VMAP(trace_input) {
  (void)n;
  out[0] = in[0];
  out_axes[0] = in_axes[0];
  return MX_OK;
}

const mx_prim mx_prim_trace_input = {
    .name = "trace_input",
    .eval_cpu = eval_trace_input,
    .eval_cuda = MX_CUDA_FN(eval_trace_input),
    .vjp = mx_vjp_trace_input,
    .jvp = mx_jvp_trace_input,
    .vmap = mx_vmap_trace_input,
};

static mx_array *trace_wrap(mx_array *p) {
  return mx_node_make1(&mx_prim_trace_input, NULL, 0, &p, 1, p->dtype, p->shape, p->ndim);
}

static mx_status fail(void) {
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static bool same_shape(const mx_array *a, const mx_array *b) {
  return a->ndim == b->ndim &&
         memcmp(a->shape, b->shape, sizeof(int) * (size_t)a->ndim) == 0;
}

/* A traced function (or a user rule) that evaluates an array depending on
 * the traced inputs evaluates their wrappers too, and evaluation detaches
 * the graph being read: report it instead of reading a freed graph. */
static mx_status check_traced(const char *op, mx_array *const *ins, int n,
                              const bool *diff) {
  for (int i = 0; i < n; i++) {
    if (diff && !diff[i]) continue;
    if (ins[i] && atomic_load(&ins[i]->status) != MX_ST_UNEVALUATED)
      return mx_set_error(MX_ERR_INVALID,
                          "[%s] the function evaluated a value that depends on its "
                          "inputs while being transformed (transforms read the graph: "
                          "build results with ops only)",
                          op);
  }
  return MX_OK;
}

/* Active nodes of a tape: act[k] for node k; active arrays go in `active`. */
static mx_status mark_active(mx_node **tape, int nn, mx_tr_map *active, bool *act) {
  for (int k = 0; k < nn; k++) {
    mx_node *node = tape[k];
    int lo, hi;
    mx_tr_traced_inputs(node, &lo, &hi);
    act[k] = false;
    for (int i = lo; i < hi && !act[k]; i++) act[k] = mx_tr_map_get(active, node->in[i]);
    if (!act[k]) continue;
    for (int o = 0; o < node->nout; o++)
      if (mx_tr_inexact(node->out[o]) && !mx_tr_map_put(active, node->out[o]))
        return MX_ERR_NOMEM;
  }
  return MX_OK;
}

/* Scratch arrays sized for the widest node of a tape. */
typedef struct {
  int *argnums;
  mx_array **a, **b, **c;
} scratch;

static mx_status scratch_init(scratch *s, mx_node **tape, int nn) {
  int w = 1;
  for (int k = 0; k < nn; k++) {
    if (tape[k]->nin > w) w = tape[k]->nin;
    if (tape[k]->nout > w) w = tape[k]->nout;
  }
  s->argnums = malloc(sizeof(int) * (size_t)w);
  s->a = calloc((size_t)w, sizeof(mx_array *));
  s->b = calloc((size_t)w, sizeof(mx_array *));
  s->c = calloc((size_t)w, sizeof(mx_array *));
  if (!s->argnums || !s->a || !s->b || !s->c)
    return mx_set_error(MX_ERR_NOMEM, "[transforms] out of memory");
  return MX_OK;
}

static void scratch_free(scratch *s) {
  free(s->argnums);
  free(s->a);
  free(s->b);
  free(s->c);
}

/* Accumulate g into map[key]. */
static mx_status accumulate(mx_tr_map *m, const void *key, mx_array *g) {
  mx_tr_slot *s = mx_tr_map_put(m, key);
  if (!s) return MX_ERR_NOMEM;
  s->val = s->val ? mx_tr_add(s->val, g) : g;
  return s->val ? MX_OK : fail();
}

/* Move the kept results (+1 each) of a driver into the caller's scope. */
static mx_status hand_over(mx_array **kept, int n, mx_vec *dst) {
  mx_status rc = MX_OK;
  for (int i = 0; i < n; i++) {
    mx_array *a = mx_scope_adopt(kept[i]);
    if (rc == MX_OK) rc = mx_vec_push(dst, a);
  }
  return rc;
}

mx_status mx_tr_vjp(mx_closure *f, mx_array *const *primals, int n, const bool *diff,
                    mx_array *const *cot, int ncot, bool seed_first, mx_vec *outputs,
                    mx_vec *vjps) {
  if (!outputs || !vjps) return mx_set_error(MX_ERR_INVALID, "[vjp] NULL result list");
  outputs->n = vjps->n = 0;
  if (!f) return fail();
  if (n < 0 || (n > 0 && !primals))
    return mx_set_error(MX_ERR_INVALID, "[vjp] bad primal list");
  for (int i = 0; i < n; i++)
    if (!primals[i]) return fail();
  if (!seed_first && ncot > 0 && !cot)
    return mx_set_error(MX_ERR_INVALID, "[vjp] bad cotangent list");

  mx_status rc = MX_OK;
  mx_array **ins = calloc((size_t)(n ? n : 1), sizeof *ins);
  mx_array **kept = NULL;
  int nkept = 0;
  mx_tr_map leaves = {0}, active = {0}, cmap = {0};
  mx_vec outs = MX_VEC_INIT;
  mx_node **tape = NULL;
  int nn = 0;
  bool *act = NULL;
  scratch sc = {0};
  if (!ins) return mx_set_error(MX_ERR_NOMEM, "[vjp] out of memory");

  mx_scope_begin();
  for (int i = 0; i < n && rc == MX_OK; i++) {
    if (diff && !diff[i]) {
      ins[i] = primals[i];
      continue;
    }
    ins[i] = trace_wrap(primals[i]);
    if (!ins[i] || !mx_tr_map_put(&leaves, ins[i]))
      rc = fail();
    else if (mx_tr_inexact(ins[i]) && !mx_tr_map_put(&active, ins[i]))
      rc = fail();
  }
  if (rc == MX_OK) rc = mx_closure_call(f, ins, n, &outs);
  if (rc == MX_OK) rc = check_traced("vjp", ins, n, diff);

  /* seed the cotangents of the outputs */
  if (rc == MX_OK && seed_first) {
    mx_array *o = outs.n > 0 ? outs.items[0] : NULL;
    if (!o)
      rc = mx_set_error(MX_ERR_INVALID, "[grad] the function returned no outputs");
    else if (o->size != 1)
      rc = mx_set_error(MX_ERR_INVALID,
                        "[grad] the function's first output must have one element (a "
                        "scalar loss), got shape %s",
                        mx_shape_str(o->shape, o->ndim));
    else if (!mx_tr_inexact(o))
      rc = mx_set_error(MX_ERR_INVALID,
                        "[grad] the function's first output must be floating, got %s",
                        mx_dtype_name(o->dtype));
    else
      rc = accumulate(&cmap, o, mx_ones(o->shape, o->ndim, o->dtype));
  } else if (rc == MX_OK) {
    if (ncot != outs.n)
      rc = mx_set_error(MX_ERR_INVALID,
                        "[vjp] %d cotangents given for a function with %d outputs", ncot,
                        outs.n);
    for (int o = 0; o < outs.n && rc == MX_OK; o++) {
      mx_array *y = outs.items[o], *c = cot[o];
      if (!c || !mx_tr_inexact(y)) continue;
      if (!same_shape(c, y)) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", mx_shape_str(y->shape, y->ndim));
        rc = mx_set_error(MX_ERR_INVALID,
                          "[vjp] output %d has shape %s but its cotangent has shape %s",
                          o, buf, mx_shape_str(c->shape, c->ndim));
        break;
      }
      rc = accumulate(&cmap, y, mx_astype(c, y->dtype));
    }
  }

  if (rc == MX_OK) rc = mx_tr_build_tape(outs.items, outs.n, &leaves, &tape, &nn);
  if (rc == MX_OK) {
    act = calloc((size_t)(nn ? nn : 1), sizeof *act);
    rc = act ? mark_active(tape, nn, &active, act)
             : mx_set_error(MX_ERR_NOMEM, "[vjp] out of memory");
  }
  if (rc == MX_OK) rc = scratch_init(&sc, tape, nn);

  /* backward over the active nodes */
  for (int k = nn - 1; k >= 0 && rc == MX_OK; k--) {
    if (!act[k]) continue;
    mx_node *node = tape[k];
    mx_array **live = sc.a, **cots = sc.b, **grads = sc.c;
    mx_tr_live_outputs(node, live);
    bool any = false;
    for (int o = 0; o < node->nout; o++) {
      mx_tr_slot *s = live[o] ? mx_tr_map_get(&cmap, live[o]) : NULL;
      cots[o] = s ? s->val : NULL;
      any |= cots[o] != NULL;
    }
    if (!any) continue;
    for (int o = 0; o < node->nout && rc == MX_OK; o++)
      if (!cots[o] && !(cots[o] = mx_tr_zeros_like(node->out[o]))) rc = fail();
    int lo, hi, na = 0;
    mx_tr_traced_inputs(node, &lo, &hi);
    for (int i = lo; i < hi; i++)
      if (mx_tr_map_get(&active, node->in[i])) sc.argnums[na++] = i;
    if (rc != MX_OK || na == 0) continue;
    if (!node->prim->vjp) {
      rc = mx_set_error(MX_ERR_UNSUPPORTED, "[vjp] not implemented for %s",
                        node->prim->name);
      break;
    }
    for (int i = 0; i < na; i++) grads[i] = NULL;
    rc = node->prim->vjp(node, node->in, live, cots, sc.argnums, na, grads);
    if (rc == MX_OK) rc = check_traced("vjp", ins, n, diff);
    if (rc != MX_OK) {
      if (mx_last_status() == MX_OK)
        mx_set_error(rc, "[vjp] rule of %s failed", node->prim->name);
      break;
    }
    for (int i = 0; i < na && rc == MX_OK; i++) {
      mx_array *x = node->in[sc.argnums[i]], *g = grads[i];
      if (!g) continue;
      if (!same_shape(g, x)) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", mx_shape_str(g->shape, g->ndim));
        rc = mx_set_error(MX_ERR_RUNTIME,
                          "[vjp] rule of %s gave a gradient of shape %s for input %d of "
                          "shape %s",
                          node->prim->name, buf, sc.argnums[i],
                          mx_shape_str(x->shape, x->ndim));
        break;
      }
      rc = accumulate(&cmap, x, mx_astype(g, x->dtype));
    }
  }

  /* results */
  if (rc == MX_OK) {
    kept = calloc((size_t)(outs.n + n + 1), sizeof *kept);
    if (!kept) rc = mx_set_error(MX_ERR_NOMEM, "[vjp] out of memory");
  }
  for (int o = 0; o < outs.n && rc == MX_OK; o++) kept[nkept++] = mx_keep(outs.items[o]);
  for (int i = 0; i < n && rc == MX_OK; i++) {
    if (diff && !diff[i]) continue;
    mx_tr_slot *s = mx_tr_map_get(&cmap, ins[i]);
    mx_array *g = s ? s->val : mx_tr_zeros_like(primals[i]);
    if (!g)
      rc = fail();
    else
      kept[nkept++] = mx_keep(g);
  }
  mx_scope_end();
  int nouts = outs.n;
  if (rc == MX_OK) {
    rc = hand_over(kept, nouts, outputs);
    mx_status rc2 = hand_over(kept + nouts, nkept - nouts, vjps);
    if (rc == MX_OK) rc = rc2;
  } else {
    for (int i = 0; i < nkept; i++) mx_free(kept[i]);
  }
  if (rc != MX_OK) outputs->n = vjps->n = 0;
  free(kept);
  free(ins);
  free(tape);
  free(act);
  scratch_free(&sc);
  mx_vec_free(&outs);
  mx_tr_map_free(&leaves);
  mx_tr_map_free(&active);
  mx_tr_map_free(&cmap);
  return rc;
}

mx_status mx_vjp(mx_closure *f, mx_array *const *primals, int nprimals,
                 mx_array *const *cotangents, int ncotangents, mx_vec *outputs,
                 mx_vec *vjps) {
  return mx_tr_vjp(f, primals, nprimals, NULL, cotangents, ncotangents, false, outputs,
                   vjps);
}

mx_status mx_jvp(mx_closure *f, mx_array *const *primals, int n,
                 mx_array *const *tangents, mx_vec *outputs, mx_vec *jvps) {
  if (!outputs || !jvps) return mx_set_error(MX_ERR_INVALID, "[jvp] NULL result list");
  outputs->n = jvps->n = 0;
  if (!f) return fail();
  if (n < 0 || (n > 0 && (!primals || !tangents)))
    return mx_set_error(MX_ERR_INVALID, "[jvp] bad primal or tangent list");
  for (int i = 0; i < n; i++) {
    if (!primals[i]) return fail();
    if (tangents[i] && !same_shape(primals[i], tangents[i])) {
      char buf[128];
      snprintf(buf, sizeof buf, "%s", mx_shape_str(primals[i]->shape, primals[i]->ndim));
      return mx_set_error(MX_ERR_INVALID,
                          "[jvp] primal %d has shape %s but its tangent has shape %s", i,
                          buf, mx_shape_str(tangents[i]->shape, tangents[i]->ndim));
    }
  }
  mx_status rc = MX_OK;
  mx_array **ins = calloc((size_t)(n ? n : 1), sizeof *ins);
  mx_array **kept = NULL;
  int nkept = 0;
  mx_tr_map leaves = {0}, tmap = {0};
  mx_vec outs = MX_VEC_INIT;
  mx_node **tape = NULL;
  int nn = 0;
  scratch sc = {0};
  if (!ins) return mx_set_error(MX_ERR_NOMEM, "[jvp] out of memory");

  mx_scope_begin();
  for (int i = 0; i < n && rc == MX_OK; i++) {
    ins[i] = trace_wrap(primals[i]);
    if (!ins[i] || !mx_tr_map_put(&leaves, ins[i])) {
      rc = fail();
      break;
    }
    if (!tangents[i] || !mx_tr_inexact(ins[i])) continue;
    mx_tr_slot *s = mx_tr_map_put(&tmap, ins[i]);
    if (!s || !(s->val = mx_astype(tangents[i], ins[i]->dtype))) rc = fail();
  }
  if (rc == MX_OK) rc = mx_closure_call(f, ins, n, &outs);
  if (rc == MX_OK) rc = check_traced("jvp", ins, n, NULL);
  if (rc == MX_OK) rc = mx_tr_build_tape(outs.items, outs.n, &leaves, &tape, &nn);
  if (rc == MX_OK) rc = scratch_init(&sc, tape, nn);

  for (int k = 0; k < nn && rc == MX_OK; k++) {
    mx_node *node = tape[k];
    mx_array **tans = sc.a, **otan = sc.b;
    int lo, hi, na = 0;
    mx_tr_traced_inputs(node, &lo, &hi);
    for (int i = lo; i < hi; i++) {
      mx_tr_slot *s = mx_tr_map_get(&tmap, node->in[i]);
      if (s && s->val) {
        sc.argnums[na] = i;
        tans[na++] = s->val;
      }
    }
    bool any_inexact = false;
    for (int o = 0; o < node->nout; o++) any_inexact |= mx_tr_inexact(node->out[o]);
    if (na == 0 || !any_inexact) continue; /* integer results carry no tangent */
    if (!node->prim->jvp) {
      rc = mx_set_error(MX_ERR_UNSUPPORTED, "[jvp] not implemented for %s",
                        node->prim->name);
      break;
    }
    for (int o = 0; o < node->nout; o++) otan[o] = NULL;
    rc = node->prim->jvp(node, node->in, tans, sc.argnums, na, otan);
    if (rc == MX_OK) rc = check_traced("jvp", ins, n, NULL);
    if (rc != MX_OK) {
      if (mx_last_status() == MX_OK)
        mx_set_error(rc, "[jvp] rule of %s failed", node->prim->name);
      break;
    }
    for (int o = 0; o < node->nout && rc == MX_OK; o++) {
      mx_array *y = node->out[o], *t = otan[o];
      if (!t || !mx_tr_inexact(y)) continue;
      if (!same_shape(t, y)) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", mx_shape_str(t->shape, t->ndim));
        rc = mx_set_error(MX_ERR_RUNTIME,
                          "[jvp] rule of %s gave a tangent of shape %s for output %d of "
                          "shape %s",
                          node->prim->name, buf, o, mx_shape_str(y->shape, y->ndim));
        break;
      }
      mx_tr_slot *s = mx_tr_map_put(&tmap, y);
      if (!s || !(s->val = mx_astype(t, y->dtype))) rc = fail();
    }
  }

  if (rc == MX_OK) {
    kept = calloc((size_t)(2 * outs.n + 1), sizeof *kept);
    if (!kept) rc = mx_set_error(MX_ERR_NOMEM, "[jvp] out of memory");
  }
  for (int o = 0; o < outs.n && rc == MX_OK; o++) kept[nkept++] = mx_keep(outs.items[o]);
  for (int o = 0; o < outs.n && rc == MX_OK; o++) {
    mx_tr_slot *s = mx_tr_map_get(&tmap, outs.items[o]);
    mx_array *t = s && s->val ? s->val : mx_tr_zeros_like(outs.items[o]);
    if (!t)
      rc = fail();
    else
      kept[nkept++] = mx_keep(t);
  }
  mx_scope_end();
  int nouts = outs.n;
  if (rc == MX_OK) {
    rc = hand_over(kept, nouts, outputs);
    mx_status rc2 = hand_over(kept + nouts, nkept - nouts, jvps);
    if (rc == MX_OK) rc = rc2;
  } else {
    for (int i = 0; i < nkept; i++) mx_free(kept[i]);
  }
  if (rc != MX_OK) outputs->n = jvps->n = 0;
  free(kept);
  free(ins);
  free(tape);
  scratch_free(&sc);
  mx_vec_free(&outs);
  mx_tr_map_free(&leaves);
  mx_tr_map_free(&tmap);
  return rc;
}

/* ---- closure forms ---- */
typedef struct {
  mx_closure *f;
  int n; /* vjp_fn: number of primals */
} fn_payload;

static void fn_payload_free(void *p) {
  fn_payload *q = p;
  mx_closure_free(q->f);
  free(q);
}

static mx_closure *wrap(mx_closure *f, int n, mx_closure_fn fn, const char *op) {
  if (!f) {
    if (mx_last_status() == MX_OK) mx_set_error(MX_ERR_INVALID, "[%s] NULL closure", op);
    return NULL;
  }
  fn_payload *p = malloc(sizeof *p);
  if (!p) {
    mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", op);
    return NULL;
  }
  p->f = mx_closure_retain(f);
  p->n = n;
  return mx_closure_new(fn, p, fn_payload_free);
}

static mx_status append(mx_vec *dst, const mx_vec *src) {
  for (int i = 0; i < src->n; i++) {
    mx_status rc = mx_vec_push(dst, src->items[i]);
    if (rc != MX_OK) return rc;
  }
  return MX_OK;
}

static mx_status call_vjp_fn(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  fn_payload *p = payload;
  if (nin < p->n)
    return mx_set_error(MX_ERR_INVALID, "[vjp] expected %d primals, got %d inputs", p->n,
                        nin);
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  mx_status rc = mx_tr_vjp(p->f, in, p->n, NULL, in + p->n, nin - p->n, false, &o, &v);
  if (rc == MX_OK) rc = append(out, &o);
  if (rc == MX_OK) rc = append(out, &v);
  mx_vec_free(&o);
  mx_vec_free(&v);
  return rc;
}

static mx_status call_jvp_fn(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  fn_payload *p = payload;
  if (nin % 2)
    return mx_set_error(MX_ERR_INVALID,
                        "[jvp] expected primals and as many tangents, got %d inputs",
                        nin);
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  mx_status rc = mx_jvp(p->f, in, nin / 2, in + nin / 2, &o, &v);
  if (rc == MX_OK) rc = append(out, &o);
  if (rc == MX_OK) rc = append(out, &v);
  mx_vec_free(&o);
  mx_vec_free(&v);
  return rc;
}

mx_closure *mx_vjp_fn(mx_closure *f, int nprimals) {
  if (nprimals < 0) {
    mx_set_error(MX_ERR_INVALID, "[vjp] negative number of primals");
    return NULL;
  }
  return wrap(f, nprimals, call_vjp_fn, "vjp");
}

mx_closure *mx_jvp_fn(mx_closure *f) { return wrap(f, 0, call_jvp_fn, "jvp"); }

/* ---- value_and_grad / grad ---- */
typedef struct {
  mx_closure *f;
  bool with_value;
  int nargnums;
  int argnums[];
} vag_payload;

static void vag_free(void *p) {
  vag_payload *q = p;
  mx_closure_free(q->f);
  free(q);
}

static mx_status call_vag(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  vag_payload *p = payload;
  bool *diff = calloc((size_t)(nin ? nin : 1), sizeof *diff);
  int *pos = calloc((size_t)(nin ? nin : 1), sizeof *pos);
  mx_status rc = MX_OK;
  if (!diff || !pos) rc = mx_set_error(MX_ERR_NOMEM, "[grad] out of memory");
  for (int j = 0; j < p->nargnums && rc == MX_OK; j++) {
    int a = p->argnums[j] < 0 ? p->argnums[j] + nin : p->argnums[j];
    if (a < 0 || a >= nin)
      rc = mx_set_error(MX_ERR_INVALID,
                        "[grad] invalid argument number %d for a function with %d inputs",
                        p->argnums[j], nin);
    else if (diff[a])
      rc = mx_set_error(MX_ERR_INVALID, "[grad] repeated argument number %d",
                        p->argnums[j]);
    else
      diff[a] = true;
  }
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  if (rc == MX_OK) rc = mx_tr_vjp(p->f, in, nin, diff, NULL, 0, true, &o, &v);
  if (rc == MX_OK && p->with_value) rc = append(out, &o);
  if (rc == MX_OK) {
    /* vjps come in input order; hand them out in argnums order */
    for (int i = 0, k = 0; i < nin; i++)
      if (diff[i]) pos[i] = k++;
    for (int j = 0; j < p->nargnums && rc == MX_OK; j++) {
      int a = p->argnums[j] < 0 ? p->argnums[j] + nin : p->argnums[j];
      rc = mx_vec_push(out, v.items[pos[a]]);
    }
  }
  mx_vec_free(&o);
  mx_vec_free(&v);
  free(diff);
  free(pos);
  return rc;
}

static mx_closure *make_vag(mx_closure *f, const int *argnums, int nargnums, bool value,
                            const char *op) {
  if (!f) {
    if (mx_last_status() == MX_OK) mx_set_error(MX_ERR_INVALID, "[%s] NULL closure", op);
    return NULL;
  }
  int zero = 0;
  if (!argnums) {
    argnums = &zero;
    nargnums = 1;
  }
  if (nargnums < 1) {
    mx_set_error(MX_ERR_INVALID, "[%s] must specify at least one argument", op);
    return NULL;
  }
  vag_payload *p = malloc(sizeof *p + sizeof(int) * (size_t)nargnums);
  if (!p) {
    mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", op);
    return NULL;
  }
  p->f = mx_closure_retain(f);
  p->with_value = value;
  p->nargnums = nargnums;
  memcpy(p->argnums, argnums, sizeof(int) * (size_t)nargnums);
  return mx_closure_new(call_vag, p, vag_free);
}

mx_closure *mx_value_and_grad(mx_closure *f, const int *argnums, int nargnums) {
  return make_vag(f, argnums, nargnums, true, "value_and_grad");
}

mx_closure *mx_grad(mx_closure *f, const int *argnums, int nargnums) {
  return make_vag(f, argnums, nargnums, false, "grad");
}
