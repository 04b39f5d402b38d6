/* tk_pretok.c: pre-tokenizers (ByteLevel, Split, Metaspace, Digits,
 * Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer,
 * CharDelimiterSplit, Sequence) with the split behaviours of Hugging Face's
 * NormalizedString::split, and the byte-level alphabet. */
#include <stdlib.h>
#include <string.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory pre-tokenizing text")

/* ---- GPT-2 byte-level alphabet: printable bytes map to themselves, the
 * others to U+0100 + k in byte order ---- */
static uint32_t g_b2c[256];
static char g_b2u[256][2]; /* UTF-8 of g_b2c (1 or 2 bytes) */
static uint8_t g_b2ulen[256];
static int16_t g_c2b[512];
static pthread_once_t g_bl_once = PTHREAD_ONCE_INIT;

static void bl_init(void) {
  for (int i = 0; i < 512; i++) g_c2b[i] = -1;
  uint32_t k = 0;
  for (int b = 0; b < 256; b++) {
    bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    g_b2c[b] = printable ? (uint32_t)b : 256 + k++;
    g_c2b[g_b2c[b]] = (int16_t)b;
    char tmp[4];
    g_b2ulen[b] = (uint8_t)tk_utf8_encode(g_b2c[b], tmp);
    memcpy(g_b2u[b], tmp, 2);
  }
}

uint32_t tk_byte_to_cp(uint8_t b) {
  pthread_once(&g_bl_once, bl_init);
  return g_b2c[b];
}

int tk_cp_to_byte(uint32_t cp) {
  pthread_once(&g_bl_once, bl_init);
  return cp < 512 ? g_c2b[cp] : -1;
}

/* ---- splitting a piece by matches ---- */

typedef struct {
  size_t s, e;
  bool match;
} seg;

typedef struct {
  seg *v;
  size_t n, cap;
} segs;

static bool segs_push(segs *g, size_t s, size_t e, bool match) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 64;
    seg *v = realloc(g->v, cap * sizeof *v);
    if (!v) return false;
    g->v = v;
    g->cap = cap;
  }
  g->v[g->n++] = (seg){s, e, match};
  return true;
}

/* Turns match spans into segments covering [0, n) (Pattern::find_matches). */
static bool spans_to_segs(const tk_span *m, size_t nm, size_t n, bool invert, segs *g) {
  g->n = 0;
  if (n == 0) return segs_push(g, 0, 0, invert);
  size_t prev = 0;
  for (size_t i = 0; i < nm; i++) {
    if (prev != m[i].s && !segs_push(g, prev, m[i].s, invert)) return false;
    if (!segs_push(g, m[i].s, m[i].e, !invert)) return false;
    prev = m[i].e;
  }
  if (prev != n && !segs_push(g, prev, n, invert)) return false;
  return true;
}

/* Applies a split behaviour (NormalizedString::split) and emits the
 * non-empty pieces. */
static mx_status emit_split(tk_pieces *out, const char *s, bool first, segs *g,
                            tk_split_behavior b) {
  size_t n = g->n, w = 0;
  seg *v = g->v;
  switch (b) {
    case TK_SPLIT_REMOVED:
      break;
    case TK_SPLIT_ISOLATED:
      for (size_t i = 0; i < n; i++) v[i].match = false;
      break;
    case TK_SPLIT_CONTIGUOUS: {
      bool prev = false;
      for (size_t i = 0; i < n; i++) {
        bool m = v[i].match;
        if (m == prev && w > 0)
          v[w - 1].e = v[i].e;
        else
          v[w++] = (seg){v[i].s, v[i].e, false};
        prev = m;
      }
      n = w;
      break;
    }
    case TK_SPLIT_MERGED_PREV: {
      bool prev = false;
      for (size_t i = 0; i < n; i++) {
        bool m = v[i].match;
        if (m && !prev && w > 0)
          v[w - 1].e = v[i].e;
        else
          v[w++] = (seg){v[i].s, v[i].e, false};
        prev = m;
      }
      n = w;
      break;
    }
    case TK_SPLIT_MERGED_NEXT: {
      /* fold from the right: a match joins the piece after it */
      bool prev = false;
      size_t r = n; /* results are written from the end backwards */
      for (size_t i = n; i-- > 0;) {
        bool m = v[i].match;
        if (m && !prev && r < n)
          v[r].s = v[i].s;
        else
          v[--r] = (seg){v[i].s, v[i].e, false};
        prev = m;
      }
      memmove(v, v + r, (n - r) * sizeof *v);
      n = n - r;
      break;
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i].match || v[i].e == v[i].s) continue;
    if (!tk_pieces_add(out, s + v[i].s, v[i].e - v[i].s, -1, first && v[i].s == 0))
      return OOM();
  }
  return MX_OK;
}

typedef bool (*char_pred)(uint32_t c, uint32_t arg);

static bool pred_numeric(uint32_t c, uint32_t a) {
  (void)a;
  return tk_is_numeric(c);
}
static bool pred_punct(uint32_t c, uint32_t a) {
  (void)a;
  return tk_is_punct(c);
}
static bool pred_ws(uint32_t c, uint32_t a) {
  (void)a;
  return tk_is_whitespace(c);
}
static bool pred_eq(uint32_t c, uint32_t a) { return c == a; }

/* Each char for which pred holds is one match. */
static bool char_spans(const char *s, size_t n, char_pred pred, uint32_t arg,
                       tk_spans *sp) {
  sp->n = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = tk_utf8_dec(s + i, &cp);
    if (pred(cp, arg)) {
      if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 64;
        tk_span *v = realloc(sp->v, cap * sizeof *v);
        if (!v) return false;
        sp->v = v;
        sp->cap = cap;
      }
      sp->v[sp->n++] = (tk_span){i, i + k};
    }
    i += k;
  }
  return true;
}

typedef struct {
  tk_spans sp;
  segs g;
  tk_buf tmp;
} scratch;

static mx_status split_pred(tk_pieces *out, const char *s, size_t n, bool first,
                            char_pred pred, uint32_t arg, tk_split_behavior b,
                            scratch *x) {
  if (!char_spans(s, n, pred, arg, &x->sp) ||
      !spans_to_segs(x->sp.v, x->sp.n, n, false, &x->g))
    return OOM();
  return emit_split(out, s, first, &x->g, b);
}

static mx_status split_pattern(tk_pieces *out, const char *s, size_t n, bool first,
                               const tk_pattern *p, bool invert, tk_split_behavior b,
                               scratch *x) {
  mx_status st = tk_pattern_find(p, s, n, &x->sp);
  if (st != MX_OK) return st;
  if (!spans_to_segs(x->sp.v, x->sp.n, n, invert, &x->g)) return OOM();
  return emit_split(out, s, first, &x->g, b);
}

/* One text piece through a (non-sequence) pre-tokenizer. */
static mx_status pretok_piece(const tk_pretok *pt, const char *s, size_t n, bool first,
                              tk_pieces *out, scratch *x) {
  switch (pt->type) {
    case TK_PRE_BYTELEVEL: {
      x->tmp.n = 0;
      if (pt->add_prefix_space && (n == 0 || s[0] != ' ') && !tk_buf_putc(&x->tmp, ' '))
        return OOM();
      if (!tk_buf_put(&x->tmp, s, n)) return OOM();
      const char *t = x->tmp.p;
      size_t tn = x->tmp.n;
      size_t start = out->n;
      mx_status st;
      if (pt->use_regex) {
        st = split_pattern(out, t, tn, first, &pt->pat, false, TK_SPLIT_ISOLATED, x);
      } else {
        st = tk_pieces_add(out, t, tn, -1, first) ? MX_OK : OOM();
      }
      if (st != MX_OK) return st;
      /* map each new piece's bytes to the byte-level alphabet, in place at
       * the end of the text buffer */
      pthread_once(&g_bl_once, bl_init);
      for (size_t i = start; i < out->n; i++) {
        tk_piece *p = &out->v[i];
        if (!tk_buf_reserve(&out->text, 2 * p->len)) return OOM();
        char *src = out->text.p + p->off, *dst = out->text.p + out->text.n;
        size_t off = out->text.n;
        for (size_t a = 0; a < p->len; a++) {
          uint8_t byte = (uint8_t)src[a];
          dst[0] = g_b2u[byte][0];
          dst[1] = g_b2u[byte][1];
          dst += g_b2ulen[byte];
        }
        out->text.n = (size_t)(dst - out->text.p);
        out->text.p[out->text.n] = 0;
        p->len = out->text.n - off;
        p->off = off;
      }
      return MX_OK;
    }
    case TK_PRE_SPLIT:
      return split_pattern(out, s, n, first, &pt->pat, pt->invert, pt->behavior, x);
    case TK_PRE_METASPACE: {
      char rep[4];
      size_t rl = tk_utf8_encode(pt->ch, rep);
      x->tmp.n = 0;
      /* HF replaces ' ' first, then checks for a leading replacement */
      bool starts = (n >= rl && memcmp(s, rep, rl) == 0) || (n && s[0] == ' ');
      bool prepend = (pt->prepend == TK_PREPEND_ALWAYS ||
                      (pt->prepend == TK_PREPEND_FIRST && first)) &&
                     !starts;
      if (prepend && !tk_buf_put(&x->tmp, rep, rl)) return OOM();
      for (size_t i = 0; i < n; i++) {
        bool ok = s[i] == ' ' ? tk_buf_put(&x->tmp, rep, rl) : tk_buf_putc(&x->tmp, s[i]);
        if (!ok) return OOM();
      }
      const char *t = x->tmp.p ? x->tmp.p : "";
      if (!pt->split) return tk_pieces_add(out, t, x->tmp.n, -1, first) ? MX_OK : OOM();
      return split_pred(out, t, x->tmp.n, first, pred_eq, pt->ch, TK_SPLIT_MERGED_NEXT,
                        x);
    }
    case TK_PRE_DIGITS:
      return split_pred(out, s, n, first, pred_numeric, 0,
                        pt->individual_digits ? TK_SPLIT_ISOLATED : TK_SPLIT_CONTIGUOUS,
                        x);
    case TK_PRE_PUNCTUATION:
      return split_pred(out, s, n, first, pred_punct, 0, pt->behavior, x);
    case TK_PRE_WHITESPACE:
      return split_pattern(out, s, n, first, &pt->pat, true, TK_SPLIT_REMOVED, x);
    case TK_PRE_WHITESPACE_SPLIT:
      return split_pred(out, s, n, first, pred_ws, 0, TK_SPLIT_REMOVED, x);
    case TK_PRE_CHAR_DELIMITER:
      return split_pred(out, s, n, first, pred_eq, pt->ch, TK_SPLIT_REMOVED, x);
    case TK_PRE_BERT: {
      tk_pieces mid = {0};
      mx_status st = split_pred(&mid, s, n, first, pred_ws, 0, TK_SPLIT_REMOVED, x);
      for (size_t i = 0; st == MX_OK && i < mid.n; i++)
        st = split_pred(out, mid.text.p + mid.v[i].off, mid.v[i].len, mid.v[i].first,
                        pred_punct, 0, TK_SPLIT_ISOLATED, x);
      tk_pieces_free(&mid);
      return st;
    }
    case TK_PRE_SEQUENCE:
      break;
  }
  return TK_ERR(MX_ERR_INVALID, "bad pre-tokenizer");
}

static mx_status pretok_one(const tk_pretok *pt, const tk_pieces *in, tk_pieces *out,
                            scratch *x) {
  for (size_t i = 0; i < in->n; i++) {
    const tk_piece *p = &in->v[i];
    if (p->id >= 0) {
      if (!tk_pieces_add(out, NULL, 0, p->id, p->first)) return OOM();
      continue;
    }
    /* in->text may be out->text's sibling only, never the same buffer */
    mx_status st = pretok_piece(pt, in->text.p + p->off, p->len, p->first, out, x);
    if (st != MX_OK) return st;
  }
  return MX_OK;
}

mx_status tk_pretokenize(const tk_pretok *pt, const tk_pieces *in, tk_pieces *out) {
  scratch x = {0};
  mx_status st = MX_OK;
  if (pt->type != TK_PRE_SEQUENCE) {
    st = pretok_one(pt, in, out, &x);
  } else if (pt->nsubs == 0) {
    for (size_t i = 0; i < in->n && st == MX_OK; i++)
      if (!tk_pieces_add(out, in->text.p + in->v[i].off, in->v[i].len, in->v[i].id,
                         in->v[i].first))
        st = OOM();
  } else {
    tk_pieces a = {0}, b = {0};
    const tk_pieces *cur = in;
    for (int i = 0; i < pt->nsubs && st == MX_OK; i++) {
      tk_pieces *dst = (i == pt->nsubs - 1) ? out : (i % 2 ? &b : &a);
      if (dst != out) tk_pieces_clear(dst);
      st = tk_pretokenize(pt->subs[i], cur, dst);
      cur = dst;
    }
    tk_pieces_free(&a);
    tk_pieces_free(&b);
  }
  free(x.sp.v);
  free(x.g.v);
  tk_buf_free(&x.tmp);
  return st;
}

void tk_pretok_free(tk_pretok *pt) {
  if (!pt) return;
  for (int i = 0; i < pt->nsubs; i++) tk_pretok_free(pt->subs[i]);
  free(pt->subs);
  tk_pattern_free(&pt->pat);
  free(pt);
}
