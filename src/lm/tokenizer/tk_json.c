/* tk_json.c: loading a Hugging Face tokenizer.json (model, normalizer,
 * pre-tokenizer, decoder, post-processor, added tokens) and the settings of
 * tokenizer_config.json (special tokens, add_bos/eos, clean-up, chat
 * templates). Every field is type-checked: a malformed file gives an error,
 * never a crash. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory loading the tokenizer")
#define BAD(...) TK_ERR(MX_ERR_IO, __VA_ARGS__)
#define MAX_DEPTH 64

static const cJSON *jget(const cJSON *o, const char *k) {
  return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static bool jnull(const cJSON *v) { return !v || cJSON_IsNull(v); }

/* String field: NULL if absent or null; *bad set if present but not a
 * string. */
static const char *jstr(const cJSON *o, const char *k, bool *bad) {
  const cJSON *v = jget(o, k);
  if (jnull(v)) return NULL;
  if (!cJSON_IsString(v) || !v->valuestring) {
    *bad = true;
    return NULL;
  }
  return v->valuestring;
}

static bool jbool(const cJSON *o, const char *k, bool def, bool *bad) {
  const cJSON *v = jget(o, k);
  if (jnull(v)) return def;
  if (!cJSON_IsBool(v)) {
    *bad = true;
    return def;
  }
  return cJSON_IsTrue(v);
}

static bool jint(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
  if (!cJSON_IsNumber(v)) return false;
  double d = v->valuedouble;
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) return false;
  *out = (int64_t)d;
  return true;
}

static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

/* The first code point of a one-char string field. */
static bool jchar(const char *s, uint32_t *cp) {
  size_t n = strlen(s);
  if (!n) return false;
  size_t bad;
  bool inc;
  size_t k = tk_utf8_next(s, n, cp, &bad, &inc);
  return k == n;
}

/* {"String": s} or {"Regex": r} */
static mx_status parse_pattern(const cJSON *o, tk_pattern *p, const char *ctx) {
  bool bad = false;
  const char *s = jstr(o, "String", &bad);
  bool re = false;
  if (!s && !bad) {
    s = jstr(o, "Regex", &bad);
    re = true;
  }
  if (!s || bad) return BAD("%s: pattern must be {\"String\"|\"Regex\": ...}", ctx);
  return tk_pattern_init(p, s, strlen(s), re);
}

static bool parse_behavior(const char *s, tk_split_behavior *b) {
  static const struct {
    const char *name;
    tk_split_behavior b;
  } t[] = {{"Removed", TK_SPLIT_REMOVED},
           {"Isolated", TK_SPLIT_ISOLATED},
           {"MergedWithPrevious", TK_SPLIT_MERGED_PREV},
           {"MergedWithNext", TK_SPLIT_MERGED_NEXT},
           {"Contiguous", TK_SPLIT_CONTIGUOUS}};
  for (size_t i = 0; s && i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(s, t[i].name)) {
      *b = t[i].b;
      return true;
    }
  return false;
}

/* Metaspace's prepend scheme, with the legacy add_prefix_space field. */
static mx_status parse_prepend(const cJSON *o, tk_prepend *out) {
  bool bad = false;
  const char *ps = jstr(o, "prepend_scheme", &bad);
  tk_prepend p = TK_PREPEND_ALWAYS;
  if (ps) {
    if (!strcmp(ps, "always"))
      p = TK_PREPEND_ALWAYS;
    else if (!strcmp(ps, "first"))
      p = TK_PREPEND_FIRST;
    else if (!strcmp(ps, "never"))
      p = TK_PREPEND_NEVER;
    else
      bad = true;
  }
  const cJSON *aps = jget(o, "add_prefix_space");
  if (cJSON_IsFalse(aps)) {
    if (ps && p != TK_PREPEND_NEVER) bad = true;
    p = TK_PREPEND_NEVER;
  }
  if (bad) return BAD("Metaspace: bad prepend_scheme");
  *out = p;
  return MX_OK;
}

/* ------------------------------------------------------------ base64 */

static mx_status base64_decode(const char *s, char **out, size_t *n) {
  size_t len = strlen(s);
  char *buf = malloc(len / 4 * 3 + 4);
  if (!buf) return OOM();
  size_t k = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=' || c == '\n' || c == '\r')
      continue;
    else {
      free(buf);
      return BAD("Precompiled: bad base64");
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[k++] = (char)((acc >> bits) & 0xFF);
    }
  }
  *out = buf;
  *n = k;
  return MX_OK;
}

/* --------------------------------------------------------- normalizers */

static mx_status parse_normalizer(const cJSON *o, int depth, tk_normalizer **out) {
  *out = NULL;
  if (jnull(o)) return MX_OK;
  if (!cJSON_IsObject(o) || depth > MAX_DEPTH) return BAD("normalizer must be an object");
  bool bad = false;
  const char *type = jstr(o, "type", &bad);
  if (!type) return BAD("normalizer without a type");
  tk_normalizer *nm = calloc(1, sizeof *nm);
  if (!nm) return OOM();
  mx_status st = MX_OK;
  if (!strcmp(type, "Sequence")) {
    nm->type = TK_NORM_SEQUENCE;
    const cJSON *arr = jget(o, "normalizers");
    if (!cJSON_IsArray(arr)) {
      st = BAD("Sequence normalizer without a normalizers list");
      goto done;
    }
    int n = cJSON_GetArraySize(arr);
    nm->subs = calloc((size_t)n + 1, sizeof *nm->subs);
    if (!nm->subs) {
      st = OOM();
      goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
      tk_normalizer *sub;
      st = parse_normalizer(it, depth + 1, &sub);
      if (st != MX_OK) goto done;
      if (sub) nm->subs[nm->nsubs++] = sub;
    }
  } else if (!strcmp(type, "NFC"))
    nm->type = TK_NORM_NFC;
  else if (!strcmp(type, "NFD"))
    nm->type = TK_NORM_NFD;
  else if (!strcmp(type, "NFKC"))
    nm->type = TK_NORM_NFKC;
  else if (!strcmp(type, "NFKD"))
    nm->type = TK_NORM_NFKD;
  else if (!strcmp(type, "Lowercase"))
    nm->type = TK_NORM_LOWERCASE;
  else if (!strcmp(type, "StripAccents"))
    nm->type = TK_NORM_STRIP_ACCENTS;
  else if (!strcmp(type, "Nmt"))
    nm->type = TK_NORM_NMT;
  else if (!strcmp(type, "ByteLevel"))
    nm->type = TK_NORM_BYTELEVEL;
  else if (!strcmp(type, "Prepend")) {
    nm->type = TK_NORM_PREPEND;
    const char *p = jstr(o, "prepend", &bad);
    if (!p) {
      st = BAD("Prepend normalizer without a prepend string");
      goto done;
    }
    nm->str_len = strlen(p);
    if (!(nm->str = dupn(p, nm->str_len))) st = OOM();
  } else if (!strcmp(type, "Replace")) {
    nm->type = TK_NORM_REPLACE;
    const char *c = jstr(o, "content", &bad);
    if (!c) {
      st = BAD("Replace normalizer without content");
      goto done;
    }
    nm->str_len = strlen(c);
    if (!(nm->str = dupn(c, nm->str_len))) {
      st = OOM();
      goto done;
    }
    st = parse_pattern(jget(o, "pattern"), &nm->pat, "Replace normalizer");
  } else if (!strcmp(type, "Strip")) {
    nm->type = TK_NORM_STRIP;
    nm->left = jbool(o, "strip_left", true, &bad);
    nm->right = jbool(o, "strip_right", true, &bad);
  } else if (!strcmp(type, "BertNormalizer")) {
    nm->type = TK_NORM_BERT;
    nm->clean_text = jbool(o, "clean_text", true, &bad);
    nm->chinese = jbool(o, "handle_chinese_chars", true, &bad);
    nm->lowercase = jbool(o, "lowercase", true, &bad);
    nm->strip_accents = jbool(o, "strip_accents", nm->lowercase, &bad);
  } else if (!strcmp(type, "Precompiled")) {
    nm->type = TK_NORM_PRECOMPILED;
    const char *b64 = jstr(o, "precompiled_charsmap", &bad);
    if (b64) {
      char *blob = NULL;
      size_t n = 0;
      st = base64_decode(b64, &blob, &n);
      if (st == MX_OK) {
        st = tk_charsmap_new(blob, n, &nm->charsmap);
        free(blob);
      }
    }
  } else {
    st = TK_ERR(MX_ERR_UNSUPPORTED, "unsupported normalizer %s", type);
  }
  if (st == MX_OK && bad) st = BAD("normalizer %s: a field has the wrong type", type);
done:
  if (st != MX_OK) {
    tk_normalizer_free(nm);
    return st;
  }
  *out = nm;
  return MX_OK;
}

/* ------------------------------------------------------ pre-tokenizers */

static const char kGpt2Regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static mx_status parse_pretok(const cJSON *o, int depth, tk_pretok **out) {
  *out = NULL;
  if (jnull(o)) return MX_OK;
  if (!cJSON_IsObject(o) || depth > MAX_DEPTH)
    return BAD("pre_tokenizer must be an object");
  bool bad = false;
  const char *type = jstr(o, "type", &bad);
  if (!type) return BAD("pre_tokenizer without a type");
  tk_pretok *pt = calloc(1, sizeof *pt);
  if (!pt) return OOM();
  mx_status st = MX_OK;
  if (!strcmp(type, "Sequence")) {
    pt->type = TK_PRE_SEQUENCE;
    const cJSON *arr = jget(o, "pretokenizers");
    if (!cJSON_IsArray(arr)) {
      st = BAD("Sequence pre_tokenizer without a pretokenizers list");
      goto done;
    }
    pt->subs = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *pt->subs);
    if (!pt->subs) {
      st = OOM();
      goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
      tk_pretok *sub;
      st = parse_pretok(it, depth + 1, &sub);
      if (st != MX_OK) goto done;
      if (sub) pt->subs[pt->nsubs++] = sub;
    }
  } else if (!strcmp(type, "ByteLevel")) {
    pt->type = TK_PRE_BYTELEVEL;
    pt->add_prefix_space = jbool(o, "add_prefix_space", true, &bad);
    pt->use_regex = jbool(o, "use_regex", true, &bad);
    if (pt->use_regex)
      st = tk_pattern_init(&pt->pat, kGpt2Regex, strlen(kGpt2Regex), true);
  } else if (!strcmp(type, "Split")) {
    pt->type = TK_PRE_SPLIT;
    const char *b = jstr(o, "behavior", &bad);
    if (!parse_behavior(b, &pt->behavior)) {
      st = BAD("Split: bad behavior");
      goto done;
    }
    pt->invert = jbool(o, "invert", false, &bad);
    st = parse_pattern(jget(o, "pattern"), &pt->pat, "Split");
  } else if (!strcmp(type, "Metaspace")) {
    pt->type = TK_PRE_METASPACE;
    const char *r = jstr(o, "replacement", &bad);
    if (!r || !jchar(r, &pt->ch)) {
      st = BAD("Metaspace: replacement must be one char");
      goto done;
    }
    pt->split = jbool(o, "split", true, &bad);
    st = parse_prepend(o, &pt->prepend);
  } else if (!strcmp(type, "Digits")) {
    pt->type = TK_PRE_DIGITS;
    pt->individual_digits = jbool(o, "individual_digits", false, &bad);
  } else if (!strcmp(type, "Punctuation")) {
    pt->type = TK_PRE_PUNCTUATION;
    const char *b = jstr(o, "behavior", &bad);
    pt->behavior = TK_SPLIT_ISOLATED;
    if (b && !parse_behavior(b, &pt->behavior)) bad = true;
  } else if (!strcmp(type, "Whitespace")) {
    pt->type = TK_PRE_WHITESPACE;
    static const char re[] = "\\w+|[^\\w\\s]+";
    st = tk_pattern_init(&pt->pat, re, strlen(re), true);
  } else if (!strcmp(type, "WhitespaceSplit")) {
    pt->type = TK_PRE_WHITESPACE_SPLIT;
  } else if (!strcmp(type, "BertPreTokenizer")) {
    pt->type = TK_PRE_BERT;
  } else if (!strcmp(type, "CharDelimiterSplit")) {
    pt->type = TK_PRE_CHAR_DELIMITER;
    const char *d = jstr(o, "delimiter", &bad);
    if (!d || !jchar(d, &pt->ch)) bad = true;
  } else {
    st = TK_ERR(MX_ERR_UNSUPPORTED, "unsupported pre_tokenizer %s", type);
  }
  if (st == MX_OK && bad) st = BAD("pre_tokenizer %s: a field has the wrong type", type);
done:
  if (st != MX_OK) {
    tk_pretok_free(pt);
    return st;
  }
  *out = pt;
  return MX_OK;
}

/* ------------------------------------------------------------ decoders */

static mx_status parse_decoder(const cJSON *o, int depth, tk_decoder **out) {
  *out = NULL;
  if (jnull(o)) return MX_OK;
  if (!cJSON_IsObject(o) || depth > MAX_DEPTH) return BAD("decoder must be an object");
  bool bad = false;
  const char *type = jstr(o, "type", &bad);
  if (!type) return BAD("decoder without a type");
  tk_decoder *d = calloc(1, sizeof *d);
  if (!d) return OOM();
  mx_status st = MX_OK;
  const char *s;
  if (!strcmp(type, "Sequence")) {
    d->type = TK_DEC_SEQUENCE;
    const cJSON *arr = jget(o, "decoders");
    if (!cJSON_IsArray(arr)) {
      st = BAD("Sequence decoder without a decoders list");
      goto done;
    }
    d->subs = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *d->subs);
    if (!d->subs) {
      st = OOM();
      goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
      tk_decoder *sub;
      st = parse_decoder(it, depth + 1, &sub);
      if (st != MX_OK) goto done;
      if (sub) d->subs[d->nsubs++] = sub;
    }
  } else if (!strcmp(type, "ByteLevel"))
    d->type = TK_DEC_BYTELEVEL;
  else if (!strcmp(type, "ByteFallback"))
    d->type = TK_DEC_BYTEFALLBACK;
  else if (!strcmp(type, "Fuse"))
    d->type = TK_DEC_FUSE;
  else if (!strcmp(type, "Metaspace")) {
    d->type = TK_DEC_METASPACE;
    s = jstr(o, "replacement", &bad);
    if (!s || !jchar(s, &d->ch)) {
      st = BAD("Metaspace decoder: replacement must be one char");
      goto done;
    }
    tk_prepend p;
    st = parse_prepend(o, &p);
    d->prepend_never = p == TK_PREPEND_NEVER;
  } else if (!strcmp(type, "Strip")) {
    d->type = TK_DEC_STRIP;
    s = jstr(o, "content", &bad);
    int64_t a = 0, b = 0;
    if (!s || !jchar(s, &d->ch) || !jint(jget(o, "start"), 0, 1 << 20, &a) ||
        !jint(jget(o, "stop"), 0, 1 << 20, &b)) {
      st = BAD("Strip decoder: needs content (one char), start and stop");
      goto done;
    }
    d->start = (int)a;
    d->stop = (int)b;
  } else if (!strcmp(type, "Replace")) {
    d->type = TK_DEC_REPLACE;
    s = jstr(o, "content", &bad);
    if (!s) {
      st = BAD("Replace decoder without content");
      goto done;
    }
    d->str_len = strlen(s);
    if (!(d->str = dupn(s, d->str_len))) {
      st = OOM();
      goto done;
    }
    st = parse_pattern(jget(o, "pattern"), &d->pat, "Replace decoder");
  } else if (!strcmp(type, "WordPiece")) {
    d->type = TK_DEC_WORDPIECE;
    s = jstr(o, "prefix", &bad);
    if (!s) s = "##";
    d->str_len = strlen(s);
    d->cleanup = jbool(o, "cleanup", true, &bad);
    if (!(d->str = dupn(s, d->str_len))) st = OOM();
  } else if (!strcmp(type, "BPEDecoder")) {
    d->type = TK_DEC_BPE;
    s = jstr(o, "suffix", &bad);
    if (!s) s = "</w>";
    d->str_len = strlen(s);
    if (!(d->str = dupn(s, d->str_len))) st = OOM();
  } else if (!strcmp(type, "CTC")) {
    d->type = TK_DEC_CTC;
    s = jstr(o, "pad_token", &bad);
    if (!s) s = "<pad>";
    d->str_len = strlen(s);
    const char *w = jstr(o, "word_delimiter_token", &bad);
    if (!w) w = "|";
    d->str2_len = strlen(w);
    d->cleanup = jbool(o, "cleanup", true, &bad);
    if (!(d->str = dupn(s, d->str_len)) || !(d->str2 = dupn(w, d->str2_len))) st = OOM();
  } else {
    st = TK_ERR(MX_ERR_UNSUPPORTED, "unsupported decoder %s", type);
  }
  if (st == MX_OK && bad) st = BAD("decoder %s: a field has the wrong type", type);
done:
  if (st != MX_OK) {
    tk_decoder_free(d);
    return st;
  }
  *out = d;
  return MX_OK;
}

/* ------------------------------------------------------ post-processors */

/* Adds a special token's ids (TemplateProcessing's special_tokens map). */
static mx_status template_special(const cJSON *specials, const char *name, tk_ids *dst) {
  const cJSON *e = jget(specials, name);
  const cJSON *ids = jget(e, "ids");
  if (!cJSON_IsArray(ids))
    return BAD("TemplateProcessing: special token %s is not defined", name);
  const cJSON *it;
  cJSON_ArrayForEach(it, ids) {
    int64_t v;
    if (!jint(it, 0, INT32_MAX - 1, &v))
      return BAD("TemplateProcessing: bad id for %s", name);
    if (!tk_ids_push(dst, (int32_t)v)) return OOM();
  }
  return MX_OK;
}

static mx_status parse_template(const cJSON *o, tk_postproc *pp) {
  const cJSON *single = jget(o, "single");
  const cJSON *specials = jget(o, "special_tokens");
  bool seen_seq = false;
  if (cJSON_IsString(single)) { /* "[CLS]:0 $A:0 [SEP]:0" */
    const char *s = single->valuestring;
    while (*s) {
      while (*s == ' ') s++;
      if (!*s) break;
      const char *e = s;
      while (*e && *e != ' ') e++;
      size_t n = (size_t)(e - s);
      const char *colon = memchr(s, ':', n);
      size_t nl = colon ? (size_t)(colon - s) : n;
      if (s[0] == '$') {
        if (seen_seq) return TK_ERR(MX_ERR_UNSUPPORTED, "template with two sequences");
        seen_seq = true;
      } else {
        char *name = dupn(s, nl);
        if (!name) return OOM();
        mx_status st = template_special(specials, name, seen_seq ? &pp->post : &pp->pre);
        free(name);
        if (st != MX_OK) return st;
      }
      s = e;
    }
    return MX_OK;
  }
  if (!cJSON_IsArray(single)) return BAD("TemplateProcessing without a single template");
  const cJSON *it;
  cJSON_ArrayForEach(it, single) {
    const cJSON *sp = jget(it, "SpecialToken");
    const cJSON *sq = jget(it, "Sequence");
    if (sp) {
      bool bad = false;
      const char *id = jstr(sp, "id", &bad);
      if (!id) return BAD("TemplateProcessing: SpecialToken without id");
      mx_status st = template_special(specials, id, seen_seq ? &pp->post : &pp->pre);
      if (st != MX_OK) return st;
    } else if (sq) {
      if (seen_seq) return TK_ERR(MX_ERR_UNSUPPORTED, "template with two sequences");
      seen_seq = true;
    } else {
      return BAD("TemplateProcessing: bad template item");
    }
  }
  return MX_OK;
}

/* [token, id] pairs of Bert/RobertaProcessing */
static bool pair_id(const cJSON *v, int32_t *id) {
  int64_t x;
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
      !jint(cJSON_GetArrayItem(v, 1), 0, INT32_MAX - 1, &x))
    return false;
  *id = (int32_t)x;
  return true;
}

static mx_status parse_post(const cJSON *o, int depth, tk_postproc *pp) {
  if (jnull(o)) return MX_OK;
  if (!cJSON_IsObject(o) || depth > MAX_DEPTH)
    return BAD("post_processor must be an object");
  bool bad = false;
  const char *type = jstr(o, "type", &bad);
  if (!type) return BAD("post_processor without a type");
  if (!strcmp(type, "ByteLevel")) return MX_OK;
  if (!strcmp(type, "TemplateProcessing")) {
    /* wrap what earlier processors produced */
    tk_postproc inner = *pp;
    *pp = (tk_postproc){0};
    mx_status st = parse_template(o, pp);
    if (st == MX_OK && (!tk_ids_append(&pp->pre, inner.pre.v, inner.pre.n) ||
                        !tk_ids_append(&inner.post, pp->post.v, pp->post.n)))
      st = OOM();
    if (st == MX_OK) {
      free(pp->post.v);
      pp->post = inner.post;
      free(inner.pre.v);
    } else {
      free(inner.pre.v);
      free(inner.post.v);
    }
    return st;
  }
  if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
    int32_t cls, sep;
    if (!pair_id(jget(o, "cls"), &cls) || !pair_id(jget(o, "sep"), &sep))
      return BAD("%s: cls and sep must be [token, id]", type);
    /* prepend cls, append sep (outside what is there) */
    tk_ids pre = {0};
    if (!tk_ids_push(&pre, cls) || !tk_ids_append(&pre, pp->pre.v, pp->pre.n) ||
        !tk_ids_push(&pp->post, sep)) {
      free(pre.v);
      return OOM();
    }
    free(pp->pre.v);
    pp->pre = pre;
    return MX_OK;
  }
  if (!strcmp(type, "Sequence")) {
    const cJSON *arr = jget(o, "processors");
    if (!cJSON_IsArray(arr)) return BAD("Sequence post_processor without processors");
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
      mx_status st = parse_post(it, depth + 1, pp);
      if (st != MX_OK) return st;
    }
    return MX_OK;
  }
  return TK_ERR(MX_ERR_UNSUPPORTED, "unsupported post_processor %s", type);
}

/* --------------------------------------------------------------- models */

/* A JSON string as a token: kept as is when valid UTF-8 (always, unless a
 * lone surrogate escape slipped through), else made valid. */
static mx_status vocab_add_json(tk_vocab *v, const char *s, int32_t id) {
  size_t n = strlen(s);
  if (tk_utf8_valid(s, n)) return tk_vocab_add(v, s, n, id);
  tk_buf b = {0};
  if (!tk_utf8_lossy(&b, s, n)) return OOM();
  mx_status st = tk_vocab_add(v, b.p, b.n, id);
  tk_buf_free(&b);
  return st;
}

static mx_status parse_vocab_map(const cJSON *vocab, tk_vocab *v) {
  if (!cJSON_IsObject(vocab)) return BAD("model vocab must be an object");
  const cJSON *it;
  cJSON_ArrayForEach(it, vocab) {
    int64_t id;
    if (!it->string || !jint(it, 0, INT32_MAX - 1, &id))
      return BAD("model vocab: bad entry");
    mx_status st = vocab_add_json(v, it->string, (int32_t)id);
    if (st != MX_OK) return st;
  }
  return tk_vocab_finish(v);
}

static char *opt_str(const cJSON *o, const char *k, size_t *len, bool *bad, bool *oom) {
  const char *s = jstr(o, k, bad);
  if (!s || !*s) {
    *len = 0;
    return NULL;
  }
  *len = strlen(s);
  char *p = dupn(s, *len);
  if (!p) *oom = true;
  return p;
}

static mx_status merge_add(tk_model *m, const char *a, size_t al, const char *b,
                           size_t bl, uint32_t rank, tk_buf *tmp) {
  int32_t ia = tk_vocab_get(&m->vocab, a, al), ib = tk_vocab_get(&m->vocab, b, bl);
  if (ia < 0 || ib < 0)
    return BAD("merge %.*s %.*s: token not in the vocabulary", (int)al, a, (int)bl, b);
  if (bl < m->prefix_len) return BAD("merge token shorter than the prefix");
  tmp->n = 0;
  if (!tk_buf_put(tmp, a, al) || !tk_buf_put(tmp, b + m->prefix_len, bl - m->prefix_len))
    return OOM();
  int32_t in = tk_vocab_get(&m->vocab, tmp->p, tmp->n);
  if (in < 0)
    return BAD("merge %.*s %.*s: result not in the vocabulary", (int)al, a, (int)bl, b);
  if (!tk_u64map_put(&m->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib, rank, in))
    return OOM();
  return MX_OK;
}

static mx_status parse_bpe(const cJSON *o, tk_model *m) {
  m->type = TK_MODEL_BPE;
  bool bad = false, oom = false;
  mx_status st = parse_vocab_map(jget(o, "vocab"), &m->vocab);
  if (st != MX_OK) return st;
  m->prefix = opt_str(o, "continuing_subword_prefix", &m->prefix_len, &bad, &oom);
  m->suffix = opt_str(o, "end_of_word_suffix", &m->suffix_len, &bad, &oom);
  m->fuse_unk = jbool(o, "fuse_unk", false, &bad);
  m->byte_fallback = jbool(o, "byte_fallback", false, &bad);
  m->ignore_merges = jbool(o, "ignore_merges", false, &bad);
  const char *unk = jstr(o, "unk_token", &bad);
  m->unk_id = -1;
  if (unk) {
    m->unk_id = tk_vocab_get(&m->vocab, unk, strlen(unk));
    m->unk_missing = m->unk_id < 0;
  }
  if (oom) return OOM();
  if (bad) return BAD("BPE model: a field has the wrong type");
  const cJSON *merges = jget(o, "merges");
  if (!cJSON_IsArray(merges)) return BAD("BPE model without a merges list");
  tk_buf tmp = {0};
  uint32_t rank = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, merges) {
    if (cJSON_IsString(it)) {
      const char *s = it->valuestring;
      if (!strncmp(s, "#version", 8)) continue;
      const char *sp = strchr(s, ' ');
      if (!sp || strchr(sp + 1, ' ')) {
        st = BAD("merge %u is not \"a b\"", rank + 1);
        break;
      }
      st = merge_add(m, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, &tmp);
    } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
               cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
      const char *a = cJSON_GetArrayItem(it, 0)->valuestring;
      const char *b = cJSON_GetArrayItem(it, 1)->valuestring;
      st = merge_add(m, a, strlen(a), b, strlen(b), rank, &tmp);
    } else {
      st = BAD("merge %u is neither \"a b\" nor [a, b]", rank + 1);
    }
    if (st != MX_OK) break;
    rank++;
  }
  tk_buf_free(&tmp);
  if (st != MX_OK) return st;
  return tk_model_init_bpe(m);
}

static mx_status parse_unigram(const cJSON *o, tk_model *m) {
  m->type = TK_MODEL_UNIGRAM;
  const cJSON *vocab = jget(o, "vocab");
  if (!cJSON_IsArray(vocab)) return BAD("Unigram model: vocab must be a list");
  int n = cJSON_GetArraySize(vocab);
  m->scores = malloc(((size_t)n + 1) * sizeof *m->scores);
  if (!m->scores) return OOM();
  int32_t id = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, vocab) {
    const cJSON *p = cJSON_GetArrayItem(it, 0), *s = cJSON_GetArrayItem(it, 1);
    if (!cJSON_IsArray(it) || !cJSON_IsString(p) || !cJSON_IsNumber(s))
      return BAD("Unigram model: vocab entries must be [piece, score]");
    mx_status st = vocab_add_json(&m->vocab, p->valuestring, id);
    if (st != MX_OK) return st;
    m->scores[id++] = (float)s->valuedouble;
  }
  mx_status st = tk_vocab_finish(&m->vocab);
  if (st != MX_OK) return st;
  m->unk_id = -1;
  const cJSON *u = jget(o, "unk_id");
  if (!jnull(u)) {
    int64_t v;
    if (!jint(u, 0, (int64_t)id - 1, &v)) return BAD("Unigram model: bad unk_id");
    m->unk_id = (int32_t)v;
  }
  bool bad = false;
  m->byte_fallback = jbool(o, "byte_fallback", false, &bad);
  if (bad) return BAD("Unigram model: a field has the wrong type");
  m->fuse_unk = true;
  return tk_model_init_unigram(m);
}

static mx_status parse_wordpiece(const cJSON *o, tk_model *m, bool level) {
  m->type = level ? TK_MODEL_WORDLEVEL : TK_MODEL_WORDPIECE;
  mx_status st = parse_vocab_map(jget(o, "vocab"), &m->vocab);
  if (st != MX_OK) return st;
  bool bad = false, oom = false;
  const char *unk = jstr(o, "unk_token", &bad);
  m->unk_id = unk ? tk_vocab_get(&m->vocab, unk, strlen(unk)) : -1;
  if (!level) {
    m->prefix = opt_str(o, "continuing_subword_prefix", &m->prefix_len, &bad, &oom);
    if (!m->prefix && !bad) {
      m->prefix = dupn("##", 2);
      m->prefix_len = 2;
      if (!m->prefix) oom = true;
    }
    int64_t mx = 100;
    const cJSON *v = jget(o, "max_input_chars_per_word");
    if (!jnull(v) && !jint(v, 0, INT32_MAX, &mx)) bad = true;
    m->max_input_chars = (int)mx;
  }
  if (oom) return OOM();
  if (bad) return BAD("WordPiece/WordLevel model: a field has the wrong type");
  tk_model_set_byte_ids(m);
  return MX_OK;
}

static mx_status parse_model(const cJSON *o, tk_model *m) {
  if (!cJSON_IsObject(o)) return BAD("tokenizer.json has no model object");
  bool bad = false;
  const char *type = jstr(o, "type", &bad);
  if (!type) { /* untagged, as serde tries them */
    if (jget(o, "merges"))
      type = "BPE";
    else if (cJSON_IsArray(jget(o, "vocab")))
      type = "Unigram";
    else if (jget(o, "max_input_chars_per_word"))
      type = "WordPiece";
    else
      type = "WordLevel";
  }
  if (!strcmp(type, "BPE")) return parse_bpe(o, m);
  if (!strcmp(type, "Unigram")) return parse_unigram(o, m);
  if (!strcmp(type, "WordPiece")) return parse_wordpiece(o, m, false);
  if (!strcmp(type, "WordLevel")) return parse_wordpiece(o, m, true);
  return TK_ERR(MX_ERR_UNSUPPORTED, "unsupported model type %s", type);
}

static mx_status parse_added(const cJSON *arr, mx_tokenizer *tok) {
  if (jnull(arr)) return MX_OK;
  if (!cJSON_IsArray(arr)) return BAD("added_tokens must be a list");
  size_t n = (size_t)cJSON_GetArraySize(arr);
  tok->added = calloc(n + 1, sizeof *tok->added);
  if (!tok->added) return OOM();
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    bool bad = false;
    const char *c = jstr(it, "content", &bad);
    int64_t id;
    if (!c || !jint(jget(it, "id"), 0, INT32_MAX - 1, &id))
      return BAD("added token without content or id");
    tk_added *a = &tok->added[tok->nadded];
    a->len = strlen(c);
    if (!tk_utf8_valid(c, a->len)) return BAD("added token is not valid UTF-8");
    a->id = (int32_t)id;
    a->special = jbool(it, "special", false, &bad);
    a->normalized = jbool(it, "normalized", true, &bad); /* serde default */
    a->lstrip = jbool(it, "lstrip", false, &bad);
    a->rstrip = jbool(it, "rstrip", false, &bad);
    a->single_word = jbool(it, "single_word", false, &bad);
    if (bad) return BAD("added token %s: a field has the wrong type", c);
    if (!a->len) continue; /* HF ignores empty tokens */
    if (!(a->content = dupn(c, a->len))) return OOM();
    tok->nadded++;
  }
  return MX_OK;
}

mx_status tk_load_json(mx_tokenizer *tok, const char *path) {
  char *data;
  size_t n;
  mx_status st = tk_read_file(path, &data, &n);
  if (st != MX_OK) return st;
  cJSON *root = cJSON_ParseWithLength(data, n);
  free(data);
  if (!root) return BAD("%s is not valid JSON", path);
  if (!cJSON_IsObject(root)) {
    st = BAD("%s: the top level is not an object", path);
    goto done;
  }
  if ((st = parse_model(jget(root, "model"), &tok->model)) != MX_OK) goto done;
  if ((st = parse_normalizer(jget(root, "normalizer"), 0, &tok->normalizer)) != MX_OK)
    goto done;
  if ((st = parse_pretok(jget(root, "pre_tokenizer"), 0, &tok->pretok)) != MX_OK)
    goto done;
  if ((st = parse_decoder(jget(root, "decoder"), 0, &tok->decoder)) != MX_OK) goto done;
  tok->post = calloc(1, sizeof *tok->post);
  if (!tok->post) {
    st = OOM();
    goto done;
  }
  if ((st = parse_post(jget(root, "post_processor"), 0, tok->post)) != MX_OK) goto done;
  st = parse_added(jget(root, "added_tokens"), tok);
done:
  cJSON_Delete(root);
  return st;
}

/* ------------------------------------------------ tokenizer_config.json */

/* A special token field: "tok", {"content": "tok"} or null. */
static mx_status config_token(const cJSON *cfg, const char *key, char **out) {
  const cJSON *v = jget(cfg, key);
  if (jnull(v)) return MX_OK;
  bool bad = false;
  const char *s = cJSON_IsString(v) ? v->valuestring : jstr(v, "content", &bad);
  if (!s) return bad || !cJSON_IsObject(v) ? BAD("tokenizer_config: bad %s", key) : MX_OK;
  free(*out);
  *out = dupn(s, strlen(s));
  return *out ? MX_OK : OOM();
}

static mx_status add_template(mx_tokenizer *tok, const char *name, const char *text) {
  char **nn = realloc(tok->tmpl_names, (tok->ntmpl + 1) * sizeof *nn);
  if (!nn) return OOM();
  tok->tmpl_names = nn;
  char **tt = realloc(tok->tmpl_texts, (tok->ntmpl + 1) * sizeof *tt);
  if (!tt) return OOM();
  tok->tmpl_texts = tt;
  char *a = dupn(name, strlen(name)), *b = dupn(text, strlen(text));
  if (!a || !b) {
    free(a);
    free(b);
    return OOM();
  }
  tok->tmpl_names[tok->ntmpl] = a;
  tok->tmpl_texts[tok->ntmpl] = b;
  tok->ntmpl++;
  return MX_OK;
}

static mx_status parse_templates(mx_tokenizer *tok, const cJSON *v) {
  if (jnull(v)) return MX_OK;
  if (cJSON_IsString(v)) return add_template(tok, "default", v->valuestring);
  if (!cJSON_IsArray(v)) return BAD("chat_template must be a string or a list");
  const cJSON *it;
  cJSON_ArrayForEach(it, v) {
    bool bad = false;
    const char *name = jstr(it, "name", &bad), *t = jstr(it, "template", &bad);
    if (!name || !t) return BAD("chat_template entries need name and template");
    mx_status st = add_template(tok, name, t);
    if (st != MX_OK) return st;
  }
  return MX_OK;
}

static bool file_exists(const char *p) {
  FILE *f = fopen(p, "rb");
  if (f) fclose(f);
  return f != NULL;
}

/* Reads dir/tokenizer_config.json (optional), chat_template.jinja and
 * chat_template.json (optional). Sets tok->config_* fields; the caller
 * resolves ids. */
mx_status tk_load_config(mx_tokenizer *tok, const char *dir) {
  size_t dl = strlen(dir);
  char *path = malloc(dl + 40);
  if (!path) return OOM();
  mx_status st = MX_OK;
  snprintf(path, dl + 40, "%s/tokenizer_config.json", dir);
  cJSON *cfg = NULL;
  if (file_exists(path)) {
    char *data;
    size_t n;
    st = tk_read_file(path, &data, &n);
    if (st != MX_OK) goto done;
    cfg = cJSON_ParseWithLength(data, n);
    free(data);
    if (!cfg || !cJSON_IsObject(cfg)) {
      st = BAD("%s is not a JSON object", path);
      goto done;
    }
    if ((st = config_token(cfg, "bos_token", &tok->bos_token)) != MX_OK ||
        (st = config_token(cfg, "eos_token", &tok->eos_token)) != MX_OK)
      goto done;
    char *pad = NULL, *unk = NULL;
    st = config_token(cfg, "pad_token", &pad);
    if (st == MX_OK) st = config_token(cfg, "unk_token", &unk);
    if (st == MX_OK && pad) {
      int32_t id = mx_tokenizer_token_to_id(tok, pad);
      if (id >= 0) tok->pad_id = id;
    }
    if (st == MX_OK && unk) {
      int32_t id = mx_tokenizer_token_to_id(tok, unk);
      if (id >= 0) tok->unk_id = id;
    }
    free(pad);
    free(unk);
    if (st != MX_OK) goto done;
    bool bad = false;
    const cJSON *ab = jget(cfg, "add_bos_token"), *ae = jget(cfg, "add_eos_token");
    tok->add_bos = jbool(cfg, "add_bos_token", tok->add_bos, &bad);
    tok->add_eos = jbool(cfg, "add_eos_token", tok->add_eos, &bad);
    tok->clean_up = jbool(cfg, "clean_up_tokenization_spaces", false, &bad);
    const char *cls = jstr(cfg, "tokenizer_class", &bad);
    if (bad) {
      st = BAD("%s: a field has the wrong type", path);
      goto done;
    }
    /* transformers' Llama/Gemma fast tokenizers rebuild the post-processor
     * from add_bos_token / add_eos_token */
    static const char *kRebuild[] = {"LlamaTokenizer",     "LlamaTokenizerFast",
                                     "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
                                     "GemmaTokenizer",     "GemmaTokenizerFast"};
    bool rebuild = false;
    for (size_t i = 0; cls && i < sizeof kRebuild / sizeof kRebuild[0]; i++)
      if (!strcmp(cls, kRebuild[i])) rebuild = true;
    if (rebuild && tok->post) {
      bool add_bos = cJSON_IsBool(ab) ? cJSON_IsTrue(ab) : true;
      bool add_eos = cJSON_IsBool(ae) ? cJSON_IsTrue(ae) : false;
      int32_t b = tok->bos_token ? mx_tokenizer_token_to_id(tok, tok->bos_token) : -1;
      int32_t e = tok->eos_token ? mx_tokenizer_token_to_id(tok, tok->eos_token) : -1;
      if ((add_bos && b < 0) || (add_eos && e < 0)) {
        st = BAD("%s: add_bos/eos_token set but the token is unknown", path);
        goto done;
      }
      tok->post->pre.n = tok->post->post.n = 0;
      if ((add_bos && !tk_ids_push(&tok->post->pre, b)) ||
          (add_eos && !tk_ids_push(&tok->post->post, e))) {
        st = OOM();
        goto done;
      }
      tok->add_bos = add_bos;
      tok->add_eos = add_eos;
    }
    if ((st = parse_templates(tok, jget(cfg, "chat_template"))) != MX_OK) goto done;
  }
  if (!tok->ntmpl) {
    snprintf(path, dl + 40, "%s/chat_template.jinja", dir);
    if (file_exists(path)) {
      char *data;
      size_t n;
      if ((st = tk_read_file(path, &data, &n)) != MX_OK) goto done;
      st = add_template(tok, "default", data);
      free(data);
      if (st != MX_OK) goto done;
    }
  }
  if (!tok->ntmpl) {
    snprintf(path, dl + 40, "%s/chat_template.json", dir);
    if (file_exists(path)) {
      char *data;
      size_t n;
      if ((st = tk_read_file(path, &data, &n)) != MX_OK) goto done;
      cJSON *j = cJSON_ParseWithLength(data, n);
      free(data);
      if (!j) {
        st = BAD("%s is not valid JSON", path);
        goto done;
      }
      st = parse_templates(tok, jget(j, "chat_template"));
      cJSON_Delete(j);
    }
  }
done:
  cJSON_Delete(cfg);
  free(path);
  return st;
}
