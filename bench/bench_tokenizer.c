/* bench_tokenizer.c: tokenizer throughput. Encodes a corpus (default
 * ../shared/fixtures/corpora/tinyshakespeare.txt, or $MX_TOKENIZER_CORPUS)
 * with each tokenizer (the shared fixture tokenizers, or the directories in
 * $MX_TOKENIZER_DIRS, colon separated) and prints load time, encode MB/s
 * (cold: empty word cache; warm: second pass), decode and streaming
 * detokenizer MB/s. The peer, measured in the same run, is a PCRE2-JIT scan
 * of the GPT-2 pre-tokenizer regex over the same text: the cost every
 * byte-level BPE tokenizer pays before any merging. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mx/mx.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)sz + 1);
  if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
    free(p);
    p = NULL;
  }
  fclose(f);
  if (p) {
    p[sz] = 0;
    *n = (size_t)sz;
  }
  return p;
}

/* The peer: count GPT-2 regex matches (pre-tokenization only). */
static double regex_scan(const char *s, size_t n, size_t *count) {
  static const char re[] =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
      "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  int err;
  PCRE2_SIZE off;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
  double t0 = now();
  size_t pos = 0, k = 0;
  while (pos < n &&
         pcre2_match(code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL) > 0) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    k++;
  }
  double t = now() - t0;
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  *count = k;
  return t;
}

static void bench_one(const char *dir, const char *text, size_t n, double peer_mbs) {
  double t0 = now();
  mx_tokenizer *tok = mx_tokenizer_load(dir);
  double tload = now() - t0;
  if (!tok) {
    printf("%-40s load failed: %s\n", dir, mx_last_error());
    mx_clear_error();
    return;
  }
  int32_t *ids = NULL;
  int nids = 0;
  t0 = now();
  mx_status st = mx_tokenizer_encode(tok, text, n, false, &ids, &nids);
  double tcold = now() - t0;
  free(ids);
  t0 = now();
  if (st == MX_OK) st = mx_tokenizer_encode(tok, text, n, false, &ids, &nids);
  double twarm = now() - t0;
  if (st != MX_OK) {
    printf("%-40s encode failed: %s\n", dir, mx_last_error());
    mx_clear_error();
    mx_tokenizer_free(tok);
    return;
  }
  char *out = NULL;
  size_t olen = 0;
  t0 = now();
  mx_tokenizer_decode(tok, ids, nids, false, &out, &olen);
  double tdec = now() - t0;
  bool same = out && olen == n && memcmp(out, text, n) == 0;
  free(out);
  mx_detokenizer *d = mx_detokenizer_new(tok, false);
  size_t slen = 0;
  t0 = now();
  for (int i = 0; i < nids; i++) {
    size_t k;
    mx_detokenizer_add(d, ids[i], &k);
    slen += k;
  }
  size_t k;
  mx_detokenizer_finish(d, &k);
  slen += k;
  double tstream = now() - t0;
  mx_detokenizer_free(d);
  double mb = (double)n / 1e6;
  const char *name = strrchr(dir, '/');
  name = name ? name + 1 : dir;
  printf(
      "%-16s load %6.3f s  %8d tokens  encode cold %6.2f MB/s (%4.2fx peer)"
      "  warm %6.2f MB/s  decode %7.1f MB/s  stream %6.1f MB/s  %s\n",
      name, tload, nids, mb / tcold, (mb / tcold) / peer_mbs, mb / twarm,
      (double)olen / 1e6 / tdec, (double)slen / 1e6 / tstream,
      same ? "round-trip ok"
           : "decode != text (clean_up_tokenization_spaces, as transformers)");
  free(ids);
  mx_tokenizer_free(tok);
}

int main(int argc, char **argv) {
  const char *src = getenv("MX_SOURCE_DIR");
  char corpus[1024];
  const char *cenv = getenv("MX_TOKENIZER_CORPUS");
  if (cenv)
    snprintf(corpus, sizeof corpus, "%s", cenv);
  else
    snprintf(corpus, sizeof corpus, "%s/../shared/fixtures/corpora/tinyshakespeare.txt",
             src ? src : MX_BENCH_SOURCE_DIR);
  size_t n;
  char *text = read_file(corpus, &n);
  if (!text) {
    fprintf(stderr, "cannot read corpus %s (set MX_TOKENIZER_CORPUS)\n", corpus);
    return 1;
  }
  size_t matches;
  double tpeer = regex_scan(text, n, &matches);
  double peer = (double)n / 1e6 / tpeer;
  printf("corpus %s: %.2f MB\npeer: PCRE2-JIT GPT-2 regex scan %.1f MB/s (%zu pieces)\n",
         corpus, (double)n / 1e6, peer, matches);
  if (argc > 1) {
    for (int i = 1; i < argc; i++) bench_one(argv[i], text, n, peer);
  } else {
    const char *denv = getenv("MX_TOKENIZER_DIRS");
    if (denv) {
      char *copy = strdup(denv);
      for (char *tok = strtok(copy, ":"); tok; tok = strtok(NULL, ":"))
        bench_one(tok, text, n, peer);
      free(copy);
    } else {
      static const char *names[] = {"gpt2",   "llama3",    "qwen2.5", "mistral-7b-v0.1",
                                    "gemma2", "llama2-spm"};
      for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/../shared/fixtures/tokenizers/%s",
                 src ? src : MX_BENCH_SOURCE_DIR, names[i]);
        bench_one(dir, text, n, peer);
      }
    }
  }
  free(text);
  return 0;
}
