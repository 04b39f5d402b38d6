/* hub.c: find a model by Hugging Face repo id. Looks in the standard hub
 * cache first (HF_HUB_CACHE, else HF_HOME/hub, else
 * ~/.cache/huggingface/hub; models--org--name/refs/main ->
 * snapshots/<commit>/), so models fetched by other tools are found; when
 * missing, downloads the files a model needs with libcurl from HF_ENDPOINT
 * (default https://huggingface.co, HF_TOKEN honoured) into that same layout:
 * blobs/<etag>, snapshots/<commit>/<file> -> ../../blobs/<etag>. Partial
 * downloads resume from blobs/<etag>.incomplete; files whose ETag is a
 * sha256 (LFS) are verified, others by size. */
#ifdef MX_WITH_CURL
#include <curl/curl.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "sha256.h"

char *mx_lm_read_file(const char *path, size_t *len_out);

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static mx_status mkdirs(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return mx_set_error(MX_ERR_IO, "[hub] cannot create %s: %s", tmp,
                            strerror(errno));
      *p = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
    return mx_set_error(MX_ERR_IO, "[hub] cannot create %s: %s", tmp, strerror(errno));
  return MX_OK;
}

static void hub_cache_dir(char *out, size_t cap) {
  const char *c = getenv("HF_HUB_CACHE");
  if (c && *c) {
    snprintf(out, cap, "%s", c);
    return;
  }
  const char *h = getenv("HF_HOME");
  if (h && *h) {
    snprintf(out, cap, "%s/hub", h);
    return;
  }
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) {
    snprintf(out, cap, "%s/huggingface/hub", xdg);
    return;
  }
  const char *home = getenv("HOME");
  snprintf(out, cap, "%s/.cache/huggingface/hub", home ? home : ".");
}

static bool valid_repo_id(const char *id) {
  const char *slash = strchr(id, '/');
  if (!slash || slash == id || !slash[1] || strchr(slash + 1, '/')) return false;
  for (const char *p = id; *p; p++)
    if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
          ('0' <= *p && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '/'))
      return false;
  return strstr(id, "..") == NULL;
}

/* models--org--name */
static void repo_folder(const char *id, char *out, size_t cap) {
  size_t n = 0;
  n += (size_t)snprintf(out, cap, "models--");
  for (const char *p = id; *p && n + 3 < cap; p++) {
    if (*p == '/') {
      out[n++] = '-';
      out[n++] = '-';
    } else {
      out[n++] = *p;
    }
  }
  out[n] = 0;
}

static bool cached_snapshot(const char *repo_dir, char *out, size_t cap) {
  char ref[8192];
  snprintf(ref, sizeof ref, "%s/refs/main", repo_dir);
  char *commit = mx_lm_read_file(ref, NULL);
  if (!commit) return false;
  commit[strcspn(commit, " \r\n")] = 0;
  snprintf(out, cap, "%s/snapshots/%s", repo_dir, commit);
  free(commit);
  char cfg[8192];
  snprintf(cfg, sizeof cfg, "%s/config.json", out);
  return is_file(cfg);
}

#ifdef MX_WITH_CURL
/* ---- HTTP ---- */
typedef struct {
  char *data;
  size_t n, cap;
} membuf;

static size_t mem_write(char *p, size_t sz, size_t nm, void *ud) {
  membuf *b = ud;
  size_t add = sz * nm;
  if (b->n + add + 1 > 64u << 20) return 0; /* API answers are small */
  if (b->n + add + 1 > b->cap) {
    size_t nc = (b->n + add + 1) * 2;
    char *nd = realloc(b->data, nc);
    if (!nd) return 0;
    b->data = nd;
    b->cap = nc;
  }
  memcpy(b->data + b->n, p, add);
  b->n += add;
  b->data[b->n] = 0;
  return add;
}

typedef struct {
  char etag[160];
  char linked_etag[160];
  long long linked_size;
  char commit[80];
} hdrs;

static void copy_header_value(const char *v, size_t n, char *out, size_t cap) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
  if (n >= 2 && v[0] == 'W' && v[1] == '/') v += 2, n -= 2;
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
  if (n >= cap) n = cap - 1;
  memcpy(out, v, n);
  out[n] = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud) {
  hdrs *h = ud;
  size_t n = sz * nm;
  const char *colon = memchr(p, ':', n);
  if (!colon) return n;
  size_t kl = (size_t)(colon - p);
  const char *v = colon + 1;
  size_t vl = n - kl - 1;
  if (kl == 13 && !strncasecmp(p, "x-linked-etag", kl) && !h->linked_etag[0])
    copy_header_value(v, vl, h->linked_etag, sizeof h->linked_etag);
  else if (kl == 4 && !strncasecmp(p, "etag", kl) && !h->etag[0])
    copy_header_value(v, vl, h->etag, sizeof h->etag);
  else if (kl == 13 && !strncasecmp(p, "x-linked-size", kl) && h->linked_size < 0)
    h->linked_size = strtoll(v, NULL, 10);
  else if (kl == 13 && !strncasecmp(p, "x-repo-commit", kl) && !h->commit[0])
    copy_header_value(v, vl, h->commit, sizeof h->commit);
  return n;
}

static struct curl_slist *auth_headers(void) {
  const char *tok = getenv("HF_TOKEN");
  char *filetok = NULL;
  if (!tok || !*tok) {
    const char *home = getenv("HF_HOME");
    char p[4096];
    if (home && *home)
      snprintf(p, sizeof p, "%s/token", home);
    else
      snprintf(p, sizeof p, "%s/.cache/huggingface/token",
               getenv("HOME") ? getenv("HOME") : ".");
    filetok = mx_lm_read_file(p, NULL);
    if (filetok) filetok[strcspn(filetok, " \r\n")] = 0;
    tok = filetok;
  }
  struct curl_slist *l = curl_slist_append(NULL, "User-Agent: mx/0.1");
  if (tok && *tok) {
    char h[1024];
    snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
    l = curl_slist_append(l, h);
  }
  free(filetok);
  return l;
}

static const char *endpoint(void) {
  const char *e = getenv("HF_ENDPOINT");
  return e && *e ? e : "https://huggingface.co";
}

static mx_status http_error(const char *url, CURLcode cc, long code, const char *repo) {
  if (cc != CURLE_OK)
    return mx_set_error(MX_ERR_IO,
                        "[hub] cannot download %s: %s (offline? the model is not in the "
                        "Hugging Face cache either)",
                        url, curl_easy_strerror(cc));
  if (code == 401 || code == 403 || code == 404)
    return mx_set_error(
        MX_ERR_IO,
        "[hub] repository %s not found or not accessible (HTTP %ld); gated "
        "or private repositories need HF_TOKEN",
        repo, code);
  return mx_set_error(MX_ERR_IO, "[hub] %s: HTTP %ld", url, code);
}

static CURL *new_curl(const char *url, struct curl_slist *h) {
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  /* redirects to a CDN must not carry the token to another host */
  curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  return c;
}

typedef struct {
  FILE *f;
  mx_sha256 *sha;
  long long done, total;
  const char *name;
  bool progress;
  double last;
} dl_state;

static size_t file_write(char *p, size_t sz, size_t nm, void *ud) {
  dl_state *s = ud;
  size_t n = sz * nm;
  if (fwrite(p, 1, n, s->f) != n) return 0;
  s->done += (long long)n;
  if (s->progress && s->total > 0) {
    double frac = (double)s->done / (double)s->total;
    if (frac - s->last >= 0.01 || s->done == s->total) {
      s->last = frac;
      fprintf(stderr, "\r%-40.40s %8.1f / %8.1f MB %3d%%", s->name, s->done / 1e6,
              s->total / 1e6, (int)(frac * 100));
    }
  }
  return n;
}

static bool is_hex64(const char *s) {
  if (strlen(s) != 64) return false;
  for (; *s; s++)
    if (!(('0' <= *s && *s <= '9') || ('a' <= *s && *s <= 'f'))) return false;
  return true;
}

static mx_status sha256_file(const char *path, char hex[65]) {
  FILE *f = fopen(path, "rb");
  if (!f) return mx_set_error(MX_ERR_IO, "[hub] cannot read %s", path);
  mx_sha256 s;
  mx_sha256_init(&s);
  char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) mx_sha256_update(&s, buf, n);
  fclose(f);
  uint8_t d[32];
  mx_sha256_final(&s, d);
  mx_sha256_hex(d, hex);
  return MX_OK;
}

static mx_status download_file(const char *repo, const char *commit, const char *file,
                               const char *repo_dir, struct curl_slist *h) {
  char url[8192], blobdir[8192], snap[8192], link[8192];
  snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", endpoint(), repo, commit, file);
  snprintf(blobdir, sizeof blobdir, "%s/blobs", repo_dir);
  mx_status rc = mkdirs(blobdir);
  if (rc != MX_OK) return rc;
  /* HEAD for the etag and size */
  hdrs hd = {.linked_size = -1};
  CURL *c = new_curl(url, h);
  if (!c) return mx_set_error(MX_ERR_RUNTIME, "[hub] curl init failed");
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
  CURLcode cc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_off_t clen = -1;
  curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
  curl_easy_cleanup(c);
  if (cc != CURLE_OK || (code != 200 && code != 302 && code != 301 && code != 307))
    return http_error(url, cc, code, repo);
  const char *etag = hd.linked_etag[0] ? hd.linked_etag : hd.etag;
  if (!etag[0] || strchr(etag, '/') || strstr(etag, ".."))
    return mx_set_error(MX_ERR_IO, "[hub] %s: server sent no usable ETag", url);
  long long size = hd.linked_size >= 0 ? hd.linked_size : (long long)clen;
  char blob[8192], part[8192];
  snprintf(blob, sizeof blob, "%s/%s", blobdir, etag);
  snprintf(part, sizeof part, "%s.incomplete", blob);
  if (!is_file(blob)) {
    struct stat st;
    long long have = stat(part, &st) == 0 ? (long long)st.st_size : 0;
    if (size >= 0 && have > size) have = 0;
    FILE *f = fopen(part, have > 0 ? "ab" : "wb");
    if (!f)
      return mx_set_error(MX_ERR_IO, "[hub] cannot write %s: %s", part, strerror(errno));
    dl_state s = {f, NULL, have, size, file, isatty(2) != 0, 0};
    c = new_curl(url, h);
    if (!c) {
      fclose(f);
      return mx_set_error(MX_ERR_RUNTIME, "[hub] curl init failed");
    }
    char range[64];
    if (have > 0) {
      snprintf(range, sizeof range, "%lld-", have);
      curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, file_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (s.progress) fprintf(stderr, "\n");
    if (fclose(f) != 0) return mx_set_error(MX_ERR_IO, "[hub] cannot write %s", part);
    if (cc == CURLE_OK && have > 0 && code == 200) {
      /* server ignored the range: the file restarted from zero */
      remove(part);
      return mx_set_error(MX_ERR_IO, "[hub] %s: server ignored the resume range; retry",
                          url);
    }
    if (cc != CURLE_OK || (code != 200 && code != 206))
      return http_error(url, cc, code,
                        repo); /* the .incomplete file stays for a resume */
    if (stat(part, &st) != 0 || (size >= 0 && (long long)st.st_size != size))
      return mx_set_error(MX_ERR_IO,
                          "[hub] %s: got %lld bytes, expected %lld (will resume)", file,
                          stat(part, &st) == 0 ? (long long)st.st_size : -1LL, size);
    if (is_hex64(etag)) {
      char hex[65];
      rc = sha256_file(part, hex);
      if (rc != MX_OK) return rc;
      if (strcmp(hex, etag) != 0) {
        remove(part);
        return mx_set_error(MX_ERR_IO,
                            "[hub] %s: sha256 mismatch (got %s, expected %s); "
                            "the corrupt download was deleted",
                            file, hex, etag);
      }
    }
    if (rename(part, blob) != 0)
      return mx_set_error(MX_ERR_IO, "[hub] cannot rename %s: %s", part, strerror(errno));
  }
  snprintf(snap, sizeof snap, "%s/snapshots/%s/%s", repo_dir, commit, file);
  char snapdir[8192];
  snprintf(snapdir, sizeof snapdir, "%s", snap);
  *strrchr(snapdir, '/') = 0;
  rc = mkdirs(snapdir);
  if (rc != MX_OK) return rc;
  /* relative link: snapshots/<commit>/<file> -> ../../blobs/<etag> (deeper
   * files get more ../) */
  int depth = 2;
  for (const char *p = file; *p; p++) depth += *p == '/';
  size_t k = 0;
  for (int i = 0; i < depth; i++) k += (size_t)snprintf(link + k, sizeof link - k, "../");
  snprintf(link + k, sizeof link - k, "blobs/%s", etag);
  remove(snap);
  if (symlink(link, snap) != 0)
    return mx_set_error(MX_ERR_IO, "[hub] cannot link %s: %s", snap, strerror(errno));
  return MX_OK;
}

static bool wanted(const char *f) {
  static const char *pats[] = {"*.json",          "model*.safetensors",
                               "tokenizer.model", "*.jinja",
                               "*.txt",           "*.tiktoken"};
  if (strchr(f, '/')) return false; /* top-level files only */
  for (size_t i = 0; i < sizeof pats / sizeof *pats; i++)
    if (fnmatch(pats[i], f, 0) == 0) return true;
  return false;
}

static mx_status download_repo(const char *repo, const char *repo_dir, char *out,
                               size_t cap) {
  static bool inited = false;
  if (!inited) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    inited = true;
  }
  char url[8192];
  snprintf(url, sizeof url, "%s/api/models/%s/revision/main", endpoint(), repo);
  struct curl_slist *h = auth_headers();
  membuf body = {0};
  CURL *c = new_curl(url, h);
  if (!c) {
    curl_slist_free_all(h);
    return mx_set_error(MX_ERR_RUNTIME, "[hub] curl init failed");
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  CURLcode cc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  mx_status rc = MX_OK;
  cJSON *j = NULL;
  if (cc != CURLE_OK || code != 200) {
    rc = http_error(url, cc, code, repo);
    goto done;
  }
  j = cJSON_Parse(body.data ? body.data : "");
  const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "sha");
  const cJSON *sib = cJSON_GetObjectItemCaseSensitive(j, "siblings");
  if (!cJSON_IsString(sha) || !cJSON_IsArray(sib) || strlen(sha->valuestring) > 64 ||
      strchr(sha->valuestring, '/') || strstr(sha->valuestring, "..")) {
    rc = mx_set_error(MX_ERR_IO, "[hub] %s: unexpected answer (no sha/siblings)", url);
    goto done;
  }
  const cJSON *e;
  int nfiles = 0;
  cJSON_ArrayForEach(e, sib) {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(e, "rfilename");
    if (!cJSON_IsString(fn) || !wanted(fn->valuestring) || strstr(fn->valuestring, ".."))
      continue;
    rc = download_file(repo, sha->valuestring, fn->valuestring, repo_dir, h);
    if (rc != MX_OK) goto done;
    nfiles++;
  }
  if (nfiles == 0) {
    rc = mx_set_error(MX_ERR_IO, "[hub] %s has no model files", repo);
    goto done;
  }
  char refs[8192];
  snprintf(refs, sizeof refs, "%s/refs", repo_dir);
  if ((rc = mkdirs(refs)) != MX_OK) goto done;
  strncat(refs, "/main", sizeof refs - strlen(refs) - 1);
  FILE *f = fopen(refs, "w");
  if (!f || fputs(sha->valuestring, f) < 0 || fclose(f) != 0) {
    rc = mx_set_error(MX_ERR_IO, "[hub] cannot write %s", refs);
    goto done;
  }
  snprintf(out, cap, "%s/snapshots/%s", repo_dir, sha->valuestring);
done:
  cJSON_Delete(j);
  free(body.data);
  curl_slist_free_all(h);
  return rc;
}

#else
static mx_status download_repo(const char *repo, const char *repo_dir, char *out,
                               size_t cap) {
  (void)repo_dir;
  (void)out;
  (void)cap;
  return mx_set_error(MX_ERR_UNSUPPORTED,
                      "[hub] %s is not cached and this mx was built without libcurl",
                      repo);
}
#endif

mx_status mx_hub_resolve(const char *id, bool allow_download, char *out, size_t cap) {
  if (!id || !*id) return mx_set_error(MX_ERR_INVALID, "[hub] empty model name");
  if (is_dir(id)) {
    snprintf(out, cap, "%s", id);
    return MX_OK;
  }
  if (!valid_repo_id(id))
    return mx_set_error(
        MX_ERR_IO,
        "[hub] '%s' is neither a model directory nor a Hugging Face repo id "
        "(org/name)",
        id);
  char cache[4096], folder[512], repo_dir[8192];
  hub_cache_dir(cache, sizeof cache);
  repo_folder(id, folder, sizeof folder);
  snprintf(repo_dir, sizeof repo_dir, "%s/%s", cache, folder);
  if (cached_snapshot(repo_dir, out, cap)) return MX_OK;
  const char *off = getenv("HF_HUB_OFFLINE");
  if (!allow_download || (off && *off && strcmp(off, "0")))
    return mx_set_error(MX_ERR_IO,
                        "[hub] %s is not in the Hugging Face cache (%s) and "
                        "downloading is off",
                        id, cache);
  return download_repo(id, repo_dir, out, cap);
}
