/* fuzz_safetensors.c: libFuzzer target for the safetensors reader. The input
 * is a file; when it loads, every tensor is evaluated and summed (reading
 * every byte the header claims). */
#include <mx/mx.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = mxf_write("t.safetensors", data, size);
  if (!path) return 0;
  mx_scope_begin();
  mx_array_map *m = mx_load_safetensors(path);
  if (m) {
    for (int i = 0; i < mx_array_map_size(m); i++) mxf_read_all(mx_array_map_at(m, i));
    mx_array_map_free(m);
  }
  mx_scope_end();
  return 0;
}
