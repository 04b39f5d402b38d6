/* fuzz_template.c: libFuzzer target for the Jinja interpreter. The input is a
 * chat template; it is parsed and rendered with a fixed conversation, tools
 * and extra keyword arguments, under small step/output/memory limits so that
 * templates that loop for long end with the interpreter's own error. Any
 * crash, sanitizer report or hang is a bug. */
#include <mx/mx.h>

#include "fuzz_util.h"

static const char *MESSAGES =
    "[{\"role\":\"system\",\"content\":\"You are terse.\"},"
    "{\"role\":\"user\",\"content\":\"Hi <b>there</b> \\u00e9\"},"
    "{\"role\":\"assistant\",\"content\":\"Hello\",\"tool_calls\":[{\"type\":"
    "\"function\","
    "\"function\":{\"name\":\"f\",\"arguments\":{\"x\":1,\"y\":[1,2.5,null,true]}}}]},"
    "{\"role\":\"tool\",\"content\":\"42\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part\"}]}]";
static const char *TOOLS =
    "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}}}"
    "]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *src = mxf_str(data, size);
  if (!src) return 0;
  mx_template_options o;
  mx_template_options_init(&o);
  o.max_steps = 20000;
  o.max_output = 1 << 20;
  o.max_memory = 16 << 20;
  o.max_depth = 40;
  o.fixed_time = true;
  o.time = 1700000000;
  char *out = NULL;
  (void)mx_chat_template_apply_opts(
      src, MESSAGES, TOOLS, true, "{\"enable_thinking\":false}", "<s>", "</s>", &o, &out);
  free(out);
  free(src);
  return 0;
}
