/* fuzz_tokenizer_json.c: libFuzzer target for the tokenizer.json loader. The
 * input is a tokenizer.json; when it loads, a fixed text (ASCII, accents,
 * CJK, emoji, special-looking tokens, invalid UTF-8) is encoded, decoded and
 * streamed through the detokenizer. */
#include <mx/mx.h>

#include "fuzz_util.h"

static const char TEXT[] =
    "Hello world  <s> 123 caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD "
    "\xF0\x9F\x98\x80 \xFF\xC3 a\tb\n\nI'm";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = mxf_write("tokenizer.json", data, size);
  if (!path) return 0;
  mx_tokenizer *t = mx_tokenizer_load(path);
  if (!t) return 0;
  int32_t *ids = NULL;
  int n = 0;
  for (int special = 0; special < 2; special++) {
    if (mx_tokenizer_encode(t, TEXT, sizeof TEXT - 1, special, &ids, &n) == MX_OK) {
      char *text = NULL;
      size_t len = 0;
      if (mx_tokenizer_decode(t, ids, n, special, &text, &len) == MX_OK) free(text);
      mx_detokenizer *d = mx_detokenizer_new(t, special);
      if (d) {
        size_t l;
        for (int i = 0; i < n; i++) (void)mx_detokenizer_add(d, ids[i], &l);
        (void)mx_detokenizer_finish(d, &l);
        mx_detokenizer_free(d);
      }
      free(ids);
      ids = NULL;
    }
  }
  /* ids outside the vocabulary are skipped, never read out of bounds */
  int32_t odd[] = {-1, 0, mx_tokenizer_vocab_size(t), 1 << 30, 3};
  char *text = NULL;
  if (mx_tokenizer_decode(t, odd, 5, false, &text, NULL) == MX_OK) free(text);
  mx_tokenizer_free(t);
  return 0;
}
