/* tk_bpe.c: the BPE models.
 *
 * Hugging Face BPE (merges ranked by position): a word becomes one symbol
 * per char (with continuing_subword_prefix / end_of_word_suffix, byte
 * fallback, unk fusing), then a min-heap of (rank, position) merges the best
 * adjacent pair; symbols form a linked list, so a word of n chars costs
 * O(n log n). Results of short words are cached.
 *
 * sentencepiece BPE (tokenizer.model): the same linked list, but the pair
 * to merge is the one whose concatenation is the highest-scoring piece
 * (leftmost on ties), and unused pieces are split back into their parts. */
#include <stdlib.h>
#include <string.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory in BPE")

/* ------------------------------------------------------------ word cache */

#define CACHE_MAX_WORD 256 /* bytes; longer words are not cached */
#define CACHE_CAPACITY 65536

struct tk_wcache {
  pthread_mutex_t mu;
  tk_strmap map; /* word -> entry */
  tk_ids ids;    /* all cached ids */
  uint32_t *off, *cnt;
  size_t n, cap;
};

static tk_wcache *cache_new(void) {
  tk_wcache *c = calloc(1, sizeof *c);
  if (c) pthread_mutex_init(&c->mu, NULL);
  return c;
}

static void cache_free(tk_wcache *c) {
  if (!c) return;
  pthread_mutex_destroy(&c->mu);
  tk_strmap_free(&c->map);
  free(c->ids.v);
  free(c->off);
  free(c->cnt);
  free(c);
}

static bool cache_get(tk_wcache *c, const char *s, size_t n, tk_ids *out, bool *ok) {
  *ok = true;
  pthread_mutex_lock(&c->mu);
  int32_t e = tk_strmap_get(&c->map, s, n);
  if (e >= 0) *ok = tk_ids_append(out, c->ids.v + c->off[e], c->cnt[e]);
  pthread_mutex_unlock(&c->mu);
  return e >= 0;
}

static void cache_put(tk_wcache *c, const char *s, size_t n, const int32_t *ids,
                      size_t k) {
  pthread_mutex_lock(&c->mu);
  if (c->n < CACHE_CAPACITY && tk_strmap_get(&c->map, s, n) < 0) {
    if (c->n == c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 1024;
      uint32_t *o = realloc(c->off, cap * sizeof *o);
      if (o) c->off = o;
      uint32_t *q = o ? realloc(c->cnt, cap * sizeof *q) : NULL;
      if (q) {
        c->cnt = q;
        c->cap = cap;
      }
    }
    size_t base = c->ids.n;
    /* a failed insert only means the word is not cached */
    if (c->n < c->cap && tk_ids_append(&c->ids, ids, k) &&
        tk_strmap_put(&c->map, s, n, (int32_t)c->n) >= 0) {
      c->off[c->n] = (uint32_t)base;
      c->cnt[c->n] = (uint32_t)k;
      c->n++;
    } else {
      c->ids.n = base;
    }
  }
  pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------------ heap */

typedef struct {
  uint32_t rank; /* or score order for sentencepiece */
  uint32_t pos;
  int32_t new_id;
  float score;
  uint32_t size;
} merge_t;

typedef struct {
  merge_t *v;
  size_t n, cap;
  bool by_score; /* sentencepiece: higher score first, then lower pos */
} heap_t;

static inline bool heap_less(const heap_t *h, const merge_t *a, const merge_t *b) {
  if (h->by_score) {
    if (a->score != b->score) return a->score > b->score;
    return a->pos < b->pos;
  }
  if (a->rank != b->rank) return a->rank < b->rank;
  return a->pos < b->pos;
}

static bool heap_push(heap_t *h, merge_t m) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    merge_t *v = realloc(h->v, cap * sizeof *v);
    if (!v) return false;
    h->v = v;
    h->cap = cap;
  }
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!heap_less(h, &m, &h->v[p])) break;
    h->v[i] = h->v[p];
    i = p;
  }
  h->v[i] = m;
  return true;
}

static merge_t heap_pop(heap_t *h) {
  merge_t top = h->v[0];
  merge_t last = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const merge_t *best = &last;
    if (l < h->n && heap_less(h, &h->v[l], best)) {
      m = l;
      best = &h->v[l];
    }
    if (r < h->n && heap_less(h, &h->v[r], best)) m = r;
    if (m == i) break;
    h->v[i] = h->v[m];
    i = m;
  }
  if (h->n) h->v[i] = last;
  return top;
}

/* ------------------------------------------------------ symbol list */

typedef struct {
  int32_t *c; /* token id */
  int32_t *prev, *next;
  uint32_t *len;   /* bytes of the word covered; 0 = merged away */
  uint32_t *start; /* sentencepiece: byte offset in the text */
  size_t n, cap;
} symbols;

static bool sym_add(symbols *w, int32_t c, uint32_t len, uint32_t start) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    int32_t *a = realloc(w->c, cap * sizeof *a);
    if (!a) return false;
    w->c = a;
    int32_t *b = realloc(w->prev, cap * sizeof *b);
    if (!b) return false;
    w->prev = b;
    int32_t *d = realloc(w->next, cap * sizeof *d);
    if (!d) return false;
    w->next = d;
    uint32_t *e = realloc(w->len, cap * sizeof *e);
    if (!e) return false;
    w->len = e;
    uint32_t *f = realloc(w->start, cap * sizeof *f);
    if (!f) return false;
    w->start = f;
    w->cap = cap;
  }
  size_t i = w->n++;
  w->c[i] = c;
  w->len[i] = len;
  w->start[i] = start;
  w->prev[i] = (int32_t)i - 1;
  w->next[i] = -1;
  if (i > 0) w->next[i - 1] = (int32_t)i;
  return true;
}

static void sym_free(symbols *w) {
  free(w->c);
  free(w->prev);
  free(w->next);
  free(w->len);
  free(w->start);
}

static inline bool spm_mergeable(const tk_model *m, int32_t id) {
  if (id < 0) return false;
  if (!m->types) return true;
  uint8_t t = m->types[id];
  return t == TK_SP_NORMAL || t == TK_SP_USER_DEFINED || t == TK_SP_UNUSED;
}

/* ------------------------------------------------------- Hugging Face BPE */

static inline bool merge_lookup(const tk_model *m, int32_t a, int32_t b, uint32_t *rank,
                                int32_t *new_id) {
  return tk_u64map_get(&m->merges, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b, rank,
                       new_id);
}

/* BPE::merge_word: chars to symbols, then merge_all. */
static mx_status bpe_word(const tk_model *m, const char *w, size_t n, tk_ids *out) {
  symbols sy = {0};
  heap_t h = {0};
  tk_buf tmp = {0};
  mx_status st = MX_OK;
  int32_t unk_id = -1;
  uint32_t unk_len = 0;
  bool have_unk = false;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = tk_utf8_dec(w + i, &cp);
    bool first = i == 0, last = i + k == n;
    const char *s = w + i;
    size_t sl = k;
    int32_t id;
    if (cp < 1024 && m->cp_ids && (first || !m->prefix_len) &&
        (!last || !m->suffix_len)) {
      id = m->cp_ids[cp];
    } else {
      if ((!first && m->prefix_len) || (last && m->suffix_len)) {
        tmp.n = 0;
        if ((!first && !tk_buf_put(&tmp, m->prefix, m->prefix_len)) ||
            !tk_buf_put(&tmp, w + i, k) ||
            (last && !tk_buf_put(&tmp, m->suffix, m->suffix_len))) {
          st = OOM();
          goto done;
        }
        s = tmp.p;
        sl = tmp.n;
      }
      id = tk_vocab_get(&m->vocab, s, sl);
    }
    if (id >= 0) {
      if (have_unk) {
        if (!sym_add(&sy, unk_id, unk_len, 0)) goto oom;
        have_unk = false;
      }
      if (!sym_add(&sy, id, (uint32_t)k, 0)) goto oom;
      i += k;
      continue;
    }
    if (m->byte_fallback) {
      bool all = true;
      for (size_t a = 0; a < sl; a++)
        if (m->byte_ids[(uint8_t)s[a]] < 0) all = false;
      if (all) {
        /* the fallback bytes cover the (prefixed) char; an unk pending
         * before them stays pending, as in HF */
        for (size_t a = 0; a < sl; a++)
          if (!sym_add(&sy, m->byte_ids[(uint8_t)s[a]], 1, 0)) goto oom;
        i += k;
        continue;
      }
    }
    if (m->unk_missing) {
      st = TK_ERR(MX_ERR_INVALID, "the unk token is not in the vocabulary");
      goto done;
    }
    if (m->unk_id >= 0) {
      if (have_unk && m->fuse_unk) {
        unk_len += (uint32_t)k;
      } else {
        if (have_unk && !sym_add(&sy, unk_id, unk_len, 0)) goto oom;
        have_unk = true;
        unk_id = m->unk_id;
        unk_len = (uint32_t)k;
      }
    }
    i += k;
  }
  if (have_unk && !sym_add(&sy, unk_id, unk_len, 0)) goto oom;

  /* merge_all */
  for (size_t i = 0; i + 1 < sy.n; i++) {
    uint32_t rank;
    int32_t nid;
    if (merge_lookup(m, sy.c[i], sy.c[i + 1], &rank, &nid) &&
        !heap_push(&h, (merge_t){rank, (uint32_t)i, nid, 0, 0}))
      goto oom;
  }
  while (h.n) {
    merge_t top = heap_pop(&h);
    size_t p = top.pos;
    if (sy.len[p] == 0 || sy.next[p] == -1) continue;
    size_t q = (size_t)sy.next[p];
    uint32_t r2;
    int32_t nid;
    if (!merge_lookup(m, sy.c[p], sy.c[q], &r2, &nid) || nid != top.new_id) continue;
    sy.c[p] = top.new_id;
    sy.len[p] += sy.len[q];
    sy.next[p] = sy.next[q];
    sy.len[q] = 0;
    if (sy.next[q] >= 0) sy.prev[sy.next[q]] = (int32_t)p;
    if (sy.prev[p] >= 0) {
      size_t a = (size_t)sy.prev[p];
      if (merge_lookup(m, sy.c[a], sy.c[p], &r2, &nid) &&
          !heap_push(&h, (merge_t){r2, (uint32_t)a, nid, 0, 0}))
        goto oom;
    }
    if (sy.next[p] >= 0) {
      size_t b = (size_t)sy.next[p];
      if (merge_lookup(m, sy.c[p], sy.c[b], &r2, &nid) &&
          !heap_push(&h, (merge_t){r2, (uint32_t)p, nid, 0, 0}))
        goto oom;
    }
  }
  for (size_t i = 0; i < sy.n; i++)
    if (sy.len[i] && !tk_ids_push(out, sy.c[i])) goto oom;
  goto done;
oom:
  st = OOM();
done:
  sym_free(&sy);
  free(h.v);
  tk_buf_free(&tmp);
  return st;
}

typedef mx_status (*word_fn)(const tk_model *, const char *, size_t, tk_ids *);

/* One word through fn, with the word cache for short words. */
static mx_status cached_word(const tk_model *m, const char *s, size_t n, tk_ids *out,
                             word_fn fn) {
  bool cacheable = m->cache && n < CACHE_MAX_WORD;
  if (cacheable) {
    bool ok;
    if (cache_get(m->cache, s, n, out, &ok)) return ok ? MX_OK : OOM();
  }
  size_t before = out->n;
  mx_status st = fn(m, s, n, out);
  if (st == MX_OK && cacheable)
    cache_put(m->cache, s, n, out->v + before, out->n - before);
  return st;
}

static inline int32_t char_id(const tk_model *m, const char *s, size_t k, uint32_t cp) {
  return cp < 1024 ? m->cp_ids[cp] : tk_vocab_get(&m->vocab, s, k);
}

/* A long word (sentencepiece-style text has no pre-tokenizer, so the whole
 * text is one word) is cut between chars x and y when both are tokens of
 * their own and no merge joins x to y: no merge can then cross the cut, so
 * the parts merge independently, exactly as the whole would, and short
 * parts hit the cache. Unknown chars are never at a cut, so unk fusing and
 * byte fallback see the same runs. */
static mx_status split_word(const tk_model *m, const char *s, size_t n, tk_ids *out,
                            word_fn fn) {
  if (!m->can_split || n < CACHE_MAX_WORD) return cached_word(m, s, n, out, fn);
  size_t seg = 0, i = 0;
  uint32_t x;
  size_t kx = tk_utf8_dec(s, &x);
  bool x_known = char_id(m, s, kx, x) >= 0;
  i = kx;
  while (i < n) {
    uint32_t y;
    size_t ky = tk_utf8_dec(s + i, &y);
    bool y_known = char_id(m, s + i, ky, y) >= 0;
    if (x_known && y_known &&
        !tk_u64map_get(&m->junctions, ((uint64_t)x << 32) | y, NULL, NULL)) {
      mx_status st = cached_word(m, s + seg, i - seg, out, fn);
      if (st != MX_OK) return st;
      seg = i;
    }
    x = y;
    x_known = y_known;
    i += ky;
  }
  return cached_word(m, s + seg, n - seg, out, fn);
}

static mx_status bpe_tokenize(const tk_model *m, const char *s, size_t n, tk_ids *out) {
  if (n == 0) return MX_OK;
  if (m->ignore_merges) {
    int32_t id = tk_vocab_get(&m->vocab, s, n);
    if (id >= 0) return tk_ids_push(out, id) ? MX_OK : OOM();
  }
  return split_word(m, s, n, out, bpe_word);
}

static void last_first(const char *a, size_t al, const char *b, uint32_t *x,
                       uint32_t *y) {
  size_t j = al - 1;
  while (j > 0 && ((uint8_t)a[j] & 0xC0) == 0x80) j--;
  tk_utf8_dec(a + j, x);
  tk_utf8_dec(b, y);
}

/* The junction set: for HF BPE the (last char of a, first char of b) of
 * every merge; for sentencepiece every adjacent char pair inside a
 * mergeable piece. */
static mx_status build_junctions(tk_model *m) {
  if (m->type == TK_MODEL_BPE) {
    if (m->prefix_len || m->suffix_len) return MX_OK; /* symbols differ from chars */
    for (size_t i = 0; i < m->merges.cap; i++) {
      if (!m->merges.s[i].key) continue;
      uint64_t key = m->merges.s[i].key - 1;
      size_t al, bl;
      const char *a = tk_vocab_token(&m->vocab, (int32_t)(key >> 32), &al);
      const char *b = tk_vocab_token(&m->vocab, (int32_t)(key & 0xFFFFFFFF), &bl);
      if (!a || !b || !al || !bl) return MX_OK; /* not splittable */
      uint32_t x, y;
      last_first(a, al, b, &x, &y);
      if (!tk_u64map_put(&m->junctions, ((uint64_t)x << 32) | y, 0, 0)) return OOM();
    }
  } else {
    for (int32_t id = 0; id < m->vocab.size; id++) {
      if (m->types && m->types[id] == TK_SP_UNUSED) {
        /* resegmenting unused pieces uses a map over the whole text */
        tk_u64map_free(&m->junctions);
        return MX_OK;
      }
      size_t len;
      const char *t = tk_vocab_token(&m->vocab, id, &len);
      if (!t || !spm_mergeable(m, id)) continue;
      uint32_t x;
      size_t i = tk_utf8_dec(t, &x);
      while (i < len) {
        uint32_t y;
        i += tk_utf8_dec(t + i, &y);
        if (!tk_u64map_put(&m->junctions, ((uint64_t)x << 32) | y, 0, 0)) return OOM();
        x = y;
      }
    }
  }
  m->can_split = true;
  return MX_OK;
}

mx_status tk_model_init_bpe(tk_model *m) {
  tk_model_set_byte_ids(m);
  m->cache = cache_new();
  if (!m->cache) return OOM();
  /* direct table of single-char tokens for code points < 1024 (the
   * byte-level alphabet, ASCII), used where no prefix/suffix applies */
  m->cp_ids = malloc(1024 * sizeof *m->cp_ids);
  if (!m->cp_ids) return OOM();
  for (uint32_t cp = 0; cp < 1024; cp++) {
    char buf[4];
    size_t k = tk_utf8_encode(cp, buf);
    m->cp_ids[cp] = tk_vocab_get(&m->vocab, buf, k);
  }
  return build_junctions(m);
}

/* -------------------------------------------------- sentencepiece BPE */

typedef struct {
  tk_strmap map;   /* unused piece -> entry */
  uint32_t *parts; /* 4 per entry: left start, len, right start, len */
  size_t n, cap;
} revmerge;

static void spm_try_pair(const tk_model *m, const char *s, symbols *sy, heap_t *h,
                         revmerge *rv, int32_t l, int32_t r, bool *oom) {
  if (l < 0 || r < 0) return;
  uint32_t a = sy->start[l], len = sy->len[l] + sy->len[r];
  int32_t id = tk_vocab_get(&m->vocab, s + a, len);
  if (!spm_mergeable(m, id)) return;
  if (!heap_push(h, (merge_t){0, (uint32_t)l, id, m->scores[id], len})) {
    *oom = true;
    return;
  }
  if (m->types && m->types[id] == TK_SP_UNUSED) {
    if (rv->n == rv->cap) {
      size_t cap = rv->cap ? rv->cap * 2 : 16;
      uint32_t *p = realloc(rv->parts, cap * 4 * sizeof *p);
      if (!p) {
        *oom = true;
        return;
      }
      rv->parts = p;
      rv->cap = cap;
    }
    int64_t e = tk_strmap_put(&rv->map, s + a, len, (int32_t)rv->n);
    if (e < 0) {
      *oom = true;
      return;
    }
    uint32_t *q = rv->parts + 4 * rv->n++;
    q[0] = a;
    q[1] = sy->len[l];
    q[2] = sy->start[r];
    q[3] = sy->len[r]; /* the map now names these parts, as spm's rev_merge */
  }
}

/* Appends the ids of piece s[a, a+len), splitting unused pieces. */
static mx_status spm_emit(const tk_model *m, const char *s, const revmerge *rv,
                          uint32_t a, uint32_t len, tk_ids *out, bool *prev_unk,
                          int depth) {
  int32_t id = tk_vocab_get(&m->vocab, s + a, len);
  if (id >= 0 && m->types && m->types[id] == TK_SP_UNUSED && depth < 1000) {
    int32_t e = tk_strmap_get(&rv->map, s + a, len);
    if (e >= 0) {
      const uint32_t *q = rv->parts + 4 * e;
      mx_status st = spm_emit(m, s, rv, q[0], q[1], out, prev_unk, depth + 1);
      if (st == MX_OK) st = spm_emit(m, s, rv, q[2], q[3], out, prev_unk, depth + 1);
      return st;
    }
  }
  if (id < 0) {
    if (m->byte_fallback) {
      for (uint32_t i = 0; i < len; i++) {
        int32_t b = m->byte_ids[(uint8_t)s[a + i]];
        if (b < 0) b = m->unk_id;
        if (b < 0) return TK_ERR(MX_ERR_INVALID, "no byte piece and no unk");
        if (!tk_ids_push(out, b)) return OOM();
      }
      *prev_unk = true;
      return MX_OK;
    }
    if (m->unk_id < 0)
      return TK_ERR(MX_ERR_INVALID, "no unk piece for an unknown character");
    if (*prev_unk && out->n && out->v[out->n - 1] == m->unk_id) return MX_OK;
    *prev_unk = true;
    return tk_ids_push(out, m->unk_id) ? MX_OK : OOM();
  }
  *prev_unk = false;
  return tk_ids_push(out, id) ? MX_OK : OOM();
}

static mx_status spm_bpe_word(const tk_model *m, const char *s, size_t n, tk_ids *out) {
  if (n == 0) return MX_OK;
  if (n > UINT32_MAX / 2)
    return TK_ERR(MX_ERR_INVALID, "text piece too long (%zu bytes)", n);
  symbols sy = {0};
  heap_t h = {.by_score = true};
  revmerge rv = {0};
  mx_status st = MX_OK;
  bool oom = false;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = tk_utf8_dec(s + i, &cp);
    if (!sym_add(&sy, -1, (uint32_t)k, (uint32_t)i)) goto oom;
    i += k;
  }
  for (size_t i = 0; i + 1 < sy.n && !oom; i++)
    spm_try_pair(m, s, &sy, &h, &rv, (int32_t)i, (int32_t)i + 1, &oom);
  while (h.n && !oom) {
    merge_t top = heap_pop(&h);
    int32_t l = (int32_t)top.pos, r = sy.next[l];
    if (sy.len[l] == 0 || r < 0 || sy.len[r] == 0 || sy.len[l] + sy.len[r] != top.size)
      continue;
    sy.len[l] += sy.len[r];
    sy.next[l] = sy.next[r];
    if (sy.next[r] >= 0) sy.prev[sy.next[r]] = l;
    sy.len[r] = 0;
    spm_try_pair(m, s, &sy, &h, &rv, sy.prev[l], l, &oom);
    spm_try_pair(m, s, &sy, &h, &rv, l, sy.next[l], &oom);
  }
  if (oom) goto oom;
  bool prev_unk = false;
  for (int32_t i = 0; i >= 0 && st == MX_OK; i = sy.next[i])
    st = spm_emit(m, s, &rv, sy.start[i], sy.len[i], out, &prev_unk, 0);
  goto done;
oom:
  st = OOM();
done:
  sym_free(&sy);
  free(h.v);
  tk_strmap_free(&rv.map);
  free(rv.parts);
  return st;
}

static mx_status spm_bpe_tokenize(const tk_model *m, const char *s, size_t n,
                                  tk_ids *out) {
  if (n == 0) return MX_OK;
  return split_word(m, s, n, out, spm_bpe_word);
}

/* ------------------------------------------------------------ dispatch */

mx_status tk_unigram_tokenize(const tk_model *m, const char *s, size_t n, tk_ids *out);
mx_status tk_wordpiece_tokenize(const tk_model *m, const char *s, size_t n, tk_ids *out);

mx_status tk_model_tokenize(const tk_model *m, const char *s, size_t n, tk_ids *out) {
  if (n > (size_t)INT32_MAX) /* symbol positions are 32-bit */
    return TK_ERR(MX_ERR_INVALID, "a word of %zu bytes is too long", n);
  switch (m->type) {
    case TK_MODEL_BPE:
      return bpe_tokenize(m, s, n, out);
    case TK_MODEL_SPM_BPE:
      return spm_bpe_tokenize(m, s, n, out);
    case TK_MODEL_UNIGRAM:
      return tk_unigram_tokenize(m, s, n, out);
    case TK_MODEL_WORDPIECE:
      return tk_wordpiece_tokenize(m, s, n, out);
    case TK_MODEL_WORDLEVEL: {
      if (!n) return MX_OK;
      int32_t id = tk_vocab_get(&m->vocab, s, n);
      if (id < 0) id = m->unk_id;
      if (id < 0) return TK_ERR(MX_ERR_INVALID, "WordLevel: unknown word and no unk");
      return tk_ids_push(out, id) ? MX_OK : OOM();
    }
  }
  return TK_ERR(MX_ERR_INVALID, "bad model");
}

void tk_model_set_byte_ids(tk_model *m) {
  for (int b = 0; b < 256; b++) {
    char name[8];
    static const char hex[] = "0123456789ABCDEF";
    memcpy(name, "<0x", 3);
    name[3] = hex[b >> 4];
    name[4] = hex[b & 15];
    name[5] = '>';
    m->byte_ids[b] = tk_vocab_get(&m->vocab, name, 6);
  }
}

void tk_model_free(tk_model *m) {
  tk_vocab_free(&m->vocab);
  tk_u64map_free(&m->merges);
  free(m->prefix);
  free(m->suffix);
  free(m->cp_ids);
  cache_free(m->cache);
  tk_u64map_free(&m->junctions);
  free(m->scores);
  free(m->types);
  if (m->trie) {
    tk_trie_free(m->trie);
    free(m->trie);
  }
  memset(m, 0, sizeof *m);
}
