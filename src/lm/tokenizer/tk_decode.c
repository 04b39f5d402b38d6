/* tk_decode.c: decoding as a chain of streaming stages.
 *
 * Each Hugging Face decoder maps a list of token strings to a list of
 * strings; here each is a stage that receives fragments of tokens (flags
 * mark a token's start and end) and passes fragments on. Fuse and ByteLevel
 * turn all tokens into one growing token. A stage holds back only what later
 * tokens could still change (an incomplete UTF-8 sequence, a run of byte
 * tokens, a possible partial match, trailing chars Strip may drop), so the
 * text a stream has emitted is always final and always whole characters.
 * decode() is the same chain run over all ids, hence the streaming
 * detokenizer's output concatenates to exactly decode()'s. After the
 * decoders, transformers' clean_up_tokenization (sequential replaces of
 * " ." -> "." etc.) runs as streaming literal replaces when configured. */
#include <stdlib.h>
#include <string.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory decoding")

enum { F_START = 1, F_END = 2 };

typedef enum {
  ST_DECODER, /* one tk_decoder (not a Sequence) */
  ST_JOIN,    /* tokens -> one stream; sep between tokens (no decoder: " ") */
  ST_LITERAL, /* literal replace on a stream (clean-up) */
} stage_kind;

typedef struct stage stage;
struct stage {
  stage_kind kind;
  const tk_decoder *d;
  stage *next; /* NULL: the sink */
  tk_buf tok;  /* whole-token buffer / pending text */
  tk_buf bytes;
  tk_buf hold;
  tk_buf scratch; /* output being built (reused, never passed upstream) */
  int64_t index;  /* tokens started so far */
  bool started;   /* output token started (Fuse, ByteLevel, join) */
  int lead;       /* Strip: leading chars still to strip */
  int held;       /* Strip: content chars in hold */
  bool have_prev; /* BPE decoder / CTC: a previous token is held */
  const char *pat, *rep;
  size_t pat_len, rep_len;
  const char *sep;
};

struct tk_dchain {
  stage *stages;
  size_t n;
  stage *head;
  stage *join;
  bool batch; /* decode(): the join stage passes text on in large chunks */
};

static mx_status push(stage *s, const char *p, size_t n, unsigned flags, tk_buf *out);
static mx_status finish(stage *s, tk_buf *out);

static mx_status emit(stage *s, const char *p, size_t n, unsigned flags, tk_buf *out) {
  if (s->next) return push(s->next, p, n, flags, out);
  return tk_buf_put(out, p, n) ? MX_OK : OOM();
}

static mx_status emit_token(stage *s, const char *p, size_t n, tk_buf *out) {
  return emit(s, p, n, F_START | F_END, out);
}

static const char kFFFD[] = "\xEF\xBF\xBD";

/* ---------------------------------------------------------- ByteLevel */

/* Decodes the complete prefix of s->bytes (invalid subparts -> U+FFFD) and
 * emits it; at the end, an incomplete tail becomes one U+FFFD. */
static mx_status bytelevel_drain(stage *s, bool final, tk_buf *out) {
  tk_buf *txt = &s->scratch;
  txt->n = 0;
  size_t i = 0, run = 0, n = s->bytes.n;
  const char *b = s->bytes.p;
  while (i < n) {
    if ((uint8_t)b[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t bad;
    bool inc;
    size_t k = tk_utf8_next(b + i, n - i, &cp, &bad, &inc);
    if (k) {
      i += k;
      continue;
    }
    if (inc && !final) break;
    if (!tk_buf_put(txt, b + run, i - run) || !tk_buf_put(txt, kFFFD, 3)) return OOM();
    i += bad;
    run = i;
  }
  if (i > run && !tk_buf_put(txt, b + run, i - run)) return OOM();
  if (n > i) memmove(s->bytes.p, s->bytes.p + i, n - i);
  s->bytes.n = n - i;
  if (txt->n || final) {
    unsigned f = (s->started ? 0 : F_START) | (final ? F_END : 0);
    s->started = true;
    return emit(s, txt->p, txt->n, f, out);
  }
  return MX_OK;
}

static mx_status bytelevel_token(stage *s, const char *p, size_t n, tk_buf *out) {
  size_t start = s->bytes.n;
  bool ok = true;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = tk_utf8_dec(p + i, &cp);
    int b = tk_cp_to_byte(cp);
    if (b < 0) {
      ok = false;
      break;
    }
    if (!tk_buf_putc(&s->bytes, (char)b)) return OOM();
    i += k;
  }
  if (!ok) { /* a char outside the alphabet: the token's raw bytes */
    s->bytes.n = start;
    if (!tk_buf_put(&s->bytes, p, n)) return OOM();
  }
  return bytelevel_drain(s, false, out);
}

/* ------------------------------------------------------- ByteFallback */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static mx_status bytefallback_flush(stage *s, tk_buf *out) {
  if (!s->bytes.n) return MX_OK;
  mx_status st = MX_OK;
  if (tk_utf8_valid(s->bytes.p, s->bytes.n)) {
    st = emit_token(s, s->bytes.p, s->bytes.n, out);
  } else { /* HF: one U+FFFD token per byte of an invalid run */
    for (size_t i = 0; i < s->bytes.n && st == MX_OK; i++)
      st = emit_token(s, kFFFD, 3, out);
  }
  s->bytes.n = 0;
  return st;
}

static mx_status bytefallback_token(stage *s, const char *p, size_t n, tk_buf *out) {
  if (n == 6 && memcmp(p, "<0x", 3) == 0 && p[5] == '>') {
    int h = hexval(p[3]), l = hexval(p[4]);
    if (h >= 0 && l >= 0)
      return tk_buf_putc(&s->bytes, (char)(h * 16 + l)) ? MX_OK : OOM();
  }
  mx_status st = bytefallback_flush(s, out);
  return st == MX_OK ? emit_token(s, p, n, out) : st;
}

/* ------------------------------------------------- literal replace core */

/* Appends p to the pending text, emits everything that can no longer be
 * part of a match (with matches replaced) and keeps the rest. */
static mx_status literal_feed(stage *s, const char *pat, size_t pl, const char *rep,
                              size_t rl, const char *p, size_t n, bool final,
                              unsigned flags, tk_buf *out) {
  /* fast path: nothing pending and no char that could start a match */
  if (!s->tok.n && (!pl || !memchr(p, pat[0], n)))
    return (n || flags) ? emit(s, p, n, flags, out) : MX_OK;
  if (!tk_buf_put(&s->tok, p, n)) return OOM();
  tk_buf *res = &s->scratch;
  res->n = 0;
  const char *t = s->tok.p;
  size_t tn = s->tok.n, i = 0;
  for (;;) {
    const char *hit = pl ? memmem(t + i, tn - i, pat, pl) : NULL;
    if (!hit) break;
    size_t at = (size_t)(hit - t);
    if (!tk_buf_put(res, t + i, at - i) || !tk_buf_put(res, rep, rl)) return OOM();
    i = at + pl;
  }
  size_t keep = 0;
  if (!final) /* longest suffix that is a proper prefix of the pattern */
    for (size_t k = pl ? pl - 1 : 0; k > 0; k--)
      if (k <= tn - i && memcmp(t + tn - k, pat, k) == 0) {
        keep = k;
        break;
      }
  if (!tk_buf_put(res, t + i, tn - i - keep)) return OOM();
  memmove(s->tok.p, t + tn - keep, keep);
  s->tok.n = keep;
  return (res->n || flags) ? emit(s, res->p, res->n, flags, out) : MX_OK;
}

/* -------------------------------------------------- whole-token stages */

static mx_status wordpiece_cleanup(const char *p, size_t n, tk_buf *out) {
  static const char *pairs[][2] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  tk_buf a = {0}, b = {0};
  if (!tk_buf_put(&a, p, n)) return OOM();
  for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
    b.n = 0;
    size_t pl = strlen(pairs[k][0]), rl = strlen(pairs[k][1]), i = 0;
    const char *t = a.p;
    for (;;) {
      const char *hit = memmem(t + i, a.n - i, pairs[k][0], pl);
      if (!hit) break;
      size_t at = (size_t)(hit - t);
      if (!tk_buf_put(&b, t + i, at - i) || !tk_buf_put(&b, pairs[k][1], rl)) goto oom;
      i = at + pl;
    }
    if (!tk_buf_put(&b, t + i, a.n - i)) goto oom;
    tk_buf c = a;
    a = b;
    b = c;
  }
  bool ok = tk_buf_put(out, a.p, a.n);
  tk_buf_free(&a);
  tk_buf_free(&b);
  return ok ? MX_OK : OOM();
oom:
  tk_buf_free(&a);
  tk_buf_free(&b);
  return OOM();
}

static mx_status regex_replace(const tk_pattern *pat, const char *rep, size_t rl,
                               const char *p, size_t n, tk_buf *out) {
  tk_spans sp = {0};
  mx_status st = tk_pattern_find(pat, p, n, &sp);
  size_t prev = 0;
  for (size_t i = 0; st == MX_OK && i < sp.n; i++) {
    if (!tk_buf_put(out, p + prev, sp.v[i].s - prev) || !tk_buf_put(out, rep, rl))
      st = OOM();
    prev = sp.v[i].e;
  }
  if (st == MX_OK && !tk_buf_put(out, p + prev, n - prev)) st = OOM();
  free(sp.v);
  return st;
}

/* BPEDecoder: the suffix becomes " ", or "" in the last token. */
static mx_status bpe_dec_emit(stage *s, bool last, tk_buf *out) {
  tk_buf r = {0};
  const tk_decoder *d = s->d;
  const char *t = s->hold.p ? s->hold.p : "";
  size_t i = 0, n = s->hold.n;
  mx_status st = MX_OK;
  while (d->str_len) {
    const char *hit = memmem(t + i, n - i, d->str, d->str_len);
    if (!hit) break;
    size_t at = (size_t)(hit - t);
    if (!tk_buf_put(&r, t + i, at - i) || (!last && !tk_buf_putc(&r, ' '))) {
      st = OOM();
      break;
    }
    i = at + d->str_len;
  }
  if (st == MX_OK && !tk_buf_put(&r, t + i, n - i)) st = OOM();
  if (st == MX_OK) st = emit_token(s, r.p ? r.p : "", r.n, out);
  tk_buf_free(&r);
  s->have_prev = false;
  return st;
}

/* A whole token arrives at a stage that needs whole tokens. */
static mx_status whole_token(stage *s, const char *p, size_t n, tk_buf *out) {
  const tk_decoder *d = s->d;
  int64_t i = s->index++;
  switch (d->type) {
    case TK_DEC_BYTELEVEL:
      return bytelevel_token(s, p, n, out);
    case TK_DEC_BYTEFALLBACK:
      return bytefallback_token(s, p, n, out);
    case TK_DEC_REPLACE: {
      tk_buf r = {0};
      mx_status st = regex_replace(&d->pat, d->str, d->str_len, p, n, &r);
      if (st == MX_OK) st = emit_token(s, r.p ? r.p : "", r.n, out);
      tk_buf_free(&r);
      return st;
    }
    case TK_DEC_WORDPIECE: {
      tk_buf r = {0};
      bool ok = true;
      if (i != 0) {
        if (n >= d->str_len && memcmp(p, d->str, d->str_len) == 0)
          ok = tk_buf_put(&r, p + d->str_len, n - d->str_len);
        else
          ok = tk_buf_putc(&r, ' ') && tk_buf_put(&r, p, n);
      } else {
        ok = tk_buf_put(&r, p, n);
      }
      mx_status st = ok ? MX_OK : OOM();
      if (st == MX_OK && d->cleanup) {
        tk_buf c = {0};
        st = wordpiece_cleanup(r.p ? r.p : "", r.n, &c);
        tk_buf_free(&r);
        r = c;
      }
      if (st == MX_OK) st = emit_token(s, r.p ? r.p : "", r.n, out);
      tk_buf_free(&r);
      return st;
    }
    case TK_DEC_BPE: {
      mx_status st = s->have_prev ? bpe_dec_emit(s, false, out) : MX_OK;
      if (st != MX_OK) return st;
      s->hold.n = 0;
      if (!tk_buf_put(&s->hold, p, n)) return OOM();
      s->have_prev = true;
      return MX_OK;
    }
    case TK_DEC_CTC: {
      /* dedup consecutive equal tokens, drop pad, clean up */
      if (s->have_prev && s->hold.n == n && memcmp(s->hold.p, p, n) == 0) return MX_OK;
      s->hold.n = 0;
      if (!tk_buf_put(&s->hold, p, n)) return OOM();
      s->have_prev = true;
      tk_buf r = {0}, c = {0};
      mx_status st = MX_OK;
      size_t at = 0;
      while (d->str_len) {
        const char *hit = memmem(p + at, n - at, d->str, d->str_len);
        if (!hit) break;
        if (!tk_buf_put(&r, p + at, (size_t)(hit - p) - at)) st = OOM();
        at = (size_t)(hit - p) + d->str_len;
      }
      if (st == MX_OK && !tk_buf_put(&r, p + at, n - at)) st = OOM();
      if (st == MX_OK && d->cleanup) {
        st = wordpiece_cleanup(r.p ? r.p : "", r.n, &c);
        r.n = 0;
        /* word delimiter -> " " */
        for (size_t k = 0; st == MX_OK && k < c.n;) {
          if (d->str2_len && k + d->str2_len <= c.n &&
              memcmp(c.p + k, d->str2, d->str2_len) == 0) {
            if (!tk_buf_putc(&r, ' ')) st = OOM();
            k += d->str2_len;
          } else {
            if (!tk_buf_putc(&r, c.p[k])) st = OOM();
            k++;
          }
        }
      }
      if (st == MX_OK && r.n) st = emit_token(s, r.p, r.n, out);
      tk_buf_free(&r);
      tk_buf_free(&c);
      return st;
    }
    default:
      break;
  }
  return TK_ERR(MX_ERR_INVALID, "bad decoder stage");
}

static bool needs_whole(const tk_decoder *d) {
  return d->type == TK_DEC_BYTELEVEL || d->type == TK_DEC_BYTEFALLBACK ||
         (d->type == TK_DEC_REPLACE && (d->pat.is_regex || !d->pat.len)) ||
         d->type == TK_DEC_WORDPIECE || d->type == TK_DEC_BPE || d->type == TK_DEC_CTC;
}

/* ------------------------------------------------------ fragment stages */

static mx_status decoder_push(stage *s, const char *p, size_t n, unsigned flags,
                              tk_buf *out) {
  const tk_decoder *d = s->d;
  if (needs_whole(d)) {
    if (flags == (F_START | F_END)) return whole_token(s, p, n, out);
    if (flags & F_START) s->tok.n = 0;
    if (!tk_buf_put(&s->tok, p, n)) return OOM();
    if (!(flags & F_END)) return MX_OK;
    tk_buf t = s->tok;
    s->tok = (tk_buf){0};
    mx_status st = whole_token(s, t.p ? t.p : "", t.n, out);
    tk_buf_free(&t);
    return st;
  }
  switch (d->type) {
    case TK_DEC_FUSE: {
      unsigned f = s->started ? 0 : F_START;
      s->started = true;
      return (n || f) ? emit(s, p, n, f, out) : MX_OK;
    }
    case TK_DEC_METASPACE: {
      if (flags & F_START) s->index++;
      bool drop = s->index == 1 && !d->prepend_never;
      char rep[4];
      size_t rl = tk_utf8_encode(d->ch, rep);
      tk_buf *r = &s->scratch;
      r->n = 0;
      size_t prev = 0;
      for (size_t i = 0; i + rl <= n;) {
        if (memcmp(p + i, rep, rl) == 0) {
          if (!tk_buf_put(r, p + prev, i - prev) || (!drop && !tk_buf_putc(r, ' ')))
            return OOM();
          i += rl;
          prev = i;
        } else {
          i++;
        }
      }
      if (!tk_buf_put(r, p + prev, n - prev)) return OOM();
      return emit(s, r->p, r->n, flags, out);
    }
    case TK_DEC_STRIP: {
      /* drop up to `start` leading content chars of each token; hold up to
       * `stop` trailing ones (only a count: they are all the same char) and
       * drop them if the token ends there */
      if (flags & F_START) {
        s->lead = d->start;
        s->held = 0;
        mx_status st = emit(s, "", 0, F_START, out);
        if (st != MX_OK) return st;
      }
      char c[4];
      size_t cl = tk_utf8_encode(d->ch, c);
      size_t run = 0; /* p[run, i) is ready to go out */
      for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tk_utf8_dec(p + i, &cp);
        if (s->lead > 0 && cp == d->ch) {
          s->lead--;
          i += k;
          run = i;
          continue;
        }
        s->lead = 0;
        if (cp == d->ch && d->stop > 0) {
          mx_status st = i > run ? emit(s, p + run, i - run, 0, out) : MX_OK;
          if (st == MX_OK && s->held == d->stop) st = emit(s, c, cl, 0, out);
          if (st != MX_OK) return st;
          if (s->held < d->stop) s->held++;
          i += k;
          run = i;
          continue;
        }
        if (s->held) { /* not trailing after all */
          tk_buf *r = &s->scratch;
          r->n = 0;
          for (int h = 0; h < s->held; h++)
            if (!tk_buf_put(r, c, cl)) return OOM();
          s->held = 0;
          mx_status st = emit(s, r->p, r->n, 0, out);
          if (st != MX_OK) return st;
        }
        i += k;
      }
      if (n > run) {
        mx_status st = emit(s, p + run, n - run, 0, out);
        if (st != MX_OK) return st;
      }
      if (flags & F_END) {
        s->held = 0;
        return emit(s, "", 0, F_END, out);
      }
      return MX_OK;
    }
    case TK_DEC_REPLACE: /* non-empty literal */
      if (flags & F_START) s->tok.n = 0;
      return literal_feed(s, d->pat.str, d->pat.len, d->str, d->str_len, p, n,
                          (flags & F_END) != 0, flags, out);
    default:
      break;
  }
  return TK_ERR(MX_ERR_INVALID, "bad decoder stage");
}

static mx_status push(stage *s, const char *p, size_t n, unsigned flags, tk_buf *out) {
  switch (s->kind) {
    case ST_DECODER:
      return decoder_push(s, p, n, flags, out);
    case ST_JOIN: {
      if (flags & F_START) {
        unsigned f = s->started ? 0 : F_START;
        if (s->started && s->sep && !tk_buf_put(&s->hold, s->sep, strlen(s->sep)))
          return OOM();
        s->started = true;
        if (f) {
          mx_status st = emit(s, "", 0, F_START, out);
          if (st != MX_OK) return st;
        }
      }
      /* the text waits in hold until the chain flushes it (after each
       * token when streaming, in large chunks in decode()) */
      return tk_buf_put(&s->hold, p, n) ? MX_OK : OOM();
    }
    case ST_LITERAL:
      return literal_feed(s, s->pat, s->pat_len, s->rep, s->rep_len, p, n, false,
                          flags & F_START, out);
  }
  return MX_OK;
}

/* End of input: flush held state, close the open token, pass it on. */
static mx_status finish(stage *s, tk_buf *out) {
  mx_status st = MX_OK;
  switch (s->kind) {
    case ST_DECODER: {
      const tk_decoder *d = s->d;
      if (needs_whole(d) && s->tok.n) { /* an unterminated token */
        tk_buf t = s->tok;
        s->tok = (tk_buf){0};
        st = whole_token(s, t.p, t.n, out);
        tk_buf_free(&t);
      }
      if (st != MX_OK) break;
      switch (d->type) {
        case TK_DEC_BYTELEVEL:
          st = bytelevel_drain(s, true, out);
          break;
        case TK_DEC_BYTEFALLBACK:
          st = bytefallback_flush(s, out);
          break;
        case TK_DEC_BPE:
          if (s->have_prev) st = bpe_dec_emit(s, true, out);
          break;
        case TK_DEC_FUSE:
          st = emit(s, "", 0, (s->started ? 0 : F_START) | F_END, out);
          break;
        default:
          break;
      }
      break;
    }
    case ST_JOIN:
      if (s->hold.n) st = emit(s, s->hold.p, s->hold.n, 0, out);
      s->hold.n = 0;
      if (st == MX_OK) st = emit(s, "", 0, (s->started ? 0 : F_START) | F_END, out);
      break;
    case ST_LITERAL:
      st = literal_feed(s, s->pat, s->pat_len, s->rep, s->rep_len, "", 0, true, F_END,
                        out);
      break;
  }
  if (st == MX_OK && s->next) st = finish(s->next, out);
  return st;
}

/* ------------------------------------------------------------- the chain */

static size_t count_stages(const tk_decoder *d) {
  if (!d) return 0;
  if (d->type != TK_DEC_SEQUENCE) return 1;
  size_t n = 0;
  for (int i = 0; i < d->nsubs; i++) n += count_stages(d->subs[i]);
  return n;
}

static void add_stages(const tk_decoder *d, stage *v, size_t *k) {
  if (!d) return;
  if (d->type != TK_DEC_SEQUENCE) {
    v[*k].kind = ST_DECODER;
    v[*k].d = d;
    (*k)++;
    return;
  }
  for (int i = 0; i < d->nsubs; i++) add_stages(d->subs[i], v, k);
}

static const char *kCleanup[][2] = {
    {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};

mx_status tk_dchain_new(const mx_tokenizer *tok, tk_dchain **out) {
  size_t nd = count_stages(tok->decoder);
  size_t ncl = tok->clean_up ? sizeof kCleanup / sizeof kCleanup[0] : 0;
  size_t n = nd + 1 + ncl;
  tk_dchain *c = calloc(1, sizeof *c);
  stage *v = calloc(n, sizeof *v);
  if (!c || !v) {
    free(c);
    free(v);
    return OOM();
  }
  size_t k = 0;
  add_stages(tok->decoder, v, &k);
  v[k].kind = ST_JOIN;
  v[k].sep = tok->decoder ? NULL : " ";
  c->join = &v[k];
  k++;
  for (size_t i = 0; i < ncl; i++, k++) {
    v[k].kind = ST_LITERAL;
    v[k].pat = kCleanup[i][0];
    v[k].pat_len = strlen(kCleanup[i][0]);
    v[k].rep = kCleanup[i][1];
    v[k].rep_len = strlen(kCleanup[i][1]);
  }
  for (size_t i = 0; i + 1 < n; i++) v[i].next = &v[i + 1];
  c->stages = v;
  c->n = n;
  c->head = &v[0];
  *out = c;
  return MX_OK;
}

void tk_dchain_set_batch(tk_dchain *c, bool batch) { c->batch = batch; }

mx_status tk_dchain_push(tk_dchain *c, const char *s, size_t n, tk_buf *out) {
  mx_status st = push(c->head, s, n, F_START | F_END, out);
  stage *j = c->join;
  if (st == MX_OK && j->hold.n && (!c->batch || j->hold.n >= 1 << 16)) {
    st = emit(j, j->hold.p, j->hold.n, 0, out);
    j->hold.n = 0;
  }
  return st;
}

mx_status tk_dchain_finish(tk_dchain *c, tk_buf *out) { return finish(c->head, out); }

void tk_dchain_free(tk_dchain *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    tk_buf_free(&c->stages[i].tok);
    tk_buf_free(&c->stages[i].bytes);
    tk_buf_free(&c->stages[i].hold);
    tk_buf_free(&c->stages[i].scratch);
  }
  free(c->stages);
  free(c);
}

void tk_decoder_free(tk_decoder *d) {
  if (!d) return;
  for (int i = 0; i < d->nsubs; i++) tk_decoder_free(d->subs[i]);
  free(d->subs);
  tk_pattern_free(&d->pat);
  free(d->str);
  free(d->str2);
  free(d);
}
