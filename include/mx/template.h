/* mx/template.h: Jinja chat templates.
 *
 * A native interpreter for the Jinja2 subset that Hugging Face chat templates
 * use, configured like transformers' environment (trim_blocks, lstrip_blocks,
 * loop controls, tojson with ensure_ascii=False, raise_exception,
 * strftime_now, generation tags). Output follows Python jinja2: values print
 * as Python would (True, None, ['a', 1]).
 *
 * A parsed template is immutable and may be rendered from several threads at
 * once. Every render is bounded (call depth, loop iterations, output size,
 * memory) so a hostile template fails with an error instead of hanging.
 *
 * Errors are recorded with mx_set_error as "[template] line N: message",
 * followed by the offending template line. Strings returned through `out` and
 * `err` are malloc'd; release them with free(). */
#ifndef MX_TEMPLATE_H
#define MX_TEMPLATE_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mx_template mx_template;

typedef struct {
  bool trim_blocks;           /* drop the first newline after a block tag */
  bool lstrip_blocks;         /* strip spaces before a block tag on its line */
  bool keep_trailing_newline; /* keep a single newline ending the template */
  int max_depth;              /* macro / recursive loop call depth */
  int64_t max_steps;          /* loop iterations + calls per render */
  size_t max_output;          /* bytes of any rendered string */
  size_t max_memory;          /* bytes of working memory per render */
  bool fixed_time;            /* strftime_now uses `time` in UTC ... */
  int64_t time;               /* ... (unix seconds); else local time now */
} mx_template_options;

/* transformers' settings: trim and lstrip on, trailing newline dropped;
 * limits: depth 100, 2M steps, 64 MiB output, 256 MiB memory; strftime_now
 * uses the current local time. */
void mx_template_options_init(mx_template_options *o);

/* Parse with the default options. NULL on a syntax error; then *err (if err
 * is not NULL) holds the message. */
mx_template *mx_template_parse(const char *src, char **err);
mx_template *mx_template_parse_opts(const char *src, const mx_template_options *o,
                                    char **err);
void mx_template_free(mx_template *t);

/* Render with the variables of a JSON object (NULL or "" for none). */
mx_status mx_template_render(const mx_template *t, const char *context_json, char **out);

/* transformers' apply_chat_template: renders with messages, tools (None when
 * NULL), documents (None), add_generation_prompt, bos_token and eos_token
 * (left undefined when NULL), plus the keys of extra_kwargs_json (an object;
 * they override the others except messages). */
mx_status mx_chat_template_apply(const char *template_src, const char *messages_json,
                                 const char *tools_json_or_null,
                                 bool add_generation_prompt,
                                 const char *extra_kwargs_json_or_null,
                                 const char *bos_token, const char *eos_token,
                                 char **out);
/* The same with explicit options (NULL = defaults). */
mx_status mx_chat_template_apply_opts(const char *template_src, const char *messages_json,
                                      const char *tools_json_or_null,
                                      bool add_generation_prompt,
                                      const char *extra_kwargs_json_or_null,
                                      const char *bos_token, const char *eos_token,
                                      const mx_template_options *o, char **out);

#ifdef __cplusplus
}
#endif
#endif
