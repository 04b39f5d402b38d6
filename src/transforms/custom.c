/* custom.c: custom_function / custom_vjp / checkpoint and their primitive.
 *
 * Calling a custom function runs f on the arguments and wraps the results in
 * one `custom` node whose inputs are (carrier, args..., f's results...) and
 * whose outputs are views of f's results. Transforms follow only the args
 * (mx_tr_traced_inputs), so f's own graph is never differentiated; the
 * node's rules call the user's vjp/jvp closures, or trace f when one is
 * missing. Checkpoint is a custom function without user rules: its vjp
 * traces f again from the primals, so the backward pass recomputes the
 * forward instead of holding on to f's intermediate values.
 *
 * Node params are plain data, so they hold borrowed closure pointers; the
 * references live in the carrier, a zero-size array over external memory
 * whose release callback drops them when the node goes. */
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "tr.h"

static mx_status fail(void) {
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

typedef struct {
  mx_closure *fun, *vjp, *jvp;
} bundle;

static void bundle_free(void *p) {
  bundle *b = p;
  if (!b) return;
  mx_closure_free(b->fun);
  mx_closure_free(b->vjp);
  mx_closure_free(b->jvp);
  free(b);
}

static bundle *bundle_new(mx_closure *fun, mx_closure *vjp, mx_closure *jvp) {
  bundle *b = malloc(sizeof *b);
  if (!b) {
    mx_set_error(MX_ERR_NOMEM, "[custom_function] out of memory");
    return NULL;
  }
  b->fun = mx_closure_retain(fun);
  b->vjp = mx_closure_retain(vjp);
  b->jvp = mx_closure_retain(jvp);
  return b;
}

/* ---- the primitive ---- */
static mx_status eval_custom(mx_node *n, mx_array **in, mx_array **out) {
  const mx_custom_params *p = MX_PARAMS(mx_custom_params, n);
  for (int o = 0; o < p->nout; o++) {
    mx_array *src = in[1 + p->nargs + o];
    mx_array_set_view(out[o], src, src->strides, src->offset);
  }
  return MX_OK;
}

static MX_TR_VJP(custom) {
  (void)out;
  const mx_custom_params *p = MX_PARAMS(mx_custom_params, n);
  mx_array *const *primals = in + 1;
  mx_array *const *fwd = in + 1 + p->nargs;
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  mx_status rc;
  if (p->vjp) {
    int m = p->nargs + 2 * p->nout;
    mx_array **args = malloc(sizeof *args * (size_t)(m ? m : 1));
    if (!args) return mx_set_error(MX_ERR_NOMEM, "[custom_function] out of memory");
    memcpy(args, primals, sizeof *args * (size_t)p->nargs);
    memcpy(args + p->nargs, cotan, sizeof *args * (size_t)p->nout);
    memcpy(args + p->nargs + p->nout, fwd, sizeof *args * (size_t)p->nout);
    rc = mx_closure_call(p->vjp, args, m, &v);
    free(args);
    if (rc == MX_OK && v.n != p->nargs)
      rc = mx_set_error(MX_ERR_INVALID,
                        "[custom_function] the vjp returned %d arrays for %d primals",
                        v.n, p->nargs);
  } else {
    rc = mx_vjp(p->fun, primals, p->nargs, cotan, p->nout, &o, &v);
  }
  for (int i = 0; i < nargs && rc == MX_OK; i++) grads[i] = v.items[argnums[i] - 1];
  mx_vec_free(&o);
  mx_vec_free(&v);
  return rc;
}

static MX_TR_JVP(custom) {
  const mx_custom_params *p = MX_PARAMS(mx_custom_params, n);
  mx_array *const *primals = in + 1;
  mx_array **args = calloc((size_t)(2 * p->nargs + 1), sizeof *args);
  if (!args) return mx_set_error(MX_ERR_NOMEM, "[custom_function] out of memory");
  mx_status rc = MX_OK;
  memcpy(args, primals, sizeof *args * (size_t)p->nargs);
  for (int j = 0; j < nargs; j++) args[p->nargs + argnums[j] - 1] = tangents[j];
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  if (p->jvp) {
    for (int i = 0; i < p->nargs && rc == MX_OK; i++)
      if (!args[p->nargs + i] && !(args[p->nargs + i] = mx_tr_zeros_like(primals[i])))
        rc = fail();
    if (rc == MX_OK) rc = mx_closure_call(p->jvp, args, 2 * p->nargs, &v);
    if (rc == MX_OK && v.n != p->nout)
      rc = mx_set_error(MX_ERR_INVALID,
                        "[custom_function] the jvp returned %d arrays for %d outputs",
                        v.n, p->nout);
  } else {
    rc = mx_jvp(p->fun, primals, p->nargs, args + p->nargs, &o, &v);
  }
  for (int k = 0; k < p->nout && rc == MX_OK; k++) out_tangents[k] = v.items[k];
  free(args);
  mx_vec_free(&o);
  mx_vec_free(&v);
  return rc;
}

/* vmap traces f (custom rules do not survive batching); outputs on axis 0. */
static MX_TR_VMAP(custom) {
  const mx_custom_params *p = MX_PARAMS(mx_custom_params, n);
  mx_closure *vf = mx_vmap(p->fun, in_axes + 1, p->nargs, NULL, 0);
  mx_vec v = MX_VEC_INIT;
  mx_status rc = vf ? mx_closure_call(vf, in + 1, p->nargs, &v) : fail();
  mx_closure_free(vf);
  if (rc == MX_OK && v.n != p->nout)
    rc = mx_set_error(MX_ERR_RUNTIME, "[custom_function] vmap gave %d outputs for %d",
                      v.n, p->nout);
  for (int k = 0; k < p->nout && rc == MX_OK; k++) {
    out[k] = v.items[k];
    out_axes[k] = 0;
  }
  mx_vec_free(&v);
  return rc;
}

const mx_prim mx_prim_custom = {
    .name = "custom_function",
    .eval_cpu = eval_custom,
    .eval_cuda = MX_CUDA_FN(eval_custom),
    .vjp = mx_vjp_custom,
    .jvp = mx_jvp_custom,
    .vmap = mx_vmap_custom,
};

/* ---- the closures ---- */
static mx_status call_custom(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  bundle *b = payload;
  mx_vec r = MX_VEC_INIT;
  mx_status rc = mx_closure_call(b->fun, in, nin, &r);
  if (rc != MX_OK || r.n == 0) {
    mx_vec_free(&r);
    return rc;
  }
  int m = 1 + nin + r.n;
  mx_array **ins = malloc(sizeof *ins * (size_t)m);
  mx_dtype *dt = malloc(sizeof *dt * (size_t)r.n);
  const int **shapes = malloc(sizeof *shapes * (size_t)r.n);
  int *nd = malloc(sizeof *nd * (size_t)r.n);
  mx_array **res = calloc((size_t)r.n, sizeof *res);
  bundle *hold = NULL;
  mx_buffer *buf = NULL;
  if (!ins || !dt || !shapes || !nd || !res)
    rc = mx_set_error(MX_ERR_NOMEM, "[custom_function] out of memory");
  if (rc == MX_OK && !(hold = bundle_new(b->fun, b->vjp, b->jvp))) rc = fail();
  if (rc == MX_OK && !(buf = mx_buffer_external(hold, 0, bundle_free, hold))) {
    bundle_free(hold);
    rc = fail();
  }
  mx_scope_begin();
  mx_array *carrier = NULL;
  if (rc == MX_OK) {
    int zero = 0;
    /* on failure this releases buf, which frees hold */
    carrier = mx_array_new_evaluated(buf, MX_UINT8, &zero, 1, NULL, 0);
    if (!carrier) rc = fail();
  }
  if (rc == MX_OK) {
    ins[0] = carrier;
    memcpy(ins + 1, in, sizeof *ins * (size_t)nin);
    memcpy(ins + 1 + nin, r.items, sizeof *ins * (size_t)r.n);
    for (int o = 0; o < r.n; o++) {
      dt[o] = r.items[o]->dtype;
      shapes[o] = r.items[o]->shape;
      nd[o] = r.items[o]->ndim;
    }
    mx_custom_params p;
    memset(&p, 0, sizeof p);
    p.fun = b->fun;
    p.vjp = b->vjp;
    p.jvp = b->jvp;
    p.nargs = nin;
    p.nout = r.n;
    rc = mx_node_make(&mx_prim_custom, &p, sizeof p, ins, m, r.n, dt, shapes, nd, res);
  }
  for (int o = 0; rc == MX_OK && o < r.n; o++) mx_keep(res[o]);
  mx_scope_end();
  for (int o = 0; rc == MX_OK && o < r.n; o++) {
    mx_array *a = mx_scope_adopt(res[o]);
    if (rc == MX_OK) rc = mx_vec_push(out, a);
  }
  free(ins);
  free(dt);
  free(shapes);
  free(nd);
  free(res);
  mx_vec_free(&r);
  return rc;
}

static mx_closure *make_custom(mx_closure *f, mx_closure *vjp, mx_closure *jvp,
                               const char *op) {
  if (!f) {
    if (mx_last_status() == MX_OK) mx_set_error(MX_ERR_INVALID, "[%s] NULL closure", op);
    return NULL;
  }
  bundle *b = bundle_new(f, vjp, jvp);
  return b ? mx_closure_new(call_custom, b, bundle_free) : NULL;
}

mx_closure *mx_custom_function(mx_closure *f, mx_closure *vjp, mx_closure *jvp) {
  if (f && !vjp && !jvp) return mx_closure_retain(f); /* nothing custom */
  return make_custom(f, vjp, jvp, "custom_function");
}

mx_closure *mx_custom_vjp(mx_closure *f, mx_closure *vjp) {
  if (!vjp) {
    mx_set_error(MX_ERR_INVALID, "[custom_vjp] NULL vjp closure");
    return NULL;
  }
  return make_custom(f, vjp, NULL, "custom_vjp");
}

mx_closure *mx_checkpoint(mx_closure *f) {
  return make_custom(f, NULL, NULL, "checkpoint");
}
