/* fuzz_prompt_cache.c: libFuzzer target for prompt cache files. The input is
 * a cache file loaded for a small golden model (MX_FUZZ_MODEL); when it
 * loads, one token runs on top of it. A cache written for another model,
 * with wrong shapes, offsets or metadata, must give an error, not a crash. */
#include <mx/mx.h>

#include "fuzz_util.h"

static mx_lm_model *g_model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *model = getenv("MX_FUZZ_MODEL");
  g_model = model ? mx_lm_load(model, NULL) : NULL;
  if (!g_model) {
    fprintf(stderr, "fuzz_prompt_cache: set MX_FUZZ_MODEL to a model directory (%s)\n",
            model ? mx_last_error() : "unset");
    exit(2);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = mxf_write("cache.safetensors", data, size);
  if (!path) return 0;
  mx_scope_begin();
  mx_array_map *meta = NULL;
  mx_lm_cache *c = mx_lm_cache_load(g_model, path, &meta);
  if (c) {
    int32_t id = 1;
    int sh[2] = {1, 1};
    mx_array *y = mx_lm_forward(g_model, mx_array_from_data(&id, sh, 2, MX_INT32), c);
    if (y) (void)mx_eval1(y);
    mx_lm_cache_free(c);
  }
  mx_array_map_free(meta);
  mx_scope_end();
  return 0;
}
