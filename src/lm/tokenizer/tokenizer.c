/* tokenizer.c: the public tokenizer API (mx/tokenizer.h): loading a
 * directory or file, the encode pipeline (added tokens -> normalizer ->
 * added tokens on normalized text -> pre-tokenizer -> model -> special
 * tokens), decode, lookups and the streaming detokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory")

/* ------------------------------------------------------------ loading */

static bool is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

mx_status tk_finish_load(mx_tokenizer *tok) {
  mx_status st = MX_OK;
  tk_buf tmp = {0};
  tk_strmap special = {0};
  int32_t nv = tok->model.vocab.size;
  for (size_t i = 0; i < tok->nadded; i++) {
    tk_added *a = &tok->added[i];
    if (a->id >= nv) nv = a->id + 1;
    if (a->normalized && tok->normalizer) {
      tmp.n = 0;
      if ((st = tk_normalize(tok->normalizer, a->content, a->len, &tmp)) != MX_OK)
        goto done;
      if (tmp.n != a->len || memcmp(tmp.p, a->content, a->len) != 0) {
        if (!(a->norm_content = malloc(tmp.n + 1))) goto oom;
        memcpy(a->norm_content, tmp.p, tmp.n);
        a->norm_content[tmp.n] = 0;
        a->norm_len = tmp.n;
      }
    }
    if (a->special && tk_strmap_put(&special, a->content, a->len, 1) < 0) goto oom;
    if (tk_strmap_put(&tok->added_map, a->content, a->len, a->id) < 0) goto oom;
    const char *pat = a->norm_content ? a->norm_content : a->content;
    size_t pl = a->norm_content ? a->norm_len : a->len;
    if (!pl) continue; /* normalizes to nothing: never matches */
    tk_trie *t = a->normalized ? &tok->norm_trie : &tok->raw_trie;
    if ((st = tk_trie_insert(t, pat, pl, (int32_t)i)) != MX_OK) goto done;
    if (a->normalized)
      tok->has_norm = true;
    else
      tok->has_raw = true;
  }
  if ((uint64_t)nv > 2 * ((uint64_t)tok->model.vocab.map.ne + tok->nadded) + (1u << 20)) {
    st = TK_ERR(MX_ERR_IO, "added token ids are too sparse (max id %d)", (int)nv - 1);
    goto done;
  }
  tok->nvocab = nv;
  size_t n = (size_t)(nv > 0 ? nv : 1);
  tok->id_tok = calloc(n, sizeof *tok->id_tok);
  tok->id_name = calloc(n, sizeof *tok->id_name);
  tok->id_len = calloc(n, sizeof *tok->id_len);
  tok->id_special = calloc(n, 1);
  if (!tok->id_tok || !tok->id_name || !tok->id_len || !tok->id_special) goto oom;
  for (int32_t id = 0; id < tok->model.vocab.size; id++) {
    size_t len;
    const char *t = tk_vocab_token(&tok->model.vocab, id, &len);
    tok->id_tok[id] = tok->id_name[id] = t;
    tok->id_len[id] = (uint32_t)len;
  }
  for (size_t i = 0; i < tok->nadded; i++) {
    tk_added *a = &tok->added[i];
    tok->id_name[a->id] = a->content;
    tok->id_tok[a->id] = a->norm_content ? a->norm_content : a->content;
    tok->id_len[a->id] = (uint32_t)(a->norm_content ? a->norm_len : a->len);
  }
  for (int32_t id = 0; id < nv; id++)
    if (tok->id_tok[id] && tk_strmap_get(&special, tok->id_tok[id], tok->id_len[id]) >= 0)
      tok->id_special[id] = 1;
  goto done;
oom:
  st = OOM();
done:
  tk_buf_free(&tmp);
  tk_strmap_free(&special);
  return st;
}

static int32_t resolve(const mx_tokenizer *tok, const char *s, int32_t def) {
  if (!s) return def;
  int32_t id = mx_tokenizer_token_to_id(tok, s);
  return id >= 0 ? id : def;
}

mx_tokenizer *mx_tokenizer_load(const char *path) {
  if (!path) {
    TK_ERR(MX_ERR_INVALID, "load: path is NULL");
    return NULL;
  }
  mx_tokenizer *tok = calloc(1, sizeof *tok);
  if (!tok) {
    OOM();
    return NULL;
  }
  tok->bos_id = tok->eos_id = tok->pad_id = tok->unk_id = -1;
  mx_status st = MX_OK;
  char *dir = NULL, *file = NULL;
  bool spm = false;
  if (is_dir(path)) {
    dir = strdup(path);
    file = join(path, "tokenizer.json");
    if (!dir || !file) goto oom;
    if (!is_file(file)) {
      free(file);
      if (!(file = join(path, "tokenizer.model"))) goto oom;
      if (!is_file(file)) {
        st = TK_ERR(MX_ERR_IO, "%s has no tokenizer.json or tokenizer.model", path);
        goto fail;
      }
      spm = true;
    }
  } else if (is_file(path)) {
    file = strdup(path);
    dir = strdup(path);
    if (!file || !dir) goto oom;
    char *slash = strrchr(dir, '/');
    if (slash)
      *slash = 0;
    else
      strcpy(dir, ".");
    /* by extension, else a JSON file starts with '{' (after spaces) */
    size_t pl = strlen(path);
    if (pl >= 5 && !strcmp(path + pl - 5, ".json")) {
      spm = false;
    } else if (pl >= 6 && !strcmp(path + pl - 6, ".model")) {
      spm = true;
    } else {
      FILE *f = fopen(path, "rb");
      int c = ' ';
      while (f && (c == ' ' || c == '\n' || c == '\r' || c == '\t')) c = fgetc(f);
      if (f) fclose(f);
      spm = c != '{';
    }
  } else {
    st = TK_ERR(MX_ERR_IO, "no such tokenizer file or directory: %s", path);
    goto fail;
  }
  st = spm ? tk_load_spm(tok, file) : tk_load_json(tok, file);
  if (st == MX_OK) st = tk_finish_load(tok);
  if (st == MX_OK && !spm) tok->unk_id = tok->model.unk_id;
  if (st == MX_OK) st = tk_load_config(tok, dir);
  if (st != MX_OK) goto fail;
  tok->bos_id = resolve(tok, tok->bos_token, tok->bos_id);
  tok->eos_id = resolve(tok, tok->eos_token, tok->eos_id);
  if (spm) { /* BOS/EOS as tokenizer_config asks (default: BOS) */
    tok->post->pre.n = tok->post->post.n = 0;
    if ((tok->add_bos && tok->bos_id >= 0 &&
         !tk_ids_push(&tok->post->pre, tok->bos_id)) ||
        (tok->add_eos && tok->eos_id >= 0 && !tk_ids_push(&tok->post->post, tok->eos_id)))
      goto oom;
  }
  if (tok->eos_id >= 0 && mx_tokenizer_add_eos_id(tok, tok->eos_id) != MX_OK) goto fail;
  free(dir);
  free(file);
  return tok;
oom:
  OOM();
fail:
  free(dir);
  free(file);
  mx_tokenizer_free(tok);
  return NULL;
}

void mx_tokenizer_free(mx_tokenizer *tok) {
  if (!tok) return;
  tk_normalizer_free(tok->normalizer);
  tk_pretok_free(tok->pretok);
  tk_model_free(&tok->model);
  tk_decoder_free(tok->decoder);
  if (tok->post) {
    free(tok->post->pre.v);
    free(tok->post->post.v);
    free(tok->post);
  }
  for (size_t i = 0; i < tok->nadded; i++) {
    free(tok->added[i].content);
    free(tok->added[i].norm_content);
  }
  free(tok->added);
  tk_strmap_free(&tok->added_map);
  tk_trie_free(&tok->raw_trie);
  tk_trie_free(&tok->norm_trie);
  free(tok->id_tok);
  free(tok->id_len);
  free(tok->id_name);
  free(tok->id_special);
  free(tok->bos_token);
  free(tok->eos_token);
  free(tok->eos_ids);
  for (size_t i = 0; i < tok->ntmpl; i++) {
    free(tok->tmpl_names[i]);
    free(tok->tmpl_texts[i]);
  }
  free(tok->tmpl_names);
  free(tok->tmpl_texts);
  tk_buf_free(&tok->strings);
  free(tok);
}

/* ------------------------------------------------------------ encoding */

/* AddedVocabulary::find_matches: cuts the added tokens of trie t out of s
 * (leftmost-longest), with single_word / lstrip / rstrip. */
static mx_status split_added(const mx_tokenizer *tok, const tk_trie *t, const char *s,
                             size_t n, bool first, tk_pieces *out) {
  size_t start_off = 0, pos = 0;
  while (pos < n) {
    size_t ms = pos, ml = 0;
    int32_t idx = -1;
    for (; ms < n; ms++)
      if ((ml = tk_trie_longest(t, s + ms, n - ms, &idx)) > 0) break;
    if (!ml) break;
    size_t start = ms, stop = ms + ml;
    pos = stop;
    const tk_added *a = &tok->added[idx];
    if (a->single_word) {
      uint32_t cp;
      bool word_before = false, word_after = false;
      if (start > 0) {
        size_t j = start - 1;
        while (j > 0 && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
        tk_utf8_dec(s + j, &cp);
        word_before = tk_is_word(cp);
      }
      if (stop < n) {
        tk_utf8_dec(s + stop, &cp);
        word_after = tk_is_word(cp);
      }
      if (word_before || word_after) continue;
    }
    if (a->lstrip) {
      size_t ns = start;
      while (ns > 0) {
        size_t j = ns - 1;
        while (j > 0 && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
        uint32_t cp;
        tk_utf8_dec(s + j, &cp);
        if (!tk_is_whitespace(cp)) break;
        ns = j;
      }
      start = ns > start_off ? ns : start_off;
    }
    if (a->rstrip) {
      while (stop < n) {
        uint32_t cp;
        size_t k = tk_utf8_dec(s + stop, &cp);
        if (!tk_is_whitespace(cp)) break;
        stop += k;
      }
    }
    if (start_off < start && !tk_pieces_add(out, s + start_off, start - start_off, -1,
                                            first && start_off == 0))
      return OOM();
    if (!tk_pieces_add(out, NULL, 0, a->id, first && start == 0)) return OOM();
    start_off = stop;
  }
  if (start_off < n &&
      !tk_pieces_add(out, s + start_off, n - start_off, -1, first && start_off == 0))
    return OOM();
  return MX_OK;
}

mx_status mx_tokenizer_encode(const mx_tokenizer *tok, const char *text, size_t len,
                              bool add_special_tokens, int32_t **ids, int *n) {
  if (ids) *ids = NULL;
  if (n) *n = 0;
  if (!tok || !ids || !n || (!text && len))
    return TK_ERR(MX_ERR_INVALID, "encode: NULL argument");
  if (!text) text = "";
  tk_buf clean = {0};
  tk_pieces p0 = {0}, p1 = {0}, p2 = {0};
  tk_buf norm = {0};
  tk_ids out = {0};
  mx_status st = MX_OK;
  if (!tk_utf8_valid(text, len)) {
    if (!tk_utf8_lossy(&clean, text, len)) goto oom;
    text = clean.p;
    len = clean.n;
  }
  /* 1. added tokens that match the raw text */
  if (tok->has_raw)
    st = split_added(tok, &tok->raw_trie, text, len, true, &p0);
  else if (len && !tk_pieces_add(&p0, text, len, -1, true))
    goto oom;
  if (st != MX_OK) goto done;
  /* 2. normalize each piece; added tokens that match normalized text */
  for (size_t i = 0; i < p0.n; i++) {
    const tk_piece *p = &p0.v[i];
    if (p->id >= 0) {
      if (!tk_pieces_add(&p1, NULL, 0, p->id, p->first)) goto oom;
      continue;
    }
    const char *s = p0.text.p + p->off;
    size_t sl = p->len;
    if (tok->normalizer) {
      norm.n = 0;
      if ((st = tk_normalize(tok->normalizer, s, sl, &norm)) != MX_OK) goto done;
      s = norm.p ? norm.p : "";
      sl = norm.n;
    }
    if (!sl) continue;
    if (tok->has_norm) {
      if ((st = split_added(tok, &tok->norm_trie, s, sl, p->first, &p1)) != MX_OK)
        goto done;
    } else if (!tk_pieces_add(&p1, s, sl, -1, p->first)) {
      goto oom;
    }
  }
  /* 3. pre-tokenize */
  const tk_pieces *words = &p1;
  if (tok->pretok) {
    if ((st = tk_pretokenize(tok->pretok, &p1, &p2)) != MX_OK) goto done;
    words = &p2;
  }
  /* 4. the model, with the special tokens around it */
  bool post = add_special_tokens && tok->post;
  if (post && !tk_ids_append(&out, tok->post->pre.v, tok->post->pre.n)) goto oom;
  for (size_t i = 0; i < words->n; i++) {
    const tk_piece *p = &words->v[i];
    if (p->id >= 0) {
      if (!tk_ids_push(&out, p->id)) goto oom;
    } else if ((st = tk_model_tokenize(&tok->model, words->text.p + p->off, p->len,
                                       &out)) != MX_OK) {
      goto done;
    }
  }
  if (post && !tk_ids_append(&out, tok->post->post.v, tok->post->post.n)) goto oom;
  if (out.n > (size_t)INT32_MAX) {
    st = TK_ERR(MX_ERR_INVALID, "encode: too many tokens");
    goto done;
  }
  *ids = out.v;
  *n = (int)out.n;
  out.v = NULL;
  goto done;
oom:
  st = OOM();
done:
  tk_buf_free(&clean);
  tk_buf_free(&norm);
  tk_pieces_free(&p0);
  tk_pieces_free(&p1);
  tk_pieces_free(&p2);
  free(out.v);
  return st;
}

/* ------------------------------------------------------------ decoding */

static bool decodable(const mx_tokenizer *tok, int32_t id, bool skip_special) {
  if (id < 0 || id >= tok->nvocab || !tok->id_tok[id]) return false;
  return !(skip_special && tok->id_special[id]);
}

mx_status mx_tokenizer_decode(const mx_tokenizer *tok, const int32_t *ids, int n,
                              bool skip_special_tokens, char **text, size_t *len) {
  if (text) *text = NULL;
  if (len) *len = 0;
  if (!tok || !text || n < 0 || (!ids && n))
    return TK_ERR(MX_ERR_INVALID, "decode: bad argument");
  tk_dchain *c;
  mx_status st = tk_dchain_new(tok, &c);
  if (st != MX_OK) return st;
  tk_dchain_set_batch(c, true);
  tk_buf out = {0};
  for (int i = 0; i < n && st == MX_OK; i++)
    if (decodable(tok, ids[i], skip_special_tokens))
      st = tk_dchain_push(c, tok->id_tok[ids[i]], tok->id_len[ids[i]], &out);
  if (st == MX_OK) st = tk_dchain_finish(c, &out);
  if (st == MX_OK && !out.p && !tk_buf_put(&out, "", 0)) st = OOM();
  tk_dchain_free(c);
  if (st != MX_OK) {
    tk_buf_free(&out);
    return st;
  }
  *text = out.p;
  if (len) *len = out.n;
  return MX_OK;
}

struct mx_detokenizer {
  const mx_tokenizer *tok;
  bool skip;
  tk_dchain *chain;
  tk_buf out;
};

mx_detokenizer *mx_detokenizer_new(const mx_tokenizer *tok, bool skip_special_tokens) {
  if (!tok) {
    TK_ERR(MX_ERR_INVALID, "detokenizer: tokenizer is NULL");
    return NULL;
  }
  mx_detokenizer *d = calloc(1, sizeof *d);
  if (!d) {
    OOM();
    return NULL;
  }
  d->tok = tok;
  d->skip = skip_special_tokens;
  if (tk_dchain_new(tok, &d->chain) != MX_OK) {
    free(d);
    return NULL;
  }
  return d;
}

const char *mx_detokenizer_add(mx_detokenizer *d, int32_t id, size_t *len) {
  if (len) *len = 0;
  if (!d) {
    TK_ERR(MX_ERR_INVALID, "detokenizer is NULL");
    return NULL;
  }
  d->out.n = 0;
  if (decodable(d->tok, id, d->skip) &&
      tk_dchain_push(d->chain, d->tok->id_tok[id], d->tok->id_len[id], &d->out) != MX_OK)
    return NULL;
  if (len) *len = d->out.n;
  return d->out.n ? d->out.p : "";
}

const char *mx_detokenizer_finish(mx_detokenizer *d, size_t *len) {
  if (len) *len = 0;
  if (!d) {
    TK_ERR(MX_ERR_INVALID, "detokenizer is NULL");
    return NULL;
  }
  d->out.n = 0;
  if (tk_dchain_finish(d->chain, &d->out) != MX_OK) return NULL;
  tk_dchain *fresh;
  if (tk_dchain_new(d->tok, &fresh) != MX_OK) return NULL;
  tk_dchain_free(d->chain);
  d->chain = fresh;
  if (len) *len = d->out.n;
  return d->out.n ? d->out.p : "";
}

void mx_detokenizer_free(mx_detokenizer *d) {
  if (!d) return;
  tk_dchain_free(d->chain);
  tk_buf_free(&d->out);
  free(d);
}

/* ------------------------------------------------------------- lookups */

int mx_tokenizer_vocab_size(const mx_tokenizer *tok) { return tok ? tok->nvocab : 0; }

const char *mx_tokenizer_id_to_token(const mx_tokenizer *tok, int32_t id) {
  if (!tok || id < 0 || id >= tok->nvocab) return NULL;
  return tok->id_name[id];
}

int32_t mx_tokenizer_token_to_id(const mx_tokenizer *tok, const char *token) {
  if (!tok || !token) return -1;
  size_t n = strlen(token);
  int32_t id = tk_strmap_get(&tok->added_map, token, n);
  return id >= 0 ? id : tk_vocab_get(&tok->model.vocab, token, n);
}

bool mx_tokenizer_is_special(const mx_tokenizer *tok, int32_t id) {
  return tok && id >= 0 && id < tok->nvocab && tok->id_special[id];
}

int32_t mx_tokenizer_bos_id(const mx_tokenizer *tok) { return tok ? tok->bos_id : -1; }
int32_t mx_tokenizer_eos_id(const mx_tokenizer *tok) { return tok ? tok->eos_id : -1; }
int32_t mx_tokenizer_pad_id(const mx_tokenizer *tok) { return tok ? tok->pad_id : -1; }
int32_t mx_tokenizer_unk_id(const mx_tokenizer *tok) { return tok ? tok->unk_id : -1; }
const char *mx_tokenizer_bos_token(const mx_tokenizer *tok) {
  return tok ? tok->bos_token : NULL;
}
const char *mx_tokenizer_eos_token(const mx_tokenizer *tok) {
  return tok ? tok->eos_token : NULL;
}
bool mx_tokenizer_add_bos(const mx_tokenizer *tok) {
  return tok && tok->post && tok->bos_id >= 0 && tok->post->pre.n &&
         tok->post->pre.v[0] == tok->bos_id;
}

bool mx_tokenizer_add_eos(const mx_tokenizer *tok) {
  return tok && tok->post && tok->eos_id >= 0 && tok->post->post.n &&
         tok->post->post.v[tok->post->post.n - 1] == tok->eos_id;
}

mx_status mx_tokenizer_add_eos_id(mx_tokenizer *tok, int32_t id) {
  if (!tok || id < 0) return TK_ERR(MX_ERR_INVALID, "add_eos_id: bad argument");
  if (mx_tokenizer_is_eos(tok, id)) return MX_OK;
  int32_t *v = realloc(tok->eos_ids, (tok->neos + 1) * sizeof *v);
  if (!v) return OOM();
  tok->eos_ids = v;
  v[tok->neos++] = id;
  return MX_OK;
}

bool mx_tokenizer_is_eos(const mx_tokenizer *tok, int32_t id) {
  if (!tok) return false;
  for (size_t i = 0; i < tok->neos; i++)
    if (tok->eos_ids[i] == id) return true;
  return false;
}

const char *mx_tokenizer_chat_template(const mx_tokenizer *tok, const char *name) {
  if (!tok) return NULL;
  if (!name) name = "default";
  for (size_t i = 0; i < tok->ntmpl; i++)
    if (!strcmp(tok->tmpl_names[i], name)) return tok->tmpl_texts[i];
  return NULL;
}
