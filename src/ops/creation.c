/* creation.c: zeros, ones, full, *_like, scalar_like, arange, linspace, eye,
 * identity, tri, tril, triu. */
#include <math.h>
#include <string.h>

#include "../primitives/creation.h"

static bool valid_shape(const char *op, const int *shape, int ndim) {
  if (ndim < 0 || ndim > MX_MAX_NDIM || (ndim && !shape)) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid shape", op);
    return false;
  }
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) {
      mx_set_error(MX_ERR_INVALID, "[%s] negative dimension %d in shape %s", op, shape[i],
                   mx_shape_str(shape, ndim));
      return false;
    }
  return true;
}

static bool valid_dtype(const char *op, mx_dtype t) {
  if ((unsigned)t >= MX_NUM_DTYPES) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid dtype %d", op, (int)t);
    return false;
  }
  return true;
}

mx_array *mx_full(const int *shape, int ndim, double value, mx_dtype t) {
  if (!valid_shape("full", shape, ndim) || !valid_dtype("full", t)) return NULL;
  mx_full_params p = {value, 0, false};
  return mx_node_make1(&mx_prim_full, &p, sizeof p, NULL, 0, t, shape, ndim);
}

static mx_array *full_int(const int *shape, int ndim, int64_t v, mx_dtype t) {
  mx_full_params p = {(double)v, v, true};
  return mx_node_make1(&mx_prim_full, &p, sizeof p, NULL, 0, t, shape, ndim);
}

mx_array *mx_zeros(const int *shape, int ndim, mx_dtype t) {
  if (!valid_shape("zeros", shape, ndim) || !valid_dtype("zeros", t)) return NULL;
  return full_int(shape, ndim, 0, t);
}

mx_array *mx_ones(const int *shape, int ndim, mx_dtype t) {
  if (!valid_shape("ones", shape, ndim) || !valid_dtype("ones", t)) return NULL;
  return full_int(shape, ndim, 1, t);
}

mx_array *mx_full_array(const int *shape, int ndim, mx_array *vals) {
  MX_CHECK_NULL1(vals);
  if (!valid_shape("full", shape, ndim)) return NULL;
  return mx_copy(mx_broadcast_to(vals, shape, ndim));
}

mx_array *mx_zeros_like(mx_array *a) {
  MX_CHECK_NULL1(a);
  return full_int(a->shape, a->ndim, 0, a->dtype);
}

mx_array *mx_ones_like(mx_array *a) {
  MX_CHECK_NULL1(a);
  return full_int(a->shape, a->ndim, 1, a->dtype);
}

mx_array *mx_full_like(mx_array *a, double value) {
  MX_CHECK_NULL1(a);
  return mx_full(a->shape, a->ndim, value, a->dtype);
}

mx_array *mx_scalar_like(mx_array *a, double v) {
  MX_CHECK_NULL1(a);
  return mx_full(NULL, 0, v, a->dtype);
}

mx_array *mx_arange(double start, double stop, double step, mx_dtype t) {
  if (!valid_dtype("arange", t)) return NULL;
  if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
    mx_set_error(MX_ERR_INVALID, "[arange] step must be non-zero and bounds finite");
    return NULL;
  }
  if (t == MX_BOOL) {
    mx_set_error(MX_ERR_INVALID, "[arange] bool is not a valid dtype for arange");
    return NULL;
  }
  double len = ceil((stop - start) / step);
  if (len < 0) len = 0;
  if (len > 2147483647.0) {
    mx_set_error(MX_ERR_INVALID, "[arange] %g elements is too many", len);
    return NULL;
  }
  int n = (int)len;
  mx_arange_params p = {
      start, step, (int64_t)start, (int64_t)step,
      mx_dtype_is_integer(t) && start == floor(start) && step == floor(step)};
  return mx_node_make1(&mx_prim_arange, &p, sizeof p, NULL, 0, t, &n, 1);
}

mx_array *mx_linspace(double start, double stop, int num, mx_dtype t) {
  if (!valid_dtype("linspace", t)) return NULL;
  if (num < 0) {
    mx_set_error(MX_ERR_INVALID, "[linspace] num must be >= 0, got %d", num);
    return NULL;
  }
  mx_linspace_params p = {start, stop, num};
  return mx_node_make1(&mx_prim_linspace, &p, sizeof p, NULL, 0, t, &num, 1);
}

static mx_array *eye_kind(const char *op, int n, int m, int k, mx_dtype t, int kind) {
  if (!valid_dtype(op, t)) return NULL;
  if (m < 0) m = n;
  if (n < 0) {
    mx_set_error(MX_ERR_INVALID, "[%s] n must be >= 0, got %d", op, n);
    return NULL;
  }
  mx_eye_params p = {k, kind};
  int s[2] = {n, m};
  return mx_node_make1(&mx_prim_eye, &p, sizeof p, NULL, 0, t, s, 2);
}

mx_array *mx_eye(int n, int m, int k, mx_dtype t) {
  return eye_kind("eye", n, m, k, t, 0);
}
mx_array *mx_identity(int n, mx_dtype t) { return eye_kind("identity", n, n, 0, t, 0); }
mx_array *mx_tri(int n, int m, int k, mx_dtype t) {
  return eye_kind("tri", n, m, k, t, 1);
}

static mx_array *trimask(const char *op, mx_array *a, int k, bool upper) {
  MX_CHECK_NULL1(a);
  if (a->ndim < 2) {
    mx_set_error(MX_ERR_INVALID, "[%s] array must be at least 2-d, got %d-d", op,
                 a->ndim);
    return NULL;
  }
  mx_trimask_params p = {k, upper};
  return mx_node_make1(&mx_prim_trimask, &p, sizeof p, &a, 1, a->dtype, a->shape,
                       a->ndim);
}

mx_array *mx_tril(mx_array *a, int k) { return trimask("tril", a, k, false); }
mx_array *mx_triu(mx_array *a, int k) { return trimask("triu", a, k, true); }
