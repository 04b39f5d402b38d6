/* lexer.c: template source -> tokens, following jinja2's lexer: newlines
 * normalised to \n, one trailing newline dropped, {{ }} / {% %} / {# #} with
 * '-' (strip all whitespace on that side) and '+' (keep) markers,
 * lstrip_blocks (spaces before a block or comment tag on its own line) and
 * trim_blocks (the newline after %} or #}), raw blocks, and inside tags:
 * names, strings (Python escapes), integers (0x/0o/0b, underscores), floats
 * and operators, with bracket balancing so "}}" inside a dict literal does
 * not end a tag. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"

typedef struct {
  mx_template *t;
  const char *s;
  size_t n, pos;
  int line;
  bool line_starting;
  jt_toks *out;
  char bal[256]; /* expected closing brackets */
  int nbal;
} lx;

_Noreturn static void lfail(lx *L, const char *fmt, const char *arg) {
  jt_fail(&L->t->err, L->line, MX_ERR_INVALID, fmt, arg);
}

static jt_tok *emit(lx *L, int type, int line) {
  jt_toks *o = L->out;
  if (o->n == o->cap) {
    size_t nc = o->cap ? o->cap * 2 : 256;
    jt_tok *nv = jt_alloc(&L->t->ar, nc * sizeof *nv);
    if (o->n) memcpy(nv, o->v, o->n * sizeof *nv);
    o->v = nv;
    o->cap = nc;
  }
  jt_tok *k = &o->v[o->n++];
  memset(k, 0, sizeof *k);
  k->type = (uint8_t)type;
  k->line = line;
  return k;
}

static int count_nl(const char *p, size_t n) {
  int k = 0;
  for (size_t i = 0; i < n; i++) k += p[i] == '\n';
  return k;
}

/* length of the text once Python's str.rstrip() has removed whitespace */
static size_t rstrip_len(const char *p, size_t n) {
  size_t keep = 0, l;
  for (size_t i = 0; i < n; i += l) {
    uint32_t cp = ju_decode(p + i, n - i, &l);
    if (!ju_isspace(cp)) keep = i + l;
  }
  return keep;
}

static bool all_space(const char *p, size_t n) {
  size_t l;
  for (size_t i = 0; i < n; i += l)
    if (!ju_isspace(ju_decode(p + i, n - i, &l))) return false;
  return true;
}

/* skip Python whitespace from i; returns the new position */
static size_t skip_ws(const char *s, size_t n, size_t i) {
  size_t l;
  while (i < n && ju_isspace(ju_decode(s + i, n - i, &l))) i += l;
  return i;
}

/* The text before a tag, after '-' / lstrip_blocks processing. `sign` is
 * the tag's whitespace marker; `is_var` tells {{ (never lstripped). */
static void emit_text(lx *L, size_t start, size_t end, char sign, bool is_var) {
  const char *p = L->s + start;
  size_t n = end - start;
  if (sign == '-') {
    n = rstrip_len(p, n);
  } else if (sign != '+' && L->t->opt.lstrip_blocks && !is_var) {
    size_t lpos = 0;
    for (size_t i = n; i > 0; i--)
      if (p[i - 1] == '\n') {
        lpos = i;
        break;
      }
    if ((lpos > 0 || L->line_starting) && lpos < n && all_space(p + lpos, n - lpos))
      n = lpos;
  }
  if (n) {
    jt_tok *k = emit(L, TK_DATA, L->line);
    k->s = p;
    k->n = n;
  }
  L->line += count_nl(L->s + start, end - start);
}

static bool at(lx *L, size_t i, const char *lit) {
  size_t k = strlen(lit);
  return i + k <= L->n && memcmp(L->s + i, lit, k) == 0;
}

/* `{%[-+]?\s*raw\s*(-%}\s*|%})` at i: returns the end of the match or 0 */
static size_t match_raw_begin(lx *L, size_t i) {
  size_t j = i + 2;
  if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) j++;
  j = skip_ws(L->s, L->n, j);
  if (!at(L, j, "raw")) return 0;
  j = skip_ws(L->s, L->n, j + 3);
  if (at(L, j, "-%}")) return skip_ws(L->s, L->n, j + 3);
  if (at(L, j, "%}")) return j + 2;
  return 0;
}

/* find `{%[-+]?\s*endraw\s*(+%}|-%}\s*|%}\n?)` from i */
static void lex_raw(lx *L, size_t body) {
  for (size_t i = body; i + 1 < L->n; i++) {
    if (L->s[i] != '{' || L->s[i + 1] != '%') continue;
    size_t j = i + 2;
    char sign = 0;
    if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) sign = L->s[j++];
    j = skip_ws(L->s, L->n, j);
    if (!at(L, j, "endraw")) continue;
    j = skip_ws(L->s, L->n, j + 6);
    size_t end;
    if (at(L, j, "+%}")) {
      end = j + 3;
    } else if (at(L, j, "-%}")) {
      end = skip_ws(L->s, L->n, j + 3);
    } else if (at(L, j, "%}")) {
      end = j + 2;
      if (L->t->opt.trim_blocks && end < L->n && L->s[end] == '\n') end++;
    } else {
      continue;
    }
    emit_text(L, body, i, sign, false);
    L->line += count_nl(L->s + i, end - i);
    L->line_starting = L->s[end - 1] == '\n';
    L->pos = end;
    return;
  }
  lfail(L, "%s", "Missing end of raw directive");
}

static void lex_comment(lx *L, size_t i) {
  for (; i + 1 < L->n; i++) {
    size_t end;
    if (L->s[i] == '+' && at(L, i + 1, "#}")) {
      end = i + 3;
    } else if (L->s[i] == '-' && at(L, i + 1, "#}")) {
      end = skip_ws(L->s, L->n, i + 3);
    } else if (at(L, i, "#}")) {
      end = i + 2;
      if (L->t->opt.trim_blocks && end < L->n && L->s[end] == '\n') end++;
    } else {
      continue;
    }
    L->line += count_nl(L->s + L->pos, end - L->pos);
    L->line_starting = L->s[end - 1] == '\n';
    L->pos = end;
    return;
  }
  lfail(L, "%s", "Missing end of comment tag");
}

static bool isdig(char c) { return c >= '0' && c <= '9'; }
static bool isnamec(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || isdig(c);
}

/* (\d+_)*\d+ at p: its length or 0 */
static size_t digits_us(const char *p, const char *end) {
  const char *q = p;
  if (q >= end || !isdig(*q)) return 0;
  for (;;) {
    while (q < end && isdig(*q)) q++;
    if (q + 1 < end && *q == '_' && isdig(q[1])) {
      q++;
      continue;
    }
    return (size_t)(q - p);
  }
}

static size_t match_float(lx *L, size_t i) {
  if (i > 0 && L->s[i - 1] == '.') return 0;
  const char *p = L->s + i, *end = L->s + L->n;
  size_t d = digits_us(p, end);
  if (!d) return 0;
  const char *q = p + d;
  /* fraction? then exponent (alternative 1), or fraction alone (2) */
  const char *frac_end = NULL;
  if (q < end && *q == '.') {
    size_t f = digits_us(q + 1, end);
    if (f) frac_end = q + 1 + f;
  }
  const char *e = frac_end ? frac_end : q;
  if (e < end && (*e == 'e' || *e == 'E')) {
    const char *x = e + 1;
    if (x < end && (*x == '+' || *x == '-')) x++;
    size_t ed = digits_us(x, end);
    if (ed) return (size_t)(x + ed - p);
  }
  return frac_end ? (size_t)(frac_end - p) : 0;
}

static int digval(char c) {
  if (isdig(c)) return c - '0';
  c = (char)(c | 32);
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  return 99;
}

/* integer literal at i (jinja2's integer_re); sets *val */
static size_t match_int(lx *L, size_t i, int64_t *val) {
  const char *p = L->s + i, *end = L->s + L->n;
  int base = 10;
  const char *q = p;
  if (*p == '0' && p + 1 < end && strchr("bBoOxX", p[1]) && p[1]) {
    base = (p[1] | 32) == 'b' ? 2 : (p[1] | 32) == 'o' ? 8 : 16;
    q = p + 2;
    const char *r = q;
    for (;;) {
      const char *s2 = r;
      if (s2 < end && *s2 == '_') s2++;
      if (s2 < end && digval(*s2) < base) {
        r = s2 + 1;
      } else {
        break;
      }
    }
    if (r == q) {
      base = 10; /* just "0" followed by a name */
      q = p;
    } else {
      q = r;
      goto convert;
    }
  }
  if (*p == '0') {
    q = p + 1;
    for (;;) {
      const char *s2 = q;
      if (s2 < end && *s2 == '_') s2++;
      if (s2 < end && *s2 == '0') {
        q = s2 + 1;
      } else {
        break;
      }
    }
  } else {
    q = p + 1;
    for (;;) {
      const char *s2 = q;
      if (s2 < end && *s2 == '_') s2++;
      if (s2 < end && isdig(*s2)) {
        q = s2 + 1;
      } else {
        break;
      }
    }
  }
convert:;
  uint64_t v = 0;
  for (const char *r = base == 10 ? p : p + 2; r < q; r++) {
    if (*r == '_') continue;
    uint64_t nv = v * (uint64_t)base + (uint64_t)digval(*r);
    if (nv / (uint64_t)base != v || nv > (uint64_t)INT64_MAX)
      lfail(L, "%s", "integer literal too large");
    v = nv;
  }
  *val = (int64_t)v;
  return (size_t)(q - p);
}

/* decode a string literal body with Python's unicode-escape rules */
static jv unescape(lx *L, const char *p, size_t n) {
  char *o = jt_alloc(&L->t->ar, n * 4 + 1); /* \x escapes may grow to 2 bytes */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] != '\\' || i + 1 >= n) {
      o[k++] = p[i];
      continue;
    }
    char e = p[++i];
    uint32_t cp;
    int want = 0;
    switch (e) {
      case '\n':
        continue;
      case '\\':
        o[k++] = '\\';
        continue;
      case '\'':
        o[k++] = '\'';
        continue;
      case '"':
        o[k++] = '"';
        continue;
      case 'a':
        o[k++] = '\a';
        continue;
      case 'b':
        o[k++] = '\b';
        continue;
      case 'f':
        o[k++] = '\f';
        continue;
      case 'n':
        o[k++] = '\n';
        continue;
      case 'r':
        o[k++] = '\r';
        continue;
      case 't':
        o[k++] = '\t';
        continue;
      case 'v':
        o[k++] = '\v';
        continue;
      case 'x':
        want = 2;
        break;
      case 'u':
        want = 4;
        break;
      case 'U':
        want = 8;
        break;
      case 'N':
        lfail(L, "%s", "\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          cp = 0;
          int d = 0;
          while (d < 3 && i < n && p[i] >= '0' && p[i] <= '7')
            cp = cp * 8 + (uint32_t)(p[i++] - '0'), d++;
          i--;
          k += ju_encode(cp, o + k);
          continue;
        }
        o[k++] = '\\'; /* unknown escapes stay as written */
        o[k++] = e;
        continue;
    }
    cp = 0;
    for (int d = 0; d < want; d++) {
      if (i + 1 >= n || digval(p[i + 1]) > 15)
        lfail(L, "%s",
              want == 2 ? "truncated \\xXX escape"
                        : (want == 4 ? "truncated \\uXXXX escape"
                                     : "truncated \\UXXXXXXXX escape"));
      cp = cp * 16 + (uint32_t)digval(p[++i]);
    }
    if (cp > 0x10FFFF) lfail(L, "%s", "illegal Unicode character");
    k += ju_encode(cp, o + k);
  }
  return jv_str(&L->t->ar, o, k);
}

static const char *const OPS2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char OPS2C[] = {TOP_FLOORDIV, TOP_POW, TOP_EQ, TOP_NE, TOP_GE, TOP_LE};

/* tokens inside {{ }} or {% %} up to the end marker */
static void lex_tag(lx *L, bool is_var) {
  L->nbal = 0;
  for (;;) {
    size_t i = L->pos;
    if (i >= L->n) return; /* the parser reports the missing end */
    if (L->nbal == 0) {
      size_t end = 0;
      if (is_var) {
        if (at(L, i, "-}}"))
          end = skip_ws(L->s, L->n, i + 3);
        else if (at(L, i, "}}"))
          end = i + 2;
      } else {
        if (at(L, i, "+%}")) {
          end = i + 3;
        } else if (at(L, i, "-%}")) {
          end = skip_ws(L->s, L->n, i + 3);
        } else if (at(L, i, "%}")) {
          end = i + 2;
          if (L->t->opt.trim_blocks && end < L->n && L->s[end] == '\n') end++;
        }
      }
      if (end) {
        emit(L, is_var ? TK_VAR_END : TK_BLOCK_END, L->line);
        L->line += count_nl(L->s + i, end - i);
        L->line_starting = L->s[end - 1] == '\n';
        L->pos = end;
        return;
      }
    }
    size_t l;
    uint32_t cp = ju_decode(L->s + i, L->n - i, &l);
    if (ju_isspace(cp)) {
      size_t e = skip_ws(L->s, L->n, i);
      L->line += count_nl(L->s + i, e - i);
      L->pos = e;
      continue;
    }
    char ch = L->s[i];
    size_t m;
    if (isdig(ch) && (m = match_float(L, i))) {
      char *tmp = jt_alloc(&L->t->ar, m + 1);
      size_t k = 0;
      for (size_t j = 0; j < m; j++)
        if (L->s[i + j] != '_') tmp[k++] = L->s[i + j];
      tmp[k] = 0;
      jt_tok *t = emit(L, TK_FLOAT, L->line);
      t->val = jv_float(strtod(tmp, NULL));
      L->pos = i + m;
      continue;
    }
    if (isdig(ch)) {
      int64_t v;
      m = match_int(L, i, &v);
      jt_tok *t = emit(L, TK_INT, L->line);
      t->val = jv_int(v);
      L->pos = i + m;
      continue;
    }
    if (isnamec(ch)) {
      size_t j = i;
      while (j < L->n && isnamec(L->s[j])) j++;
      jt_tok *t = emit(L, TK_NAME, L->line);
      t->s = jt_strndup(&L->t->ar, L->s + i, j - i);
      t->n = j - i;
      L->pos = j;
      continue;
    }
    if (ch == '\'' || ch == '"') {
      size_t j = i + 1;
      while (j < L->n && L->s[j] != ch) j += L->s[j] == '\\' ? 2 : 1;
      if (j >= L->n) {
        char q[2] = {ch, 0};
        lfail(L, "unexpected char '%s'", q);
      }
      jt_tok *t = emit(L, TK_STRING, L->line);
      t->val = unescape(L, L->s + i + 1, j - i - 1);
      L->line += count_nl(L->s + i, j - i);
      L->pos = j + 1;
      continue;
    }
    int op = 0;
    for (int k = 0; k < 6; k++)
      if (at(L, i, OPS2[k])) {
        op = OPS2C[k];
        m = 2;
      }
    if (!op && strchr("+-/*%~[](){}><=.:|,;", ch) && ch) {
      op = ch;
      m = 1;
    }
    if (!op) {
      char q[8] = {0};
      memcpy(q, L->s + i, l < 7 ? l : 7);
      lfail(L, "unexpected char '%s'", q);
    }
    if (op == '(' || op == '[' || op == '{') {
      if (L->nbal == (int)sizeof L->bal) lfail(L, "%s", "brackets nested too deeply");
      L->bal[L->nbal++] = op == '(' ? ')' : op == '[' ? ']' : '}';
    } else if (op == ')' || op == ']' || op == '}') {
      char q[2] = {(char)op, 0};
      if (L->nbal == 0) lfail(L, "unexpected '%s'", q);
      if (L->bal[L->nbal - 1] != op) {
        char m2[64];
        snprintf(m2, sizeof m2, "unexpected '%c', expected '%c'", op,
                 L->bal[L->nbal - 1]);
        lfail(L, "%s", m2);
      }
      L->nbal--;
    }
    jt_tok *t = emit(L, TK_OP, L->line);
    t->op = (uint8_t)op;
    L->pos = i + m;
  }
}

/* Normalise newlines and drop one trailing newline (unless kept). */
static char *normalise(mx_template *t, const char *src, size_t *n_out) {
  size_t n = strlen(src);
  char *o = jt_alloc(&t->ar, n + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (src[i] == '\r') {
      o[k++] = '\n';
      if (i + 1 < n && src[i + 1] == '\n') i++;
    } else {
      o[k++] = src[i];
    }
  }
  if (!t->opt.keep_trailing_newline && k > 0 && o[k - 1] == '\n') k--;
  o[k] = 0;
  *n_out = k;
  return o;
}

void jt_lex(mx_template *t, const char *src, jt_toks *out) {
  lx L = {.t = t, .line = 1, .line_starting = true, .out = out};
  L.s = normalise(t, src, &L.n);
  t->src = L.s;
  while (L.pos < L.n) {
    size_t i = L.pos, j = i;
    const char *p;
    while ((p = memchr(L.s + j, '{', L.n - j))) {
      j = (size_t)(p - L.s);
      if (j + 1 < L.n && p[1] && strchr("{%#", p[1])) break;
      j++;
    }
    if (!p) {
      emit_text(&L, i, L.n, 0, true);
      break;
    }
    char kind = p[1];
    char sign = (j + 2 < L.n && (p[2] == '-' || p[2] == '+')) ? p[2] : 0;
    size_t raw_end = kind == '%' ? match_raw_begin(&L, j) : 0;
    emit_text(&L, i, j, sign, kind == '{');
    if (raw_end) {
      L.line += count_nl(L.s + j, raw_end - j);
      L.line_starting = L.s[raw_end - 1] == '\n';
      lex_raw(&L, raw_end);
      continue;
    }
    L.line_starting = false;
    L.pos = j + 2 + (sign ? 1 : 0);
    if (kind == '#') {
      lex_comment(&L, L.pos);
    } else {
      emit(&L, kind == '{' ? TK_VAR_BEGIN : TK_BLOCK_BEGIN, L.line);
      lex_tag(&L, kind == '{');
    }
  }
  emit(&L, TK_EOF, L.line);
}
