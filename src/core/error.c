/* error.c: the per-thread error slot. The first error wins until cleared, so a
 * chain of ops that propagates NULL reports the root cause. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

static _Thread_local char g_msg[1024];
static _Thread_local mx_status g_status = MX_OK;

const char *mx_version(void) { return "0.1.0"; }

const char *mx_last_error(void) { return g_msg; }

mx_status mx_last_status(void) { return g_status; }

void mx_clear_error(void) {
  g_msg[0] = 0;
  g_status = MX_OK;
}

mx_status mx_set_error(mx_status st, const char *fmt, ...) {
  if (g_status != MX_OK) return st;
  g_status = st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return st;
}
