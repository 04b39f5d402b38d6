/* access.c: reading array data on the host (evaluates first) and printing. */
#include <stdio.h>
#include <string.h>

#include "../backend/cpu/dtypes.h"
#include "../backend/cpu/iter.h"
#include "core.h"

static mx_status ready(mx_array *a, const char *op) {
  if (!a)
    return mx_last_status() ? mx_last_status()
                            : mx_set_error(MX_ERR_INVALID, "[%s] NULL array", op);
  mx_status rc = mx_eval1(a);
  if (rc != MX_OK) return rc;
  if (!a->buf) return mx_set_error(MX_ERR_RUNTIME, "[%s] array has no data", op);
  return mx_buffer_ensure_host(a->buf);
}

const void *mx_array_data(mx_array *a) {
  if (ready(a, "data") != MX_OK) return NULL;
  return mx_array_ptr(a);
}

const int64_t *mx_array_strides(mx_array *a) {
  if (ready(a, "strides") != MX_OK) return NULL;
  return a->strides;
}

bool mx_array_is_contiguous(mx_array *a) {
  if (ready(a, "is_contiguous") != MX_OK) return false;
  return a->row_contiguous;
}

mx_status mx_array_read(mx_array *a, mx_dtype t, void *dst, size_t cap) {
  mx_status rc = ready(a, "read");
  if (rc != MX_OK) return rc;
  if ((unsigned)t >= MX_NUM_DTYPES)
    return mx_set_error(MX_ERR_INVALID, "[read] invalid dtype %d", (int)t);
  size_t need = (size_t)a->size * mx_dtype_size(t);
  if (cap < need)
    return mx_set_error(MX_ERR_INVALID, "[read] destination holds %zu bytes, need %zu",
                        cap, need);
  if (need == 0) return MX_OK;
  mx_copy_convert(a, dst, t);
  return MX_OK;
}

double mx_array_item_f64(mx_array *a) {
  if (a && a->size != 1) {
    mx_set_error(MX_ERR_INVALID, "[item] array of size %lld has no single item",
                 (long long)a->size);
    return 0;
  }
  double v = 0;
  if (mx_array_read(a, MX_FLOAT64, &v, sizeof v) != MX_OK) return 0;
  return v;
}

int64_t mx_array_item_i64(mx_array *a) {
  if (a && a->size != 1) {
    mx_set_error(MX_ERR_INVALID, "[item] array of size %lld has no single item",
                 (long long)a->size);
    return 0;
  }
  int64_t v = 0;
  if (mx_array_read(a, MX_INT64, &v, sizeof v) != MX_OK) return 0;
  return v;
}

typedef struct {
  char *buf;
  size_t cap, n;
} sbuf;

static void put(sbuf *s, const char *fmt, double v, double v2) {
  char tmp[64];
  int k = snprintf(tmp, sizeof tmp, fmt, v, v2);
  if (k < 0) return;
  if (s->n + (size_t)k < s->cap) memcpy(s->buf + s->n, tmp, (size_t)k);
  s->n += (size_t)k;
}

static void fmt_elem(sbuf *s, const mx_array *a, const char *p) {
  mx_dtype t = a->dtype;
  if (t == MX_BOOL)
    put(s, *(const uint8_t *)p ? "true" : "false", 0, 0);
  else if (t == MX_COMPLEX64)
    put(s, "%g%+gj", ((const float *)p)[0], ((const float *)p)[1]);
  else if (mx_dtype_is_integer(t)) {
    char tmp[32];
    int k =
        t == MX_UINT64
            ? snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)*(const uint64_t *)p)
            : snprintf(tmp, sizeof tmp, "%lld", (long long)mx_load_i64(p, t));
    if (s->n + (size_t)k < s->cap) memcpy(s->buf + s->n, tmp, (size_t)k);
    s->n += (size_t)k;
  } else
    put(s, "%g", mx_load_f64(p, t), 0);
}

static void fmt_rec(sbuf *s, const mx_array *a, const char *p, int d) {
  if (d == a->ndim) {
    fmt_elem(s, a, p);
    return;
  }
  put(s, "[", 0, 0);
  int n = a->shape[d];
  size_t isz = mx_dtype_size(a->dtype);
  for (int i = 0; i < n; i++) {
    if (n > 12 && i == 6) {
      put(s, "..., ", 0, 0);
      i = n - 6;
    }
    fmt_rec(s, a, p + (int64_t)i * a->strides[d] * (int64_t)isz, d + 1);
    if (i + 1 < n) put(s, ", ", 0, 0);
  }
  put(s, "]", 0, 0);
}

size_t mx_array_format(mx_array *a, char *buf, size_t cap) {
  sbuf s = {buf, cap, 0};
  if (ready(a, "format") != MX_OK) {
    put(&s, "array(<error>)", 0, 0);
  } else {
    put(&s, "array(", 0, 0);
    fmt_rec(&s, a, mx_array_ptr(a), 0);
    char tmp[64];
    int k = snprintf(tmp, sizeof tmp, ", dtype=%s)", mx_dtype_name(a->dtype));
    if (s.n + (size_t)k < cap) memcpy(buf + s.n, tmp, (size_t)k);
    s.n += (size_t)k;
  }
  if (cap) buf[s.n < cap ? s.n : cap - 1] = 0;
  return s.n + 1;
}

void mx_array_print(mx_array *a) {
  char small[4096];
  size_t need = mx_array_format(a, small, sizeof small);
  fputs(small, stdout);
  if (need > sizeof small) fputs("...", stdout);
  fputc('\n', stdout);
}
