/* mx/tokenizer.h: text <-> token ids, compatible with Hugging Face tokenizers.
 *
 * mx_tokenizer_load reads a model directory (tokenizer.json, plus
 * tokenizer_config.json and chat_template.jinja when present) or a single
 * file: a tokenizer.json or a raw sentencepiece tokenizer.model (used when a
 * directory has no tokenizer.json). Encoding and decoding give the same ids
 * and text as Hugging Face `tokenizers` / transformers' fast tokenizers,
 * including transformers' clean_up_tokenization_spaces when the config asks
 * for it.
 *
 * A tokenizer is immutable after loading except for mx_tokenizer_add_eos_id,
 * and may be used from several threads at once. Errors are reported as
 * "[tokenizer] ..." through mx_set_error together with the returned status
 * (or NULL). Text is UTF-8; invalid input bytes are read as U+FFFD. */
#ifndef MX_TOKENIZER_H
#define MX_TOKENIZER_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mx_tokenizer mx_tokenizer;
typedef struct mx_detokenizer mx_detokenizer;

/* Loads a tokenizer from a directory or a tokenizer.json / tokenizer.model
 * file. Returns NULL with an error message on failure. */
mx_tokenizer *mx_tokenizer_load(const char *dir_or_file);
void mx_tokenizer_free(mx_tokenizer *tok);

/* Encodes len bytes of text. *ids (malloc'd, free() it; may be NULL when
 * *n == 0) receives the ids. add_special_tokens adds the tokenizer's default
 * special tokens (e.g. BOS) as Hugging Face does. */
mx_status mx_tokenizer_encode(const mx_tokenizer *tok, const char *text, size_t len,
                              bool add_special_tokens, int32_t **ids, int *n);

/* Decodes ids to text (malloc'd, NUL-terminated; free() it). len, when not
 * NULL, receives the byte length (the text may contain NUL characters).
 * Unknown ids are skipped, as Hugging Face does. */
mx_status mx_tokenizer_decode(const mx_tokenizer *tok, const int32_t *ids, int n,
                              bool skip_special_tokens, char **text, size_t *len);

/* One more than the largest id of the vocabulary and added tokens. */
int mx_tokenizer_vocab_size(const mx_tokenizer *tok);
/* The token string of an id (e.g. "Ġhello", "<s>"), or NULL if none. The
 * string lives as long as the tokenizer. */
const char *mx_tokenizer_id_to_token(const mx_tokenizer *tok, int32_t id);
/* The id of a token string (added tokens first, then the model vocabulary),
 * or -1. */
int32_t mx_tokenizer_token_to_id(const mx_tokenizer *tok, const char *token);
/* True for special added tokens (those skip_special_tokens drops). */
bool mx_tokenizer_is_special(const mx_tokenizer *tok, int32_t id);

/* Special ids from tokenizer_config.json (or the sentencepiece model); -1
 * when the tokenizer has none. */
int32_t mx_tokenizer_bos_id(const mx_tokenizer *tok);
int32_t mx_tokenizer_eos_id(const mx_tokenizer *tok);
int32_t mx_tokenizer_pad_id(const mx_tokenizer *tok);
int32_t mx_tokenizer_unk_id(const mx_tokenizer *tok);
/* Their strings ("<s>"), or NULL. */
const char *mx_tokenizer_bos_token(const mx_tokenizer *tok);
const char *mx_tokenizer_eos_token(const mx_tokenizer *tok);
/* Every id that ends generation: the eos id plus any added here (e.g. from
 * generation_config.json). Not thread safe against concurrent readers. */
mx_status mx_tokenizer_add_eos_id(mx_tokenizer *tok, int32_t id);
bool mx_tokenizer_is_eos(const mx_tokenizer *tok, int32_t id);
/* Whether encode with add_special_tokens puts the BOS id first / the EOS
 * id last (from the post-processor, as tokenizer_config.json adjusts it). */
bool mx_tokenizer_add_bos(const mx_tokenizer *tok);
bool mx_tokenizer_add_eos(const mx_tokenizer *tok);
/* The chat template named `name` (NULL or "default" for the default one),
 * from tokenizer_config.json or chat_template.jinja; NULL if none. */
const char *mx_tokenizer_chat_template(const mx_tokenizer *tok, const char *name);

/* Streaming detokenizer: feed ids one at a time, get the newly completed
 * text. The pieces never split a UTF-8 character, and their concatenation
 * (including what finish returns) equals mx_tokenizer_decode of the whole
 * sequence. Text can be held back while later tokens could still change it
 * (an incomplete UTF-8 sequence, a run of byte-fallback tokens, a trailing
 * space that clean-up could remove). */
mx_detokenizer *mx_detokenizer_new(const mx_tokenizer *tok, bool skip_special_tokens);
/* Returns the new text (NUL-terminated, "" when none; valid until the next
 * call on d), and its length in *len when len is not NULL; NULL on error. */
const char *mx_detokenizer_add(mx_detokenizer *d, int32_t id, size_t *len);
/* Flushes what was held back; the detokenizer can then start over. */
const char *mx_detokenizer_finish(mx_detokenizer *d, size_t *len);
void mx_detokenizer_free(mx_detokenizer *d);

#ifdef __cplusplus
}
#endif
#endif
