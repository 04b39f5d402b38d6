/* value.c: the value model with Python semantics: construction, dicts
 * (ordered, hashed), truthiness, equality and ordering, len/iteration, and
 * the three ways a value becomes text: str(), repr() and JSON (json.dumps
 * as transformers' tojson calls it). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

enum { MAX_NEST = 512 }; /* nesting for repr/json/eq: cycles fail, not crash */

/* ---- strings ---- */

jstr *jt_newstr(jt_arena *a, const char *p, size_t n) {
  jstr *s = jt_alloc(a, sizeof *s + n + 1);
  s->n = n;
  if (n) memcpy(s->p, p, n);
  s->p[n] = 0;
  /* computed now, never lazily: template constants are shared by threads */
  unsigned char acc = 0;
  for (size_t i = 0; i < n; i++) acc |= (unsigned char)p[i];
  s->ascii = acc < 0x80;
  return s;
}

jv jv_strobj(jstr *s) { return (jv){.t = JV_STR, .s = s}; }
jv jv_str(jt_arena *a, const char *p, size_t n) { return jv_strobj(jt_newstr(a, p, n)); }
jv jv_cstr(jt_arena *a, const char *s) { return jv_str(a, s, strlen(s)); }

/* ---- undefined ---- */

static jv mkundef(jt_ctx *c, const char *hint, const char *name, const char *objtype,
                  int64_t index) {
  jundef *u = jt_alloc(&c->ar, sizeof *u);
  u->hint = hint;
  u->name = name;
  u->objtype = objtype;
  u->index = index;
  return (jv){.t = JV_UNDEF, .u = u};
}
jv jv_undef_name(jt_ctx *c, const char *name) { return mkundef(c, NULL, name, NULL, 0); }
jv jv_undef_hint(jt_ctx *c, const char *hint) { return mkundef(c, hint, NULL, NULL, 0); }
jv jv_undef_attr(jt_ctx *c, jv obj, const char *name) {
  return mkundef(c, NULL, name, jv_objtype(obj), 0);
}
jv jv_undef_index(jt_ctx *c, jv obj, int64_t index) {
  return mkundef(c, NULL, NULL, jv_objtype(obj), index);
}

_Noreturn void jt_undef_fail(jt_ctx *c, jv v) {
  jundef *u = v.u;
  if (!u) jt_error(c, "undefined value");
  if (u->hint) jt_error(c, "%s", u->hint);
  if (!u->objtype) jt_error(c, "'%s' is undefined", u->name ? u->name : "?");
  if (u->name) jt_error(c, "'%s' has no attribute '%s'", u->objtype, u->name);
  jt_error(c, "%s has no element %" PRId64, u->objtype, u->index);
}

const char *jv_typename(jv v) {
  switch (v.t) {
    case JV_UNDEF:
      return "Undefined";
    case JV_NONE:
      return "NoneType";
    case JV_BOOL:
      return "bool";
    case JV_INT:
      return "int";
    case JV_FLOAT:
      return "float";
    case JV_STR:
      return "str";
    case JV_LIST:
      return v.l->lazy ? "generator" : "list";
    case JV_TUPLE:
      return "tuple";
    case JV_DICT:
      return "dict";
    case JV_NS:
      return "Namespace";
    case JV_FUNC:
      return "builtin_function_or_method";
    case JV_MACRO:
      return "Macro";
    case JV_LOOP:
      return "LoopContext";
    default:
      return "object";
  }
}

const char *jv_objtype(jv v) {
  switch (v.t) {
    case JV_NONE:
      return "None";
    case JV_BOOL:
      return "bool object";
    case JV_INT:
      return "int object";
    case JV_FLOAT:
      return "float object";
    case JV_STR:
      return "str object";
    case JV_LIST:
      return v.l->lazy ? "generator object" : "list object";
    case JV_TUPLE:
      return "tuple object";
    case JV_DICT:
      return "dict object";
    case JV_NS:
      return "jinja2.utils.Namespace object";
    case JV_MACRO:
      return "jinja2.runtime.Macro object";
    case JV_LOOP:
      return "jinja2.runtime.LoopContext object";
    default:
      return "builtin_function_or_method object";
  }
}

/* ---- lists ---- */

jlist *jl_new(jt_arena *a, size_t cap) {
  jlist *l = jt_alloc(a, sizeof *l);
  l->n = 0;
  l->cap = cap;
  l->v = jt_alloc(a, (cap ? cap : 1) * sizeof(jv)); /* never NULL: memcpy-safe */
  l->fields = NULL;
  l->lazy = false;
  return l;
}

void jl_push(jt_arena *a, jlist *l, jv v) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 4;
    jv *nv = jt_alloc(a, nc * sizeof(jv));
    if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
    l->v = nv; /* the old array stays valid: loops iterate a snapshot */
    l->cap = nc;
  }
  l->v[l->n++] = v;
}

jv jv_list(jlist *l) { return (jv){.t = JV_LIST, .l = l}; }
jv jv_tuple(jlist *l) { return (jv){.t = JV_TUPLE, .l = l}; }

/* ---- dicts ---- */

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
  return mix(h);
}

static void check_hashable(jt_ctx *c, jv v, int depth) {
  if (v.t == JV_LIST || v.t == JV_DICT || v.t == JV_NS)
    jt_error(c, "unhashable type: '%s'", jv_typename(v));
  if (v.t == JV_TUPLE) {
    /* bounds jv_hash's recursion too: keys are checked before hashing */
    if (depth > MAX_NEST) jt_error(c, "maximum nesting depth exceeded in a dict key");
    for (size_t i = 0; i < v.l->n; i++) check_hashable(c, v.l->v[i], depth + 1);
  }
}
void jv_check_hashable(jt_ctx *c, jv v) { check_hashable(c, v, 0); }

/* equal values hash equally (1 == 1.0 == True, as in Python) */
static uint64_t jv_hash(jv v) {
  switch (v.t) {
    case JV_STR:
      return hash_bytes(v.s->p, v.s->n);
    case JV_BOOL:
      return mix((uint64_t)v.b);
    case JV_INT:
      return mix((uint64_t)v.i);
    case JV_FLOAT:
      if (v.f == floor(v.f) && fabs(v.f) < 9.2e18) return mix((uint64_t)(int64_t)v.f);
      {
        uint64_t bits;
        memcpy(&bits, &v.f, 8);
        return mix(bits);
      }
    case JV_TUPLE: {
      uint64_t h = 77;
      for (size_t i = 0; i < v.l->n; i++) h = mix(h * 31 + jv_hash(v.l->v[i]));
      return h;
    }
    case JV_NONE:
      return 0x9e3779b97f4a7c15ULL;
    case JV_UNDEF:
      return 0x1234567ULL;
    default:
      return mix((uint64_t)(uintptr_t)v.fn);
  }
}

jdict *jd_new(jt_arena *a, size_t cap) {
  jdict *d = jt_zalloc(a, sizeof *d);
  if (cap) {
    d->cap = cap;
    d->k = jt_alloc(a, cap * sizeof(jv));
    d->v = jt_alloc(a, cap * sizeof(jv));
  }
  return d;
}

jv jv_dict(jdict *d) { return (jv){.t = JV_DICT, .d = d}; }

enum { INDEX_MIN = 8 }; /* below this, a linear scan is faster than hashing */

static void reindex(jt_arena *a, jdict *d) {
  size_t cap = 16;
  while (cap < d->n * 2 + 2) cap *= 2;
  d->idx = jt_zalloc(a, cap * sizeof(uint32_t));
  d->icap = cap;
  for (size_t i = 0; i < d->n; i++) {
    size_t s = jv_hash(d->k[i]) & (cap - 1);
    while (d->idx[s]) s = (s + 1) & (cap - 1);
    d->idx[s] = (uint32_t)(i + 1);
  }
}

static bool key_eq_str(jv k, const char *p, size_t n) {
  return k.t == JV_STR && k.s->n == n && memcmp(k.s->p, p, n) == 0;
}

jv *jd_gets(const jdict *d, const char *key, size_t n) {
  if (d->idx) {
    size_t s = hash_bytes(key, n) & (d->icap - 1);
    for (; d->idx[s]; s = (s + 1) & (d->icap - 1)) {
      uint32_t i = d->idx[s] - 1;
      if (key_eq_str(d->k[i], key, n)) return &d->v[i];
    }
    return NULL;
  }
  for (size_t i = 0; i < d->n; i++)
    if (key_eq_str(d->k[i], key, n)) return &d->v[i];
  return NULL;
}

static int64_t jd_find(jt_ctx *c, const jdict *d, jv key) {
  if (key.t == JV_STR) {
    jv *p = jd_gets(d, key.s->p, key.s->n);
    return p ? p - d->v : -1;
  }
  jv_check_hashable(c, key);
  if (d->idx) {
    size_t s = jv_hash(key) & (d->icap - 1);
    for (; d->idx[s]; s = (s + 1) & (d->icap - 1)) {
      uint32_t i = d->idx[s] - 1;
      if (jv_eq(c, d->k[i], key)) return i;
    }
    return -1;
  }
  for (size_t i = 0; i < d->n; i++)
    if (jv_eq(c, d->k[i], key)) return (int64_t)i;
  return -1;
}

jv *jd_get(jt_ctx *c, const jdict *d, jv key) {
  int64_t i = jd_find(c, d, key);
  return i < 0 ? NULL : &d->v[i];
}

void jd_set(jt_ctx *c, jdict *d, jv key, jv val) {
  int64_t i = jd_find(c, d, key);
  if (i >= 0) {
    d->v[i] = val;
    return;
  }
  jt_arena *a = &c->ar;
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 4;
    jv *nk = jt_alloc(a, nc * sizeof(jv)), *nv = jt_alloc(a, nc * sizeof(jv));
    if (d->n) {
      memcpy(nk, d->k, d->n * sizeof(jv));
      memcpy(nv, d->v, d->n * sizeof(jv));
    }
    d->k = nk;
    d->v = nv;
    d->cap = nc;
  }
  d->k[d->n] = key;
  d->v[d->n] = val;
  d->n++;
  if (d->n >= INDEX_MIN) {
    if (!d->idx || d->n * 2 + 2 > d->icap) {
      reindex(a, d);
    } else {
      size_t s = jv_hash(key) & (d->icap - 1);
      while (d->idx[s]) s = (s + 1) & (d->icap - 1);
      d->idx[s] = (uint32_t)d->n;
    }
  }
}

bool jd_del(jt_ctx *c, jdict *d, jv key, jv *old) {
  int64_t i = jd_find(c, d, key);
  if (i < 0) return false;
  if (old) *old = d->v[i];
  memmove(d->k + i, d->k + i + 1, (d->n - (size_t)i - 1) * sizeof(jv));
  memmove(d->v + i, d->v + i + 1, (d->n - (size_t)i - 1) * sizeof(jv));
  d->n--;
  d->idx = NULL;
  if (d->n >= INDEX_MIN) reindex(&c->ar, d);
  return true;
}

jdict *jd_copy(jt_ctx *c, const jdict *d) {
  jdict *o = jd_new(&c->ar, d->n);
  for (size_t i = 0; i < d->n; i++) jd_set(c, o, d->k[i], d->v[i]);
  return o;
}

/* ---- truthiness, equality, ordering ---- */

bool jv_truthy(jv v) {
  switch (v.t) {
    case JV_UNDEF:
    case JV_NONE:
    case JV_ABSENT:
      return false;
    case JV_BOOL:
      return v.b;
    case JV_INT:
      return v.i != 0;
    case JV_FLOAT:
      return v.f != 0.0;
    case JV_STR:
      return v.s->n != 0;
    case JV_LIST:
      return v.l->lazy || v.l->n != 0;
    case JV_TUPLE:
      return v.l->n != 0;
    case JV_DICT:
      return v.d->n != 0;
    default:
      return true;
  }
}

static int64_t num_i(jv v) { return v.t == JV_INT ? v.i : (int64_t)v.b; }

/* exact int/float comparison, as Python does it */
static int cmp_int_float(int64_t i, double f) {
  if (isnan(f)) return 2; /* unordered */
  if (f >= 9.3e18) return -1;
  if (f <= -9.3e18) return 1;
  double fl = floor(f);
  int64_t fi = (int64_t)fl;
  if (i < fi) return -1;
  if (i > fi) return 1;
  return fl == f ? 0 : -1;
}

/* <0, 0, >0, or 2 when unordered (NaN) */
static int num_cmp(jv a, jv b) {
  if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
    int64_t x = num_i(a), y = num_i(b);
    return x < y ? -1 : x > y;
  }
  if (a.t != JV_FLOAT) return cmp_int_float(num_i(a), b.f);
  if (b.t != JV_FLOAT) {
    int r = cmp_int_float(num_i(b), a.f);
    return r == 2 ? 2 : -r;
  }
  if (isnan(a.f) || isnan(b.f)) return 2;
  return a.f < b.f ? -1 : a.f > b.f;
}

static bool eq_rec(jt_ctx *c, jv a, jv b, int depth) {
  if (depth > MAX_NEST) jt_error(c, "maximum nesting depth exceeded in comparison");
  if (jv_is_num(a) && jv_is_num(b)) return num_cmp(a, b) == 0;
  if (a.t != b.t) return false;
  switch (a.t) {
    case JV_UNDEF:
    case JV_NONE:
      return true;
    case JV_STR:
      return a.s->n == b.s->n && memcmp(a.s->p, b.s->p, a.s->n) == 0;
    case JV_LIST:
    case JV_TUPLE:
      if (a.l == b.l) return true;
      if (a.l->n != b.l->n) return false;
      jt_step(c, (int64_t)a.l->n);
      for (size_t i = 0; i < a.l->n; i++)
        if (!eq_rec(c, a.l->v[i], b.l->v[i], depth + 1)) return false;
      return true;
    case JV_DICT:
      if (a.d == b.d) return true;
      if (a.d->n != b.d->n) return false;
      for (size_t i = 0; i < a.d->n; i++) {
        jv *o = jd_get(c, b.d, a.d->k[i]);
        if (!o || !eq_rec(c, a.d->v[i], *o, depth + 1)) return false;
      }
      return true;
    case JV_FUNC:
      return a.fn == b.fn ||
             (a.fn->fn == b.fn->fn && a.fn->self && b.fn->self &&
              a.fn->self->t == b.fn->self->t && a.fn->self->l == b.fn->self->l);
    default:
      return a.l == b.l; /* identity */
  }
}

bool jv_eq(jt_ctx *c, jv a, jv b) { return eq_rec(c, a, b, 0); }

static int cmp_rec(jt_ctx *c, jv a, jv b, const char *op, int depth) {
  if (depth > MAX_NEST) jt_error(c, "maximum nesting depth exceeded in comparison");
  if (a.t == JV_UNDEF) jt_undef_fail(c, a);
  if (b.t == JV_UNDEF) jt_undef_fail(c, b);
  if (jv_is_num(a) && jv_is_num(b)) return num_cmp(a, b);
  if (a.t == JV_STR && b.t == JV_STR) {
    size_t n = a.s->n < b.s->n ? a.s->n : b.s->n;
    int r = memcmp(a.s->p, b.s->p, n);
    if (r) return r < 0 ? -1 : 1;
    return a.s->n < b.s->n ? -1 : a.s->n > b.s->n;
  }
  if (a.t == b.t && jv_is_seq(a)) {
    size_t n = a.l->n < b.l->n ? a.l->n : b.l->n;
    for (size_t i = 0; i < n; i++)
      if (!eq_rec(c, a.l->v[i], b.l->v[i], depth + 1))
        return cmp_rec(c, a.l->v[i], b.l->v[i], op, depth + 1);
    return a.l->n < b.l->n ? -1 : a.l->n > b.l->n;
  }
  jt_error(c, "'%s' not supported between instances of '%s' and '%s'", op, jv_typename(a),
           jv_typename(b));
}

int jv_cmp(jt_ctx *c, jv a, jv b, const char *op) { return cmp_rec(c, a, b, op, 0); }

bool jv_contains(jt_ctx *c, jv h, jv x) {
  switch (h.t) {
    case JV_UNDEF:
      return false;
    case JV_STR:
      if (x.t != JV_STR)
        jt_error(c, "'in <string>' requires string as left operand, not %s",
                 jv_typename(x));
      if (x.s->n == 0) return true;
      jt_step(c, (int64_t)(h.s->n >> 8));
      return memmem(h.s->p, h.s->n, x.s->p, x.s->n) != NULL;
    case JV_LIST:
    case JV_TUPLE:
      jt_step(c, (int64_t)h.l->n);
      for (size_t i = 0; i < h.l->n; i++)
        if (jv_eq(c, h.l->v[i], x)) return true;
      return false;
    case JV_DICT:
      return jd_get(c, h.d, x) != NULL;
    default:
      jt_error(c, "argument of type '%s' is not iterable", jv_typename(h));
  }
}

/* ---- length and iteration ---- */

int64_t jv_len(jt_ctx *c, jv v) {
  switch (v.t) {
    case JV_UNDEF:
      return 0;
    case JV_STR:
      return ju_len(v.s);
    case JV_LIST:
    case JV_TUPLE:
      return (int64_t)v.l->n;
    case JV_DICT:
      return (int64_t)v.d->n;
    case JV_LOOP:
      return v.loop->n;
    default:
      jt_error(c, "object of type '%s' has no len()", jv_typename(v));
  }
}

jlist *jv_iter(jt_ctx *c, jv v) {
  switch (v.t) {
    case JV_UNDEF:
      return jl_new(&c->ar, 0);
    case JV_LIST:
    case JV_TUPLE:
      return v.l;
    case JV_DICT: {
      jlist *l = jl_new(&c->ar, v.d->n);
      for (size_t i = 0; i < v.d->n; i++) l->v[i] = v.d->k[i];
      l->n = v.d->n;
      return l;
    }
    case JV_STR: {
      jlist *l = jl_new(&c->ar, v.s->n);
      size_t len;
      for (size_t i = 0; i < v.s->n; i += len) {
        ju_decode(v.s->p + i, v.s->n - i, &len);
        l->v[l->n++] = jv_str(&c->ar, v.s->p + i, len);
      }
      return l;
    }
    default:
      jt_error(c, "'%s' object is not iterable", jv_typename(v));
  }
}

/* ---- text buffers ---- */

void jt_buf_put(jt_ctx *c, jt_buf *b, const char *p, size_t n) {
  if (n == 0) return;
  if (n >= 256) jt_step(c, (int64_t)(n >> 8)); /* big copies count as work */
  if (b->n + n > c->t->opt.max_output)
    jt_error(c, "output exceeds the limit of %zu bytes", c->t->opt.max_output);
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 256;
    while (nc < b->n + n + 1) nc *= 2;
    char *np = jt_alloc(&c->ar, nc);
    if (b->n) memcpy(np, b->p, b->n);
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}
void jt_buf_putc(jt_ctx *c, jt_buf *b, char ch) { jt_buf_put(c, b, &ch, 1); }
void jt_buf_puts(jt_ctx *c, jt_buf *b, const char *s) { jt_buf_put(c, b, s, strlen(s)); }

jv jt_buf_take(jt_ctx *c, jt_buf *b) {
  jv r = jv_str(&c->ar, b->p ? b->p : "", b->n);
  b->n = 0;
  return r;
}

/* ---- float formatting ---- */

void jt_float_repr(double f, char *buf, size_t cap) {
  if (isnan(f)) {
    snprintf(buf, cap, "nan");
    return;
  }
  if (isinf(f)) {
    snprintf(buf, cap, f < 0 ? "-inf" : "inf");
    return;
  }
  if (f == 0) {
    snprintf(buf, cap, signbit(f) ? "-0.0" : "0.0");
    return;
  }
  /* shortest digits that round-trip (the correctly rounded one is closest) */
  char tmp[48];
  for (int p = 1; p <= 17; p++) {
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, f);
    if (strtod(tmp, NULL) == f) break;
  }
  char digits[24];
  int nd = 0;
  const char *s = tmp;
  bool neg = *s == '-';
  if (neg) s++;
  for (; *s && *s != 'e'; s++)
    if (*s >= '0' && *s <= '9') digits[nd++] = *s;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  int e = atoi(s + 1);
  int decpt = e + 1;
  char out[64];
  int k = 0;
  if (neg) out[k++] = '-';
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out[k++] = '0';
      out[k++] = '.';
      for (int i = 0; i < -decpt; i++) out[k++] = '0';
      for (int i = 0; i < nd; i++) out[k++] = digits[i];
    } else if (decpt >= nd) {
      for (int i = 0; i < nd; i++) out[k++] = digits[i];
      for (int i = nd; i < decpt; i++) out[k++] = '0';
      out[k++] = '.';
      out[k++] = '0';
    } else {
      for (int i = 0; i < decpt; i++) out[k++] = digits[i];
      out[k++] = '.';
      for (int i = decpt; i < nd; i++) out[k++] = digits[i];
    }
    out[k] = 0;
  } else {
    out[k++] = digits[0];
    if (nd > 1) {
      out[k++] = '.';
      for (int i = 1; i < nd; i++) out[k++] = digits[i];
    }
    out[k] = 0;
    snprintf(out + k, sizeof out - (size_t)k, "e%c%02d", e < 0 ? '-' : '+', abs(e));
  }
  snprintf(buf, cap, "%s", out);
}

/* ---- str() and repr() ---- */

static void put_int(jt_ctx *c, jt_buf *b, int64_t i) {
  char t[32];
  int n = snprintf(t, sizeof t, "%" PRId64, i);
  jt_buf_put(c, b, t, (size_t)n);
}

static void repr_str(jt_ctx *c, jt_buf *b, jstr *s) {
  bool sq = memchr(s->p, '\'', s->n) != NULL, dq = memchr(s->p, '"', s->n) != NULL;
  char q = sq && !dq ? '"' : '\'';
  jt_buf_putc(c, b, q);
  size_t l;
  for (size_t i = 0; i < s->n; i += l) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &l);
    char t[16];
    if (cp == (uint32_t)q || cp == '\\') {
      t[0] = '\\', t[1] = (char)cp;
      jt_buf_put(c, b, t, 2);
    } else if (cp == '\n') {
      jt_buf_puts(c, b, "\\n");
    } else if (cp == '\r') {
      jt_buf_puts(c, b, "\\r");
    } else if (cp == '\t') {
      jt_buf_puts(c, b, "\\t");
    } else if (ju_isprintable(cp)) {
      jt_buf_put(c, b, s->p + i, l);
    } else if (cp <= 0xFF) {
      snprintf(t, sizeof t, "\\x%02x", cp);
      jt_buf_puts(c, b, t);
    } else if (cp <= 0xFFFF) {
      snprintf(t, sizeof t, "\\u%04x", cp);
      jt_buf_puts(c, b, t);
    } else {
      snprintf(t, sizeof t, "\\U%08x", cp);
      jt_buf_puts(c, b, t);
    }
  }
  jt_buf_putc(c, b, q);
}

static void write_dict_body(jt_ctx *c, jt_buf *b, const jdict *d, int depth) {
  jt_buf_putc(c, b, '{');
  for (size_t i = 0; i < d->n; i++) {
    if (i) jt_buf_puts(c, b, ", ");
    jv_write_repr(c, b, d->k[i], depth + 1);
    jt_buf_puts(c, b, ": ");
    jv_write_repr(c, b, d->v[i], depth + 1);
  }
  jt_buf_putc(c, b, '}');
}

void jv_write_repr(jt_ctx *c, jt_buf *b, jv v, int depth) {
  if (depth > MAX_NEST) jt_error(c, "maximum nesting depth exceeded in repr");
  char t[64];
  switch (v.t) {
    case JV_UNDEF:
      jt_buf_puts(c, b, "Undefined");
      return;
    case JV_STR:
      if (v.safe) jt_buf_puts(c, b, "Markup(");
      repr_str(c, b, v.s);
      if (v.safe) jt_buf_putc(c, b, ')');
      return;
    case JV_LIST:
    case JV_TUPLE:
      jt_buf_putc(c, b, v.t == JV_LIST ? '[' : '(');
      for (size_t i = 0; i < v.l->n; i++) {
        if (i) jt_buf_puts(c, b, ", ");
        jv_write_repr(c, b, v.l->v[i], depth + 1);
      }
      if (v.t == JV_TUPLE && v.l->n == 1) jt_buf_putc(c, b, ',');
      jt_buf_putc(c, b, v.t == JV_LIST ? ']' : ')');
      return;
    case JV_DICT:
      write_dict_body(c, b, v.d, depth);
      return;
    case JV_NS:
      jt_buf_puts(c, b, "<Namespace ");
      write_dict_body(c, b, v.d, depth);
      jt_buf_putc(c, b, '>');
      return;
    case JV_FUNC:
      if (v.fn->self) {
        snprintf(t, sizeof t, "<built-in method %s of %s>", v.fn->name,
                 jv_objtype(*v.fn->self));
      } else {
        snprintf(t, sizeof t, "<function %s>", v.fn->name);
      }
      jt_buf_puts(c, b, t);
      return;
    case JV_MACRO:
      jt_buf_puts(c, b, "<Macro ");
      if (v.m->name) {
        repr_str(c, b, jt_newstr(&c->ar, v.m->name, strlen(v.m->name)));
      } else {
        jt_buf_puts(c, b, "'caller'");
      }
      jt_buf_putc(c, b, '>');
      return;
    case JV_LOOP:
      snprintf(t, sizeof t, "<LoopContext %" PRId64 "/%" PRId64 ">", v.loop->i + 1,
               v.loop->n);
      jt_buf_puts(c, b, t);
      return;
    default:
      jv_write_str(c, b, v);
      return;
  }
}

void jv_write_str(jt_ctx *c, jt_buf *b, jv v) {
  char t[64];
  switch (v.t) {
    case JV_UNDEF:
    case JV_ABSENT:
      return;
    case JV_NONE:
      jt_buf_puts(c, b, "None");
      return;
    case JV_BOOL:
      jt_buf_puts(c, b, v.b ? "True" : "False");
      return;
    case JV_INT:
      put_int(c, b, v.i);
      return;
    case JV_FLOAT:
      jt_float_repr(v.f, t, sizeof t);
      jt_buf_puts(c, b, t);
      return;
    case JV_STR:
      jt_buf_put(c, b, v.s->p, v.s->n);
      return;
    default:
      jv_write_repr(c, b, v, 0);
      return;
  }
}

jstr *jv_to_str(jt_ctx *c, jv v) {
  if (v.t == JV_STR) return v.s;
  jt_buf b = {0};
  jv_write_str(c, &b, v);
  return jt_buf_take(c, &b).s;
}

/* ---- JSON (Python's json.dumps) ---- */

static void json_str(jt_ctx *c, jt_buf *b, const char *p, size_t n, bool ascii) {
  jt_buf_putc(c, b, '"');
  size_t l, run = 0; /* bytes copied through unchanged, flushed in runs */
  for (size_t i = 0; i < n; i += l) {
    unsigned char ch = (unsigned char)p[i];
    const char *esc = NULL;
    char t[16];
    l = 1;
    if (ch == '"')
      esc = "\\\"";
    else if (ch == '\\')
      esc = "\\\\";
    else if (ch == '\n')
      esc = "\\n";
    else if (ch == '\r')
      esc = "\\r";
    else if (ch == '\t')
      esc = "\\t";
    else if (ch == '\b')
      esc = "\\b";
    else if (ch == '\f')
      esc = "\\f";
    else if (ch < 0x20 || (ascii && ch == 0x7F)) {
      snprintf(t, sizeof t, "\\u%04x", ch);
      esc = t;
    } else if (ch >= 0x80) {
      uint32_t cp = ju_decode(p + i, n - i, &l);
      if (ascii) {
        if (cp >= 0x10000) {
          cp -= 0x10000;
          snprintf(t, sizeof t, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                   0xDC00 + (cp & 0x3FF));
        } else {
          snprintf(t, sizeof t, "\\u%04x", cp);
        }
        esc = t;
      }
    }
    if (esc) {
      jt_buf_put(c, b, p + i - run, run);
      run = 0;
      jt_buf_puts(c, b, esc);
    } else {
      run += l;
    }
  }
  jt_buf_put(c, b, p + n - run, run);
  jt_buf_putc(c, b, '"');
}

static void json_float(jt_ctx *c, jt_buf *b, double f) {
  char t[64];
  if (isnan(f))
    snprintf(t, sizeof t, "NaN");
  else if (isinf(f))
    snprintf(t, sizeof t, f < 0 ? "-Infinity" : "Infinity");
  else
    jt_float_repr(f, t, sizeof t);
  jt_buf_puts(c, b, t);
}

static void json_newline(jt_ctx *c, jt_buf *b, const jt_json_opts *o, int level) {
  jt_buf_putc(c, b, '\n');
  for (int i = 0; i < level; i++) jt_buf_puts(c, b, o->indent);
}

static void json_key(jt_ctx *c, jt_buf *b, jv k, const jt_json_opts *o) {
  char t[64];
  switch (k.t) {
    case JV_STR:
      json_str(c, b, k.s->p, k.s->n, o->ensure_ascii);
      return;
    case JV_INT:
      snprintf(t, sizeof t, "\"%" PRId64 "\"", k.i);
      break;
    case JV_BOOL:
      snprintf(t, sizeof t, "\"%s\"", k.b ? "true" : "false");
      break;
    case JV_NONE:
      snprintf(t, sizeof t, "\"null\"");
      break;
    case JV_FLOAT: {
      jt_buf b2 = {0};
      json_float(c, &b2, k.f);
      json_str(c, b, b2.p, b2.n, false);
      return;
    }
    default:
      jt_error(c, "keys must be str, int, float, bool or None, not %s", jv_typename(k));
  }
  jt_buf_puts(c, b, t);
}

void jv_write_json(jt_ctx *c, jt_buf *b, jv v, const jt_json_opts *o, int level) {
  if (level > MAX_NEST) jt_error(c, "Circular reference detected");
  switch (v.t) {
    case JV_NONE:
      jt_buf_puts(c, b, "null");
      return;
    case JV_BOOL:
      jt_buf_puts(c, b, v.b ? "true" : "false");
      return;
    case JV_INT:
      put_int(c, b, v.i);
      return;
    case JV_FLOAT:
      json_float(c, b, v.f);
      return;
    case JV_STR:
      json_str(c, b, v.s->p, v.s->n, o->ensure_ascii);
      return;
    case JV_LIST:
    case JV_TUPLE:
      if (v.l->n == 0) {
        jt_buf_puts(c, b, "[]");
        return;
      }
      jt_buf_putc(c, b, '[');
      for (size_t i = 0; i < v.l->n; i++) {
        if (i) jt_buf_puts(c, b, o->item_sep);
        if (o->indent) json_newline(c, b, o, level + 1);
        jv_write_json(c, b, v.l->v[i], o, level + 1);
      }
      if (o->indent) json_newline(c, b, o, level);
      jt_buf_putc(c, b, ']');
      return;
    case JV_DICT: {
      const jdict *d = v.d;
      if (d->n == 0) {
        jt_buf_puts(c, b, "{}");
        return;
      }
      size_t *ord;
      if (o->sort_keys) {
        ord = jt_sort_order(c, d->k, d->n, false);
      } else {
        ord = jt_alloc(&c->ar, d->n * sizeof *ord);
        for (size_t i = 0; i < d->n; i++) ord[i] = i;
      }
      jt_buf_putc(c, b, '{');
      for (size_t i = 0; i < d->n; i++) {
        if (i) jt_buf_puts(c, b, o->item_sep);
        if (o->indent) json_newline(c, b, o, level + 1);
        json_key(c, b, d->k[ord[i]], o);
        jt_buf_puts(c, b, o->key_sep);
        jv_write_json(c, b, d->v[ord[i]], o, level + 1);
      }
      if (o->indent) json_newline(c, b, o, level);
      jt_buf_putc(c, b, '}');
      return;
    }
    default:
      jt_error(c, "Object of type %s is not JSON serializable", jv_typename(v));
  }
}
