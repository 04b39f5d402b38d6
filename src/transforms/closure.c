/* closure.c: array lists (mx_vec) and reference-counted closures. */
#include <stdatomic.h>
#include <stdlib.h>

#include "../core/core.h"
#include "mx/transforms.h"

mx_status mx_vec_push(mx_vec *v, mx_array *a) {
  if (!a)
    return mx_last_status() != MX_OK
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[vec] NULL array pushed");
  if (v->n == v->cap) {
    int nc = v->cap ? 2 * v->cap : 8;
    mx_array **ni = realloc(v->items, (size_t)nc * sizeof *ni);
    if (!ni) return mx_set_error(MX_ERR_NOMEM, "[vec] out of memory");
    v->items = ni;
    v->cap = nc;
  }
  v->items[v->n++] = a;
  return MX_OK;
}

void mx_vec_clear(mx_vec *v) { v->n = 0; }

void mx_vec_free(mx_vec *v) {
  free(v->items);
  v->items = NULL;
  v->n = v->cap = 0;
}

struct mx_closure {
  atomic_int refs;
  mx_closure_fn fn;
  void *payload;
  void (*destroy)(void *payload);
};

mx_closure *mx_closure_new(mx_closure_fn fn, void *payload, void (*destroy)(void *)) {
  if (!fn) {
    mx_set_error(MX_ERR_INVALID, "[closure] NULL function");
    if (destroy) destroy(payload);
    return NULL;
  }
  mx_closure *f = malloc(sizeof *f);
  if (!f) {
    mx_set_error(MX_ERR_NOMEM, "[closure] out of memory");
    if (destroy) destroy(payload);
    return NULL;
  }
  atomic_init(&f->refs, 1);
  f->fn = fn;
  f->payload = payload;
  f->destroy = destroy;
  return f;
}

mx_closure *mx_closure_retain(mx_closure *f) {
  if (f) atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
  return f;
}

void mx_closure_free(mx_closure *f) {
  if (!f) return;
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
  if (f->destroy) f->destroy(f->payload);
  free(f);
}

mx_status mx_closure_call(mx_closure *f, mx_array *const *in, int nin, mx_vec *out) {
  if (!out) return mx_set_error(MX_ERR_INVALID, "[closure] NULL output list");
  out->n = 0;
  if (!f)
    return mx_last_status() != MX_OK
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[closure] NULL closure");
  if (nin < 0 || (nin > 0 && !in))
    return mx_set_error(MX_ERR_INVALID, "[closure] bad input list");
  for (int i = 0; i < nin; i++)
    if (!in[i])
      return mx_last_status() != MX_OK
                 ? mx_last_status()
                 : mx_set_error(MX_ERR_INVALID, "[closure] input %d is NULL", i);
  mx_status rc = f->fn(f->payload, in, nin, out);
  if (rc == MX_OK)
    for (int i = 0; i < out->n; i++)
      if (!out->items[i]) {
        rc = mx_last_status() != MX_OK
                 ? mx_last_status()
                 : mx_set_error(MX_ERR_INVALID, "[closure] output %d is NULL", i);
        break;
      }
  if (rc != MX_OK) {
    if (mx_last_status() == MX_OK) mx_set_error(rc, "[closure] function failed");
    out->n = 0;
  }
  return rc;
}

mx_array *mx_closure_call1(mx_closure *f, mx_array *const *in, int nin) {
  mx_vec out = MX_VEC_INIT;
  mx_array *r = NULL;
  if (mx_closure_call(f, in, nin, &out) == MX_OK) {
    if (out.n == 1)
      r = out.items[0];
    else
      mx_set_error(MX_ERR_INVALID, "[closure] expected one output, got %d", out.n);
  }
  mx_vec_free(&out);
  return r;
}

/* For transforms that recognise their own closures (compile's statistics):
 * f's payload when f was made with fn, else NULL. Declared in compile.h. */
void *mx_closure_payload(const mx_closure *f, mx_closure_fn fn);
void *mx_closure_payload(const mx_closure *f, mx_closure_fn fn) {
  return f && f->fn == fn ? f->payload : NULL;
}
