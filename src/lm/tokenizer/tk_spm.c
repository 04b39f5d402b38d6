/* tk_spm.c: raw sentencepiece models (tokenizer.model). A small protobuf
 * reader pulls the pieces (text, score, type), the trainer spec (model type,
 * byte fallback, special ids) and the normalizer spec (dummy prefix,
 * whitespace handling, charsmap) out of the ModelProto; the tokenizer is then
 * set up the way transformers' slow->fast Llama converter does (control and
 * user-defined pieces become added tokens; decoder Replace, ByteFallback,
 * Fuse, Strip) with sentencepiece's own encoder (BPE by score or unigram). */
#include <stdlib.h>
#include <string.h>

#include "tk.h"

#define OOM() TK_ERR(MX_ERR_NOMEM, "out of memory loading tokenizer.model")
#define BAD(...) TK_ERR(MX_ERR_IO, __VA_ARGS__)

typedef struct {
  const uint8_t *p, *end;
} pb;

static bool pb_varint(pb *r, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->p >= r->end) return false;
    uint8_t b = *r->p++;
    x |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return true;
    }
  }
  return false;
}

static bool pb_tag(pb *r, uint32_t *field, uint32_t *wire) {
  uint64_t t;
  if (!pb_varint(r, &t) || (t >> 3) == 0 || (t >> 3) > UINT32_MAX) return false;
  *field = (uint32_t)(t >> 3);
  *wire = (uint32_t)(t & 7);
  return true;
}

static bool pb_bytes(pb *r, pb *sub) {
  uint64_t n;
  if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
  sub->p = r->p;
  sub->end = r->p + n;
  r->p += n;
  return true;
}

static bool pb_skip(pb *r, uint32_t wire) {
  uint64_t v;
  pb sub;
  switch (wire) {
    case 0:
      return pb_varint(r, &v);
    case 1:
      if (r->end - r->p < 8) return false;
      r->p += 8;
      return true;
    case 2:
      return pb_bytes(r, &sub);
    case 5:
      if (r->end - r->p < 4) return false;
      r->p += 4;
      return true;
    default:
      return false; /* groups are not used by ModelProto */
  }
}

static bool pb_float(pb *r, float *f) {
  if (r->end - r->p < 4) return false;
  uint32_t u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
               (uint32_t)r->p[3] << 24;
  memcpy(f, &u, 4);
  r->p += 4;
  return true;
}

typedef struct {
  const uint8_t *s;
  size_t n;
  float score;
  int type;
} spiece;

typedef struct {
  spiece *v;
  size_t n, cap;
  int model_type;
  bool byte_fallback, ws_suffix;
  int64_t unk_id, bos_id, eos_id, pad_id;
  bool add_dummy_prefix, remove_extra_ws, escape_ws;
  const uint8_t *charsmap;
  size_t charsmap_n;
} sproto;

static bool parse_piece(pb *r, spiece *sp) {
  sp->s = (const uint8_t *)"";
  sp->n = 0;
  sp->score = 0;
  sp->type = TK_SP_NORMAL;
  while (r->p < r->end) {
    uint32_t f, w;
    if (!pb_tag(r, &f, &w)) return false;
    if (f == 1 && w == 2) {
      pb s;
      if (!pb_bytes(r, &s)) return false;
      sp->s = s.p;
      sp->n = (size_t)(s.end - s.p);
    } else if (f == 2 && w == 5) {
      if (!pb_float(r, &sp->score)) return false;
    } else if (f == 3 && w == 0) {
      uint64_t v;
      if (!pb_varint(r, &v)) return false;
      sp->type = (int)v;
    } else if (!pb_skip(r, w)) {
      return false;
    }
  }
  return true;
}

static bool parse_trainer(pb *r, sproto *m) {
  while (r->p < r->end) {
    uint32_t f, w;
    uint64_t v;
    if (!pb_tag(r, &f, &w)) return false;
    if (w == 0 && (f == 3 || f == 24 || f == 35 || (f >= 40 && f <= 43))) {
      if (!pb_varint(r, &v)) return false;
      int64_t sv = (int64_t)(int32_t)(uint32_t)v; /* int32 fields */
      switch (f) {
        case 3:
          m->model_type = (int)v;
          break;
        case 24:
          m->ws_suffix = v != 0;
          break;
        case 35:
          m->byte_fallback = v != 0;
          break;
        case 40:
          m->unk_id = sv;
          break;
        case 41:
          m->bos_id = sv;
          break;
        case 42:
          m->eos_id = sv;
          break;
        case 43:
          m->pad_id = sv;
          break;
      }
    } else if (!pb_skip(r, w)) {
      return false;
    }
  }
  return true;
}

static bool parse_normspec(pb *r, sproto *m) {
  while (r->p < r->end) {
    uint32_t f, w;
    uint64_t v;
    if (!pb_tag(r, &f, &w)) return false;
    if (f == 2 && w == 2) {
      pb s;
      if (!pb_bytes(r, &s)) return false;
      m->charsmap = s.p;
      m->charsmap_n = (size_t)(s.end - s.p);
    } else if (w == 0 && f >= 3 && f <= 5) {
      if (!pb_varint(r, &v)) return false;
      if (f == 3) m->add_dummy_prefix = v != 0;
      if (f == 4) m->remove_extra_ws = v != 0;
      if (f == 5) m->escape_ws = v != 0;
    } else if (!pb_skip(r, w)) {
      return false;
    }
  }
  return true;
}

static mx_status parse_proto(const uint8_t *data, size_t n, sproto *m) {
  m->model_type = 1; /* UNIGRAM */
  m->unk_id = 0;
  m->bos_id = 1;
  m->eos_id = 2;
  m->pad_id = -1;
  m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = true;
  pb r = {data, data + n};
  while (r.p < r.end) {
    uint32_t f, w;
    pb sub;
    if (!pb_tag(&r, &f, &w)) goto bad;
    if (w == 2 && f >= 1 && f <= 3) {
      if (!pb_bytes(&r, &sub)) goto bad;
      if (f == 1) {
        if (m->n == m->cap) {
          size_t cap = m->cap ? m->cap * 2 : 1024;
          spiece *v = realloc(m->v, cap * sizeof *v);
          if (!v) return OOM();
          m->v = v;
          m->cap = cap;
        }
        if (!parse_piece(&sub, &m->v[m->n++])) goto bad;
      } else if (f == 2) {
        if (!parse_trainer(&sub, m)) goto bad;
      } else if (!parse_normspec(&sub, m)) {
        goto bad;
      }
    } else if (!pb_skip(&r, w)) {
      goto bad;
    }
  }
  if (m->n == 0) return BAD("tokenizer.model has no pieces");
  if (m->n > (size_t)INT32_MAX - 1) return BAD("tokenizer.model has too many pieces");
  return MX_OK;
bad:
  return BAD("tokenizer.model is truncated or not a sentencepiece model");
}

static mx_status add_added(mx_tokenizer *tok, const char *s, size_t n, int32_t id,
                           bool special) {
  tk_added *a = &tok->added[tok->nadded];
  a->content = malloc(n + 1);
  if (!a->content) return OOM();
  memcpy(a->content, s, n);
  a->content[n] = 0;
  a->len = n;
  a->id = id;
  a->special = special;
  tok->nadded++;
  return MX_OK;
}

static tk_decoder *dec_new(tk_dec_type t) {
  tk_decoder *d = calloc(1, sizeof *d);
  if (d) d->type = t;
  return d;
}

mx_status tk_load_spm(mx_tokenizer *tok, const char *path) {
  char *data;
  size_t size;
  mx_status st = tk_read_file(path, &data, &size);
  if (st != MX_OK) return st;
  sproto m = {0};
  tk_buf tmp = {0};
  st = parse_proto((const uint8_t *)data, size, &m);
  if (st != MX_OK) goto done;
  if (m.model_type != 1 && m.model_type != 2) {
    st = TK_ERR(MX_ERR_UNSUPPORTED, "sentencepiece model type %d (only unigram and BPE)",
                m.model_type);
    goto done;
  }
  tk_model *md = &tok->model;
  md->type = m.model_type == 2 ? TK_MODEL_SPM_BPE : TK_MODEL_UNIGRAM;
  md->scores = malloc(m.n * sizeof *md->scores);
  md->types = malloc(m.n);
  tok->added = calloc(m.n + 1, sizeof *tok->added);
  if (!md->scores || !md->types || !tok->added) {
    st = OOM();
    goto done;
  }
  int32_t unk = -1;
  for (size_t i = 0; i < m.n; i++) {
    spiece *p = &m.v[i];
    if (p->type < TK_SP_NORMAL || p->type > TK_SP_BYTE) {
      st = BAD("tokenizer.model: piece %zu has a bad type %d", i, p->type);
      goto done;
    }
    if (p->n == 0) {
      st = BAD("tokenizer.model: piece %zu is empty", i);
      goto done;
    }
    const char *s = (const char *)p->s;
    size_t n = p->n;
    if (!tk_utf8_valid(s, n)) {
      tmp.n = 0;
      if (!tk_utf8_lossy(&tmp, s, n)) {
        st = OOM();
        goto done;
      }
      s = tmp.p;
      n = tmp.n;
    }
    /* a piece listed twice keeps its first id, as spm's map insert */
    if (tk_vocab_get(&md->vocab, s, n) < 0 &&
        (st = tk_vocab_add(&md->vocab, s, n, (int32_t)i)) != MX_OK)
      goto done;
    md->scores[i] = p->score;
    md->types[i] = (uint8_t)p->type;
    if (p->type == TK_SP_UNKNOWN && unk < 0) unk = (int32_t)i;
    if (p->type == TK_SP_CONTROL || p->type == TK_SP_USER_DEFINED ||
        p->type == TK_SP_UNKNOWN) {
      st = add_added(tok, s, n, (int32_t)i, p->type != TK_SP_USER_DEFINED);
      if (st != MX_OK) goto done;
    }
  }
  if ((st = tk_vocab_finish(&md->vocab)) != MX_OK) goto done;
  md->unk_id =
      unk >= 0 ? unk : (m.unk_id >= 0 && (size_t)m.unk_id < m.n ? (int32_t)m.unk_id : -1);
  md->byte_fallback = m.byte_fallback;
  md->fuse_unk = true;
  if (md->type == TK_MODEL_SPM_BPE) {
    if ((st = tk_model_init_bpe(md)) != MX_OK) goto done;
  } else if ((st = tk_model_init_unigram(md)) != MX_OK) {
    goto done;
  }

  /* normalizer */
  tk_normalizer *nm = calloc(1, sizeof *nm);
  if (!nm) {
    st = OOM();
    goto done;
  }
  tok->normalizer = nm;
  nm->type = TK_NORM_SPM;
  nm->add_dummy_prefix = m.add_dummy_prefix;
  nm->remove_extra_ws = m.remove_extra_ws;
  nm->escape_ws = m.escape_ws;
  nm->ws_suffix = m.ws_suffix;
  if ((st = tk_charsmap_new((const char *)m.charsmap, m.charsmap_n, &nm->charsmap)) !=
      MX_OK)
    goto done;

  /* decoder: U+2581 -> ' ', bytes, fuse, drop the dummy space */
  tk_decoder *seq = dec_new(TK_DEC_SEQUENCE);
  tok->decoder = seq;
  if (!seq || !(seq->subs = calloc(4, sizeof *seq->subs))) {
    st = OOM();
    goto done;
  }
  tk_decoder *rep = dec_new(TK_DEC_REPLACE);
  if (!rep) {
    st = OOM();
    goto done;
  }
  seq->subs[seq->nsubs++] = rep;
  if ((st = tk_pattern_init(&rep->pat, "\xE2\x96\x81", 3, false)) != MX_OK) goto done;
  if (!(rep->str = malloc(2))) {
    st = OOM();
    goto done;
  }
  memcpy(rep->str, " ", 2);
  rep->str_len = 1;
  tk_decoder *bf = dec_new(TK_DEC_BYTEFALLBACK), *fu = dec_new(TK_DEC_FUSE);
  if (bf) seq->subs[seq->nsubs++] = bf;
  if (fu) seq->subs[seq->nsubs++] = fu;
  if (!bf || !fu) {
    st = OOM();
    goto done;
  }
  if (m.add_dummy_prefix) {
    tk_decoder *sp = dec_new(TK_DEC_STRIP);
    if (!sp) {
      st = OOM();
      goto done;
    }
    seq->subs[seq->nsubs++] = sp;
    sp->ch = ' ';
    sp->start = m.ws_suffix ? 0 : 1;
    sp->stop = m.ws_suffix ? 1 : 0;
  }

  /* special ids and a BOS post-processor (transformers' Llama default) */
  tok->post = calloc(1, sizeof *tok->post);
  if (!tok->post) {
    st = OOM();
    goto done;
  }
  int64_t ids[3] = {m.bos_id, m.eos_id, m.pad_id};
  int32_t *dst[3] = {&tok->bos_id, &tok->eos_id, &tok->pad_id};
  char **names[3] = {&tok->bos_token, &tok->eos_token, NULL};
  for (int k = 0; k < 3; k++) {
    if (ids[k] < 0 || (size_t)ids[k] >= m.n) continue;
    *dst[k] = (int32_t)ids[k];
    if (names[k]) {
      size_t n;
      const char *t = tk_vocab_token(&md->vocab, (int32_t)ids[k], &n);
      if (t && !(*names[k] = strdup(t))) {
        st = OOM();
        goto done;
      }
    }
  }
  tok->unk_id = md->unk_id;
  tok->add_bos = tok->bos_id >= 0;
  tok->add_eos = false;
done:
  free(m.v);
  free(data);
  tk_buf_free(&tmp);
  return st;
}
