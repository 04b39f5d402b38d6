/* test_io.c: .npy and safetensors files and mx_array_map.
 *  - round trips of every dtype (0-d, empty, non-contiguous arrays);
 *  - numpy as the oracle both ways: files numpy writes (every dtype,
 *    big-endian, Fortran order, format 2.0) load with the right values, and
 *    files we write load in numpy (/usr/bin/python3) with the right values;
 *  - safetensors bytes written by hand here (aligned and unaligned
 *    tensors, metadata), real checkpoints (stories260K float32, tiny-qwen2
 *    bfloat16) checked against Python's json + numpy reading the same file;
 *  - zero-copy loading (no allocator memory used; the mapping disappears
 *    from /proc/self/maps when the last tensor dies);
 *  - malformed files of every kind give MX_ERR_IO naming the file, and a
 *    fuzz loop truncating and corrupting valid files never crashes (run
 *    under ASan in the sanitizer build). */
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char g_dir[64];

static const char *tmp_path(const char *name) {
  static char buf[4][256];
  static int which;
  char *b = buf[which++ & 3];
  snprintf(b, 256, "%s/%s", g_dir, name);
  return b;
}

static bool write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = fwrite(data, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *d = malloc((size_t)sz + 1);
  *n = fread(d, 1, (size_t)sz, f);
  fclose(f);
  return d;
}

/* Runs a python3 (Debian's, with numpy) script; true when it exits 0. */
static bool run_python(const char *script) {
  const char *p = tmp_path("check.py");
  if (!write_file(p, script, strlen(script))) return false;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s %s", mxt_python(), p);
  return system(cmd) == 0;
}

/* The test pattern: element i of an array of dtype t (as float64; exact in
 * every dtype, 64-bit integers included). Python computes the same. */
static double pattern(int64_t i, mx_dtype t) {
  int64_t b = (i * 37 + 11) % 200;
  switch (mx_dtype_kind_of(t)) {
    case MX_KIND_BOOL:
      return i % 3 == 0;
    case MX_KIND_UNSIGNED:
      return (double)(b + (mx_dtype_size(t) == 8 ? (i << 40) : 0));
    case MX_KIND_SIGNED:
      return (double)(b - 100) - (mx_dtype_size(t) == 8 ? (double)(i << 40) : 0);
    default:
      return (double)(b - 100) / 8.0;
  }
}

static const char *PY_PATTERN =
    "import numpy as np, json, struct, sys\n"
    "def pattern(n, name):\n"
    "    i = np.arange(n, dtype=np.int64); b = (i * 37 + 11) % 200\n"
    "    if name == 'bool': return i % 3 == 0\n"
    "    if name.startswith('uint'): return b + ((i << 40) if name == 'uint64' else 0)\n"
    "    if name.startswith('int'): return (b - 100) - ((i << 40) if name == 'int64' "
    "else "
    "0)\n"
    "    return (b - 100) / 8.0\n"
    "def bf16_bits(x): return (np.asarray(x, np.float32).view(np.uint32) >> 16)"
    ".astype(np.uint16)\n";

static mx_array *make_pattern(const int *shape, int ndim, mx_dtype t) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (t == MX_COMPLEX64) {
    float *c = malloc((size_t)(n ? n : 1) * 8);
    for (int64_t i = 0; i < n; i++) {
      c[2 * i] = (float)pattern(i, MX_FLOAT32);
      c[2 * i + 1] = -(float)pattern(i, MX_FLOAT32) / 2;
    }
    mx_array *a = mx_array_from_data(c, shape, ndim, MX_COMPLEX64);
    free(c);
    return a;
  }
  double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  for (int64_t i = 0; i < n; i++) d[i] = pattern(i, t);
  mx_array *f = mx_array_from_data(d, shape, ndim, MX_FLOAT64);
  free(d);
  /* 64-bit integers: exact through float64 (|values| < 2^53) */
  return mx_astype(f, t);
}

/* Same dtype, shape and bytes (row-major). */
static bool same_array(mx_array *a, mx_array *b, const char *what) {
  MXT_OK(a);
  MXT_OK(b);
  if (!a || !b) return false;
  bool meta =
      mx_array_dtype(a) == mx_array_dtype(b) && mx_array_ndim(a) == mx_array_ndim(b);
  for (int i = 0; meta && i < mx_array_ndim(a); i++)
    meta = mx_array_shape(a)[i] == mx_array_shape(b)[i];
  MXT_CHECK(meta, "%s: dtype/shape differ", what);
  if (!meta) return false;
  size_t n = mx_array_nbytes(a);
  unsigned char *x = malloc(n + 1), *y = malloc(n + 1);
  bool ok = mx_array_read(a, mx_array_dtype(a), x, n) == MX_OK &&
            mx_array_read(b, mx_array_dtype(b), y, n) == MX_OK && memcmp(x, y, n) == 0;
  MXT_CHECK(ok, "%s: data differ", what);
  free(x);
  free(y);
  return ok;
}

static const mx_dtype ALL[14] = {
    MX_BOOL,  MX_UINT8, MX_UINT16,  MX_UINT32,   MX_UINT64,  MX_INT8,    MX_INT16,
    MX_INT32, MX_INT64, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64, MX_COMPLEX64};

/* ---- .npy ---- */

static void test_npy_roundtrip(void) {
  int shapes[4][3] = {{0}, {7}, {2, 3, 4}, {0, 3}};
  int ndims[4] = {0, 1, 3, 2};
  for (int ti = 0; ti < 14; ti++)
    for (int s = 0; s < 4; s++) {
      mx_array *a = make_pattern(shapes[s], ndims[s], ALL[ti]);
      const char *p = tmp_path("rt.npy");
      MXT_CHECK(mx_save_npy(p, a) == MX_OK, "save %s: %s", mx_dtype_name(ALL[ti]),
                mx_last_error());
      char what[64];
      snprintf(what, sizeof what, "%s shape %d", mx_dtype_name(ALL[ti]), s);
      same_array(mx_load_npy(p), a, what);
      /* the header is padded so the data starts 64-byte aligned */
      size_t n;
      unsigned char *d = read_file(p, &n);
      MXT_CHECK(d && n >= 10 && (10 + (d[8] | d[9] << 8)) % 64 == 0, "alignment");
      free(d);
    }
  /* non-contiguous input saves its logical values */
  int s[2] = {3, 5};
  mx_array *a = make_pattern(s, 2, MX_FLOAT32);
  mx_array *t = mx_transpose(a, NULL, 0);
  MXT_CHECK(mx_save_npy(tmp_path("t.npy"), t) == MX_OK, "save transposed");
  same_array(mx_load_npy(tmp_path("t.npy")), mx_contiguous(t), "transposed");
}

static void test_npy_numpy_oracle(void) {
  /* we write, numpy reads */
  int shape[2] = {3, 5};
  for (int ti = 0; ti < 14; ti++) {
    char name[64];
    snprintf(name, sizeof name, "ours_%s.npy", mx_dtype_name(ALL[ti]));
    MXT_CHECK(mx_save_npy(tmp_path(name), make_pattern(shape, 2, ALL[ti])) == MX_OK,
              "save %s", name);
  }
  mx_array *scalar = mx_array_scalar_f64(2.5, MX_FLOAT64);
  mx_save_npy(tmp_path("ours_scalar.npy"), scalar);
  char script[4096];
  snprintf(
      script, sizeof script,
      "%s"
      "d = '%s'\n"
      "names = ['bool','uint8','uint16','uint32','uint64','int8','int16','int32',"
      "'int64','float16','bfloat16','float32','float64','complex64']\n"
      "for nm in names:\n"
      "    a = np.load(d + '/ours_' + nm + '.npy')\n"
      "    assert a.shape == (3, 5), (nm, a.shape)\n"
      "    want = pattern(15, nm).reshape(3, 5)\n"
      "    if nm == 'bfloat16':\n"
      "        assert a.dtype.kind == 'V' and a.dtype.itemsize == 2, a.dtype\n"
      "        assert (a.view(np.uint16) == bf16_bits(want)).all(), nm\n"
      "    elif nm == 'complex64':\n"
      "        assert a.dtype == np.complex64\n"
      "        w = pattern(15, 'float32').reshape(3, 5)\n"
      "        assert (a.real == w).all() and (a.imag == -w / 2).all(), nm\n"
      "    else:\n"
      "        assert a.dtype == np.dtype(nm), (nm, a.dtype)\n"
      "        assert (a == want.astype(nm)).all(), (nm, a, want)\n"
      "s = np.load(d + '/ours_scalar.npy')\n"
      "assert s.shape == () and s == 2.5\n"
      /* numpy writes, we read (next step) */
      "for nm in names:\n"
      "    if nm == 'bfloat16': continue\n"
      "    w = pattern(24, 'float32' if nm == 'complex64' else nm).reshape(2, 3, 4)\n"
      "    if nm == 'complex64': w = w - 1j * w / 2\n"
      "    a = w.astype(nm)\n"
      "    np.save(d + '/np_' + nm + '.npy', a)\n"
      "    np.save(d + '/npbe_' + nm + '.npy', a.astype(a.dtype.newbyteorder('>')))\n"
      "    np.save(d + '/npf_' + nm + '.npy', np.asfortranarray(a))\n"
      "    with open(d + '/npv2_' + nm + '.npy', 'wb') as f:\n"
      "        np.lib.format.write_array(f, a, version=(2, 0))\n"
      "np.save(d + '/np_scalar.npy', np.float32(-1.5))\n"
      "np.save(d + '/np_empty.npy', np.zeros((0, 4), np.int16))\n"
      "np.save(d + '/np_bool2.npy', np.frombuffer(b'\\x00\\x02\\x01', "
      "np.uint8).view(np.bool_))\n"
      "np.save(d + '/np_f1d.npy', np.asfortranarray(np.arange(5.0)))\n",
      PY_PATTERN, g_dir);
  MXT_CHECK(run_python(script), "numpy could not read our files (see output above)");

  /* numpy writes, we read: compare with the pattern, any layout/version */
  int s3[3] = {2, 3, 4};
  const char *prefix[4] = {"np_", "npbe_", "npf_", "npv2_"};
  for (int ti = 0; ti < 14; ti++) {
    if (ALL[ti] == MX_BFLOAT16) continue;
    mx_array *want = make_pattern(s3, 3, ALL[ti]);
    for (int p = 0; p < 4; p++) {
      char name[64];
      snprintf(name, sizeof name, "%s%s.npy", prefix[p], mx_dtype_name(ALL[ti]));
      mx_array *a = mx_load_npy(tmp_path(name));
      same_array(a, want, name);
    }
  }
  mx_array *sc = mx_load_npy(tmp_path("np_scalar.npy"));
  MXT_CHECK(sc && mx_array_ndim(sc) == 0 && mx_array_item_f64(sc) == -1.5, "scalar");
  mx_array *e = mx_load_npy(tmp_path("np_empty.npy"));
  MXT_CHECK(e && mx_array_ndim(e) == 2 && mx_array_dim(e, 0) == 0 &&
                mx_array_dim(e, 1) == 4 && mx_array_dtype(e) == MX_INT16,
            "empty");
  mx_array *b = mx_load_npy(tmp_path("np_bool2.npy"));
  uint8_t bv[3] = {9, 9, 9};
  MXT_CHECK(b && mx_array_read(b, MX_UINT8, bv, 3) == MX_OK && bv[0] == 0 && bv[1] == 1 &&
                bv[2] == 1,
            "bool bytes normalised: %d %d %d", bv[0], bv[1], bv[2]);
  double *f1 = mxt_to_f64(mx_load_npy(tmp_path("np_f1d.npy")));
  for (int i = 0; f1 && i < 5; i++) MXT_CHECK(f1[i] == i, "fortran 1-d");
  free(f1);
  /* a Fortran-order array loads as a transposed view */
  mx_array *fo = mx_load_npy(tmp_path("npf_float32.npy"));
  MXT_CHECK(fo && !mx_array_is_contiguous(fo), "fortran order is a transposed layout");
}

/* An .npy file from a header string and data bytes. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data,
                          size_t n) {
  unsigned char buf[1024];
  size_t hl = strlen(dict), pre = major == 1 ? 10 : 12;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  buf[8] = (unsigned char)hl;
  buf[9] = (unsigned char)(hl >> 8);
  if (major != 1) buf[10] = buf[11] = 0;
  memcpy(buf + pre, dict, hl);
  memcpy(buf + pre + hl, data, n);
  write_file(path, buf, pre + hl + n);
}

static void expect_io_error(mx_array *a, const char *path, const char *needle,
                            const char *what) {
  MXT_CHECK(a == NULL, "%s: loaded", what);
  MXT_CHECK(mx_last_status() == MX_ERR_IO, "%s: status %d (%s)", what, mx_last_status(),
            mx_last_error());
  MXT_CHECK(strstr(mx_last_error(), path) != NULL, "%s: message names the file: %s", what,
            mx_last_error());
  if (needle)
    MXT_CHECK(strstr(mx_last_error(), needle) != NULL, "%s: '%s' not in: %s", what,
              needle, mx_last_error());
  mx_clear_error();
}

static void test_npy_malformed(void) {
  const char *p = tmp_path("bad.npy");
  float data[6] = {1, 2, 3, 4, 5, 6};
  const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  write_npy_raw(p, 1, good, data, sizeof data);
  mx_array *ok = mx_load_npy(p);
  MXT_CHECK(ok && mx_array_size(ok) == 6, "hand-made file loads: %s", mx_last_error());
  double want[6] = {1, 2, 3, 4, 5, 6};
  mxt_close(ok, want, 6, 0, 0, "values");
  /* v3 (utf-8 header) has the v2 layout */
  write_npy_raw(p, 3, good, data, sizeof data);
  MXT_CHECK(mx_load_npy(p) != NULL, "version 3");

  struct {
    int major;
    const char *dict;
    size_t ndata;
    const char *needle;
  } cases[] = {
      {4, good, 24, "version"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20, "needs 24"},
      {1, "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 24, "descr"},
      {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 24,
       "structured"},
      {1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 24, "fortran"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 24, "shape"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }", 24,
       "shape"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }", 24, NULL},
      {1, "{'descr': '<f4', 'fortran_order': False, }", 24, "lacks"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 24,
       "unknown"},
      {1, "['descr']", 24, "dict"},
      {1,
       "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), "
       "}",
       24, "too large"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", 24,
       "trailing"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_npy_raw(p, cases[i].major, cases[i].dict, data, cases[i].ndata);
    char what[32];
    snprintf(what, sizeof what, "npy case %zu", i);
    expect_io_error(mx_load_npy(p), p, cases[i].needle, what);
  }
  write_file(p, "hello world, not numpy", 22);
  expect_io_error(mx_load_npy(p), p, "magic", "magic");
  expect_io_error(mx_load_npy(tmp_path("missing.npy")), "missing.npy", NULL, "missing");
  /* header length beyond the file */
  unsigned char hdr[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f};
  write_file(p, hdr, 10);
  expect_io_error(mx_load_npy(p), p, "header", "long header");
  MXT_CHECK(mx_save_npy(tmp_path("nodir/x.npy"), ok) == MX_ERR_IO, "unwritable path");
  mx_clear_error();
  MXT_CHECK(mx_save_npy(p, NULL) != MX_OK, "NULL array");
  mx_clear_error();
}

/* Truncate and corrupt a valid .npy at every position: every load either
 * fails with MX_ERR_IO or gives an array whose data reads back. */
static void test_npy_fuzz(void) {
  int s[2] = {3, 4};
  const char *src = tmp_path("fz_src.npy"), *p = tmp_path("fz.npy");
  mx_save_npy(src, make_pattern(s, 2, MX_INT16));
  size_t n;
  unsigned char *orig = read_file(src, &n);
  MXT_OK(orig);
  if (!orig) return;
  unsigned char *buf = malloc(n);
  int loaded = 0, failed = 0;
  const unsigned char vals[] = {0x00, 0xff, '(', ')', ',', '\'', '9', ' ', '}', 'T', '>'};
  for (size_t pos = 0; pos <= n; pos++) {
    for (size_t v = 0; v <= sizeof vals; v++) {
      memcpy(buf, orig, n);
      size_t len = n;
      if (v == sizeof vals)
        len = pos; /* truncation */
      else if (pos < n)
        buf[pos] = vals[v];
      else
        continue;
      write_file(p, buf, len);
      mx_scope_begin();
      mx_array *a = mx_load_npy(p);
      if (a) {
        double *d = mxt_to_f64(a);
        MXT_CHECK(d || mx_array_size(a) == 0, "loaded array reads");
        free(d);
        loaded++;
      } else {
        MXT_CHECK(mx_last_status() == MX_ERR_IO, "pos %zu: status %d: %s", pos,
                  mx_last_status(), mx_last_error());
        failed++;
      }
      mx_clear_error();
      mx_scope_end();
      if (mxt_checks_failed) break;
    }
  }
  MXT_CHECK(loaded > 0 && failed > 0, "loaded %d failed %d", loaded, failed);
  free(buf);
  free(orig);
}

/* ---- array map ---- */

static void test_array_map(void) {
  int64_t live0 = mx_live_arrays();
  mx_array_map *m = mx_array_map_new();
  MXT_OK(m);
  mx_scope_begin();
  MXT_CHECK(mx_array_map_set(m, "b", mx_array_scalar_f64(1, MX_FLOAT32)) == MX_OK,
            "set b");
  MXT_CHECK(mx_array_map_set(m, "a", mx_array_scalar_f64(2, MX_FLOAT32)) == MX_OK,
            "set a");
  MXT_CHECK(mx_array_map_set(m, "c", mx_array_scalar_f64(3, MX_FLOAT32)) == MX_OK,
            "set c");
  mx_scope_end();
  /* the map's references outlive the scope */
  MXT_CHECK(mx_array_map_size(m) == 3, "size");
  MXT_CHECK(strcmp(mx_array_map_name(m, 0), "b") == 0 &&
                strcmp(mx_array_map_name(m, 1), "a") == 0 &&
                strcmp(mx_array_map_name(m, 2), "c") == 0,
            "insertion order");
  MXT_CHECK(mx_array_item_f64(mx_array_map_get(m, "a")) == 2, "get a");
  MXT_CHECK(mx_array_map_get(m, "zz") == NULL && mx_last_status() == MX_OK,
            "absent, no error");
  /* replace keeps the position */
  mx_scope_begin();
  MXT_CHECK(mx_array_map_set(m, "a", mx_array_scalar_f64(5, MX_FLOAT32)) == MX_OK,
            "replace");
  mx_scope_end();
  MXT_CHECK(mx_array_item_f64(mx_array_map_at(m, 1)) == 5, "replaced value");
  /* setting an entry to itself is safe */
  MXT_CHECK(mx_array_map_set(m, "a", mx_array_map_get(m, "a")) == MX_OK, "self set");
  MXT_CHECK(mx_array_item_f64(mx_array_map_get(m, "a")) == 5, "self set value");
  MXT_CHECK(mx_array_map_remove(m, "b") && !mx_array_map_remove(m, "b"), "remove");
  MXT_CHECK(mx_array_map_size(m) == 2 && strcmp(mx_array_map_name(m, 0), "a") == 0,
            "after");
  MXT_CHECK(mx_array_map_at(m, 5) == NULL && mx_array_map_name(m, -1) == NULL, "bounds");
  /* a kept array outlives the map */
  mx_array *kept = mx_keep(mx_array_map_get(m, "c"));
  MXT_CHECK(mx_array_map_set_meta(m, "format", "pt") == MX_OK, "meta");
  MXT_CHECK(mx_array_map_set_meta(m, "format", "mlx") == MX_OK, "meta replace");
  MXT_CHECK(mx_array_map_set_meta(m, "k2", "v2") == MX_OK, "meta 2");
  MXT_CHECK(mx_array_map_meta_size(m) == 2 &&
                strcmp(mx_array_map_meta(m, "format"), "mlx") == 0 &&
                strcmp(mx_array_map_meta_key(m, 1), "k2") == 0,
            "meta values");
  MXT_CHECK(mx_array_map_set(m, "x", NULL) != MX_OK, "NULL array");
  mx_clear_error();
  mx_array_map_free(m);
  MXT_CHECK(mx_array_item_f64(kept) == 3, "kept value");
  mx_free(kept);
  MXT_CHECK(mx_live_arrays() == live0, "no leak: %lld",
            (long long)(mx_live_arrays() - live0));
  mx_array_map_free(NULL);
}

/* ---- safetensors ---- */

static mx_array_map *pattern_map(void) {
  mx_array_map *m = mx_array_map_new();
  int s[2] = {3, 5};
  for (int ti = 0; ti < 14; ti++) {
    mx_scope_begin();
    mx_array_map_set(m, mx_dtype_name(ALL[ti]), make_pattern(s, 2, ALL[ti]));
    mx_scope_end();
  }
  mx_scope_begin();
  mx_array_map_set(m, "scalar", mx_array_scalar_f64(-4.25, MX_FLOAT32));
  int z[2] = {0, 7};
  mx_array_map_set(m, "empty", mx_zeros(z, 2, MX_INT32));
  /* a non-contiguous tensor saves its logical values */
  mx_array_map_set(m, "transposed",
                   mx_transpose(make_pattern(s, 2, MX_FLOAT32), NULL, 0));
  mx_scope_end();
  mx_array_map_set_meta(m, "format", "mx");
  mx_array_map_set_meta(m, "quote\"and\\slash", "line\nbreak");
  return m;
}

static void test_safetensors_roundtrip(void) {
  mx_array_map *m = pattern_map();
  const char *p = tmp_path("rt.safetensors");
  MXT_CHECK(mx_save_safetensors(p, m) == MX_OK, "save: %s", mx_last_error());
  mx_array_map *l = mx_load_safetensors(p);
  MXT_OK(l);
  if (l) {
    MXT_CHECK(mx_array_map_size(l) == mx_array_map_size(m), "count");
    for (int i = 0; i < mx_array_map_size(m); i++) {
      const char *name = mx_array_map_name(m, i);
      MXT_CHECK(l && strcmp(mx_array_map_name(l, i), name) == 0, "order %d", i);
      same_array(mx_array_map_get(l, name), mx_contiguous(mx_array_map_at(m, i)), name);
    }
    MXT_CHECK(mx_array_map_meta_size(l) == 2 &&
                  strcmp(mx_array_map_meta(l, "format"), "mx") == 0 &&
                  strcmp(mx_array_map_meta(l, "quote\"and\\slash"), "line\nbreak") == 0,
              "metadata");
  }
  mx_array_map_free(l);
  /* header layout: 8-byte aligned, padded with spaces */
  size_t n;
  unsigned char *d = read_file(p, &n);
  uint64_t hl = 0;
  for (int i = 0; d && i < 8; i++) hl |= (uint64_t)d[i] << (8 * i);
  MXT_CHECK(d && (8 + hl) % 8 == 0 && 8 + hl <= n, "header aligned");
  MXT_CHECK(d && d[8] == '{' && (d[8 + hl - 1] == ' ' || d[8 + hl - 1] == '}'),
            "padding");
  free(d);
  mx_array_map_free(m);
  /* the file gets the usual permissions and no temporary is left behind */
  mode_t um = umask(0);
  umask(um);
  struct stat sb;
  MXT_CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~um), "mode %o",
            (unsigned)(sb.st_mode & 0777));
  DIR *dir = opendir(g_dir);
  for (struct dirent *de; dir && (de = readdir(dir));)
    MXT_CHECK(strstr(de->d_name, ".tmp.") == NULL, "leftover %s", de->d_name);
  if (dir) closedir(dir);

  /* numpy + json read our file */
  char script[4096];
  snprintf(
      script, sizeof script,
      "%s"
      "f = open('%s', 'rb').read()\n"
      "n = struct.unpack('<Q', f[:8])[0]\n"
      "assert (8 + n) %% 8 == 0 and f[8 + n - 1:8 + n] in (b' ', b'}')\n"
      "h = json.loads(f[8:8 + n])\n"
      "assert h['__metadata__'] == {'format': 'mx', 'quote\"and\\\\slash': "
      "'line\\nbreak'}, "
      "h['__metadata__']\n"
      "st = {'BOOL': 'bool', 'U8': 'uint8', 'U16': 'uint16', 'U32': 'uint32', 'U64': "
      "'uint64', 'I8': 'int8', 'I16': 'int16', 'I32': 'int32', 'I64': 'int64', 'F16': "
      "'float16', 'BF16': 'uint16', 'F32': 'float32', 'F64': 'float64', 'C64': "
      "'complex64'}\n"
      "spans = []\n"
      "for k, e in h.items():\n"
      "    if k == '__metadata__': continue\n"
      "    b, en = e['data_offsets']; spans.append((b, en))\n"
      "    a = np.frombuffer(f[8 + n + b:8 + n + en], "
      "st[e['dtype']]).reshape(e['shape'])\n"
      "    assert (8 + n + b) %% np.dtype(st[e['dtype']]).itemsize == 0, k\n"
      "    if k in ('scalar', 'empty', 'transposed'): continue\n"
      "    assert k == {'BF16': 'bfloat16'}.get(e['dtype'], st[e['dtype']]), k\n"
      "    w = pattern(15, k).reshape(3, 5)\n"
      "    if k == 'bfloat16': assert (a == bf16_bits(w)).all(), k\n"
      "    elif k == 'complex64':\n"
      "        w = pattern(15, 'float32').reshape(3, 5)\n"
      "        assert (a == w - 1j * w / 2).all(), k\n"
      "    else: assert (a == w.astype(k)).all(), (k, a, w)\n"
      "assert float(np.frombuffer(f[8+n+h['scalar']['data_offsets'][0]:][:4], "
      "np.float32)[0]) == -4.25\n"
      "assert h['scalar']['shape'] == [] and h['empty']['shape'] == [0, 7]\n"
      "t = np.frombuffer(f[8+n+h['transposed']['data_offsets'][0]:][:60], "
      "np.float32).reshape(5, 3)\n"
      "assert (t == pattern(15, 'float32').reshape(3, 5).T).all()\n"
      "spans.sort()\n"
      "assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))\n"
      "assert spans[-1][1] == len(f) - 8 - n\n",
      PY_PATTERN, p);
  MXT_CHECK(run_python(script), "numpy/json could not read our safetensors file");
}

/* A safetensors file from a header string (padded with spaces to a multiple
 * of 8 bytes, as writers do) and data bytes. */
static void write_st(const char *path, const char *json, const void *data, size_t n) {
  size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
  unsigned char *buf = malloc(8 + hl + n + 1);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(buf + 8, json, jl);
  memset(buf + 8 + jl, ' ', hl - jl);
  if (n) memcpy(buf + 8 + hl, data, n);
  write_file(path, buf, 8 + hl + n);
  free(buf);
}

/* Is the file at path mapped into this process? */
static bool is_mapped(const char *path) {
  char real[PATH_MAX]; /* realpath writes up to PATH_MAX bytes */
  if (!realpath(path, real)) return false;
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return false;
  char line[1024];
  bool found = false;
  while (fgets(line, sizeof line, f))
    if (strstr(line, real)) found = true;
  fclose(f);
  return found;
}

static void test_safetensors_handmade(void) {
  /* data section 8-byte aligned: "w" F32 at 0 (aligned: zero-copy), "u" F32
   * at 18 (unaligned: copied), "b" BF16 at 34, "k" U8 at 38, "t" BOOL at 40 */
  const char *json =
      "{\"__metadata__\":{\"a\":\"1\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],"
      "\"data_offsets\":[0,16]},\"u\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":["
      "18,34]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[34,38]},"
      "\"k\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[38,40]},"
      "\"t\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[40,43]}}";
  unsigned char data[43] = {0};
  float w[4] = {1.5f, -2, 3, 4.25f}, u[4] = {10, 20, 30, 40};
  uint16_t b[2] = {0x3fc0, 0xc040}; /* 1.5, -3 in bfloat16 */
  memcpy(data, w, 16);
  memcpy(data + 18, u, 16);
  memcpy(data + 34, b, 4);
  data[38] = 7;
  data[39] = 250;
  data[40] = 0, data[41] = 5, data[42] = 1; /* bool byte 5 reads as true */
  const char *p = tmp_path("hand.safetensors");
  write_st(p, json, data, sizeof data);
  mx_array_map *m = mx_load_safetensors(p);
  MXT_OK(m);
  if (!m) return;
  MXT_CHECK(mx_array_map_size(m) == 5 && strcmp(mx_array_map_meta(m, "a"), "1") == 0,
            "meta");
  double ww[4] = {1.5, -2, 3, 4.25}, uu[4] = {10, 20, 30, 40}, bb[2] = {1.5, -3},
         kk[2] = {7, 250}, tt[3] = {0, 1, 1};
  mxt_close(mx_array_map_get(m, "w"), ww, 4, 0, 0, "w");
  mxt_close(mx_array_map_get(m, "u"), uu, 4, 0, 0, "u (unaligned)");
  mxt_close(mx_array_map_get(m, "b"), bb, 2, 0, 0, "b");
  mxt_close(mx_array_map_get(m, "k"), kk, 2, 0, 0, "k");
  mxt_close(mx_array_map_get(m, "t"), tt, 3, 0, 0, "t");
  uint8_t tb[3];
  mx_array_read(mx_array_map_get(m, "t"), MX_UINT8, tb, 3);
  MXT_CHECK(tb[1] == 1, "bool stored as 1");
  MXT_CHECK(mx_array_dtype(mx_array_map_get(m, "b")) == MX_BFLOAT16 &&
                mx_array_ndim(mx_array_map_get(m, "w")) == 2,
            "dtype/shape");
  /* the mapping lives while a zero-copy tensor does */
  mx_array *keep = mx_keep(mx_array_map_get(m, "w"));
  mx_array_map_free(m);
  MXT_CHECK(is_mapped(p), "mapping kept by a live tensor");
  double kv[4];
  MXT_CHECK(mx_array_read(keep, MX_FLOAT64, kv, sizeof kv) == MX_OK && kv[3] == 4.25,
            "read");
  mx_free(keep);
  MXT_CHECK(!is_mapped(p), "mapping released with the last tensor");
  /* no tensor aligned -> nothing keeps the mapping */
  const char *j2 = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]}}";
  unsigned char d2[5] = {0, 0, 0, 0x80, 0x3f};
  const char *p2 = tmp_path("hand2.safetensors");
  write_st(p2, j2, d2, 5);
  m = mx_load_safetensors(p2);
  MXT_CHECK(m && !is_mapped(p2), "unaligned only: unmapped after load");
  MXT_CHECK(m && mx_array_item_f64(mx_array_map_get(m, "x")) == 1, "value");
  mx_array_map_free(m);
}

static void test_safetensors_zero_copy(void) {
  /* 4 MB of float32: loading it must not allocate 4 MB */
  int n = 1 << 20;
  mx_array_map *m = mx_array_map_new();
  mx_scope_begin();
  mx_array_map_set(m, "big", mx_arange(0, n, 1, MX_FLOAT32));
  mx_scope_end();
  const char *p = tmp_path("big.safetensors");
  MXT_CHECK(mx_save_safetensors(p, m) == MX_OK, "save");
  mx_array_map_free(m);
  size_t before = mx_get_active_memory();
  m = mx_load_safetensors(p);
  size_t after = mx_get_active_memory();
  MXT_OK(m);
  MXT_CHECK(after - before < 65536, "zero-copy load used %zu bytes", after - before);
  mx_array *big = mx_array_map_get(m, "big");
  const float *d = mx_array_data(big);
  MXT_CHECK(d && d[12345] == 12345.0f && d[n - 1] == (float)(n - 1), "values");
  {
    /* the same file cut to 3 MB (still mapped the large-file way): a clear
     * error naming the tensor, no read past the end */
    const char *pt = tmp_path("big_cut.safetensors");
    FILE *in = fopen(p, "rb"), *out = fopen(pt, "wb");
    bool ok = in && out;
    char *buf = malloc(3 << 20);
    ok = ok && buf && fread(buf, 1, 3 << 20, in) == (size_t)(3 << 20) &&
         fwrite(buf, 1, 3 << 20, out) == (size_t)(3 << 20);
    free(buf);
    if (in) fclose(in);
    if (out) fclose(out);
    MXT_CHECK(ok, "cut copy");
    mx_array_map *mc = mx_load_safetensors(pt);
    const char *e = mx_last_error();
    MXT_CHECK(!mc && e && strstr(e, "big"), "cut file: %s", e ? e : "(none)");
    mx_array_map_free(mc);
  }
  /* overwriting the file while mapped: save goes through a new file, so the
   * loaded tensor keeps its data */
  mx_array_map *m2 = mx_array_map_new();
  mx_scope_begin();
  mx_array_map_set(m2, "other", mx_zeros((int[]){3}, 1, MX_INT8));
  mx_scope_end();
  MXT_CHECK(mx_save_safetensors(p, m2) == MX_OK, "overwrite");
  MXT_CHECK(d[n - 1] == (float)(n - 1), "mapped data intact after overwrite");
  mx_array_map_free(m2);
  mx_array_map_free(m);
}

/* The real checkpoints against Python's json + numpy: per tensor (sorted by
 * name) its element count, sum and sum of squares. */
static void check_checkpoint(const char *rel, int want_tensors) {
  const char *path = mxt_src_path(rel);
  char full[1024];
  snprintf(full, sizeof full, "%s", path);
  mx_array_map *m = mx_load_safetensors(full);
  MXT_OK(m);
  if (!m) return;
  MXT_CHECK(mx_array_map_size(m) == want_tensors, "%s: %d tensors", rel,
            mx_array_map_size(m));
  MXT_CHECK(
      mx_array_map_meta(m, "format") && strcmp(mx_array_map_meta(m, "format"), "pt") == 0,
      "format metadata");
  char code[2048];
  snprintf(code, sizeof code,
           "import json, struct\n"
           "f = open('%s', 'rb').read(); n = struct.unpack('<Q', f[:8])[0]\n"
           "h = json.loads(f[8:8 + n]); out = []\n"
           "for k in sorted(x for x in h if x != '__metadata__'):\n"
           "    e = h[k]; b, en = e['data_offsets']; raw = f[8 + n + b:8 + n + en]\n"
           "    if e['dtype'] == 'BF16':\n"
           "        x = (np.frombuffer(raw, np.uint16).astype(np.uint32) << "
           "16).view(np.float32)\n"
           "    else: x = np.frombuffer(raw, {'F32': np.float32, 'F16': "
           "np.float16}[e['dtype']])\n"
           "    x = x.astype(np.float64); out += [x.size, x.sum(), (x * x).sum()]\n"
           "R['s'] = np.array(out)\n",
           full);
  double *ref = NULL;
  int64_t nref = 0;
  if (!mxt_numpy(code, NULL, 0, "s", &ref, &nref)) {
    mx_array_map_free(m);
    return;
  }
  int nt = mx_array_map_size(m);
  MXT_CHECK(nref == 3 * nt, "oracle size %lld", (long long)nref);
  /* names sorted as python does (bytewise for ASCII) */
  const char **names = malloc((size_t)nt * sizeof *names);
  for (int i = 0; i < nt; i++) names[i] = mx_array_map_name(m, i);
  for (int i = 1; i < nt; i++)
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      const char *t = names[j];
      names[j] = names[j - 1];
      names[j - 1] = t;
    }
  for (int i = 0; i < nt && 3 * i + 2 < nref; i++) {
    mx_array *a = mx_array_map_get(m, names[i]);
    double *d = mxt_to_f64(a);
    double s = 0, s2 = 0;
    int64_t cnt = mx_array_size(a);
    for (int64_t k = 0; d && k < cnt; k++) s += d[k], s2 += d[k] * d[k];
    free(d);
    MXT_CHECK(cnt == ref[3 * i] && fabs(s - ref[3 * i + 1]) <= 1e-9 * (1 + fabs(s2)) &&
                  fabs(s2 - ref[3 * i + 2]) <= 1e-9 * (1 + s2),
              "%s: tensor %s: %lld %g %g vs %g %g %g", rel, names[i], (long long)cnt, s,
              s2, ref[3 * i], ref[3 * i + 1], ref[3 * i + 2]);
  }
  free(names);
  free(ref);
  mx_array_map_free(m);
}

static void test_safetensors_fixtures(void) {
  check_checkpoint("tests/fixtures/io/stories260K.safetensors", 47);
  check_checkpoint("tests/fixtures/io/tiny-qwen2.safetensors", 27);
  mx_array_map *m =
      mx_load_safetensors(mxt_src_path("tests/fixtures/io/tiny-qwen2.safetensors"));
  mx_array *e = mx_array_map_get(m, "model.embed_tokens.weight");
  MXT_CHECK(e && mx_array_dtype(e) == MX_BFLOAT16 && mx_array_dim(e, 0) == 384 &&
                mx_array_dim(e, 1) == 64,
            "qwen2 embedding bf16 (384, 64)");
  /* a reloaded-and-resaved checkpoint is identical tensor for tensor */
  const char *p = tmp_path("resaved.safetensors");
  MXT_CHECK(mx_save_safetensors(p, m) == MX_OK, "resave");
  mx_array_map *r = mx_load_safetensors(p);
  for (int i = 0; r && i < mx_array_map_size(m); i++)
    same_array(mx_array_map_get(r, mx_array_map_name(m, i)), mx_array_map_at(m, i),
               mx_array_map_name(m, i));
  mx_array_map_free(r);
  mx_array_map_free(m);
}

static void test_safetensors_malformed(void) {
  const char *p = tmp_path("bad.safetensors");
  unsigned char data[64] = {0};
  struct {
    const char *json;
    size_t ndata;
    const char *needle;
  } cases[] = {
      {"[1, 2]", 0, "not a JSON object"},
      {"{\"a\": 1}", 0, "'a'"},
      {"{\"a\": {\"dtype\": \"F7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "F7"},
      {"{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype"},
      {"{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "shape"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "data_offsets"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
       "shape"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4,
       "shape"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1e300], \"data_offsets\": [0, 4]}}", 4,
       "shape"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4,
       "shape"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2000000000, 2000000000, 2000000000, "
       "2000000000], \"data_offsets\": [0, 4]}}",
       4, "needs"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "
       "\"data_offsets\": [0, 4]}}",
       4, "dimensions"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 8,
       "needs 8"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 8,
       "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 8,
       "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 8,
       "data_offsets"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 8,
       "past"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [1e300, 1e300]}}",
       8, "'a'"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": "
       "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
       8, "overlap"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"a\": "
       "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
       8, "twice"},
      {"{\"__metadata__\": {\"k\": 3}}", 0, "__metadata__"},
      {"{\"__metadata__\": [1]}", 0, "__metadata__"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}} xx", 4,
       "after"},
      {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offs", 4, "JSON"},
      {"{\"a\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_st(p, cases[i].json, data, cases[i].ndata);
    char what[32];
    snprintf(what, sizeof what, "st case %zu", i);
    mx_array_map *m = mx_load_safetensors(p);
    expect_io_error((mx_array *)m, p, cases[i].needle, what);
    mx_array_map_free(m);
  }
  /* header length problems */
  unsigned char raw[16] = {0};
  write_file(p, raw, 4);
  expect_io_error((mx_array *)mx_load_safetensors(p), p, "too short", "4-byte file");
  write_file(p, raw, 16);
  expect_io_error((mx_array *)mx_load_safetensors(p), p, "header length", "zero length");
  raw[0] = 100;
  write_file(p, raw, 16);
  expect_io_error((mx_array *)mx_load_safetensors(p), p, "truncated", "header past end");
  memset(raw, 0xff, 8);
  write_file(p, raw, 16);
  expect_io_error((mx_array *)mx_load_safetensors(p), p, "header length", "huge length");
  expect_io_error((mx_array *)mx_load_safetensors(tmp_path("nope.safetensors")),
                  "nope.safetensors", NULL, "missing file");
  /* empty and valid: {} */
  write_st(p, "{}", NULL, 0);
  mx_array_map *m = mx_load_safetensors(p);
  MXT_CHECK(m && mx_array_map_size(m) == 0, "empty object loads");
  mx_array_map_free(m);
  /* save errors */
  m = mx_array_map_new();
  mx_scope_begin();
  mx_array_map_set(m, "__metadata__", mx_zeros((int[]){1}, 1, MX_INT8));
  mx_scope_end();
  MXT_CHECK(mx_save_safetensors(p, m) == MX_ERR_INVALID, "__metadata__ as tensor name");
  mx_clear_error();
  mx_array_map_remove(m, "__metadata__");
  MXT_CHECK(mx_save_safetensors(tmp_path("no/such/dir.st"), m) == MX_ERR_IO, "bad path");
  mx_clear_error();
  mx_array_map_free(m);
}

/* Truncate and corrupt a valid file at every byte: each load fails with
 * MX_ERR_IO or gives tensors whose data reads back (ASan checks bounds). */
static void test_safetensors_fuzz(void) {
  mx_array_map *m = mx_array_map_new();
  mx_scope_begin();
  int s[2] = {2, 3};
  mx_array_map_set(m, "f", make_pattern(s, 2, MX_FLOAT32));
  mx_array_map_set(m, "h", make_pattern(s, 2, MX_BFLOAT16));
  mx_array_map_set(m, "q", make_pattern(s, 2, MX_INT64));
  mx_array_map_set(m, "b", make_pattern(s, 2, MX_BOOL));
  mx_array_map_set(m, "c", make_pattern((int[]){1}, 1, MX_COMPLEX64));
  mx_scope_end();
  mx_array_map_set_meta(m, "format", "pt");
  const char *src = tmp_path("fz_src.safetensors"), *p = tmp_path("fz.safetensors");
  MXT_CHECK(mx_save_safetensors(src, m) == MX_OK, "save");
  mx_array_map_free(m);
  size_t n;
  unsigned char *orig = read_file(src, &n);
  MXT_OK(orig);
  if (!orig) return;
  unsigned char *buf = malloc(n + 1);
  int loaded = 0, failed = 0;
  const unsigned char vals[] = {0x00, 0xff, '"', '{', '}', '[', ']', ',',
                                ':',  '9',  '-', '.', 'e', ' ', '1', 0x80};
  uint64_t rng = 12345;
  for (size_t pos = 0; pos <= n; pos++) {
    for (size_t v = 0; v <= sizeof vals + 1; v++) {
      memcpy(buf, orig, n);
      size_t len = n;
      if (v == sizeof vals)
        len = pos; /* truncation */
      else if (pos >= n)
        continue;
      else if (v == sizeof vals + 1) { /* a few random bytes near pos */
        for (int r = 0; r < 3; r++) {
          rng = rng * 6364136223846793005ull + 1442695040888963407ull;
          size_t q = pos + (rng >> 33) % 8;
          if (q < n) buf[q] = (unsigned char)(rng >> 24);
        }
      } else {
        buf[pos] = vals[v];
      }
      write_file(p, buf, len);
      mx_scope_begin();
      mx_array_map *l = mx_load_safetensors(p);
      if (l) {
        for (int i = 0; i < mx_array_map_size(l); i++) {
          mx_array *a = mx_array_map_at(l, i);
          double *d = mxt_to_f64(a);
          MXT_CHECK(d || mx_array_size(a) == 0, "tensor reads");
          free(d);
        }
        loaded++;
      } else {
        MXT_CHECK(mx_last_status() == MX_ERR_IO, "pos %zu v %zu: status %d: %s", pos, v,
                  mx_last_status(), mx_last_error());
        MXT_CHECK(strstr(mx_last_error(), p) != NULL, "message names file");
        failed++;
      }
      mx_array_map_free(l);
      mx_clear_error();
      mx_scope_end();
      if (mxt_checks_failed) break;
    }
    if (mxt_checks_failed) break;
  }
  MXT_CHECK(loaded > 0 && failed > 0, "loaded %d failed %d", loaded, failed);
  free(buf);
  free(orig);
}

int main(void) {
  /* a RAM-backed directory keeps the fuzz loops (thousands of small
   * files) fast */
  struct stat sb;
  bool shm =
      stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0;
  snprintf(g_dir, sizeof g_dir, "%s/mx_test_io_XXXXXX", shm ? "/dev/shm" : "/tmp");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  MXT_RUN(test_npy_roundtrip);
  MXT_RUN(test_npy_numpy_oracle);
  MXT_RUN(test_npy_malformed);
  MXT_RUN(test_npy_fuzz);
  MXT_RUN(test_array_map);
  MXT_RUN(test_safetensors_roundtrip);
  MXT_RUN(test_safetensors_handmade);
  MXT_RUN(test_safetensors_zero_copy);
  MXT_RUN(test_safetensors_fixtures);
  MXT_RUN(test_safetensors_malformed);
  MXT_RUN(test_safetensors_fuzz);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_dir);
  return mxt_finish();
}
