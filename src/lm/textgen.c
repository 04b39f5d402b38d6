/* textgen.c: text-level generation on top of mx_lm_generate_tokens: the
 * streaming detokenizer turns tokens into UTF-8-safe pieces, eos ids come
 * from the tokenizer and the model, and stop strings end generation without
 * being emitted (text that could still begin a stop string is held back
 * until it cannot). */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "mx/tokenizer.h"

typedef struct {
  const mx_lm_text_params *p;
  mx_detokenizer *detok;
  mx_lm_text_callback cb;
  void *ctx;
  char *text; /* everything decoded so far */
  size_t n, cap;
  size_t emitted; /* bytes of text passed to cb */
  bool stopped;   /* a stop string was found */
  int rc;
} text_state;

static bool append(text_state *s, const char *p, size_t n) {
  if (s->n + n + 1 > s->cap) {
    size_t nc = (s->n + n + 1) * 2;
    char *t = realloc(s->text, nc);
    if (!t) return false;
    s->text = t;
    s->cap = nc;
  }
  memcpy(s->text + s->n, p, n);
  s->n += n;
  s->text[s->n] = 0;
  return true;
}

/* Longest suffix of text that is a proper prefix of some stop string. */
static size_t held_back(const text_state *s) {
  size_t hold = 0;
  for (int i = 0; i < s->p->n_stop; i++) {
    size_t L = strlen(s->p->stop[i]);
    for (size_t k = L > 1 ? L - 1 : 0; k > hold; k--)
      if (k <= s->n && !memcmp(s->text + s->n - k, s->p->stop[i], k)) {
        hold = k;
        break;
      }
  }
  return hold;
}

/* Emit what is safe; returns non-zero to stop. */
static int flush(text_state *s, const mx_lm_token_info *t, bool final) {
  /* a complete stop string ends the text just before it */
  size_t cut = s->n;
  for (int i = 0; i < s->p->n_stop; i++) {
    /* held-back text keeps any stop string from starting before `emitted` */
    const char *f = s->p->stop[i][0] ? strstr(s->text + s->emitted, s->p->stop[i]) : NULL;
    if (f && (size_t)(f - s->text) < cut) cut = (size_t)(f - s->text);
  }
  if (cut < s->n) {
    s->n = cut;
    s->text[cut] = 0;
    s->stopped = true;
    final = true;
  }
  size_t upto = final ? s->n : s->n - held_back(s);
  if (upto < s->emitted) upto = s->emitted;
  int stop = 0;
  if (s->cb && (upto > s->emitted || t))
    stop = s->cb(s->ctx, s->text + s->emitted, upto - s->emitted, t);
  s->emitted = upto;
  return stop || s->stopped;
}

static int on_token(void *ctx, const mx_lm_token_info *t) {
  text_state *s = ctx;
  size_t len = 0;
  const char *piece = mx_detokenizer_add(s->detok, t->token, &len);
  if (!piece || !append(s, piece, len)) {
    s->rc = mx_last_status() ? mx_last_status() : MX_ERR_NOMEM;
    return 1;
  }
  return flush(s, t, false);
}

mx_status mx_lm_generate_text(mx_lm_model *m, const struct mx_tokenizer *tok,
                              const int32_t *prompt, int n, const mx_lm_text_params *p,
                              mx_lm_cache *cache, mx_lm_text_callback cb, void *ctx,
                              char **out_text, mx_lm_generate_stats *stats) {
  if (!m || !tok || !p) return mx_set_error(MX_ERR_INVALID, "[generate] NULL argument");
  mx_lm_generate_params g = p->gen;
  int32_t eos[64];
  int ne = 0;
  if (!g.eos_ids) {
    for (int i = 0; i < m->cfg.n_eos && ne < 64; i++) eos[ne++] = m->cfg.eos_ids[i];
    int32_t te = mx_tokenizer_eos_id(tok);
    if (te >= 0 && ne < 64) eos[ne++] = te;
    g.eos_ids = eos;
    g.n_eos = ne;
  }
  text_state s = {.p = p, .cb = cb, .ctx = ctx};
  s.detok = mx_detokenizer_new(tok, true);
  if (!s.detok) return mx_last_status();
  mx_lm_generate_stats st;
  mx_status rc;
  if (p->draft) {
    if (cache) {
      mx_detokenizer_free(s.detok);
      return mx_set_error(
          MX_ERR_UNSUPPORTED,
          "[generate] speculative decoding with a prompt cache is not supported");
    }
    rc = mx_lm_generate_speculative(m, p->draft, prompt, n, &g,
                                    p->num_draft_tokens > 0 ? p->num_draft_tokens : 3,
                                    on_token, &s, &st);
  } else {
    rc = mx_lm_generate_tokens(m, prompt, n, &g, cache, on_token, &s, &st);
  }
  if (rc == MX_OK && s.rc) rc = s.rc;
  if (rc == MX_OK && !s.stopped) {
    size_t len = 0;
    const char *rest = mx_detokenizer_finish(s.detok, &len);
    if (rest && append(&s, rest, len))
      flush(&s, NULL, true);
    else if (s.n > s.emitted)
      flush(&s, NULL, true);
  }
  if (s.stopped) st.finish_reason = 0;
  if (stats) *stats = st;
  mx_detokenizer_free(s.detok);
  if (out_text)
    *out_text = s.text;
  else
    free(s.text);
  return rc;
}
