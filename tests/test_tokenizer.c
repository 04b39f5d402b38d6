/* test_tokenizer.c: the tokenizer against Hugging Face's own outputs.
 *
 * Real tokenizers (gpt2, llama3, qwen2.5, mistral, gemma2, a raw llama2
 * tokenizer.model, stories260K as tokenizer.json and tokenizer.model) are
 * checked against ids and decoded text that Hugging Face tokenizers /
 * sentencepiece produced (tests/fixtures/tokenizers, see PROVENANCE.md).
 * The streaming detokenizer must reproduce decode() exactly, in chunks of
 * valid UTF-8, on every vector and on random id sequences. Small hand-made
 * tokenizer.json files pin down each component with expectations worked out
 * by hand from the Hugging Face semantics. Malformed and truncated files
 * must fail cleanly. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char g_tmp[256];

/* ------------------------------------------------------------ helpers */

static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)sz + 1);
  if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
    free(p);
    p = NULL;
  }
  fclose(f);
  if (p) {
    p[sz] = 0;
    if (n) *n = (size_t)sz;
  }
  return p;
}

static bool write_all(const char *path, const char *s, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = fwrite(s, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

static void fixture(char *out, size_t cap, const char *rel) {
  snprintf(out, cap, "%s", mxt_src_path("tests/fixtures/tokenizers"));
  size_t k = strlen(out);
  snprintf(out + k, cap - k, "/%s", rel);
}

/* Unpacks fixture model `name` into g_tmp/name (zstd -d), with its config. */
static bool unpack(const char *name, const char *file) {
  char src[1024], dst[1024], cmd[5000];
  snprintf(dst, sizeof dst, "%s/%s", g_tmp, name);
  mkdir(dst, 0755);
  fixture(src, sizeof src, name);
  snprintf(cmd, sizeof cmd, "zstd -d -q -f '%s/%s.zst' -o '%s/%s'", src, file, dst, file);
  if (system(cmd) != 0) return false;
  snprintf(cmd, sizeof cmd,
           "if [ -f '%s/tokenizer_config.json' ]; then cp '%s/tokenizer_config.json' "
           "'%s/'; fi",
           src, src, dst);
  return system(cmd) == 0;
}

/* An independent UTF-8 validator (RFC 3629). */
static bool utf8_ok(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1;
      min = 0x80;
      c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2;
      min = 0x800;
      c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3;
      min = 0x10000;
      c &= 0x07;
    } else {
      return false;
    }
    if (i + k >= n) return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      c = (c << 6) | (s[i + j] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    i += k + 1;
  }
  return true;
}

static void print_ids(const char *what, const int32_t *v, int n) {
  fprintf(stderr, "  %s (%d):", what, n);
  for (int i = 0; i < n && i < 60; i++) fprintf(stderr, " %d", v[i]);
  fprintf(stderr, "%s\n", n > 60 ? " ..." : "");
}

static bool ids_equal(const int32_t *a, int na, const cJSON *arr) {
  if (cJSON_GetArraySize(arr) != na) return false;
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (a[i++] != (int32_t)it->valuedouble) return false;
  }
  return true;
}

static int32_t *json_ids(const cJSON *arr, int *n) {
  *n = cJSON_GetArraySize(arr);
  int32_t *v = malloc(sizeof *v * (size_t)(*n + 1));
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) v[i++] = (int32_t)it->valuedouble;
  return v;
}

/* cJSON strings end at a NUL, so vector files are read with "\u0000"
 * turned into U+E000, which vec_text turns back into a NUL byte. */
static char *vec_json(const char *path) {
  char *txt = read_all(path, NULL);
  if (!txt) return NULL;
  for (char *p = txt; (p = strstr(p, "\\u0000")) != NULL; p += 6) memcpy(p, "\\uE000", 6);
  return txt;
}

static size_t vec_text(const char *s, char *out) {
  size_t k = 0;
  for (size_t i = 0; s[i];) {
    if (!memcmp(s + i, "\xEE\x80\x80", 3)) {
      out[k++] = 0;
      i += 3;
    } else {
      out[k++] = s[i++];
    }
  }
  out[k] = 0;
  return k;
}

/* Encodes and compares with the expected ids. */
static void check_encode(mx_tokenizer *tok, const char *name, const char *text0,
                         bool special, const cJSON *want) {
  int32_t *ids = NULL;
  int n = 0;
  char *text = malloc(strlen(text0) + 1);
  size_t tlen = vec_text(text0, text);
  mx_status st = mx_tokenizer_encode(tok, text, tlen, special, &ids, &n);
  MXT_CHECK(st == MX_OK, "%s: encode failed: %s", name, mx_last_error());
  bool eq = st == MX_OK && ids_equal(ids, n, want);
  MXT_CHECK(eq, "%s: ids differ (special=%d) for \"%.80s\"", name, special, text);
  if (!eq) {
    int wn;
    int32_t *w = json_ids(want, &wn);
    print_ids("want", w, wn);
    print_ids("got ", ids, n);
    free(w);
  }
  free(ids);
  free(text);
  mx_clear_error();
}

/* The streaming detokenizer must give decode()'s text in valid chunks. */
static void check_stream(mx_tokenizer *tok, const char *name, const int32_t *ids, int n,
                         bool skip) {
  char *full = NULL;
  size_t flen = 0;
  if (mx_tokenizer_decode(tok, ids, n, skip, &full, &flen) != MX_OK) {
    MXT_CHECK(0, "%s: decode failed: %s", name, mx_last_error());
    mx_clear_error();
    return;
  }
  mx_detokenizer *d = mx_detokenizer_new(tok, skip);
  MXT_CHECK(d != NULL, "%s: detokenizer_new", name);
  if (!d) {
    free(full);
    return;
  }
  size_t cap = flen + 16, len = 0;
  char *acc = malloc(cap);
  bool valid = true, ok = true;
  for (int i = 0; i <= n && ok; i++) {
    size_t k;
    const char *chunk =
        i < n ? mx_detokenizer_add(d, ids[i], &k) : mx_detokenizer_finish(d, &k);
    if (!chunk) {
      ok = false;
      break;
    }
    if (!utf8_ok((const unsigned char *)chunk, k)) valid = false;
    if (len + k > cap) {
      cap = (len + k) * 2;
      acc = realloc(acc, cap);
    }
    memcpy(acc + len, chunk, k);
    len += k;
  }
  MXT_CHECK(ok, "%s: detokenizer failed: %s", name, mx_last_error());
  MXT_CHECK(valid, "%s: a chunk is not valid UTF-8", name);
  bool same = ok && len == flen && memcmp(acc, full, len) == 0;
  MXT_CHECK(same, "%s: stream != decode:\n  stream \"%.*s\"\n  decode \"%s\"", name,
            (int)(len < 200 ? len : 200), acc, full);
  MXT_CHECK(utf8_ok((const unsigned char *)full, flen), "%s: decode not UTF-8", name);
  free(acc);
  free(full);
  mx_detokenizer_free(d);
  mx_clear_error();
}

/* Runs every vector of a fixture file against tok. */
static void check_vectors(mx_tokenizer *tok, const char *vecname) {
  char path[1024], rel[256];
  snprintf(rel, sizeof rel, "vectors/%s.json", vecname);
  fixture(path, sizeof path, rel);
  char *txt = vec_json(path);
  MXT_CHECK(txt != NULL, "cannot read %s", path);
  if (!txt || !tok) {
    free(txt);
    return;
  }
  cJSON *root = cJSON_Parse(txt);
  free(txt);
  MXT_CHECK(root != NULL, "bad JSON %s", path);
  int count = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(root, "without_special")) {
    const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
    const cJSON *ids = cJSON_GetObjectItem(it, "ids");
    check_encode(tok, vecname, text, false, ids);
    int n;
    int32_t *v = json_ids(ids, &n);
    check_stream(tok, vecname, v, n, false);
    free(v);
    count++;
  }
  /* no ids at all: decode and the stream both give "" (the stream's final
   * flush of an empty buffer: clang's UBSan saw a null pointer offset there
   * under fuzz/fuzz_encode) */
  check_stream(tok, vecname, NULL, 0, false);
  cJSON_ArrayForEach(it, cJSON_GetObjectItem(root, "with_special")) {
    const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
    const cJSON *ids = cJSON_GetObjectItem(it, "ids");
    check_encode(tok, vecname, text, true, ids);
    int n;
    int32_t *v = json_ids(ids, &n);
    const cJSON *dec = cJSON_GetObjectItem(it, "decoded");
    if (cJSON_IsString(dec)) {
      char *out = NULL;
      size_t olen = 0;
      MXT_CHECK(mx_tokenizer_decode(tok, v, n, false, &out, &olen) == MX_OK, "decode");
      char *want = malloc(strlen(dec->valuestring) + 1);
      size_t wlen = vec_text(dec->valuestring, want);
      bool eq = out && olen == wlen && memcmp(out, want, olen) == 0;
      free(want);
      MXT_CHECK(eq, "%s %s: decoded \"%.120s\" want \"%.120s\"", vecname,
                cJSON_GetObjectItem(it, "name")->valuestring, out ? out : "",
                dec->valuestring);
      free(out);
    }
    check_stream(tok, vecname, v, n, false);
    check_stream(tok, vecname, v, n, true);
    free(v);
    count++;
  }
  MXT_CHECK(count > 20, "%s: only %d vectors", vecname, count);
  cJSON_Delete(root);
}

/* Random id sequences (biased to byte tokens when present) stream exactly. */
static void check_random_stream(mx_tokenizer *tok, const char *name, int rounds) {
  int nv = mx_tokenizer_vocab_size(tok);
  int32_t byte0 = mx_tokenizer_token_to_id(tok, "<0x00>");
  for (int r = 0; r < rounds; r++) {
    int32_t ids[48];
    int n = 1 + (int)(mxt_next() % 48);
    for (int i = 0; i < n; i++) {
      uint64_t u = mxt_next();
      if (byte0 >= 0 && u % 3 == 0)
        ids[i] = byte0 + (int32_t)((u >> 8) % 256);
      else if (u % 17 == 1)
        ids[i] = -5; /* invalid ids are skipped */
      else
        ids[i] = (int32_t)((u >> 8) % (uint64_t)nv);
    }
    check_stream(tok, name, ids, n, r % 2 == 0);
  }
}

/* ------------------------------------------------------ real tokenizers */

typedef struct {
  const char *name, *file;
  mx_tokenizer *tok;
} model;

static model g_models[] = {
    {"gpt2", "tokenizer.json", NULL},    {"llama3", "tokenizer.json", NULL},
    {"qwen2.5", "tokenizer.json", NULL}, {"mistral-7b-v0.1", "tokenizer.json", NULL},
    {"gemma2", "tokenizer.json", NULL},  {"llama2-spm", "tokenizer.model", NULL},
};
#define NMODELS (sizeof g_models / sizeof g_models[0])

static mx_tokenizer *get_model(const char *name) {
  for (size_t i = 0; i < NMODELS; i++) {
    model *m = &g_models[i];
    if (strcmp(m->name, name)) continue;
    if (!m->tok) {
      char dir[512];
      snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
      if (!unpack(name, m->file)) {
        MXT_CHECK(0, "cannot unpack %s (is zstd installed?)", name);
        return NULL;
      }
      m->tok = mx_tokenizer_load(dir);
      MXT_CHECK(m->tok != NULL, "load %s: %s", name, mx_last_error());
    }
    return m->tok;
  }
  return NULL;
}

static void test_gpt2(void) { check_vectors(get_model("gpt2"), "gpt2"); }
static void test_llama3(void) { check_vectors(get_model("llama3"), "llama3"); }
static void test_qwen25(void) { check_vectors(get_model("qwen2.5"), "qwen2.5"); }
static void test_mistral(void) {
  check_vectors(get_model("mistral-7b-v0.1"), "mistral-7b-v0.1");
}
static void test_gemma2(void) { check_vectors(get_model("gemma2"), "gemma2"); }
static void test_llama2_spm(void) {
  check_vectors(get_model("llama2-spm"), "llama2-spm");
}

static void test_random_streams(void) {
  mxt_seed(42);
  for (size_t i = 0; i < NMODELS; i++) {
    mx_tokenizer *t = get_model(g_models[i].name);
    if (t) check_random_stream(t, g_models[i].name, 60);
  }
}

/* Emoji and CJK as byte-fallback tokens: nothing is emitted while the
 * character is incomplete, and it comes out whole. */
static void test_stream_split_chars(void) {
  const char *names[] = {"mistral-7b-v0.1", "llama2-spm", "gpt2", "llama3"};
  const char *texts[] = {"a🦙b", "镇", "🧑‍🤝‍🧑 ok", "Ꙋ🦙 x",
                         "生活的真谛是"};
  for (size_t m = 0; m < sizeof names / sizeof names[0]; m++) {
    mx_tokenizer *tok = get_model(names[m]);
    if (!tok) continue;
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
      int32_t *ids;
      int n;
      MXT_CHECK(
          mx_tokenizer_encode(tok, texts[t], strlen(texts[t]), false, &ids, &n) == MX_OK,
          "encode");
      mx_detokenizer *d = mx_detokenizer_new(tok, false);
      char acc[256] = "";
      size_t len = 0;
      for (int i = 0; i <= n; i++) {
        size_t k;
        const char *c =
            i < n ? mx_detokenizer_add(d, ids[i], &k) : mx_detokenizer_finish(d, &k);
        MXT_CHECK(c && utf8_ok((const unsigned char *)c, k), "%s chunk %d", names[m], i);
        if (c && len + k < sizeof acc) {
          memcpy(acc + len, c, k);
          len += k;
        }
      }
      acc[len] = 0;
      /* sentencepiece tokenizers strip the dummy leading space only */
      MXT_CHECK(strcmp(acc, texts[t]) == 0, "%s: streamed \"%s\" want \"%s\"", names[m],
                acc, texts[t]);
      mx_detokenizer_free(d);
      free(ids);
    }
  }
  /* a byte run: the emoji appears only once its last byte arrives */
  mx_tokenizer *tok = get_model("mistral-7b-v0.1");
  if (!tok) return;
  int32_t b0 = mx_tokenizer_token_to_id(tok, "<0x00>");
  int32_t ids[4] = {b0 + 0xF0, b0 + 0x9F, b0 + 0xA6, b0 + 0x99}; /* 🦙 */
  int32_t hello = mx_tokenizer_token_to_id(tok, "▁the");
  MXT_CHECK(b0 >= 0 && hello >= 0, "byte tokens");
  mx_detokenizer *d = mx_detokenizer_new(tok, false);
  for (int i = 0; i < 4; i++) {
    size_t k;
    const char *c = mx_detokenizer_add(d, ids[i], &k);
    MXT_CHECK(c && k == 0, "byte %d emitted %zu bytes early", i, k);
  }
  size_t k;
  const char *c = mx_detokenizer_add(d, hello, &k);
  MXT_CHECK(c && strcmp(c, "🦙 the") == 0, "emoji + word: \"%s\"", c ? c : "");
  c = mx_detokenizer_add(d, ids[0], &k); /* a lone lead byte ... */
  MXT_CHECK(c && k == 0, "lead byte emitted \"%s\"", c ? c : "");
  c = mx_detokenizer_finish(d, &k); /* ... becomes U+FFFD at the end */
  MXT_CHECK(c && strcmp(c, "\xEF\xBF\xBD") == 0, "finish \"%s\"", c ? c : "");
  mx_detokenizer_free(d);
}

/* stories260K: sentencepiece ids for 32 strings, via tokenizer.json and via
 * the raw tokenizer.model. */
static void test_stories260k(void) {
  char path[1024];
  fixture(path, sizeof path, "stories260K/tokenizer_golden.json");
  char *txt = read_all(path, NULL);
  MXT_CHECK(txt != NULL, "golden file");
  if (!txt) return;
  cJSON *root = cJSON_Parse(txt);
  free(txt);
  char dir[1024], mpath[1100];
  fixture(dir, sizeof dir, "stories260K");
  snprintf(mpath, sizeof mpath, "%s/tokenizer.model", dir);
  mx_tokenizer *toks[2] = {mx_tokenizer_load(dir), mx_tokenizer_load(mpath)};
  const char *what[2] = {"stories260K/tokenizer.json", "stories260K/tokenizer.model"};
  for (int t = 0; t < 2; t++) {
    mx_tokenizer *tok = toks[t];
    MXT_CHECK(tok != NULL, "load %s: %s", what[t], mx_last_error());
    if (!tok) continue;
    MXT_CHECK(mx_tokenizer_vocab_size(tok) == 512, "%s vocab %d", what[t],
              mx_tokenizer_vocab_size(tok));
    MXT_CHECK(mx_tokenizer_bos_id(tok) == 1 && mx_tokenizer_eos_id(tok) == 2,
              "%s bos/eos", what[t]);
    int count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(root, "cases")) {
      const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
      const cJSON *ids = cJSON_GetObjectItem(it, "ids");
      check_encode(tok, what[t], text, false, ids);
      /* with special tokens: BOS first */
      cJSON *withbos = cJSON_Duplicate(ids, 1);
      cJSON_InsertItemInArray(withbos, 0, cJSON_CreateNumber(1));
      check_encode(tok, what[t], text, true, withbos);
      cJSON_Delete(withbos);
      int n;
      int32_t *v = json_ids(ids, &n);
      char *out = NULL;
      MXT_CHECK(mx_tokenizer_decode(tok, v, n, true, &out, NULL) == MX_OK, "decode");
      const char *want = cJSON_GetObjectItem(it, "decoded")->valuestring;
      MXT_CHECK(out && strcmp(out, want) == 0, "%s: decoded \"%s\" want \"%s\"", what[t],
                out ? out : "", want);
      free(out);
      check_stream(tok, what[t], v, n, true);
      free(v);
      count++;
    }
    MXT_CHECK(count == 32, "%d cases", count);
    mx_tokenizer_free(tok);
  }
  cJSON_Delete(root);
}

static void test_api(void) {
  mx_tokenizer *tok = get_model("llama3");
  if (!tok) return;
  MXT_CHECK(mx_tokenizer_vocab_size(tok) == 128256, "vocab %d",
            mx_tokenizer_vocab_size(tok));
  MXT_CHECK(mx_tokenizer_bos_id(tok) == 128000, "bos %d", mx_tokenizer_bos_id(tok));
  MXT_CHECK(mx_tokenizer_eos_id(tok) == 128001, "eos %d", mx_tokenizer_eos_id(tok));
  MXT_CHECK(mx_tokenizer_is_special(tok, 128000) && !mx_tokenizer_is_special(tok, 100),
            "special");
  const char *t = mx_tokenizer_id_to_token(tok, 128009);
  MXT_CHECK(t && strcmp(t, "<|eot_id|>") == 0, "id_to_token %s", t ? t : "NULL");
  MXT_CHECK(mx_tokenizer_token_to_id(tok, "<|eot_id|>") == 128009, "token_to_id");
  MXT_CHECK(mx_tokenizer_token_to_id(tok, "Hello") == 9906, "token_to_id Hello");
  MXT_CHECK(mx_tokenizer_token_to_id(tok, "no such token zz") == -1, "absent");
  MXT_CHECK(mx_tokenizer_id_to_token(tok, -1) == NULL &&
                mx_tokenizer_id_to_token(tok, 1 << 30) == NULL,
            "out of range");
  const char *tmpl = mx_tokenizer_chat_template(tok, NULL);
  MXT_CHECK(tmpl && strstr(tmpl, "start_header_id"), "chat template");
  MXT_CHECK(mx_tokenizer_chat_template(tok, "tool_use") == NULL, "no named template");
  MXT_CHECK(mx_tokenizer_is_eos(tok, 128001) && !mx_tokenizer_is_eos(tok, 128009),
            "eos set");
  MXT_CHECK(
      mx_tokenizer_add_eos_id(tok, 128009) == MX_OK && mx_tokenizer_is_eos(tok, 128009),
      "add eos");
  /* special tokens in text are matched; skip_special drops them */
  const char *s = "<|begin_of_text|>Hi<|eot_id|>";
  int32_t *ids;
  int n;
  MXT_CHECK(mx_tokenizer_encode(tok, s, strlen(s), false, &ids, &n) == MX_OK, "enc");
  MXT_CHECK(n == 3 && ids[0] == 128000 && ids[2] == 128009, "special in text n=%d", n);
  char *out;
  MXT_CHECK(mx_tokenizer_decode(tok, ids, n, true, &out, NULL) == MX_OK, "dec");
  MXT_CHECK(strcmp(out, "Hi") == 0, "skip special: \"%s\"", out);
  free(out);
  MXT_CHECK(mx_tokenizer_decode(tok, ids, n, false, &out, NULL) == MX_OK, "dec");
  MXT_CHECK(strcmp(out, s) == 0, "keep special: \"%s\"", out);
  free(out);
  free(ids);
  /* empty input; this llama3 file's post-processor adds nothing, while
   * mistral's template adds BOS */
  MXT_CHECK(mx_tokenizer_encode(tok, "", 0, true, &ids, &n) == MX_OK && n == 0,
            "empty n=%d", n);
  free(ids);
  mx_tokenizer *mi = get_model("mistral-7b-v0.1");
  if (mi) {
    MXT_CHECK(
        mx_tokenizer_encode(mi, "", 0, true, &ids, &n) == MX_OK && n == 1 && ids[0] == 1,
        "empty + bos n=%d", n);
    free(ids);
  }
  MXT_CHECK(mx_tokenizer_encode(tok, NULL, 0, false, &ids, &n) == MX_OK && n == 0,
            "NULL empty");
  free(ids);
  /* invalid UTF-8 is read as U+FFFD */
  int32_t *a, *b;
  int na, nb;
  MXT_CHECK(mx_tokenizer_encode(tok, "x\xff y", 4, false, &a, &na) == MX_OK, "bad utf8");
  MXT_CHECK(mx_tokenizer_encode(tok, "x\xEF\xBF\xBD y", 6, false, &b, &nb) == MX_OK,
            "fffd");
  MXT_CHECK(na == nb && !memcmp(a, b, sizeof *a * (size_t)na), "lossy input");
  free(a);
  free(b);
  MXT_CHECK(mx_tokenizer_encode(NULL, "x", 1, false, &ids, &n) != MX_OK, "NULL tok");
  MXT_CHECK(strstr(mx_last_error(), "[tokenizer]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(!mx_tokenizer_add_bos(tok) && !mx_tokenizer_add_eos(tok), "llama3 adds none");
  if (mi) MXT_CHECK(mx_tokenizer_add_bos(mi) && !mx_tokenizer_add_eos(mi), "mistral bos");
  /* qwen: pad/eos from the config, no bos */
  mx_tokenizer *q = get_model("qwen2.5");
  if (q) {
    MXT_CHECK(mx_tokenizer_bos_id(q) == -1 && mx_tokenizer_eos_id(q) == 151645 &&
                  mx_tokenizer_pad_id(q) == 151643,
              "qwen ids %d %d %d", mx_tokenizer_bos_id(q), mx_tokenizer_eos_id(q),
              mx_tokenizer_pad_id(q));
  }
}

/* Several threads share one tokenizer (and its word cache). */
typedef struct {
  mx_tokenizer *tok;
  const char *text;
  const int32_t *want;
  int nwant;
  int bad;
} thread_job;

static void *thread_main(void *arg) {
  thread_job *j = arg;
  for (int r = 0; r < 20; r++) {
    int32_t *ids;
    int n;
    if (mx_tokenizer_encode(j->tok, j->text, strlen(j->text), false, &ids, &n) != MX_OK ||
        n != j->nwant || memcmp(ids, j->want, sizeof *ids * (size_t)n) != 0)
      j->bad++;
    free(ids);
  }
  return NULL;
}

static void test_threads(void) {
  const char *names[] = {"llama3", "mistral-7b-v0.1"};
  char text[8192];
  size_t k = 0;
  mxt_seed(3);
  while (k + 16 < sizeof text) { /* random words from a small alphabet */
    int len = 1 + (int)(mxt_next() % 9);
    for (int i = 0; i < len; i++) text[k++] = "abcdeilnorstu"[mxt_next() % 13];
    text[k++] = mxt_next() % 7 ? ' ' : '\n';
  }
  text[k] = 0;
  for (size_t m = 0; m < 2; m++) {
    mx_tokenizer *tok = get_model(names[m]);
    if (!tok) continue;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, names[m]);
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
      /* each thread encodes its own suffix; the reference comes from a
       * fresh tokenizer used by one thread */
      jobs[i] = (thread_job){tok, text + i * 7, NULL, 0, 0};
      mx_tokenizer *r = mx_tokenizer_load(dir);
      int32_t *w = NULL;
      int nw = 0;
      MXT_CHECK(r && mx_tokenizer_encode(r, jobs[i].text, strlen(jobs[i].text), false, &w,
                                         &nw) == MX_OK,
                "reference");
      jobs[i].want = w;
      jobs[i].nwant = nw;
      mx_tokenizer_free(r);
    }
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
      MXT_CHECK(jobs[i].bad == 0, "%s thread %d: %d wrong encodes", names[m], i,
                jobs[i].bad);
      free((void *)jobs[i].want);
    }
  }
}

/* ------------------------------------------- hand-made tokenizer.json */

static mx_tokenizer *load_json(const char *json) {
  char path[512];
  snprintf(path, sizeof path, "%s/tiny.json", g_tmp);
  if (!write_all(path, json, strlen(json))) return NULL;
  return mx_tokenizer_load(path);
}

/* Encodes text and compares with ids (-1 terminated). */
static void expect_ids(mx_tokenizer *tok, const char *what, const char *text,
                       bool special, const int32_t *want) {
  int32_t *ids = NULL;
  int n = 0;
  mx_status st = mx_tokenizer_encode(tok, text, strlen(text), special, &ids, &n);
  int wn = 0;
  while (want[wn] >= 0) wn++;
  bool eq = st == MX_OK && n == wn && (!n || !memcmp(ids, want, sizeof *ids * (size_t)n));
  MXT_CHECK(eq, "%s: \"%s\" (%s)", what, text,
            st == MX_OK ? "ids differ" : mx_last_error());
  if (!eq) {
    print_ids("want", want, wn);
    print_ids("got ", ids, n);
  }
  free(ids);
  mx_clear_error();
}

static void expect_decode(mx_tokenizer *tok, const char *what, const int32_t *ids,
                          const char *want) {
  int n = 0;
  while (ids[n] >= 0) n++;
  char *out = NULL;
  mx_status st = mx_tokenizer_decode(tok, ids, n, false, &out, NULL);
  MXT_CHECK(st == MX_OK && strcmp(out, want) == 0, "%s: decoded \"%s\" want \"%s\"", what,
            out ? out : mx_last_error(), want);
  check_stream(tok, what, ids, n, false);
  free(out);
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__, -1})
#define NOIDS ((const int32_t[]){-1})

/* A character-level BPE vocabulary over "abc d" etc., with merges. */
#define TINY_VOCAB                                                        \
  "\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"d\":3,\" \":4,\"ab\":5,\"bc\":6," \
  "\"abc\":7,\"<unk>\":8,\"<0x41>\":9,\"<0xC3>\":10,\"<0xA9>\":11,"       \
  "\"\\u2581\":12,\"\\u2581a\":13,\"x\":14,\"1\":15,\"2\":16,\"12\":17}"

static void test_bpe_merges(void) {
  /* "a b" strings; ranks: ab first, then abc; "bc" is ranked after ab */
  mx_tokenizer *t =
      load_json("{\"model\":{\"type\":\"BPE\"," TINY_VOCAB
                ",\"merges\":[\"a b\",\"ab c\",\"b c\"],\"unk_token\":\"<unk>\"}}");
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "merge order", "abc", false, IDS(7));
  expect_ids(t, "bc", "bc", false, IDS(6));
  expect_ids(t, "cab", "cab", false, IDS(2, 5));
  /* no byte fallback: unknown chars become unk, not fused */
  expect_ids(t, "unk", "zzab", false, IDS(8, 8, 5));
  mx_tokenizer_free(t);
  /* [a, b] pairs and fuse_unk; "b c" outranks "a b" here */
  t = load_json("{\"model\":{\"type\":\"BPE\"," TINY_VOCAB
                ",\"merges\":[[\"b\",\"c\"],[\"a\",\"b\"]],\"unk_token\":\"<unk>\","
                "\"fuse_unk\":true}}");
  MXT_CHECK(t != NULL, "load pairs: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "pair ranks", "abc", false, IDS(0, 6));
  expect_ids(t, "fused unk", "zzyab", false, IDS(8, 5));
  mx_tokenizer_free(t);
  /* byte fallback: 'A' -> <0x41>, 'é' -> <0xC3><0xA9>, 'z' has no byte
   * token -> unk */
  t = load_json("{\"model\":{\"type\":\"BPE\"," TINY_VOCAB
                ",\"merges\":[],\"unk_token\":\"<unk>\",\"byte_fallback\":true}}");
  MXT_CHECK(t != NULL, "load bf: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "byte fallback", "Aéz", false, IDS(9, 10, 11, 8));
  mx_tokenizer_free(t);
  /* ignore_merges: a whole word in the vocab wins even without merges */
  t = load_json("{\"model\":{\"type\":\"BPE\"," TINY_VOCAB
                ",\"merges\":[],\"ignore_merges\":true}}");
  MXT_CHECK(t != NULL, "load im: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "ignore_merges", "abc", false, IDS(7));
  expect_ids(t, "ignore_merges miss", "abca", false, IDS(0, 1, 2, 0));
  mx_tokenizer_free(t);
}

static void test_bpe_prefix_suffix(void) {
  /* continuing_subword_prefix "##": non-first chars are "##x"; merge
   * "a ##b" makes "ab" (prefix stripped from the right part) */
  mx_tokenizer *t = load_json(
      "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"##b\":1,\"ab\":2,\"##c\":3,"
      "\"##bc\":4,\"c\":5,\"abc</w>\":6,\"##c</w>\":7,\"ab##c</w>\":8},"
      "\"merges\":[\"a ##b\",\"##b ##c\"],\"continuing_subword_prefix\":\"##\"},"
      "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"}}");
  MXT_CHECK(t != NULL, "load prefix: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "prefix", "ab c abc", false, IDS(2, 5, 2, 3));
  int32_t id = mx_tokenizer_token_to_id(t, "##bc");
  MXT_CHECK(id == 4, "##bc");
  mx_tokenizer_free(t);
  /* end_of_word_suffix: the last char carries "</w>" */
  t = load_json(
      "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"b</w>\":2,"
      "\"ab</w>\":3,\"a</w>\":4},\"merges\":[\"a b</w>\"],"
      "\"end_of_word_suffix\":\"</w>\"},"
      "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
      "\"decoder\":{\"type\":\"BPEDecoder\",\"suffix\":\"</w>\"}}");
  MXT_CHECK(t != NULL, "load suffix: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "suffix", "ab ba a", false, IDS(3, 1, 4, 4));
  expect_decode(t, "BPEDecoder", IDS(3, 1, 4, 4), "ab ba a");
  mx_tokenizer_free(t);
}

static void test_normalizers(void) {
  /* NFKC + Lowercase + Strip + regex Replace, on a WordLevel vocab */
  mx_tokenizer *t = load_json(
      "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":["
      "{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"},"
      "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},"
      "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"}]},"
      "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
      "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"[UNK]\":0,\"fi\":1,\"abc\":2,"
      "\"\\u00e9t\\u00e9\":3,\"i\\u0307x\":4},\"unk_token\":\"[UNK]\"}}");
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (!t) return;
  /* U+FB01 (fi ligature) -> "fi"; "ABC" -> "abc"; e + U+0301 -> é (NFKC);
   * U+0130 lowercases to "i" + U+0307 */
  expect_ids(t, "nfkc/lower/strip",
             "  \xEF\xAC\x81\t ABC\n\ne\xCC\x81te\xCC\x81 \xC4\xB0X ", false,
             IDS(1, 2, 3, 4));
  mx_tokenizer_free(t);
  /* NFD splits é; Prepend; string Replace */
  t = load_json(
      "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},"
      "{\"type\":\"Replace\",\"pattern\":{\"String\":\"e\"},\"content\":\"E\"},"
      "{\"type\":\"Prepend\",\"prepend\":\"_\"}]},"
      "\"model\":{\"type\":\"BPE\",\"vocab\":{\"_\":0,\"E\":1,\"\\u0301\":2,\"x\":3},"
      "\"merges\":[]}}");
  MXT_CHECK(t != NULL, "load nfd: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "nfd/replace/prepend", "\xC3\xA9x", false, IDS(0, 1, 2, 3));
  expect_ids(t, "prepend skips empty", "", false, NOIDS);
  mx_tokenizer_free(t);
  /* NFC composes */
  t = load_json(
      "{\"normalizer\":{\"type\":\"NFC\"},"
      "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"\\u00e9\":0,\"[UNK]\":1},"
      "\"unk_token\":\"[UNK]\"}}");
  MXT_CHECK(t != NULL, "load nfc: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "nfc", "e\xCC\x81", false, IDS(0));
  mx_tokenizer_free(t);
}

/* Split behaviours on "a--b-c" with pattern "-" and a char vocab. */
static void test_split_behaviors(void) {
  static const struct {
    const char *behavior;
    bool invert;
    int32_t want[8];
  } cases[] = {
      /* vocab: a0 b1 c2 -3 --4 a-5 a--6 -b7 --b8 b-9 -c10 */
      {"Removed", false, {0, 1, 2, -1}},
      {"Isolated", false, {0, 3, 3, 1, 3, 2, -1}},
      {"MergedWithPrevious", false, {5, 3, 9, 2, -1}},
      {"MergedWithNext", false, {0, 3, 7, 10, -1}},
      {"Contiguous", false, {0, 4, 1, 3, 2, -1}},
      /* invert: the letters are the delimiters (each "-" is its own
       * non-delimiter piece) */
      {"Removed", true, {3, 3, 3, -1}},
      {"MergedWithPrevious", true, {0, 3, 7, 10, -1}},
      {"Isolated", true, {0, 3, 3, 1, 3, 2, -1}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},"
             "\"behavior\":\"%s\",\"invert\":%s},"
             "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,"
             "\"-\":3,\"--\":4,\"a-\":5,\"a--\":6,\"-b\":7,\"--b\":8,\"b-\":9,"
             "\"-c\":10,\"[UNK]\":11},\"unk_token\":\"[UNK]\"}}",
             cases[i].behavior, cases[i].invert ? "true" : "false");
    mx_tokenizer *t = load_json(json);
    MXT_CHECK(t != NULL, "load %s: %s", cases[i].behavior, mx_last_error());
    if (!t) continue;
    char what[64];
    snprintf(what, sizeof what, "%s invert=%d", cases[i].behavior, cases[i].invert);
    expect_ids(t, what, "a--b-c", false, cases[i].want);
    mx_tokenizer_free(t);
  }
  /* regex split (Isolated) with Unicode classes */
  mx_tokenizer *t = load_json(
      "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,2}\"},"
      "\"behavior\":\"Isolated\",\"invert\":false},"
      "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"12\":0,\"3\":1,\"x\":2,"
      "\"\\u0663\\u0664\":3,\"[UNK]\":4},\"unk_token\":\"[UNK]\"}}");
  MXT_CHECK(t != NULL, "load regex: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "regex split", "123x\xD9\xA3\xD9\xA4", false, IDS(0, 1, 2, 3));
  mx_tokenizer_free(t);
}

static void test_pretokenizers(void) {
  const char *vocab =
      "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"[UNK]\":0,\"ab\":1,\"1\":2,"
      "\"2\":3,\"12\":4,\"!\":5,\"?!\":6,\"\\u2581ab\":7,\"\\u2581\":8,"
      "\"\\u2581\\u2581ab\":9,\"cd\":10,\"\\u2581cd\":11,\"ab\\u2581cd\":12,"
      "\"\\u2581ab\\u2581cd\":13,\"ab_c\":14,\"\\u00bf\":15,\"ab.\":16,\".\":17},"
      "\"unk_token\":\"[UNK]\"}";
  char json[4096];
  struct {
    const char *pre, *text;
    int32_t want[8];
  } cases[] = {
      {"{\"type\":\"Digits\",\"individual_digits\":true}", "ab12", {1, 2, 3, -1}},
      {"{\"type\":\"Digits\",\"individual_digits\":false}", "ab12", {1, 4, -1}},
      {"{\"type\":\"Punctuation\"}", "ab?!", {1, 0, 5, -1}},
      {"{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}", "ab?!", {1, 6, -1}},
      {"{\"type\":\"Punctuation\"}",
       "\xC2\xBF"
       "ab",
       {15, 1, -1}},
      {"{\"type\":\"Whitespace\"}", " ab_c  ?!  ab.", {14, 6, 1, 17, -1}},
      {"{\"type\":\"WhitespaceSplit\"}",
       " ab\xE3\x80\x80"
       "cd\t",
       {1, 10, -1}},
      {"{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"_\"}", "ab_cd", {1, 10, -1}},
      {"{\"type\":\"BertPreTokenizer\"}", " ab. cd", {1, 17, 10, -1}},
      {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":"
       "\"always\","
       "\"split\":true}",
       "ab cd",
       {7, 11, -1}},
      {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":"
       "\"always\","
       "\"split\":false}",
       "ab cd",
       {13, -1}},
      {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"never\","
       "\"split\":false}",
       "ab cd",
       {12, -1}},
      {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":"
       "\"always\","
       "\"split\":true}",
       " ab",
       {7, -1}},
      {"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":"
       "\"always\","
       "\"split\":false}",
       "  ab",
       {9, -1}},
      {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
       "{\"type\":\"Digits\",\"individual_digits\":true}]}",
       "ab 12",
       {1, 2, 3, -1}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(json, sizeof json, "{\"pre_tokenizer\":%s,%s}", cases[i].pre, vocab);
    mx_tokenizer *t = load_json(json);
    MXT_CHECK(t != NULL, "load %s: %s", cases[i].pre, mx_last_error());
    if (!t) continue;
    expect_ids(t, cases[i].pre, cases[i].text, false, cases[i].want);
    mx_tokenizer_free(t);
  }
}

/* Metaspace prepend_scheme "first": only the piece at the start of the
 * text gets the prefix, not a piece after an added token. */
static void test_metaspace_first(void) {
  mx_tokenizer *t = load_json(
      "{\"added_tokens\":[{\"id\":20,\"content\":\"<s>\",\"special\":true,"
      "\"normalized\":false}],"
      "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\","
      "\"prepend_scheme\":\"first\",\"split\":false},"
      "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\","
      "\"prepend_scheme\":\"first\",\"split\":false},"
      "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"[UNK]\":0,\"ab\":1,"
      "\"\\u2581ab\":2,\"\\u2581x\":3},\"unk_token\":\"[UNK]\"}}");
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "first piece", "ab<s>ab", false, IDS(2, 20, 1));
  expect_ids(t, "starts with token", "<s>ab", false, IDS(20, 1));
  /* decoder: the replacement is dropped in the first token only */
  expect_decode(t, "metaspace decode", IDS(2, 2, 3), "ab ab x");
  mx_tokenizer_free(t);
}

static void test_bytelevel(void) {
  /* ByteLevel with add_prefix_space and the GPT-2 regex */
  mx_tokenizer *t = load_json(
      "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
      "\"use_regex\":true},\"decoder\":{\"type\":\"ByteLevel\"},"
      "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\u0120\":0,\"h\":1,\"i\":2,"
      "\"\\u0120hi\":3,\"\\u0120h\":4,\"'\":5,\"s\":6,\"'s\":7,\"\\u00c3\":8,"
      "\"\\u00a9\":9,\"\\u010a\":10},\"merges\":[\"\\u0120 h\",\"\\u0120h i\",\"' "
      "s\"]}}");
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (!t) return;
  /* "hi's\n" -> " hi" "'s" "\n" ; é = C3 A9 -> "Ã©" */
  expect_ids(t, "bytelevel", "hi's\n", false, IDS(3, 7, 10));
  expect_ids(t, "bytelevel utf8", "\xC3\xA9", false, IDS(0, 8, 9));
  expect_decode(t, "bytelevel decode", IDS(3, 7, 10, 8, 9), " hi's\n\xC3\xA9");
  /* a lone lead byte decodes to U+FFFD (lossy) */
  expect_decode(t, "bytelevel lossy", IDS(8, 3), "\xEF\xBF\xBD hi");
  mx_tokenizer_free(t);
}

static void test_added_tokens(void) {
  const char *base =
      "{\"added_tokens\":["
      "{\"id\":10,\"content\":\"<m>\",\"special\":true,\"normalized\":false,"
      "\"lstrip\":true,\"rstrip\":false},"
      "{\"id\":11,\"content\":\"<r>\",\"special\":true,\"normalized\":false,"
      "\"rstrip\":true},"
      "{\"id\":12,\"content\":\"cat\",\"special\":false,\"normalized\":false,"
      "\"single_word\":true},"
      "{\"id\":13,\"content\":\"DOG\",\"special\":false,\"normalized\":true},"
      "{\"id\":14,\"content\":\"<m>x\",\"special\":false,\"normalized\":false}],"
      "\"normalizer\":{\"type\":\"Lowercase\"},"
      "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\" \":1,\"c\":2,\"t\":3,"
      "\"s\":4,\"x\":5,\"d\":6,\"o\":7,\"g\":8},\"merges\":[]}}";
  mx_tokenizer *t = load_json(base);
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (!t) return;
  /* lstrip eats the spaces before <m>; the longest token <m>x wins */
  expect_ids(t, "lstrip", "a  <m>a", false, IDS(0, 10, 0));
  expect_ids(t, "longest", "a <m>x", false, IDS(0, 1, 14));
  expect_ids(t, "rstrip", "<r>  a", false, IDS(11, 0));
  /* single_word: "cat" alone matches, inside "cats" it does not */
  expect_ids(t, "single word", "cat cats", false, IDS(12, 1, 2, 0, 3, 4));
  /* normalized token: "DOG" lowercases to "dog" and matches "dOg" */
  expect_ids(t, "normalized", "dOg", false, IDS(13));
  MXT_CHECK(mx_tokenizer_is_special(t, 10) && !mx_tokenizer_is_special(t, 12),
            "special flags");
  char *out;
  MXT_CHECK(mx_tokenizer_decode(t, IDS(0, 10, 12, 13), 4, true, &out, NULL) == MX_OK,
            "decode");
  /* no decoder: tokens joined by spaces; normalized tokens decode as their
   * normalized form (tokenizers >= 0.23) */
  MXT_CHECK(strcmp(out, "a cat dog") == 0, "decode skip special: \"%s\"", out);
  free(out);
  mx_tokenizer_free(t);
}

static void test_decoders(void) {
  /* Replace + ByteFallback + Fuse + Strip, the sentencepiece chain */
  mx_tokenizer *t = load_json(
      "{\"decoder\":{\"type\":\"Sequence\",\"decoders\":["
      "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},\"content\":\" \"},"
      "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
      "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":1}]},"
      "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\u2581a\":0,\"<0xE2>\":1,"
      "\"<0x82>\":2,\"<0xAC>\":3,\"b\\u2581\":4,\"\\u2581\":5,\"<0xFF>\":6},"
      "\"merges\":[]}}");
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (!t) return;
  expect_decode(t, "spm chain", IDS(0, 1, 2, 3, 4),
                "a\xE2\x82\xAC"
                "b");
  /* strip 1 at each end only */
  expect_decode(t, "strip once", IDS(5, 0, 5, 5), " a ");
  /* an invalid byte run: one U+FFFD per byte (ByteFallback) */
  expect_decode(t, "bad bytes", IDS(1, 6, 0), "\xEF\xBF\xBD\xEF\xBF\xBD a");
  expect_decode(t, "incomplete at end", IDS(0, 1, 2), "a\xEF\xBF\xBD\xEF\xBF\xBD");
  mx_tokenizer_free(t);
  /* Strip, per token and after Fuse, against a naive strip */
  static const char *pieces[] = {" ", "a", "  ", " b ", "cc", "   "};
  for (int fused = 0; fused < 2; fused++) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"decoder\":{\"type\":\"Sequence\",\"decoders\":[%s{\"type\":\"Strip\","
             "\"content\":\" \",\"start\":2,\"stop\":%d}]},"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{\" \":0,\"a\":1,\"  \":2,"
             "\" b \":3,\"cc\":4,\"   \":5},\"merges\":[]}}",
             fused ? "{\"type\":\"Fuse\"}," : "", fused ? 3 : 1);
    t = load_json(json);
    MXT_CHECK(t != NULL, "load strip: %s", mx_last_error());
    if (!t) return;
    mxt_seed(5);
    for (int r = 0; r < 200; r++) {
      int32_t ids[12];
      int n = (int)(mxt_next() % 12);
      char want[256] = "", tok[16];
      size_t wl = 0;
      for (int i = 0; i < n; i++) {
        ids[i] = (int32_t)(mxt_next() % 6);
        /* per token: strip <= 2 leading and <= 1 trailing spaces */
        const char *p = pieces[ids[i]];
        size_t a = 0, b = strlen(p);
        if (!fused) {
          while (a < 2 && a < b && p[a] == ' ') a++;
          if (b > a && p[b - 1] == ' ') b--;
        }
        memcpy(tok, p + a, b - a);
        memcpy(want + wl, tok, b - a);
        wl += b - a;
      }
      want[wl] = 0;
      if (fused) { /* the whole text: <= 2 leading, <= 3 trailing */
        size_t a = 0, b = wl;
        while (a < 2 && a < b && want[a] == ' ') a++;
        for (int k = 0; k < 3 && b > a && want[b - 1] == ' '; k++) b--;
        memmove(want, want + a, b - a);
        want[b - a] = 0;
      }
      ids[n] = -1;
      expect_decode(t, fused ? "fused strip" : "token strip", ids, want);
    }
    mx_tokenizer_free(t);
  }
  /* WordPiece model and decoder */
  t = load_json(
      "{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},"
      "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
      "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",3],"
      "\"cls\":[\"[CLS]\",2]},"
      "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
      "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
      "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,"
      "\"vocab\":{\"[UNK]\":0,\"un\":1,\"[CLS]\":2,\"[SEP]\":3,\"##aff\":4,"
      "\"##able\":5,\"a\":6,\".\":7,\"resume\":8}}}");
  MXT_CHECK(t != NULL, "load wordpiece: %s", mx_last_error());
  if (!t) return;
  /* accents stripped, lowercased; "x" is unknown */
  expect_ids(t, "wordpiece", "UnAffable a Résumé. x", true,
             IDS(2, 1, 4, 5, 6, 8, 7, 0, 3));
  expect_decode(t, "wordpiece decode", IDS(1, 4, 5, 6, 8, 7), "unaffable a resume.");
  mx_tokenizer_free(t);
}

static void test_unigram(void) {
  /* Viterbi: "abc" = "ab"+"c" (-1-1) beats "a"+"bc" (-3-0.5) and a+b+c */
  mx_tokenizer *t = load_json(
      "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":false,"
      "\"vocab\":[[\"<unk>\",0],[\"a\",-3],[\"b\",-3],[\"c\",-1],[\"ab\",-1],"
      "[\"bc\",-0.5],[\"abcd\",-10]]}}");
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (!t) return;
  expect_ids(t, "viterbi", "abc", false, IDS(4, 3));
  expect_ids(t, "viterbi 2", "abcd", false, IDS(6));
  /* unknown chars fuse into one unk */
  expect_ids(t, "unk fuse", "xyc", false, IDS(0, 3));
  mx_tokenizer_free(t);
}

/* A hand-built sentencepiece ModelProto. */
static size_t pb_varint(unsigned char *p, uint64_t v) {
  size_t k = 0;
  do {
    p[k] = (unsigned char)(v & 0x7F);
    v >>= 7;
    if (v) p[k] |= 0x80;
    k++;
  } while (v);
  return k;
}

static size_t pb_piece(unsigned char *out, const char *piece, float score, int type) {
  unsigned char body[256];
  size_t k = 0, n = strlen(piece);
  body[k++] = 0x0A;
  k += pb_varint(body + k, n);
  memcpy(body + k, piece, n);
  k += n;
  body[k++] = 0x15;
  memcpy(body + k, &score, 4);
  k += 4;
  body[k++] = 0x18;
  k += pb_varint(body + k, (uint64_t)type);
  size_t m = 0;
  out[m++] = 0x0A;
  m += pb_varint(out + m, k);
  memcpy(out + m, body, k);
  return m + k;
}

static size_t build_spm(unsigned char *buf, int model_type, bool remove_ws) {
  static const struct {
    const char *p;
    float s;
    int t;
  } pieces[] = {{"<unk>", 0, 2},
                {"<s>", 0, 3},
                {"</s>", 0, 3},
                {"\xE2\x96\x81", -1, 1},
                {"a", -2, 1},
                {"b", -2, 1},
                {"ab", -1.5f, 1},
                {"\xE2\x96\x81"
                 "ab",
                 -1, 1},
                {"<0xC3>", 0, 6},
                {"<0xA9>", 0, 6},
                {"bb", -0.5f, 5}};
  size_t k = 0;
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
    k += pb_piece(buf + k, pieces[i].p, pieces[i].s, pieces[i].t);
  /* trainer_spec: model_type, byte_fallback */
  unsigned char ts[16];
  size_t tn = 0;
  ts[tn++] = 0x18;
  tn += pb_varint(ts + tn, (uint64_t)model_type);
  ts[tn++] = 0x98; /* field 35, varint */
  ts[tn++] = 0x02;
  ts[tn++] = 1;
  buf[k++] = 0x12;
  k += pb_varint(buf + k, tn);
  memcpy(buf + k, ts, tn);
  k += tn;
  /* normalizer_spec: add_dummy_prefix 1, remove_extra_whitespaces */
  unsigned char ns[8] = {0x18, 1, 0x20, remove_ws ? 1 : 0};
  buf[k++] = 0x1A;
  buf[k++] = 4;
  memcpy(buf + k, ns, 4);
  k += 4;
  return k;
}

static void test_spm_models(void) {
  unsigned char buf[1024];
  char path[512];
  snprintf(path, sizeof path, "%s/tiny.model", g_tmp);
  for (int mt = 1; mt <= 2; mt++) {
    size_t n = build_spm(buf, mt, true);
    MXT_CHECK(write_all(path, (char *)buf, n), "write");
    mx_tokenizer *t = mx_tokenizer_load(path);
    MXT_CHECK(t != NULL, "load type %d: %s", mt, mx_last_error());
    if (!t) continue;
    /* "ab" -> "▁ab" in both; extra spaces removed; é -> bytes; "bb" is
     * unused in BPE (split back) and not a unigram candidate */
    expect_ids(t, mt == 2 ? "spm bpe" : "spm unigram", "  ab   \xC3\xA9 ", false,
               IDS(7, 3, 8, 9));
    expect_ids(t, "bos", "ab", true, IDS(1, 7));
    /* BPE merges the unused "bb" first (best score) and splits it back;
     * unigram never considers it */
    expect_ids(t, "unused", "abb", false, mt == 2 ? IDS(3, 4, 5, 5) : IDS(7, 5));
    expect_decode(t, "spm decode", IDS(7, 3, 8, 9), "ab \xC3\xA9");
    mx_tokenizer_free(t);
  }
  /* remove_extra_whitespaces off: spaces survive */
  size_t n = build_spm(buf, 2, false);
  write_all(path, (char *)buf, n);
  mx_tokenizer *t = mx_tokenizer_load(path);
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (t) {
    expect_ids(t, "keep spaces", " ab", false, IDS(3, 7));
    mx_tokenizer_free(t);
  }
}

/* A charsmap blob by hand: a Darts double array with the one key "a" whose
 * value is the offset of "x" in the string pool. */
static size_t charsmap_blob(unsigned char *out) {
  enum { N = 354 };
  static uint32_t units[N];
  memset(units, 0, sizeof units);
  units[0] = 256u << 10;                             /* root: children at 256 ^ c */
  units[256 ^ 0x61] = 0x61 | (1u << 8) | (1u << 10); /* 'a', leaf at ^1 */
  units[(256 ^ 0x61) ^ 1] = (1u << 31) | 0;          /* value 0 */
  uint32_t size = N * 4;
  memcpy(out, &size, 4);
  memcpy(out + 4, units, sizeof units);
  memcpy(out + 4 + sizeof units, "x\0", 2);
  return 4 + sizeof units + 2;
}

static void test_precompiled(void) {
  unsigned char blob[2048];
  size_t n = charsmap_blob(blob);
  /* tokenizer.json: Precompiled (base64) replaces the whole grapheme "a" +
   * U+0301 with "x", as Hugging Face does */
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char enc[4096];
  size_t k = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)blob[i] << 16 | (i + 1 < n ? (uint32_t)blob[i + 1] << 8 : 0) |
                 (i + 2 < n ? blob[i + 2] : 0);
    enc[k++] = b64[v >> 18];
    enc[k++] = b64[(v >> 12) & 63];
    enc[k++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    enc[k++] = i + 2 < n ? b64[v & 63] : '=';
  }
  enc[k] = 0;
  char json[8192];
  snprintf(json, sizeof json,
           "{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"%s\"},"
           "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"x\":2,"
           "\"\\u0301\":3},\"merges\":[]}}",
           enc);
  mx_tokenizer *t = load_json(json);
  MXT_CHECK(t != NULL, "load: %s", mx_last_error());
  if (t) {
    expect_ids(t, "precompiled", "bab", false, IDS(1, 2, 1));
    expect_ids(t, "precompiled grapheme", "ba\xCC\x81", false, IDS(1, 2));
    mx_tokenizer_free(t);
  }
  /* tokenizer.model: sentencepiece's longest match keeps the accent */
  unsigned char buf[4096];
  size_t m = 0;
  m += pb_piece(buf + m, "<unk>", 0, 2);
  m += pb_piece(buf + m, "b", -1, 1);
  m += pb_piece(buf + m, "x", -1, 1);
  m += pb_piece(buf + m, "\xCC\x81", -1, 1);
  buf[m++] = 0x12; /* trainer spec: BPE */
  buf[m++] = 2;
  buf[m++] = 0x18;
  buf[m++] = 2;
  buf[m++] = 0x1A;             /* normalizer spec: charsmap, no dummy prefix */
  size_t body = 1 + 2 + n + 2; /* tag, varint len (2 bytes), blob, field 3 */
  buf[m++] = (unsigned char)(0x80 | (body & 0x7F));
  buf[m++] = (unsigned char)(body >> 7);
  buf[m++] = 0x12;
  buf[m++] = (unsigned char)(0x80 | (n & 0x7F));
  buf[m++] = (unsigned char)(n >> 7);
  memcpy(buf + m, blob, n);
  m += n;
  buf[m++] = 0x18;
  buf[m++] = 0;
  char path[512];
  snprintf(path, sizeof path, "%s/cm.model", g_tmp);
  write_all(path, (char *)buf, m);
  t = mx_tokenizer_load(path);
  MXT_CHECK(t != NULL, "load model: %s", mx_last_error());
  if (t) {
    expect_ids(t, "spm charsmap", "ba\xCC\x81", false, IDS(1, 2, 3));
    mx_tokenizer_free(t);
  }
}

/* ------------------------------------------------------- bad input */

static void expect_load_fails(const char *what, const char *path) {
  mx_clear_error();
  mx_tokenizer *t = mx_tokenizer_load(path);
  MXT_CHECK(t == NULL, "%s: loaded", what);
  MXT_CHECK(strstr(mx_last_error(), "[tokenizer]") != NULL, "%s: message \"%s\"", what,
            mx_last_error());
  mx_tokenizer_free(t);
  mx_clear_error();
}

static void test_malformed_json(void) {
  static const char *bad[] = {
      "",
      "[]",
      "{",
      "{\"model\":null}",
      "{\"model\":{\"type\":\"BPE\",\"vocab\":\"x\",\"merges\":[]}}",
      "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}",
      "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":2000000000},\"merges\":[]}}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"added_tokens\":[{\"id\":"
      "2000000000,\"content\":\"a\"}]}",
      "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}",
      "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a a\"]}}",
      "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[1,2]]}}",
      "{\"model\":{\"type\":\"Nope\"}}",
      "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}}",
      "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0]],\"unk_id\":5}}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"normalizer\":{\"type\":\"X\"}}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"normalizer\":5}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"pre_tokenizer\":{\"type\":"
      "\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"pre_tokenizer\":{\"type\":"
      "\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Sideways\"}}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"decoder\":{\"type\":"
      "\"Strip\",\"content\":\"ab\",\"start\":1,\"stop\":0}}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"post_processor\":{\"type\":"
      "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}],"
      "\"special_tokens\":{}}}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"added_tokens\":[{\"id\":\"x\"}]"
      "}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"added_tokens\":[{\"id\":1,"
      "\"content\":\"a\",\"special\":\"yes\"}]}",
      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"pre_tokenizer\":{\"type\":"
      "\"Sequence\",\"pretokenizers\":[{\"type\":\"Sequence\",\"pretokenizers\":7}]}}",
  };
  char path[512];
  snprintf(path, sizeof path, "%s/bad.json", g_tmp);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_all(path, bad[i], strlen(bad[i]));
    char what[64];
    snprintf(what, sizeof what, "bad json %zu", i);
    expect_load_fails(what, path);
  }
  /* a real tokenizer.json cut short at many places */
  char src[1024];
  snprintf(src, sizeof src, "%s/mistral-7b-v0.1/tokenizer.json", g_tmp);
  get_model("mistral-7b-v0.1");
  size_t n;
  char *data = read_all(src, &n);
  MXT_CHECK(data != NULL, "read %s", src);
  if (!data) return;
  for (int k = 1; k <= 7; k++) {
    size_t cut = n * (size_t)k / 8 + (size_t)k * 7;
    write_all(path, data, cut < n ? cut : n - 1);
    expect_load_fails("truncated tokenizer.json", path);
  }
  free(data);
  /* random mutations of a small but complete tokenizer.json: whatever
   * loads must encode and decode without crashing (ASan build) */
  static const char base[] =
      "{\"added_tokens\":[{\"id\":9,\"content\":\"<s>\",\"special\":true,"
      "\"normalized\":false,\"lstrip\":true,\"rstrip\":true,\"single_word\":false}],"
      "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},"
      "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"},"
      "{\"type\":\"Prepend\",\"prepend\":\"_\"}]},"
      "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
      "\"pattern\":{\"Regex\":\"_[a-z]+\"},\"behavior\":\"Isolated\",\"invert\":false},"
      "{\"type\":\"Digits\",\"individual_digits\":true}]},"
      "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\","
      "\"pattern\":{\"String\":\"_\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},"
      "{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" "
      "\",\"start\":1,\"stop\":0}]},"
      "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
      "{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
      "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[9],\"tokens\":[\"<s>\"]}}},"
      "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\","
      "\"vocab\":{\"<unk>\":0,\"_\":1,\"a\":2,\"b\":3,\"_a\":4,\"_ab\":5,\"1\":6,"
      "\"<0xC3>\":7,\"<0xA9>\":8},\"merges\":[\"_ a\",\"_a b\"]}}";
  mx_tokenizer *ok = load_json(base);
  MXT_CHECK(ok != NULL, "fuzz base loads: %s", mx_last_error());
  if (ok) expect_ids(ok, "fuzz base", "ab 1\xC3\xA9<s>", true, IDS(9, 5, 1, 6, 7, 8, 9));
  mx_tokenizer_free(ok);
  mxt_seed(11);
  char mut[sizeof base];
  int loaded = 0;
  for (int r = 0; r < 400; r++) {
    memcpy(mut, base, sizeof base);
    int flips = 1 + (int)(mxt_next() % 3);
    for (int f = 0; f < flips; f++) {
      size_t at = mxt_next() % (sizeof base - 1);
      static const char pool[] = "{}[]\",:0123456789-ab_ \\u";
      mut[at] = pool[mxt_next() % (sizeof pool - 1)];
    }
    mx_tokenizer *t = load_json(mut);
    if (t) {
      loaded++;
      int32_t *ids = NULL;
      int k = 0;
      if (mx_tokenizer_encode(t, "ab 1\xC3\xA9<s> __a", 14, true, &ids, &k) == MX_OK) {
        check_stream(t, "fuzz", ids, k, false);
        /* add some out-of-range and byte ids */
        int32_t extra[4] = {7, 8, 7, 123456};
        check_stream(t, "fuzz extra", extra, 4, true);
      }
      free(ids);
      mx_tokenizer_free(t);
    } else {
      MXT_CHECK(strstr(mx_last_error(), "[tokenizer]") != NULL, "fuzz %d: \"%s\"", r,
                mx_last_error());
    }
    mx_clear_error();
  }
  MXT_CHECK(loaded > 10 && loaded < 390, "fuzz: %d of 400 loaded", loaded);
  expect_load_fails("missing", "/nonexistent/dir/for/mx");
  expect_load_fails("dir without tokenizer", g_tmp);
}

static void test_truncated_model(void) {
  mx_tokenizer *full = get_model("llama2-spm");
  char src[512], path[512];
  snprintf(src, sizeof src, "%s/llama2-spm/tokenizer.model", g_tmp);
  snprintf(path, sizeof path, "%s/bad.model", g_tmp);
  size_t n;
  char *data = read_all(src, &n);
  MXT_CHECK(full && data, "llama2 model");
  if (!data) return;
  /* cut inside the pieces, the trainer spec and the normalizer spec */
  size_t cuts[] = {1, 2, 3, 5, 17, 1000, 100001, n / 2 + 1, n - 40, n - 7, n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    write_all(path, data, cuts[i]);
    mx_clear_error();
    mx_tokenizer *t = mx_tokenizer_load(path);
    /* a cut exactly between two fields is a valid (smaller) model; any
     * other cut must fail with a message */
    if (t) {
      int32_t *ids;
      int k;
      MXT_CHECK(mx_tokenizer_encode(t, "hello", 5, true, &ids, &k) == MX_OK ||
                    strstr(mx_last_error(), "[tokenizer]"),
                "cut %zu: encode", cuts[i]);
      free(ids);
      mx_tokenizer_free(t);
    } else {
      MXT_CHECK(strstr(mx_last_error(), "[tokenizer]") != NULL, "cut %zu: \"%s\"",
                cuts[i], mx_last_error());
    }
    mx_clear_error();
  }
  /* every cut in the last 300 bytes (specs) and random byte flips */
  mxt_seed(7);
  for (int r = 0; r < 60; r++) {
    size_t cut = n - 1 - (mxt_next() % 300);
    char *copy = malloc(n);
    memcpy(copy, data, n);
    for (int f = 0; f < 8; f++) copy[mxt_next() % cut] = (char)mxt_next();
    write_all(path, copy, cut);
    free(copy);
    mx_tokenizer *t = mx_tokenizer_load(path);
    if (t) {
      int32_t *ids = NULL;
      int k;
      mx_tokenizer_encode(t, "Hello world 🦙", 16, true, &ids, &k);
      char *out = NULL;
      if (ids) mx_tokenizer_decode(t, ids, k, false, &out, NULL);
      free(out);
      free(ids);
      mx_tokenizer_free(t);
    }
    mx_clear_error();
  }
  free(data);
  /* garbage */
  write_all(path, "\x0A\xFF\xFF\xFF\xFF\x0F", 6);
  expect_load_fails("huge length", path);
  write_all(path, "\x0A\x02\x0A\x00", 4);
  expect_load_fails("empty piece", path);
}

/* ------------------------------------------------------------- main */

int main(void) {
  snprintf(g_tmp, sizeof g_tmp, "/tmp/mx_tok_XXXXXX");
  if (!mkdtemp(g_tmp)) {
    perror("mkdtemp");
    return 1;
  }
  MXT_RUN(test_bpe_merges);
  MXT_RUN(test_bpe_prefix_suffix);
  MXT_RUN(test_normalizers);
  MXT_RUN(test_split_behaviors);
  MXT_RUN(test_pretokenizers);
  MXT_RUN(test_metaspace_first);
  MXT_RUN(test_bytelevel);
  MXT_RUN(test_added_tokens);
  MXT_RUN(test_decoders);
  MXT_RUN(test_unigram);
  MXT_RUN(test_spm_models);
  MXT_RUN(test_precompiled);
  MXT_RUN(test_gpt2);
  MXT_RUN(test_llama3);
  MXT_RUN(test_qwen25);
  MXT_RUN(test_mistral);
  MXT_RUN(test_gemma2);
  MXT_RUN(test_llama2_spm);
  MXT_RUN(test_stories260k);
  MXT_RUN(test_api);
  MXT_RUN(test_stream_split_chars);
  MXT_RUN(test_random_streams);
  MXT_RUN(test_threads);
  MXT_RUN(test_malformed_json);
  MXT_RUN(test_truncated_model);
  for (size_t i = 0; i < NMODELS; i++) mx_tokenizer_free(g_models[i].tok);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  return mxt_finish();
}
