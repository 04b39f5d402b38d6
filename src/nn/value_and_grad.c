/* value_and_grad.c: MLX's nn.value_and_grad: the loss of a module and its
 * gradients with respect to the module's trainable parameters, through
 * mx_value_and_grad (transforms.h). The traced function swaps the tracers
 * into the module, runs the user's loss function, and puts the module's own
 * parameters back, so the module is unchanged afterwards. */
#include <stdlib.h>

#include "mx/transforms.h"
#include "nn_internal.h"

typedef struct {
  mx_module *model;
  const mx_array_map *params; /* trainable parameters: names and values */
  mx_nn_loss_fn fn;
  void *ctx;
} vg_payload;

/* in: the trainable parameters (in params' order), then the user inputs.
 * Outputs: the loss, then any auxiliary outputs the loss function pushed. */
static mx_status traced(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  vg_payload *p = payload;
  int np = mx_array_map_size(p->params);
  mx_array_map *tr = mx_array_map_new();
  if (!tr) return mx_last_status();
  mx_status st = MX_OK;
  for (int i = 0; i < np && st == MX_OK; i++)
    st = mx_array_map_set(tr, mx_array_map_name(p->params, i), in[i]);
  if (st == MX_OK) st = mx_module_update(p->model, tr, true);
  mx_array_map_free(tr);
  if (st != MX_OK) return st;
  mx_vec aux = MX_VEC_INIT;
  mx_array *loss = p->fn(p->model, in + np, nin - np, &aux, p->ctx);
  /* the module gets its own arrays back whatever happened */
  mx_status rs = mx_module_update(p->model, p->params, true);
  if (!loss)
    st = mx_last_status() ? mx_last_status()
                          : mx_set_error(MX_ERR_INVALID,
                                         "[nn.value_and_grad] the loss function "
                                         "returned NULL");
  if (st == MX_OK) st = rs;
  if (st == MX_OK) st = mx_vec_push(out, loss);
  for (int i = 0; i < aux.n && st == MX_OK; i++) st = mx_vec_push(out, aux.items[i]);
  mx_vec_free(&aux);
  return st;
}

mx_status mx_nn_value_and_grad(mx_module *model, mx_nn_loss_fn fn, void *ctx,
                               mx_array *const *inputs, int ninputs, mx_array **loss,
                               mx_array_map **grads, mx_vec *aux) {
  if (loss) *loss = NULL;
  if (grads) *grads = NULL;
  if (!model || !fn || ninputs < 0 || (ninputs && !inputs))
    return mx_set_error(MX_ERR_INVALID, "[nn.value_and_grad] invalid arguments");
  mx_array_map *params = mx_module_trainable_parameters(model);
  if (!params) return mx_last_status();
  int np = mx_array_map_size(params);
  int nin = np + ninputs;
  mx_array **in = malloc((size_t)(nin ? nin : 1) * sizeof *in);
  int *argnums = malloc((size_t)(np ? np : 1) * sizeof *argnums);
  vg_payload p = {model, params, fn, ctx};
  mx_closure *f = NULL, *vg = NULL;
  mx_vec out = MX_VEC_INIT;
  mx_status st = MX_OK;
  if (!in || !argnums) {
    st = mx_set_error(MX_ERR_NOMEM, "[nn.value_and_grad] out of memory");
    goto done;
  }
  for (int i = 0; i < np; i++) {
    in[i] = mx_array_map_at(params, i);
    argnums[i] = i;
  }
  for (int i = 0; i < ninputs; i++) in[np + i] = inputs[i];
  f = mx_closure_new(traced, &p, NULL);
  if (!f) {
    st = mx_last_status();
    goto done;
  }
  if (np == 0) { /* nothing to differentiate: just the value */
    st = mx_closure_call(f, in, nin, &out);
    if (st == MX_OK && loss) *loss = out.items[0];
    for (int i = 1; i < out.n && st == MX_OK && aux; i++)
      st = mx_vec_push(aux, out.items[i]);
    if (st == MX_OK && grads && !(*grads = mx_array_map_new())) st = mx_last_status();
    goto done;
  }
  vg = mx_value_and_grad(f, argnums, np);
  if (!vg) {
    st = mx_last_status();
    goto done;
  }
  st = mx_closure_call(vg, in, nin, &out);
  if (st != MX_OK) goto done;
  /* out: loss, aux..., then np gradients */
  int naux = out.n - 1 - np;
  if (loss) *loss = out.items[0];
  for (int i = 0; i < naux && aux && st == MX_OK; i++)
    st = mx_vec_push(aux, out.items[1 + i]);
  if (st == MX_OK && grads) {
    mx_array_map *g = mx_array_map_new();
    for (int i = 0; g && i < np && st == MX_OK; i++)
      st = mx_array_map_set(g, mx_array_map_name(params, i), out.items[1 + naux + i]);
    if (!g) st = mx_last_status();
    if (st != MX_OK)
      mx_array_map_free(g);
    else
      *grads = g;
  }
done:
  if (st != MX_OK && loss) *loss = NULL;
  mx_vec_free(&out);
  mx_closure_free(vg);
  mx_closure_free(f);
  free(argnums);
  free(in);
  mx_array_map_free(params);
  return st;
}
