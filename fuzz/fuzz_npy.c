/* fuzz_npy.c: libFuzzer target for the .npy reader. The input is a file; when
 * it loads, the array is evaluated and summed. */
#include <mx/mx.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = mxf_write("a.npy", data, size);
  if (!path) return 0;
  mx_scope_begin();
  mx_array *a = mx_load_npy(path);
  if (a) mxf_read_all(a);
  mx_scope_end();
  return 0;
}
