/* methods.c: Python methods on str, list, tuple and dict values
 * ("x".strip(), d.items(), l.append(x) ...), the template globals (range,
 * dict, namespace, raise_exception, strftime_now), printf-style formatting
 * ("%s" % x and |format) and str.format, and argument binding. String
 * indices are code points, as in Python. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tmpl.h"

#define NAMES(...) ((const char *const[]){__VA_ARGS__})
#define BIND(fname, a, out, nreq, ...)     \
  jt_bind(c, fname, a, NAMES(__VA_ARGS__), \
          (int)(sizeof NAMES(__VA_ARGS__) / sizeof(const char *)), nreq, out)

void jt_bind(jt_ctx *c, const char *f, jt_args *a, const char *const *names, int np,
             int nreq, jv *out) {
  for (int i = 0; i < np; i++) out[i] = jv_absent();
  if (a->n > np) jt_error(c, "%s() takes at most %d argument(s) (%d given)", f, np, a->n);
  for (int i = 0; i < a->n; i++) out[i] = a->pos[i];
  for (int k = 0; k < a->nk; k++) {
    int j = -1;
    for (int i = 0; i < np; i++)
      if (!strcmp(names[i], a->kname[k])) j = i;
    if (j < 0)
      jt_error(c, "%s() got an unexpected keyword argument '%s'", f, a->kname[k]);
    if (out[j].t != JV_ABSENT)
      jt_error(c, "%s() got multiple values for argument '%s'", f, a->kname[k]);
    out[j] = a->kval[k];
  }
  for (int i = 0; i < nreq; i++)
    if (out[i].t == JV_ABSENT)
      jt_error(c, "%s() missing required argument '%s'", f, names[i]);
}

jv jt_make_func(jt_ctx *c, const char *name, jt_builtin fn, const jv *self) {
  jfunc *f = jt_alloc(&c->ar, sizeof *f);
  f->name = name;
  f->fn = fn;
  f->self = NULL;
  if (self) {
    f->self = jt_alloc(&c->ar, sizeof(jv));
    *f->self = *self;
  }
  return (jv){.t = JV_FUNC, .fn = f};
}

static jv mkstr(jt_ctx *c, const char *p, size_t n) { return jv_str(&c->ar, p, n); }

static jstr *need_str(jt_ctx *c, jv v, const char *what) {
  if (v.t != JV_STR) jt_error(c, "%s must be str, not %s", what, jv_typename(v));
  return v.s;
}

static int64_t opt_int(jt_ctx *c, jv v, int64_t d, const char *what) {
  return v.t == JV_ABSENT || v.t == JV_NONE ? d : jt_to_index(c, v, what);
}

/* byte offset of code point index i (0 <= i <= len) */
static size_t cp_off(jstr *s, int64_t i) {
  if (ju_is_ascii(s)) return (size_t)i;
  size_t o = 0, l;
  for (int64_t k = 0; k < i && o < s->n; k++) {
    ju_decode(s->p + o, s->n - o, &l);
    o += l;
  }
  return o;
}
static int64_t cp_index(jstr *s, size_t off) {
  if (ju_is_ascii(s)) return (int64_t)off;
  int64_t k = 0;
  size_t l;
  for (size_t o = 0; o < off; o += l, k++) ju_decode(s->p + o, s->n - o, &l);
  return k;
}

/* [start, end) of a slice s[start:end] as byte offsets; false if empty/out */
static bool sub_range(jt_ctx *c, jstr *s, jv st, jv en, size_t *b0, size_t *b1,
                      int64_t *cp0) {
  int64_t len = ju_len(s);
  int64_t a = opt_int(c, st, 0, "start"), b = opt_int(c, en, len, "end");
  if (a < 0) a = a + len < 0 ? 0 : a + len;
  if (b < 0) b = b + len < 0 ? 0 : b + len;
  if (b > len) b = len;
  *cp0 = a;
  if (a > len) return false;
  if (a > b) b = a;
  *b0 = cp_off(s, a);
  *b1 = cp_off(s, b);
  return true;
}

/* ---- str methods ---- */

#define SELF_S (self.s)

static jv s_strip(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("strip", a, p, 0, "chars");
  return jt_strip(c, SELF_S, p[0], 3);
}
static jv s_lstrip(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("lstrip", a, p, 0, "chars");
  return jt_strip(c, SELF_S, p[0], 1);
}
static jv s_rstrip(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("rstrip", a, p, 0, "chars");
  return jt_strip(c, SELF_S, p[0], 2);
}
static jv s_upper(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "upper", a, NULL, 0, 0, NULL);
  return ju_upper(c, SELF_S);
}
static jv s_lower(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "lower", a, NULL, 0, 0, NULL);
  return ju_lower(c, SELF_S);
}
static jv s_title(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "title", a, NULL, 0, 0, NULL);
  return ju_title_py(c, SELF_S);
}
static jv s_capitalize(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "capitalize", a, NULL, 0, 0, NULL);
  return ju_capitalize(c, SELF_S);
}
static jv s_swapcase(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "swapcase", a, NULL, 0, 0, NULL);
  jstr *s = SELF_S;
  jt_buf b = {0};
  size_t l;
  for (size_t i = 0; i < s->n; i += l) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &l);
    jstr *one = jt_newstr(&c->ar, s->p + i, l);
    jv r = ju_isupper(cp)   ? ju_lower(c, one)
           : ju_islower(cp) ? ju_upper(c, one)
                            : jv_strobj(one);
    jt_buf_put(c, &b, r.s->p, r.s->n);
  }
  return jt_buf_take(c, &b);
}

static jlist *split_ws(jt_ctx *c, jstr *s, int64_t maxsplit) {
  jlist *out = jl_new(&c->ar, 0);
  size_t i = 0, n = s->n, l;
  int64_t left = maxsplit < 0 ? INT64_MAX : maxsplit;
  while (left-- > 0) {
    while (i < n && ju_isspace(ju_decode(s->p + i, n - i, &l))) i += l;
    if (i == n) break;
    size_t j = i;
    while (i < n && !ju_isspace(ju_decode(s->p + i, n - i, &l))) i += l;
    jl_push(&c->ar, out, mkstr(c, s->p + j, i - j));
  }
  if (i < n) {
    while (i < n && ju_isspace(ju_decode(s->p + i, n - i, &l))) i += l;
    if (i != n) jl_push(&c->ar, out, mkstr(c, s->p + i, n - i));
  }
  return out;
}

/* byte offset where the code point ending at `end` starts */
static size_t prev_cp(jstr *s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && ((unsigned char)s->p[i] & 0xC0) == 0x80 && end - i < 4) i--;
  size_t l;
  ju_decode(s->p + i, s->n - i, &l);
  return i + l == end ? i : end - 1;
}

static jlist *rsplit_ws(jt_ctx *c, jstr *s, int64_t maxsplit) {
  jlist *tmp = jl_new(&c->ar, 0);
  size_t i = s->n, l;
  int64_t left = maxsplit < 0 ? INT64_MAX : maxsplit;
  while (left-- > 0) {
    while (i > 0) {
      size_t p = prev_cp(s, i);
      if (!ju_isspace(ju_decode(s->p + p, s->n - p, &l))) break;
      i = p;
    }
    if (i == 0) break;
    size_t j = i;
    while (i > 0) {
      size_t p = prev_cp(s, i);
      if (ju_isspace(ju_decode(s->p + p, s->n - p, &l))) break;
      i = p;
    }
    jl_push(&c->ar, tmp, mkstr(c, s->p + i, j - i));
  }
  if (i > 0) {
    while (i > 0) {
      size_t p = prev_cp(s, i);
      if (!ju_isspace(ju_decode(s->p + p, s->n - p, &l))) break;
      i = p;
    }
    if (i > 0) jl_push(&c->ar, tmp, mkstr(c, s->p, i));
  }
  jlist *out = jl_new(&c->ar, tmp->n);
  for (size_t k = 0; k < tmp->n; k++) out->v[k] = tmp->v[tmp->n - 1 - k];
  out->n = tmp->n;
  return out;
}

static const char *rmemmem(const char *h, size_t hn, const char *nd, size_t nn) {
  if (nn > hn) return NULL;
  for (size_t i = hn - nn + 1; i-- > 0;)
    if (memcmp(h + i, nd, nn) == 0) return h + i;
  return NULL;
}

static jv split_common(jt_ctx *c, jv self, jt_args *a, bool right) {
  jv p[2];
  BIND(right ? "rsplit" : "split", a, p, 0, "sep", "maxsplit");
  int64_t maxsplit = opt_int(c, p[1], -1, "maxsplit");
  jstr *s = SELF_S;
  if (p[0].t == JV_ABSENT || p[0].t == JV_NONE)
    return jv_list(right ? rsplit_ws(c, s, maxsplit) : split_ws(c, s, maxsplit));
  jstr *sep = need_str(c, p[0], "separator");
  if (sep->n == 0) jt_error(c, "empty separator");
  jlist *out = jl_new(&c->ar, 0);
  int64_t done = 0;
  if (!right) {
    const char *q = s->p, *e = s->p + s->n, *f;
    while ((maxsplit < 0 || done < maxsplit) &&
           (f = memmem(q, (size_t)(e - q), sep->p, sep->n))) {
      jl_push(&c->ar, out, mkstr(c, q, (size_t)(f - q)));
      q = f + sep->n;
      done++;
    }
    jl_push(&c->ar, out, mkstr(c, q, (size_t)(e - q)));
    return jv_list(out);
  }
  size_t end = s->n;
  const char *f;
  while ((maxsplit < 0 || done < maxsplit) && (f = rmemmem(s->p, end, sep->p, sep->n))) {
    size_t at = (size_t)(f - s->p);
    jl_push(&c->ar, out, mkstr(c, f + sep->n, end - at - sep->n));
    end = at;
    done++;
  }
  jl_push(&c->ar, out, mkstr(c, s->p, end));
  for (size_t i = 0; i < out->n / 2; i++) {
    jv t = out->v[i];
    out->v[i] = out->v[out->n - 1 - i];
    out->v[out->n - 1 - i] = t;
  }
  return jv_list(out);
}
static jv s_split(jt_ctx *c, jv self, jt_args *a) {
  return split_common(c, self, a, false);
}
static jv s_rsplit(jt_ctx *c, jv self, jt_args *a) {
  return split_common(c, self, a, true);
}

static jv s_splitlines(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("splitlines", a, p, 0, "keepends");
  return jv_list(jt_splitlines(c, SELF_S, p[0].t != JV_ABSENT && jv_truthy(p[0])));
}

static jv affix(jt_ctx *c, jv self, jt_args *a, bool end) {
  jv p[3];
  BIND(end ? "endswith" : "startswith", a, p, 1, "prefix", "start", "end");
  jstr *s = SELF_S;
  size_t b0, b1;
  int64_t cp0;
  if (!sub_range(c, s, p[1], p[2], &b0, &b1, &cp0)) return jv_bool(false);
  jv *cands = &p[0];
  size_t nc = 1;
  if (p[0].t == JV_TUPLE) {
    cands = p[0].l->v;
    nc = p[0].l->n;
  }
  for (size_t i = 0; i < nc; i++) {
    if (cands[i].t != JV_STR)
      jt_error(c, "%s first arg must be str or a tuple of str, not %s",
               end ? "endswith" : "startswith", jv_typename(cands[i]));
    jstr *x = cands[i].s;
    if (x->n > b1 - b0) continue;
    if (!memcmp(end ? s->p + b1 - x->n : s->p + b0, x->p, x->n)) return jv_bool(true);
  }
  return jv_bool(false);
}
static jv s_startswith(jt_ctx *c, jv self, jt_args *a) {
  return affix(c, self, a, false);
}
static jv s_endswith(jt_ctx *c, jv self, jt_args *a) { return affix(c, self, a, true); }

static int64_t find_common(jt_ctx *c, jv self, jt_args *a, const char *f, bool right) {
  jv p[3];
  jt_bind(c, f, a, NAMES("sub", "start", "end"), 3, 1, p);
  jstr *s = SELF_S, *sub = need_str(c, p[0], "substring");
  size_t b0, b1;
  int64_t cp0;
  if (!sub_range(c, s, p[1], p[2], &b0, &b1, &cp0)) return -1;
  const char *r =
      right ? rmemmem(s->p + b0, b1 - b0, sub->p, sub->n)
            : (sub->n == 0 ? s->p + b0 : memmem(s->p + b0, b1 - b0, sub->p, sub->n));
  if (right && sub->n == 0) r = s->p + b1;
  if (!r) return -1;
  return cp_index(s, (size_t)(r - s->p));
}
static jv s_find(jt_ctx *c, jv self, jt_args *a) {
  return jv_int(find_common(c, self, a, "find", false));
}
static jv s_rfind(jt_ctx *c, jv self, jt_args *a) {
  return jv_int(find_common(c, self, a, "rfind", true));
}
static jv s_index(jt_ctx *c, jv self, jt_args *a) {
  int64_t r = find_common(c, self, a, "index", false);
  if (r < 0) jt_error(c, "substring not found");
  return jv_int(r);
}
static jv s_rindex(jt_ctx *c, jv self, jt_args *a) {
  int64_t r = find_common(c, self, a, "rindex", true);
  if (r < 0) jt_error(c, "substring not found");
  return jv_int(r);
}

static jv s_count(jt_ctx *c, jv self, jt_args *a) {
  jv p[3];
  BIND("count", a, p, 1, "sub", "start", "end");
  jstr *s = SELF_S, *sub = need_str(c, p[0], "substring");
  size_t b0, b1;
  int64_t cp0;
  if (!sub_range(c, s, p[1], p[2], &b0, &b1, &cp0)) return jv_int(0);
  if (sub->n == 0) {
    return jv_int(cp_index(s, b1) - cp_index(s, b0) + 1);
  }
  int64_t k = 0;
  const char *q = s->p + b0, *e = s->p + b1, *f;
  while ((f = memmem(q, (size_t)(e - q), sub->p, sub->n))) {
    k++;
    q = f + sub->n;
  }
  return jv_int(k);
}

static jv s_replace(jt_ctx *c, jv self, jt_args *a) {
  if (a->nk) jt_error(c, "str.replace() takes no keyword arguments");
  jv p[3];
  BIND("replace", a, p, 2, "old", "new", "count");
  return jt_str_replace(c, SELF_S, need_str(c, p[0], "replace() argument 1"),
                        need_str(c, p[1], "replace() argument 2"),
                        opt_int(c, p[2], -1, "count"));
}

static jv s_join(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("join", a, p, 1, "iterable");
  jlist *items = jv_iter(c, p[0]);
  jt_buf b = {0};
  for (size_t i = 0; i < items->n; i++) {
    if (items->v[i].t != JV_STR)
      jt_error(c, "sequence item %zu: expected str instance, %s found", i,
               jv_typename(items->v[i]));
    if (i) jt_buf_put(c, &b, self.s->p, self.s->n);
    jt_buf_put(c, &b, items->v[i].s->p, items->v[i].s->n);
  }
  return jt_buf_take(c, &b);
}

typedef bool (*cp_pred)(uint32_t);
static jv classify(jt_ctx *c, jv self, jt_args *a, const char *f, cp_pred pred) {
  jt_bind(c, f, a, NULL, 0, 0, NULL);
  jstr *s = SELF_S;
  if (s->n == 0) return jv_bool(false);
  size_t l;
  for (size_t i = 0; i < s->n; i += l)
    if (!pred(ju_decode(s->p + i, s->n - i, &l))) return jv_bool(false);
  return jv_bool(true);
}
static jv s_isdigit(jt_ctx *c, jv self, jt_args *a) {
  return classify(c, self, a, "isdigit", ju_isdigit);
}
static jv s_isdecimal(jt_ctx *c, jv self, jt_args *a) {
  return classify(c, self, a, "isdecimal", ju_isdigit);
}
static jv s_isnumeric(jt_ctx *c, jv self, jt_args *a) {
  return classify(c, self, a, "isnumeric", ju_isdigit);
}
static jv s_isalpha(jt_ctx *c, jv self, jt_args *a) {
  return classify(c, self, a, "isalpha", ju_isalpha);
}
static jv s_isalnum(jt_ctx *c, jv self, jt_args *a) {
  return classify(c, self, a, "isalnum", ju_isalnum);
}
static jv s_isspace(jt_ctx *c, jv self, jt_args *a) {
  return classify(c, self, a, "isspace", ju_isspace);
}
static jv case_check(jt_ctx *c, jv self, jt_args *a, bool upper) {
  jt_bind(c, upper ? "isupper" : "islower", a, NULL, 0, 0, NULL);
  bool cased = false;
  jstr *s = SELF_S;
  size_t l;
  for (size_t i = 0; i < s->n; i += l) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &l);
    if (ju_istitle(cp) || (upper ? ju_islower(cp) : ju_isupper(cp)))
      return jv_bool(false);
    if (upper ? ju_isupper(cp) : ju_islower(cp)) cased = true;
  }
  return jv_bool(cased);
}
static jv s_isupper(jt_ctx *c, jv self, jt_args *a) {
  return case_check(c, self, a, true);
}
static jv s_islower(jt_ctx *c, jv self, jt_args *a) {
  return case_check(c, self, a, false);
}

static jv padm(jt_ctx *c, jv self, jt_args *a, const char *f, int align) {
  jv p[2];
  jt_bind(c, f, a, NAMES("width", "fillchar"), 2, 1, p);
  uint32_t fill = ' ';
  if (p[1].t != JV_ABSENT) {
    jstr *fs = need_str(c, p[1], "fill character");
    if (ju_len(fs) != 1)
      jt_error(c, "The fill character must be exactly one character long");
    size_t l;
    fill = ju_decode(fs->p, fs->n, &l);
  }
  return jt_pad(c, SELF_S, jt_to_index(c, p[0], "width"), align, fill);
}
static jv s_center(jt_ctx *c, jv self, jt_args *a) {
  return padm(c, self, a, "center", '^');
}
static jv s_ljust(jt_ctx *c, jv self, jt_args *a) {
  return padm(c, self, a, "ljust", '<');
}
static jv s_rjust(jt_ctx *c, jv self, jt_args *a) {
  return padm(c, self, a, "rjust", '>');
}
static jv s_zfill(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("zfill", a, p, 1, "width");
  jstr *s = SELF_S;
  int64_t w = jt_to_index(c, p[0], "width"), len = ju_len(s);
  if (w <= len) return self;
  if ((size_t)(w - len) > c->t->opt.max_output) jt_error(c, "zfill too wide");
  jt_buf b = {0};
  size_t sign = s->n && (s->p[0] == '+' || s->p[0] == '-');
  jt_buf_put(c, &b, s->p, sign);
  for (int64_t i = 0; i < w - len; i++) jt_buf_putc(c, &b, '0');
  jt_buf_put(c, &b, s->p + sign, s->n - sign);
  return jt_buf_take(c, &b);
}

static jv partition(jt_ctx *c, jv self, jt_args *a, bool right) {
  jv p[1];
  jt_bind(c, right ? "rpartition" : "partition", a, NAMES("sep"), 1, 1, p);
  jstr *s = SELF_S, *sep = need_str(c, p[0], "separator");
  if (sep->n == 0) jt_error(c, "empty separator");
  const char *f =
      right ? rmemmem(s->p, s->n, sep->p, sep->n) : memmem(s->p, s->n, sep->p, sep->n);
  jlist *t = jl_new(&c->ar, 3);
  if (!f) {
    t->v[0] = right ? mkstr(c, "", 0) : self;
    t->v[1] = mkstr(c, "", 0);
    t->v[2] = right ? self : mkstr(c, "", 0);
  } else {
    size_t at = (size_t)(f - s->p);
    t->v[0] = mkstr(c, s->p, at);
    t->v[1] = p[0];
    t->v[2] = mkstr(c, f + sep->n, s->n - at - sep->n);
  }
  t->n = 3;
  return jv_tuple(t);
}
static jv s_partition(jt_ctx *c, jv self, jt_args *a) {
  return partition(c, self, a, false);
}
static jv s_rpartition(jt_ctx *c, jv self, jt_args *a) {
  return partition(c, self, a, true);
}

static jv s_removeprefix(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("removeprefix", a, p, 1, "prefix");
  jstr *s = SELF_S, *x = need_str(c, p[0], "prefix");
  if (x->n <= s->n && !memcmp(s->p, x->p, x->n))
    return mkstr(c, s->p + x->n, s->n - x->n);
  return self;
}
static jv s_removesuffix(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("removesuffix", a, p, 1, "suffix");
  jstr *s = SELF_S, *x = need_str(c, p[0], "suffix");
  if (x->n && x->n <= s->n && !memcmp(s->p + s->n - x->n, x->p, x->n))
    return mkstr(c, s->p, s->n - x->n);
  return self;
}

jv jt_str_format(jt_ctx *c, jstr *fmt, jt_args *a);
static jv s_format(jt_ctx *c, jv self, jt_args *a) { return jt_str_format(c, SELF_S, a); }

/* ---- list and tuple methods ---- */

static jv l_append(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("append", a, p, 1, "object");
  jl_push(&c->ar, self.l, p[0]);
  return jv_none();
}
static jv l_extend(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("extend", a, p, 1, "iterable");
  jlist *src = jv_iter(c, p[0]);
  size_t n = src->n; /* l.extend(l) appends a copy of the original */
  jv *tmp = jt_alloc(&c->ar, (n + 1) * sizeof(jv));
  memcpy(tmp, src->v, n * sizeof(jv));
  for (size_t i = 0; i < n; i++) jl_push(&c->ar, self.l, tmp[i]);
  return jv_none();
}
static jv l_insert(jt_ctx *c, jv self, jt_args *a) {
  jv p[2];
  BIND("insert", a, p, 2, "index", "object");
  int64_t n = (int64_t)self.l->n, i = jt_to_index(c, p[0], "index");
  if (i < 0) i = i + n < 0 ? 0 : i + n;
  if (i > n) i = n;
  jl_push(&c->ar, self.l, jv_none());
  memmove(self.l->v + i + 1, self.l->v + i, (size_t)(n - i) * sizeof(jv));
  self.l->v[i] = p[1];
  return jv_none();
}
static jv l_pop(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("pop", a, p, 0, "index");
  int64_t n = (int64_t)self.l->n, i = opt_int(c, p[0], -1, "index");
  if (n == 0) jt_error(c, "pop from empty list");
  if (i < 0) i += n;
  if (i < 0 || i >= n) jt_error(c, "pop index out of range");
  jv r = self.l->v[i];
  memmove(self.l->v + i, self.l->v + i + 1, (size_t)(n - i - 1) * sizeof(jv));
  self.l->n--;
  return r;
}
static int64_t l_find(jt_ctx *c, jv self, jv x) {
  for (size_t i = 0; i < self.l->n; i++)
    if (jv_eq(c, self.l->v[i], x)) return (int64_t)i;
  return -1;
}
static jv l_remove(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("remove", a, p, 1, "value");
  int64_t i = l_find(c, self, p[0]);
  if (i < 0) jt_error(c, "list.remove(x): x not in list");
  memmove(self.l->v + i, self.l->v + i + 1, (self.l->n - (size_t)i - 1) * sizeof(jv));
  self.l->n--;
  return jv_none();
}
static jv l_index(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("index", a, p, 1, "value");
  int64_t i = l_find(c, self, p[0]);
  if (i < 0) {
    jt_buf b = {0};
    jv_write_repr(c, &b, p[0], 0);
    jt_buf_putc(c, &b, 0);
    jt_error(c, "%s is not in %s", b.p, jv_typename(self));
  }
  return jv_int(i);
}
static jv l_count(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("count", a, p, 1, "value");
  int64_t k = 0;
  for (size_t i = 0; i < self.l->n; i++) k += jv_eq(c, self.l->v[i], p[0]);
  return jv_int(k);
}
static jv l_reverse(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "reverse", a, NULL, 0, 0, NULL);
  jlist *l = self.l;
  for (size_t i = 0; i < l->n / 2; i++) {
    jv t = l->v[i];
    l->v[i] = l->v[l->n - 1 - i];
    l->v[l->n - 1 - i] = t;
  }
  return jv_none();
}
static jv l_copy(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "copy", a, NULL, 0, 0, NULL);
  jlist *l = jl_new(&c->ar, self.l->n);
  if (self.l->n) memcpy(l->v, self.l->v, self.l->n * sizeof(jv));
  l->n = self.l->n;
  return jv_list(l);
}
static jv l_clear(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "clear", a, NULL, 0, 0, NULL);
  self.l->n = 0;
  return jv_none();
}
static jv l_sort(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("sort", a, p, 0, "reverse");
  jlist *l = self.l;
  bool rev = p[0].t != JV_ABSENT && jv_truthy(p[0]);
  size_t *ord = jt_sort_order(c, l->v, l->n, rev);
  jv *tmp = jt_alloc(&c->ar, (l->n + 1) * sizeof(jv));
  for (size_t i = 0; i < l->n; i++) tmp[i] = l->v[ord[i]];
  if (l->n) memcpy(l->v, tmp, l->n * sizeof(jv));
  return jv_none();
}

/* ---- dict methods ---- */

static jv pair(jt_ctx *c, jv k, jv v) {
  jlist *t = jl_new(&c->ar, 2);
  t->v[0] = k;
  t->v[1] = v;
  t->n = 2;
  return jv_tuple(t);
}
static jv d_get(jt_ctx *c, jv self, jt_args *a) {
  jv p[2];
  BIND("get", a, p, 1, "key", "default");
  jv *v = jd_get(c, self.d, p[0]);
  return v ? *v : (p[1].t == JV_ABSENT ? jv_none() : p[1]);
}
static jv d_items(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "items", a, NULL, 0, 0, NULL);
  jlist *l = jl_new(&c->ar, self.d->n);
  for (size_t i = 0; i < self.d->n; i++) l->v[i] = pair(c, self.d->k[i], self.d->v[i]);
  l->n = self.d->n;
  return jv_list(l);
}
static jv d_keys(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "keys", a, NULL, 0, 0, NULL);
  return jv_list(jv_iter(c, self));
}
static jv d_values(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "values", a, NULL, 0, 0, NULL);
  jlist *l = jl_new(&c->ar, self.d->n);
  if (self.d->n) memcpy(l->v, self.d->v, self.d->n * sizeof(jv));
  l->n = self.d->n;
  return jv_list(l);
}
static _Noreturn void key_error(jt_ctx *c, jv k) {
  jt_buf b = {0};
  jv_write_repr(c, &b, k, 0);
  jt_buf_putc(c, &b, 0);
  jt_error(c, "KeyError: %s", b.p);
}
static jv d_pop(jt_ctx *c, jv self, jt_args *a) {
  jv p[2];
  BIND("pop", a, p, 1, "key", "default");
  jv old;
  if (jd_del(c, self.d, p[0], &old)) return old;
  if (p[1].t != JV_ABSENT) return p[1];
  key_error(c, p[0]);
}
static jv d_setdefault(jt_ctx *c, jv self, jt_args *a) {
  jv p[2];
  BIND("setdefault", a, p, 1, "key", "default");
  jv *v = jd_get(c, self.d, p[0]);
  if (v) return *v;
  jv d = p[1].t == JV_ABSENT ? jv_none() : p[1];
  jd_set(c, self.d, p[0], d);
  return d;
}
static jv d_update(jt_ctx *c, jv self, jt_args *a) {
  if (a->n > 1) jt_error(c, "update expected at most 1 argument, got %d", a->n);
  if (a->n == 1) {
    jv o = a->pos[0];
    if (o.t == JV_DICT || o.t == JV_NS) {
      for (size_t i = 0; i < o.d->n; i++) jd_set(c, self.d, o.d->k[i], o.d->v[i]);
    } else {
      jlist *items = jv_iter(c, o);
      for (size_t i = 0; i < items->n; i++) {
        jlist *kv = jv_iter(c, items->v[i]);
        if (kv->n != 2)
          jt_error(
              c, "dictionary update sequence element #%zu has length %zu; 2 is required",
              i, kv->n);
        jd_set(c, self.d, kv->v[0], kv->v[1]);
      }
    }
  }
  for (int k = 0; k < a->nk; k++)
    jd_set(c, self.d, jv_cstr(&c->ar, a->kname[k]), a->kval[k]);
  return jv_none();
}
static jv d_copy(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "copy", a, NULL, 0, 0, NULL);
  return jv_dict(jd_copy(c, self.d));
}
static jv d_clear(jt_ctx *c, jv self, jt_args *a) {
  jt_bind(c, "clear", a, NULL, 0, 0, NULL);
  self.d->n = 0;
  self.d->idx = NULL;
  return jv_none();
}

typedef struct {
  const char *name;
  jt_builtin fn;
} meth;

static const meth STR_METHODS[] = {{"capitalize", s_capitalize},
                                   {"center", s_center},
                                   {"count", s_count},
                                   {"endswith", s_endswith},
                                   {"find", s_find},
                                   {"format", s_format},
                                   {"index", s_index},
                                   {"isalnum", s_isalnum},
                                   {"isalpha", s_isalpha},
                                   {"isdecimal", s_isdecimal},
                                   {"isdigit", s_isdigit},
                                   {"islower", s_islower},
                                   {"isnumeric", s_isnumeric},
                                   {"isspace", s_isspace},
                                   {"isupper", s_isupper},
                                   {"join", s_join},
                                   {"ljust", s_ljust},
                                   {"lower", s_lower},
                                   {"lstrip", s_lstrip},
                                   {"partition", s_partition},
                                   {"removeprefix", s_removeprefix},
                                   {"removesuffix", s_removesuffix},
                                   {"replace", s_replace},
                                   {"rfind", s_rfind},
                                   {"rindex", s_rindex},
                                   {"rjust", s_rjust},
                                   {"rpartition", s_rpartition},
                                   {"rsplit", s_rsplit},
                                   {"rstrip", s_rstrip},
                                   {"split", s_split},
                                   {"splitlines", s_splitlines},
                                   {"startswith", s_startswith},
                                   {"strip", s_strip},
                                   {"swapcase", s_swapcase},
                                   {"title", s_title},
                                   {"upper", s_upper},
                                   {"zfill", s_zfill},
                                   {"casefold", s_lower},
                                   {NULL, NULL}};

static const meth LIST_METHODS[] = {
    {"append", l_append},   {"clear", l_clear},   {"copy", l_copy},
    {"count", l_count},     {"extend", l_extend}, {"index", l_index},
    {"insert", l_insert},   {"pop", l_pop},       {"remove", l_remove},
    {"reverse", l_reverse}, {"sort", l_sort},     {NULL, NULL}};

static const meth TUPLE_METHODS[] = {
    {"count", l_count}, {"index", l_index}, {NULL, NULL}};

static const meth DICT_METHODS[] = {{"clear", d_clear},
                                    {"copy", d_copy},
                                    {"get", d_get},
                                    {"items", d_items},
                                    {"keys", d_keys},
                                    {"pop", d_pop},
                                    {"setdefault", d_setdefault},
                                    {"update", d_update},
                                    {"values", d_values},
                                    {NULL, NULL}};

static const meth *find_method(jv obj, const char *name) {
  const meth *t = obj.t == JV_STR     ? STR_METHODS
                  : obj.t == JV_LIST  ? LIST_METHODS
                  : obj.t == JV_TUPLE ? TUPLE_METHODS
                  : obj.t == JV_DICT  ? DICT_METHODS
                                      : NULL;
  if (!t || (obj.t == JV_LIST && obj.l->lazy)) return NULL; /* a generator */
  for (; t->name; t++)
    if (!strcmp(t->name, name)) return t;
  return NULL;
}

bool jt_has_method(jv obj, const char *name) { return find_method(obj, name) != NULL; }

jv jt_method(jt_ctx *c, jv obj, const char *name) {
  const meth *m = find_method(obj, name);
  if (!m) return jv_undef_attr(c, obj, name);
  return jt_make_func(c, m->name, m->fn, &obj);
}

/* ---- globals ---- */

static jv g_range(jt_ctx *c, jv self, jt_args *a) {
  if (a->nk) jt_error(c, "range() takes no keyword arguments");
  if (a->n < 1 || a->n > 3) jt_error(c, "range expected 1 to 3 arguments, got %d", a->n);
  for (int i = 0; i < a->n; i++)
    if (a->pos[i].t != JV_INT && a->pos[i].t != JV_BOOL) {
      if (a->pos[i].t == JV_UNDEF) jt_undef_fail(c, a->pos[i]);
      jt_error(c, "'%s' object cannot be interpreted as an integer",
               jv_typename(a->pos[i]));
    }
  int64_t start = 0, stop, step = 1;
  if (a->n == 1) {
    stop = jt_to_index(c, a->pos[0], "stop");
  } else {
    start = jt_to_index(c, a->pos[0], "start");
    stop = jt_to_index(c, a->pos[1], "stop");
    if (a->n == 3) step = jt_to_index(c, a->pos[2], "step");
  }
  if (step == 0) jt_error(c, "range() arg 3 must not be zero");
  /* length computed without overflow */
  double dn = step > 0 ? ((double)stop - (double)start) / (double)step
                       : ((double)start - (double)stop) / (double)-step;
  int64_t n = 0;
  if (dn > 0) {
    if (dn > 100000) /* jinja2's sandbox limit */
      jt_error(
          c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    n = step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step;
  }
  jt_step(c, n);
  jlist *l = jl_new(&c->ar, (size_t)n);
  for (int64_t i = 0; i < n; i++) l->v[i] = jv_int(start + i * step);
  l->n = (size_t)n;
  return jv_list(l);
}

static jdict *dict_from_args(jt_ctx *c, jt_args *a, const char *f) {
  jdict *d = jd_new(&c->ar, 0);
  jv dv = jv_dict(d);
  jt_args upd = *a;
  if (a->n > 1) jt_error(c, "%s expected at most 1 argument, got %d", f, a->n);
  d_update(c, dv, &upd);
  return d;
}
static jv g_dict(jt_ctx *c, jv self, jt_args *a) {
  return jv_dict(dict_from_args(c, a, "dict"));
}
static jv g_namespace(jt_ctx *c, jv self, jt_args *a) {
  return (jv){.t = JV_NS, .d = dict_from_args(c, a, "namespace")};
}

static jv g_raise(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("raise_exception", a, p, 1, "message");
  jt_error(c, "%s", jv_to_str(c, p[0])->p);
}

static jv g_strftime_now(jt_ctx *c, jv self, jt_args *a) {
  jv p[1];
  BIND("strftime_now", a, p, 1, "format");
  jstr *fmt = need_str(c, p[0], "format");
  const mx_template_options *o = &c->t->opt;
  time_t t = o->fixed_time ? (time_t)o->time : time(NULL);
  struct tm tm;
  if (!(o->fixed_time ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)))
    jt_error(c, "strftime_now: time out of range");
  if (fmt->n == 0) return mkstr(c, "", 0);
  size_t cap = fmt->n * 16 + 64;
  if (cap > 1 << 20) jt_error(c, "strftime_now: format too long");
  char *buf = jt_alloc(&c->ar, cap);
  size_t n = strftime(buf, cap, fmt->p, &tm);
  return mkstr(c, buf, n);
}

jv jt_global(jt_ctx *c, const char *name) {
  static const meth G[] = {{"range", g_range},
                           {"dict", g_dict},
                           {"namespace", g_namespace},
                           {"raise_exception", g_raise},
                           {"strftime_now", g_strftime_now},
                           {NULL, NULL}};
  for (const meth *g = G; g->name; g++)
    if (!strcmp(g->name, name)) return jt_make_func(c, g->name, g->fn, NULL);
  return jv_absent();
}

/* ---- printf-style formatting: "%s" % x ---- */

/* one more decimal digit of a format width or precision; saturates far
 * above any allowed value (the callers' limit check then reports it) */
static int64_t fmt_digit(int64_t v, char d) {
  if (v < 0) v = 0;
  return v > ((int64_t)1 << 40) ? v : v * 10 + (d - '0');
}

/* sign/prefix + digits with width, '-' and '0' flags (Python's rules) */
static void pad_number(jt_ctx *c, jt_buf *b, const char *sign, const char *digits,
                       int64_t width, bool left, bool zero) {
  int64_t len = (int64_t)(strlen(sign) + strlen(digits));
  int64_t pad = width > len ? width - len : 0;
  if ((size_t)pad > c->t->opt.max_output) jt_error(c, "format width too large");
  if (!left && !zero)
    for (int64_t i = 0; i < pad; i++) jt_buf_putc(c, b, ' ');
  jt_buf_puts(c, b, sign);
  if (!left && zero)
    for (int64_t i = 0; i < pad; i++) jt_buf_putc(c, b, '0');
  jt_buf_puts(c, b, digits);
  if (left)
    for (int64_t i = 0; i < pad; i++) jt_buf_putc(c, b, ' ');
}

static void pad_text(jt_ctx *c, jt_buf *b, jstr *s, int64_t width, int64_t prec,
                     bool left) {
  int64_t n = ju_len(s);
  size_t bytes = s->n;
  if (prec >= 0 && prec < n) {
    bytes = 0;
    size_t l;
    for (int64_t k = 0; k < prec; k++) {
      ju_decode(s->p + bytes, s->n - bytes, &l);
      bytes += l;
    }
    n = prec;
  }
  int64_t pad = width > n ? width - n : 0;
  if ((size_t)pad > c->t->opt.max_output) jt_error(c, "format width too large");
  if (!left)
    for (int64_t i = 0; i < pad; i++) jt_buf_putc(c, b, ' ');
  jt_buf_put(c, b, s->p, bytes);
  if (left)
    for (int64_t i = 0; i < pad; i++) jt_buf_putc(c, b, ' ');
}

static void utoa_base(uint64_t v, int base, bool upper, char *out) {
  char t[72];
  int k = 0;
  const char *dg = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    t[k++] = dg[v % (uint64_t)base];
    v /= (uint64_t)base;
  } while (v);
  for (int i = 0; i < k; i++) out[i] = t[k - 1 - i];
  out[k] = 0;
}

jv jt_percent_format(jt_ctx *c, jstr *fmt, jv args, bool fmt_safe) {
  jv *pos;
  int npos;
  const jdict *map = NULL;
  if (args.t == JV_TUPLE) {
    pos = args.l->v;
    npos = (int)args.l->n;
  } else {
    pos = &args;
    npos = 1;
    if (args.t == JV_DICT) map = args.d;
  }
  int ai = 0;
  jt_buf b = {0};
  const char *p = fmt->p, *e = fmt->p + fmt->n;
  while (p < e) {
    const char *q = memchr(p, '%', (size_t)(e - p));
    if (!q) {
      jt_buf_put(c, &b, p, (size_t)(e - p));
      break;
    }
    jt_buf_put(c, &b, p, (size_t)(q - p));
    p = q + 1;
    if (p >= e) jt_error(c, "incomplete format");
    jv val = jv_absent();
    if (*p == '(') {
      if (!map) jt_error(c, "format requires a mapping");
      int depth = 1;
      const char *ks = ++p;
      while (p < e && depth) {
        if (*p == '(')
          depth++;
        else if (*p == ')')
          depth--;
        p++;
      }
      if (depth) jt_error(c, "incomplete format key");
      jv key = mkstr(c, ks, (size_t)(p - 1 - ks));
      jv *v = jd_get(c, map, key);
      if (!v) key_error(c, key);
      val = *v;
    }
    bool left = false, plus = false, space = false, alt = false, zero = false;
    for (; p < e && strchr("-+ #0", *p); p++) {
      if (*p == '-')
        left = true;
      else if (*p == '+')
        plus = true;
      else if (*p == ' ')
        space = true;
      else if (*p == '#')
        alt = true;
      else
        zero = true;
    }
    int64_t width = -1, prec = -1;
    if (p < e && *p == '*') {
      if (ai >= npos) jt_error(c, "not enough arguments for format string");
      width = jt_to_index(c, pos[ai++], "* width");
      if (width < -(int64_t)c->t->opt.max_output) jt_error(c, "format width too large");
      if (width < 0) {
        left = true;
        width = -width;
      }
      p++;
    } else {
      for (; p < e && *p >= '0' && *p <= '9'; p++) width = fmt_digit(width, *p);
    }
    if (p < e && *p == '.') {
      p++;
      prec = 0;
      if (p < e && *p == '*') {
        if (ai >= npos) jt_error(c, "not enough arguments for format string");
        prec = jt_to_index(c, pos[ai++], "* precision");
        p++;
      } else {
        for (; p < e && *p >= '0' && *p <= '9'; p++) prec = fmt_digit(prec, *p);
      }
    }
    if (width > (int64_t)c->t->opt.max_output || prec > 10000)
      jt_error(c, "format width too large");
    while (p < e && (*p == 'h' || *p == 'l' || *p == 'L')) p++;
    if (p >= e) jt_error(c, "incomplete format");
    char conv = *p++;
    if (conv == '%') {
      jt_buf_putc(c, &b, '%');
      continue;
    }
    if (val.t == JV_ABSENT) {
      if (ai >= npos) jt_error(c, "not enough arguments for format string");
      val = pos[ai++];
    }
    if (val.t == JV_UNDEF && conv != 's' && conv != 'r' && conv != 'a')
      jt_undef_fail(c, val);
    const char *sign = "";
    char digits[400];
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        jstr *s;
        if (conv == 's') {
          s = jv_to_str(c, val);
        } else {
          jt_buf rb = {0};
          jv_write_repr(c, &rb, val, 0);
          s = jt_buf_take(c, &rb).s;
        }
        if (fmt_safe && !(val.t == JV_STR && val.safe)) s = jt_html_escape(c, s).s;
        pad_text(c, &b, s, width, prec, left);
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        int64_t iv;
        if (val.t == JV_INT || val.t == JV_BOOL) {
          iv = val.t == JV_INT ? val.i : val.b;
        } else if (val.t == JV_FLOAT && (conv == 'd' || conv == 'i' || conv == 'u')) {
          if (isnan(val.f) || isinf(val.f) || fabs(val.f) >= 9.2e18)
            jt_error(c, "cannot convert float to integer");
          iv = (int64_t)val.f;
        } else {
          jt_error(c, "%%%c format: %s is required, not %s", conv,
                   strchr("diu", conv) ? "a real number" : "an integer",
                   jv_typename(val));
        }
        uint64_t mag = iv < 0 ? (uint64_t)0 - (uint64_t)iv : (uint64_t)iv;
        int base = conv == 'o' ? 8 : (conv == 'x' || conv == 'X') ? 16 : 10;
        char raw[72];
        utoa_base(mag, base, conv == 'X', raw);
        /* precision = minimum digits */
        size_t rl = strlen(raw);
        size_t k = 0;
        if (prec > 0 && (size_t)prec > rl)
          for (size_t z = 0; z < (size_t)prec - rl; z++) digits[k++] = '0';
        memcpy(digits + k, raw, rl + 1);
        char sg[8];
        snprintf(sg, sizeof sg, "%s%s",
                 iv < 0  ? "-"
                 : plus  ? "+"
                 : space ? " "
                         : "",
                 alt && base == 8    ? "0o"
                 : alt && base == 16 ? (conv == 'X' ? "0X" : "0x")
                                     : "");
        pad_number(c, &b, sg, digits, width, left, zero);
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        double f;
        if (val.t == JV_FLOAT)
          f = val.f;
        else if (val.t == JV_INT)
          f = (double)val.i;
        else if (val.t == JV_BOOL)
          f = val.b;
        else
          jt_error(c, "must be real number, not %s", jv_typename(val));
        char cf[32];
        snprintf(cf, sizeof cf, "%%%s%s%s%s%s.%d%c", left ? "-" : "", plus ? "+" : "",
                 space ? " " : "", alt ? "#" : "",
                 zero && !isinf(f) && !isnan(f) ? "0" : "", (int)(prec < 0 ? 6 : prec),
                 conv);
        /* the width is applied by hand so huge widths stay bounded */
        char num[400];
        snprintf(num, sizeof num, cf, f);
        if (width > 0 && (int64_t)strlen(num) < width) {
          const char *sg2 = "";
          char *dg = num;
          if (zero && !left && !isinf(f) && !isnan(f) &&
              (num[0] == '-' || num[0] == '+' || num[0] == ' ')) {
            sign = num[0] == '-' ? "-" : num[0] == '+' ? "+" : " ";
            sg2 = sign;
            dg = num + 1;
          }
          pad_number(c, &b, sg2, dg, width, left, zero && !isinf(f) && !isnan(f));
        } else {
          jt_buf_puts(c, &b, num);
        }
        break;
      }
      case 'c': {
        char t[8];
        size_t n;
        if (val.t == JV_INT) {
          if (val.i < 0 || val.i > 0x10FFFF)
            jt_error(c, "%%c arg not in range(0x110000)");
          n = ju_encode((uint32_t)val.i, t);
        } else if (val.t == JV_STR && ju_len(val.s) == 1) {
          n = val.s->n;
          memcpy(t, val.s->p, n);
        } else {
          jt_error(c, "%%c requires int or char");
        }
        jstr *s = jt_newstr(&c->ar, t, n);
        pad_text(c, &b, s, width, -1, left);
        break;
      }
      default:
        jt_error(c, "unsupported format character '%c'", conv);
    }
  }
  /* Python skips this check when the argument has __getitem__ (dict, list,
   * Undefined) */
  if (ai < npos && !map && args.t != JV_LIST && args.t != JV_UNDEF)
    jt_error(c, "not all arguments converted during string formatting");
  jv r = jt_buf_take(c, &b);
  r.safe = fmt_safe; /* Markup % x escapes x and stays Markup */
  return r;
}

/* ---- str.format ---- */

static void group_digits(char *digits, char sep, int every) {
  size_t n = strlen(digits);
  char *dot = strchr(digits, '.');
  size_t ip = dot ? (size_t)(dot - digits) : n;
  if (ip <= (size_t)every) return;
  char t[512];
  size_t k = 0;
  for (size_t i = 0; i < ip; i++) {
    if (i && (ip - i) % (size_t)every == 0) t[k++] = sep;
    t[k++] = digits[i];
  }
  memcpy(t + k, digits + ip, n - ip + 1);
  memcpy(digits, t, k + n - ip + 1);
}

static void format_spec(jt_ctx *c, jt_buf *b, jv v, jstr *spec) {
  const char *s = spec->p, *e = s + spec->n;
  uint32_t fill = ' ';
  char align = 0, signc = '-', type = 0, grouping = 0;
  bool alt = false, zero = false;
  int64_t width = -1, prec = -1;
  size_t l = 0;
  if (s < e) {
    uint32_t cp = ju_decode(s, (size_t)(e - s), &l);
    if (s + l < e && strchr("<>=^", s[l])) {
      fill = cp;
      align = s[l];
      s += l + 1;
    } else if (strchr("<>=^", *s)) {
      align = *s++;
    }
  }
  if (s < e && strchr("+- ", *s)) signc = *s++;
  if (s < e && *s == '#') alt = true, s++;
  if (s < e && *s == '0') zero = true, s++;
  for (; s < e && *s >= '0' && *s <= '9'; s++) width = fmt_digit(width, *s);
  if (s < e && (*s == ',' || *s == '_')) grouping = *s++;
  if (s < e && *s == '.') {
    s++;
    prec = 0;
    for (; s < e && *s >= '0' && *s <= '9'; s++) prec = fmt_digit(prec, *s);
  }
  if (s < e) type = *s++;
  if (s != e) jt_error(c, "Invalid format specifier");
  if (width > (int64_t)c->t->opt.max_output || prec > 1000)
    jt_error(c, "format width too large");
  if (zero && !align) {
    fill = '0';
    align = '=';
  }
  char body[512] = "";
  const char *sign = "", *prefix = "";
  jstr *text = NULL;
  if (v.t == JV_BOOL && spec->n == 0) v = mkstr(c, v.b ? "True" : "False", v.b ? 4 : 5);
  if ((v.t == JV_INT || v.t == JV_BOOL) && (!type || strchr("bcdoxXn", type))) {
    int64_t iv = v.t == JV_INT ? v.i : v.b;
    if (type == 'c') {
      char t[8];
      size_t n = ju_encode((uint32_t)iv, t);
      text = jt_newstr(&c->ar, t, n);
    } else {
      uint64_t mag = iv < 0 ? (uint64_t)0 - (uint64_t)iv : (uint64_t)iv;
      int base = type == 'b'                    ? 2
                 : type == 'o'                  ? 8
                 : (type == 'x' || type == 'X') ? 16
                                                : 10;
      utoa_base(mag, base, type == 'X', body);
      if (grouping) group_digits(body, grouping, base == 10 ? 3 : 4);
      sign = iv < 0 ? "-" : signc == '+' ? "+" : signc == ' ' ? " " : "";
      if (alt)
        prefix = base == 2    ? "0b"
                 : base == 8  ? "0o"
                 : base == 16 ? (type == 'X' ? "0X" : "0x")
                              : "";
    }
  } else if (jv_is_num(v) && (!type || strchr("eEfFgGn%", type))) {
    double f = v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : v.b;
    double mag = fabs(f);
    sign = signbit(f) && !isnan(f) ? "-" : signc == '+' ? "+" : signc == ' ' ? " " : "";
    if (!type && prec < 0) {
      jt_float_repr(mag, body, sizeof body);
    } else {
      char t = type ? type : 'g';
      if (t == 'n') t = 'g';
      int pr = (int)(prec < 0 ? 6 : prec);
      if (t == '%') {
        snprintf(body, sizeof body, alt ? "%#.*f%%" : "%.*f%%", pr, mag * 100);
      } else {
        char cf[16];
        snprintf(cf, sizeof cf, alt ? "%%#.*%c" : "%%.*%c", t);
        snprintf(body, sizeof body, cf, pr, mag);
      }
      if (!type && !strpbrk(body, ".en") && !isinf(mag)) strcat(body, ".0");
    }
    if (grouping) group_digits(body, grouping, 3);
  } else if (v.t == JV_STR) {
    if (type && type != 's')
      jt_error(c, "Unknown format code '%c' for object of type 'str'", type);
    text = v.s;
  } else {
    if (spec->n)
      jt_error(c, "unsupported format string passed to %s.__format__", jv_typename(v));
    text = jv_to_str(c, v);
  }
  jt_buf inner = {0};
  int64_t len;
  if (text) {
    size_t bytes = text->n;
    len = ju_len(text);
    if (prec >= 0 && prec < len) {
      bytes = 0;
      for (int64_t k = 0; k < prec; k++) {
        ju_decode(text->p + bytes, text->n - bytes, &l);
        bytes += l;
      }
      len = prec;
    }
    jt_buf_put(c, &inner, text->p, bytes);
    if (!align) align = '<';
  } else {
    len = (int64_t)(strlen(sign) + strlen(prefix) + strlen(body));
    if (!align) align = '>';
  }
  char f[4];
  size_t fl = ju_encode(fill, f);
  int64_t pad = width > len ? width - len : 0;
  int64_t lp = align == '<' ? 0 : align == '^' ? pad / 2 : align == '=' ? 0 : pad;
  int64_t rp = align == '=' ? 0 : pad - lp;
  for (int64_t i = 0; i < lp; i++) jt_buf_put(c, b, f, fl);
  if (text) {
    jt_buf_put(c, b, inner.p, inner.n);
  } else {
    jt_buf_puts(c, b, sign);
    jt_buf_puts(c, b, prefix);
    if (align == '=')
      for (int64_t i = 0; i < pad; i++) jt_buf_put(c, b, f, fl);
    jt_buf_puts(c, b, body);
  }
  for (int64_t i = 0; i < rp; i++) jt_buf_put(c, b, f, fl);
}

jv jt_str_format(jt_ctx *c, jstr *fmt, jt_args *a) {
  jt_buf b = {0};
  const char *p = fmt->p, *e = fmt->p + fmt->n;
  int auto_idx = 0;
  bool manual = false;
  while (p < e) {
    char ch = *p;
    if (ch == '}') {
      if (p + 1 < e && p[1] == '}') {
        jt_buf_putc(c, &b, '}');
        p += 2;
        continue;
      }
      jt_error(c, "Single '}' encountered in format string");
    }
    if (ch != '{') {
      jt_buf_putc(c, &b, ch);
      p++;
      continue;
    }
    if (p + 1 < e && p[1] == '{') {
      jt_buf_putc(c, &b, '{');
      p += 2;
      continue;
    }
    /* a replacement field, with one level of nested {} in the spec */
    const char *st = ++p;
    int depth = 1;
    while (p < e && depth) {
      if (*p == '{')
        depth++;
      else if (*p == '}')
        depth--;
      if (depth) p++;
    }
    if (p >= e) jt_error(c, "expected '}' before end of string");
    const char *fe = p++; /* field is [st, fe) */
    const char *colon = NULL, *bang = NULL;
    for (const char *q = st; q < fe; q++) {
      if (*q == '[') {
        while (q < fe && *q != ']') q++;
        continue;
      }
      if (*q == '!' && !bang && !colon) bang = q;
      if (*q == ':') {
        colon = q;
        break;
      }
    }
    const char *ne = bang ? bang : colon ? colon : fe;
    /* first part of the name: index or keyword */
    const char *q = st;
    while (q < ne && *q != '.' && *q != '[') q++;
    jv val;
    if (q == st) {
      if (manual)
        jt_error(
            c,
            "cannot switch from manual field specification to automatic field numbering");
      if (auto_idx >= a->n)
        jt_error(c, "Replacement index %d out of range for positional args tuple",
                 auto_idx);
      val = a->pos[auto_idx++];
    } else if (*st >= '0' && *st <= '9') {
      manual = true;
      int64_t i = 0;
      for (const char *d = st; d < q; d++) {
        if (*d < '0' || *d > '9') jt_error(c, "invalid field name in format string");
        i = i * 10 + (*d - '0');
        if (i > 1000000) break;
      }
      if (i >= a->n)
        jt_error(
            c, "Replacement index %" PRId64 " out of range for positional args tuple", i);
      val = a->pos[i];
    } else {
      int k;
      for (k = 0; k < a->nk; k++)
        if (strlen(a->kname[k]) == (size_t)(q - st) &&
            !memcmp(a->kname[k], st, (size_t)(q - st)))
          break;
      if (k == a->nk) key_error(c, mkstr(c, st, (size_t)(q - st)));
      val = a->kval[k];
    }
    while (q < ne) { /* .attr and [key] trailers */
      if (*q == '.') {
        const char *s2 = ++q;
        while (q < ne && *q != '.' && *q != '[') q++;
        val = jt_getattr(c, val, jt_strndup(&c->ar, s2, (size_t)(q - s2)));
      } else if (*q == '[') {
        const char *s2 = ++q;
        while (q < ne && *q != ']') q++;
        jv key = mkstr(c, s2, (size_t)(q - s2));
        int64_t iv;
        if (jt_parse_int(key.s, 10, &iv) && key.s->n && key.s->p[0] >= '0' &&
            key.s->p[0] <= '9')
          key = jv_int(iv);
        val = jt_getitem(c, val, key);
        q++;
      } else {
        jt_error(c, "invalid field name in format string");
      }
    }
    if (bang) {
      char conv = bang + 1 < fe ? bang[1] : 0;
      if (conv == 'r' || conv == 'a') {
        jt_buf rb = {0};
        jv_write_repr(c, &rb, val, 0);
        val = jt_buf_take(c, &rb);
      } else if (conv == 's') {
        val = jv_strobj(jv_to_str(c, val));
      } else {
        jt_error(c, "Unknown conversion specifier");
      }
    }
    jstr *spec = jt_newstr(&c->ar, "", 0);
    if (colon) {
      spec = jt_newstr(&c->ar, colon + 1, (size_t)(fe - colon - 1));
      if (memchr(spec->p, '{', spec->n)) spec = jt_str_format(c, spec, a).s;
    }
    format_spec(c, &b, val, spec);
  }
  return jt_buf_take(c, &b);
}
