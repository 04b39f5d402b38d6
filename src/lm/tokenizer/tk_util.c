/* tk_util.c: building blocks of the tokenizer: byte buffers, UTF-8 decoding
 * with Rust's lossy rules, Unicode classes with Rust's char semantics, hash
 * maps (string -> id, pair -> merge), the vocabulary, a byte trie, regex and
 * literal patterns with Oniguruma's find_iter semantics, and file reading. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tk.h"

/* ---------------------------------------------------------------- buffers */

bool tk_buf_reserve(tk_buf *b, size_t extra) {
  if (b->cap - b->n > extra) return true;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->n <= extra) {
    if (cap > SIZE_MAX / 2) return false;
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) return false;
  b->p = p;
  b->cap = cap;
  return true;
}

/* Keeps the buffer NUL-terminated after every append. */
bool tk_buf_put(tk_buf *b, const void *s, size_t n) {
  if (!tk_buf_reserve(b, n)) return false;
  if (n) memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return true;
}

bool tk_buf_putc(tk_buf *b, char c) { return tk_buf_put(b, &c, 1); }

bool tk_buf_put_cp(tk_buf *b, uint32_t cp) {
  char tmp[4];
  size_t k = tk_utf8_encode(cp, tmp);
  return tk_buf_put(b, tmp, k);
}

void tk_buf_free(tk_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

bool tk_ids_push(tk_ids *a, int32_t id) { return tk_ids_append(a, &id, 1); }

bool tk_ids_append(tk_ids *a, const int32_t *v, size_t n) {
  if (a->n + n > a->cap) {
    size_t cap = a->cap ? a->cap : 16;
    while (cap < a->n + n) cap *= 2;
    int32_t *p = realloc(a->v, cap * sizeof *p);
    if (!p) return false;
    a->v = p;
    a->cap = cap;
  }
  if (n) memcpy(a->v + a->n, v, n * sizeof *v);
  a->n += n;
  return true;
}

/* ------------------------------------------------------------------ UTF-8 */

size_t tk_utf8_next(const char *s_, size_t n, uint32_t *cp, size_t *bad,
                    bool *incomplete) {
  const uint8_t *s = (const uint8_t *)s_;
  *incomplete = false;
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    v = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t i = 1; i < need; i++) {
    if (i >= n) {
      *incomplete = true;
      *bad = i;
      return 0;
    }
    uint8_t d = s[i];
    uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (d < l || d > h) {
      *bad = i;
      return 0;
    }
    v = (v << 6) | (d & 0x3F);
  }
  *cp = v;
  return need;
}

size_t tk_utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t tk_utf8_dec(const char *s_, uint32_t *cp) {
  const uint8_t *s = (const uint8_t *)s_;
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  if (s[0] < 0xE0) {
    *cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    return 2;
  }
  if (s[0] < 0xF0) {
    *cp =
        ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return 3;
  }
  *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
        ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  return 4;
}

bool tk_utf8_valid(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if ((uint8_t)s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t bad;
    bool inc;
    size_t k = tk_utf8_next(s + i, n - i, &cp, &bad, &inc);
    if (!k) return false;
    i += k;
  }
  return true;
}

bool tk_utf8_lossy(tk_buf *out, const char *s, size_t n) {
  if (!tk_buf_reserve(out, n)) return false;
  size_t i = 0, run = 0; /* run: start of the pending valid bytes */
  while (i < n) {
    if ((uint8_t)s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t bad;
    bool inc;
    size_t k = tk_utf8_next(s + i, n - i, &cp, &bad, &inc);
    if (k) {
      i += k;
      continue;
    }
    if (!tk_buf_put(out, s + run, i - run) || !tk_buf_put(out, "\xEF\xBF\xBD", 3))
      return false;
    i += bad;
    run = i;
  }
  return tk_buf_put(out, s + run, n - run);
}

/* -------------------------------------------------------- Unicode classes */

bool tk_is_whitespace(uint32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool tk_is_punct(uint32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  int k = utf8proc_category((utf8proc_int32_t)c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool tk_is_numeric(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  int k = utf8proc_category((utf8proc_int32_t)c);
  return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

bool tk_is_word(uint32_t c) {
  if (c < 0x80)
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_';
  if (c == 0x200C || c == 0x200D) return true; /* Join_Control */
  int k = utf8proc_category((utf8proc_int32_t)c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ND) ||
         k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

bool tk_is_mark(uint32_t c) {
  int k = utf8proc_category((utf8proc_int32_t)c);
  return k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME;
}

bool tk_is_other(uint32_t c) {
  int k = utf8proc_category((utf8proc_int32_t)c);
  return k == UTF8PROC_CATEGORY_CN || k >= UTF8PROC_CATEGORY_CC;
}

/* -------------------------------------------------------------- hash maps */

uint32_t tk_hash(const char *s, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  uint64_t w = 0;
  for (size_t j = 0; i < n; i++, j++) w |= (uint64_t)(uint8_t)s[i] << (8 * j);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 32;
  return (uint32_t)h;
}

static bool strmap_grow(tk_strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 1024;
  uint64_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return false;
  for (size_t i = 0; i < m->ne; i++) {
    uint32_t h = m->e[i].hash;
    size_t j = h & (cap - 1);
    while (slots[j]) j = (j + 1) & (cap - 1);
    slots[j] = ((uint64_t)h << 32) | (uint64_t)(i + 1);
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  return true;
}

int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n) {
  if (!m->cap) return -1;
  uint32_t h = tk_hash(s, n);
  size_t j = h & (m->cap - 1);
  for (;;) {
    uint64_t v = m->slots[j];
    if (!v) return -1;
    if ((uint32_t)(v >> 32) == h) {
      const struct tk_map_entry *e = &m->e[(uint32_t)v - 1];
      if (e->len == n && memcmp(m->keys.p + e->off, s, n) == 0) return e->val;
    }
    j = (j + 1) & (m->cap - 1);
  }
}

int64_t tk_strmap_put(tk_strmap *m, const char *s, size_t n, int32_t val) {
  if (n > UINT32_MAX || m->ne >= UINT32_MAX - 1) return -1;
  if ((m->ne + 1) * 2 > m->cap && !strmap_grow(m)) return -1;
  uint32_t h = tk_hash(s, n);
  size_t j = h & (m->cap - 1);
  for (;;) {
    uint64_t v = m->slots[j];
    if (!v) break;
    if ((uint32_t)(v >> 32) == h) {
      struct tk_map_entry *e = &m->e[(uint32_t)v - 1];
      if (e->len == n && memcmp(m->keys.p + e->off, s, n) == 0) {
        e->val = val;
        return (uint32_t)v - 1;
      }
    }
    j = (j + 1) & (m->cap - 1);
  }
  if (m->ne == m->ecap) {
    size_t cap = m->ecap ? m->ecap * 2 : 256;
    struct tk_map_entry *e = realloc(m->e, cap * sizeof *e);
    if (!e) return -1;
    m->e = e;
    m->ecap = cap;
  }
  uint64_t off = m->keys.n;
  if (!tk_buf_put(&m->keys, s, n) || !tk_buf_putc(&m->keys, 0)) return -1;
  m->e[m->ne] = (struct tk_map_entry){off, (uint32_t)n, h, val};
  m->slots[j] = ((uint64_t)h << 32) | (uint64_t)(m->ne + 1);
  return (int64_t)m->ne++;
}

const char *tk_strmap_key(const tk_strmap *m, size_t entry) {
  return m->keys.p + m->e[entry].off;
}

void tk_strmap_free(tk_strmap *m) {
  free(m->slots);
  free(m->e);
  tk_buf_free(&m->keys);
  memset(m, 0, sizeof *m);
}

static inline size_t u64_slot(uint64_t k, size_t cap) {
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDull;
  k ^= k >> 33;
  return (size_t)k & (cap - 1);
}

static bool u64map_grow(tk_u64map *m) {
  size_t cap = m->cap ? m->cap * 2 : 1024;
  tk_u64slot *s = calloc(cap, sizeof *s);
  if (!s) return false;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->s[i].key) continue;
    size_t j = u64_slot(m->s[i].key - 1, cap);
    while (s[j].key) j = (j + 1) & (cap - 1);
    s[j] = m->s[i];
  }
  free(m->s);
  m->s = s;
  m->cap = cap;
  return true;
}

bool tk_u64map_put(tk_u64map *m, uint64_t key, uint32_t a, int32_t b) {
  if ((m->n + 1) * 2 > m->cap && !u64map_grow(m)) return false;
  size_t j = u64_slot(key, m->cap);
  while (m->s[j].key && m->s[j].key != key + 1) j = (j + 1) & (m->cap - 1);
  if (!m->s[j].key) m->n++;
  m->s[j] = (tk_u64slot){key + 1, a, b};
  return true;
}

bool tk_u64map_get(const tk_u64map *m, uint64_t key, uint32_t *a, int32_t *b) {
  if (!m->cap) return false;
  size_t j = u64_slot(key, m->cap);
  for (;;) {
    const tk_u64slot *e = &m->s[j];
    if (!e->key) return false;
    if (e->key == key + 1) {
      if (a) *a = e->a;
      if (b) *b = e->b;
      return true;
    }
    j = (j + 1) & (m->cap - 1);
  }
}

void tk_u64map_free(tk_u64map *m) {
  free(m->s);
  memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------- vocabulary */

mx_status tk_vocab_add(tk_vocab *v, const char *s, size_t n, int32_t id) {
  if (id < 0 || id == INT32_MAX)
    return TK_ERR(MX_ERR_IO, "token id %d out of range", (int)id);
  if (tk_strmap_put(&v->map, s, n, id) < 0)
    return TK_ERR(MX_ERR_NOMEM, "out of memory building the vocabulary");
  if (id >= v->size) v->size = id + 1;
  return MX_OK;
}

mx_status tk_vocab_finish(tk_vocab *v) {
  /* id tables are dense: refuse ids far beyond the number of tokens (a
   * malformed file must not make us allocate gigabytes) */
  if ((uint64_t)v->size > 2 * (uint64_t)v->map.ne + (1u << 20))
    return TK_ERR(MX_ERR_IO, "token ids are too sparse (max id %d for %zu tokens)",
                  (int)v->size - 1, v->map.ne);
  free(v->tok_off);
  free(v->tok_len);
  size_t n = v->size ? (size_t)v->size : 1;
  v->tok_off = malloc(n * sizeof *v->tok_off);
  v->tok_len = malloc(n * sizeof *v->tok_len);
  if (!v->tok_off || !v->tok_len)
    return TK_ERR(MX_ERR_NOMEM, "out of memory building the vocabulary");
  for (size_t i = 0; i < n; i++) v->tok_off[i] = UINT64_MAX;
  /* a token listed twice keeps its last id (as a JSON map does); each id
   * maps back to the entry that owns it */
  for (size_t i = 0; i < v->map.ne; i++) {
    const struct tk_map_entry *e = &v->map.e[i];
    v->tok_off[e->val] = e->off;
    v->tok_len[e->val] = e->len;
  }
  return MX_OK;
}

const char *tk_vocab_token(const tk_vocab *v, int32_t id, size_t *len) {
  if (id < 0 || id >= v->size || !v->tok_off || v->tok_off[id] == UINT64_MAX) return NULL;
  if (len) *len = v->tok_len[id];
  return v->map.keys.p + v->tok_off[id];
}

void tk_vocab_free(tk_vocab *v) {
  tk_strmap_free(&v->map);
  free(v->tok_off);
  free(v->tok_len);
  memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------------- trie */

static int64_t trie_node(tk_trie *t) {
  if (t->nnodes == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    int32_t *v = realloc(t->value, cap * sizeof *v);
    if (!v) return -1;
    t->value = v;
    t->cap = cap;
  }
  t->value[t->nnodes] = -1;
  return (int64_t)t->nnodes++;
}

mx_status tk_trie_insert(tk_trie *t, const char *s, size_t n, int32_t value) {
  if (!t->nnodes && trie_node(t) < 0) goto oom;
  if (!n) return MX_OK;
  uint64_t node = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t key = (node << 8) | (uint8_t)s[i];
    int32_t child;
    if (!tk_u64map_get(&t->edges, key, NULL, &child)) {
      int64_t c = trie_node(t);
      if (c < 0 || !tk_u64map_put(&t->edges, key, 0, (int32_t)c)) goto oom;
      child = (int32_t)c;
    }
    node = (uint64_t)child;
  }
  t->value[node] = value;
  t->first[(uint8_t)s[0] >> 3] |= (uint8_t)(1u << ((uint8_t)s[0] & 7));
  return MX_OK;
oom:
  return TK_ERR(MX_ERR_NOMEM, "out of memory building a trie");
}

size_t tk_trie_longest(const tk_trie *t, const char *s, size_t n, int32_t *value) {
  if (!t->nnodes || !n) return 0;
  if (!(t->first[(uint8_t)s[0] >> 3] & (1u << ((uint8_t)s[0] & 7)))) return 0;
  uint64_t node = 0;
  size_t best = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t child;
    if (!tk_u64map_get(&t->edges, (node << 8) | (uint8_t)s[i], NULL, &child)) break;
    node = (uint64_t)child;
    if (t->value[node] >= 0) {
      best = i + 1;
      *value = t->value[node];
    }
  }
  return best;
}

void tk_trie_free(tk_trie *t) {
  tk_u64map_free(&t->edges);
  free(t->value);
  memset(t, 0, sizeof *t);
}

/* --------------------------------------------------------------- patterns */

mx_status tk_pattern_init(tk_pattern *p, const char *s, size_t n, bool is_regex) {
  memset(p, 0, sizeof *p);
  p->is_regex = is_regex;
  p->str = malloc(n + 1);
  if (!p->str) return TK_ERR(MX_ERR_NOMEM, "out of memory");
  memcpy(p->str, s, n);
  p->str[n] = 0;
  p->len = n;
  if (!is_regex && n > 0) return MX_OK; /* literal: searched with memmem */
  int err;
  PCRE2_SIZE off;
  uint32_t opts = PCRE2_UTF | PCRE2_UCP | (is_regex ? 0 : PCRE2_LITERAL);
  p->re = pcre2_compile((PCRE2_SPTR)s, n, opts, &err, &off, NULL);
  if (!p->re) {
    char msg[256];
    pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof msg);
    return TK_ERR(MX_ERR_IO, "bad regex /%.200s/ at %zu: %s", p->str, (size_t)off, msg);
  }
  pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* optional speed-up */
  return MX_OK;
}

void tk_pattern_free(tk_pattern *p) {
  free(p->str);
  if (p->re) pcre2_code_free(p->re);
  memset(p, 0, sizeof *p);
}

static bool spans_push(tk_spans *o, size_t s, size_t e) {
  if (o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 64;
    tk_span *v = realloc(o->v, cap * sizeof *v);
    if (!v) return false;
    o->v = v;
    o->cap = cap;
  }
  o->v[o->n++] = (tk_span){s, e};
  return true;
}

mx_status tk_pattern_find(const tk_pattern *p, const char *s, size_t n, tk_spans *out) {
  out->n = 0;
  if (!p->re) { /* non-empty literal */
    size_t i = 0;
    while (i + p->len <= n) {
      const char *hit = memmem(s + i, n - i, p->str, p->len);
      if (!hit) break;
      size_t at = (size_t)(hit - s);
      if (!spans_push(out, at, at + p->len)) goto oom;
      i = at + p->len;
    }
    return MX_OK;
  }
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
  if (!md) goto oom;
  pcre2_match_context *mc = NULL;
  pcre2_jit_stack *js = NULL;
  mx_status st = MX_OK;
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= n) {
    int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, mc);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !js) {
      /* a long run needs more than the default 32 KiB JIT stack */
      mc = pcre2_match_context_create(NULL);
      js = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
      if (!mc || !js) {
        st = TK_ERR(MX_ERR_NOMEM, "out of memory");
        break;
      }
      pcre2_jit_stack_assign(mc, NULL, js);
      continue;
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      char msg[256];
      pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
      st = TK_ERR(MX_ERR_RUNTIME, "regex match failed: %s", msg);
      break;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t ms = ov[0], me = ov[1];
    if (ms == me && have_last && last_end == me) {
      /* an empty match right after the previous match: step one char */
      if (pos >= n) break;
      uint32_t cp;
      pos += tk_utf8_dec(s + pos, &cp);
      continue;
    }
    if (!spans_push(out, ms, me)) {
      st = TK_ERR(MX_ERR_NOMEM, "out of memory");
      break;
    }
    have_last = true;
    last_end = me;
    pos = me;
  }
  pcre2_match_data_free(md);
  if (mc) pcre2_match_context_free(mc);
  if (js) pcre2_jit_stack_free(js);
  return st;
oom:
  return TK_ERR(MX_ERR_NOMEM, "out of memory");
}

/* ----------------------------------------------------------------- pieces */

bool tk_pieces_add(tk_pieces *p, const char *s, size_t n, int32_t id, bool first) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 32;
    tk_piece *v = realloc(p->v, cap * sizeof *v);
    if (!v) return false;
    p->v = v;
    p->cap = cap;
  }
  size_t off = p->text.n;
  if (n && !tk_buf_put(&p->text, s, n)) return false;
  p->v[p->n++] = (tk_piece){off, n, id, first};
  return true;
}

void tk_pieces_clear(tk_pieces *p) {
  p->n = 0;
  p->text.n = 0;
}

void tk_pieces_free(tk_pieces *p) {
  tk_buf_free(&p->text);
  free(p->v);
  memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------ files */

mx_status tk_read_file(const char *path, char **data, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return TK_ERR(MX_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  tk_buf b = {0};
  char tmp[1 << 16];
  size_t k;
  while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) {
    if (!tk_buf_put(&b, tmp, k)) {
      fclose(f);
      tk_buf_free(&b);
      return TK_ERR(MX_ERR_NOMEM, "out of memory reading %s", path);
    }
  }
  bool err = ferror(f);
  fclose(f);
  if (err) {
    tk_buf_free(&b);
    return TK_ERR(MX_ERR_IO, "read error on %s", path);
  }
  if (!b.p && !tk_buf_put(&b, "", 0))
    return TK_ERR(MX_ERR_NOMEM, "out of memory reading %s", path);
  *data = b.p;
  *n = b.n;
  return MX_OK;
}
