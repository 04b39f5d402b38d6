/* fuzz_encode.c: libFuzzer target for encoding arbitrary bytes with real
 * tokenizers (byte-level BPE: qwen2.5; sentencepiece BPE with byte fallback:
 * llama2-spm; gemma2's). Checks what must hold for any input: the stream
 * detokenizer's text equals decode() of the whole sequence, and for the
 * byte-level tokenizer decode(encode(x)) == x when x is valid UTF-8 with no
 * added-token text in it (the round trip is exact there). MX_FUZZ_TOKENIZERS
 * (the source tree's tests/fixtures/tokenizers) must be set. */
#include <mx/mx.h>

#include "fuzz_util.h"

static mx_tokenizer *g_tok[3];
static const char *const NAMES[3] = {"qwen2.5", "llama2-spm", "gemma2"};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir =
      mxf_env("fuzz_encode", "MX_FUZZ_TOKENIZERS", "tests/fixtures/tokenizers");
  for (int i = 0; i < 3; i++) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, NAMES[i]);
    g_tok[i] = mx_tokenizer_load(p);
    if (!g_tok[i]) {
      fprintf(stderr, "fuzz_encode: %s: %s\n", p, mx_last_error());
      exit(2);
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (int i = 0; i < 3; i++) {
    int32_t *ids = NULL;
    int n = 0;
    if (mx_tokenizer_encode(g_tok[i], (const char *)data, size, false, &ids, &n) != MX_OK)
      continue;
    char *whole = NULL;
    size_t wl = 0;
    if (mx_tokenizer_decode(g_tok[i], ids, n, false, &whole, &wl) != MX_OK) abort();
    mx_detokenizer *d = mx_detokenizer_new(g_tok[i], false);
    if (!d) abort();
    char *acc = malloc(wl + 64);
    size_t al = 0;
    for (int j = 0; j <= n; j++) {
      size_t l = 0;
      const char *s =
          j < n ? mx_detokenizer_add(d, ids[j], &l) : mx_detokenizer_finish(d, &l);
      if (!s) abort();
      if (al + l > wl + 63) {
        fprintf(stderr, "%s: streamed text longer than decode()\n", NAMES[i]);
        abort();
      }
      memcpy(acc + al, s, l);
      al += l;
    }
    if (al != wl || memcmp(acc, whole, wl) != 0) {
      fprintf(stderr, "%s: streamed text differs from decode()\n", NAMES[i]);
      abort();
    }
    mx_detokenizer_free(d);
    free(acc);
    free(whole);
    free(ids);
  }
  return 0;
}
