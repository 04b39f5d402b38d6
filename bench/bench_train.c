/* bench_train.c: training speed of the train-lm example's model
 * (examples/train-lm/train_lm.c) on the CPU, in tokens/s, next to the
 * forward-only speed of the same model on the same batches measured in the
 * same run. One training step = value_and_grad (forward + backward) +
 * clip_grad_norm + AdamW update + eval of the new parameters and state;
 * forward = the loss alone. The ratio forward_time / step_time is the
 * fraction of a step the forward takes (about 1/3 is the usual
 * forward:backward cost for dense layers).
 *
 * Models: the example's defaults (2 layers, 128 dims, 4 heads, context 64,
 * batch 32) and the test's small one (2 layers, 32 dims, context 32,
 * batch 8). usage: bench_train [--quick] */
#include <stdio.h>
#include <string.h>

#define TRAIN_LM_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../examples/train-lm/train_lm.c"

typedef struct {
  const char *name;
  int layers, dims, heads, context, batch;
} shape;

static void bench(const tlm_data *d, const shape *s, int steps) {
  tlm_config c = tlm_defaults();
  c.layers = s->layers;
  c.dims = s->dims;
  c.heads = s->heads;
  c.context = s->context;
  c.batch = s->batch;
  c.seed = 1;
  mx_random_seed(1);
  tlm_model_cfg mc = {d->vocab, c.layers, c.dims, c.heads, 4 * c.dims};
  mx_module *m = tlm_model_new(&mc);
  mx_optim_config oc = mx_optim_defaults(MX_OPTIM_ADAMW, 1e-3);
  mx_optimizer *opt = mx_optimizer_new(&oc);
  if (!m || !opt) {
    fprintf(stderr, "bench_train: %s\n", mx_last_error());
    mx_module_free(m);
    mx_optimizer_free(opt);
    return;
  }
  tlm_loss_ctx lc = {c.layers, c.heads};
  double tok = (double)c.batch * c.context;
  double t_fwd = 1e30, t_step = 1e30;
  uint64_t rng = 42;
  /* warm-up (allocator cache, optimizer state) then best of `steps` */
  for (int i = 0; i < steps + 2; i++) {
    mx_scope_begin();
    mx_array *x, *y;
    tlm_batch(d, c.batch, c.context, 0, d->n_train, &rng, &x, &y);
    mx_eval1(x);
    mx_eval1(y);
    mx_array *in[2] = {x, y};
    /* forward only */
    double t0 = tlm_now();
    mx_array *l = tlm_loss(m, in, 2, NULL, &lc);
    mx_eval1(l);
    double t1 = tlm_now();
    /* one training step */
    mx_array *loss = NULL;
    mx_array_map *g = NULL, *cg = NULL;
    bool ok = mx_nn_value_and_grad(m, tlm_loss, &lc, in, 2, &loss, &g, NULL) == MX_OK &&
              mx_clip_grad_norm(g, 1.0, &cg) &&
              mx_optimizer_update(opt, m, cg) == MX_OK && mx_module_eval(m) == MX_OK &&
              mx_optimizer_eval(opt) == MX_OK && mx_eval1(loss) == MX_OK;
    double t2 = tlm_now();
    mx_array_map_free(g);
    mx_array_map_free(cg);
    mx_scope_end();
    if (!ok) {
      fprintf(stderr, "bench_train: %s\n", mx_last_error());
      break;
    }
    if (i >= 2) {
      if (t1 - t0 < t_fwd) t_fwd = t1 - t0;
      if (t2 - t1 < t_step) t_step = t2 - t1;
    }
  }
  printf(
      "%-8s params %8lld | B x T %4d x %3d | train %9.0f tok/s (%7.2f ms/step) | "
      "forward %9.0f tok/s (%7.2f ms) | forward/step %.2f\n",
      s->name, (long long)mx_module_num_params(m), c.batch, c.context, tok / t_step,
      t_step * 1e3, tok / t_fwd, t_fwd * 1e3, t_fwd / t_step);
  mx_optimizer_free(opt);
  mx_module_free(m);
}

int main(int argc, char **argv) {
  mx_blas_on_pool(); /* as the mx binary runs: one thread pool */
  bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  /* the corpus: $MX_SOURCE_DIR, else the source tree this was built from */
  const char *src = getenv("MX_SOURCE_DIR");
  char path[4200];
  snprintf(path, sizeof path, "%s/examples/train-lm/data/tinyshakespeare.txt",
           src ? src : MX_BENCH_SOURCE_DIR);
  tlm_data d;
  if (!tlm_data_load(&d, path)) {
    fprintf(stderr, "bench_train: set MX_SOURCE_DIR to the source tree\n");
    return 1;
  }
  printf("train-lm model on %d threads (vocab %d; best of %d steps)\n", mx_num_threads(),
         d.vocab, quick ? 3 : 10);
  shape shapes[] = {{"default", 2, 128, 4, 64, 32}, {"small", 2, 32, 4, 32, 8}};
  for (int i = 0; i < 2; i++) bench(&d, &shapes[i], quick ? 3 : 10);
  tlm_data_free(&d);
  return 0;
}
