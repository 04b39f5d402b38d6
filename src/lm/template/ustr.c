/* ustr.c: Unicode helpers with Python's str semantics: strings are UTF-8
 * bytes, but lengths, indices and case/character classes are per code point,
 * as in Python. Invalid UTF-8 bytes decode to U+DC80..U+DCFF (Python's
 * surrogateescape) and encode back to the same byte, so no input is lost. */
#include <string.h>
#include <utf8proc.h>

#include "tmpl.h"

uint32_t ju_decode(const char *s, size_t n, size_t *len) {
  const unsigned char *u = (const unsigned char *)s;
  uint32_t c = u[0];
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  int k;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) {
    k = 1, c &= 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    k = 2, c &= 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    k = 3, c &= 0x07, min = 0x10000;
  } else {
    goto bad;
  }
  if ((size_t)k >= n) goto bad;
  for (int i = 1; i <= k; i++) {
    if ((u[i] & 0xC0) != 0x80) goto bad;
    c = (c << 6) | (u[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF) goto bad;
  *len = (size_t)k + 1;
  return c;
bad:
  *len = 1;
  return 0xDC00 | u[0];
}

size_t ju_encode(uint32_t c, char *o) {
  unsigned char *u = (unsigned char *)o;
  if (c < 0x80) {
    u[0] = (unsigned char)c;
    return 1;
  }
  if (c >= 0xDC80 && c <= 0xDCFF) { /* an escaped invalid byte */
    u[0] = (unsigned char)(c & 0xFF);
    return 1;
  }
  if (c < 0x800) {
    u[0] = (unsigned char)(0xC0 | (c >> 6));
    u[1] = (unsigned char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    u[0] = (unsigned char)(0xE0 | (c >> 12));
    u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    u[2] = (unsigned char)(0x80 | (c & 0x3F));
    return 3;
  }
  if (c > 0x10FFFF) c = 0xFFFD;
  u[0] = (unsigned char)(0xF0 | (c >> 18));
  u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
  u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
  u[3] = (unsigned char)(0x80 | (c & 0x3F));
  return 4;
}

/* Python's str.isspace() (and what str.split()/strip() treat as blanks) */
bool ju_isspace(uint32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return true;
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool ju_islinebreak(uint32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
         c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
}

static int cat(uint32_t c) {
  if (c > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category((utf8proc_int32_t)c);
}

bool ju_isalpha(uint32_t c) {
  if (c < 0x80) return (c | 32) >= 'a' && (c | 32) <= 'z';
  int k = cat(c);
  return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
bool ju_isdigit(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return cat(c) == UTF8PROC_CATEGORY_ND;
}
bool ju_isalnum(uint32_t c) {
  if (c < 0x80) return ju_isalpha(c) || ju_isdigit(c);
  int k = cat(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
         (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}
bool ju_islower(uint32_t c) { return cat(c) == UTF8PROC_CATEGORY_LL; }
bool ju_isupper(uint32_t c) { return cat(c) == UTF8PROC_CATEGORY_LU; }
bool ju_istitle(uint32_t c) { return cat(c) == UTF8PROC_CATEGORY_LT; }
static bool iscased(uint32_t c) {
  int k = cat(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL ||
         k == UTF8PROC_CATEGORY_LT;
}

bool ju_isprintable(uint32_t c) {
  if (c == ' ') return true;
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  if (c >= 0xDC80 && c <= 0xDCFF) return false;
  switch (cat(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

bool ju_is_ascii(jstr *s) { return s->ascii == 1; }

int64_t ju_len(jstr *s) {
  if (ju_is_ascii(s)) return (int64_t)s->n;
  int64_t k = 0;
  size_t l;
  for (size_t i = 0; i < s->n; i += l, k++) ju_decode(s->p + i, s->n - i, &l);
  return k;
}

uint32_t *ju_cps(jt_ctx *c, jstr *s, int64_t *n) {
  uint32_t *o = jt_alloc(&c->ar, (s->n + 1) * sizeof *o);
  int64_t k = 0;
  size_t l;
  for (size_t i = 0; i < s->n; i += l) o[k++] = ju_decode(s->p + i, s->n - i, &l);
  *n = k;
  return o;
}

jv ju_from_cps(jt_ctx *c, const uint32_t *cp, int64_t n) {
  char *tmp = jt_alloc(&c->ar, (size_t)n * 4 + 1);
  size_t k = 0;
  for (int64_t i = 0; i < n; i++) k += ju_encode(cp[i], tmp + k);
  return jv_str(&c->ar, tmp, k);
}

/* case mapping with the one multi-character rule templates may meet (ß) */
enum { UP, LOW, TITLE };
static size_t map_case(uint32_t cp, int mode, char *o) {
  if (cp == 0xDF && mode != LOW) {
    o[0] = 'S';
    o[1] = mode == UP ? 'S' : 's';
    return 2;
  }
  if (cp >= 0xDC80 && cp <= 0xDCFF) return ju_encode(cp, o);
  utf8proc_int32_t r = mode == UP    ? utf8proc_toupper((utf8proc_int32_t)cp)
                       : mode == LOW ? utf8proc_tolower((utf8proc_int32_t)cp)
                                     : utf8proc_totitle((utf8proc_int32_t)cp);
  return ju_encode((uint32_t)r, o);
}

/* rebuild s choosing a case mode per code point: modes(state, cp) */
typedef int (*mode_fn)(void *st, uint32_t cp);
static jv remap(jt_ctx *c, jstr *s, mode_fn f, void *st) {
  char *tmp = jt_alloc(&c->ar, s->n * 3 + 1);
  size_t k = 0, l;
  for (size_t i = 0; i < s->n; i += l) {
    uint32_t cp = ju_decode(s->p + i, s->n - i, &l);
    int m = f(st, cp);
    if (cp < 0x80 && cp != 0xDF) {
      char ch = (char)cp;
      if (m == LOW && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
      if (m != LOW && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
      tmp[k++] = ch;
    } else {
      k += map_case(cp, m, tmp + k);
    }
  }
  return jv_str(&c->ar, tmp, k);
}

static int m_up(void *st, uint32_t cp) { return UP; }
static int m_low(void *st, uint32_t cp) { return LOW; }
jv ju_upper(jt_ctx *c, jstr *s) { return remap(c, s, m_up, NULL); }
jv ju_lower(jt_ctx *c, jstr *s) { return remap(c, s, m_low, NULL); }

/* str.title(): title-case a cased character that follows an uncased one */
static int m_title_py(void *st, uint32_t cp) {
  bool *prev = st;
  int m = *prev ? LOW : TITLE;
  *prev = iscased(cp);
  return m;
}
jv ju_title_py(jt_ctx *c, jstr *s) {
  bool prev = false;
  return remap(c, s, m_title_py, &prev);
}

/* jinja2's title filter: upper-case the first character of each piece
 * between runs of [-\s({[<], lower-case the rest */
static int m_title_j(void *st, uint32_t cp) {
  bool *at_start = st;
  bool sep =
      cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || ju_isspace(cp);
  int m = *at_start ? UP : LOW;
  *at_start = sep;
  return m;
}
jv ju_title_jinja(jt_ctx *c, jstr *s) {
  bool st = true;
  return remap(c, s, m_title_j, &st);
}

static int m_cap(void *st, uint32_t cp) {
  bool *first = st;
  int m = *first ? TITLE : LOW;
  *first = false;
  return m;
}
jv ju_capitalize(jt_ctx *c, jstr *s) {
  bool first = true;
  return remap(c, s, m_cap, &first);
}
