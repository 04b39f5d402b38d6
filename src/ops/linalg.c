/* linalg.c: matmul, addmm, outer, inner, tensordot, tensordot_axes.
 *
 * matmul follows numpy/MLX: a 1-D a is (1, K) and a 1-D b is (K, 1), the
 * added axis is removed from the result; batch dims broadcast (inside the
 * kernel, so no broadcast copies); inputs are promoted to a common dtype,
 * which must be floating (MLX rejects integer matmul). addmm computes
 * alpha * (a @ b) + beta * c with c broadcast to the result's shape.
 *
 * outer, inner and tensordot are reshapes and transposes around one matmul
 * node. Unlike MLX's tensordot (which calls matmul), they also accept integer
 * and bool dtypes, as numpy does, through the kernel's plain-loop path. */
#include <stdio.h>
#include <string.h>

#include "../primitives/linalg.h"

/* Shapes as text for messages (mx_shape_str has one static buffer). */
static void shape_text(char *buf, size_t n, const int *shape, int ndim) {
  snprintf(buf, n, "%s", mx_shape_str(shape, ndim));
}

/* The matmul node for a (.., M, K) @ b (.., K, N) (+ c for addmm). */
static mx_array *matmul_impl(const char *op, mx_array *c, mx_array *a, mx_array *b,
                             float alpha, float beta, bool allow_int) {
  if (a->ndim == 0 || b->ndim == 0) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] Got 0 dimension input. Inputs must have at least one dimension.",
                 op);
    return NULL;
  }
  int ash[MX_MAX_NDIM], bsh[MX_MAX_NDIM];
  int na = a->ndim, nb = b->ndim;
  memcpy(ash, a->shape, sizeof(int) * (size_t)na);
  memcpy(bsh, b->shape, sizeof(int) * (size_t)nb);
  if (na == 1) {
    ash[1] = ash[0];
    ash[0] = 1;
    na = 2;
  }
  if (nb == 1) {
    bsh[1] = 1;
    nb = 2;
  }
  if (ash[na - 1] != bsh[nb - 2]) {
    char sa[256], sb[256];
    shape_text(sa, sizeof sa, ash, na);
    shape_text(sb, sizeof sb, bsh, nb);
    mx_set_error(MX_ERR_INVALID,
                 "[%s] Last dimension of first input with shape %s must match second "
                 "to last dimension of second input with shape %s.",
                 op, sa, sb);
    return NULL;
  }
  mx_dtype t = mx_promote_types(a->dtype, b->dtype);
  if (c) t = mx_promote_types(t, c->dtype);
  bool ok =
      mx_dtype_is_floating(t) || (allow_int && (mx_dtype_is_integer(t) || t == MX_BOOL));
  if (!ok) {
    if (c)
      mx_set_error(MX_ERR_INVALID,
                   "[%s] Only real floating point types are supported but %s, %s and %s "
                   "were provided which results in %s, which is not a real floating "
                   "point type.",
                   op, mx_dtype_name(c->dtype), mx_dtype_name(a->dtype),
                   mx_dtype_name(b->dtype), mx_dtype_name(t));
    else
      mx_set_error(MX_ERR_INVALID,
                   "[%s] Only real floating point types are supported but %s and %s were "
                   "provided which results in %s, which is not a real floating point "
                   "type.",
                   op, mx_dtype_name(a->dtype), mx_dtype_name(b->dtype),
                   mx_dtype_name(t));
    return NULL;
  }
  /* batch dims broadcast */
  int osh[MX_MAX_NDIM], nbo;
  if (!mx_broadcast_shapes(ash, na - 2, bsh, nb - 2, osh, &nbo)) {
    char sa[256], sb[256];
    shape_text(sa, sizeof sa, ash, na);
    shape_text(sb, sizeof sb, bsh, nb);
    mx_set_error(MX_ERR_INVALID,
                 "[%s] Batch dimensions of shapes %s and %s cannot be broadcast.", op, sa,
                 sb);
    return NULL;
  }
  int ond = nbo + 2;
  osh[nbo] = ash[na - 2];
  osh[nbo + 1] = bsh[nb - 1];
  /* the user-visible shape drops the axes added for 1-D operands */
  int fsh[MX_MAX_NDIM], nf = 0;
  for (int d = 0; d < nbo; d++) fsh[nf++] = osh[d];
  if (a->ndim > 1) fsh[nf++] = osh[nbo];
  if (b->ndim > 1) fsh[nf++] = osh[nbo + 1];

  if (c) {
    int cb[MX_MAX_NDIM], ncb;
    if (!mx_broadcast_shapes(c->shape, c->ndim, fsh, nf, cb, &ncb) || ncb != nf ||
        memcmp(cb, fsh, sizeof(int) * (size_t)nf) != 0) {
      char sc[256], so[256];
      shape_text(sc, sizeof sc, c->shape, c->ndim);
      shape_text(so, sizeof so, fsh, nf);
      mx_set_error(MX_ERR_INVALID,
                   "[%s] input c with shape %s must broadcast to the output shape %s.",
                   op, sc, so);
      return NULL;
    }
  }

  mx_scope_begin();
  mx_array *a2 = mx_astype(mx_reshape(a, ash, na), t);
  mx_array *b2 = mx_astype(mx_reshape(b, bsh, nb), t);
  mx_array *r = NULL;
  if (c) {
    mx_array *c2 = mx_reshape(mx_broadcast_to(mx_astype(c, t), fsh, nf), osh, ond);
    mx_matmul_params p = {alpha, beta};
    mx_array *ins[3] = {a2, b2, c2};
    if (a2 && b2 && c2)
      r = mx_node_make1(&mx_prim_addmm, &p, sizeof p, ins, 3, t, osh, ond);
  } else {
    mx_matmul_params p = {1.0f, 0.0f};
    mx_array *ins[2] = {a2, b2};
    if (a2 && b2) r = mx_node_make1(&mx_prim_matmul, &p, sizeof p, ins, 2, t, osh, ond);
  }
  r = mx_keep(mx_reshape(r, fsh, nf));
  mx_scope_end();
  return r ? mx_scope_adopt(r) : NULL;
}

mx_array *mx_linalg_matmul(mx_array *a, mx_array *b, bool allow_int, const char *opname) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  return matmul_impl(opname, NULL, a, b, 1.0f, 0.0f, allow_int);
}

mx_array *mx_matmul(mx_array *a, mx_array *b) {
  return mx_linalg_matmul(a, b, false, "matmul");
}

mx_array *mx_addmm(mx_array *c, mx_array *a, mx_array *b, float alpha, float beta) {
  MX_CHECK_NULL1(c);
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  return matmul_impl("addmm", c, a, b, alpha, beta, false);
}

mx_array *mx_outer(mx_array *a, mx_array *b) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  if (a->size > INT32_MAX || b->size > INT32_MAX) {
    mx_set_error(MX_ERR_INVALID, "[outer] inputs too large");
    return NULL;
  }
  /* (m, 1) @ (1, n): a product with a size-1 contraction */
  int sa[2] = {(int)a->size, 1}, sb[2] = {1, (int)b->size};
  mx_scope_begin();
  mx_array *r = mx_keep(
      mx_linalg_matmul(mx_reshape(a, sa, 2), mx_reshape(b, sb, 2), true, "outer"));
  mx_scope_end();
  return r ? mx_scope_adopt(r) : NULL;
}

/* x * y where one of them is 0-d: (1, 1) @ (1, n) reshaped to y's shape. */
static mx_array *scalar_times(mx_array *s, mx_array *y, bool s_first, const char *op) {
  if (y->size > INT32_MAX) {
    mx_set_error(MX_ERR_INVALID, "[%s] input too large", op);
    return NULL;
  }
  int one[2] = {1, 1}, row[2] = {1, (int)y->size}, col[2] = {(int)y->size, 1};
  mx_scope_begin();
  mx_array *p =
      s_first ? mx_linalg_matmul(mx_reshape(s, one, 2), mx_reshape(y, row, 2), true, op)
              : mx_linalg_matmul(mx_reshape(y, col, 2), mx_reshape(s, one, 2), true, op);
  mx_array *r = mx_keep(mx_reshape(p, y->shape, y->ndim));
  mx_scope_end();
  return r ? mx_scope_adopt(r) : NULL;
}

mx_array *mx_inner(mx_array *a, mx_array *b) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  if (a->ndim == 0) return scalar_times(a, b, true, "inner");
  if (b->ndim == 0) return scalar_times(b, a, false, "inner");
  if (a->shape[a->ndim - 1] != b->shape[b->ndim - 1]) {
    mx_set_error(MX_ERR_INVALID, "[inner] a and b must have the same last dimension.");
    return NULL;
  }
  int ax = -1, bx = -1;
  return mx_tensordot_axes(a, b, &ax, &bx, 1);
}

mx_array *mx_tensordot(mx_array *a, mx_array *b, int axes) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  if (axes < 0) {
    mx_set_error(MX_ERR_INVALID, "[tensordot] axis must be greater or equal to 0.");
    return NULL;
  }
  if (axes > a->ndim || axes > b->ndim) {
    mx_set_error(
        MX_ERR_INVALID,
        "[tensordot] axis must be less than the number of dimensions of a and b.");
    return NULL;
  }
  int aa[MX_MAX_NDIM], ba[MX_MAX_NDIM];
  for (int i = 0; i < axes; i++) {
    aa[i] = a->ndim - axes + i;
    ba[i] = i;
  }
  return mx_tensordot_axes(a, b, aa, ba, axes);
}

mx_array *mx_tensordot_axes(mx_array *a, mx_array *b, const int *axes_a,
                            const int *axes_b, int n) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  if (n < 0 || n > a->ndim || n > b->ndim || (n > 0 && (!axes_a || !axes_b))) {
    mx_set_error(MX_ERR_INVALID, "[tensordot] invalid number of axes %d", n);
    return NULL;
  }
  bool ca[MX_MAX_NDIM] = {0}, cb[MX_MAX_NDIM] = {0};
  int xa[MX_MAX_NDIM], xb[MX_MAX_NDIM];
  int64_t csize = 1;
  for (int i = 0; i < n; i++) {
    xa[i] = axes_a[i];
    xb[i] = axes_b[i];
    if (!mx_norm_axis(&xa[i], a->ndim) || !mx_norm_axis(&xb[i], b->ndim)) {
      mx_set_error(MX_ERR_INVALID,
                   "[tensordot] axis (%d, %d) out of range for shapes of "
                   "%d and %d dimensions.",
                   axes_a[i], axes_b[i], a->ndim, b->ndim);
      return NULL;
    }
    if (ca[xa[i]] || cb[xb[i]]) {
      mx_set_error(MX_ERR_INVALID, "[tensordot] repeated axis in the contracted axes.");
      return NULL;
    }
    ca[xa[i]] = cb[xb[i]] = true;
    if (a->shape[xa[i]] != b->shape[xb[i]]) {
      mx_set_error(
          MX_ERR_INVALID,
          "[tensordot] a and b must have the same shape on the contracted axes.");
      return NULL;
    }
    csize *= a->shape[xa[i]];
  }
  /* a -> (free_a, contracted), b -> (contracted, free_b) */
  int pa[MX_MAX_NDIM], pb[MX_MAX_NDIM], rshape[2 * MX_MAX_NDIM];
  int npa = 0, npb = 0, nr = 0;
  int64_t size1 = 1, size2 = 1;
  for (int d = 0; d < a->ndim; d++)
    if (!ca[d]) {
      pa[npa++] = d;
      size1 *= a->shape[d];
      rshape[nr++] = a->shape[d];
    }
  for (int i = 0; i < n; i++) pa[npa++] = xa[i];
  for (int i = 0; i < n; i++) pb[npb++] = xb[i];
  for (int d = 0; d < b->ndim; d++)
    if (!cb[d]) {
      pb[npb++] = d;
      size2 *= b->shape[d];
      rshape[nr++] = b->shape[d];
    }
  if (nr > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[tensordot] result would have %d dimensions (max %d)",
                 nr, MX_MAX_NDIM);
    return NULL;
  }
  if (size1 > INT32_MAX || size2 > INT32_MAX || csize > INT32_MAX) {
    mx_set_error(MX_ERR_INVALID, "[tensordot] inputs too large");
    return NULL;
  }
  int s1[2] = {(int)size1, (int)csize}, s2[2] = {(int)csize, (int)size2};
  mx_scope_begin();
  mx_array *x = mx_reshape(mx_transpose(a, pa, a->ndim), s1, 2);
  mx_array *y = mx_reshape(mx_transpose(b, pb, b->ndim), s2, 2);
  mx_array *r =
      mx_keep(mx_reshape(mx_linalg_matmul(x, y, true, "tensordot"), rshape, nr));
  mx_scope_end();
  return r ? mx_scope_adopt(r) : NULL;
}
