/* safetensors.c: load and save the safetensors format.
 *
 * File layout: u64 little-endian N, then N bytes of JSON header (an object:
 * "__metadata__" -> {string: string}, and per tensor {"dtype", "shape",
 * "data_offsets": [begin, end]} relative to the data section at 8 + N),
 * then the data.
 *
 * Load mmaps the file (private, copy-on-write, so a kernel that ever wrote
 * into an input could not touch the file). Each tensor whose data is aligned
 * for its dtype wraps the mapping without copying; the mapping carries a
 * reference count and is unmapped when the last such tensor dies (or at the
 * end of the load if none uses it). Mappings of 2 MiB or more start on a
 * 2 MiB boundary and carry MADV_HUGEPAGE, so a kernel whose page cache
 * holds large folios maps the weights with 2 MiB entries (decode streams
 * every weight once per token: with 4 KiB pages that is a TLB miss every
 * 64 cache lines; see map_file). Unaligned tensors and BOOL tensors (to
 * keep them 0/1) are copied. Every header field is checked against the file:
 * header length, JSON type of each field, integer ranges, dtype, byte counts
 * against shapes, offsets inside the data section and not overlapping; a bad
 * file gives MX_ERR_IO naming the file and the tensor.
 *
 * Save writes the header in the map's insertion order ("__metadata__" first
 * when there is metadata), padded with spaces to a multiple of 8 bytes as the
 * reference implementation does; the data section holds the tensors ordered
 * by element size (largest first, stable), so every tensor is aligned for
 * its dtype when loaded. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io_util.h"

#define ST_MAX_HEADER 100000000ull /* the reference implementation's limit */
#define ST_MAX_INT ((double)((uint64_t)1 << 53))

static const struct {
  const char *name;
  mx_dtype t;
} st_dtypes[] = {
    {"BOOL", MX_BOOL},
    {"U8", MX_UINT8},
    {"U16", MX_UINT16},
    {"U32", MX_UINT32},
    {"U64", MX_UINT64},
    {"I8", MX_INT8},
    {"I16", MX_INT16},
    {"I32", MX_INT32},
    {"I64", MX_INT64},
    {"F16", MX_FLOAT16},
    {"BF16", MX_BFLOAT16},
    {"F32", MX_FLOAT32},
    {"F64", MX_FLOAT64},
    {"C64", MX_COMPLEX64},
    /* 8-bit floats have no mx dtype: their bytes load as uint8 (as MLX) */
    {"F8_E4M3", MX_UINT8},
    {"F8_E5M2", MX_UINT8},
    {"F8_E8M0", MX_UINT8},
};

static bool dtype_of(const char *s, mx_dtype *t) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
    if (strcmp(s, st_dtypes[i].name) == 0) {
      *t = st_dtypes[i].t;
      return true;
    }
  return false;
}

static const char *name_of(mx_dtype t) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
    if (st_dtypes[i].t == t) return st_dtypes[i].name;
  return NULL;
}

/* ---- the shared mapping ---- */

typedef struct {
  void *base;
  size_t len;
  atomic_int refs;
} mapping;

static void mapping_release(void *ctx) {
  mapping *m = ctx;
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
    munmap(m->base, m->len);
    free(m);
  }
}

/* ---- load ---- */

typedef struct {
  const char *name;
  uint64_t begin, end;
} span;

static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* A JSON number that is an integer in [0, max]. */
static bool json_uint(const cJSON *j, double max, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return false;
  double v = j->valuedouble;
  if (!(v >= 0 && v <= max) || v != (double)(uint64_t)v) return false;
  *out = (uint64_t)v;
  return true;
}

#define ST_FAIL(...)                                                \
  do {                                                              \
    mx_set_error(MX_ERR_IO, "[load_safetensors] %s: " __VA_ARGS__); \
    goto fail;                                                      \
  } while (0)

/* The file mapped private and writable (copy-on-write). From 2 MiB up the
 * mapping starts on a 2 MiB boundary (an over-sized anonymous reservation,
 * the file mapped over it, the slack given back) with MADV_HUGEPAGE: where
 * the kernel keeps large folios for the file it can map them with 2 MiB
 * entries. Measured on the 0.4B decode benchmark (page cache dropped before
 * each run): bfloat16 +3-7%, q8 up to +8%; anonymous huge pages, as an upper
 * bound, +4-8% when the host gave ~80 GB/s. A failed reservation or
 * madvise leaves an ordinary mapping. Returns MAP_FAILED with errno set. */
static void *map_file(int fd, size_t len) {
  const size_t H = (size_t)2 << 20;
  if (len >= H) {
    char *res = mmap(NULL, len + H, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (res != MAP_FAILED) {
      char *al = (char *)(((uintptr_t)res + H - 1) & ~(uintptr_t)(H - 1));
      void *base = mmap(al, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
      if (base == MAP_FAILED) {
        int e = errno;
        munmap(res, len + H);
        errno = e;
        return MAP_FAILED;
      }
      if (al > res) munmap(res, (size_t)(al - res));
      size_t tail = (size_t)(res + len + H - (al + len));
      if (tail) munmap(al + len, tail);
#ifdef MADV_HUGEPAGE
      (void)madvise(base, len, MADV_HUGEPAGE);
#endif
      return base;
    }
  }
  return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
}

mx_array_map *mx_load_safetensors(const char *path) {
  if (!path) {
    mx_set_error(MX_ERR_INVALID, "[load_safetensors] path is NULL");
    return NULL;
  }
  mapping *mp = NULL;
  char *hdr = NULL;
  cJSON *root = NULL;
  span *spans = NULL;
  mx_array_map *map = NULL;
  bool scope = false;

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    mx_set_error(MX_ERR_IO, "[load_safetensors] cannot open %s: %s", path,
                 strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    mx_set_error(MX_ERR_IO, "[load_safetensors] %s: not a regular file", path);
    return NULL;
  }
  uint64_t fsize = (uint64_t)st.st_size;
  if (fsize < 8) {
    close(fd);
    mx_set_error(MX_ERR_IO,
                 "[load_safetensors] %s: file of %llu bytes is too short for the header "
                 "length",
                 path, (unsigned long long)fsize);
    return NULL;
  }
  mp = calloc(1, sizeof *mp);
  if (!mp) {
    close(fd);
    mx_set_error(MX_ERR_NOMEM, "[load_safetensors] %s: out of memory", path);
    return NULL;
  }
  void *base = map_file(fd, (size_t)fsize);
  int map_errno = errno;
  close(fd);
  if (base == MAP_FAILED) {
    free(mp);
    mx_set_error(MX_ERR_IO, "[load_safetensors] cannot map %s: %s", path,
                 strerror(map_errno));
    return NULL;
  }
  mp->base = base;
  mp->len = (size_t)fsize;
  atomic_init(&mp->refs, 1); /* the loader's reference */
  const unsigned char *bytes = base;

  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)bytes[i] << (8 * i);
  if (hlen == 0 || hlen > ST_MAX_HEADER)
    ST_FAIL("invalid header length %llu", path, (unsigned long long)hlen);
  if (hlen > fsize - 8)
    ST_FAIL("the header is %llu bytes but the file only %llu (truncated or corrupt?)",
            path, (unsigned long long)hlen, (unsigned long long)fsize);
  hdr = malloc((size_t)hlen + 1);
  if (!hdr) {
    mx_set_error(MX_ERR_NOMEM, "[load_safetensors] %s: out of memory", path);
    goto fail;
  }
  memcpy(hdr, bytes + 8, (size_t)hlen);
  hdr[hlen] = 0;
  const char *end = NULL;
  root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, false);
  if (!root)
    /* cJSON reports where it stopped through `end` (its global error
     * pointer is not thread-safe) */
    ST_FAIL("header is not valid JSON (near byte %lld)", path,
            (long long)(end ? end - hdr : -1));
  for (const char *p = end; p && p < hdr + hlen; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      ST_FAIL("unexpected bytes after the JSON header", path);
  if (!cJSON_IsObject(root)) ST_FAIL("header is not a JSON object", path);

  uint64_t data_start = 8 + hlen, data_len = fsize - data_start;
  int count = cJSON_GetArraySize(root);
  spans = calloc((size_t)(count > 0 ? count : 1), sizeof *spans);
  map = mx_array_map_new();
  if (!spans || !map) {
    mx_set_error(MX_ERR_NOMEM, "[load_safetensors] %s: out of memory", path);
    goto fail;
  }
  mx_scope_begin();
  scope = true;
  int nspans = 0;
  for (const cJSON *it = root->child; it; it = it->next) {
    const char *name = it->string ? it->string : "";
    if (strcmp(name, "__metadata__") == 0) {
      if (!cJSON_IsObject(it)) ST_FAIL("__metadata__ is not an object", path);
      for (const cJSON *kv = it->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
          ST_FAIL("__metadata__ value of '%s' is not a string", path,
                  kv->string ? kv->string : "");
        if (mx_array_map_set_meta(map, kv->string ? kv->string : "", kv->valuestring) !=
            MX_OK)
          goto fail;
      }
      continue;
    }
    if (!cJSON_IsObject(it)) ST_FAIL("tensor '%s': entry is not an object", path, name);
    if (mx_array_map_get(map, name)) ST_FAIL("tensor '%s' appears twice", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    mx_dtype t;
    if (!cJSON_IsString(jd))
      ST_FAIL("tensor '%s': dtype missing or not a string", path, name);
    if (!dtype_of(jd->valuestring, &t))
      ST_FAIL("tensor '%s': unknown dtype '%s'", path, name, jd->valuestring);
    if (!cJSON_IsArray(js))
      ST_FAIL("tensor '%s': shape missing or not a list", path, name);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > MX_MAX_NDIM)
      ST_FAIL("tensor '%s': %d dimensions (at most %d)", path, name, ndim, MX_MAX_NDIM);
    int shape[MX_MAX_NDIM];
    uint64_t nbytes = mx_dtype_size(t);
    bool empty = false;
    int d = 0;
    for (const cJSON *e = js->child; e; e = e->next, d++) {
      uint64_t v;
      if (!json_uint(e, (double)INT32_MAX, &v))
        ST_FAIL("tensor '%s': shape entry %d is not an integer in [0, 2^31)", path, name,
                d);
      shape[d] = (int)v;
      empty |= v == 0;
      /* saturate: any product past 2^63 already exceeds every file */
      if (v && nbytes > (UINT64_MAX >> 1) / v)
        nbytes = UINT64_MAX >> 1;
      else
        nbytes *= v;
    }
    if (empty) nbytes = 0;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
      ST_FAIL("tensor '%s': data_offsets missing or not a list of 2", path, name);
    uint64_t b, e;
    if (!json_uint(jo->child, ST_MAX_INT, &b) ||
        !json_uint(jo->child->next, ST_MAX_INT, &e))
      ST_FAIL("tensor '%s': data_offsets are not non-negative integers", path, name);
    if (e < b || e - b != nbytes)
      ST_FAIL(
          "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %llu",
          path, name, (unsigned long long)b, (unsigned long long)e,
          (unsigned long long)(e >= b ? e - b : 0), jd->valuestring,
          mx_shape_str(shape, ndim), (unsigned long long)nbytes);
    if (e > data_len)
      ST_FAIL(
          "tensor '%s': data_offsets [%llu, %llu] run past the data section (%llu "
          "bytes; truncated file?)",
          path, name, (unsigned long long)b, (unsigned long long)e,
          (unsigned long long)data_len);
    if (nbytes) spans[nspans++] = (span){name, b, e};

    mx_array *a;
    unsigned char *p = (unsigned char *)base + data_start + b;
    size_t isz = mx_dtype_size(t);
    if (nbytes == 0) {
      a = mx_array_from_data(NULL, shape, ndim, t);
    } else if ((uintptr_t)p % isz == 0 && t != MX_BOOL) {
      /* zero-copy: the buffer holds a reference to the mapping */
      atomic_fetch_add(&mp->refs, 1);
      mx_buffer *buf = mx_buffer_external(p, (size_t)nbytes, mapping_release, mp);
      if (!buf) {
        atomic_fetch_sub(&mp->refs, 1);
        goto fail;
      }
      a = mx_array_new_evaluated(buf, t, shape, ndim, NULL, 0);
    } else {
      a = mx_array_from_data(p, shape, ndim, t);
      if (a && t == MX_BOOL) {
        uint8_t *q = mx_array_ptr(a);
        for (uint64_t i = 0; i < nbytes; i++) q[i] = q[i] != 0;
      }
    }
    if (!a || mx_array_map_set(map, name, a) != MX_OK) goto fail;
  }
  /* tensors may come in any order but must not share bytes */
  qsort(spans, (size_t)nspans, sizeof *spans, cmp_span);
  for (int i = 1; i < nspans; i++)
    if (spans[i].begin < spans[i - 1].end)
      ST_FAIL("tensors '%s' and '%s' overlap", path, spans[i - 1].name, spans[i].name);
  mx_scope_end();
  free(spans);
  cJSON_Delete(root);
  free(hdr);
  mapping_release(mp);
  return map;

fail:
  if (scope) mx_scope_end();
  mx_array_map_free(map);
  free(spans);
  cJSON_Delete(root);
  free(hdr);
  mapping_release(mp);
  return NULL;
}

/* ---- save ---- */

typedef struct {
  char *s;
  size_t n, cap;
  bool oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n + 1) nc *= 2;
    char *ns = realloc(b->s, nc);
    if (!ns) {
      b->oom = true;
      return;
    }
    b->s = ns;
    b->cap = nc;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string literal (UTF-8 passes through; controls are escaped). */
static void sb_json(strbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      sb_put(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      sb_put(b, esc, 6);
    } else {
      sb_put(b, (const char *)p, 1);
    }
  }
  sb_put(b, "\"", 1);
}

mx_status mx_save_safetensors(const char *path, const mx_array_map *m) {
  if (!path || !m)
    return mx_set_error(MX_ERR_INVALID, "[save_safetensors] NULL path or map");
  int n = mx_array_map_size(m);
  for (int i = 0; i < n; i++) {
    const char *name = mx_array_map_name(m, i);
    if (strcmp(name, "__metadata__") == 0)
      return mx_set_error(MX_ERR_INVALID,
                          "[save_safetensors] %s: '__metadata__' cannot name a tensor",
                          path);
    if (!name_of(mx_array_map_at(m, i)->dtype))
      return mx_set_error(MX_ERR_INVALID,
                          "[save_safetensors] %s: tensor '%s' has dtype %s", path, name,
                          mx_dtype_name(mx_array_map_at(m, i)->dtype));
  }
  /* evaluate everything together */
  mx_array **all = malloc((size_t)(n > 0 ? n : 1) * sizeof *all);
  int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
  uint64_t *offs = malloc((size_t)(n > 0 ? n : 1) * sizeof *offs);
  strbuf hb = {0};
  FILE *f = NULL;
  mx_status rc = MX_OK;
  if (!all || !order || !offs) {
    rc = mx_set_error(MX_ERR_NOMEM, "[save_safetensors] %s: out of memory", path);
    goto done;
  }
  for (int i = 0; i < n; i++) all[i] = mx_array_map_at(m, i);
  if (n && (rc = mx_eval(all, n)) != MX_OK) goto done;

  /* data order: element size descending, insertion order within a size */
  int k = 0;
  for (size_t sz = 8; sz >= 1; sz /= 2)
    for (int i = 0; i < n; i++)
      if (mx_dtype_size(all[i]->dtype) == sz) order[k++] = i;
  uint64_t off = 0;
  for (int j = 0; j < n; j++) {
    offs[order[j]] = off;
    off += (uint64_t)all[order[j]]->size * mx_dtype_size(all[order[j]]->dtype);
  }

  sb_str(&hb, "{");
  bool first = true;
  int nmeta = mx_array_map_meta_size(m);
  if (nmeta) {
    sb_str(&hb, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      const char *key = mx_array_map_meta_key(m, i);
      if (i) sb_str(&hb, ",");
      sb_json(&hb, key);
      sb_str(&hb, ":");
      sb_json(&hb, mx_array_map_meta(m, key));
    }
    sb_str(&hb, "}");
    first = false;
  }
  for (int i = 0; i < n; i++) {
    char num[64];
    if (!first) sb_str(&hb, ",");
    first = false;
    sb_json(&hb, mx_array_map_name(m, i));
    sb_str(&hb, ":{\"dtype\":\"");
    sb_str(&hb, name_of(all[i]->dtype));
    sb_str(&hb, "\",\"shape\":[");
    for (int d = 0; d < all[i]->ndim; d++) {
      snprintf(num, sizeof num, d ? ",%d" : "%d", all[i]->shape[d]);
      sb_str(&hb, num);
    }
    uint64_t nb = (uint64_t)all[i]->size * mx_dtype_size(all[i]->dtype);
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}",
             (unsigned long long)offs[i], (unsigned long long)(offs[i] + nb));
    sb_str(&hb, num);
  }
  sb_str(&hb, "}");
  while ((hb.n + 8) % 8) sb_str(&hb, " ");
  if (hb.oom) {
    rc = mx_set_error(MX_ERR_NOMEM, "[save_safetensors] %s: out of memory", path);
    goto done;
  }

  char *tmpname;
  f = mx_io_create(path, &tmpname, "save_safetensors");
  if (!f) {
    rc = mx_last_status();
    goto done;
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hb.n >> (8 * i));
  bool ok = mx_io_write(f, len8, 8) && mx_io_write(f, hb.s, hb.n);
  for (int j = 0; ok && j < n; j++) {
    mx_array *a = all[order[j]];
    const void *data;
    void *tmp;
    if (mx_io_host_bytes(a, &data, &tmp, "save_safetensors", path) != MX_OK) {
      mx_status st = mx_last_status();
      mx_io_finish(f, tmpname, path, false, "save_safetensors");
      rc = st;
      goto done;
    }
    ok = mx_io_write(f, data, (size_t)a->size * mx_dtype_size(a->dtype));
    free(tmp);
  }
  rc = mx_io_finish(f, tmpname, path, ok, "save_safetensors");
done:
  free(hb.s);
  free(all);
  free(order);
  free(offs);
  return rc;
}
