/* test_einsum.c: mx_einsum against numpy's np.einsum (mxt_numpy oracle) on
 * many subscripts: explicit and implicit outputs, "..." broadcasting,
 * diagonals from repeated indices, sums, transposes, several operands,
 * size-1 broadcasting, every float dtype, integers, bool, non-contiguous
 * operands, whitespace; plus the error paths. */
#include <stdarg.h>

#include "harness.h"

/* numpy result of `code` (an expression over a0, a1, ... bound to the
 * inputs) compared with r: shape and values. */
static void check_np(mx_array *r, const char *expr, mx_array *const *ops, int n,
                     double rtol, double atol, const char *what) {
  MXT_OK(r);
  if (!r) return;
  mxt_named in[8];
  char names[8][16];
  char code[1024];
  size_t q = 0;
  for (int i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "a%d", i);
    in[i].name = names[i];
    in[i].a = ops[i];
    q += (size_t)snprintf(code + q, sizeof code - q, "a%d = A['a%d']\n", i, i);
  }
  snprintf(code + q, sizeof code - q,
           "res = np.asarray(%s, dtype=np.float64)\n"
           "R['r'] = np.concatenate([[res.ndim], np.array(res.shape, dtype=np.float64), "
           "res.ravel()])\n",
           expr);
  double *out = NULL;
  int64_t nout = 0;
  if (!mxt_numpy(code, in, n, "r", &out, &nout)) {
    free(out);
    return;
  }
  int nd = (int)out[0];
  bool shape_ok = mx_array_ndim(r) == nd;
  int64_t size = 1;
  for (int d = 0; d < nd; d++) {
    if (shape_ok) shape_ok = mx_array_shape(r)[d] == (int)out[1 + d];
    size *= (int64_t)out[1 + d];
  }
  MXT_CHECK(shape_ok, "%s: shape (ndim %d vs numpy %d)", what, mx_array_ndim(r), nd);
  if (shape_ok) mxt_close(r, out + 1 + nd, size, rtol, atol, what);
  free(out);
}

static void check(const char *subs, mx_array *const *ops, int n, const char *what) {
  mx_array *r = mx_einsum(subs, ops, n);
  char expr[512];
  size_t q = (size_t)snprintf(expr, sizeof expr, "np.einsum('%s'", subs);
  for (int i = 0; i < n; i++)
    q += (size_t)snprintf(expr + q, sizeof expr - q, ", a%d", i);
  snprintf(expr + q, sizeof expr - q, ")");
  double rtol = 1e-5, atol = 1e-5;
  if (r) {
    switch (mx_array_dtype(r)) {
      case MX_FLOAT64:
        rtol = 1e-12, atol = 1e-12;
        break;
      case MX_FLOAT16:
        rtol = 3e-3, atol = 3e-3;
        break;
      case MX_BFLOAT16:
        rtol = 2e-2, atol = 2e-2;
        break;
      default:
        if (!mx_dtype_is_floating(mx_array_dtype(r))) rtol = atol = 0;
        break;
    }
  }
  check_np(r, expr, ops, n, rtol, atol, what ? what : subs);
}

static mx_array *R(mx_dtype t, int ndim, ...) {
  int s[MX_MAX_NDIM];
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++) s[i] = va_arg(ap, int);
  va_end(ap);
  return mxt_rand(s, ndim, t, -1, 1);
}

#define OPS(...)                 \
  ((mx_array *[]){__VA_ARGS__}), \
      (int)(sizeof((mx_array *[]){__VA_ARGS__}) / sizeof(mx_array *))

static void test_basic(void) {
  const mx_dtype f = MX_FLOAT32;
  check("ij,jk->ik", OPS(R(f, 2, 3, 4), R(f, 2, 4, 5)), NULL);
  check("bij,bjk->bik", OPS(R(f, 3, 2, 3, 4), R(f, 3, 2, 4, 5)), NULL);
  check("ii->i", OPS(R(f, 2, 4, 4)), NULL);
  check("ii", OPS(R(f, 2, 4, 4)), NULL);
  check("ij->ji", OPS(R(f, 2, 3, 5)), NULL);
  check("...ij,...jk->...ik", OPS(R(f, 4, 2, 3, 4, 5), R(f, 3, 3, 5, 2)), NULL);
  check("i,i->", OPS(R(f, 1, 7), R(f, 1, 7)), NULL);
  check("i,j->ij", OPS(R(f, 1, 3), R(f, 1, 4)), NULL);
  check("bhqd,bhkd->bhqk", OPS(R(f, 4, 2, 3, 4, 8), R(f, 4, 2, 3, 5, 8)), NULL);
  check("ij,jk,kl->il", OPS(R(f, 2, 3, 4), R(f, 2, 4, 5), R(f, 2, 5, 2)),
        "three operands");
  check("ij,jk,kl,lm->im",
        OPS(R(f, 2, 3, 4), R(f, 2, 4, 5), R(f, 2, 5, 2), R(f, 2, 2, 6)), "four operands");
}

static void test_more(void) {
  const mx_dtype f = MX_FLOAT32;
  check("ij,jk", OPS(R(f, 2, 3, 4), R(f, 2, 4, 5)), "implicit matmul");
  check("ij->", OPS(R(f, 2, 3, 4)), NULL);
  check("ij->j", OPS(R(f, 2, 3, 4)), NULL);
  check("ij->i", OPS(R(f, 2, 3, 4)), NULL);
  check("iij->ij", OPS(R(f, 3, 3, 3, 2)), NULL);
  check("iii->i", OPS(R(f, 3, 3, 3, 3)), NULL);
  check("ijij->ij", OPS(R(f, 4, 2, 3, 2, 3)), NULL);
  check("ijij->j", OPS(R(f, 4, 2, 3, 2, 3)), NULL);
  check("iijj->ij", OPS(R(f, 4, 2, 2, 3, 3)), NULL);
  check("...ii->...i", OPS(R(f, 3, 2, 3, 3)), NULL);
  check("i,i,i->i", OPS(R(f, 1, 5), R(f, 1, 5), R(f, 1, 5)), NULL);
  check("ab,cd->abcd", OPS(R(f, 2, 2, 3), R(f, 2, 4, 2)), NULL);
  check("ij,ij->ij", OPS(R(f, 2, 3, 4), R(f, 2, 3, 4)), "hadamard");
  check("ij,j->i", OPS(R(f, 2, 3, 4), R(f, 1, 4)), "matvec");
  check("bij,jk", OPS(R(f, 3, 2, 3, 4), R(f, 2, 4, 5)), "implicit batched");
  check("a,b,c->abc", OPS(R(f, 1, 2), R(f, 1, 3), R(f, 1, 4)), NULL);
  check("ba,ab", OPS(R(f, 2, 3, 4), R(f, 2, 4, 3)), "implicit scalar");
  check("Ab,bc->Ac", OPS(R(f, 2, 3, 4), R(f, 2, 4, 5)), "uppercase");
  check("bA,Ab", OPS(R(f, 2, 3, 4), R(f, 2, 4, 3)), "implicit order upper/lower");
  check("Ba,ab", OPS(R(f, 2, 3, 4), R(f, 2, 4, 4)), "implicit order B before b");
  check("ij,jk", OPS(R(f, 2, 2, 1), R(f, 2, 3, 4)), "size-1 contraction broadcasts");
  check("ij,ij->ij", OPS(R(f, 2, 2, 1), R(f, 2, 2, 4)), "size-1 batch broadcasts");
  check("ij,kj->ik", OPS(R(f, 2, 3, 1), R(f, 2, 5, 4)), "size-1 on the left side");
  check("...,...->...", OPS(R(f, 2, 2, 3), R(f, 1, 3)), "pure ellipsis");
  check("i...,i...->...", OPS(R(f, 3, 4, 2, 3), R(f, 3, 4, 1, 3)), "leading label");
  check("...", OPS(R(f, 2, 3, 2)), "identity");
  check("ij, jk -> ik", OPS(R(f, 2, 3, 4), R(f, 2, 4, 5)), "whitespace");
  check("bhqk,bhkd->bhqd", OPS(R(f, 4, 1, 2, 3, 4), R(f, 4, 1, 2, 4, 5)),
        "attention out");
  check("ijk,jil->kl", OPS(R(f, 3, 2, 3, 4), R(f, 3, 3, 2, 5)),
        "two contracted, permuted");
  check("abc,cda,d->b", OPS(R(f, 3, 2, 3, 4), R(f, 3, 4, 5, 2), R(f, 1, 5)),
        "three with reductions");
  /* a 0-d operand */
  mx_array *s = mx_array_scalar_f64(2.5, MX_FLOAT32);
  check(",ij->ij", OPS(s, R(f, 2, 3, 4)), "scalar operand");
  check("ij,->", OPS(R(f, 2, 3, 4), s), "scalar operand, summed");
  /* empty contraction gives zeros */
  check("ij,jk->ik", OPS(R(f, 2, 3, 0), R(f, 2, 0, 5)), "K = 0");
  check("ij->i", OPS(R(f, 2, 0, 4)), "empty rows");
}

static void test_ellipsis_summed(void) {
  /* MLX (not numpy): an explicit output without "..." sums those dims */
  mx_array *a = R(MX_FLOAT32, 3, 2, 3, 4);
  mx_array *r = mx_einsum("...ij->ij", &a, 1);
  check_np(r, "a0.sum(axis=0)", &a, 1, 1e-5, 1e-5, "...ij->ij sums");
  mx_array *ops[2] = {R(MX_FLOAT32, 3, 2, 3, 4), R(MX_FLOAT32, 3, 2, 4, 5)};
  r = mx_einsum("...ij,...jk->ik", ops, 2);
  check_np(r, "np.einsum('...ij,...jk->...ik', a0, a1).sum(axis=0)", ops, 2, 1e-5, 1e-5,
           "batched matmul summed");
}

static void test_dtypes(void) {
  const mx_dtype ts[4] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  for (int i = 0; i < 4; i++) {
    mx_dtype t = ts[i];
    check("bij,bjk->bik", OPS(R(t, 3, 2, 3, 4), R(t, 3, 2, 4, 5)), mx_dtype_name(t));
    check("ii->i", OPS(R(t, 2, 4, 4)), mx_dtype_name(t));
    check("ij->j", OPS(R(t, 2, 5, 4)), mx_dtype_name(t));
    mx_array *r = mx_einsum("ij->ji", OPS(R(t, 2, 2, 3)));
    MXT_CHECK(r && mx_array_dtype(r) == t, "dtype kept");
  }
  /* integers are exact (numpy semantics) */
  mx_array *ia = mxt_rand((int[]){3, 4}, 2, MX_INT32, -50, 50);
  mx_array *ib = mxt_rand((int[]){4, 5}, 2, MX_INT32, -50, 50);
  check("ij,jk->ik", OPS(ia, ib), "int32 matmul");
  check("ii", OPS(mxt_rand((int[]){4, 4}, 2, MX_INT64, -50, 50)), "int64 trace");
  check("ij->j", OPS(mxt_rand((int[]){6, 4}, 2, MX_UINT8, 0, 40)), "uint8 sum");
  mx_array *r = mx_einsum("ij,jk->ik", OPS(ia, ib));
  MXT_CHECK(r && mx_array_dtype(r) == MX_INT32, "int dtype kept");
  /* bool: products are AND, sums are OR */
  mx_array *ba = mxt_rand((int[]){3, 4}, 2, MX_BOOL, 0, 1.3);
  mx_array *bb = mxt_rand((int[]){4, 2}, 2, MX_BOOL, 0, 1.3);
  mx_array *br = mx_einsum("ij,jk->ik", OPS(ba, bb));
  MXT_CHECK(br && mx_array_dtype(br) == MX_BOOL, "bool dtype");
  check_np(br, "np.einsum('ij,jk->ik', a0, a1) != 0", OPS(ba, bb), 0, 0, "bool");
  /* mixed dtypes promote */
  mx_array *m =
      mx_einsum("ij,jk->ik", OPS(R(MX_FLOAT16, 2, 2, 3), R(MX_FLOAT32, 2, 3, 2)));
  MXT_CHECK(m && mx_array_dtype(m) == MX_FLOAT32, "f16 + f32 -> f32");
}

static void test_layouts(void) {
  const mx_dtype f = MX_FLOAT32;
  mx_array *a = mxt_noncontig(R(f, 3, 2, 3, 4)), *b = mxt_noncontig(R(f, 3, 2, 4, 5));
  check("bij,bjk->bik", OPS(a, b), "noncontig");
  check("bij->bji", OPS(a), "noncontig transpose");
  check("iij->ij", OPS(mxt_noncontig(R(f, 3, 3, 3, 2))), "noncontig diagonal");
  mx_array *st = mx_slice_axis(R(f, 2, 8, 5), 0, 0, 8, 2); /* (4,5) stepped */
  check("ij,kj->ik", OPS(st, R(f, 2, 3, 5)), "stepped");
  int bs[3] = {2, 3, 4};
  check("bij,bij->b", OPS(mx_broadcast_to(R(f, 2, 3, 4), bs, 3), R(f, 3, 2, 3, 4)),
        "broadcast operand");
}

static void test_errors(void) {
  mx_array *a = R(MX_FLOAT32, 2, 3, 4), *b = R(MX_FLOAT32, 2, 4, 5);
  struct {
    const char *subs;
    int n;
    const char *needle;
  } cases[] = {
      {"ij,jk->ik", 1, "does not match"},
      {"ij->ik", 1, "does not appear"},
      {"ij->ii", 1, "Repeat"},
      {"i1,jk->ik", 2, "letters"},
      {"......ij,jk->ik", 2, "ellipsis"},
      {"ijk,jk->ik", 2, "subscripts"},
      {"ij,kk->ik", 2, "repeated subscripts"},
      {"ij,ik->jk", 2, "Cannot broadcast"},
      {"ii->i", 1, "repeated"},
      {"...ijk,jk->ik", 2, "insufficient"},
  };
  mx_array *ops[2] = {a, b};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mx_clear_error();
    MXT_CHECK(mx_einsum(cases[i].subs, ops, cases[i].n) == NULL, "'%s' accepted",
              cases[i].subs);
    MXT_CHECK(
        strstr(mx_last_error(), "[einsum]") && strstr(mx_last_error(), cases[i].needle),
        "'%s': message %s", cases[i].subs, mx_last_error());
  }
  mx_clear_error();
  MXT_CHECK(mx_einsum("ij", ops, 0) == NULL, "no operands");
  mx_clear_error();
  MXT_CHECK(mx_einsum(NULL, ops, 1) == NULL, "NULL subscripts");
  mx_clear_error();
  mx_array *c = mx_astype(a, MX_COMPLEX64);
  MXT_CHECK(mx_einsum("ij->ji", &c, 1) == NULL, "complex rejected");
  mx_clear_error();
  mx_array *nul[2] = {a, NULL};
  MXT_CHECK(mx_einsum("ij,jk->ik", nul, 2) == NULL, "NULL operand");
  mx_clear_error();
}

int main(void) {
  MXT_RUN(test_basic);
  MXT_RUN(test_more);
  MXT_RUN(test_ellipsis_summed);
  MXT_RUN(test_dtypes);
  MXT_RUN(test_layouts);
  MXT_RUN(test_errors);
  return mxt_finish();
}
