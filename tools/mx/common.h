/* common.h: helpers shared by subcommands (see common.c). */
#ifndef MX_CLI_COMMON_H
#define MX_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx/lm.h"
#include "mx/template.h"
#include "mx/tokenizer.h"

/* name NULL: the bundled default model. Prints the error; returns 0 or 1. */
int mx_cli_resolve_model(const char *name, char *out, size_t cap);
/* strdup of arg, or all of stdin for "-" */
char *mx_cli_read_prompt(const char *arg);
/* The library's range check of sampler parameters, before a model loads:
 * prints "mx <cmd>: ..." and returns 2 when one is out of range, else 0. */
int mx_cli_check_sampler(const char *cmd, const mx_lm_sampler_params *p);
/* --int8-activations given: turn the setting on, and say on stderr when
 * this CPU has no int8 kernels (the exact ones run). */
void mx_cli_int8_activations(const char *cmd);
/* "1,2,3" -> ids (malloc'd) */
int mx_cli_parse_ids(const char *s, int32_t **ids, int *n);
char *mx_cli_messages_json(const char *system, const char *user, const char *prefill);
/* 0 rendered, 1 error (printed), 2 the tokenizer has no chat template */
int mx_cli_render_chat(const mx_tokenizer *tok, const char *messages_json,
                       const char *tools, bool add_generation_prompt,
                       const char *extra_json, char **out);

/* Byte offset of the user's content in the rendered template for one user
 * message (mlx_lm's "<query>" rule); 0 without a template. */
size_t mx_cli_template_user_offset(const mx_tokenizer *tok, const char *extra_json);
/* Length of what follows the user's content (generation prompt excluded). */
size_t mx_cli_template_user_suffix(const mx_tokenizer *tok, const char *extra_json);
/* The "model" recorded in a prompt cache file (static buffer), or NULL. */
const char *mx_cli_prompt_cache_model(const char *path);

#endif
