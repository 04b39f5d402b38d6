/* json.c: JSON text -> template values, as Python's json.loads builds them.
 *
 * A small parser of our own rather than cJSON because the template must tell
 * 1 from 1.0 (Python prints them differently and tojson keeps the
 * difference); cJSON keeps only a double. Objects keep key order (a repeated
 * key keeps its first position and its last value, as in Python), NaN and
 * Infinity are accepted, and nesting is bounded. Integers beyond int64
 * become floats. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

enum { MAX_DEPTH = 256 };

typedef struct {
  jt_ctx *c;
  const char *s, *p;
  const char *what;
} jp;

_Noreturn static void bad(jp *j, const char *msg) {
  jt_error(j->c, "invalid JSON in %s at offset %zu: %s", j->what, (size_t)(j->p - j->s),
           msg);
}

static void ws(jp *j) {
  while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r') j->p++;
}

static int hex4(jp *j) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char ch = j->p[i];
    v <<= 4;
    if (ch >= '0' && ch <= '9')
      v |= ch - '0';
    else if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
      v |= (ch | 32) - 'a' + 10;
    else
      bad(j, "bad \\u escape");
  }
  j->p += 4;
  return v;
}

static jv parse_string(jp *j) {
  j->p++; /* opening quote */
  const char *start = j->p;
  /* fast path: no escapes */
  while (*j->p && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20) j->p++;
  if (*j->p == '"') {
    jv r = jv_str(&j->c->ar, start, (size_t)(j->p - start));
    j->p++;
    return r;
  }
  jt_buf b = {0};
  jt_buf_put(j->c, &b, start, (size_t)(j->p - start));
  for (;;) {
    unsigned char ch = (unsigned char)*j->p;
    if (ch == '"') break;
    if (ch == 0) bad(j, "unterminated string");
    if (ch < 0x20) bad(j, "control character in string");
    if (ch != '\\') {
      jt_buf_putc(j->c, &b, (char)ch);
      j->p++;
      continue;
    }
    j->p++;
    char e = *j->p++;
    switch (e) {
      case '"':
        jt_buf_putc(j->c, &b, '"');
        break;
      case '\\':
        jt_buf_putc(j->c, &b, '\\');
        break;
      case '/':
        jt_buf_putc(j->c, &b, '/');
        break;
      case 'b':
        jt_buf_putc(j->c, &b, '\b');
        break;
      case 'f':
        jt_buf_putc(j->c, &b, '\f');
        break;
      case 'n':
        jt_buf_putc(j->c, &b, '\n');
        break;
      case 'r':
        jt_buf_putc(j->c, &b, '\r');
        break;
      case 't':
        jt_buf_putc(j->c, &b, '\t');
        break;
      case 'u': {
        uint32_t cp = (uint32_t)hex4(j);
        if (cp >= 0xD800 && cp < 0xDC00 && j->p[0] == '\\' && j->p[1] == 'u') {
          const char *save = j->p;
          j->p += 2;
          uint32_t lo = (uint32_t)hex4(j);
          if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else {
            j->p = save;
          }
        }
        char t[4];
        /* a lone surrogate is kept as its 3-byte form (Python keeps it too) */
        size_t n;
        if (cp >= 0xD800 && cp < 0xE000) {
          t[0] = (char)(0xE0 | (cp >> 12));
          t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
          t[2] = (char)(0x80 | (cp & 0x3F));
          n = 3;
        } else {
          n = ju_encode(cp, t);
        }
        jt_buf_put(j->c, &b, t, n);
        break;
      }
      default:
        j->p--;
        bad(j, "bad escape");
    }
  }
  j->p++;
  return jt_buf_take(j->c, &b);
}

static jv parse_number(jp *j) {
  const char *st = j->p;
  bool isf = false;
  if (*j->p == '-') j->p++;
  if (strncmp(j->p, "Infinity", 8) == 0) {
    j->p += 8;
    return jv_float(*st == '-' ? -INFINITY : INFINITY);
  }
  if (!(*j->p >= '0' && *j->p <= '9')) bad(j, "bad number");
  if (*j->p == '0' && j->p[1] >= '0' && j->p[1] <= '9') bad(j, "leading zero");
  while (*j->p >= '0' && *j->p <= '9') j->p++;
  if (*j->p == '.') {
    isf = true;
    j->p++;
    if (!(*j->p >= '0' && *j->p <= '9')) bad(j, "bad fraction");
    while (*j->p >= '0' && *j->p <= '9') j->p++;
  }
  if (*j->p == 'e' || *j->p == 'E') {
    isf = true;
    j->p++;
    if (*j->p == '+' || *j->p == '-') j->p++;
    if (!(*j->p >= '0' && *j->p <= '9')) bad(j, "bad exponent");
    while (*j->p >= '0' && *j->p <= '9') j->p++;
  }
  char tmp[64];
  size_t n = (size_t)(j->p - st);
  char *buf = n < sizeof tmp ? tmp : jt_alloc(&j->c->ar, n + 1);
  memcpy(buf, st, n);
  buf[n] = 0;
  if (!isf) {
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno != ERANGE) return jv_int(v);
  }
  return jv_float(strtod(buf, NULL));
}

static jv parse_value(jp *j, int depth) {
  if (depth > MAX_DEPTH) bad(j, "nesting too deep");
  ws(j);
  char ch = *j->p;
  if (ch == '"') return parse_string(j);
  if (ch == '{') {
    j->p++;
    jdict *d = jd_new(&j->c->ar, 0);
    ws(j);
    if (*j->p == '}') {
      j->p++;
      return jv_dict(d);
    }
    for (;;) {
      ws(j);
      if (*j->p != '"') bad(j, "expected a string key");
      jv k = parse_string(j);
      ws(j);
      if (*j->p != ':') bad(j, "expected ':'");
      j->p++;
      jv v = parse_value(j, depth + 1);
      jd_set(j->c, d, k, v);
      ws(j);
      if (*j->p == ',') {
        j->p++;
        continue;
      }
      if (*j->p == '}') {
        j->p++;
        return jv_dict(d);
      }
      bad(j, "expected ',' or '}'");
    }
  }
  if (ch == '[') {
    j->p++;
    jlist *l = jl_new(&j->c->ar, 0);
    ws(j);
    if (*j->p == ']') {
      j->p++;
      return jv_list(l);
    }
    for (;;) {
      jl_push(&j->c->ar, l, parse_value(j, depth + 1));
      ws(j);
      if (*j->p == ',') {
        j->p++;
        continue;
      }
      if (*j->p == ']') {
        j->p++;
        return jv_list(l);
      }
      bad(j, "expected ',' or ']'");
    }
  }
  if (strncmp(j->p, "true", 4) == 0) {
    j->p += 4;
    return jv_bool(true);
  }
  if (strncmp(j->p, "false", 5) == 0) {
    j->p += 5;
    return jv_bool(false);
  }
  if (strncmp(j->p, "null", 4) == 0) {
    j->p += 4;
    return jv_none();
  }
  if (strncmp(j->p, "NaN", 3) == 0) {
    j->p += 3;
    return jv_float(NAN);
  }
  if (ch == '-' || (ch >= '0' && ch <= '9') || ch == 'I') return parse_number(j);
  bad(j, "unexpected character");
}

jv jt_json_parse(jt_ctx *c, const char *text, const char *what) {
  jp j = {c, text, text, what};
  jv v = parse_value(&j, 0);
  ws(&j);
  if (*j.p) bad(&j, "trailing characters");
  return v;
}
