/* train_lm.c: trains a small character-level decoder-only transformer on a
 * text corpus with mx's own API (the example for nn.h and optim.h).
 *
 * Model (Llama-style, mlx-lm's parameter names):
 *   model.embed_tokens (Embedding V x D)
 *   model.layers.i.{input_layernorm, post_attention_layernorm} (RMSNorm)
 *   model.layers.i.self_attn.{q,k,v,o}_proj (Linear, no bias) with RoPE on
 *     q and k and causal mx_fast_scaled_dot_product_attention
 *   model.layers.i.mlp.{gate,up,down}_proj (SwiGLU, no bias)
 *   model.norm (RMSNorm), lm_head (Linear D x V)
 * Vocabulary: the distinct bytes of the corpus. The last 10% of the corpus
 * is held out for evaluation. Training: AdamW, linear warmup then cosine
 * decay, global gradient-norm clipping, gradients from mx_nn_value_and_grad.
 *
 * Usage: train_lm [--corpus PATH] [--steps N] [--batch B] [--context T]
 *                 [--lr LR] [--seed S] [--eval-every N] [--save PATH]
 *                 [--sample N] [--prompt TEXT] [--layers L] [--dims D]
 *                 [--heads H]
 * --sample N generates N bytes greedily after --prompt (default: the
 * corpus' first line). The prompt matters: the model has no absolute
 * positions, so a prompt of one repeated byte (e.g. "\n") looks the same at
 * every position and greedy decoding can repeat it forever.
 *
 * The training code is also used by tests/test_train_lm.c and
 * bench/bench_train.c, which include this file with TRAIN_LM_NO_MAIN
 * defined. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mx/mx.h"
#include "mx/nn.h"
#include "mx/optim.h"

/* ---- configuration ---- */
typedef struct {
  const char *corpus;
  int steps, batch, context;
  double lr;
  uint64_t seed;
  int eval_every, eval_batches;
  const char *save;
  int sample;
  const char *prompt; /* NULL: the corpus' first line */
  int layers, dims, heads, mlp_dims;
  int log_every;
  bool quiet;
} tlm_config;

static tlm_config tlm_defaults(void) {
  tlm_config c = {0};
  c.corpus = NULL;
  c.steps = 1000;
  c.batch = 32;
  c.context = 64;
  c.lr = 3e-3;
  c.seed = 0;
  c.eval_every = 100;
  c.eval_batches = 8;
  c.save = NULL;
  c.sample = 0;
  c.layers = 2;
  c.dims = 128;
  c.heads = 4;
  c.mlp_dims = 0; /* 0: 4 * dims */
  c.log_every = 10;
  return c;
}

/* ---- data ---- */
typedef struct {
  int vocab;               /* number of distinct bytes */
  unsigned char itos[256]; /* token -> byte */
  int stoi[256];           /* byte -> token, -1 if absent */
  int32_t *tokens;         /* the whole corpus as tokens */
  int64_t n, n_train;      /* tokens; the first n_train are for training */
} tlm_data;

static void tlm_data_free(tlm_data *d) {
  free(d->tokens);
  d->tokens = NULL;
}

/* Reads the corpus and builds the byte vocabulary. false on error (printed). */
static bool tlm_data_load(tlm_data *d, const char *path) {
  memset(d, 0, sizeof *d);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "train_lm: cannot open %s\n", path);
    return false;
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = len > 0 ? malloc((size_t)len) : NULL;
  if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
    fprintf(stderr, "train_lm: cannot read %s\n", path);
    free(buf);
    fclose(f);
    return false;
  }
  fclose(f);
  bool seen[256] = {false};
  for (long i = 0; i < len; i++) seen[buf[i]] = true;
  for (int b = 0; b < 256; b++) {
    d->stoi[b] = -1;
    if (seen[b]) {
      d->stoi[b] = d->vocab;
      d->itos[d->vocab++] = (unsigned char)b;
    }
  }
  d->tokens = malloc(sizeof(int32_t) * (size_t)len);
  if (!d->tokens) {
    free(buf);
    return false;
  }
  for (long i = 0; i < len; i++) d->tokens[i] = d->stoi[buf[i]];
  free(buf);
  d->n = len;
  d->n_train = len - len / 10;
  return true;
}

/* splitmix64: the host RNG for batch offsets (reproducible per seed). */
static uint64_t tlm_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* B windows of T + 1 tokens starting at random offsets in [lo, hi - T - 1]:
 * inputs x (B, T) and next-token targets y (B, T), int32, in the caller's
 * scope. */
static void tlm_batch(const tlm_data *d, int B, int T, int64_t lo, int64_t hi,
                      uint64_t *rng, mx_array **x, mx_array **y) {
  int32_t *xb = malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
  int32_t *yb = malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
  *x = *y = NULL;
  if (!xb || !yb) {
    free(xb);
    free(yb);
    return;
  }
  int64_t span = hi - lo - T - 1;
  for (int b = 0; b < B; b++) {
    int64_t o = lo + (int64_t)(tlm_rand(rng) % (uint64_t)(span > 0 ? span : 1));
    memcpy(xb + (size_t)b * T, d->tokens + o, sizeof(int32_t) * (size_t)T);
    memcpy(yb + (size_t)b * T, d->tokens + o + 1, sizeof(int32_t) * (size_t)T);
  }
  int shape[2] = {B, T};
  *x = mx_array_from_i32(xb, shape, 2);
  *y = mx_array_from_i32(yb, shape, 2);
  free(xb);
  free(yb);
}

/* ---- model ---- */
typedef struct {
  int vocab, layers, dims, heads, mlp_dims;
} tlm_model_cfg;

static mx_module *tlm_attention(int D, int H) {
  mx_module *a = mx_module_new("Attention");
  if (!a) return NULL;
  bool ok =
      mx_module_set_child(a, "q_proj", mx_nn_linear(D, D, false)) == MX_OK &&
      mx_module_set_child(a, "k_proj", mx_nn_linear(D, D, false)) == MX_OK &&
      mx_module_set_child(a, "v_proj", mx_nn_linear(D, D, false)) == MX_OK &&
      mx_module_set_child(a, "o_proj", mx_nn_linear(D, D, false)) == MX_OK &&
      /* RoPE over the whole head dimension (no parameters) */
      mx_module_set_child(a, "rope", mx_nn_rope(D / H, false, 10000.0f, 1.0f)) == MX_OK;
  if (!ok) {
    mx_module_free(a);
    return NULL;
  }
  return a;
}

static mx_module *tlm_block(int D, int H, int F) {
  mx_module *blk = mx_module_new("TransformerBlock");
  mx_module *mlp = mx_module_new("MLP");
  if (!blk || !mlp) {
    mx_module_free(blk);
    mx_module_free(mlp);
    return NULL;
  }
  bool ok = mx_module_set_child(mlp, "gate_proj", mx_nn_linear(D, F, false)) == MX_OK &&
            mx_module_set_child(mlp, "down_proj", mx_nn_linear(F, D, false)) == MX_OK &&
            mx_module_set_child(mlp, "up_proj", mx_nn_linear(D, F, false)) == MX_OK;
  ok = (mx_module_set_child(blk, "self_attn", tlm_attention(D, H)) == MX_OK) && ok;
  ok = (mx_module_set_child(blk, "mlp", mlp) == MX_OK) && ok;
  ok = ok &&
       mx_module_set_child(blk, "input_layernorm", mx_nn_rms_norm(D, 1e-5)) == MX_OK &&
       mx_module_set_child(blk, "post_attention_layernorm", mx_nn_rms_norm(D, 1e-5)) ==
           MX_OK;
  if (!ok) {
    mx_module_free(blk);
    return NULL;
  }
  return blk;
}

/* The whole model; parameters drawn from the global random key. */
static mx_module *tlm_model_new(const tlm_model_cfg *c) {
  if (c->dims % c->heads != 0 || (c->dims / c->heads) % 2 != 0) {
    fprintf(stderr, "train_lm: dims must be a multiple of 2 * heads\n");
    return NULL;
  }
  mx_module *root = mx_module_new("Model");
  mx_module *model = mx_module_new("LlamaModel");
  mx_module *layers = mx_module_new("list");
  if (!root || !model || !layers) {
    mx_module_free(root);
    mx_module_free(model);
    mx_module_free(layers);
    return NULL;
  }
  bool ok = true;
  for (int i = 0; i < c->layers && ok; i++) {
    char name[16];
    snprintf(name, sizeof name, "%d", i);
    ok = mx_module_set_child(layers, name, tlm_block(c->dims, c->heads, c->mlp_dims)) ==
         MX_OK;
  }
  ok = (mx_module_set_child(model, "embed_tokens", mx_nn_embedding(c->vocab, c->dims)) ==
        MX_OK) &&
       ok;
  ok = (mx_module_set_child(model, "layers", layers) == MX_OK) && ok;
  ok = (mx_module_set_child(model, "norm", mx_nn_rms_norm(c->dims, 1e-5)) == MX_OK) && ok;
  ok = (mx_module_set_child(root, "model", model) == MX_OK) && ok;
  ok = (mx_module_set_child(root, "lm_head", mx_nn_linear(c->dims, c->vocab, false)) ==
        MX_OK) &&
       ok;
  if (!ok || mx_module_eval(root) != MX_OK) {
    mx_module_free(root);
    return NULL;
  }
  return root;
}

static mx_module *sub(mx_module *m, const char *path) { return mx_module_child(m, path); }

/* x: (B, L, D) -> (B, L, D), causal self-attention with RoPE */
static mx_array *tlm_attention_forward(mx_module *a, mx_array *x, int heads) {
  int B = mx_array_dim(x, 0), L = mx_array_dim(x, 1), D = mx_array_dim(x, 2);
  int hd = D / heads;
  int split[4] = {B, L, heads, hd}, perm[4] = {0, 2, 1, 3};
  // q, k, v: (B, H, L, hd)
  mx_array *q =
      mx_transpose(mx_reshape(mx_module_forward(sub(a, "q_proj"), x), split, 4), perm, 4);
  mx_array *k =
      mx_transpose(mx_reshape(mx_module_forward(sub(a, "k_proj"), x), split, 4), perm, 4);
  mx_array *v =
      mx_transpose(mx_reshape(mx_module_forward(sub(a, "v_proj"), x), split, 4), perm, 4);
  mx_module *rope = sub(a, "rope");
  q = mx_nn_rope_forward(rope, q, 0);
  k = mx_nn_rope_forward(rope, k, 0);
  mx_array *o = mx_fast_scaled_dot_product_attention(
      q, k, v, (float)(1.0 / sqrt((double)hd)), MX_SDPA_MASK_CAUSAL, NULL, NULL);
  int merged[3] = {B, L, D};
  // o: (B, H, L, hd) -> (B, L, D)
  o = mx_reshape(mx_transpose(o, perm, 4), merged, 3);
  return mx_module_forward(sub(a, "o_proj"), o);
}

/* tokens: (B, L) int32 -> logits (B, L, V) */
static mx_array *tlm_forward(mx_module *root, mx_array *tokens, int layers, int heads) {
  mx_module *model = sub(root, "model");
  mx_array *h = mx_module_forward(sub(model, "embed_tokens"), tokens);
  for (int i = 0; i < layers; i++) {
    char name[32];
    snprintf(name, sizeof name, "layers.%d", i);
    mx_module *blk = sub(model, name);
    mx_array *r = tlm_attention_forward(
        sub(blk, "self_attn"), mx_module_forward(sub(blk, "input_layernorm"), h), heads);
    h = mx_add(h, r);
    mx_module *mlp = sub(blk, "mlp");
    mx_array *n = mx_module_forward(sub(blk, "post_attention_layernorm"), h);
    r = mx_module_forward(sub(mlp, "down_proj"),
                          mx_nn_swiglu(mx_module_forward(sub(mlp, "gate_proj"), n),
                                       mx_module_forward(sub(mlp, "up_proj"), n)));
    h = mx_add(h, r);
  }
  h = mx_module_forward(sub(model, "norm"), h);
  return mx_module_forward(sub(root, "lm_head"), h);
}

typedef struct {
  int layers, heads;
} tlm_loss_ctx;

/* inputs: x (B, T), y (B, T) -> mean cross-entropy of the next token */
static mx_array *tlm_loss(mx_module *m, mx_array *const *in, int n, mx_vec *aux,
                          void *ctx) {
  (void)n;
  (void)aux;
  tlm_loss_ctx *c = ctx;
  mx_array *logits = tlm_forward(m, in[0], c->layers, c->heads);
  return mx_nn_cross_entropy(logits, in[1], NULL, -1, 0.0, MX_REDUCTION_MEAN);
}

/* ---- training ---- */
typedef struct {
  double initial_loss; /* the first training batch's loss */
  double final_train;  /* the last step's training loss */
  double final_eval;   /* held-out loss after the last step */
  double tokens_per_s; /* training throughput (value_and_grad + update + eval) */
  int vocab;
  int64_t num_params;
} tlm_result;

static double tlm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The RNG state the held-out batches start from: every evaluation sees the
 * same eval_batches batches (tests rebuild them to bound the loss). */
static uint64_t tlm_eval_rng(const tlm_config *c) { return c->seed ^ 0xE7A1ull; }

/* Mean loss over the eval_batches held-out batches. NAN on error. */
static double tlm_evaluate(mx_module *m, const tlm_data *d, const tlm_config *c,
                           tlm_loss_ctx *lc) {
  uint64_t rng = tlm_eval_rng(c);
  double total = 0;
  for (int i = 0; i < c->eval_batches; i++) {
    mx_scope_begin();
    mx_array *x, *y;
    tlm_batch(d, c->batch, c->context, d->n_train, d->n, &rng, &x, &y);
    mx_array *in[2] = {x, y};
    mx_array *l = tlm_loss(m, in, 2, NULL, lc);
    double v = l && mx_eval1(l) == MX_OK ? mx_array_item_f64(l) : NAN;
    mx_scope_end();
    total += v;
  }
  return total / c->eval_batches;
}

/* Greedy generation of n bytes after the prompt (kept to the last T
 * tokens). Writes to out (n + 1 bytes). */
static bool tlm_generate(mx_module *m, const tlm_data *d, const tlm_config *c,
                         const char *prompt, int n, char *out) {
  int T = c->context;
  int32_t *ctx = malloc(sizeof(int32_t) * (size_t)T);
  if (!ctx) return false;
  int len = 0;
  for (const char *p = prompt; *p; p++) {
    int t = d->stoi[(unsigned char)*p];
    if (t < 0) continue;
    if (len == T) {
      memmove(ctx, ctx + 1, sizeof(int32_t) * (size_t)(T - 1));
      len--;
    }
    ctx[len++] = t;
  }
  if (len == 0) ctx[len++] = 0;
  bool ok = true;
  for (int i = 0; i < n && ok; i++) {
    mx_scope_begin();
    int shape[2] = {1, len};
    mx_array *x = mx_array_from_i32(ctx, shape, 2);
    mx_array *logits = tlm_forward(m, x, c->layers, c->heads);
    // last position's logits (V,) -> argmax
    mx_array *last = mx_slice_axis(logits, 1, len - 1, len, 1);
    mx_array *next = mx_argmax(mx_flatten(last, 0, -1), 0, false);
    int64_t t = next && mx_eval1(next) == MX_OK ? mx_array_item_i64(next) : -1;
    mx_scope_end();
    if (t < 0 || t >= d->vocab) {
      ok = false;
      break;
    }
    out[i] = (char)d->itos[t];
    if (len == T) {
      memmove(ctx, ctx + 1, sizeof(int32_t) * (size_t)(T - 1));
      len--;
    }
    ctx[len++] = (int32_t)t;
  }
  out[ok ? n : 0] = 0;
  free(ctx);
  return ok;
}

/* Trains a model on d with config c. Returns the trained model (the caller
 * frees it) or NULL on error (printed). */
static mx_module *tlm_train(const tlm_data *d, const tlm_config *c, tlm_result *res) {
  memset(res, 0, sizeof *res);
  res->initial_loss = res->final_train = res->final_eval = NAN;
  if (d->n_train < c->context + 2 || d->n - d->n_train < c->context + 2) {
    fprintf(stderr, "train_lm: corpus too short for context %d\n", c->context);
    return NULL;
  }
  mx_random_seed(c->seed);
  tlm_model_cfg mc = {d->vocab, c->layers, c->dims, c->heads,
                      c->mlp_dims > 0 ? c->mlp_dims : 4 * c->dims};
  mx_module *m = tlm_model_new(&mc);
  if (!m) {
    fprintf(stderr, "train_lm: model: %s\n", mx_last_error());
    return NULL;
  }
  res->vocab = d->vocab;
  res->num_params = mx_module_num_params(m);

  mx_optim_config oc = mx_optim_defaults(MX_OPTIM_ADAMW, c->lr);
  oc.beta2 = 0.99; /* a shorter second-moment memory suits short runs */
  oc.weight_decay = 0.01;
  mx_optimizer *opt = mx_optimizer_new(&oc);
  if (!opt) {
    fprintf(stderr, "train_lm: optimizer: %s\n", mx_last_error());
    mx_module_free(m);
    return NULL;
  }
  /* linear warmup over the first 10% (at most 100 steps), then cosine decay
   * to lr / 10 */
  int warm = c->steps / 10;
  if (warm > 100) warm = 100;
  if (warm < 1) warm = 1;
  int decay = c->steps - warm > 1 ? c->steps - warm : 1;
  mx_schedule *parts[2] = {mx_schedule_linear(c->lr / warm, c->lr, warm),
                           mx_schedule_cosine_decay(c->lr, decay, c->lr / 10)};
  mx_optimizer_set_schedule(opt, mx_schedule_join(parts, 2, &warm));

  tlm_loss_ctx lc = {c->layers, c->heads};
  uint64_t rng = c->seed * 0x2545F4914F6CDD1Dull + 1;
  double t_train = 0;
  int64_t tok_per_step = (int64_t)c->batch * c->context;
  bool ok = true;
  double log_t0 = tlm_now();
  for (int step = 1; step <= c->steps && ok; step++) {
    double t0 = tlm_now();
    mx_scope_begin();
    mx_array *x, *y, *loss = NULL;
    mx_array_map *grads = NULL, *clipped = NULL;
    tlm_batch(d, c->batch, c->context, 0, d->n_train, &rng, &x, &y);
    mx_array *in[2] = {x, y};
    ok = x && y &&
         mx_nn_value_and_grad(m, tlm_loss, &lc, in, 2, &loss, &grads, NULL) == MX_OK;
    ok = ok && mx_clip_grad_norm(grads, 1.0, &clipped) != NULL;
    ok = ok && mx_optimizer_update(opt, m, clipped) == MX_OK;
    ok = ok && mx_module_eval(m) == MX_OK && mx_optimizer_eval(opt) == MX_OK &&
         mx_eval1(loss) == MX_OK;
    double lv = ok ? mx_array_item_f64(loss) : NAN;
    mx_array_map_free(grads);
    mx_array_map_free(clipped);
    mx_scope_end();
    if (!ok) {
      fprintf(stderr, "train_lm: step %d: %s\n", step, mx_last_error());
      break;
    }
    t_train += tlm_now() - t0;
    if (step == 1) res->initial_loss = lv;
    res->final_train = lv;
    if (!c->quiet && (step % c->log_every == 0 || step == 1 || step == c->steps)) {
      double now = tlm_now();
      int nsteps =
          step == 1 ? 1 : (step % c->log_every == 0 ? c->log_every : step % c->log_every);
      printf("step %6d | train loss %.6f | lr %.3e | %.0f tok/s\n", step, lv,
             mx_optimizer_learning_rate(opt),
             (double)tok_per_step * nsteps / (now - log_t0));
      fflush(stdout);
      log_t0 = now;
    }
    if (c->eval_every > 0 && step % c->eval_every == 0 && step != c->steps) {
      double ev = tlm_evaluate(m, d, c, &lc);
      if (!c->quiet) printf("step %6d | eval loss %.6f\n", step, ev);
      log_t0 = tlm_now();
    }
  }
  res->tokens_per_s = t_train > 0 ? (double)tok_per_step * c->steps / t_train : 0;
  mx_optimizer_free(opt);
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  res->final_eval = tlm_evaluate(m, d, c, &lc);
  return m;
}

#ifndef TRAIN_LM_NO_MAIN
static void usage(void) {
  fprintf(stderr,
          "usage: train_lm [--corpus PATH] [--steps N] [--batch B] [--context T]\n"
          "                [--lr LR] [--seed S] [--eval-every N] [--save PATH]\n"
          "                [--sample N] [--prompt TEXT] [--layers L] [--dims D]\n"
          "                [--heads H]\n");
}

int main(int argc, char **argv) {
  /* float32 products on mx's pool, not on OpenBLAS's polling threads
   * (bench_train: 4-18% more tokens/s) */
  mx_blas_on_pool();
  tlm_config c = tlm_defaults();
  c.corpus = MX_EXAMPLE_DIR "/data/tinyshakespeare.txt";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, true))
    if (OPT("--corpus"))
      c.corpus = v;
    else if (OPT("--steps"))
      c.steps = atoi(v);
    else if (OPT("--batch"))
      c.batch = atoi(v);
    else if (OPT("--context"))
      c.context = atoi(v);
    else if (OPT("--lr"))
      c.lr = atof(v);
    else if (OPT("--seed"))
      c.seed = strtoull(v, NULL, 10);
    else if (OPT("--eval-every"))
      c.eval_every = atoi(v);
    else if (OPT("--save"))
      c.save = v;
    else if (OPT("--sample"))
      c.sample = atoi(v);
    else if (OPT("--prompt"))
      c.prompt = v;
    else if (OPT("--layers"))
      c.layers = atoi(v);
    else if (OPT("--dims"))
      c.dims = atoi(v);
    else if (OPT("--heads"))
      c.heads = atoi(v);
    else {
      usage();
      return 2;
    }
#undef OPT
  }
  if (c.steps < 1 || c.batch < 1 || c.context < 1 || !(c.lr > 0) || c.layers < 1 ||
      c.dims < 2 || c.heads < 1 || c.sample < 0) {
    usage();
    return 2;
  }
  tlm_data d;
  if (!tlm_data_load(&d, c.corpus)) return 1;
  printf("corpus %s: %lld bytes, vocab %d; model %d layers, dims %d, heads %d\n",
         c.corpus, (long long)d.n, d.vocab, c.layers, c.dims, c.heads);
  tlm_result r;
  mx_module *m = tlm_train(&d, &c, &r);
  if (!m) {
    tlm_data_free(&d);
    return 1;
  }
  printf(
      "params %lld | initial loss %.4f (ln V = %.4f) | final train loss %.4f | "
      "final eval loss %.4f | %.0f tok/s\n",
      (long long)r.num_params, r.initial_loss, log((double)d.vocab), r.final_train,
      r.final_eval, r.tokens_per_s);
  int rc = 0;
  if (c.save) {
    if (mx_module_save_weights(m, c.save) != MX_OK) {
      fprintf(stderr, "train_lm: save: %s\n", mx_last_error());
      rc = 1;
    } else {
      printf("saved %s\n", c.save);
    }
  }
  if (c.sample > 0) {
    /* default prompt: the corpus' first line (at most 64 bytes) */
    char first[65];
    int k = 0;
    while (k < 64 && k < d.n) {
      first[k] = (char)d.itos[d.tokens[k]];
      if (first[k++] == '\n') break;
    }
    first[k] = 0;
    const char *prompt = c.prompt ? c.prompt : first;
    char *out = malloc((size_t)c.sample + 1);
    if (out && tlm_generate(m, &d, &c, prompt, c.sample, out))
      printf("sample:\n%s%s\n", prompt, out);
    else
      rc = 1;
    free(out);
  }
  mx_module_free(m);
  tlm_data_free(&d);
  return rc;
}
#endif
