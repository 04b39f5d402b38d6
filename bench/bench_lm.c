/* bench_lm.c: LM decode and prefill speed on the CPU, each next to its
 * roofline measured in the same run.
 *
 *   decode roofline  = read bandwidth / bytes read per token (every weight
 *                      once, the tied/untied head included; the KV cache,
 *                      under 2 MB at these lengths, is not counted)
 *   prefill          = tokens/s for a 128-token prompt (compute-bound)
 *   MX_BENCH_CTX=N   decode after an N-token prompt instead of 128 (prefill
 *                    is then over N tokens); the roofline then also counts
 *                    the bfloat16 KV cache read per token (at the mean
 *                    context of the decode), and stories260K (512
 *                    positions) is skipped for N > 256
 *   MX_BENCH_KV=N    a rotating cache of N positions (--max-kv-size): with
 *                    MX_BENCH_CTX above N, prefill runs the sliding-window
 *                    attention; the roofline counts at most N cached rows
 * Each model runs three times (prefill + decode); the best of each is shown.
 * The host's bandwidth can change from one second to the next: the decode
 * roofline uses the higher of the readings just before and just after the
 * best decode, and the row says so when they differ by more than 15%.
 *
 * Models: the bundled stories260K, and random-weight models written to a
 * temp directory in the mlx-community layout: a 0.4B Llama shape (hidden 896,
 * 24 layers, 14 heads, 2 kv heads, ffn 4864, vocab 32000; llama.cpp's
 * reference shape) and Qwen2.5-0.5B (vocab 151936, tied, qkv bias), in
 * bfloat16, 8-bit and 4-bit (group 64).
 *
 * Quantized models also run with int8 activations (mx_set_int8_activations;
 * where the CPU has AVX512-VNNI): a second row, and how far the prompt's
 * last logits are from the exact prefill's (RMS of the difference over RMS
 * of the logits, and whether the argmax agrees).
 * usage: bench_lm [--quick]   (MX_BENCH_MODELS=llama,qwen and MX_BENCH_BITS=0,8,4
 * to choose) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend/cpu/gemm_i8.h"
#include "mx/lm.h"
#include "mx/mx.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* read bandwidth: sum a 1 GiB float array with the worker pool (mx_sum),
 * best of `reps`. The host's memory bandwidth changes from minute to minute
 * (other tenants), so each model's roofline uses a measurement taken right
 * after its own decode runs. */
static mx_array *g_bw_array;
static double read_bandwidth(int reps) {
  int n = 1 << 28;
  if (!g_bw_array) {
    mx_scope_begin();
    g_bw_array = mx_keep(
        mx_contiguous(mx_random_uniform(0, 1, &n, 1, MX_FLOAT32, mx_random_key(1))));
    mx_eval1(g_bw_array);
    mx_scope_end();
  }
  double best = 0;
  for (int r = 0; r < reps; r++) {
    mx_scope_begin();
    double t0 = now();
    mx_array *s = mx_sum(g_bw_array, NULL, 0, false);
    mx_eval1(s);
    double dt = now() - t0;
    mx_scope_end();
    double bw = (double)n * 4 / dt;
    if (bw > best) best = bw;
  }
  return best;
}

typedef struct {
  const char *name;
  int hidden, layers, heads, kv_heads, ffn, vocab;
  bool tied, qkv_bias;
  const char *model_type;
} shape;

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static mx_status add_linear(mx_array_map *m, const char *name, int out, int in, int bits,
                            mx_array *key) {
  int s[2] = {out, in};
  mx_array *w = mx_astype(mx_random_normal(s, 2, MX_FLOAT32, 0, 0.02, key), MX_BFLOAT16);
  char nm[256];
  if (bits == 0) {
    snprintf(nm, sizeof nm, "%s.weight", name);
    return mx_array_map_set(m, nm, w);
  }
  mx_array *q, *sc, *b;
  mx_status rc = mx_quantize(w, 64, bits, &q, &sc, &b);
  if (rc != MX_OK) return rc;
  mx_eval1(q);
  snprintf(nm, sizeof nm, "%s.weight", name);
  mx_array_map_set(m, nm, q);
  snprintf(nm, sizeof nm, "%s.scales", name);
  mx_array_map_set(m, nm, sc);
  snprintf(nm, sizeof nm, "%s.biases", name);
  return mx_array_map_set(m, nm, b);
}

static mx_array *next_key(mx_array *keys, int *ki) {
  int two = 2;
  mx_array *k = mx_reshape(mx_slice_axis(keys, 0, *ki, *ki + 1, 1), &two, 1);
  (*ki)++;
  return k;
}

static int make_model(const shape *s, int bits, const char *dir) {
  mkdir(dir, 0755);
  char cfg[2048], path[1024];
  int hd = s->hidden / s->heads;
  char quant[128] = "";
  if (bits)
    snprintf(quant, sizeof quant,
             ", \"quantization\": {\"group_size\": 64, \"bits\": %d}", bits);
  snprintf(cfg, sizeof cfg,
           "{\"model_type\": \"%s\", \"hidden_size\": %d, \"num_hidden_layers\": %d, "
           "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d, "
           "\"intermediate_size\": %d, \"vocab_size\": %d, \"rms_norm_eps\": 1e-6, "
           "\"rope_theta\": 1000000.0, \"tie_word_embeddings\": %s, \"torch_dtype\": "
           "\"bfloat16\"%s}",
           s->model_type, s->hidden, s->layers, s->heads, s->kv_heads, hd, s->ffn,
           s->vocab, s->tied ? "true" : "false", quant);
  snprintf(path, sizeof path, "%s/config.json", dir);
  write_text(path, cfg);
  mx_array_map *m = mx_array_map_new();
  mx_scope_begin();
  mx_array *key = mx_random_key(42);
  mx_array *keys = mx_random_split(key, 8 * s->layers + 8);
  int ki = 0;
#define NEXTKEY() next_key(keys, &ki)
  add_linear(m, "model.embed_tokens", s->vocab, s->hidden, bits, NEXTKEY());
  if (!s->tied) add_linear(m, "lm_head", s->vocab, s->hidden, bits, NEXTKEY());
  int D = s->hidden;
  mx_array_map_set(m, "model.norm.weight", mx_ones(&D, 1, MX_BFLOAT16));
  for (int l = 0; l < s->layers; l++) {
    char p[256];
    const char *names[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                            "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                            "mlp.down_proj"};
    int outs[7] = {
        s->heads * hd, s->kv_heads * hd, s->kv_heads * hd, D, s->ffn, s->ffn, D};
    int ins[7] = {D, D, D, s->heads * hd, D, D, s->ffn};
    for (int i = 0; i < 7; i++) {
      snprintf(p, sizeof p, "model.layers.%d.%s", l, names[i]);
      add_linear(m, p, outs[i], ins[i], bits, NEXTKEY());
      if (s->qkv_bias && i < 3) {
        char b[300];
        snprintf(b, sizeof b, "%s.bias", p);
        mx_array_map_set(m, b, mx_zeros(&outs[i], 1, MX_BFLOAT16));
      }
    }
    snprintf(p, sizeof p, "model.layers.%d.input_layernorm.weight", l);
    mx_array_map_set(m, p, mx_ones(&D, 1, MX_BFLOAT16));
    snprintf(p, sizeof p, "model.layers.%d.post_attention_layernorm.weight", l);
    mx_array_map_set(m, p, mx_ones(&D, 1, MX_BFLOAT16));
  }
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  mx_status rc = mx_save_safetensors(path, m);
  mx_scope_end();
  mx_array_map_free(m);
  if (rc != MX_OK) fprintf(stderr, "bench_lm: %s\n", mx_last_error());
  return rc == MX_OK ? 0 : 1;
}

static size_t dir_weight_bytes(const char *dir) {
  char p[1024];
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  struct stat st;
  return stat(p, &st) == 0 ? (size_t)st.st_size : 0;
}

static int count_tok(void *ctx, const mx_lm_token_info *t) {
  (void)t;
  (*(int *)ctx)++;
  return 0;
}

static int g_ctx = 128; /* prompt length before the decode (MX_BENCH_CTX) */
static int g_kv = 0;    /* rotating cache size, 0 for none (MX_BENCH_KV) */

/* The last position's logits of a prefill with int8 activations against
 * the exact one: RMS of the difference over RMS of the exact logits, and
 * whether the two argmaxes agree. */
static void logit_deviation(mx_lm_model *m, const int32_t *prompt, int np, double *dev,
                            bool *agree) {
  mx_scope_begin();
  int s[2] = {1, np};
  mx_array *ids = mx_array_from_data(prompt, s, 2, MX_INT32);
  mx_array *lg[2];
  for (int k = 0; k < 2; k++) {
    mx_set_int8_activations(k == 1);
    lg[k] = mx_astype(mx_lm_forward_last(m, ids, NULL, 1), MX_FLOAT32);
    mx_eval1(lg[k]);
  }
  mx_set_int8_activations(false);
  const float *a = mx_array_data(lg[0]), *b = mx_array_data(lg[1]);
  double sd = 0, sa = 0;
  int64_t V = a && b ? mx_array_size(lg[0]) : 0, ia = 0, ib = 0;
  for (int64_t v = 0; v < V; v++) {
    sd += (a[v] - b[v]) * (double)(a[v] - b[v]);
    sa += a[v] * (double)a[v];
    if (a[v] > a[ia]) ia = v;
    if (b[v] > b[ib]) ib = v;
  }
  *dev = sa > 0 ? sqrt(sd / sa) : 0;
  *agree = V > 0 && ia == ib;
  mx_scope_end();
}

/* kv_row: bytes of K and V per position over all layers (0: not counted) */
static void run(const char *label, const char *dir, int decode_tokens, bool tied,
                int vocab, int hidden, int bits, double kv_row) {
  mx_lm_model *m = mx_lm_load(dir, NULL);
  if (!m) {
    printf("%-28s load failed: %s\n", label, mx_last_error());
    mx_clear_error();
    return;
  }
  size_t wbytes = dir_weight_bytes(dir);
  /* embedding: one row per token unless it doubles as the head */
  if (!tied) {
    double row = bits ? hidden * bits / 8.0 + hidden / 64 * 4.0 : hidden * 2.0;
    wbytes -= (size_t)(vocab * row) - (size_t)row;
  }
  int np = g_ctx;
  int32_t *prompt = malloc(sizeof(int32_t) * (size_t)np);
  if (!prompt) return;
  for (int i = 0; i < np; i++) prompt[i] = 1 + (int)(((int64_t)i * 7919) % (vocab - 1));
  mx_lm_generate_params p;
  mx_lm_generate_defaults(&p);
  int32_t noeos = -1;
  p.eos_ids = &noeos;
  p.n_eos = 1;
  /* warm up */
  p.max_tokens = 4;
  int n = 0;
  mx_lm_generate_tokens(m, prompt, 16, &p, NULL, count_tok, &n, NULL);
  /* best of three runs: the machine is shared, and one run is one prefill.
   * Bandwidth readings go before and after each run; the best run is set
   * against the higher of the two around it, so a change of the host's
   * bandwidth during the run never inflates the ratio (and is flagged).
   * Quantized models run a second time with int8 activations where the CPU
   * has the kernels (mx_set_int8_activations). */
  const bool i8 = bits && mx_gemm_i8_available();
  double pp_exact = 0;
  for (int mode = 0; mode < (i8 ? 2 : 1); mode++) {
    mx_set_int8_activations(mode == 1);
    double best_pp = 0, best_tg = 0, bw_lo = 0, bw_hi = 0;
    double bw_prev = read_bandwidth(2);
    for (int rep = 0; rep < 3; rep++) {
      mx_lm_generate_stats st;
      p.max_tokens = decode_tokens;
      n = 0;
      mx_lm_cache_options co = {.max_kv_size = g_kv};
      mx_lm_cache *rc = g_kv > 0 ? mx_lm_cache_new(m, &co) : NULL;
      if (g_kv > 0 && !rc) {
        printf("%-28s cache: %s\n", label, mx_last_error());
        mx_clear_error();
        break;
      }
      mx_lm_generate_tokens(m, prompt, np, &p, rc, count_tok, &n, &st);
      mx_lm_cache_free(rc);
      double bw_next = read_bandwidth(2);
      if (st.prompt_tps > best_pp) best_pp = st.prompt_tps;
      if (st.generation_tps > best_tg) {
        best_tg = st.generation_tps;
        bw_lo = bw_prev < bw_next ? bw_prev : bw_next;
        bw_hi = bw_prev < bw_next ? bw_next : bw_prev;
      }
      bw_prev = bw_next;
    }
    mx_set_int8_activations(false);
    double rows = np + decode_tokens / 2.0;
    if (g_kv > 0 && rows > g_kv) rows = g_kv;
    double tbytes = (double)wbytes + kv_row * rows;
    double roof = bw_hi / tbytes;
    char lab[80];
    snprintf(lab, sizeof lab, "%s%s", label, mode ? " int8-act" : "");
    printf(
        "%-28s prefill(%d) %8.1f tok/s   decode %7.1f tok/s   roofline %7.1f tok/s  "
        "(%3.0f%%)  %.0f MB/token  (read %.1f GB/s%s)\n",
        lab, np, best_pp, best_tg, roof, 100 * best_tg / roof, tbytes / 1e6, bw_hi / 1e9,
        bw_lo < 0.85 * bw_hi ? ", changed during the run" : "");
    if (mode == 0) {
      pp_exact = best_pp;
      continue;
    }
    double dev = 0;
    bool agree = false;
    logit_deviation(m, prompt, np, &dev, &agree);
    printf(
        "%-28s   int8 activations: prefill %.2fx the exact one; last logits of the "
        "prompt: RMS difference %.1f%% of their RMS, argmax %s\n",
        "", best_pp / pp_exact, 100 * dev, agree ? "agrees" : "differs");
  }
  free(prompt);
  mx_lm_free(m);
}

int main(int argc, char **argv) {
  mx_blas_on_pool(); /* as the mx binary runs */
  bool quick = argc > 1 && !strcmp(argv[1], "--quick");
  const char *which = getenv("MX_BENCH_MODELS");
  const char *cs = getenv("MX_BENCH_CTX");
  if (cs && atoi(cs) > 0) g_ctx = atoi(cs);
  const char *kvs = getenv("MX_BENCH_KV");
  if (kvs && atoi(kvs) > 0) g_kv = atoi(kvs);
  double bw = read_bandwidth(5);
  printf(
      "machine read bandwidth (mx_sum over 1 GiB, %d threads): %.1f GB/s at the start; "
      "each row's roofline uses the higher of the readings taken just before and just "
      "after its best decode\n",
      mx_num_threads(), bw / 1e9);
  if (g_kv > 0) printf("rotating KV cache of %d positions (MX_BENCH_KV)\n", g_kv);
  const char *src = getenv("MX_SOURCE_DIR");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/models/stories260K", src ? src : MX_BENCH_SOURCE_DIR);
  if (g_ctx <= 256) run("stories260K f32", dir, 200, true, 512, 64, 0, 0);
  shape shapes[2] = {
      {"llama-0.4B", 896, 24, 14, 2, 4864, 32000, false, false, "llama"},
      {"qwen2.5-0.5B", 896, 24, 14, 2, 4864, 151936, true, true, "qwen2"},
  };
  int bitsv[3] = {0, 8, 4};
  for (int si = 0; si < 2; si++) {
    if (which && !strstr(which, si == 0 ? "llama" : "qwen")) continue;
    for (int bi = 0; bi < 3; bi++) {
      const char *wb = getenv("MX_BENCH_BITS"); /* e.g. "4" or "0,8": only these */
      char bs[8];
      snprintf(bs, sizeof bs, "%d", bitsv[bi]);
      if (wb && !strstr(wb, bs)) continue;
      char d[256], label[64];
      snprintf(d, sizeof d, "/tmp/mx_bench_%s_%d", shapes[si].name, bitsv[bi]);
      snprintf(label, sizeof label, "%s %s", shapes[si].name,
               bitsv[bi] == 0   ? "bf16"
               : bitsv[bi] == 8 ? "q8"
                                : "q4");
      if (dir_weight_bytes(d) == 0 && make_model(&shapes[si], bitsv[bi], d)) continue;
      const shape *sh = &shapes[si];
      /* bfloat16 K and V rows of every layer (counted only with MX_BENCH_CTX) */
      double kv_row =
          cs ? 2.0 * sh->layers * sh->kv_heads * (sh->hidden / sh->heads) * 2 : 0;
      run(label, d, quick ? 16 : 64, sh->tied, sh->vocab, sh->hidden, bitsv[bi], kv_row);
    }
  }
  mx_free(g_bw_array);
  return 0;
}
