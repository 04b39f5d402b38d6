/* tk.h: internals of the tokenizer (src/lm/tokenizer/). The pipeline follows
 * Hugging Face tokenizers: added tokens are cut out of the text, the rest is
 * normalized, pre-tokenized into pieces, and each piece goes through the
 * model (BPE, sentencepiece BPE, unigram, WordPiece); a post-processor adds
 * special tokens. Decoding runs a chain of streaming decoder stages (so the
 * streaming detokenizer and decode() share one code path). */
#ifndef MX_TK_H
#define MX_TK_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mx/base.h"
#include "mx/tokenizer.h"

#define TK_ERR(st, ...) mx_set_error((st), "[tokenizer] " __VA_ARGS__)

/* ---- growable byte buffer and id vector (tk_util.c) ---- */
typedef struct {
  char *p;
  size_t n, cap;
} tk_buf;
bool tk_buf_reserve(tk_buf *b, size_t extra);
bool tk_buf_put(tk_buf *b, const void *s, size_t n);
bool tk_buf_putc(tk_buf *b, char c);
bool tk_buf_put_cp(tk_buf *b, uint32_t cp); /* UTF-8 encode */
void tk_buf_free(tk_buf *b);

typedef struct {
  int32_t *v;
  size_t n, cap;
} tk_ids;
bool tk_ids_push(tk_ids *a, int32_t id);
bool tk_ids_append(tk_ids *a, const int32_t *v, size_t n);

/* ---- UTF-8 ---- */
/* Length of one UTF-8 sequence at s (n bytes available). Returns the length
 * and sets *cp for a valid sequence; returns 0 and sets *bad to the length of
 * the maximal invalid subpart (>= 1) otherwise; *incomplete is set when the
 * bytes are a valid prefix cut by the end of the buffer. */
size_t tk_utf8_next(const char *s, size_t n, uint32_t *cp, size_t *bad, bool *incomplete);
size_t tk_utf8_encode(uint32_t cp, char out[4]);
bool tk_utf8_valid(const char *s, size_t n);
/* Appends s to out with each invalid subpart replaced by U+FFFD (Rust's
 * String::from_utf8_lossy). */
bool tk_utf8_lossy(tk_buf *out, const char *s, size_t n);
/* Decodes the char at s (valid UTF-8 assumed); returns its length. */
size_t tk_utf8_dec(const char *s, uint32_t *cp);

/* ---- Unicode classes (Rust char semantics) ---- */
bool tk_is_whitespace(uint32_t c); /* char::is_whitespace (White_Space) */
bool tk_is_punct(uint32_t c);      /* ASCII punctuation or Unicode P* */
bool tk_is_numeric(uint32_t c);    /* N* */
bool tk_is_word(uint32_t c);       /* regex \w */
bool tk_is_mark(uint32_t c);       /* M* */
bool tk_is_other(uint32_t c);      /* C* */

/* ---- string -> int32 hash map; keys are copied into an arena ---- */
typedef struct {
  uint64_t *slots; /* hash << 32 | (entry index + 1); 0 = empty */
  size_t cap;      /* power of two */
  struct tk_map_entry {
    uint64_t off;
    uint32_t len, hash;
    int32_t val;
  } * e;
  size_t ne, ecap;
  tk_buf keys; /* NUL-terminated keys */
} tk_strmap;
uint32_t tk_hash(const char *s, size_t n);
/* Value of key, or -1. */
int32_t tk_strmap_get(const tk_strmap *m, const char *s, size_t n);
/* Inserts or overwrites; returns the entry index or -1 on OOM. */
int64_t tk_strmap_put(tk_strmap *m, const char *s, size_t n, int32_t val);
const char *tk_strmap_key(const tk_strmap *m, size_t entry);
void tk_strmap_free(tk_strmap *m);

/* ---- uint64 -> (uint32, int32) hash map (BPE merges) ---- */
typedef struct {
  uint64_t key; /* key + 1, 0 = empty */
  uint32_t a;
  int32_t b;
} tk_u64slot;
typedef struct {
  tk_u64slot *s;
  size_t cap, n;
} tk_u64map;
bool tk_u64map_put(tk_u64map *m, uint64_t key, uint32_t a, int32_t b);
bool tk_u64map_get(const tk_u64map *m, uint64_t key, uint32_t *a, int32_t *b);
void tk_u64map_free(tk_u64map *m);

/* ---- vocabulary: token <-> id ---- */
typedef struct {
  tk_strmap map;     /* token -> id */
  int32_t size;      /* max id + 1 */
  uint64_t *tok_off; /* id -> offset of its key in map.keys, or UINT64_MAX */
  uint32_t *tok_len;
} tk_vocab;
mx_status tk_vocab_add(tk_vocab *v, const char *s, size_t n, int32_t id);
mx_status tk_vocab_finish(tk_vocab *v); /* builds id -> token */
static inline int32_t tk_vocab_get(const tk_vocab *v, const char *s, size_t n) {
  return tk_strmap_get(&v->map, s, n);
}
const char *tk_vocab_token(const tk_vocab *v, int32_t id, size_t *len);
void tk_vocab_free(tk_vocab *v);

/* ---- regex / literal patterns with Rust-onig find_iter semantics ---- */
typedef struct {
  bool is_regex; /* false: literal string */
  char *str;
  size_t len;
  pcre2_code *re; /* regexes and the empty literal */
} tk_pattern;
mx_status tk_pattern_init(tk_pattern *p, const char *s, size_t n, bool is_regex);
void tk_pattern_free(tk_pattern *p);
typedef struct {
  size_t s, e;
} tk_span;
typedef struct {
  tk_span *v;
  size_t n, cap;
} tk_spans;
/* All non-overlapping matches in s (as onig's find_iter: an empty match
 * right after the previous match is skipped). */
mx_status tk_pattern_find(const tk_pattern *p, const char *s, size_t n, tk_spans *out);

/* ---- the pre-tokenized string: pieces of text or finished tokens ---- */
typedef struct {
  size_t off, len; /* into text */
  int32_t id;      /* >= 0: an added token, no text to tokenize */
  bool first;      /* starts at offset 0 of the original text */
} tk_piece;
typedef struct {
  tk_buf text;
  tk_piece *v;
  size_t n, cap;
} tk_pieces;
bool tk_pieces_add(tk_pieces *p, const char *s, size_t n, int32_t id, bool first);
void tk_pieces_clear(tk_pieces *p);
void tk_pieces_free(tk_pieces *p);

/* ---- normalizers (tk_normalize.c) ---- */
typedef enum {
  TK_NORM_SEQUENCE,
  TK_NORM_NFC,
  TK_NORM_NFD,
  TK_NORM_NFKC,
  TK_NORM_NFKD,
  TK_NORM_LOWERCASE,
  TK_NORM_PREPEND,
  TK_NORM_REPLACE,
  TK_NORM_STRIP,
  TK_NORM_STRIP_ACCENTS,
  TK_NORM_BERT,
  TK_NORM_NMT,
  TK_NORM_PRECOMPILED,
  TK_NORM_BYTELEVEL,
  TK_NORM_SPM, /* sentencepiece's own normalizer (tokenizer.model) */
} tk_norm_type;

typedef struct tk_charsmap tk_charsmap;

typedef struct tk_normalizer {
  tk_norm_type type;
  struct tk_normalizer **subs;
  int nsubs;
  char *str; /* Prepend text; Replace content */
  size_t str_len;
  tk_pattern pat;   /* Replace */
  bool left, right; /* Strip */
  /* Bert */
  bool clean_text, chinese, strip_accents, lowercase;
  /* SPM */
  bool add_dummy_prefix, remove_extra_ws, escape_ws, ws_suffix;
  tk_charsmap *charsmap; /* Precompiled, SPM (may be NULL) */
} tk_normalizer;
/* Appends the normalized form of s to out. */
mx_status tk_normalize(const tk_normalizer *nm, const char *s, size_t n, tk_buf *out);
void tk_normalizer_free(tk_normalizer *nm);
/* Parses a sentencepiece precompiled_charsmap blob (NULL if empty). */
mx_status tk_charsmap_new(const char *blob, size_t n, tk_charsmap **out);
void tk_charsmap_free(tk_charsmap *cm);

/* ---- pre-tokenizers (tk_pretok.c) ---- */
typedef enum {
  TK_SPLIT_REMOVED,
  TK_SPLIT_ISOLATED,
  TK_SPLIT_MERGED_PREV,
  TK_SPLIT_MERGED_NEXT,
  TK_SPLIT_CONTIGUOUS,
} tk_split_behavior;

typedef enum {
  TK_PRE_SEQUENCE,
  TK_PRE_BYTELEVEL,
  TK_PRE_SPLIT,
  TK_PRE_METASPACE,
  TK_PRE_DIGITS,
  TK_PRE_PUNCTUATION,
  TK_PRE_WHITESPACE,
  TK_PRE_WHITESPACE_SPLIT,
  TK_PRE_BERT,
  TK_PRE_CHAR_DELIMITER,
} tk_pre_type;

typedef enum { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER } tk_prepend;

typedef struct tk_pretok {
  tk_pre_type type;
  struct tk_pretok **subs;
  int nsubs;
  bool add_prefix_space, use_regex; /* ByteLevel */
  tk_pattern pat;                   /* Split */
  tk_split_behavior behavior;       /* Split, Punctuation */
  bool invert;                      /* Split */
  uint32_t ch;                      /* Metaspace replacement, delimiter */
  tk_prepend prepend;               /* Metaspace */
  bool split;                       /* Metaspace */
  bool individual_digits;           /* Digits */
} tk_pretok;
/* Splits every text piece of in into out (token pieces pass through). */
mx_status tk_pretokenize(const tk_pretok *pt, const tk_pieces *in, tk_pieces *out);
void tk_pretok_free(tk_pretok *pt);
/* The byte-level alphabet: byte -> code point and back (-1 if none). */
uint32_t tk_byte_to_cp(uint8_t b);
int tk_cp_to_byte(uint32_t cp);

/* ---- models ---- */
typedef enum {
  TK_MODEL_BPE,
  TK_MODEL_SPM_BPE, /* sentencepiece BPE: merges by piece score */
  TK_MODEL_UNIGRAM,
  TK_MODEL_WORDPIECE,
  TK_MODEL_WORDLEVEL,
} tk_model_type;

/* sentencepiece piece types */
enum {
  TK_SP_NORMAL = 1,
  TK_SP_UNKNOWN = 2,
  TK_SP_CONTROL = 3,
  TK_SP_USER_DEFINED = 4,
  TK_SP_UNUSED = 5,
  TK_SP_BYTE = 6
};

typedef struct tk_wcache tk_wcache;

typedef struct {
  tk_model_type type;
  tk_vocab vocab;
  int32_t unk_id;   /* -1: none */
  bool unk_missing; /* unk_token named but not in the vocabulary */
  bool byte_fallback, fuse_unk, ignore_merges;
  int32_t byte_ids[256]; /* "<0xXX>" ids, -1 if absent */
  /* BPE */
  tk_u64map merges;      /* (a << 32 | b) -> (rank, new id) */
  char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix */
  size_t prefix_len, suffix_len;
  int32_t *cp_ids; /* code point < 1024 -> single-char token id or -1 */
  tk_wcache *cache;
  /* char pairs (a << 32 | b) that some merge joins; a long word is cut
   * where no merge can join the chars on either side (see tk_bpe.c) */
  tk_u64map junctions;
  bool can_split;
  /* sentencepiece BPE and unigram */
  float *scores;  /* id -> score */
  uint8_t *types; /* id -> TK_SP_* (NULL: all normal) */
  double min_score;
  /* unigram: a byte trie over the pieces */
  struct tk_trie *trie;
  /* WordPiece */
  int max_input_chars;
} tk_model;
mx_status tk_model_init_bpe(tk_model *m); /* after vocab/merges are set */
mx_status tk_model_init_unigram(tk_model *m);
/* Tokenizes one piece of text, appending ids. */
mx_status tk_model_tokenize(const tk_model *m, const char *s, size_t n, tk_ids *out);
void tk_model_free(tk_model *m);
void tk_model_set_byte_ids(tk_model *m);

/* ---- byte trie (added tokens, unigram pieces) ---- */
typedef struct tk_trie {
  /* node i: edges in a hash map keyed by (node << 8 | byte) */
  tk_u64map edges;
  int32_t *value; /* node -> value, -1 none */
  size_t nnodes, cap;
  uint8_t first[32]; /* bitmap of first bytes */
} tk_trie;
mx_status tk_trie_insert(tk_trie *t, const char *s, size_t n, int32_t value);
/* Longest key that is a prefix of s: returns its length (0: none) and value. */
size_t tk_trie_longest(const tk_trie *t, const char *s, size_t n, int32_t *value);
void tk_trie_free(tk_trie *t);

/* ---- decoders (tk_decode.c) ---- */
typedef enum {
  TK_DEC_SEQUENCE,
  TK_DEC_BYTELEVEL,
  TK_DEC_BYTEFALLBACK,
  TK_DEC_METASPACE,
  TK_DEC_FUSE,
  TK_DEC_STRIP,
  TK_DEC_REPLACE,
  TK_DEC_WORDPIECE,
  TK_DEC_BPE,
  TK_DEC_CTC,
} tk_dec_type;

typedef struct tk_decoder {
  tk_dec_type type;
  struct tk_decoder **subs;
  int nsubs;
  uint32_t ch;        /* Metaspace replacement; Strip content */
  bool prepend_never; /* Metaspace */
  int start, stop;    /* Strip */
  tk_pattern pat;     /* Replace */
  char *str;          /* Replace content; WordPiece prefix; BPE suffix;
                         CTC pad token */
  size_t str_len;
  char *str2; /* CTC word delimiter */
  size_t str2_len;
  bool cleanup; /* WordPiece, CTC */
} tk_decoder;
void tk_decoder_free(tk_decoder *d);

/* ---- post-processor ---- */
typedef struct tk_postproc {
  /* ids before and after the sequence (TemplateProcessing single, Bert,
   * Roberta; a Sequence concatenates) */
  tk_ids pre, post;
} tk_postproc;

/* ---- added tokens ---- */
typedef struct {
  char *content;
  size_t len;
  int32_t id;
  bool special, normalized, lstrip, rstrip, single_word;
  char *norm_content; /* content after the normalizer (normalized tokens) */
  size_t norm_len;
} tk_added;

/* ---- the tokenizer ---- */
struct mx_tokenizer {
  tk_normalizer *normalizer;
  tk_pretok *pretok;
  tk_model model;
  tk_decoder *decoder;
  tk_postproc *post;
  bool has_post; /* a post-processor that adds tokens exists */

  tk_added *added;
  size_t nadded;
  tk_trie raw_trie, norm_trie; /* content -> index into added */
  tk_strmap added_map;         /* content -> id */
  bool has_raw, has_norm;

  int32_t nvocab;      /* max id + 1 */
  const char **id_tok; /* id -> token used for decoding (or NULL) */
  uint32_t *id_len;
  const char **id_name; /* id -> token string for id_to_token */
  uint8_t *id_special;

  int32_t bos_id, eos_id, pad_id, unk_id;
  char *bos_token, *eos_token;
  int32_t *eos_ids;
  size_t neos;
  bool add_bos, add_eos, clean_up;
  char **tmpl_names, **tmpl_texts;
  size_t ntmpl;
  tk_buf strings; /* storage for added-token decode strings */
};

/* loaders */
mx_status tk_load_json(mx_tokenizer *tok, const char *path);
mx_status tk_load_config(mx_tokenizer *tok, const char *dir);
mx_status tk_load_spm(mx_tokenizer *tok, const char *path);
mx_status tk_read_file(const char *path, char **data, size_t *n);
/* After the model, added tokens and config are set: tries, id tables. */
mx_status tk_finish_load(mx_tokenizer *tok);

/* the streaming decoder chain (also used by mx_tokenizer_decode) */
typedef struct tk_dchain tk_dchain;
mx_status tk_dchain_new(const mx_tokenizer *tok, tk_dchain **out);
/* Batch mode (decode()): text may wait in the chain until finish. */
void tk_dchain_set_batch(tk_dchain *c, bool batch);
/* Feeds one token string; text that became final is appended to out. */
mx_status tk_dchain_push(tk_dchain *c, const char *s, size_t n, tk_buf *out);
mx_status tk_dchain_finish(tk_dchain *c, tk_buf *out);
void tk_dchain_free(tk_dchain *c);

#endif
