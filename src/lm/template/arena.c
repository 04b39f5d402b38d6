/* arena.c: the bump allocator behind a parse or a render, and error
 * unwinding. An allocation past the arena's limit (or a failed malloc) fails
 * the whole parse/render with MX_ERR_NOMEM instead of returning NULL, so
 * callers never check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

struct jt_chunk {
  struct jt_chunk *next;
  size_t cap, used;
  _Alignas(16) char data[];
};

enum { CHUNK = 64 * 1024 };

void jt_arena_init(jt_arena *a, size_t limit, jt_err *err) {
  a->head = NULL;
  a->total = 0;
  a->limit = limit;
  a->err = err;
}

void jt_arena_release(jt_arena *a) {
  jt_chunk *c = a->head;
  while (c) {
    jt_chunk *n = c->next;
    free(c);
    c = n;
  }
  a->head = NULL;
  a->total = 0;
}

void *jt_alloc(jt_arena *a, size_t n) {
  if (n > a->limit) /* also keeps the rounding below from overflowing */
    jt_fail(a->err, -1, MX_ERR_NOMEM, "memory limit exceeded (%zu bytes)", a->limit);
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  jt_chunk *c = a->head;
  if (c && c->cap - c->used >= n) {
    void *p = c->data + c->used;
    c->used += n;
    return p;
  }
  size_t cap = n > CHUNK / 4 ? n : CHUNK;
  if (cap > a->limit || a->total > a->limit - cap)
    jt_fail(a->err, -1, MX_ERR_NOMEM, "memory limit exceeded (%zu bytes)", a->limit);
  jt_chunk *nc = malloc(sizeof *nc + cap);
  if (!nc) jt_fail(a->err, -1, MX_ERR_NOMEM, "out of memory");
  a->total += cap;
  nc->cap = cap;
  nc->used = n;
  if (c && cap != CHUNK) {
    /* a big block: keep filling the current chunk afterwards */
    nc->next = c->next;
    c->next = nc;
  } else {
    nc->next = c;
    a->head = nc;
  }
  return nc->data;
}

void *jt_zalloc(jt_arena *a, size_t n) {
  void *p = jt_alloc(a, n);
  memset(p, 0, n);
  return p;
}

char *jt_strndup(jt_arena *a, const char *s, size_t n) {
  char *p = jt_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

_Noreturn void jt_fail(jt_err *e, int line, mx_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->st = st;
  if (line >= 0) e->line = line;
  longjmp(e->jb, 1);
}
