/* vmap.c: vectorizing map. The function is traced once on placeholders that
 * have the shape of one slice of each batched input; then the traced graph
 * is replayed node by node, each primitive's vmap rule turning its batched
 * inputs (with their batch axes) into batched outputs. Nodes that do not
 * depend on a batched input are kept as they are. Outputs are moved (or,
 * when they do not depend on any batched input, broadcast) to out_axes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "tr.h"

static mx_status fail(void) {
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static mx_status eval_placeholder(mx_node *n, mx_array **in, mx_array **out) {
  (void)n, (void)in, (void)out;
  return mx_set_error(MX_ERR_INVALID,
                      "[vmap] cannot evaluate a value that depends on the mapped inputs "
                      "while vmap traces the function");
}

const mx_prim mx_prim_vmap_placeholder = {
    .name = "vmap_placeholder",
    .eval_cpu = eval_placeholder,
    .eval_cuda = eval_placeholder,
};

typedef struct {
  mx_closure *f;
  int nin_axes, nout_axes; /* -1: defaults (all 0) */
  int *in_axes, *out_axes;
} vmap_payload;

static void vmap_payload_free(void *p) {
  vmap_payload *q = p;
  mx_closure_free(q->f);
  free(q->in_axes);
  free(q->out_axes);
  free(q);
}

/* Expected batched shape of y with the batch (size B) at axis ax. */
static bool batched_shape_ok(const mx_array *y, int ax, int B, const mx_array *v) {
  if (ax < 0)
    return v->ndim == y->ndim &&
           memcmp(v->shape, y->shape, sizeof(int) * (size_t)y->ndim) == 0;
  if (v->ndim != y->ndim + 1 || ax > y->ndim || v->shape[ax] != B) return false;
  for (int d = 0, k = 0; d < v->ndim; d++) {
    if (d == ax) continue;
    if (v->shape[d] != y->shape[k++]) return false;
  }
  return true;
}

/* Replay the traced graph: bmap maps traced arrays to (batched array, axis). */
static mx_status replay(mx_node **tape, int nn, mx_tr_map *bmap, int B) {
  mx_status rc = MX_OK;
  int w = 1;
  for (int k = 0; k < nn; k++) {
    if (tape[k]->nin > w) w = tape[k]->nin;
    if (tape[k]->nout > w) w = tape[k]->nout;
  }
  mx_array **vin = calloc((size_t)w, sizeof *vin),
           **vout = calloc((size_t)w, sizeof *vout);
  int *vax = calloc((size_t)w, sizeof *vax), *oax = calloc((size_t)w, sizeof *oax);
  if (!vin || !vout || !vax || !oax)
    rc = mx_set_error(MX_ERR_NOMEM, "[vmap] out of memory");
  for (int k = 0; k < nn && rc == MX_OK; k++) {
    mx_node *node = tape[k];
    int lo, hi;
    mx_tr_traced_inputs(node, &lo, &hi);
    bool touched = false, batched = false;
    for (int i = 0; i < node->nin; i++) {
      mx_tr_slot *s = i >= lo && i < hi ? mx_tr_map_get(bmap, node->in[i]) : NULL;
      vin[i] = s ? s->val : node->in[i];
      vax[i] = s ? s->axis : -1;
      touched |= s != NULL;
      batched |= s && s->axis >= 0;
    }
    if (!touched) continue;
    for (int o = 0; o < node->nout; o++) {
      vout[o] = NULL;
      oax[o] = -1;
    }
    if (!batched) {
      rc = mx_tr_reapply(node, vin, vout);
    } else if (!node->prim->vmap) {
      rc = mx_set_error(MX_ERR_UNSUPPORTED, "[vmap] not implemented for %s",
                        node->prim->name);
    } else {
      rc = node->prim->vmap(node, vin, vax, vout, oax);
      if (rc != MX_OK && mx_last_status() == MX_OK)
        mx_set_error(rc, "[vmap] rule of %s failed", node->prim->name);
    }
    for (int o = 0; o < node->nout && rc == MX_OK; o++) {
      mx_array *y = node->out[o];
      if (!vout[o]) {
        rc = fail();
        break;
      }
      if (!batched_shape_ok(y, oax[o], B, vout[o])) {
        char b1[128];
        snprintf(b1, sizeof b1, "%s", mx_shape_str(vout[o]->shape, vout[o]->ndim));
        rc = mx_set_error(MX_ERR_RUNTIME,
                          "[vmap] rule of %s gave shape %s (batch axis %d) for output %d "
                          "of shape %s",
                          node->prim->name, b1, oax[o], o,
                          mx_shape_str(y->shape, y->ndim));
        break;
      }
      mx_tr_slot *s = mx_tr_map_put(bmap, y);
      if (!s) {
        rc = fail();
        break;
      }
      s->val = vout[o];
      s->axis = oax[o];
    }
  }
  free(vin);
  free(vout);
  free(vax);
  free(oax);
  return rc;
}

static mx_status call_vmap(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  vmap_payload *p = payload;
  if (p->nin_axes >= 0 && p->nin_axes != nin)
    return mx_set_error(MX_ERR_INVALID,
                        "[vmap] %d in_axes given for a function called with %d inputs",
                        p->nin_axes, nin);
  int B = -1;
  for (int i = 0; i < nin; i++) {
    int ax = p->nin_axes >= 0 ? p->in_axes[i] : 0;
    if (ax == -1) continue;
    if (ax < 0 || ax >= in[i]->ndim)
      return mx_set_error(MX_ERR_INVALID,
                          "[vmap] axis %d invalid for input %d with %d dimensions", ax, i,
                          in[i]->ndim);
    if (B >= 0 && in[i]->shape[ax] != B)
      return mx_set_error(MX_ERR_INVALID, "[vmap] inconsistent axis sizes: %d and %d",
                          in[i]->shape[ax], B);
    B = in[i]->shape[ax];
  }
  if (B < 0)
    return mx_set_error(MX_ERR_INVALID, "[vmap] at least one input must be mapped");

  mx_status rc = MX_OK;
  mx_array **sin = calloc((size_t)(nin ? nin : 1), sizeof *sin);
  mx_array **kept = NULL;
  int nkept = 0;
  mx_tr_map leaves = {0}, bmap = {0};
  mx_vec souts = MX_VEC_INIT;
  mx_node **tape = NULL;
  int nn = 0;
  if (!sin) return mx_set_error(MX_ERR_NOMEM, "[vmap] out of memory");

  mx_scope_begin();
  for (int i = 0; i < nin && rc == MX_OK; i++) {
    int ax = p->nin_axes >= 0 ? p->in_axes[i] : 0;
    if (ax == -1) {
      sin[i] = in[i];
      continue;
    }
    int s[MX_MAX_NDIM], k = 0;
    for (int d = 0; d < in[i]->ndim; d++)
      if (d != ax) s[k++] = in[i]->shape[d];
    sin[i] =
        mx_node_make1(&mx_prim_vmap_placeholder, NULL, 0, NULL, 0, in[i]->dtype, s, k);
    mx_tr_slot *sl = sin[i] ? mx_tr_map_put(&bmap, sin[i]) : NULL;
    if (!sl || !mx_tr_map_put(&leaves, sin[i])) {
      rc = fail();
      break;
    }
    sl = mx_tr_map_get(&bmap, sin[i]);
    sl->val = in[i];
    sl->axis = ax;
  }
  if (rc == MX_OK) rc = mx_closure_call(p->f, sin, nin, &souts);
  if (rc == MX_OK && p->nout_axes >= 0 && p->nout_axes != souts.n)
    rc = mx_set_error(MX_ERR_INVALID,
                      "[vmap] %d out_axes given for a function with %d outputs",
                      p->nout_axes, souts.n);
  if (rc == MX_OK) rc = mx_tr_build_tape(souts.items, souts.n, &leaves, &tape, &nn);
  if (rc == MX_OK) rc = replay(tape, nn, &bmap, B);
  if (rc == MX_OK) {
    kept = calloc((size_t)(souts.n + 1), sizeof *kept);
    if (!kept) rc = mx_set_error(MX_ERR_NOMEM, "[vmap] out of memory");
  }
  for (int o = 0; o < souts.n && rc == MX_OK; o++) {
    mx_array *y = souts.items[o];
    mx_tr_slot *s = mx_tr_map_get(&bmap, y);
    mx_array *v = s ? s->val : y;
    int ax = s ? s->axis : -1;
    int want = p->nout_axes >= 0 ? p->out_axes[o] : 0;
    int nd = y->ndim + 1;
    if (want < 0) want += nd;
    if (want < 0 || want >= nd) {
      rc = mx_set_error(MX_ERR_INVALID,
                        "[vmap] out axis %d invalid for output %d with %d dimensions",
                        p->out_axes[o], o, nd);
      break;
    }
    if (ax < 0) {
      int sh[MX_MAX_NDIM];
      for (int d = 0, k = 0; d < nd; d++) sh[d] = d == want ? B : y->shape[k++];
      v = mx_broadcast_to(mx_expand_dims(v, &want, 1), sh, nd);
    } else if (ax != want) {
      v = mx_moveaxis(v, ax, want);
    }
    if (!v)
      rc = fail();
    else
      kept[nkept++] = mx_keep(v);
  }
  mx_scope_end();
  for (int i = 0; i < nkept; i++) {
    mx_array *a = mx_scope_adopt(kept[i]);
    if (rc == MX_OK) rc = mx_vec_push(out, a);
  }
  free(kept);
  free(sin);
  free(tape);
  mx_vec_free(&souts);
  mx_tr_map_free(&leaves);
  mx_tr_map_free(&bmap);
  return rc;
}

mx_closure *mx_vmap(mx_closure *f, const int *in_axes, int nin_axes, const int *out_axes,
                    int nout_axes) {
  if (!f) {
    if (mx_last_status() == MX_OK) mx_set_error(MX_ERR_INVALID, "[vmap] NULL closure");
    return NULL;
  }
  if ((in_axes && nin_axes < 0) || (out_axes && nout_axes < 0)) {
    mx_set_error(MX_ERR_INVALID, "[vmap] negative axis count");
    return NULL;
  }
  vmap_payload *p = calloc(1, sizeof *p);
  if (!p) {
    mx_set_error(MX_ERR_NOMEM, "[vmap] out of memory");
    return NULL;
  }
  p->f = mx_closure_retain(f);
  p->nin_axes = in_axes ? nin_axes : -1;
  p->nout_axes = out_axes ? nout_axes : -1;
  if (in_axes) {
    p->in_axes = malloc(sizeof(int) * (size_t)(nin_axes ? nin_axes : 1));
    if (p->in_axes) memcpy(p->in_axes, in_axes, sizeof(int) * (size_t)nin_axes);
  }
  if (out_axes) {
    p->out_axes = malloc(sizeof(int) * (size_t)(nout_axes ? nout_axes : 1));
    if (p->out_axes) memcpy(p->out_axes, out_axes, sizeof(int) * (size_t)nout_axes);
  }
  if ((in_axes && !p->in_axes) || (out_axes && !p->out_axes)) {
    vmap_payload_free(p);
    mx_set_error(MX_ERR_NOMEM, "[vmap] out of memory");
    return NULL;
  }
  for (int i = 0; in_axes && i < nin_axes; i++)
    if (in_axes[i] < -1) {
      vmap_payload_free(p);
      mx_set_error(MX_ERR_INVALID,
                   "[vmap] in axis %d invalid (use -1 for an unmapped input)",
                   in_axes[i]);
      return NULL;
    }
  return mx_closure_new(call_vmap, p, vmap_payload_free);
}
