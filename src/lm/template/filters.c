/* filters.c: jinja2's built-in filters and tests, with transformers'
 * tojson (json.dumps with ensure_ascii=False and Python's separators).
 *
 * Where jinja2 returns a generator (select, map, reverse, items, ...), these
 * return a list marked lazy: always true and not subscriptable, as a
 * generator is; |length and slicing work where Python would fail. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

#define NAMES(...) ((const char *const[]){__VA_ARGS__})
#define BIND(fname, a, out, nreq, ...)     \
  jt_bind(c, fname, a, NAMES(__VA_ARGS__), \
          (int)(sizeof NAMES(__VA_ARGS__) / sizeof(const char *)), nreq, out)

static jv dflt(jv v, jv d) { return v.t == JV_ABSENT ? d : v; }
static bool arg_bool(jv v, bool d) { return v.t == JV_ABSENT ? d : jv_truthy(v); }

static void no_args(jt_ctx *c, const char *f, jt_args *a) {
  if (a->n || a->nk) jt_error(c, "%s() takes no arguments", f);
}

static jv mkstr(jt_ctx *c, const char *p, size_t n) { return jv_str(&c->ar, p, n); }

/* ---- attribute paths ("a.b.0") as make_attrgetter builds them ---- */

typedef struct {
  jv *parts;
  int n;
} apath;

static apath make_path(jt_ctx *c, jv attr) {
  apath p = {0};
  if (attr.t == JV_ABSENT || attr.t == JV_NONE) return p;
  if (attr.t != JV_STR) {
    p.parts = jt_alloc(&c->ar, sizeof(jv));
    p.parts[0] = attr;
    p.n = 1;
    return p;
  }
  jstr *s = attr.s;
  int cnt = 1;
  for (size_t i = 0; i < s->n; i++) cnt += s->p[i] == '.';
  p.parts = jt_alloc(&c->ar, (size_t)cnt * sizeof(jv));
  size_t st = 0;
  for (size_t i = 0; i <= s->n; i++) {
    if (i < s->n && s->p[i] != '.') continue;
    bool digits = i > st;
    int64_t v = 0;
    for (size_t k = st; k < i; k++) {
      if (s->p[k] < '0' || s->p[k] > '9' || v > INT64_MAX / 10 - 10) {
        digits = false;
        break;
      }
      v = v * 10 + (s->p[k] - '0');
    }
    p.parts[p.n++] = digits ? jv_int(v) : mkstr(c, s->p + st, i - st);
    st = i + 1;
  }
  return p;
}

static jv lower_if_str(jt_ctx *c, jv v) { return v.t == JV_STR ? ju_lower(c, v.s) : v; }

static jv follow(jt_ctx *c, jv item, const apath *p, jv dflt_v) {
  for (int i = 0; i < p->n; i++) {
    item = jt_getitem(c, item, p->parts[i]);
    if (dflt_v.t != JV_ABSENT && dflt_v.t != JV_NONE && item.t == JV_UNDEF) item = dflt_v;
  }
  return item;
}

/* ---- sorting (stable merge sort, errors unwind through jt_error) ---- */

typedef struct {
  jt_ctx *c;
  const jv *keys;
  bool reverse;
} sortctx;

static bool before(sortctx *s, size_t a, size_t b) { /* strictly before */
  int r = s->reverse ? jv_cmp(s->c, s->keys[b], s->keys[a], "<")
                     : jv_cmp(s->c, s->keys[a], s->keys[b], "<");
  return r < 0;
}

static void msort(sortctx *s, size_t *v, size_t *tmp, size_t n) {
  if (n < 2) return;
  size_t h = n / 2;
  msort(s, v, tmp, h);
  msort(s, v + h, tmp, n - h);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) tmp[k++] = before(s, v[j], v[i]) ? v[j++] : v[i++];
  while (i < h) tmp[k++] = v[i++];
  while (j < n) tmp[k++] = v[j++];
  memcpy(v, tmp, n * sizeof *v);
}

size_t *jt_sort_order(jt_ctx *c, const jv *keys, size_t n, bool reverse) {
  jt_step(c, (int64_t)n);
  size_t *ord = jt_alloc(&c->ar, (n + 1) * sizeof *ord);
  size_t *tmp = jt_alloc(&c->ar, (n + 1) * sizeof *tmp);
  for (size_t i = 0; i < n; i++) ord[i] = i;
  sortctx s = {c, keys, reverse};
  msort(&s, ord, tmp, n);
  return ord;
}

/* sort `items` by keys; returns the new order */
static jlist *sorted(jt_ctx *c, jlist *items, const jv *keys, bool reverse) {
  size_t n = items->n;
  size_t *ord = jt_sort_order(c, keys, n, reverse);
  jlist *o = jl_new(&c->ar, n);
  for (size_t i = 0; i < n; i++) o->v[i] = items->v[ord[i]];
  o->n = n;
  return o;
}

/* a result Python returns as a generator */
static jv gen(jlist *l) {
  l->lazy = true;
  return jv_list(l);
}

/* ---- filters ---- */

static jv f_abs(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "abs", a);
  if (v.t == JV_BOOL) return jv_int(v.b);
  if (v.t == JV_INT) {
    if (v.i == INT64_MIN) jt_error(c, "integer overflow");
    return jv_int(v.i < 0 ? -v.i : v.i);
  }
  if (v.t == JV_FLOAT) return jv_float(fabs(v.f));
  if (v.t == JV_UNDEF) jt_undef_fail(c, v);
  jt_error(c, "bad operand type for abs(): '%s'", jv_typename(v));
}

static jv f_attr(jt_ctx *c, jv v, jt_args *a) {
  jv p[1];
  BIND("attr", a, p, 1, "name");
  jstr *name = jv_to_str(c, p[0]);
  if (v.t == JV_UNDEF) jt_undef_fail(c, v);
  if (v.t == JV_NS) return jt_getattr(c, v, name->p);
  if (jt_has_method(v, name->p) || v.t == JV_LOOP || v.t == JV_MACRO)
    return jt_getattr(c, v, name->p);
  return jv_undef_attr(c, v, name->p);
}

static jv f_batch(jt_ctx *c, jv v, jt_args *a) {
  jv p[2];
  BIND("batch", a, p, 1, "linecount", "fill_with");
  int64_t n = jt_to_index(c, p[0], "linecount");
  /* jinja2's loop as written (a non-positive size gives odd but defined
   * results there too) */
  jlist *items = jv_iter(c, v), *out = jl_new(&c->ar, 0), *cur = jl_new(&c->ar, 0);
  for (size_t i = 0; i < items->n; i++) {
    if ((int64_t)cur->n == n) {
      jl_push(&c->ar, out, jv_list(cur));
      cur = jl_new(&c->ar, 0);
    }
    jl_push(&c->ar, cur, items->v[i]);
  }
  if (cur->n) {
    if (p[1].t != JV_ABSENT && p[1].t != JV_NONE)
      while ((int64_t)cur->n < n) jl_push(&c->ar, cur, p[1]);
    jl_push(&c->ar, out, jv_list(cur));
  }
  return gen(out);
}

static jv f_capitalize(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "capitalize", a);
  return ju_capitalize(c, jv_to_str(c, v));
}

/* Python's str.center */
jv jt_pad(jt_ctx *c, jstr *s, int64_t width, int align, uint32_t fill) {
  int64_t len = ju_len(s);
  if (width <= len) return jv_strobj(s);
  int64_t marg = width - len, left;
  if (align == '<')
    left = 0;
  else if (align == '>')
    left = marg;
  else
    left = marg / 2 + (marg & width & 1);
  char f[4];
  size_t fl = ju_encode(fill, f);
  if ((size_t)marg > c->t->opt.max_output / fl)
    jt_error(c, "padding exceeds the output limit");
  jt_buf b = {0};
  for (int64_t i = 0; i < left; i++) jt_buf_put(c, &b, f, fl);
  jt_buf_put(c, &b, s->p, s->n);
  for (int64_t i = left; i < marg; i++) jt_buf_put(c, &b, f, fl);
  return jt_buf_take(c, &b);
}

static jv f_center(jt_ctx *c, jv v, jt_args *a) {
  jv p[1];
  BIND("center", a, p, 0, "width");
  return jt_pad(c, jv_to_str(c, v), jt_to_index(c, dflt(p[0], jv_int(80)), "width"), '^',
                ' ');
}

static jv f_default(jt_ctx *c, jv v, jt_args *a) {
  jv p[2];
  BIND("default", a, p, 0, "default_value", "boolean");
  jv d = p[0].t == JV_ABSENT ? mkstr(c, "", 0) : p[0];
  if (v.t == JV_UNDEF || (arg_bool(p[1], false) && !jv_truthy(v))) return d;
  return v;
}

static jv f_dictsort(jt_ctx *c, jv v, jt_args *a) {
  jv p[3];
  BIND("dictsort", a, p, 0, "case_sensitive", "by", "reverse");
  bool cs = arg_bool(p[0], false), rev = arg_bool(p[2], false);
  int pos = 0;
  if (p[1].t != JV_ABSENT) {
    jstr *by = jv_to_str(c, p[1]);
    if (!strcmp(by->p, "value"))
      pos = 1;
    else if (strcmp(by->p, "key") != 0)
      jt_error(c, "You can only sort by either \"key\" or \"value\"");
  }
  if (v.t == JV_UNDEF) jt_undef_fail(c, v);
  if (v.t != JV_DICT) jt_error(c, "'%s' object has no attribute 'items'", jv_typename(v));
  jlist *items = jl_new(&c->ar, v.d->n);
  jv *keys = jt_alloc(&c->ar, (v.d->n + 1) * sizeof(jv));
  for (size_t i = 0; i < v.d->n; i++) {
    jlist *t = jl_new(&c->ar, 2);
    t->v[0] = v.d->k[i];
    t->v[1] = v.d->v[i];
    t->n = 2;
    items->v[i] = jv_tuple(t);
    keys[i] = pos ? v.d->v[i] : v.d->k[i];
    if (!cs) keys[i] = lower_if_str(c, keys[i]);
  }
  items->n = v.d->n;
  return jv_list(sorted(c, items, keys, rev));
}

/* groupby: sort by the attribute, then (grouper, list) named tuples */
static jv f_groupby(jt_ctx *c, jv v, jt_args *a) {
  static const char *const fields[] = {"grouper", "list", NULL};
  jv p[3];
  BIND("groupby", a, p, 1, "attribute", "default", "case_sensitive");
  bool cs = arg_bool(p[2], false);
  apath path = make_path(c, p[0]);
  jlist *items = jv_iter(c, v);
  jv *keys = jt_alloc(&c->ar, (items->n + 1) * sizeof(jv));
  jv *real = jt_alloc(&c->ar, (items->n + 1) * sizeof(jv));
  for (size_t i = 0; i < items->n; i++) {
    real[i] = follow(c, items->v[i], &path, p[1]);
    keys[i] = cs ? real[i] : lower_if_str(c, real[i]);
  }
  jlist *order = jl_new(&c->ar, items->n);
  for (size_t i = 0; i < items->n; i++) order->v[i] = jv_int((int64_t)i);
  order->n = items->n;
  jlist *s = sorted(c, order, keys, false);
  jlist *out = jl_new(&c->ar, 0);
  jlist *cur = NULL;
  jv curkey = jv_none();
  for (size_t k = 0; k < s->n; k++) {
    size_t i = (size_t)s->v[k].i;
    if (!cur || !jv_eq(c, keys[i], curkey)) {
      cur = jl_new(&c->ar, 0);
      jlist *t = jl_new(&c->ar, 2);
      t->v[0] = real[i]; /* the first item's own key, not the lower-cased one */
      t->v[1] = jv_list(cur);
      t->n = 2;
      t->fields = fields;
      jl_push(&c->ar, out, jv_tuple(t));
      curkey = keys[i];
    }
    jl_push(&c->ar, cur, items->v[i]);
  }
  return jv_list(out);
}

jv jt_html_escape(jt_ctx *c, jstr *s) {
  jt_buf b = {0};
  size_t run = 0;
  for (size_t i = 0; i < s->n; i++) {
    const char *e = NULL;
    switch (s->p[i]) {
      case '&':
        e = "&amp;";
        break;
      case '<':
        e = "&lt;";
        break;
      case '>':
        e = "&gt;";
        break;
      case '"':
        e = "&#34;";
        break;
      case '\'':
        e = "&#39;";
        break;
    }
    if (e) {
      jt_buf_put(c, &b, s->p + i - run, run);
      run = 0;
      jt_buf_puts(c, &b, e);
    } else {
      run++;
    }
  }
  jt_buf_put(c, &b, s->p + s->n - run, run);
  jv r = jt_buf_take(c, &b);
  r.safe = 1;
  return r;
}

static jv f_escape(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "escape", a);
  if (v.t == JV_STR && v.safe) return v;
  return jt_html_escape(c, jv_to_str(c, v));
}

static jv f_forceescape(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "forceescape", a);
  return jt_html_escape(c, jv_to_str(c, v));
}

static jv f_first(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "first", a);
  jlist *l = jv_iter(c, v);
  return l->n ? l->v[0] : jv_undef_hint(c, "No first item, sequence was empty.");
}

static jv f_last(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "last", a);
  jlist *l = jv_iter(c, v);
  return l->n ? l->v[l->n - 1] : jv_undef_hint(c, "No last item, sequence was empty.");
}

/* Python float(str): whitespace, sign, underscores between digits, inf/nan */
bool jt_parse_float(jstr *s, double *out) {
  const char *p = s->p, *e = s->p + s->n;
  while (p < e && (*p == ' ' || (*p >= 9 && *p <= 13))) p++;
  while (e > p && (e[-1] == ' ' || (e[-1] >= 9 && e[-1] <= 13))) e--;
  if (p == e || e - p > 400) return false;
  char buf[512];
  size_t k = 0;
  for (const char *q = p; q < e; q++) {
    if (*q == '_') {
      if (q == p || q + 1 == e || !(q[-1] >= '0' && q[-1] <= '9') ||
          !(q[1] >= '0' && q[1] <= '9'))
        return false;
      continue;
    }
    buf[k++] = *q;
  }
  buf[k] = 0;
  const char *b = buf;
  if (*b == '+' || *b == '-') b++;
  if (!strcasecmp(b, "inf") || !strcasecmp(b, "infinity") || !strcasecmp(b, "nan")) {
    double r = (b[0] | 32) == 'n' ? NAN : INFINITY;
    *out = buf[0] == '-' ? -r : r;
    return true;
  }
  /* only digits, one point, one exponent: reject hex floats and the like */
  for (const char *q = b; *q; q++)
    if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' ||
          *q == '-'))
      return false;
  char *end;
  *out = strtod(buf, &end);
  return *end == 0 && end != buf;
}

/* Python int(str, base) */
bool jt_parse_int(jstr *s, int base, int64_t *out) {
  const char *p = s->p, *e = s->p + s->n;
  while (p < e && (*p == ' ' || (*p >= 9 && *p <= 13))) p++;
  while (e > p && (e[-1] == ' ' || (e[-1] >= 9 && e[-1] <= 13))) e--;
  bool neg = false;
  if (p < e && (*p == '+' || *p == '-')) neg = *p++ == '-';
  if (p + 1 < e && *p == '0') {
    char x = (char)(p[1] | 32);
    int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
    if (pb && (base == pb || base == 0)) {
      base = pb;
      p += 2;
      if (p < e && *p == '_') p++;
    }
  }
  if (base == 0) base = 10;
  if (p == e) return false;
  uint64_t v = 0;
  bool prev_digit = false;
  for (const char *q = p; q < e; q++) {
    if (*q == '_') {
      if (!prev_digit || q + 1 == e) return false;
      prev_digit = false;
      continue;
    }
    int d = (*q >= '0' && *q <= '9')                 ? *q - '0'
            : ((*q | 32) >= 'a' && (*q | 32) <= 'z') ? (*q | 32) - 'a' + 10
                                                     : 99;
    if (d >= base) return false;
    if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
    v = v * (uint64_t)base + (uint64_t)d;
    prev_digit = true;
  }
  if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) return false;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

static jv f_float(jt_ctx *c, jv v, jt_args *a) {
  jv p[1];
  BIND("float", a, p, 0, "default");
  jv d = dflt(p[0], jv_float(0.0));
  switch (v.t) {
    case JV_UNDEF:
      jt_undef_fail(c, v);
    case JV_FLOAT:
      return v;
    case JV_INT:
      return jv_float((double)v.i);
    case JV_BOOL:
      return jv_float(v.b);
    case JV_STR: {
      double f;
      return jt_parse_float(v.s, &f) ? jv_float(f) : d;
    }
    default:
      return d;
  }
}

static jv f_format(jt_ctx *c, jv v, jt_args *a) {
  if (a->n && a->nk)
    jt_error(c, "can't handle positional and keyword arguments at the same time");
  jv args;
  if (a->nk) {
    jdict *d = jd_new(&c->ar, (size_t)a->nk);
    for (int i = 0; i < a->nk; i++)
      jd_set(c, d, jv_cstr(&c->ar, a->kname[i]), a->kval[i]);
    args = jv_dict(d);
  } else {
    jlist *l = jl_new(&c->ar, (size_t)a->n);
    for (int i = 0; i < a->n; i++) l->v[i] = a->pos[i];
    l->n = (size_t)a->n;
    args = jv_tuple(l);
  }
  return jt_percent_format(c, jv_to_str(c, v), args, v.t == JV_STR && v.safe);
}

/* str.splitlines() without the line ends */
static jlist *splitlines(jt_ctx *c, jstr *s, bool keepends) {
  jlist *l = jl_new(&c->ar, 0);
  size_t st = 0, i = 0, len;
  while (i < s->n) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &len);
    if (ju_islinebreak(cp)) {
      size_t e = i + len;
      if (cp == '\r' && e < s->n && s->p[e] == '\n') e++;
      jl_push(&c->ar, l, mkstr(c, s->p + st, (keepends ? e : i) - st));
      st = i = e;
    } else {
      i += len;
    }
  }
  if (st < s->n) jl_push(&c->ar, l, mkstr(c, s->p + st, s->n - st));
  return l;
}
jlist *jt_splitlines(jt_ctx *c, jstr *s, bool keepends) {
  return splitlines(c, s, keepends);
}

static jv f_indent(jt_ctx *c, jv v, jt_args *a) {
  jv p[3];
  BIND("indent", a, p, 0, "width", "first", "blank");
  jstr *ind;
  if (p[0].t == JV_STR) {
    ind = p[0].s;
  } else {
    int64_t w = jt_to_index(c, dflt(p[0], jv_int(4)), "width");
    if (w < 0) w = 0;
    if ((size_t)w > c->t->opt.max_output) jt_error(c, "indent too wide");
    char *sp = jt_alloc(&c->ar, (size_t)w + 1);
    memset(sp, ' ', (size_t)w);
    ind = jt_newstr(&c->ar, sp, (size_t)w);
  }
  bool first = arg_bool(p[1], false), blank = arg_bool(p[2], false);
  if (v.t == JV_UNDEF) jt_undef_fail(c, v);
  if (v.t != JV_STR) /* jinja2 appends "\n" to the value itself */
    jt_error(c, "indent needs a string, not %s", jv_typename(v));
  jstr *s = v.s;
  jt_buf tmp = {0};
  jt_buf_put(c, &tmp, s->p, s->n);
  jt_buf_putc(c, &tmp, '\n');
  jlist *lines = splitlines(c, jt_buf_take(c, &tmp).s, false);
  jt_buf b = {0};
  if (first) jt_buf_put(c, &b, ind->p, ind->n);
  for (size_t i = 0; i < lines->n; i++) {
    jstr *ln = lines->v[i].s;
    if (i) {
      jt_buf_putc(c, &b, '\n');
      if (blank || ln->n) jt_buf_put(c, &b, ind->p, ind->n);
    }
    jt_buf_put(c, &b, ln->p, ln->n);
  }
  return jt_buf_take(c, &b);
}

static jv f_int(jt_ctx *c, jv v, jt_args *a) {
  jv p[2];
  BIND("int", a, p, 0, "default", "base");
  jv d = dflt(p[0], jv_int(0));
  int64_t base = p[1].t == JV_ABSENT ? 10 : jt_to_index(c, p[1], "base");
  switch (v.t) {
    case JV_UNDEF:
      jt_undef_fail(c, v);
    case JV_INT:
      return v;
    case JV_BOOL:
      return jv_int(v.b);
    case JV_FLOAT:
      if (isnan(v.f) || isinf(v.f))
        jt_error(c, "cannot convert float %s to integer",
                 isnan(v.f) ? "NaN" : "infinity");
      if (fabs(v.f) >= 9.2e18) jt_error(c, "integer overflow");
      return jv_int((int64_t)v.f);
    case JV_STR: {
      int64_t r;
      if (jt_parse_int(v.s, (int)base, &r)) return jv_int(r);
      double f;
      if (jt_parse_float(v.s, &f) && !isnan(f) && !isinf(f) && fabs(f) < 9.2e18)
        return jv_int((int64_t)f);
      return d;
    }
    default:
      return d;
  }
}

static jv f_items(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "items", a);
  if (v.t == JV_UNDEF) return gen(jl_new(&c->ar, 0));
  if (v.t != JV_DICT) jt_error(c, "Can only get item pairs from a mapping.");
  jlist *l = jl_new(&c->ar, v.d->n);
  for (size_t i = 0; i < v.d->n; i++) {
    jlist *t = jl_new(&c->ar, 2);
    t->v[0] = v.d->k[i];
    t->v[1] = v.d->v[i];
    t->n = 2;
    l->v[i] = jv_tuple(t);
  }
  l->n = v.d->n;
  return gen(l);
}

static jv f_join(jt_ctx *c, jv v, jt_args *a) {
  jv p[2];
  BIND("join", a, p, 0, "d", "attribute");
  jstr *sep = p[0].t == JV_ABSENT ? jt_newstr(&c->ar, "", 0) : jv_to_str(c, p[0]);
  apath path = make_path(c, p[1]);
  jlist *items = jv_iter(c, v);
  jt_step(c, (int64_t)items->n);
  jt_buf b = {0};
  for (size_t i = 0; i < items->n; i++) {
    if (i) jt_buf_put(c, &b, sep->p, sep->n);
    jv_write_str(c, &b,
                 path.n ? follow(c, items->v[i], &path, jv_absent()) : items->v[i]);
  }
  return jt_buf_take(c, &b);
}

static jv f_length(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "length", a);
  return jv_int(jv_len(c, v));
}

static jv f_list(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "list", a);
  jlist *src = jv_iter(c, v), *l = jl_new(&c->ar, src->n);
  if (src->n) memcpy(l->v, src->v, src->n * sizeof(jv));
  l->n = src->n;
  return jv_list(l);
}

static jv f_lower(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "lower", a);
  return ju_lower(c, jv_to_str(c, v));
}

static jv f_upper(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "upper", a);
  return ju_upper(c, jv_to_str(c, v));
}

static jv f_map(jt_ctx *c, jv v, jt_args *a) {
  jlist *out = jl_new(&c->ar, 0);
  if (!jv_truthy(v)) return gen(out);
  jlist *items = jv_iter(c, v);
  jt_step(c, (int64_t)items->n);
  int attr_k = -1, def_k = -1;
  for (int i = 0; i < a->nk; i++) {
    if (!strcmp(a->kname[i], "attribute"))
      attr_k = i;
    else if (!strcmp(a->kname[i], "default"))
      def_k = i;
  }
  if (a->n == 0 && attr_k >= 0) {
    for (int i = 0; i < a->nk; i++)
      if (i != attr_k && i != def_k)
        jt_error(c, "Unexpected keyword argument '%s'", a->kname[i]);
    apath path = make_path(c, a->kval[attr_k]);
    jv d = def_k >= 0 ? a->kval[def_k] : jv_absent();
    for (size_t i = 0; i < items->n; i++)
      jl_push(&c->ar, out, follow(c, items->v[i], &path, d));
    return gen(out);
  }
  if (a->n == 0) jt_error(c, "map requires a filter argument");
  jstr *name = jv_to_str(c, a->pos[0]);
  jt_args rest = {a->n - 1, a->pos + 1, a->nk, a->kname, a->kval};
  for (size_t i = 0; i < items->n; i++)
    jl_push(&c->ar, out, jt_apply_filter(c, name->p, items->v[i], &rest));
  return gen(out);
}

static jv minmax(jt_ctx *c, jv v, jt_args *a, const char *f, int sign) {
  jv p[2];
  BIND(f, a, p, 0, "case_sensitive", "attribute");
  bool cs = arg_bool(p[0], false);
  apath path = make_path(c, p[1]);
  jlist *items = jv_iter(c, v);
  if (!items->n) return jv_undef_hint(c, "No aggregated item, sequence was empty.");
  jt_step(c, (int64_t)items->n);
  size_t best = 0;
  jv bk = jv_none();
  for (size_t i = 0; i < items->n; i++) {
    jv k = path.n ? follow(c, items->v[i], &path, jv_absent()) : items->v[i];
    if (!cs) k = lower_if_str(c, k);
    if (i == 0 || jv_cmp(c, k, bk, "<") * sign < 0) {
      best = i;
      bk = k;
    }
  }
  return items->v[best];
}
static jv f_max(jt_ctx *c, jv v, jt_args *a) { return minmax(c, v, a, "max", -1); }
static jv f_min(jt_ctx *c, jv v, jt_args *a) { return minmax(c, v, a, "min", 1); }

static jv f_pprint(jt_ctx *c, jv v, jt_args *a) {
  jt_buf b = {0};
  jv_write_repr(c, &b, v, 0);
  return jt_buf_take(c, &b);
}

/* str.replace(old, new, count) on code points */
jv jt_str_replace(jt_ctx *c, jstr *s, jstr *old, jstr *rep, int64_t count) {
  if (count == 0) return jv_strobj(s);
  jt_buf b = {0};
  if (old->n == 0) { /* insert between code points (and at both ends) */
    size_t i = 0, l;
    int64_t done = 0;
    while (true) {
      if (count < 0 || done < count) {
        jt_buf_put(c, &b, rep->p, rep->n);
        done++;
      }
      if (i >= s->n) break;
      ju_decode(s->p + i, s->n - i, &l);
      jt_buf_put(c, &b, s->p + i, l);
      i += l;
    }
    return jt_buf_take(c, &b);
  }
  const char *p = s->p, *e = s->p + s->n;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const char *f = memmem(p, (size_t)(e - p), old->p, old->n);
    if (!f) break;
    jt_buf_put(c, &b, p, (size_t)(f - p));
    jt_buf_put(c, &b, rep->p, rep->n);
    p = f + old->n;
    done++;
  }
  jt_buf_put(c, &b, p, (size_t)(e - p));
  return jt_buf_take(c, &b);
}

static jv f_replace(jt_ctx *c, jv v, jt_args *a) {
  jv p[3];
  BIND("replace", a, p, 2, "old", "new", "count");
  int64_t count =
      p[2].t == JV_ABSENT || p[2].t == JV_NONE ? -1 : jt_to_index(c, p[2], "count");
  return jt_str_replace(c, jv_to_str(c, v), jv_to_str(c, p[0]), jv_to_str(c, p[1]),
                        count);
}

static jv f_reverse(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "reverse", a);
  if (v.t == JV_STR) {
    int64_t n;
    uint32_t *cp = ju_cps(c, v.s, &n);
    for (int64_t i = 0; i < n / 2; i++) {
      uint32_t t = cp[i];
      cp[i] = cp[n - 1 - i];
      cp[n - 1 - i] = t;
    }
    return ju_from_cps(c, cp, n);
  }
  jlist *src = jv_iter(c, v), *l = jl_new(&c->ar, src->n);
  for (size_t i = 0; i < src->n; i++) l->v[i] = src->v[src->n - 1 - i];
  l->n = src->n;
  return gen(l);
}

/* Python's round(x, ndigits): correctly rounded, ties to even */
static double py_round(double x, int64_t nd) {
  if (isnan(x) || isinf(x)) return x;
  if (nd > 300) return x;
  if (nd >= 0) {
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", (int)nd, x);
    return strtod(buf, NULL);
  }
  if (nd < -308) return copysign(0.0, x);
  double p = pow(10.0, (double)-nd);
  return nearbyint(x / p) * p;
}

static jv f_round(jt_ctx *c, jv v, jt_args *a) {
  jv p[2];
  BIND("round", a, p, 0, "precision", "method");
  int64_t prec = p[0].t == JV_ABSENT ? 0 : jt_to_index(c, p[0], "precision");
  const char *method = p[1].t == JV_ABSENT ? "common" : jv_to_str(c, p[1])->p;
  if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
    jt_error(c, "method must be common, ceil or floor");
  if (v.t == JV_UNDEF) jt_undef_fail(c, v);
  if (!jv_is_num(v))
    jt_error(c, "type %s doesn't define __round__ method", jv_typename(v));
  if (!strcmp(method, "common")) {
    if (v.t != JV_FLOAT) {
      int64_t i = v.t == JV_INT ? v.i : v.b;
      if (prec >= 0) return jv_int(i);
      if (prec < -18) return jv_int(0);
      int64_t m = 1;
      for (int64_t k = 0; k < -prec; k++) m *= 10;
      int64_t q = i / m, r = i % m;
      if (r < 0) {
        r += m;
        q -= 1;
      }
      if (2 * r > m || (2 * r == m && (q & 1))) q += 1;
      return jv_int(q * m);
    }
    return jv_float(py_round(v.f, prec));
  }
  double x = v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : v.b;
  double m = pow(10.0, (double)prec);
  double r = (method[0] == 'c' ? ceil(x * m) : floor(x * m)) / m;
  return jv_float(r);
}

static jv f_safe(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "safe", a);
  jv s = jv_strobj(jv_to_str(c, v));
  s.safe = 1;
  return s;
}

/* select / reject / selectattr / rejectattr */
static jv select_common(jt_ctx *c, jv v, jt_args *a, bool attr, bool want) {
  jlist *out = jl_new(&c->ar, 0);
  if (!jv_truthy(v)) return gen(out);
  int off = 0;
  apath path = {0};
  if (attr) {
    if (a->n < 1) jt_error(c, "Missing parameter for attribute name");
    path = make_path(c, a->pos[0]);
    off = 1;
  }
  const char *test = a->n > off ? jv_to_str(c, a->pos[off])->p : NULL;
  jt_args rest = {a->n > off ? a->n - off - 1 : 0, a->pos + off + 1, a->nk, a->kname,
                  a->kval};
  jlist *items = jv_iter(c, v);
  jt_step(c, (int64_t)items->n);
  for (size_t i = 0; i < items->n; i++) {
    jv x = attr ? follow(c, items->v[i], &path, jv_absent()) : items->v[i];
    bool r = test ? jt_apply_test(c, test, x, &rest) : jv_truthy(x);
    if (r == want) jl_push(&c->ar, out, items->v[i]);
  }
  return gen(out);
}
static jv f_select(jt_ctx *c, jv v, jt_args *a) {
  return select_common(c, v, a, false, true);
}
static jv f_reject(jt_ctx *c, jv v, jt_args *a) {
  return select_common(c, v, a, false, false);
}
static jv f_selectattr(jt_ctx *c, jv v, jt_args *a) {
  return select_common(c, v, a, true, true);
}
static jv f_rejectattr(jt_ctx *c, jv v, jt_args *a) {
  return select_common(c, v, a, true, false);
}

static jv f_sort(jt_ctx *c, jv v, jt_args *a) {
  jv p[3];
  BIND("sort", a, p, 0, "reverse", "case_sensitive", "attribute");
  bool rev = arg_bool(p[0], false), cs = arg_bool(p[1], false);
  /* "a,b" sorts by several attributes; every key is a list, as in jinja2 */
  int nattr = 1;
  apath *paths;
  if (p[2].t == JV_STR) {
    jstr *s = p[2].s;
    for (size_t i = 0; i < s->n; i++) nattr += s->p[i] == ',';
    paths = jt_alloc(&c->ar, (size_t)nattr * sizeof *paths);
    size_t st = 0;
    int k = 0;
    for (size_t i = 0; i <= s->n; i++)
      if (i == s->n || s->p[i] == ',') {
        paths[k++] = make_path(c, mkstr(c, s->p + st, i - st));
        st = i + 1;
      }
  } else {
    paths = jt_alloc(&c->ar, sizeof *paths);
    paths[0] = make_path(c, p[2]);
  }
  jlist *items = jv_iter(c, v);
  jv *keys = jt_alloc(&c->ar, (items->n + 1) * sizeof(jv));
  for (size_t i = 0; i < items->n; i++) {
    jlist *k = jl_new(&c->ar, (size_t)nattr);
    for (int j = 0; j < nattr; j++) {
      jv x = paths[j].n ? follow(c, items->v[i], &paths[j], jv_absent()) : items->v[i];
      k->v[j] = cs ? x : lower_if_str(c, x);
    }
    k->n = (size_t)nattr;
    keys[i] = jv_list(k);
  }
  return jv_list(sorted(c, items, keys, rev));
}

static jv f_string(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "string", a);
  if (v.t == JV_STR) return v;
  return jv_strobj(jv_to_str(c, v));
}

static jv f_sum(jt_ctx *c, jv v, jt_args *a) {
  jv p[2];
  BIND("sum", a, p, 0, "attribute", "start");
  apath path = make_path(c, p[0]);
  jv acc = dflt(p[1], jv_int(0));
  jlist *items = jv_iter(c, v);
  jt_step(c, (int64_t)items->n);
  for (size_t i = 0; i < items->n; i++)
    acc = jt_binop(c, OP_ADD, acc,
                   path.n ? follow(c, items->v[i], &path, jv_absent()) : items->v[i]);
  return acc;
}

static jv f_title(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "title", a);
  return ju_title_jinja(c, jv_to_str(c, v));
}

static jv f_tojson(jt_ctx *c, jv v, jt_args *a) {
  jv p[4];
  BIND("tojson", a, p, 0, "ensure_ascii", "indent", "separators", "sort_keys");
  jt_json_opts o = {0};
  o.ensure_ascii = arg_bool(p[0], false);
  o.sort_keys = arg_bool(p[3], false);
  jv ind = p[1];
  if (ind.t == JV_STR) {
    o.indent = ind.s->p;
  } else if (ind.t == JV_INT || ind.t == JV_BOOL) {
    int64_t w = ind.t == JV_INT ? ind.i : ind.b;
    if (w < 0) w = 0;
    if (w > 4096) jt_error(c, "indent too wide");
    char *sp = jt_alloc(&c->ar, (size_t)w + 1);
    memset(sp, ' ', (size_t)w);
    sp[w] = 0;
    o.indent = sp;
  } else if (ind.t != JV_ABSENT && ind.t != JV_NONE) {
    jt_error(c, "indent must be an int or a string");
  }
  o.item_sep = o.indent ? "," : ", ";
  o.key_sep = ": ";
  if (p[2].t != JV_ABSENT && p[2].t != JV_NONE) {
    if (!jv_is_seq(p[2]) || p[2].l->n != 2 || p[2].l->v[0].t != JV_STR ||
        p[2].l->v[1].t != JV_STR)
      jt_error(c, "separators must be a pair of strings");
    o.item_sep = p[2].l->v[0].s->p;
    o.key_sep = p[2].l->v[1].s->p;
  }
  jt_buf b = {0};
  jv_write_json(c, &b, v, &o, 0);
  return jt_buf_take(c, &b);
}

/* str.strip(chars) family: which = 1 left, 2 right, 3 both */
jv jt_strip(jt_ctx *c, jstr *s, jv chars, int which) {
  int64_t nc = 0;
  uint32_t *set = NULL;
  bool ws = chars.t == JV_ABSENT || chars.t == JV_NONE;
  if (!ws) {
    if (chars.t != JV_STR) jt_error(c, "strip arg must be None or str");
    set = ju_cps(c, chars.s, &nc);
  }
  size_t st = 0, en = s->n, l;
  /* scan code points; keep byte offsets of the first and last kept one */
  size_t first = s->n, last_end = 0;
  for (size_t i = 0; i < s->n; i += l) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &l);
    bool strip;
    if (ws) {
      strip = ju_isspace(cp);
    } else {
      strip = false;
      for (int64_t k = 0; k < nc; k++)
        if (set[k] == cp) strip = true;
    }
    if (!strip) {
      if (first == s->n) first = i;
      last_end = i + l;
    }
  }
  if (first == s->n) { /* everything strippable */
    if (which == 1) return mkstr(c, "", 0);
    if (which == 2) return mkstr(c, "", 0);
    return mkstr(c, "", 0);
  }
  if (which & 1) st = first;
  if (which & 2) en = last_end;
  if (st == 0 && en == s->n) return jv_strobj(s);
  return mkstr(c, s->p + st, en - st);
}

static jv f_trim(jt_ctx *c, jv v, jt_args *a) {
  jv p[1];
  BIND("trim", a, p, 0, "chars");
  return jt_strip(c, jv_to_str(c, v), p[0], 3);
}

static jv f_truncate(jt_ctx *c, jv v, jt_args *a) {
  jv p[4];
  BIND("truncate", a, p, 0, "length", "killwords", "end", "leeway");
  int64_t length = p[0].t == JV_ABSENT ? 255 : jt_to_index(c, p[0], "length");
  bool kill = arg_bool(p[1], false);
  jstr *end = p[2].t == JV_ABSENT ? jt_newstr(&c->ar, "...", 3) : jv_to_str(c, p[2]);
  int64_t leeway =
      p[3].t == JV_ABSENT || p[3].t == JV_NONE ? 5 : jt_to_index(c, p[3], "leeway");
  int64_t endlen = ju_len(end);
  if (length < endlen)
    jt_error(c, "expected length >= %" PRId64 ", got %" PRId64, endlen, length);
  if (leeway < 0) jt_error(c, "expected leeway >= 0, got %" PRId64, leeway);
  /* jinja2 does not convert to str first: short values come back as they
   * are, and only strings can be cut */
  if (jv_len(c, v) <= length + leeway) return v;
  if (v.t != JV_STR) jt_error(c, "truncate needs a string, not %s", jv_typename(v));
  jstr *s = v.s;
  int64_t n;
  uint32_t *cp = ju_cps(c, s, &n);
  int64_t k = length - endlen;
  if (!kill) { /* s[:k].rsplit(" ", 1)[0] */
    for (int64_t i = k - 1; i >= 0; i--)
      if (cp[i] == ' ') {
        k = i;
        break;
      }
  }
  jt_buf b = {0};
  jv head = ju_from_cps(c, cp, k);
  jt_buf_put(c, &b, head.s->p, head.s->n);
  jt_buf_put(c, &b, end->p, end->n);
  return jt_buf_take(c, &b);
}

static jv f_unique(jt_ctx *c, jv v, jt_args *a) {
  jv p[2];
  BIND("unique", a, p, 0, "case_sensitive", "attribute");
  bool cs = arg_bool(p[0], false);
  apath path = make_path(c, p[1]);
  jlist *items = jv_iter(c, v), *out = jl_new(&c->ar, 0);
  jt_step(c, (int64_t)items->n);
  jdict *seen = jd_new(&c->ar, 0);
  for (size_t i = 0; i < items->n; i++) {
    jv k = path.n ? follow(c, items->v[i], &path, jv_absent()) : items->v[i];
    if (!cs) k = lower_if_str(c, k);
    if (jd_get(c, seen, k)) continue;
    jd_set(c, seen, k, jv_none());
    jl_push(&c->ar, out, items->v[i]);
  }
  return gen(out);
}

static jv f_wordcount(jt_ctx *c, jv v, jt_args *a) {
  no_args(c, "wordcount", a);
  jstr *s = jv_to_str(c, v);
  int64_t n = 0;
  bool in = false;
  size_t l;
  for (size_t i = 0; i < s->n; i += l) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &l);
    bool w = cp == '_' || ju_isalnum(cp);
    if (w && !in) n++;
    in = w;
  }
  return jv_int(n);
}

typedef struct {
  const char *name;
  jt_filter_fn fn;
} filt;

static const filt FILTERS[] = {
    {"abs", f_abs},           {"attr", f_attr},
    {"batch", f_batch},       {"capitalize", f_capitalize},
    {"center", f_center},     {"count", f_length},
    {"d", f_default},         {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},
    {"escape", f_escape},     {"first", f_first},
    {"float", f_float},       {"forceescape", f_forceescape},
    {"format", f_format},     {"groupby", f_groupby},
    {"indent", f_indent},     {"int", f_int},
    {"items", f_items},       {"join", f_join},
    {"last", f_last},         {"length", f_length},
    {"list", f_list},         {"lower", f_lower},
    {"map", f_map},           {"max", f_max},
    {"min", f_min},           {"pprint", f_pprint},
    {"reject", f_reject},     {"rejectattr", f_rejectattr},
    {"replace", f_replace},   {"reverse", f_reverse},
    {"round", f_round},       {"safe", f_safe},
    {"select", f_select},     {"selectattr", f_selectattr},
    {"sort", f_sort},         {"string", f_string},
    {"sum", f_sum},           {"title", f_title},
    {"tojson", f_tojson},     {"trim", f_trim},
    {"truncate", f_truncate}, {"unique", f_unique},
    {"upper", f_upper},       {"wordcount", f_wordcount},
};

jt_filter_fn jt_find_filter(const char *name) {
  for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
    if (!strcmp(FILTERS[i].name, name)) return FILTERS[i].fn;
  return NULL;
}

jv jt_apply_filter(jt_ctx *c, const char *name, jv v, jt_args *a) {
  jt_filter_fn f = jt_find_filter(name);
  if (!f) jt_error(c, "No filter named '%s'.", name);
  return f(c, v, a);
}

/* ---- tests ---- */

static jv arg1(jt_ctx *c, const char *t, jt_args *a) {
  jv p[1];
  jt_bind(c, t, a, NAMES("other"), 1, 1, p);
  return p[0];
}
static void no_targs(jt_ctx *c, const char *t, jt_args *a) {
  if (a->n || a->nk) jt_error(c, "test '%s' takes no arguments", t);
}

static bool t_defined(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "defined", a);
  return v.t != JV_UNDEF;
}
static bool t_undefined(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "undefined", a);
  return v.t == JV_UNDEF;
}
static bool t_none(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "none", a);
  return v.t == JV_NONE;
}
static bool t_boolean(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "boolean", a);
  return v.t == JV_BOOL;
}
static bool t_true(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "true", a);
  return v.t == JV_BOOL && v.b;
}
static bool t_false(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "false", a);
  return v.t == JV_BOOL && !v.b;
}
static bool t_integer(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "integer", a);
  return v.t == JV_INT;
}
static bool t_float(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "float", a);
  return v.t == JV_FLOAT;
}
static bool t_number(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "number", a);
  return jv_is_num(v);
}
static bool t_string(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "string", a);
  return v.t == JV_STR;
}
static bool t_mapping(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "mapping", a);
  return v.t == JV_DICT;
}
static bool t_sequence(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "sequence", a);
  return v.t == JV_STR || (jv_is_seq(v) && !v.l->lazy) || v.t == JV_DICT ||
         v.t == JV_UNDEF;
}
static bool t_iterable(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "iterable", a);
  return v.t == JV_STR || jv_is_seq(v) || v.t == JV_DICT || v.t == JV_UNDEF ||
         v.t == JV_LOOP;
}
static bool t_callable(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "callable", a);
  return v.t == JV_FUNC || v.t == JV_MACRO || v.t == JV_LOOP || v.t == JV_UNDEF;
}
static bool t_escaped(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "escaped", a);
  return v.t == JV_STR && v.safe;
}
static bool t_sameas(jt_ctx *c, jv v, jt_args *a) {
  jv o = arg1(c, "sameas", a);
  if (v.t != o.t) return false;
  switch (v.t) {
    case JV_NONE:
    case JV_UNDEF:
      return true;
    case JV_BOOL:
      return v.b == o.b;
    case JV_INT:
      return v.i == o.i;
    case JV_FLOAT:
      return v.f == o.f;
    default:
      return v.l == o.l;
  }
}
static bool t_in(jt_ctx *c, jv v, jt_args *a) {
  return jv_contains(c, arg1(c, "in", a), v);
}
static bool t_odd(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "odd", a);
  return jv_eq(c, jt_binop(c, OP_MOD, v, jv_int(2)), jv_int(1));
}
static bool t_even(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "even", a);
  return jv_eq(c, jt_binop(c, OP_MOD, v, jv_int(2)), jv_int(0));
}
static bool t_divisibleby(jt_ctx *c, jv v, jt_args *a) {
  return jv_eq(c, jt_binop(c, OP_MOD, v, arg1(c, "divisibleby", a)), jv_int(0));
}
static bool case_test(jt_ctx *c, jv v, bool upper) {
  /* str.islower()/isupper(): some cased character, none of the other case */
  jstr *s = jv_to_str(c, v);
  bool cased = false;
  size_t l;
  for (size_t i = 0; i < s->n; i += l) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &l);
    bool lo = ju_islower(cp), up = ju_isupper(cp);
    if (ju_istitle(cp) || (upper ? lo : up)) return false;
    if (upper ? up : lo) cased = true;
  }
  return cased;
}
static bool t_lower(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "lower", a);
  return case_test(c, v, false);
}
static bool t_upper(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "upper", a);
  return case_test(c, v, true);
}
static bool t_eq(jt_ctx *c, jv v, jt_args *a) { return jv_eq(c, v, arg1(c, "eq", a)); }
static bool t_ne(jt_ctx *c, jv v, jt_args *a) { return !jv_eq(c, v, arg1(c, "ne", a)); }
static bool ord_test(jt_ctx *c, jv v, jt_args *a, const char *op) {
  int r = jv_cmp(c, v, arg1(c, op, a), op);
  if (r == 2) return false;
  if (!strcmp(op, "<")) return r < 0;
  if (!strcmp(op, "<=")) return r <= 0;
  if (!strcmp(op, ">")) return r > 0;
  return r >= 0;
}
static bool t_lt(jt_ctx *c, jv v, jt_args *a) { return ord_test(c, v, a, "<"); }
static bool t_le(jt_ctx *c, jv v, jt_args *a) { return ord_test(c, v, a, "<="); }
static bool t_gt(jt_ctx *c, jv v, jt_args *a) { return ord_test(c, v, a, ">"); }
static bool t_ge(jt_ctx *c, jv v, jt_args *a) { return ord_test(c, v, a, ">="); }
static bool t_filter(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "filter", a);
  return v.t == JV_STR && jt_find_filter(v.s->p) != NULL;
}
static bool t_test(jt_ctx *c, jv v, jt_args *a) {
  no_targs(c, "test", a);
  return v.t == JV_STR && jt_find_test(v.s->p) != NULL;
}

typedef struct {
  const char *name;
  jt_test_fn fn;
} test;

static const test TESTS[] = {
    {"!=", t_ne},
    {"<", t_lt},
    {"<=", t_le},
    {"==", t_eq},
    {">", t_gt},
    {">=", t_ge},
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"filter", t_filter},
    {"float", t_float},
    {"ge", t_ge},
    {"greaterthan", t_gt},
    {"gt", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"lessthan", t_lt},
    {"lower", t_lower},
    {"lt", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"test", t_test},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

jt_test_fn jt_find_test(const char *name) {
  for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
    if (!strcmp(TESTS[i].name, name)) return TESTS[i].fn;
  return NULL;
}

bool jt_apply_test(jt_ctx *c, const char *name, jv v, jt_args *a) {
  jt_test_fn f = jt_find_test(name);
  if (!f) jt_error(c, "No test named '%s'.", name);
  return f(c, v, a);
}
