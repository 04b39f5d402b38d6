/* seeds.c: writes starting inputs for the fuzz targets that mx itself
 * produces: .npy files of several dtypes and ranks (fuzz_npy), a small
 * safetensors file with metadata (fuzz_safetensors: the fixtures' files are
 * mostly tensor data) and a prompt cache of MX_FUZZ_MODEL
 * (fuzz_prompt_cache). usage: seeds NPY_DIR SAFETENSORS_DIR CACHE_DIR */
#include <mx/mx.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: seeds NPY_DIR SAFETENSORS_DIR CACHE_DIR\n");
    return 2;
  }
  char p[4096];
  mx_scope_begin();
  const mx_dtype types[] = {MX_FLOAT32, MX_BFLOAT16, MX_INT64, MX_BOOL, MX_COMPLEX64};
  const int shapes[3][3] = {{24}, {4, 6}, {2, 3, 4}};
  for (int i = 0; i < 5; i++) {
    snprintf(p, sizeof p, "%s/a%d.npy", argv[1], i);
    mx_array *a = mx_astype(mx_arange(0, 24, 1, MX_FLOAT32), types[i]);
    a = mx_reshape(a, shapes[i % 3], 1 + i % 3);
    if (!a || mx_save_npy(p, a) != MX_OK) {
      fprintf(stderr, "seeds: %s: %s\n", p, mx_last_error());
      return 1;
    }
  }
  mx_array_map *st = mx_array_map_new();
  const char *names[5] = {"a.weight", "b", "layers.0.scales", "e", "z"};
  for (int i = 0; i < 5 && st; i++) {
    mx_array *a = mx_astype(mx_arange(0, 24, 1, MX_FLOAT32), types[(i + 1) % 5]);
    if (mx_array_map_set(st, names[i], mx_reshape(a, shapes[i % 3], 1 + i % 3)) != MX_OK)
      return 1;
  }
  snprintf(p, sizeof p, "%s/small.safetensors", argv[2]);
  if (!st || mx_array_map_set_meta(st, "format", "mlx") != MX_OK ||
      mx_save_safetensors(p, st) != MX_OK) {
    fprintf(stderr, "seeds: %s: %s\n", p, mx_last_error());
    return 1;
  }
  mx_array_map_free(st);
  const char *model = getenv("MX_FUZZ_MODEL");
  mx_lm_model *m = model ? mx_lm_load(model, NULL) : NULL;
  mx_lm_cache *c = m ? mx_lm_cache_new(m, NULL) : NULL;
  int32_t ids[3] = {1, 2, 3};
  int sh[2] = {1, 3};
  mx_array *y = c ? mx_lm_forward(m, mx_array_from_data(ids, sh, 2, MX_INT32), c) : NULL;
  const char *k[1] = {"model"}, *v[1] = {"tiny"};
  snprintf(p, sizeof p, "%s/cache.safetensors", argv[3]);
  if (!y || mx_eval1(y) != MX_OK ||
      mx_lm_cache_save(c, mx_lm_num_layers(m), p, k, v, 1) != MX_OK) {
    fprintf(stderr, "seeds: prompt cache: %s\n", mx_last_error());
    return 1;
  }
  mx_lm_cache_free(c);
  mx_lm_free(m);
  mx_scope_end();
  return 0;
}
