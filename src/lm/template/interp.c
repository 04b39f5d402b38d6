/* interp.c: the tree-walking interpreter: statements (output, if, for with
 * loop variables / else / filter / recursion, set, block set, namespace
 * attribute set, macros with defaults, varargs, kwargs and caller, call and
 * filter blocks, break/continue, with) and expressions with jinja2's
 * semantics (attribute then item lookup, Undefined that fails when used,
 * Python arithmetic and comparisons).
 *
 * Scoping follows jinja2: each for-loop iteration and each macro call gets a
 * fresh scope whose parent is the scope the loop ran in / the macro was
 * defined in; `if` opens no scope. So a `set` inside a loop is invisible after
 * it (use a namespace), and a macro sees the template's variables as they are
 * when it is called. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

enum { FLOW_NORMAL = 0, FLOW_BREAK, FLOW_CONTINUE };

_Noreturn void jt_error(jt_ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
  va_end(ap);
  c->err->st = MX_ERR_INVALID;
  c->err->line = c->line;
  longjmp(c->err->jb, 1);
}

void jt_step(jt_ctx *c, int64_t n) {
  c->steps += n;
  if (c->steps > c->t->opt.max_steps)
    jt_error(c, "template exceeded %" PRId64 " steps (loop iterations and calls)",
             c->t->opt.max_steps);
}

/* ---- scopes ---- */

jt_scope *jt_scope_new(jt_ctx *c, jt_scope *parent) {
  jt_scope *s = jt_zalloc(&c->ar, sizeof *s);
  s->parent = parent;
  return s;
}

void jt_scope_set(jt_ctx *c, jt_scope *s, const char *name, jv v) {
  for (int i = 0; i < s->n; i++)
    if (s->k[i] == name || strcmp(s->k[i], name) == 0) {
      s->v[i] = v;
      return;
    }
  if (s->n == s->cap) {
    int nc = s->cap ? s->cap * 2 : 4;
    const char **nk = jt_alloc(&c->ar, (size_t)nc * sizeof *nk);
    jv *nv = jt_alloc(&c->ar, (size_t)nc * sizeof *nv);
    if (s->n) {
      memcpy(nk, s->k, (size_t)s->n * sizeof *nk);
      memcpy(nv, s->v, (size_t)s->n * sizeof *nv);
    }
    s->k = nk;
    s->v = nv;
    s->cap = nc;
  }
  s->k[s->n] = name;
  s->v[s->n] = v;
  s->n++;
}

static jv *scope_find(jt_scope *s, const char *name) {
  size_t len = 0;
  for (; s; s = s->parent) {
    for (int i = s->n - 1; i >= 0; i--)
      if (s->k[i] == name || strcmp(s->k[i], name) == 0) return &s->v[i];
    if (s->dict) {
      if (!len) len = strlen(name);
      jv *v = jd_gets(s->dict, name, len);
      if (v) return v;
    }
  }
  return NULL;
}

static jv lookup(jt_ctx *c, const char *name) {
  jv *v = scope_find(c->sc, name);
  if (v) return *v;
  jv g = jt_global(c, name);
  if (g.t != JV_ABSENT) return g;
  return jv_undef_name(c, name);
}

/* ---- output capture ---- */

static int exec_list(jt_ctx *c, const jt_list *l);

static jv capture(jt_ctx *c, const jt_list *body) {
  jt_buf b = {0}, *saved = c->out;
  c->out = &b;
  exec_list(c, body);
  c->out = saved;
  return jt_buf_take(c, &b);
}

/* ---- attribute and item access ---- */

static jv loop_cycle(jt_ctx *c, jv self, jt_args *a) {
  if (a->n == 0) jt_error(c, "no items for cycling given");
  return a->pos[self.loop->i % a->n];
}

static jv loop_changed(jt_ctx *c, jv self, jt_args *a) {
  jloop *L = self.loop;
  jv cur = jv_tuple(jl_new(&c->ar, (size_t)a->n));
  for (int i = 0; i < a->n; i++) cur.l->v[i] = a->pos[i];
  cur.l->n = (size_t)a->n;
  if (L->has_changed && jv_eq(c, L->last_changed, cur)) return jv_bool(false);
  L->last_changed = cur;
  L->has_changed = true;
  return jv_bool(true);
}

static jv loop_attr(jt_ctx *c, jv obj, const char *name) {
  jloop *L = obj.loop;
  int64_t i = L->i, n = L->n;
  if (!strcmp(name, "index")) return jv_int(i + 1);
  if (!strcmp(name, "index0")) return jv_int(i);
  if (!strcmp(name, "revindex")) return jv_int(n - i);
  if (!strcmp(name, "revindex0")) return jv_int(n - i - 1);
  if (!strcmp(name, "first")) return jv_bool(i == 0);
  if (!strcmp(name, "last")) return jv_bool(i == n - 1);
  if (!strcmp(name, "length")) return jv_int(n);
  if (!strcmp(name, "depth")) return jv_int(L->depth0 + 1);
  if (!strcmp(name, "depth0")) return jv_int(L->depth0);
  if (!strcmp(name, "previtem"))
    return i > 0 ? L->items[i - 1] : jv_undef_hint(c, "there is no previous item");
  if (!strcmp(name, "nextitem"))
    return i + 1 < n ? L->items[i + 1] : jv_undef_hint(c, "there is no next item");
  if (!strcmp(name, "cycle")) return jt_make_func(c, "cycle", loop_cycle, &obj);
  if (!strcmp(name, "changed")) return jt_make_func(c, "changed", loop_changed, &obj);
  return jv_undef_attr(c, obj, name);
}

jv jt_getattr(jt_ctx *c, jv obj, const char *name) {
  switch (obj.t) {
    case JV_UNDEF:
      jt_undef_fail(c, obj);
    case JV_DICT: {
      if (jt_has_method(obj, name)) return jt_method(c, obj, name);
      jv *v = jd_gets(obj.d, name, strlen(name));
      return v ? *v : jv_undef_attr(c, obj, name);
    }
    case JV_NS: {
      jv *v = jd_gets(obj.d, name, strlen(name));
      return v ? *v : jv_undef_attr(c, obj, name);
    }
    case JV_LOOP:
      return loop_attr(c, obj, name);
    case JV_MACRO:
      if (!strcmp(name, "name"))
        return jv_cstr(&c->ar, obj.m->name ? obj.m->name : "caller");
      if (!strcmp(name, "arguments")) {
        const jt_node *n = obj.m->node;
        jlist *l = jl_new(&c->ar, (size_t)n->nnames);
        for (int i = 0; i < n->nnames; i++) l->v[i] = jv_cstr(&c->ar, n->names[i]);
        l->n = (size_t)n->nnames;
        return jv_tuple(l);
      }
      return jv_undef_attr(c, obj, name);
    case JV_TUPLE:
      if (obj.l->fields)
        for (size_t i = 0; i < obj.l->n && obj.l->fields[i]; i++)
          if (!strcmp(obj.l->fields[i], name)) return obj.l->v[i];
      if (jt_has_method(obj, name)) return jt_method(c, obj, name);
      return jv_undef_attr(c, obj, name);
    default:
      if (jt_has_method(obj, name)) return jt_method(c, obj, name);
      return jv_undef_attr(c, obj, name);
  }
}

int64_t jt_to_index(jt_ctx *c, jv v, const char *what) {
  if (v.t == JV_INT) return v.i;
  if (v.t == JV_BOOL) return v.b;
  jt_error(c, "%s must be an integer, not %s", what, jv_typename(v));
}

jv jt_getitem(jt_ctx *c, jv obj, jv key) {
  switch (obj.t) {
    case JV_UNDEF:
      jt_undef_fail(c, obj);
    case JV_DICT:
      if (key.t != JV_LIST && key.t != JV_DICT && key.t != JV_NS) {
        jv *v = jd_get(c, obj.d, key);
        if (v) return *v;
      }
      break;
    case JV_LIST:
    case JV_TUPLE:
    case JV_STR:
      if (key.t == JV_INT || key.t == JV_BOOL) {
        int64_t i = key.t == JV_INT ? key.i : key.b;
        if (obj.t == JV_LIST && obj.l->lazy) {
          /* a generator in Python: not subscriptable */
        } else if (obj.t != JV_STR) {
          int64_t n = (int64_t)obj.l->n;
          if (i < 0) i += n;
          if (i >= 0 && i < n) return obj.l->v[i];
        } else if (ju_is_ascii(obj.s)) {
          int64_t n = (int64_t)obj.s->n;
          if (i < 0) i += n;
          if (i >= 0 && i < n) return jv_str(&c->ar, obj.s->p + i, 1);
        } else {
          int64_t n;
          uint32_t *cp = ju_cps(c, obj.s, &n);
          if (i < 0) i += n;
          if (i >= 0 && i < n) return ju_from_cps(c, cp + i, 1);
        }
        return jv_undef_index(c, obj, key.t == JV_INT ? key.i : key.b);
      }
      break;
    default:
      break;
  }
  /* jinja2 falls back to an attribute of that name */
  if (key.t == JV_STR) return jt_getattr(c, obj, key.s->p);
  if (key.t == JV_INT) return jv_undef_index(c, obj, key.i);
  return jv_undef_hint(c, "invalid subscript");
}

/* Python's slice semantics on lists, tuples and strings */
static jv do_slice(jt_ctx *c, jv obj, jv lo, jv hi, jv st) {
  /* jinja2 slices with a plain Python subscript (not its getitem), so a
   * bad slice is an error rather than an Undefined */
  if (obj.t == JV_UNDEF) jt_undef_fail(c, obj);
  if (obj.t == JV_DICT) jt_error(c, "unhashable type: 'slice'");
  if (!(jv_is_seq(obj) || obj.t == JV_STR))
    jt_error(c, "'%s' object is not subscriptable", jv_typename(obj));
  bool ok = (lo.t == JV_NONE || lo.t == JV_INT || lo.t == JV_BOOL) &&
            (hi.t == JV_NONE || hi.t == JV_INT || hi.t == JV_BOOL) &&
            (st.t == JV_NONE || st.t == JV_INT || st.t == JV_BOOL);
  if (!ok)
    jt_error(c, "slice indices must be integers or None or have an __index__ method");
  int64_t step = st.t == JV_NONE ? 1 : jt_to_index(c, st, "slice step");
  if (step == 0) jt_error(c, "slice step cannot be zero");
  uint32_t *cps = NULL;
  int64_t len;
  bool ascii = obj.t == JV_STR && ju_is_ascii(obj.s);
  if (obj.t == JV_STR) {
    if (ascii) {
      len = (int64_t)obj.s->n;
    } else {
      cps = ju_cps(c, obj.s, &len);
    }
  } else {
    len = (int64_t)obj.l->n;
  }
  int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
  int64_t start, stop;
  if (lo.t == JV_NONE) {
    start = step < 0 ? upper : lower;
  } else {
    start = jt_to_index(c, lo, "slice index");
    if (start < 0)
      start = start + len < lower ? lower : start + len;
    else if (start > upper)
      start = upper;
  }
  if (hi.t == JV_NONE) {
    stop = step < 0 ? lower : upper;
  } else {
    stop = jt_to_index(c, hi, "slice index");
    if (stop < 0)
      stop = stop + len < lower ? lower : stop + len;
    else if (stop > upper)
      stop = upper;
  }
  int64_t count = 0;
  if (step > 0 && start < stop) count = (stop - start - 1) / step + 1;
  if (step < 0 && start > stop) count = (start - stop - 1) / (-step) + 1;
  if (obj.t == JV_STR) {
    if (ascii) {
      char *b = jt_alloc(&c->ar, (size_t)count + 1);
      for (int64_t k = 0; k < count; k++) b[k] = obj.s->p[start + k * step];
      return jv_str(&c->ar, b, (size_t)count);
    }
    uint32_t *o = jt_alloc(&c->ar, (size_t)(count + 1) * sizeof *o);
    for (int64_t k = 0; k < count; k++) o[k] = cps[start + k * step];
    return ju_from_cps(c, o, count);
  }
  jlist *l = jl_new(&c->ar, (size_t)count);
  for (int64_t k = 0; k < count; k++) l->v[k] = obj.l->v[start + k * step];
  l->n = (size_t)count;
  return obj.t == JV_LIST ? jv_list(l) : jv_tuple(l);
}

/* ---- arithmetic ---- */

_Noreturn static void bad_operands(jt_ctx *c, const char *op, jv a, jv b) {
  jt_error(c, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_typename(a),
           jv_typename(b));
}

static double fval(jv v) {
  return v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : (double)v.b;
}
static int64_t ival(jv v) { return v.t == JV_INT ? v.i : (int64_t)v.b; }

static jv repeat(jt_ctx *c, jv seq, int64_t k) {
  if (k < 0) k = 0;
  if (seq.t == JV_STR) {
    size_t n = seq.s->n;
    if (k && n && (size_t)k > c->t->opt.max_output / n)
      jt_error(c, "string repetition exceeds the output limit");
    char *b = jt_alloc(&c->ar, n * (size_t)k + 1);
    for (int64_t i = 0; i < k; i++) memcpy(b + (size_t)i * n, seq.s->p, n);
    return jv_str(&c->ar, b, n * (size_t)k);
  }
  size_t n = seq.l->n;
  if (k && n && (size_t)k > (c->t->opt.max_output / 16) / n)
    jt_error(c, "list repetition too large");
  jt_step(c, (int64_t)n * k);
  jlist *l = jl_new(&c->ar, n * (size_t)k);
  for (int64_t i = 0; i < k; i++) memcpy(l->v + (size_t)i * n, seq.l->v, n * sizeof(jv));
  l->n = n * (size_t)k;
  return seq.t == JV_LIST ? jv_list(l) : jv_tuple(l);
}

static const char *OPNAME[] = {"+", "-", "*", "/", "//", "%", "**"};

jv jt_binop(jt_ctx *c, int op, jv a, jv b) {
  /* str % x formats without asking x anything, even an Undefined */
  if (op == OP_MOD && a.t == JV_STR) return jt_percent_format(c, a.s, b, a.safe);
  if (a.t == JV_UNDEF) jt_undef_fail(c, a);
  if (b.t == JV_UNDEF) jt_undef_fail(c, b);
  const char *on = OPNAME[op];
  bool num = jv_is_num(a) && jv_is_num(b);
  bool isint = num && a.t != JV_FLOAT && b.t != JV_FLOAT;
  int64_t r;
  switch (op) {
    case OP_ADD:
      if (isint) {
        if (__builtin_add_overflow(ival(a), ival(b), &r)) jt_error(c, "integer overflow");
        return jv_int(r);
      }
      if (num) return jv_float(fval(a) + fval(b));
      if (a.t == JV_STR && b.t == JV_STR) {
        /* Markup + str escapes the str (markupsafe), and the result is Markup */
        if (a.safe != b.safe) {
          jv *plain = a.safe ? &b : &a;
          *plain = jt_html_escape(c, plain->s);
        }
        if (a.s->n + b.s->n > c->t->opt.max_output)
          jt_error(c, "string exceeds the output limit");
        char *p = jt_alloc(&c->ar, a.s->n + b.s->n + 1);
        memcpy(p, a.s->p, a.s->n);
        memcpy(p + a.s->n, b.s->p, b.s->n);
        jv s = jv_str(&c->ar, p, a.s->n + b.s->n);
        s.safe = a.safe && b.safe;
        return s;
      }
      if (jv_is_seq(a) && a.t == b.t) {
        jlist *l = jl_new(&c->ar, a.l->n + b.l->n);
        memcpy(l->v, a.l->v, a.l->n * sizeof(jv));
        memcpy(l->v + a.l->n, b.l->v, b.l->n * sizeof(jv));
        l->n = a.l->n + b.l->n;
        return a.t == JV_LIST ? jv_list(l) : jv_tuple(l);
      }
      if (a.t == JV_STR || jv_is_seq(a))
        jt_error(c, "can only concatenate %s (not \"%s\") to %s", jv_typename(a),
                 jv_typename(b), jv_typename(a));
      bad_operands(c, on, a, b);
    case OP_SUB:
      if (isint) {
        if (__builtin_sub_overflow(ival(a), ival(b), &r)) jt_error(c, "integer overflow");
        return jv_int(r);
      }
      if (num) return jv_float(fval(a) - fval(b));
      bad_operands(c, on, a, b);
    case OP_MUL:
      if (isint) {
        if (__builtin_mul_overflow(ival(a), ival(b), &r)) jt_error(c, "integer overflow");
        return jv_int(r);
      }
      if (num) return jv_float(fval(a) * fval(b));
      if ((a.t == JV_STR || jv_is_seq(a)) && (b.t == JV_INT || b.t == JV_BOOL))
        return repeat(c, a, ival(b));
      if ((b.t == JV_STR || jv_is_seq(b)) && (a.t == JV_INT || a.t == JV_BOOL))
        return repeat(c, b, ival(a));
      if (a.t == JV_STR || jv_is_seq(a) || b.t == JV_STR || jv_is_seq(b))
        jt_error(c, "can't multiply sequence by non-int of type '%s'",
                 jv_typename(a.t == JV_STR || jv_is_seq(a) ? b : a));
      bad_operands(c, on, a, b);
    case OP_DIV:
      if (!num) bad_operands(c, on, a, b);
      if (fval(b) == 0) jt_error(c, "division by zero");
      return jv_float(fval(a) / fval(b));
    case OP_FLOORDIV:
    case OP_MOD:
      if (!num) bad_operands(c, on, a, b);
      if (isint) {
        int64_t x = ival(a), y = ival(b);
        if (y == 0)
          jt_error(c, op == OP_MOD ? "integer modulo by zero"
                                   : "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) {
          if (op == OP_MOD) return jv_int(0);
          jt_error(c, "integer overflow");
        }
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          q -= 1;
          m += y;
        }
        return jv_int(op == OP_MOD ? m : q);
      } else {
        /* CPython's float_divmod */
        double x = fval(a), y = fval(b);
        if (y == 0)
          jt_error(c, op == OP_MOD ? "float modulo" : "float floor division by zero");
        double mod = fmod(x, y), div = (x - mod) / y;
        if (mod != 0) {
          if ((y < 0) != (mod < 0)) {
            mod += y;
            div -= 1.0;
          }
        } else {
          mod = copysign(0.0, y);
        }
        double fd;
        if (div != 0) {
          fd = floor(div);
          if (div - fd > 0.5) fd += 1.0;
        } else {
          fd = copysign(0.0, x / y);
        }
        return jv_float(op == OP_MOD ? mod : fd);
      }
    case OP_POW:
      if (!num) bad_operands(c, "** or pow()", a, b);
      if (isint && ival(b) >= 0) {
        int64_t base = ival(a), e = ival(b), acc = 1;
        while (e > 0) {
          if (e & 1)
            if (__builtin_mul_overflow(acc, base, &acc)) jt_error(c, "integer overflow");
          e >>= 1;
          if (e && __builtin_mul_overflow(base, base, &base))
            jt_error(c, "integer overflow");
        }
        return jv_int(acc);
      }
      {
        double x = fval(a), y = fval(b);
        if (x == 0 && y < 0) jt_error(c, "0.0 cannot be raised to a negative power");
        if (x < 0 && y != floor(y)) jt_error(c, "complex results are not supported");
        double p = pow(x, y);
        if (isinf(p) && !isinf(x) && !isinf(y))
          jt_error(c, "numerical result out of range");
        return jv_float(p);
      }
  }
  jt_error(c, "bad operator");
}

static bool compare_op(jt_ctx *c, int op, jv a, jv b) {
  switch (op) {
    case OP_EQ:
      return jv_eq(c, a, b);
    case OP_NE:
      return !jv_eq(c, a, b);
    case OP_IN:
      return jv_contains(c, b, a);
    case OP_NOTIN:
      return !jv_contains(c, b, a);
    default: {
      static const char *names[] = {
          [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">="};
      int r = jv_cmp(c, a, b, names[op]);
      if (r == 2) return false; /* NaN */
      switch (op) {
        case OP_LT:
          return r < 0;
        case OP_LE:
          return r <= 0;
        case OP_GT:
          return r > 0;
        default:
          return r >= 0;
      }
    }
  }
}

/* ---- calls ---- */

static void eval_args(jt_ctx *c, const jt_node *n, jt_args *a, const char *extra_name,
                      jv extra) {
  int np = n->x.n, nk = n->nnames;
  jlist *dyn = NULL;
  jdict *dkw = NULL;
  if (n->b) {
    jv d = jt_eval(c, n->b);
    dyn = jv_iter(c, d);
    np += (int)dyn->n;
  }
  if (n->c) {
    jv d = jt_eval(c, n->c);
    if (d.t != JV_DICT)
      jt_error(c, "argument after ** must be a mapping, not %s", jv_typename(d));
    dkw = d.d;
    nk += (int)dkw->n;
  }
  if (extra_name) nk++;
  a->pos = jt_alloc(&c->ar, (size_t)(np + 1) * sizeof(jv));
  a->kname = jt_alloc(&c->ar, (size_t)(nk + 1) * sizeof(char *));
  a->kval = jt_alloc(&c->ar, (size_t)(nk + 1) * sizeof(jv));
  a->n = 0;
  a->nk = 0;
  for (int i = 0; i < n->x.n; i++) a->pos[a->n++] = jt_eval(c, n->x.v[i]);
  if (dyn)
    for (size_t i = 0; i < dyn->n; i++) a->pos[a->n++] = dyn->v[i];
  for (int i = 0; i < n->nnames; i++) {
    a->kname[a->nk] = n->names[i];
    a->kval[a->nk++] = jt_eval(c, n->y.v[i]);
  }
  if (dkw)
    for (size_t i = 0; i < dkw->n; i++) {
      if (dkw->k[i].t != JV_STR) jt_error(c, "keywords must be strings");
      a->kname[a->nk] = dkw->k[i].s->p;
      a->kval[a->nk++] = dkw->v[i];
    }
  if (extra_name) {
    a->kname[a->nk] = extra_name;
    a->kval[a->nk++] = extra;
  }
}

static jv call_macro(jt_ctx *c, jmacro *m, jt_args *a) {
  const jt_node *n = m->node;
  const char *mname = m->name ? m->name : "caller";
  if (c->depth >= c->t->opt.max_depth)
    jt_error(c, "maximum recursion depth exceeded (%d) calling '%s'", c->t->opt.max_depth,
             mname);
  jt_step(c, 1);
  int np = n->nnames, nd = n->y.n;
  jt_scope *s = jt_scope_new(c, m->closure);
  jv *vals = jt_alloc(&c->ar, (size_t)(np + 1) * sizeof(jv));
  for (int i = 0; i < np; i++) vals[i] = jv_absent();
  jlist *varargs = jl_new(&c->ar, 0);
  jdict *kwargs = jd_new(&c->ar, 0);
  jv caller = jv_absent();
  for (int i = 0; i < a->n; i++) {
    if (i < np) {
      vals[i] = a->pos[i];
    } else if (n->flags & NF_USES_VARARGS) {
      jl_push(&c->ar, varargs, a->pos[i]);
    } else {
      jt_error(c, "macro '%s' takes not more than %d argument(s)", mname, np);
    }
  }
  for (int k = 0; k < a->nk; k++) {
    const char *kn = a->kname[k];
    int j = -1;
    for (int i = 0; i < np; i++)
      if (!strcmp(n->names[i], kn)) j = i;
    if (j >= 0) {
      if (vals[j].t != JV_ABSENT)
        jt_error(c, "macro '%s' got multiple values for argument '%s'", mname, kn);
      vals[j] = a->kval[k];
    } else if (!strcmp(kn, "caller") && (n->flags & NF_USES_CALLER) &&
               n->kind == N_MACRO) {
      caller = a->kval[k];
    } else if (n->flags & NF_USES_KWARGS) {
      jd_set(c, kwargs, jv_cstr(&c->ar, kn), a->kval[k]);
    } else {
      jt_error(c, "macro '%s' takes no keyword argument '%s'", mname, kn);
    }
  }
  jt_scope *saved_sc = c->sc;
  int saved_line = c->line;
  c->sc = s;
  c->depth++;
  for (int i = 0; i < np; i++) {
    if (vals[i].t == JV_ABSENT) {
      int di = i - (np - nd);
      if (di >= 0) {
        c->line = n->y.v[di]->line;
        vals[i] = jt_eval(c, n->y.v[di]);
      } else {
        char *hint = jt_alloc(&c->ar, strlen(n->names[i]) + 40);
        sprintf(hint, "parameter '%s' was not provided", n->names[i]);
        vals[i] = jv_undef_hint(c, hint);
      }
    }
    jt_scope_set(c, s, n->names[i], vals[i]);
  }
  if (n->flags & NF_USES_VARARGS) jt_scope_set(c, s, "varargs", jv_tuple(varargs));
  if (n->flags & NF_USES_KWARGS) jt_scope_set(c, s, "kwargs", jv_dict(kwargs));
  if ((n->flags & NF_USES_CALLER) && n->kind == N_MACRO)
    jt_scope_set(c, s, "caller",
                 caller.t == JV_ABSENT ? jv_undef_hint(c, "No caller defined") : caller);
  jv r = capture(c, &n->x);
  c->depth--;
  c->sc = saved_sc;
  c->line = saved_line;
  return r;
}

static void exec_for(jt_ctx *c, const jt_node *n, jv iterable, int depth0);

jv jt_call(jt_ctx *c, jv fn, jt_args *a) {
  switch (fn.t) {
    case JV_FUNC: {
      jt_step(c, 1);
      jv self = fn.fn->self ? *fn.fn->self : jv_none();
      /* str methods scan their string: charge long ones as work */
      if (self.t == JV_STR) jt_step(c, (int64_t)(self.s->n >> 8));
      jv r = fn.fn->fn(c, self, a);
      /* str methods of a Markup string return Markup (split: Markup items) */
      if (self.t == JV_STR && self.safe && r.t == JV_STR) r.safe = 1;
      if (self.t == JV_STR && self.safe && (r.t == JV_LIST || r.t == JV_TUPLE))
        for (size_t i = 0; i < r.l->n; i++)
          if (r.l->v[i].t == JV_STR) r.l->v[i].safe = 1;
      return r;
    }
    case JV_MACRO:
      return call_macro(c, fn.m, a);
    case JV_LOOP: {
      jloop *L = fn.loop;
      if (!(L->node->flags & NF_RECURSIVE))
        jt_error(c, "The loop must be marked as 'recursive' to call it.");
      if (a->n != 1 || a->nk) jt_error(c, "loop() takes exactly one argument");
      if (c->depth >= c->t->opt.max_depth)
        jt_error(c, "maximum recursion depth exceeded (%d) in a recursive loop",
                 c->t->opt.max_depth);
      jt_buf b = {0}, *saved = c->out;
      jt_scope *saved_sc = c->sc;
      c->out = &b;
      c->sc = L->scope;
      c->depth++;
      exec_for(c, L->node, a->pos[0], L->depth0 + 1);
      c->depth--;
      c->sc = saved_sc;
      c->out = saved;
      return jt_buf_take(c, &b);
    }
    case JV_UNDEF:
      jt_undef_fail(c, fn);
    default:
      jt_error(c, "'%s' object is not callable", jv_typename(fn));
  }
}

static jv eval_call(jt_ctx *c, const jt_node *n, const char *extra_name, jv extra) {
  jv fn = jt_eval(c, n->a);
  jt_args a;
  eval_args(c, n, &a, extra_name, extra);
  c->line = n->line;
  return jt_call(c, fn, &a);
}

static jv eval_filter(jt_ctx *c, const jt_node *n, const jv *input) {
  jv v;
  if (!n->a) {
    v = *input;
  } else if (n->a->kind == E_FILTER) {
    v = eval_filter(c, n->a, input);
  } else {
    v = jt_eval(c, n->a);
  }
  c->line = n->line;
  if (n->flags & NF_UNKNOWN) jt_error(c, "No filter named '%s' found.", n->name);
  jt_step(c, 1 + (v.t == JV_STR ? (int64_t)(v.s->n >> 8) : 0));
  jt_args a;
  eval_args(c, n, &a, NULL, jv_none());
  c->line = n->line;
  return ((jt_filter_fn)n->fn)(c, v, &a);
}

/* ---- expressions ---- */

jv jt_eval(jt_ctx *c, const jt_node *n) {
  switch (n->kind) {
    case E_CONST:
      return n->val;
    case E_NAME:
      return lookup(c, n->name);
    case E_GETATTR: {
      jv o = jt_eval(c, n->a);
      c->line = n->line;
      return jt_getattr(c, o, n->attr);
    }
    case E_GETITEM: {
      jv o = jt_eval(c, n->a);
      if (n->b->kind == E_SLICE) {
        const jt_node *s = n->b;
        jv lo = s->a ? jt_eval(c, s->a) : jv_none();
        jv hi = s->b ? jt_eval(c, s->b) : jv_none();
        jv st = s->c ? jt_eval(c, s->c) : jv_none();
        c->line = n->line;
        return do_slice(c, o, lo, hi, st);
      }
      jv k = jt_eval(c, n->b);
      c->line = n->line;
      return jt_getitem(c, o, k);
    }
    case E_CALL:
      return eval_call(c, n, NULL, jv_none());
    case E_FILTER:
      return eval_filter(c, n, NULL);
    case E_TEST: {
      jv v = jt_eval(c, n->a);
      c->line = n->line;
      if (n->flags & NF_UNKNOWN) jt_error(c, "No test named '%s' found.", n->name);
      jt_args a;
      eval_args(c, n, &a, NULL, jv_none());
      return jv_bool(((jt_test_fn)n->fn)(c, v, &a));
    }
    case E_UNARY: {
      jv v = jt_eval(c, n->a);
      c->line = n->line;
      if (n->op == OP_NOT) return jv_bool(!jv_truthy(v));
      if (v.t == JV_UNDEF) jt_undef_fail(c, v);
      if (v.t == JV_BOOL) v = jv_int(v.b);
      if (v.t == JV_INT) {
        if (n->op == OP_POS) return v;
        if (v.i == INT64_MIN) jt_error(c, "integer overflow");
        return jv_int(-v.i);
      }
      if (v.t == JV_FLOAT) return jv_float(n->op == OP_NEG ? -v.f : v.f);
      jt_error(c, "bad operand type for unary %s: '%s'", n->op == OP_NEG ? "-" : "+",
               jv_typename(v));
    }
    case E_BIN: {
      jv a = jt_eval(c, n->a);
      jv b = jt_eval(c, n->b);
      c->line = n->line;
      return jt_binop(c, n->op, a, b);
    }
    case E_CONCAT: {
      jt_buf b = {0};
      for (int i = 0; i < n->x.n; i++) jv_write_str(c, &b, jt_eval(c, n->x.v[i]));
      return jt_buf_take(c, &b);
    }
    case E_AND: {
      jv l = jt_eval(c, n->a);
      return jv_truthy(l) ? jt_eval(c, n->b) : l;
    }
    case E_OR: {
      jv l = jt_eval(c, n->a);
      return jv_truthy(l) ? l : jt_eval(c, n->b);
    }
    case E_COMPARE: {
      jv l = jt_eval(c, n->a);
      for (int i = 0; i < n->x.n; i++) {
        const jt_node *o = n->x.v[i];
        jv r = jt_eval(c, o->a);
        c->line = o->line;
        if (!compare_op(c, o->op, l, r)) return jv_bool(false);
        l = r;
      }
      return jv_bool(true);
    }
    case E_COND:
      if (jv_truthy(jt_eval(c, n->a))) return jt_eval(c, n->b);
      if (n->c) return jt_eval(c, n->c);
      return jv_undef_hint(c,
                           "the inline if-expression evaluated to false and no else "
                           "section was defined.");
    case E_LIST:
    case E_TUPLE: {
      jlist *l = jl_new(&c->ar, (size_t)n->x.n);
      for (int i = 0; i < n->x.n; i++) l->v[i] = jt_eval(c, n->x.v[i]);
      l->n = (size_t)n->x.n;
      return n->kind == E_LIST ? jv_list(l) : jv_tuple(l);
    }
    case E_DICT: {
      jdict *d = jd_new(&c->ar, (size_t)n->x.n);
      for (int i = 0; i < n->x.n; i++) {
        jv k = jt_eval(c, n->x.v[i]);
        jv v = jt_eval(c, n->y.v[i]);
        c->line = n->line;
        jv_check_hashable(c, k);
        jd_set(c, d, k, v);
      }
      return jv_dict(d);
    }
    default:
      jt_error(c, "cannot evaluate this expression");
  }
}

/* ---- statements ---- */

static void assign(jt_ctx *c, jt_scope *s, const jt_node *t, jv v) {
  if (t->kind == E_NAME) {
    jt_scope_set(c, s, t->name, v);
  } else if (t->kind == E_NSREF) {
    jv ns = lookup(c, t->name);
    if (ns.t != JV_NS) jt_error(c, "cannot assign attribute on non-namespace object");
    jd_set(c, ns.d, jv_cstr(&c->ar, t->attr), v);
  } else { /* tuple unpacking */
    jlist *items = jv_iter(c, v);
    int want = t->x.n;
    if ((int64_t)items->n < want)
      jt_error(c, "not enough values to unpack (expected %d, got %zu)", want, items->n);
    if ((int64_t)items->n > want)
      jt_error(c, "too many values to unpack (expected %d)", want);
    for (int i = 0; i < want; i++) assign(c, s, t->x.v[i], items->v[i]);
  }
}

static void exec_for(jt_ctx *c, const jt_node *n, jv iterable, int depth0) {
  jlist *src = jv_iter(c, iterable);
  jt_step(c, (int64_t)src->n);
  jt_scope *outer = c->sc;
  jv *items = src->v;
  int64_t count = (int64_t)src->n;
  if (n->c) { /* for x in xs if cond: filter first, loop.* counts the kept */
    jv *kept = jt_alloc(&c->ar, (size_t)(count + 1) * sizeof(jv));
    int64_t k = 0;
    for (int64_t i = 0; i < count; i++) {
      jt_scope *s = jt_scope_new(c, outer);
      c->sc = s;
      assign(c, s, n->a, items[i]);
      bool keep = jv_truthy(jt_eval(c, n->c));
      c->sc = outer;
      if (keep) kept[k++] = items[i];
    }
    items = kept;
    count = k;
  }
  if (count == 0) {
    exec_list(c, &n->y);
    return;
  }
  jloop *L = jt_zalloc(&c->ar, sizeof *L);
  L->items = items;
  L->n = count;
  L->depth0 = depth0;
  L->node = n;
  L->scope = outer;
  jv loopv = {.t = JV_LOOP, .loop = L};
  for (int64_t i = 0; i < count; i++) {
    jt_step(c, 1);
    L->i = i;
    jt_scope *s = jt_scope_new(c, outer);
    c->sc = s;
    c->line = n->line;
    assign(c, s, n->a, items[i]);
    jt_scope_set(c, s, "loop", loopv);
    int r = exec_list(c, &n->x);
    c->sc = outer;
    if (r == FLOW_BREAK) break;
  }
}

static jv apply_filters(jt_ctx *c, const jt_node *f, jv v) {
  return f ? eval_filter(c, f, &v) : v;
}

static int exec(jt_ctx *c, const jt_node *n) {
  c->line = n->line;
  switch (n->kind) {
    case N_TEXT:
      jt_buf_put(c, c->out, n->val.s->p, n->val.s->n);
      return FLOW_NORMAL;
    case N_PRINT:
      jv_write_str(c, c->out, jt_eval(c, n->a));
      return FLOW_NORMAL;
    case N_IF:
      if (jv_truthy(jt_eval(c, n->a))) return exec_list(c, &n->x);
      return exec_list(c, &n->y);
    case N_FOR:
      exec_for(c, n, jt_eval(c, n->b), 0);
      return FLOW_NORMAL;
    case N_SET: {
      jv v = jt_eval(c, n->b);
      c->line = n->line;
      assign(c, c->sc, n->a, v);
      return FLOW_NORMAL;
    }
    case N_SETBLOCK: {
      jv v = apply_filters(c, n->b, capture(c, &n->x));
      c->line = n->line;
      assign(c, c->sc, n->a, v);
      return FLOW_NORMAL;
    }
    case N_MACRO: {
      jmacro *m = jt_alloc(&c->ar, sizeof *m);
      m->node = n;
      m->closure = c->sc;
      m->name = n->name;
      jt_scope_set(c, c->sc, n->name, (jv){.t = JV_MACRO, .m = m});
      return FLOW_NORMAL;
    }
    case N_CALLBLOCK: {
      jmacro *m = jt_alloc(&c->ar, sizeof *m);
      m->node = n;
      m->closure = c->sc;
      m->name = NULL;
      jv r = eval_call(c, n->a, "caller", (jv){.t = JV_MACRO, .m = m});
      jv_write_str(c, c->out, r);
      return FLOW_NORMAL;
    }
    case N_FILTERBLOCK: {
      jv v = apply_filters(c, n->b, capture(c, &n->x));
      jv_write_str(c, c->out, v);
      return FLOW_NORMAL;
    }
    case N_BREAK:
      return FLOW_BREAK;
    case N_CONTINUE:
      return FLOW_CONTINUE;
    case N_WITH: {
      jt_scope *s = jt_scope_new(c, c->sc);
      for (int i = 0; i < n->nnames; i++)
        jt_scope_set(c, s, n->names[i], jt_eval(c, n->y.v[i]));
      jt_scope *saved = c->sc;
      c->sc = s;
      int r = exec_list(c, &n->x);
      c->sc = saved;
      return r;
    }
    case N_BODY:
      return exec_list(c, &n->x);
    default:
      jt_error(c, "cannot execute this statement");
  }
}

static int exec_list(jt_ctx *c, const jt_list *l) {
  for (int i = 0; i < l->n; i++) {
    int r = exec(c, l->v[i]);
    if (r != FLOW_NORMAL) return r;
  }
  return FLOW_NORMAL;
}

/* entry point used by api.c: render the whole template into c->out */
void jt_exec_template(jt_ctx *c) { exec_list(c, &c->t->body); }
