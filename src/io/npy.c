/* npy.c: numpy's .npy format (versions 1.0, 2.0 and 3.0).
 *
 * Load reads the header dict ({'descr': ..., 'fortran_order': ..., 'shape':
 * ...}) with a small parser of its Python literal syntax, checks every size
 * against the file, swaps big-endian data, and returns a Fortran-ordered
 * array as the transpose of its reversed-shape row-major data (a view, as
 * MLX does). Save writes C order, version 1.0 unless the header needs 2.0,
 * padded to 64 bytes as numpy does.
 *
 * bfloat16 has no numpy dtype: as MLX, it is saved with descr '<V2' (numpy
 * reads that as 2-byte void, e.g. for .view(np.uint16) or ml_dtypes), and a
 * 'V2' descr loads as bfloat16. complex128 and structured dtypes are not
 * supported. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io_util.h"

#define NPY_MAX_HEADER (16u << 20) /* far above numpy's own 10000-byte limit */

/* ---- header parsing ---- */

typedef struct {
  const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
  while (c->p < c->end &&
         (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static bool eat(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

static bool parse_str(cursor *c, char *out, size_t cap) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
  char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\' && c->p + 1 < c->end) c->p++;
    if (n + 1 >= cap) return false;
    out[n++] = *c->p++;
  }
  if (c->p >= c->end) return false;
  c->p++;
  out[n] = 0;
  return true;
}

static bool parse_word(cursor *c, const char *w) {
  skip_ws(c);
  size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return false;
  c->p += n;
  return true;
}

/* a non-negative integer (Python 2 files may end it with 'L') */
static bool parse_dim(cursor *c, int64_t *v) {
  skip_ws(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9') return false;
  int64_t x = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    x = x * 10 + (*c->p++ - '0');
    if (x > INT32_MAX) return false;
  }
  if (c->p < c->end && *c->p == 'L') c->p++;
  *v = x;
  return true;
}

typedef struct {
  char descr[32];
  bool fortran;
  int ndim;
  int shape[MX_MAX_NDIM];
} npy_header;

static bool parse_shape(cursor *c, npy_header *h, const char **why) {
  if (!eat(c, '(')) return *why = "shape is not a tuple", false;
  h->ndim = 0;
  if (eat(c, ')')) return true;
  for (;;) {
    int64_t d;
    if (!parse_dim(c, &d))
      return *why = "shape holds a value that is not a dimension", false;
    if (h->ndim == MX_MAX_NDIM) return *why = "shape has too many dimensions", false;
    h->shape[h->ndim++] = (int)d;
    bool comma = eat(c, ',');
    if (eat(c, ')')) return true;
    if (!comma) return *why = "malformed shape tuple", false;
  }
}

static bool parse_header(const char *s, size_t n, npy_header *h, const char **why) {
  cursor c = {s, s + n};
  bool have_descr = false, have_fortran = false, have_shape = false;
  if (!eat(&c, '{')) return *why = "header is not a dict", false;
  while (!eat(&c, '}')) {
    char key[32];
    if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
      return *why = "malformed header dict", false;
    if (strcmp(key, "descr") == 0) {
      if (!parse_str(&c, h->descr, sizeof h->descr))
        return *why =
                   "descr is not a simple type string (structured dtypes are "
                   "unsupported)",
               false;
      have_descr = true;
    } else if (strcmp(key, "fortran_order") == 0) {
      if (parse_word(&c, "True"))
        h->fortran = true;
      else if (parse_word(&c, "False"))
        h->fortran = false;
      else
        return *why = "fortran_order is not True or False", false;
      have_fortran = true;
    } else if (strcmp(key, "shape") == 0) {
      if (!parse_shape(&c, h, why)) return false;
      have_shape = true;
    } else {
      return *why = "unknown key in header dict", false;
    }
    if (!eat(&c, ',')) {
      if (!eat(&c, '}')) return *why = "malformed header dict", false;
      break;
    }
  }
  if (!have_descr || !have_fortran || !have_shape)
    return *why = "header lacks descr, fortran_order or shape", false;
  skip_ws(&c);
  if (c.p != c.end) return *why = "trailing characters after the header dict", false;
  return true;
}

/* descr -> dtype; *swap when the data is big-endian */
static bool parse_descr(const char *d, mx_dtype *t, bool *swap) {
  char order = d[0];
  if (order == '<' || order == '>' || order == '|' || order == '=')
    d++;
  else
    order = '=';
  *swap = order == '>';
  static const struct {
    const char *s;
    mx_dtype t;
  } map[] = {{"b1", MX_BOOL},    {"?", MX_BOOL},       {"u1", MX_UINT8},
             {"u2", MX_UINT16},  {"u4", MX_UINT32},    {"u8", MX_UINT64},
             {"i1", MX_INT8},    {"i2", MX_INT16},     {"i4", MX_INT32},
             {"i8", MX_INT64},   {"f2", MX_FLOAT16},   {"f4", MX_FLOAT32},
             {"f8", MX_FLOAT64}, {"c8", MX_COMPLEX64}, {"V2", MX_BFLOAT16}};
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (strcmp(d, map[i].s) == 0) {
      *t = map[i].t;
      return true;
    }
  return false;
}

/* Reverse the bytes of each `unit`-byte word (complex64: each float). */
static void swap_bytes(unsigned char *p, size_t nbytes, size_t unit) {
  for (size_t i = 0; i + unit <= nbytes; i += unit)
    for (size_t a = 0, b = unit - 1; a < b; a++, b--) {
      unsigned char x = p[i + a];
      p[i + a] = p[i + b];
      p[i + b] = x;
    }
}

/* ---- load ---- */

static mx_array *load_fail(FILE *f, char *hdr, mx_status st, const char *path,
                           const char *why) {
  mx_set_error(st, "[load_npy] %s: %s", path, why);
  if (f) fclose(f);
  free(hdr);
  return NULL;
}

mx_array *mx_load_npy(const char *path) {
  if (!path) {
    mx_set_error(MX_ERR_INVALID, "[load_npy] path is NULL");
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    mx_set_error(MX_ERR_IO, "[load_npy] cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    return load_fail(f, NULL, MX_ERR_IO, path, "not a regular file");
  uint64_t fsize = (uint64_t)st.st_size;
  unsigned char pre[12];
  if (fsize < 10 || fread(pre, 1, 10, f) != 10)
    return load_fail(f, NULL, MX_ERR_IO, path, "file too short for an .npy header");
  if (memcmp(pre, "\x93NUMPY", 6) != 0)
    return load_fail(f, NULL, MX_ERR_IO, path, "not an .npy file (bad magic)");
  uint64_t hlen, hstart;
  if (pre[6] == 1) {
    hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    hstart = 10;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fsize < 12 || fread(pre + 10, 1, 2, f) != 2)
      return load_fail(f, NULL, MX_ERR_IO, path, "file too short for an .npy header");
    hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
           (uint64_t)pre[11] << 24;
    hstart = 12;
  } else {
    char why[64];
    snprintf(why, sizeof why, "unsupported format version %d.%d", pre[6], pre[7]);
    return load_fail(f, NULL, MX_ERR_IO, path, why);
  }
  if (hlen > NPY_MAX_HEADER || hstart + hlen > fsize) {
    char why[128];
    snprintf(why, sizeof why, "header of %llu bytes does not fit the file (%llu bytes)",
             (unsigned long long)hlen, (unsigned long long)fsize);
    return load_fail(f, NULL, MX_ERR_IO, path, why);
  }
  char *hdr = malloc(hlen + 1);
  if (!hdr) return load_fail(f, NULL, MX_ERR_NOMEM, path, "out of memory");
  if (fread(hdr, 1, hlen, f) != hlen)
    return load_fail(f, hdr, MX_ERR_IO, path, "cannot read the header");
  hdr[hlen] = 0;
  npy_header h = {0};
  const char *why = "";
  if (!parse_header(hdr, hlen, &h, &why)) return load_fail(f, hdr, MX_ERR_IO, path, why);
  mx_dtype t;
  bool swap;
  if (!parse_descr(h.descr, &t, &swap)) {
    char msg[96];
    snprintf(msg, sizeof msg, "unsupported dtype descr '%s'", h.descr);
    return load_fail(f, hdr, MX_ERR_IO, path, msg);
  }
  free(hdr);
  hdr = NULL;

  /* sizes: at most 2^48 elements (as the array core), checked before any
   * product can overflow */
  uint64_t count = 1;
  for (int i = 0; i < h.ndim; i++) {
    uint64_t d = (uint64_t)h.shape[i];
    if (d && count > ((uint64_t)1 << 48) / d)
      return load_fail(f, NULL, MX_ERR_IO, path, "shape is too large");
    count *= d;
  }
  uint64_t nbytes = count * mx_dtype_size(t);
  if (nbytes > fsize - hstart - hlen) {
    char msg[160];
    snprintf(msg, sizeof msg, "data of shape %s needs %llu bytes but the file holds %llu",
             mx_shape_str(h.shape, h.ndim), (unsigned long long)nbytes,
             (unsigned long long)(fsize - hstart - hlen));
    return load_fail(f, NULL, MX_ERR_IO, path, msg);
  }
  mx_buffer *b = mx_buffer_alloc((size_t)nbytes);
  if (!b) {
    fclose(f);
    return NULL;
  }
  if (nbytes && fread(b->host, 1, (size_t)nbytes, f) != nbytes) {
    mx_buffer_release(b);
    return load_fail(f, NULL, MX_ERR_IO, path, "cannot read the data");
  }
  fclose(f);
  size_t isz = mx_dtype_size(t);
  if (swap && isz > 1) swap_bytes(b->host, (size_t)nbytes, t == MX_COMPLEX64 ? 4 : isz);
  if (t == MX_BOOL) /* any non-zero byte is true; keep bools 0/1 */
    for (uint64_t i = 0; i < nbytes; i++)
      ((uint8_t *)b->host)[i] = ((uint8_t *)b->host)[i] != 0;

  /* Fortran order: the data is the row-major layout of the reversed shape */
  int shape[MX_MAX_NDIM];
  for (int i = 0; i < h.ndim; i++)
    shape[i] = h.fortran ? h.shape[h.ndim - 1 - i] : h.shape[i];
  mx_scope_begin();
  mx_array *a = mx_array_new_evaluated(b, t, shape, h.ndim, NULL, 0);
  if (a && h.fortran && h.ndim > 1) {
    a = mx_transpose(a, NULL, 0);
    if (a && mx_eval1(a) != MX_OK) a = NULL;
  }
  mx_keep(a);
  mx_scope_end();
  return mx_scope_adopt(a);
}

/* ---- save ---- */

static const char *descr_of(mx_dtype t) {
  switch (t) {
    case MX_BOOL:
      return "|b1";
    case MX_UINT8:
      return "|u1";
    case MX_UINT16:
      return "<u2";
    case MX_UINT32:
      return "<u4";
    case MX_UINT64:
      return "<u8";
    case MX_INT8:
      return "|i1";
    case MX_INT16:
      return "<i2";
    case MX_INT32:
      return "<i4";
    case MX_INT64:
      return "<i8";
    case MX_FLOAT16:
      return "<f2";
    case MX_BFLOAT16:
      return "<V2"; /* MLX's convention; numpy reads void */
    case MX_FLOAT32:
      return "<f4";
    case MX_FLOAT64:
      return "<f8";
    case MX_COMPLEX64:
      return "<c8";
    default:
      return NULL;
  }
}

mx_status mx_save_npy(const char *path, mx_array *a) {
  if (!path) return mx_set_error(MX_ERR_INVALID, "[save_npy] path is NULL");
  if (!a)
    return mx_last_status()
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[save_npy] %s: array is NULL", path);
  const char *descr = descr_of(a->dtype);
  if (!descr)
    return mx_set_error(MX_ERR_INVALID, "[save_npy] %s: unsupported dtype", path);
  const void *data;
  void *tmp;
  mx_status rc = mx_io_host_bytes(a, &data, &tmp, "save_npy", path);
  if (rc != MX_OK) return rc;

  /* header: dict, spaces, '\n'; prefix + header is a multiple of 64 */
  char dims[MX_MAX_NDIM * 13 + 4] = "";
  size_t k = 0;
  for (int i = 0; i < a->ndim; i++)
    k += (size_t)snprintf(dims + k, sizeof dims - k, i ? ", %d" : "%d", a->shape[i]);
  if (a->ndim == 1) snprintf(dims + k, sizeof dims - k, ",");
  char dict[512];
  int dl =
      snprintf(dict, sizeof dict,
               "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  size_t prefix = 10, total = prefix + (size_t)dl + 1;
  total = (total + 63) / 64 * 64;
  size_t hlen = total - prefix;
  unsigned char pre[10] = {0x93,
                           'N',
                           'U',
                           'M',
                           'P',
                           'Y',
                           1,
                           0,
                           (unsigned char)hlen,
                           (unsigned char)(hlen >> 8)};
  char hdr[600];
  memcpy(hdr, dict, (size_t)dl);
  memset(hdr + dl, ' ', hlen - (size_t)dl - 1);
  hdr[hlen - 1] = '\n';

  char *tmpname;
  FILE *f = mx_io_create(path, &tmpname, "save_npy");
  if (!f) {
    free(tmp);
    return mx_last_status();
  }
  size_t nbytes = (size_t)a->size * mx_dtype_size(a->dtype);
  bool ok = mx_io_write(f, pre, sizeof pre) && mx_io_write(f, hdr, hlen) &&
            mx_io_write(f, data, nbytes);
  free(tmp);
  return mx_io_finish(f, tmpname, path, ok, "save_npy");
}
