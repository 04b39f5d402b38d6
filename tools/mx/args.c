/* args.c: see args.h. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mx_args_usage(const char *cmd, const char *summary, const mx_arg *opts, int nopts) {
  printf("usage: mx %s [options]\n\n%s\n\noptions:\n", cmd, summary);
  for (int i = 0; i < nopts; i++) {
    char left[64];
    const char *meta = opts[i].type == ARG_BOOL      ? ""
                       : opts[i].type == ARG_INT     ? " N"
                       : opts[i].type == ARG_FLOAT   ? " X"
                       : opts[i].type == ARG_STRLIST ? " S [S ...]"
                                                     : " S";
    snprintf(left, sizeof left, "%s%s%s%s", opts[i].alias ? opts[i].alias : "",
             opts[i].alias ? ", " : "", opts[i].name, meta);
    printf("  %-28s %s\n", left, opts[i].help);
  }
  printf("  %-28s %s\n", "-h, --help", "show this help");
}

static int set_value(const char *cmd, mx_arg *o, const char *v) {
  char *end;
  switch (o->type) {
    case ARG_STR:
      *(const char **)o->dst = v;
      return 0;
    case ARG_INT: {
      errno = 0;
      long x = strtol(v, &end, 10);
      if (errno || *end || end == v || x < -2147483647L || x > 2147483647L) {
        fprintf(stderr, "mx %s: %s expects an integer, got '%s'\n", cmd, o->name, v);
        return 2;
      }
      *(int *)o->dst = (int)x;
      return 0;
    }
    case ARG_FLOAT: {
      errno = 0;
      double x = strtod(v, &end);
      if (errno || *end || end == v || !isfinite(x)) {
        fprintf(stderr, "mx %s: %s expects a number, got '%s'\n", cmd, o->name, v);
        return 2;
      }
      *(double *)o->dst = x;
      return 0;
    }
    case ARG_STRLIST: {
      mx_strlist *l = o->dst;
      if (l->n >= 64) {
        fprintf(stderr, "mx %s: too many values for %s\n", cmd, o->name);
        return 2;
      }
      l->items[l->n++] = v;
      return 0;
    }
    default:
      return 0;
  }
}

int mx_args_parse(const char *cmd, const char *summary, mx_arg *opts, int nopts, int argc,
                  char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      mx_args_usage(cmd, summary, opts, nopts);
      return 1;
    }
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    mx_arg *o = NULL;
    for (int k = 0; k < nopts && !o; k++)
      if ((strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len)) ||
          (opts[k].alias && !strcmp(opts[k].alias, a)))
        o = &opts[k];
    if (!o) {
      fprintf(stderr, "mx %s: unknown option '%s' (see 'mx %s --help')\n", cmd, a, cmd);
      return 2;
    }
    o->seen = true;
    if (o->type == ARG_BOOL) {
      if (eq) {
        fprintf(stderr, "mx %s: %s takes no value\n", cmd, o->name);
        return 2;
      }
      *(bool *)o->dst = true;
      continue;
    }
    if (eq) {
      int rc = set_value(cmd, o, eq + 1);
      if (rc) return rc;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "mx %s: %s needs a value\n", cmd, o->name);
      return 2;
    }
    int rc = set_value(cmd, o, argv[++i]);
    if (rc) return rc;
    /* lists take every following value up to the next option */
    while (o->type == ARG_STRLIST && i + 1 < argc && argv[i + 1][0] != '-') {
      rc = set_value(cmd, o, argv[++i]);
      if (rc) return rc;
    }
  }
  return 0;
}
