/* fuzz_config.c: libFuzzer target for model loading. The input is a
 * config.json placed beside the weights of a small golden model
 * (MX_FUZZ_MODEL, e.g. tests/fixtures/models/tiny-qwen3); when the model
 * loads, two tokens run through it with a cache and one more after them. Any
 * value a config can hold (sizes, rope scaling, quantization, tied
 * embeddings) must give a load error naming the problem, or a model that
 * runs. */
#include <mx/mx.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static char g_dir[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *model = mxf_env("fuzz_config", "MX_FUZZ_MODEL", "a model directory");
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/mx-fuzz-config-%ld", tmp && *tmp ? tmp : "/tmp",
           (long)getpid());
  char src[4096], dst[4200];
  snprintf(src, sizeof src, "%s/model.safetensors", model);
  snprintf(dst, sizeof dst, "%s/model.safetensors", g_dir);
  if (mkdir(g_dir, 0700) != 0 || symlink(src, dst) != 0) {
    perror("fuzz_config");
    exit(2);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", g_dir);
  if (!mxf_write_to(path, data, size)) return 0;
  mx_lm_model *m = mx_lm_load(g_dir, NULL);
  if (!m) return 0;
  mx_scope_begin();
  mx_lm_cache *c = mx_lm_cache_new(m, NULL);
  if (c) {
    int32_t ids[2] = {1, 2};
    int sh[2] = {1, 2};
    mx_array *x = mx_array_from_data(ids, sh, 2, MX_INT32);
    mx_array *y = x ? mx_lm_forward(m, x, c) : NULL;
    if (y && mx_eval1(y) == MX_OK) {
      int sh1[2] = {1, 1};
      mx_array *z = mx_lm_forward(m, mx_array_from_data(ids, sh1, 2, MX_INT32), c);
      if (z) (void)mx_eval1(z);
    }
    mx_lm_cache_free(c);
  }
  mx_scope_end();
  mx_lm_free(m);
  return 0;
}
