/* tk_normalize.c: normalizers, as Hugging Face tokenizers applies them to
 * each piece of text between added tokens: Unicode forms (utf8proc),
 * Lowercase, Prepend, Replace, Strip, StripAccents, Bert, Nmt, Precompiled
 * (sentencepiece charsmaps), ByteLevel, Sequence, and sentencepiece's own
 * normalizer (dummy prefix, whitespace escaping) for raw tokenizer.model. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory normalizing text")

/* ---- sentencepiece precompiled charsmap: a Darts double-array trie whose
 * values index NUL-terminated replacement strings ---- */
struct tk_charsmap {
  uint32_t *units;
  size_t nunits;
  char *strs; /* NUL-terminated at strs[nstrs] */
  size_t nstrs;
};

mx_status tk_charsmap_new(const char *blob, size_t n, tk_charsmap **out) {
  *out = NULL;
  if (n == 0) return MX_OK;
  if (n < 4) return TK_ERR(MX_ERR_IO, "precompiled charsmap is truncated");
  uint32_t tsize;
  memcpy(&tsize, blob, 4);
  if (tsize % 4 || tsize > n - 4 || tsize == 0)
    return TK_ERR(MX_ERR_IO, "precompiled charsmap has a bad trie size");
  tk_charsmap *cm = calloc(1, sizeof *cm);
  if (!cm) return OOM();
  cm->nunits = tsize / 4;
  cm->units = malloc(tsize);
  cm->nstrs = n - 4 - tsize;
  cm->strs = malloc(cm->nstrs + 1);
  if (!cm->units || !cm->strs) {
    tk_charsmap_free(cm);
    return OOM();
  }
  memcpy(cm->units, blob + 4, tsize);
  memcpy(cm->strs, blob + 4 + tsize, cm->nstrs);
  cm->strs[cm->nstrs] = 0;
  *out = cm;
  return MX_OK;
}

void tk_charsmap_free(tk_charsmap *cm) {
  if (!cm) return;
  free(cm->units);
  free(cm->strs);
  free(cm);
}

/* Darts-clone unit fields. */
static inline bool du_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t du_value(uint32_t u) { return u & ((1u << 31) - 1); }
static inline uint32_t du_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
static inline uint32_t du_offset(uint32_t u) {
  return (u >> 10) << ((u & (1u << 9)) >> 6);
}

/* Common-prefix search of s: calls back per match (length, value) in order
 * of increasing length; stops early when cb returns false. */
static void charsmap_prefixes(const tk_charsmap *cm, const char *s, size_t n,
                              bool (*cb)(void *, size_t, uint32_t), void *ctx) {
  size_t pos = 0;
  if (!cm->nunits) return;
  pos ^= du_offset(cm->units[0]);
  for (size_t i = 0; i < n && s[i]; i++) { /* keys never contain NUL */
    pos ^= (uint8_t)s[i];
    if (pos >= cm->nunits) return;
    uint32_t u = cm->units[pos];
    if (du_label(u) != (uint8_t)s[i]) return;
    pos ^= du_offset(u);
    if (pos >= cm->nunits) return;
    if (du_has_leaf(u)) {
      if (!cb(ctx, i + 1, du_value(cm->units[pos]))) return;
    }
  }
}

typedef struct {
  size_t len;
  uint32_t val;
  bool found;
} cm_hit;

static bool cm_longest(void *ctx, size_t len, uint32_t val) {
  cm_hit *h = ctx;
  h->len = len;
  h->val = val;
  h->found = true;
  return true;
}

static bool cm_first(void *ctx, size_t len, uint32_t val) {
  cm_hit *h = ctx;
  h->len = len;
  h->val = val;
  h->found = true;
  return false;
}

static const char *cm_string(const tk_charsmap *cm, uint32_t val) {
  return val < cm->nstrs ? cm->strs + val : "";
}

/* Hugging Face's Precompiled: per grapheme (if shorter than 6 bytes) the
 * first prefix match replaces the whole grapheme; else char by char. */
static mx_status norm_precompiled(const tk_charsmap *cm, const char *s, size_t n,
                                  tk_buf *out) {
  size_t i = 0;
  while (i < n) {
    /* grapheme [i, j) */
    uint32_t cp;
    size_t j = i + tk_utf8_dec(s + i, &cp);
    utf8proc_int32_t state = 0;
    uint32_t prev = cp;
    while (j < n) {
      uint32_t c2;
      size_t k = tk_utf8_dec(s + j, &c2);
      if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)c2,
                                           &state))
        break;
      prev = c2;
      j += k;
    }
    cm_hit h = {0};
    if (j - i < 6) charsmap_prefixes(cm, s + i, j - i, cm_first, &h);
    if (h.found) {
      const char *r = cm_string(cm, h.val);
      if (!tk_buf_put(out, r, strlen(r))) return OOM();
    } else {
      for (size_t a = i; a < j;) {
        size_t k = tk_utf8_dec(s + a, &cp);
        cm_hit hc = {0};
        charsmap_prefixes(cm, s + a, k, cm_first, &hc);
        const char *r = hc.found ? cm_string(cm, hc.val) : s + a;
        size_t rl = hc.found ? strlen(r) : k;
        if (!tk_buf_put(out, r, rl)) return OOM();
        a += k;
      }
    }
    i = j;
  }
  return MX_OK;
}

/* sentencepiece's normalizer (normalizer.cc): longest charsmap match per
 * position, optional removal of extra spaces, ' ' -> U+2581, dummy prefix. */
static mx_status norm_spm(const tk_normalizer *nm, const char *s, size_t n, tk_buf *out) {
  static const char kSpace[] = "\xE2\x96\x81";
  size_t start = out->n;
  size_t i = 0;
  /* next normalized unit at s + i: text r of length rl, consuming k bytes */
  const char *r;
  size_t rl, k;
#define NEXT_UNIT()                                                                   \
  do {                                                                                \
    cm_hit h_ = {0};                                                                  \
    if (nm->charsmap) charsmap_prefixes(nm->charsmap, s + i, n - i, cm_longest, &h_); \
    if (h_.found) {                                                                   \
      r = cm_string(nm->charsmap, h_.val);                                            \
      rl = strlen(r);                                                                 \
      k = h_.len;                                                                     \
    } else {                                                                          \
      uint32_t cp_;                                                                   \
      r = s + i;                                                                      \
      rl = k = tk_utf8_dec(s + i, &cp_);                                              \
    }                                                                                 \
  } while (0)
  if (nm->remove_extra_ws) {
    while (i < n) {
      NEXT_UNIT();
      if (!(rl == 1 && r[0] == ' ')) break;
      i += k;
    }
  }
  if (i >= n) return MX_OK;
  const char *ws = nm->escape_ws ? kSpace : " ";
  size_t wsl = nm->escape_ws ? 3 : 1;
  if (nm->add_dummy_prefix && !nm->ws_suffix && !tk_buf_put(out, ws, wsl)) return OOM();
  bool prev_space = nm->remove_extra_ws;
  while (i < n) {
    NEXT_UNIT();
    const char *p = r;
    size_t pl = rl;
    while (prev_space && pl && p[0] == ' ') {
      p++;
      pl--;
    }
    if (pl) {
      for (size_t a = 0; a < pl; a++) {
        bool ok = (nm->escape_ws && p[a] == ' ') ? tk_buf_put(out, kSpace, 3)
                                                 : tk_buf_putc(out, p[a]);
        if (!ok) return OOM();
      }
      prev_space = p[pl - 1] == ' ';
    }
    i += k;
    if (!nm->remove_extra_ws) prev_space = false;
  }
#undef NEXT_UNIT
  if (nm->remove_extra_ws) {
    while (out->n - start >= wsl && memcmp(out->p + out->n - wsl, ws, wsl) == 0)
      out->n -= wsl;
    if (out->p) out->p[out->n] = 0;
  }
  if (nm->add_dummy_prefix && nm->ws_suffix && !tk_buf_put(out, ws, wsl)) return OOM();
  return MX_OK;
}

static mx_status norm_unicode(int flags, const char *s, size_t n, tk_buf *out) {
  if (!n) return MX_OK;
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n,
                                    &dst, (utf8proc_option_t)(flags | UTF8PROC_STABLE));
  if (k < 0) {
    free(dst);
    if (k == UTF8PROC_ERROR_NOMEM) return OOM();
    return TK_ERR(MX_ERR_INVALID, "unicode normalization failed: %s", utf8proc_errmsg(k));
  }
  bool ok = tk_buf_put(out, dst, (size_t)k);
  free(dst);
  return ok ? MX_OK : OOM();
}

static mx_status norm_lowercase(const char *s, size_t n, tk_buf *out) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += tk_utf8_dec(s + i, &cp);
    bool ok;
    if (cp == 0x130) /* the one unconditional multi-char lowercase mapping */
      ok = tk_buf_put(out, "i\xCC\x87", 3);
    else
      ok = tk_buf_put_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
    if (!ok) return OOM();
  }
  return MX_OK;
}

static mx_status norm_replace(const tk_normalizer *nm, const char *s, size_t n,
                              tk_buf *out) {
  tk_spans sp = {0};
  mx_status st = tk_pattern_find(&nm->pat, s, n, &sp);
  if (st != MX_OK) {
    free(sp.v);
    return st;
  }
  size_t prev = 0;
  for (size_t i = 0; i < sp.n && st == MX_OK; i++) {
    if (!tk_buf_put(out, s + prev, sp.v[i].s - prev) ||
        !tk_buf_put(out, nm->str, nm->str_len))
      st = OOM();
    prev = sp.v[i].e;
  }
  if (st == MX_OK && !tk_buf_put(out, s + prev, n - prev)) st = OOM();
  free(sp.v);
  return st;
}

static mx_status norm_strip(bool left, bool right, const char *s, size_t n, tk_buf *out) {
  size_t a = 0, b = n;
  if (left) {
    while (a < b) {
      uint32_t cp;
      size_t k = tk_utf8_dec(s + a, &cp);
      if (!tk_is_whitespace(cp)) break;
      a += k;
    }
  }
  if (right) {
    while (b > a) {
      size_t j = b - 1;
      while (j > a && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
      uint32_t cp;
      tk_utf8_dec(s + j, &cp);
      if (!tk_is_whitespace(cp)) break;
      b = j;
    }
  }
  return tk_buf_put(out, s + a, b - a) ? MX_OK : OOM();
}

static bool is_chinese(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Char-wise filters and maps: StripAccents, Bert's clean/chinese, Nmt,
 * ByteLevel. */
static mx_status norm_chars(const tk_normalizer *nm, const char *s, size_t n,
                            tk_buf *out) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = tk_utf8_dec(s + i, &cp);
    const char *src = s + i;
    i += k;
    bool ok = true;
    switch (nm->type) {
      case TK_NORM_STRIP_ACCENTS:
        if (!tk_is_mark(cp)) ok = tk_buf_put(out, src, k);
        break;
      case TK_NORM_NMT:
        if ((cp >= 1 && cp <= 8) || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) ||
            cp == 0x7F || cp == 0x8F || cp == 0x9F)
          break;
        if (cp == 0x09 || cp == 0x0A || cp == 0x0C || cp == 0x0D || cp == 0x1680 ||
            (cp >= 0x200B && cp <= 0x200F) || cp == 0x2028 || cp == 0x2029 ||
            cp == 0x2581 || cp == 0xFEFF || cp == 0xFFFD)
          ok = tk_buf_putc(out, ' ');
        else
          ok = tk_buf_put(out, src, k);
        break;
      case TK_NORM_BYTELEVEL:
        for (size_t a = 0; a < k && ok; a++)
          ok = tk_buf_put_cp(out, tk_byte_to_cp((uint8_t)src[a]));
        break;
      case TK_NORM_BERT: /* clean text and Chinese chars */
        if (nm->clean_text) {
          bool ws = cp == '\t' || cp == '\n' || cp == '\r' || tk_is_whitespace(cp);
          if (cp == 0 || cp == 0xFFFD || (!ws && tk_is_other(cp))) break;
          if (ws) {
            ok = tk_buf_putc(out, ' ');
            break;
          }
        }
        if (nm->chinese && is_chinese(cp))
          ok = tk_buf_putc(out, ' ') && tk_buf_put(out, src, k) && tk_buf_putc(out, ' ');
        else
          ok = tk_buf_put(out, src, k);
        break;
      default:
        ok = tk_buf_put(out, src, k);
    }
    if (!ok) return OOM();
  }
  return MX_OK;
}

/* Bert's strip accents: NFD, then drop nonspacing marks (Mn). */
static mx_status norm_bert_accents(const char *s, size_t n, tk_buf *out) {
  tk_buf tmp = {0};
  mx_status st = norm_unicode(UTF8PROC_DECOMPOSE, s, n, &tmp);
  for (size_t i = 0; st == MX_OK && i < tmp.n;) {
    uint32_t cp;
    size_t k = tk_utf8_dec(tmp.p + i, &cp);
    if (utf8proc_category((utf8proc_int32_t)cp) != UTF8PROC_CATEGORY_MN &&
        !tk_buf_put(out, tmp.p + i, k))
      st = OOM();
    i += k;
  }
  tk_buf_free(&tmp);
  return st;
}

mx_status tk_normalize(const tk_normalizer *nm, const char *s, size_t n, tk_buf *out) {
  switch (nm->type) {
    case TK_NORM_SEQUENCE: {
      if (nm->nsubs == 0) return tk_buf_put(out, s, n) ? MX_OK : OOM();
      tk_buf a = {0}, b = {0};
      const char *cur = s;
      size_t curn = n;
      mx_status st = MX_OK;
      for (int i = 0; i < nm->nsubs && st == MX_OK; i++) {
        tk_buf *dst = (i == nm->nsubs - 1) ? out : (i % 2 ? &b : &a);
        if (dst != out) dst->n = 0;
        st = tk_normalize(nm->subs[i], cur, curn, dst);
        cur = dst->p ? dst->p : "";
        curn = dst->n;
        if (dst == out) break;
      }
      tk_buf_free(&a);
      tk_buf_free(&b);
      return st;
    }
    case TK_NORM_NFC:
      return norm_unicode(UTF8PROC_COMPOSE, s, n, out);
    case TK_NORM_NFD:
      return norm_unicode(UTF8PROC_DECOMPOSE, s, n, out);
    case TK_NORM_NFKC:
      return norm_unicode(UTF8PROC_COMPOSE | UTF8PROC_COMPAT, s, n, out);
    case TK_NORM_NFKD:
      return norm_unicode(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, s, n, out);
    case TK_NORM_LOWERCASE:
      return norm_lowercase(s, n, out);
    case TK_NORM_PREPEND:
      if (n && !tk_buf_put(out, nm->str, nm->str_len)) return OOM();
      return tk_buf_put(out, s, n) ? MX_OK : OOM();
    case TK_NORM_REPLACE:
      return norm_replace(nm, s, n, out);
    case TK_NORM_STRIP:
      return norm_strip(nm->left, nm->right, s, n, out);
    case TK_NORM_PRECOMPILED:
      if (!nm->charsmap) return tk_buf_put(out, s, n) ? MX_OK : OOM();
      return norm_precompiled(nm->charsmap, s, n, out);
    case TK_NORM_SPM:
      return norm_spm(nm, s, n, out);
    case TK_NORM_BERT: {
      tk_buf a = {0}, b = {0};
      mx_status st = norm_chars(nm, s, n, &a);
      bool strip = nm->strip_accents;
      if (st == MX_OK && strip) st = norm_bert_accents(a.p ? a.p : "", a.n, &b);
      tk_buf *cur = strip ? &b : &a;
      if (st == MX_OK) {
        if (nm->lowercase)
          st = norm_lowercase(cur->p ? cur->p : "", cur->n, out);
        else if (!tk_buf_put(out, cur->p, cur->n))
          st = OOM();
      }
      tk_buf_free(&a);
      tk_buf_free(&b);
      return st;
    }
    default:
      return norm_chars(nm, s, n, out);
  }
}

void tk_normalizer_free(tk_normalizer *nm) {
  if (!nm) return;
  for (int i = 0; i < nm->nsubs; i++) tk_normalizer_free(nm->subs[i]);
  free(nm->subs);
  free(nm->str);
  tk_pattern_free(&nm->pat);
  tk_charsmap_free(nm->charsmap);
  free(nm);
}
