/* tk_model.c: the unigram model (Viterbi over a trie of pieces, as
 * sentencepiece's and Hugging Face's optimized encoder: unknown chars cost
 * min_score - 10, runs of unknowns fuse, then byte fallback) and the
 * WordPiece model (greedy longest match first). */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory in the tokenizer model")

mx_status tk_model_init_unigram(tk_model *m) {
  tk_model_set_byte_ids(m);
  m->trie = calloc(1, sizeof *m->trie);
  if (!m->trie) return OOM();
  double lo = DBL_MAX;
  bool any = false;
  for (int32_t id = 0; id < m->vocab.size; id++) {
    size_t len;
    const char *t = tk_vocab_token(&m->vocab, id, &len);
    if (!t || !len) continue;
    uint8_t ty = m->types ? m->types[id] : TK_SP_NORMAL;
    if (m->types && ty != TK_SP_NORMAL && ty != TK_SP_USER_DEFINED) continue;
    mx_status st = tk_trie_insert(m->trie, t, len, id);
    if (st != MX_OK) return st;
    /* sentencepiece takes min over normal pieces, HF over all */
    if (!m->types || ty == TK_SP_NORMAL) {
      if (m->scores[id] < lo) lo = m->scores[id];
      any = true;
    }
  }
  if (!m->types) { /* HF: every vocab entry, trie or not */
    for (int32_t id = 0; id < m->vocab.size; id++)
      if (tk_vocab_token(&m->vocab, id, NULL) && m->scores[id] < lo) {
        lo = m->scores[id];
        any = true;
      }
  }
  m->min_score = any ? lo : 0.0;
  return MX_OK;
}

typedef struct {
  int32_t id;
  int32_t start; /* -1: unreached */
  double score;
} vnode;

/* Looks up a token string; unknown strings go to bytes or unk. */
static mx_status uni_emit(const tk_model *m, const char *s, size_t n, tk_ids *out) {
  /* sentencepiece never looks an unknown span up again; HF does */
  int32_t id = m->types ? -1 : tk_vocab_get(&m->vocab, s, n);
  if (id >= 0) return tk_ids_push(out, id) ? MX_OK : OOM();
  if (m->byte_fallback) {
    bool all = true;
    for (size_t i = 0; i < n; i++)
      if (m->byte_ids[(uint8_t)s[i]] < 0) all = false;
    if (all) {
      for (size_t i = 0; i < n; i++)
        if (!tk_ids_push(out, m->byte_ids[(uint8_t)s[i]])) return OOM();
      return MX_OK;
    }
  }
  if (m->unk_id < 0) return TK_ERR(MX_ERR_INVALID, "unigram model has no unk");
  return tk_ids_push(out, m->unk_id) ? MX_OK : OOM();
}

mx_status tk_unigram_tokenize(const tk_model *m, const char *s, size_t n, tk_ids *out) {
  if (n == 0) return MX_OK;
  vnode *best = malloc((n + 1) * sizeof *best);
  if (!best) return OOM();
  for (size_t i = 0; i <= n; i++) best[i] = (vnode){-1, -1, 0.0};
  best[0].start = 0;
  double unk_score = m->min_score - 10.0;
  const tk_trie *t = m->trie;
  mx_status st = MX_OK;
  for (size_t at = 0; at < n;) {
    uint32_t cp;
    size_t mblen = tk_utf8_dec(s + at, &cp);
    double base = best[at].score;
    bool single = false;
    /* common prefix search */
    uint64_t node = 0;
    for (size_t i = at; t->nnodes && i < n; i++) {
      int32_t child;
      if (!tk_u64map_get(&t->edges, (node << 8) | (uint8_t)s[i], NULL, &child)) break;
      node = (uint64_t)child;
      int32_t id = t->value[node];
      if (id < 0) continue;
      size_t end = i + 1;
      double cand = base + m->scores[id];
      if (best[end].start < 0 || cand > best[end].score) {
        best[end] = (vnode){id, (int32_t)at, cand};
      }
      if (end - at == mblen) single = true;
    }
    if (!single) {
      if (m->unk_id < 0) {
        st = TK_ERR(MX_ERR_INVALID, "unigram model has no unk");
        goto done;
      }
      size_t end = at + mblen;
      double cand = base + unk_score;
      if (best[end].start < 0 || cand > best[end].score)
        best[end] = (vnode){m->unk_id, (int32_t)at, cand};
    }
    at += mblen;
  }
  /* backtrack into (start, end) spans, fusing runs of unk */
  size_t cnt = 0;
  for (size_t e = n; e > 0; e = (size_t)best[e].start) cnt++;
  size_t *bounds = malloc((cnt + 1) * sizeof *bounds);
  int32_t *ids = malloc((cnt + 1) * sizeof *ids);
  if (!bounds || !ids) {
    free(bounds);
    free(ids);
    st = OOM();
    goto done;
  }
  size_t k = cnt;
  for (size_t e = n; e > 0; e = (size_t)best[e].start) {
    bounds[k] = e;
    ids[k - 1] = best[e].id;
    k--;
  }
  bounds[0] = 0;
  for (size_t i = 0; i < cnt && st == MX_OK;) {
    size_t j = i + 1;
    if (ids[i] == m->unk_id)
      while (j < cnt && ids[j] == m->unk_id) j++;
    if (ids[i] == m->unk_id || j > i + 1)
      st = uni_emit(m, s + bounds[i], bounds[j] - bounds[i], out);
    else
      st = tk_ids_push(out, ids[i]) ? MX_OK : OOM();
    i = j;
  }
  free(bounds);
  free(ids);
done:
  free(best);
  return st;
}

mx_status tk_wordpiece_tokenize(const tk_model *m, const char *s, size_t n, tk_ids *out) {
  if (n == 0) return MX_OK;
  size_t nchars = 0;
  for (size_t i = 0; i < n; i++)
    if (((uint8_t)s[i] & 0xC0) != 0x80) nchars++;
  if (m->unk_id < 0 && (int)nchars > m->max_input_chars)
    return TK_ERR(MX_ERR_INVALID, "WordPiece has no unk token");
  if ((int)nchars > m->max_input_chars)
    return tk_ids_push(out, m->unk_id) ? MX_OK : OOM();
  size_t before = out->n;
  tk_buf tmp = {0};
  mx_status st = MX_OK;
  size_t start = 0;
  while (start < n) {
    size_t end = n;
    int32_t found = -1;
    while (start < end) {
      tmp.n = 0;
      if ((start > 0 && !tk_buf_put(&tmp, m->prefix, m->prefix_len)) ||
          !tk_buf_put(&tmp, s + start, end - start)) {
        st = OOM();
        goto done;
      }
      found = tk_vocab_get(&m->vocab, tmp.p, tmp.n);
      if (found >= 0) break;
      size_t j = end - 1;
      while (j > start && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
      end = j;
    }
    if (found < 0) {
      out->n = before;
      if (m->unk_id < 0) {
        st = TK_ERR(MX_ERR_INVALID, "WordPiece has no unk token");
        goto done;
      }
      st = tk_ids_push(out, m->unk_id) ? MX_OK : OOM();
      goto done;
    }
    if (!tk_ids_push(out, found)) {
      st = OOM();
      goto done;
    }
    start = end;
  }
done:
  tk_buf_free(&tmp);
  return st;
}
