/* parser.c: tokens -> AST, following jinja2's grammar and precedence:
 *
 *   expr    := or ('if' or ('else' expr)?)*
 *   or      := and ('or' and)*        and := not ('and' not)*
 *   not     := 'not' not | compare    compare := math1 (cmpop math1)*
 *   math1   := concat (('+'|'-') concat)*   concat := math2 ('~' math2)*
 *   math2   := pow (('*'|'/'|'//'|'%') pow)*    pow := unary ('**' unary)*
 *   unary   := ('-'|'+') unary-without-filters | primary; then postfix
 *              (.name .0 [sub] (call)) and, unless under '-', filters
 *              (| name(args)) and tests (is [not] name arg)
 *
 * Node fields per kind (see tmpl.h):
 *   N_TEXT val | N_PRINT a | N_IF a=test x=body y=else (elif nests in y)
 *   N_FOR a=target b=iter c=filter x=body y=else flags=recursive
 *   N_SET a=target b=value | N_SETBLOCK a=target b=filter x=body
 *   N_MACRO name names=params y=defaults x=body | N_CALLBLOCK a=call, rest
 *   as N_MACRO | N_FILTERBLOCK b=filter x=body | N_WITH names y=values x=body
 *   N_BODY x=body
 *   E_CONST val | E_NAME name | E_GETATTR a attr | E_GETITEM a b
 *   E_SLICE a b c (any may be NULL) | E_CALL a=callee x=args y=kwvalues
 *   names=kwnames b=*args c=**kwargs | E_FILTER/E_TEST like E_CALL with
 *   a=input name fn | E_UNARY op a | E_BIN op a b | E_CONCAT x | E_AND/E_OR
 *   a b | E_COMPARE a x=E_OPERAND(op a) | E_COND a=test b=then c=else
 *   E_LIST/E_TUPLE x | E_DICT x=keys y=values | E_NSREF name attr
 *
 * Unknown filters and tests are an error at parse time, except inside an if
 * statement or conditional expression, where jinja2 defers the error to the
 * moment they are used (a check after parsing, as jinja2's compiler does). */
#include <stdio.h>
#include <string.h>

#include "lexer.h"

enum { MAX_PARSE_DEPTH = 200 };

typedef struct {
  mx_template *t;
  jt_tok *tk;
  size_t n, i;
  int depth;
  int in_loop;
  const char *tags[MAX_PARSE_DEPTH + 8]; /* open statements, for messages */
  int ntags;
  const char *const *ends[MAX_PARSE_DEPTH + 8]; /* end tags being looked for */
  int nends;
} ps;

_Noreturn static void pfail(ps *P, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn static void pfail(ps *P, int line, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  jt_fail(&P->t->err, line, MX_ERR_INVALID, "%s", msg);
}

static jt_tok *cur(ps *P) { return &P->tk[P->i]; }
static jt_tok *look(ps *P) { return &P->tk[P->i + 1 < P->n ? P->i + 1 : P->i]; }
static jt_tok *next(ps *P) {
  jt_tok *t = &P->tk[P->i];
  if (P->i + 1 < P->n) P->i++;
  return t;
}

static bool is_op(jt_tok *t, int op) { return t->type == TK_OP && t->op == op; }
static bool is_name(jt_tok *t, const char *s) {
  return t->type == TK_NAME && strcmp(t->s, s) == 0;
}

static const char *describe(jt_tok *t, char *buf, size_t cap) {
  switch (t->type) {
    case TK_NAME:
      return t->s;
    case TK_STRING:
      return "string";
    case TK_INT:
      return "integer";
    case TK_FLOAT:
      return "float";
    case TK_DATA:
      return "template data / text";
    case TK_VAR_BEGIN:
      return "begin of print statement";
    case TK_VAR_END:
      return "end of print statement";
    case TK_BLOCK_BEGIN:
      return "begin of statement block";
    case TK_BLOCK_END:
      return "end of statement block";
    case TK_EOF:
      return "end of template";
    default:
      switch (t->op) {
        case TOP_FLOORDIV:
          return "//";
        case TOP_POW:
          return "**";
        case TOP_EQ:
          return "==";
        case TOP_NE:
          return "!=";
        case TOP_GE:
          return ">=";
        case TOP_LE:
          return "<=";
        default:
          snprintf(buf, cap, "%c", t->op);
          return buf;
      }
  }
}

static void expect_type(ps *P, int type, const char *what) {
  jt_tok *t = cur(P);
  if (t->type != type) {
    char b[8];
    if (t->type == TK_EOF)
      pfail(P, t->line, "unexpected end of template, expected '%s'.", what);
    pfail(P, t->line, "expected token '%s', got '%s'", what, describe(t, b, sizeof b));
  }
  next(P);
}

static void expect_op(ps *P, int op, const char *what) {
  jt_tok *t = cur(P);
  if (!is_op(t, op)) {
    char b[8];
    if (t->type == TK_EOF)
      pfail(P, t->line, "unexpected end of template, expected '%s'.", what);
    pfail(P, t->line, "expected token '%s', got '%s'", what, describe(t, b, sizeof b));
  }
  next(P);
}

static const char *expect_name(ps *P) {
  jt_tok *t = cur(P);
  if (t->type != TK_NAME) {
    char b[8];
    pfail(P, t->line, "expected token 'name', got '%s'", describe(t, b, sizeof b));
  }
  next(P);
  return t->s;
}

static jt_node *mk(ps *P, int kind, int line) {
  jt_node *n = jt_zalloc(&P->t->ar, sizeof *n);
  n->kind = (uint8_t)kind;
  n->line = line;
  return n;
}

/* growable node lists during parsing */
typedef struct {
  jt_node **v;
  int n, cap;
} nvec;
static void nv_push(ps *P, nvec *v, jt_node *x) {
  if (v->n == v->cap) {
    int nc = v->cap ? v->cap * 2 : 8;
    jt_node **nn = jt_alloc(&P->t->ar, (size_t)nc * sizeof *nn);
    if (v->n) memcpy(nn, v->v, (size_t)v->n * sizeof *nn);
    v->v = nn;
    v->cap = nc;
  }
  v->v[v->n++] = x;
}
static jt_list nv_list(nvec *v) { return (jt_list){v->v, v->n}; }

typedef struct {
  const char **v;
  int n, cap;
} svec;
static void sv_push(ps *P, svec *v, const char *s) {
  if (v->n == v->cap) {
    int nc = v->cap ? v->cap * 2 : 8;
    const char **nn = jt_alloc(&P->t->ar, (size_t)nc * sizeof *nn);
    if (v->n) memcpy(nn, v->v, (size_t)v->n * sizeof *nn);
    v->v = nn;
    v->cap = nc;
  }
  v->v[v->n++] = s;
}

static void enter(ps *P, int line) {
  if (++P->depth > MAX_PARSE_DEPTH)
    pfail(P, line, "template nested too deeply (more than %d levels)", MAX_PARSE_DEPTH);
}
static void leave(ps *P) { P->depth--; }

/* ---- expressions ---- */

static jt_node *parse_expression(ps *P, bool with_condexpr);
static jt_node *parse_tuple(ps *P, bool simplified, bool with_condexpr,
                            const char *const *extra_end, bool explicit_parens);
static jt_node *parse_unary(ps *P, bool with_filter);
static jt_node *parse_primary(ps *P);
static jt_node *parse_postfix(ps *P, jt_node *n);
static jt_node *parse_filter(ps *P, jt_node *n, bool start_inline);

static jt_node *parse_or(ps *P);

static jt_node *parse_condexpr(ps *P) {
  int line = cur(P)->line;
  jt_node *e1 = parse_or(P);
  while (is_name(cur(P), "if")) {
    next(P);
    jt_node *n = mk(P, E_COND, line);
    n->a = parse_or(P);
    n->b = e1;
    if (is_name(cur(P), "else")) {
      next(P);
      n->c = parse_condexpr(P);
    }
    e1 = n;
    line = cur(P)->line;
  }
  return e1;
}

static jt_node *parse_expression(ps *P, bool with_condexpr) {
  enter(P, cur(P)->line);
  jt_node *n = with_condexpr ? parse_condexpr(P) : parse_or(P);
  leave(P);
  return n;
}

static jt_node *parse_not(ps *P);
/* left-associative `operand (word operand)*` for the boolean keywords */
static jt_node *parse_logic(ps *P, const char *word, int kind,
                            jt_node *(*operand)(ps *)) {
  int line = cur(P)->line;
  jt_node *l = operand(P);
  while (is_name(cur(P), word)) {
    next(P);
    jt_node *n = mk(P, kind, line);
    n->a = l;
    n->b = operand(P);
    l = n;
    line = cur(P)->line;
  }
  return l;
}

static jt_node *parse_and(ps *P) { return parse_logic(P, "and", E_AND, parse_not); }
static jt_node *parse_or(ps *P) { return parse_logic(P, "or", E_OR, parse_and); }

static jt_node *parse_compare(ps *P);
static jt_node *parse_not(ps *P) {
  if (is_name(cur(P), "not")) {
    int line = next(P)->line;
    enter(P, line);
    jt_node *n = mk(P, E_UNARY, line);
    n->op = OP_NOT;
    n->a = parse_not(P);
    leave(P);
    return n;
  }
  return parse_compare(P);
}

static jt_node *parse_math1(ps *P);
static jt_node *parse_compare(ps *P) {
  int line = cur(P)->line;
  jt_node *e = parse_math1(P);
  nvec ops = {0};
  for (;;) {
    jt_tok *t = cur(P);
    int op = -1;
    if (t->type == TK_OP) {
      switch (t->op) {
        case TOP_EQ:
          op = OP_EQ;
          break;
        case TOP_NE:
          op = OP_NE;
          break;
        case '<':
          op = OP_LT;
          break;
        case TOP_LE:
          op = OP_LE;
          break;
        case '>':
          op = OP_GT;
          break;
        case TOP_GE:
          op = OP_GE;
          break;
      }
      if (op >= 0) next(P);
    } else if (is_name(t, "in")) {
      op = OP_IN;
      next(P);
    } else if (is_name(t, "not") && is_name(look(P), "in")) {
      op = OP_NOTIN;
      next(P);
      next(P);
    }
    if (op < 0) break;
    jt_node *o = mk(P, E_OPERAND, t->line);
    o->op = (uint8_t)op;
    o->a = parse_math1(P);
    nv_push(P, &ops, o);
    line = cur(P)->line;
  }
  if (!ops.n) return e;
  jt_node *n = mk(P, E_COMPARE, line);
  n->a = e;
  n->x = nv_list(&ops);
  return n;
}

static jt_node *binop(ps *P, int op, jt_node *l, jt_node *r, int line) {
  jt_node *n = mk(P, E_BIN, line);
  n->op = (uint8_t)op;
  n->a = l;
  n->b = r;
  return n;
}

static jt_node *parse_concat(ps *P);
static jt_node *parse_math1(ps *P) {
  int line = cur(P)->line;
  jt_node *l = parse_concat(P);
  while (is_op(cur(P), '+') || is_op(cur(P), '-')) {
    int op = next(P)->op == '+' ? OP_ADD : OP_SUB;
    l = binop(P, op, l, parse_concat(P), line);
    line = cur(P)->line;
  }
  return l;
}

static jt_node *parse_math2(ps *P);
static jt_node *parse_concat(ps *P) {
  int line = cur(P)->line;
  jt_node *first = parse_math2(P);
  if (!is_op(cur(P), '~')) return first;
  nvec args = {0};
  nv_push(P, &args, first);
  while (is_op(cur(P), '~')) {
    next(P);
    nv_push(P, &args, parse_math2(P));
  }
  jt_node *n = mk(P, E_CONCAT, line);
  n->x = nv_list(&args);
  return n;
}

static jt_node *parse_pow(ps *P);
static jt_node *parse_math2(ps *P) {
  int line = cur(P)->line;
  jt_node *l = parse_pow(P);
  for (;;) {
    jt_tok *t = cur(P);
    int op = is_op(t, '*')            ? OP_MUL
             : is_op(t, '/')          ? OP_DIV
             : is_op(t, TOP_FLOORDIV) ? OP_FLOORDIV
             : is_op(t, '%')          ? OP_MOD
                                      : -1;
    if (op < 0) break;
    next(P);
    l = binop(P, op, l, parse_pow(P), line);
    line = cur(P)->line;
  }
  return l;
}

static jt_node *parse_pow(ps *P) {
  int line = cur(P)->line;
  jt_node *l = parse_unary(P, true);
  while (is_op(cur(P), TOP_POW)) {
    next(P);
    l = binop(P, OP_POW, l, parse_unary(P, true), line);
    line = cur(P)->line;
  }
  return l;
}

static void parse_call_args(ps *P, jt_node *n);
static jt_node *parse_test(ps *P, jt_node *n);

static jt_node *parse_filter_expr(ps *P, jt_node *n) {
  for (;;) {
    jt_tok *t = cur(P);
    if (is_op(t, '|')) {
      n = parse_filter(P, n, false);
    } else if (is_name(t, "is")) {
      n = parse_test(P, n);
    } else if (is_op(t, '(')) {
      jt_node *c = mk(P, E_CALL, t->line);
      c->a = n;
      parse_call_args(P, c);
      n = c;
    } else {
      return n;
    }
  }
}

static jt_node *parse_unary(ps *P, bool with_filter) {
  jt_tok *t = cur(P);
  jt_node *n;
  enter(P, t->line);
  if (is_op(t, '-') || is_op(t, '+')) {
    next(P);
    n = mk(P, E_UNARY, t->line);
    n->op = t->op == '-' ? OP_NEG : OP_POS;
    n->a = parse_unary(P, false);
  } else {
    n = parse_primary(P);
  }
  n = parse_postfix(P, n);
  if (with_filter) n = parse_filter_expr(P, n);
  leave(P);
  return n;
}

static jt_node *parse_list(ps *P) {
  jt_node *n = mk(P, E_LIST, next(P)->line);
  nvec items = {0};
  while (!is_op(cur(P), ']')) {
    if (items.n) expect_op(P, ',', ",");
    if (is_op(cur(P), ']')) break;
    nv_push(P, &items, parse_expression(P, true));
  }
  expect_op(P, ']', "]");
  n->x = nv_list(&items);
  return n;
}

static jt_node *parse_dict(ps *P) {
  jt_node *n = mk(P, E_DICT, next(P)->line);
  nvec keys = {0}, vals = {0};
  while (!is_op(cur(P), '}')) {
    if (keys.n) expect_op(P, ',', ",");
    if (is_op(cur(P), '}')) break;
    nv_push(P, &keys, parse_expression(P, true));
    expect_op(P, ':', ":");
    nv_push(P, &vals, parse_expression(P, true));
  }
  expect_op(P, '}', "}");
  n->x = nv_list(&keys);
  n->y = nv_list(&vals);
  return n;
}

static jt_node *parse_primary(ps *P) {
  jt_tok *t = cur(P);
  jt_node *n;
  if (t->type == TK_NAME) {
    const char *s = t->s;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "false") ||
        !strcmp(s, "False")) {
      n = mk(P, E_CONST, t->line);
      n->val = jv_bool(s[0] == 't' || s[0] == 'T');
    } else if (!strcmp(s, "none") || !strcmp(s, "None")) {
      n = mk(P, E_CONST, t->line);
      n->val = jv_none();
    } else {
      n = mk(P, E_NAME, t->line);
      n->name = s;
    }
    next(P);
  } else if (t->type == TK_STRING) {
    next(P);
    n = mk(P, E_CONST, t->line);
    n->val = t->val;
    if (cur(P)->type == TK_STRING) { /* adjacent literals concatenate */
      size_t total = 0, k = 0;
      for (size_t j = P->i - 1; j < P->n && P->tk[j].type == TK_STRING; j++)
        total += P->tk[j].val.s->n;
      char *buf = jt_alloc(&P->t->ar, total + 1);
      for (bool first = true; first || cur(P)->type == TK_STRING; first = false) {
        jstr *s2 = first ? t->val.s : next(P)->val.s;
        memcpy(buf + k, s2->p, s2->n);
        k += s2->n;
      }
      n->val = jv_str(&P->t->ar, buf, k);
    }
  } else if (t->type == TK_INT || t->type == TK_FLOAT) {
    next(P);
    n = mk(P, E_CONST, t->line);
    n->val = t->val;
  } else if (is_op(t, '(')) {
    next(P);
    n = parse_tuple(P, false, true, NULL, true);
    expect_op(P, ')', ")");
  } else if (is_op(t, '[')) {
    n = parse_list(P);
  } else if (is_op(t, '{')) {
    n = parse_dict(P);
  } else {
    char b[8];
    if (t->type == TK_EOF) pfail(P, t->line, "unexpected end of template");
    pfail(P, t->line, "unexpected '%s'", describe(t, b, sizeof b));
  }
  return n;
}

static bool is_end_rule(jt_tok *t, const char *const *extra) {
  if (t->type == TK_VAR_END || t->type == TK_BLOCK_END || is_op(t, ')')) return true;
  if (extra)
    for (int i = 0; extra[i]; i++)
      if (is_name(t, extra[i])) return true;
  return false;
}

static jt_node *parse_tuple(ps *P, bool simplified, bool with_condexpr,
                            const char *const *extra_end, bool explicit_parens) {
  int line = cur(P)->line;
  nvec args = {0};
  bool is_tuple = false;
  for (;;) {
    if (args.n) expect_op(P, ',', ",");
    if (is_end_rule(cur(P), extra_end)) break;
    jt_node *e;
    if (simplified) {
      enter(P, cur(P)->line);
      e = parse_primary(P);
      leave(P);
    } else {
      e = parse_expression(P, with_condexpr);
    }
    nv_push(P, &args, e);
    if (is_op(cur(P), ',')) {
      is_tuple = true;
    } else {
      break;
    }
    line = cur(P)->line;
  }
  if (!is_tuple) {
    if (args.n) return args.v[0];
    if (!explicit_parens) {
      char b[8];
      pfail(P, cur(P)->line, "Expected an expression, got '%s'",
            describe(cur(P), b, sizeof b));
    }
  }
  jt_node *n = mk(P, E_TUPLE, line);
  n->x = nv_list(&args);
  return n;
}

static jt_node *parse_subscribed(ps *P) {
  int line = cur(P)->line;
  jt_node *parts[3] = {NULL, NULL, NULL};
  if (is_op(cur(P), ':')) {
    next(P);
  } else {
    jt_node *e = parse_expression(P, true);
    if (!is_op(cur(P), ':')) return e;
    next(P);
    parts[0] = e;
  }
  if (!is_op(cur(P), ':') && !is_op(cur(P), ']') && !is_op(cur(P), ','))
    parts[1] = parse_expression(P, true);
  if (is_op(cur(P), ':')) {
    next(P);
    if (!is_op(cur(P), ']') && !is_op(cur(P), ',')) parts[2] = parse_expression(P, true);
  }
  jt_node *n = mk(P, E_SLICE, line);
  n->a = parts[0];
  n->b = parts[1];
  n->c = parts[2];
  return n;
}

static jt_node *parse_subscript(ps *P, jt_node *obj) {
  jt_tok *t = next(P);
  if (is_op(t, '.')) {
    jt_tok *a = next(P);
    if (a->type == TK_NAME) {
      jt_node *n = mk(P, E_GETATTR, t->line);
      n->a = obj;
      n->attr = a->s;
      return n;
    }
    if (a->type != TK_INT) pfail(P, a->line, "expected name or number");
    jt_node *k = mk(P, E_CONST, a->line);
    k->val = a->val;
    jt_node *n = mk(P, E_GETITEM, t->line);
    n->a = obj;
    n->b = k;
    return n;
  }
  /* '[' */
  nvec args = {0};
  while (!is_op(cur(P), ']')) {
    if (args.n) expect_op(P, ',', ",");
    nv_push(P, &args, parse_subscribed(P));
  }
  expect_op(P, ']', "]");
  jt_node *n = mk(P, E_GETITEM, t->line);
  n->a = obj;
  if (args.n == 1) {
    n->b = args.v[0];
  } else {
    jt_node *tu = mk(P, E_TUPLE, t->line);
    tu->x = nv_list(&args);
    n->b = tu;
  }
  return n;
}

static jt_node *parse_postfix(ps *P, jt_node *n) {
  for (;;) {
    jt_tok *t = cur(P);
    if (is_op(t, '.') || is_op(t, '[')) {
      n = parse_subscript(P, n);
    } else if (is_op(t, '(')) {
      jt_node *c = mk(P, E_CALL, t->line);
      c->a = n;
      parse_call_args(P, c);
      n = c;
    } else {
      return n;
    }
  }
}

static void parse_call_args(ps *P, jt_node *n) {
  jt_tok *open = cur(P);
  expect_op(P, '(', "(");
  nvec args = {0}, kw = {0};
  svec names = {0};
  bool need_comma = false;
  while (!is_op(cur(P), ')')) {
    if (need_comma) {
      expect_op(P, ',', ",");
      if (is_op(cur(P), ')')) break;
    }
    if (is_op(cur(P), '*')) {
      if (n->b || n->c)
        pfail(P, open->line, "invalid syntax for function call expression");
      next(P);
      n->b = parse_expression(P, true);
    } else if (is_op(cur(P), TOP_POW)) {
      if (n->c) pfail(P, open->line, "invalid syntax for function call expression");
      next(P);
      n->c = parse_expression(P, true);
    } else if (cur(P)->type == TK_NAME && is_op(look(P), '=')) {
      if (n->c) pfail(P, open->line, "invalid syntax for function call expression");
      sv_push(P, &names, next(P)->s);
      next(P);
      nv_push(P, &kw, parse_expression(P, true));
    } else {
      if (n->b || n->c || kw.n)
        pfail(P, open->line, "invalid syntax for function call expression");
      nv_push(P, &args, parse_expression(P, true));
    }
    need_comma = true;
  }
  expect_op(P, ')', ")");
  n->x = nv_list(&args);
  n->y = nv_list(&kw);
  n->names = names.v;
  n->nnames = names.n;
}

static const char *dotted_name(ps *P) {
  const char *name = expect_name(P);
  while (is_op(cur(P), '.')) {
    next(P);
    const char *more = expect_name(P);
    size_t a = strlen(name), b = strlen(more);
    char *s = jt_alloc(&P->t->ar, a + b + 2);
    memcpy(s, name, a);
    s[a] = '.';
    memcpy(s + a + 1, more, b + 1);
    name = s;
  }
  return name;
}

static jt_node *parse_filter(ps *P, jt_node *n, bool start_inline) {
  while (is_op(cur(P), '|') || start_inline) {
    if (!start_inline) next(P);
    int line = cur(P)->line;
    jt_node *f = mk(P, E_FILTER, line);
    f->name = dotted_name(P);
    f->a = n;
    if (is_op(cur(P), '(')) parse_call_args(P, f);
    f->fn = (const void *)jt_find_filter(f->name);
    if (!f->fn) f->flags |= NF_UNKNOWN;
    n = f;
    start_inline = false;
  }
  return n;
}

static jt_node *parse_test(ps *P, jt_node *n) {
  jt_tok *is = next(P);
  bool negated = false;
  if (is_name(cur(P), "not")) {
    next(P);
    negated = true;
  }
  jt_node *t = mk(P, E_TEST, is->line);
  t->name = dotted_name(P);
  t->a = n;
  jt_tok *c = cur(P);
  if (is_op(c, '(')) {
    parse_call_args(P, t);
  } else if ((c->type == TK_NAME || c->type == TK_STRING || c->type == TK_INT ||
              c->type == TK_FLOAT || is_op(c, '[') || is_op(c, '{')) &&
             !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
    if (is_name(c, "is")) pfail(P, c->line, "You cannot chain multiple tests with is");
    enter(P, c->line);
    jt_node *arg = parse_postfix(P, parse_primary(P));
    leave(P);
    jt_node **v = jt_alloc(&P->t->ar, sizeof *v);
    v[0] = arg;
    t->x = (jt_list){v, 1};
  }
  t->fn = (const void *)jt_find_test(t->name);
  if (!t->fn) t->flags |= NF_UNKNOWN;
  if (!negated) return t;
  jt_node *no = mk(P, E_UNARY, is->line);
  no->op = OP_NOT;
  no->a = t;
  return no;
}

/* ---- statements ---- */

static jt_list subparse(ps *P, const char *const *end_tokens);

static bool in_list(jt_tok *t, const char *const *names) {
  for (int i = 0; names[i]; i++)
    if (is_name(t, names[i])) return true;
  return false;
}

static void quote_list(char *buf, size_t cap, const char *const *names) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; names[i] && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s'%s'", i ? " or " : "", names[i]);
}

/* jinja2's messages for an unknown tag or an early end of the template */
_Noreturn static void fail_ut_eof(ps *P, const char *name, int line) {
  char msg[600], look[200] = "";
  size_t k = 0;
  if (P->nends) quote_list(look, sizeof look, P->ends[P->nends - 1]);
  if (name) {
    k += (size_t)snprintf(msg, sizeof msg, "Encountered unknown tag '%s'.", name);
  } else {
    k += (size_t)snprintf(msg, sizeof msg, "Unexpected end of template.");
  }
  if (look[0]) {
    bool expected = false;
    for (int i = 0; name && i < P->nends; i++)
      for (int j = 0; P->ends[i][j]; j++)
        if (!strcmp(P->ends[i][j], name)) expected = true;
    if (expected) {
      k += (size_t)snprintf(msg + k, sizeof msg - k,
                            " You probably made a nesting mistake. Jinja is expecting "
                            "this tag, but currently looking for %s.",
                            look);
    } else {
      k += (size_t)snprintf(msg + k, sizeof msg - k,
                            " Jinja was looking for the following tags: %s.", look);
    }
  }
  if (P->ntags && k < sizeof msg)
    snprintf(msg + k, sizeof msg - k,
             " The innermost block that needs to be closed is '%s'.",
             P->tags[P->ntags - 1]);
  pfail(P, line, "%s", msg);
}

static jt_list parse_statements(ps *P, const char *const *end_tokens, bool drop_needle) {
  if (is_op(cur(P), ':')) next(P);
  expect_type(P, TK_BLOCK_END, "end of statement block");
  jt_list body = subparse(P, end_tokens);
  if (cur(P)->type == TK_EOF) {
    P->ends[P->nends++] = end_tokens;
    fail_ut_eof(P, NULL, cur(P)->line);
  }
  if (drop_needle) next(P);
  return body;
}

static bool can_assign(jt_node *n) {
  if (n->kind == E_NAME || n->kind == E_NSREF) return true;
  if (n->kind != E_TUPLE) return false;
  for (int i = 0; i < n->x.n; i++)
    if (!can_assign(n->x.v[i])) return false;
  return true;
}

static jt_node *parse_assign_target(ps *P, bool name_only, const char *const *extra_end,
                                    bool with_namespace) {
  jt_node *t;
  jt_tok *c = cur(P);
  if (with_namespace && is_op(look(P), '.')) {
    t = mk(P, E_NSREF, c->line);
    t->name = expect_name(P);
    next(P);
    t->attr = expect_name(P);
    return t;
  }
  if (name_only) {
    t = mk(P, E_NAME, c->line);
    t->name = expect_name(P);
  } else {
    t = parse_tuple(P, true, true, extra_end, false);
  }
  if (!can_assign(t))
    pfail(P, t->line, "can't assign to '%s'",
          t->kind == E_CONST   ? "const"
          : t->kind == E_TUPLE ? "tuple"
                               : "expression");
  return t;
}

static const char *const END_FOR[] = {"endfor", "else", NULL};
static const char *const END_FOR2[] = {"endfor", NULL};
static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_IF2[] = {"endif", NULL};
static const char *const END_SET[] = {"endset", NULL};
static const char *const END_MACRO[] = {"endmacro", NULL};
static const char *const END_CALL[] = {"endcall", NULL};
static const char *const END_FILTER[] = {"endfilter", NULL};
static const char *const END_WITH[] = {"endwith", NULL};
static const char *const END_GEN[] = {"endgeneration", NULL};
static const char *const END_BLOCK[] = {"endblock", NULL};
static const char *const IN_RULE[] = {"in", NULL};
static const char *const REC_RULE[] = {"recursive", NULL};

static jt_node *parse_for(ps *P) {
  jt_node *n = mk(P, N_FOR, next(P)->line);
  n->a = parse_assign_target(P, false, IN_RULE, false);
  if (!is_name(cur(P), "in")) {
    char b[8];
    pfail(P, cur(P)->line, "expected token 'in', got '%s'",
          describe(cur(P), b, sizeof b));
  }
  next(P);
  n->b = parse_tuple(P, false, false, REC_RULE, false);
  if (is_name(cur(P), "if")) {
    next(P);
    n->c = parse_expression(P, true);
  }
  if (is_name(cur(P), "recursive")) {
    next(P);
    n->flags |= NF_RECURSIVE;
  }
  P->in_loop++;
  n->x = parse_statements(P, END_FOR, false);
  P->in_loop--;
  if (!strcmp(next(P)->s, "else")) n->y = parse_statements(P, END_FOR2, true);
  return n;
}

static jt_node *parse_if(ps *P) {
  jt_node *res = mk(P, N_IF, next(P)->line), *n = res;
  for (;;) {
    n->a = parse_tuple(P, false, false, NULL, false);
    n->x = parse_statements(P, END_IF, false);
    jt_tok *t = next(P);
    if (is_name(t, "elif")) {
      jt_node *e = mk(P, N_IF, cur(P)->line);
      jt_node **v = jt_alloc(&P->t->ar, sizeof *v);
      v[0] = e;
      n->y = (jt_list){v, 1};
      n = e;
      continue;
    }
    if (is_name(t, "else")) n->y = parse_statements(P, END_IF2, true);
    return res;
  }
}

static jt_node *parse_set(ps *P) {
  int line = next(P)->line;
  jt_node *target = parse_assign_target(P, false, NULL, true);
  if (is_op(cur(P), '=')) {
    next(P);
    jt_node *n = mk(P, N_SET, line);
    n->a = target;
    n->b = parse_tuple(P, false, true, NULL, false);
    return n;
  }
  jt_node *n = mk(P, N_SETBLOCK, line);
  n->a = target;
  n->b = parse_filter(P, NULL, false);
  int saved = P->in_loop;
  n->x = parse_statements(P, END_SET, true);
  P->in_loop = saved;
  return n;
}

static void parse_signature(ps *P, jt_node *n) {
  svec args = {0};
  nvec defaults = {0};
  expect_op(P, '(', "(");
  while (!is_op(cur(P), ')')) {
    if (args.n) expect_op(P, ',', ",");
    sv_push(P, &args, expect_name(P));
    if (is_op(cur(P), '=')) {
      next(P);
      nv_push(P, &defaults, parse_expression(P, true));
    } else if (defaults.n) {
      pfail(P, cur(P)->line, "non-default argument follows default argument");
    }
  }
  expect_op(P, ')', ")");
  n->names = args.v;
  n->nnames = args.n;
  n->y = nv_list(&defaults);
}

/* which of caller / varargs / kwargs a macro body mentions */
static int scan_names(const jt_node *n) {
  if (!n) return 0;
  int f = 0;
  if (n->kind == E_NAME) {
    if (!strcmp(n->name, "caller")) f |= NF_USES_CALLER;
    if (!strcmp(n->name, "varargs")) f |= NF_USES_VARARGS;
    if (!strcmp(n->name, "kwargs")) f |= NF_USES_KWARGS;
  }
  f |= scan_names(n->a) | scan_names(n->b) | scan_names(n->c);
  for (int i = 0; i < n->x.n; i++) f |= scan_names(n->x.v[i]);
  for (int i = 0; i < n->y.n; i++) f |= scan_names(n->y.v[i]);
  return f;
}
static int scan_body(jt_list body) {
  int f = 0;
  for (int i = 0; i < body.n; i++) f |= scan_names(body.v[i]);
  return f;
}

static jt_node *parse_macro(ps *P) {
  jt_node *n = mk(P, N_MACRO, next(P)->line);
  n->name = expect_name(P);
  parse_signature(P, n);
  int saved = P->in_loop;
  P->in_loop = 0;
  n->x = parse_statements(P, END_MACRO, true);
  P->in_loop = saved;
  n->flags |= (uint8_t)scan_body(n->x);
  return n;
}

static jt_node *parse_call_block(ps *P) {
  jt_node *n = mk(P, N_CALLBLOCK, next(P)->line);
  if (is_op(cur(P), '(')) parse_signature(P, n);
  n->a = parse_expression(P, true);
  if (n->a->kind != E_CALL) pfail(P, n->line, "expected call");
  int saved = P->in_loop;
  P->in_loop = 0;
  n->x = parse_statements(P, END_CALL, true);
  P->in_loop = saved;
  n->flags |= (uint8_t)scan_body(n->x);
  return n;
}

static jt_node *parse_filter_block(ps *P) {
  jt_node *n = mk(P, N_FILTERBLOCK, next(P)->line);
  n->b = parse_filter(P, NULL, true);
  n->x = parse_statements(P, END_FILTER, true);
  return n;
}

static jt_node *parse_with(ps *P) {
  jt_node *n = mk(P, N_WITH, next(P)->line);
  svec names = {0};
  nvec vals = {0};
  while (cur(P)->type != TK_BLOCK_END) {
    if (names.n) expect_op(P, ',', ",");
    sv_push(P, &names, expect_name(P));
    expect_op(P, '=', "=");
    nv_push(P, &vals, parse_expression(P, true));
  }
  n->names = names.v;
  n->nnames = names.n;
  n->y = nv_list(&vals);
  n->x = parse_statements(P, END_WITH, true);
  return n;
}

static jt_node *parse_print(ps *P) {
  jt_node *n = mk(P, N_BODY, next(P)->line);
  nvec items = {0};
  while (cur(P)->type != TK_BLOCK_END) {
    if (items.n) expect_op(P, ',', ",");
    jt_node *p = mk(P, N_PRINT, cur(P)->line);
    p->a = parse_expression(P, true);
    nv_push(P, &items, p);
  }
  n->x = nv_list(&items);
  return n;
}

static jt_node *parse_statement(ps *P) {
  jt_tok *t = cur(P);
  if (t->type != TK_NAME) pfail(P, t->line, "tag name expected");
  const char *s = t->s;
  if (P->ntags >= MAX_PARSE_DEPTH) pfail(P, t->line, "template nested too deeply");
  P->tags[P->ntags++] = s;
  jt_node *n = NULL;
  enter(P, t->line);
  if (!strcmp(s, "for"))
    n = parse_for(P);
  else if (!strcmp(s, "if"))
    n = parse_if(P);
  else if (!strcmp(s, "set"))
    n = parse_set(P);
  else if (!strcmp(s, "macro"))
    n = parse_macro(P);
  else if (!strcmp(s, "call"))
    n = parse_call_block(P);
  else if (!strcmp(s, "filter"))
    n = parse_filter_block(P);
  else if (!strcmp(s, "with"))
    n = parse_with(P);
  else if (!strcmp(s, "print"))
    n = parse_print(P);
  else if (!strcmp(s, "break") || !strcmp(s, "continue")) {
    if (!P->in_loop) pfail(P, t->line, "'%s' outside loop", s);
    n = mk(P, s[0] == 'b' ? N_BREAK : N_CONTINUE, next(P)->line);
  } else if (!strcmp(s, "generation")) {
    n = mk(P, N_BODY, next(P)->line);
    n->x = parse_statements(P, END_GEN, true);
  } else if (!strcmp(s, "block")) {
    /* a single template has nothing to inherit: a block renders in place */
    n = mk(P, N_BODY, next(P)->line);
    expect_name(P);
    n->x = parse_statements(P, END_BLOCK, true);
    if (cur(P)->type == TK_NAME) next(P);
  } else if (!strcmp(s, "extends") || !strcmp(s, "include") || !strcmp(s, "import") ||
             !strcmp(s, "from") || !strcmp(s, "autoescape")) {
    pfail(P, t->line, "the '%s' tag is not supported in chat templates", s);
  } else {
    P->ntags--;
    fail_ut_eof(P, s, t->line);
  }
  leave(P);
  P->ntags--;
  return n;
}

static jt_list subparse(ps *P, const char *const *end_tokens) {
  nvec body = {0};
  if (end_tokens) P->ends[P->nends++] = end_tokens;
  for (;;) {
    jt_tok *t = cur(P);
    if (t->type == TK_EOF) break;
    if (t->type == TK_DATA) {
      jt_node *n = mk(P, N_TEXT, t->line);
      n->val = jv_str(&P->t->ar, t->s, t->n);
      nv_push(P, &body, n);
      next(P);
    } else if (t->type == TK_VAR_BEGIN) {
      next(P);
      jt_node *n = mk(P, N_PRINT, t->line);
      n->a = parse_tuple(P, false, true, NULL, false);
      expect_type(P, TK_VAR_END, "end of print statement");
      nv_push(P, &body, n);
    } else if (t->type == TK_BLOCK_BEGIN) {
      next(P);
      if (end_tokens && in_list(cur(P), end_tokens)) break;
      jt_node *n = parse_statement(P);
      expect_type(P, TK_BLOCK_END, "end of statement block");
      nv_push(P, &body, n);
    } else {
      char b[8];
      pfail(P, t->line, "unexpected '%s'", describe(t, b, sizeof b));
    }
  }
  if (end_tokens) P->nends--;
  return nv_list(&body);
}

/* ---- the deferred check of unknown filters and tests ---- */

static void check_unknown(ps *P, const jt_node *n, bool soft);
static void check_list(ps *P, jt_list l, bool soft) {
  for (int i = 0; i < l.n; i++) check_unknown(P, l.v[i], soft);
}
static void check_unknown(ps *P, const jt_node *n, bool soft) {
  if (!n) return;
  if ((n->flags & NF_UNKNOWN) && !soft)
    pfail(P, n->line, "No %s named '%s'.", n->kind == E_FILTER ? "filter" : "test",
          n->name);
  bool inner = soft;
  switch (n->kind) {
    case N_IF:
    case E_COND:
      inner = true;
      break;
    case N_FOR:
    case N_MACRO:
    case N_CALLBLOCK:
    case N_SETBLOCK:
    case N_FILTERBLOCK:
      inner = false;
      break;
  }
  check_unknown(P, n->a, inner);
  check_unknown(P, n->b, inner);
  check_unknown(P, n->c, inner);
  check_list(P, n->x, inner);
  check_list(P, n->y, inner);
}

void jt_parse(mx_template *t, const char *src) {
  jt_toks toks = {0};
  jt_lex(t, src, &toks);
  ps *P = jt_zalloc(&t->ar, sizeof *P);
  P->t = t;
  P->tk = toks.v;
  P->n = toks.n;
  t->body = subparse(P, NULL);
  if (cur(P)->type != TK_EOF) {
    char b[8];
    pfail(P, cur(P)->line, "unexpected '%s'", describe(cur(P), b, sizeof b));
  }
  check_list(P, t->body, false);
}
