/* args.h: a small long-option parser for the subcommands: a table of
 * options, each writing into a typed destination, with clear errors for
 * unknown flags, missing values and malformed numbers. Accepts `--flag value`
 * and `--flag=value`; short aliases like -p, -m. */
#ifndef MX_CLI_ARGS_H
#define MX_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { ARG_STR, ARG_INT, ARG_FLOAT, ARG_BOOL, ARG_STRLIST } mx_arg_type;

typedef struct {
  const char *name;  /* "--max-tokens" */
  const char *alias; /* "-m" or NULL */
  mx_arg_type type;
  void *dst; /* const char **, int *, double *, bool *, mx_strlist * */
  const char *help;
  bool seen;
} mx_arg;

typedef struct {
  const char *items[64];
  int n;
} mx_strlist;

/* Parses argv[1..]; returns 0, or 2 after printing the error (usage error).
 * `--help`/`-h` prints usage and returns 1. */
int mx_args_parse(const char *cmd, const char *summary, mx_arg *opts, int nopts, int argc,
                  char **argv);
void mx_args_usage(const char *cmd, const char *summary, const mx_arg *opts, int nopts);

#endif
