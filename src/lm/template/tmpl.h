/* tmpl.h: internals of the Jinja interpreter (lexer -> parser -> AST ->
 * tree-walking interpreter).
 *
 * Memory: everything a parse or a render allocates comes from one arena
 * (jt_arena) that is released at once at the end. Values therefore need no
 * reference counts, and errors unwind with longjmp to the entry point
 * (jt_fail): nothing on the C stack owns memory outside the arena.
 *
 * Values (jv) follow Python's data model: None, bool, int (int64), float,
 * str (immutable UTF-8), list and dict (mutable, shared by reference),
 * tuple, plus jinja2's Undefined, Namespace, macros, bound methods and the
 * loop object. */
#ifndef MX_TEMPLATE_TMPL_H
#define MX_TEMPLATE_TMPL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx/base.h"
#include "mx/template.h"

/* ---- errors and arena ---- */

typedef struct jt_err {
  jmp_buf jb;
  mx_status st;
  int line;
  char msg[768];
} jt_err;

typedef struct jt_chunk jt_chunk;
typedef struct {
  jt_chunk *head;
  size_t total, limit;
  jt_err *err;
} jt_arena;

void jt_arena_init(jt_arena *a, size_t limit, jt_err *err);
void jt_arena_release(jt_arena *a);
void *jt_alloc(jt_arena *a, size_t n);  /* 16-byte aligned, not zeroed */
void *jt_zalloc(jt_arena *a, size_t n); /* zeroed */
char *jt_strndup(jt_arena *a, const char *s, size_t n);
_Noreturn void jt_fail(jt_err *e, int line, mx_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- values ---- */

typedef enum {
  JV_UNDEF = 0,
  JV_NONE,
  JV_BOOL,
  JV_INT,
  JV_FLOAT,
  JV_STR,
  JV_LIST,
  JV_TUPLE,
  JV_DICT,
  JV_NS,    /* namespace(): a dict with attribute access */
  JV_FUNC,  /* builtin function or bound method */
  JV_MACRO, /* macro or call-block caller */
  JV_LOOP,  /* the `loop` variable */
  JV_ABSENT /* internal: an argument that was not passed */
} jv_type;

typedef struct jstr {
  size_t n;
  int8_t ascii; /* 1 when all ASCII (set at creation) */
  char p[];     /* n bytes + NUL */
} jstr;

struct jv;
typedef struct jlist {
  size_t n, cap;
  struct jv *v;
  const char *const *fields; /* a named tuple's field names (groupby), or NULL */
  /* What Python makes a generator or iterator (select, map, reverse, ...):
   * always true, not subscriptable. Length and slicing still work here
   * (Python would fail). */
  bool lazy;
} jlist;

typedef struct jdict {
  size_t n, cap;
  struct jv *k, *v;
  uint32_t *idx; /* open-addressing hash index (slot = position + 1) */
  size_t icap;
} jdict;

/* Why a value is undefined, to word the error when it is used. */
typedef struct jundef {
  const char *hint;    /* complete message, or NULL */
  const char *name;    /* variable or attribute name */
  const char *objtype; /* "dict object" when an attribute/key was missing */
  int64_t index;       /* missing element (when name is NULL and objtype set) */
} jundef;

struct jt_ctx;
struct jt_args;
typedef struct jv (*jt_builtin)(struct jt_ctx *c, struct jv self, struct jt_args *a);

typedef struct jfunc {
  const char *name;
  jt_builtin fn;
  struct jv *self; /* receiver of a bound method (NULL for a global) */
} jfunc;

typedef struct jv {
  uint8_t t;
  uint8_t safe; /* JV_STR: Markup (marked safe) */
  union {
    bool b;
    int64_t i;
    double f;
    jstr *s;
    jlist *l; /* JV_LIST, JV_TUPLE */
    jdict *d; /* JV_DICT, JV_NS */
    jfunc *fn;
    struct jmacro *m;
    struct jloop *loop;
    jundef *u; /* may be NULL */
  };
} jv;

/* ---- AST ---- */

typedef enum {
  /* statements */
  N_TEXT,
  N_PRINT,
  N_IF,
  N_FOR,
  N_SET,
  N_SETBLOCK,
  N_MACRO,
  N_CALLBLOCK,
  N_FILTERBLOCK,
  N_BREAK,
  N_CONTINUE,
  N_WITH,
  N_BODY, /* generation, block: just render the body */
  /* expressions */
  E_CONST,
  E_NAME,
  E_GETATTR,
  E_GETITEM,
  E_SLICE,
  E_CALL,
  E_FILTER,
  E_TEST,
  E_UNARY,
  E_BIN,
  E_CONCAT,
  E_AND,
  E_OR,
  E_COMPARE,
  E_OPERAND,
  E_COND,
  E_LIST,
  E_TUPLE,
  E_DICT,
  E_NSREF
} jt_kind;

typedef enum {
  OP_ADD,
  OP_SUB,
  OP_MUL,
  OP_DIV,
  OP_FLOORDIV,
  OP_MOD,
  OP_POW,
  OP_NEG,
  OP_POS,
  OP_NOT,
  OP_EQ,
  OP_NE,
  OP_LT,
  OP_LE,
  OP_GT,
  OP_GE,
  OP_IN,
  OP_NOTIN
} jt_op;

/* node flags */
enum {
  NF_RECURSIVE = 1,   /* for ... recursive */
  NF_USES_CALLER = 2, /* macro body mentions caller / varargs / kwargs */
  NF_USES_VARARGS = 4,
  NF_USES_KWARGS = 8,
  NF_UNKNOWN = 16, /* filter/test not found: error when evaluated */
};

typedef struct jt_node jt_node;
typedef struct {
  jt_node **v;
  int n;
} jt_list;

/* One generic node; which fields mean what is listed per kind in parser.c. */
struct jt_node {
  uint8_t kind, op, flags;
  int line;
  jt_node *a, *b, *c;
  jt_list x, y;
  const char **names;
  int nnames;
  const char *name, *attr;
  jv val;
  const void *fn; /* resolved filter or test */
};

/* ---- template ---- */

struct mx_template {
  jt_arena ar;
  jt_err err; /* parse errors; the arena points here */
  jt_list body;
  mx_template_options opt;
  const char *src; /* normalised source, for error lines */
};

/* lexer + parser: fills t->body or fails through t->err */
void jt_parse(mx_template *t, const char *src);

/* ---- render context ---- */

typedef struct jt_buf {
  char *p;
  size_t n, cap;
} jt_buf;

typedef struct jt_scope {
  struct jt_scope *parent;
  const jdict *dict; /* the render context (read-only), or NULL */
  int n, cap;
  const char **k;
  jv *v;
} jt_scope;

typedef struct jmacro {
  const jt_node *node; /* N_MACRO or N_CALLBLOCK (as caller) */
  jt_scope *closure;
  const char *name;
} jmacro;

typedef struct jloop {
  jv *items;
  int64_t n, i;
  int depth0;
  const jt_node *node; /* the for node (recursive loops re-run it) */
  jt_scope *scope;     /* scope the for loop ran in */
  jv last_changed;
  bool has_changed;
} jloop;

typedef struct jt_args {
  int n;
  jv *pos;
  int nk;
  const char **kname;
  jv *kval;
} jt_args;

typedef struct jt_ctx {
  jt_arena ar;
  jt_err *err;
  const mx_template *t;
  jt_buf *out;
  jt_scope *sc; /* current scope */
  int depth;
  int64_t steps;
  int line;
} jt_ctx;

_Noreturn void jt_error(jt_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void jt_step(jt_ctx *c, int64_t n); /* count work against max_steps */

/* ---- value helpers (value.c) ---- */

static inline jv jv_undef(void) { return (jv){.t = JV_UNDEF}; }
static inline jv jv_none(void) { return (jv){.t = JV_NONE}; }
static inline jv jv_absent(void) { return (jv){.t = JV_ABSENT}; }
static inline jv jv_bool(bool b) { return (jv){.t = JV_BOOL, .b = b}; }
static inline jv jv_int(int64_t i) { return (jv){.t = JV_INT, .i = i}; }
static inline jv jv_float(double f) { return (jv){.t = JV_FLOAT, .f = f}; }
static inline bool jv_is_num(jv v) {
  return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT;
}
static inline bool jv_is_seq(jv v) { return v.t == JV_LIST || v.t == JV_TUPLE; }

jstr *jt_newstr(jt_arena *a, const char *p, size_t n);
jv jv_str(jt_arena *a, const char *p, size_t n);
jv jv_cstr(jt_arena *a, const char *s);
jv jv_strobj(jstr *s);
jv jv_undef_name(jt_ctx *c, const char *name);
jv jv_undef_hint(jt_ctx *c, const char *hint);
jv jv_undef_attr(jt_ctx *c, jv obj, const char *name);
jv jv_undef_index(jt_ctx *c, jv obj, int64_t index);
_Noreturn void jt_undef_fail(jt_ctx *c, jv u);
const char *jv_typename(jv v); /* Python type name: 'int', 'str', ... */
const char *jv_objtype(jv v);  /* jinja2's "dict object" wording */

jlist *jl_new(jt_arena *a, size_t cap);
void jl_push(jt_arena *a, jlist *l, jv v);
jv jv_list(jlist *l);
jv jv_tuple(jlist *l);
jdict *jd_new(jt_arena *a, size_t cap);
jv *jd_get(jt_ctx *c, const jdict *d, jv key); /* NULL when absent */
jv *jd_gets(const jdict *d, const char *key, size_t n);
void jd_set(jt_ctx *c, jdict *d, jv key, jv val);
bool jd_del(jt_ctx *c, jdict *d, jv key, jv *old);
jdict *jd_copy(jt_ctx *c, const jdict *d);
jv jv_dict(jdict *d);

bool jv_truthy(jv v);
bool jv_eq(jt_ctx *c, jv a, jv b);
/* Python ordering: <0, 0, >0; errors (TypeError) when not comparable */
int jv_cmp(jt_ctx *c, jv a, jv b, const char *opname);
bool jv_contains(jt_ctx *c, jv container, jv item);
void jv_check_hashable(jt_ctx *c, jv v);

/* str(), repr(), and JSON */
void jt_buf_put(jt_ctx *c, jt_buf *b, const char *p, size_t n);
void jt_buf_putc(jt_ctx *c, jt_buf *b, char ch);
void jt_buf_puts(jt_ctx *c, jt_buf *b, const char *s);
jv jt_buf_take(jt_ctx *c, jt_buf *b); /* the buffer's content as a str */
void jv_write_str(jt_ctx *c, jt_buf *b, jv v);
void jv_write_repr(jt_ctx *c, jt_buf *b, jv v, int depth);
jstr *jv_to_str(jt_ctx *c, jv v);
void jt_float_repr(double f, char *buf, size_t cap); /* Python repr(float) */
typedef struct {
  const char *indent; /* NULL: no newlines */
  const char *item_sep, *key_sep;
  bool sort_keys, ensure_ascii;
} jt_json_opts;
void jv_write_json(jt_ctx *c, jt_buf *b, jv v, const jt_json_opts *o, int level);

/* iteration: a materialised list of the items `for x in v` would give */
jlist *jv_iter(jt_ctx *c, jv v);
int64_t jv_len(jt_ctx *c, jv v);

/* JSON text -> values (json.c); fails through c->err */
jv jt_json_parse(jt_ctx *c, const char *text, const char *what);

/* ---- unicode (ustr.c) ---- */

uint32_t ju_decode(const char *s, size_t n, size_t *len); /* next code point */
size_t ju_encode(uint32_t cp, char *out);                 /* <= 4 bytes */
bool ju_isspace(uint32_t cp);
bool ju_is_ascii(jstr *s);
int64_t ju_len(jstr *s); /* code points */
/* code points of s (arena array); *n receives the count */
uint32_t *ju_cps(jt_ctx *c, jstr *s, int64_t *n);
jv ju_from_cps(jt_ctx *c, const uint32_t *cp, int64_t n);
jv ju_upper(jt_ctx *c, jstr *s);
jv ju_lower(jt_ctx *c, jstr *s);
jv ju_title_py(jt_ctx *c, jstr *s);    /* str.title() */
jv ju_title_jinja(jt_ctx *c, jstr *s); /* the |title filter */
jv ju_capitalize(jt_ctx *c, jstr *s);
bool ju_isalpha(uint32_t cp);
bool ju_isdigit(uint32_t cp);
bool ju_isalnum(uint32_t cp);
bool ju_islower(uint32_t cp);
bool ju_isupper(uint32_t cp);
bool ju_istitle(uint32_t cp);
bool ju_isprintable(uint32_t cp);
/* is a line break for str.splitlines() */
bool ju_islinebreak(uint32_t cp);

/* ---- interpreter (interp.c) ---- */

jv jt_eval(jt_ctx *c, const jt_node *n);
jv jt_getattr(jt_ctx *c, jv obj, const char *name);
jv jt_getitem(jt_ctx *c, jv obj, jv key);
jv jt_call(jt_ctx *c, jv fn, jt_args *a);
jv jt_binop(jt_ctx *c, int op, jv a, jv b);
jt_scope *jt_scope_new(jt_ctx *c, jt_scope *parent);
void jt_exec_template(jt_ctx *c);
void jt_scope_set(jt_ctx *c, jt_scope *s, const char *name, jv v);

/* ---- filters, tests, methods, globals (filters.c, methods.c) ---- */

typedef jv (*jt_filter_fn)(jt_ctx *c, jv v, jt_args *a);
typedef bool (*jt_test_fn)(jt_ctx *c, jv v, jt_args *a);
jt_filter_fn jt_find_filter(const char *name);
jt_test_fn jt_find_test(const char *name);
jv jt_apply_filter(jt_ctx *c, const char *name, jv v, jt_args *a);
bool jt_apply_test(jt_ctx *c, const char *name, jv v, jt_args *a);
/* a bound method of a str/list/dict value, or undefined when none */
jv jt_method(jt_ctx *c, jv obj, const char *name);
bool jt_has_method(jv obj, const char *name);
jv jt_global(jt_ctx *c, const char *name); /* builtin globals; JV_ABSENT if none */
jv jt_percent_format(jt_ctx *c, jstr *fmt, jv args, bool fmt_safe);
jv jt_make_func(jt_ctx *c, const char *name, jt_builtin fn, const jv *self);

/* argument binding: names[i] is the i-th parameter; `nreq` are required.
 * out[i] is JV_ABSENT when not passed. */
void jt_bind(jt_ctx *c, const char *fname, jt_args *a, const char *const *names,
             int nparams, int nreq, jv *out);
int64_t jt_to_index(jt_ctx *c, jv v, const char *what);

/* string helpers shared by filters and str methods (filters.c) */
jv jt_html_escape(jt_ctx *c, jstr *s); /* a Markup string */
jv jt_pad(jt_ctx *c, jstr *s, int64_t width, int align, uint32_t fill); /* '<' '>' '^' */
jv jt_strip(jt_ctx *c, jstr *s, jv chars, int which); /* 1 left, 2 right, 3 both */
jv jt_str_replace(jt_ctx *c, jstr *s, jstr *old, jstr *rep, int64_t count);
jlist *jt_splitlines(jt_ctx *c, jstr *s, bool keepends);
bool jt_parse_int(jstr *s, int base, int64_t *out);
bool jt_parse_float(jstr *s, double *out);
/* stable order of keys[0..n) (Python's sorted), errors for incomparable keys */
size_t *jt_sort_order(jt_ctx *c, const jv *keys, size_t n, bool reverse);

#endif
