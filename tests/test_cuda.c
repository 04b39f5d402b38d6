/* test_cuda.c: the CUDA backend against the CPU. In a build without CUDA it
 * checks that GPU requests fail with clear errors. In a CUDA build on a
 * machine without a GPU it exits 77 (reported by ctest as skipped, not
 * passed). On a GPU it compares every GPU primitive with the CPU result on
 * random inputs, including implicit host<->device moves and the memory API's
 * device counters. */
#include "harness.h"

static mx_stream g_gpu;

static void test_no_cuda_errors(void) {
  MXT_CHECK(!mx_gpu_available(), "no gpu in this build");
  MXT_CHECK(mx_set_default_device(mx_gpu()) == MX_ERR_UNSUPPORTED, "default gpu refused");
  MXT_CHECK(strstr(mx_last_error(), "without CUDA") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_default_device().type == MX_CPU, "still cpu");
  /* an op forced onto the GPU stream fails at eval with a clear message */
  mx_set_thread_stream(mx_default_stream(mx_gpu()));
  int s[1] = {4};
  mx_array *a = mx_astype(mx_ones(s, 1, MX_FLOAT32), MX_FLOAT16);
  mx_set_thread_stream((mx_stream){-1, {MX_CPU, 0}});
  MXT_CHECK(mx_eval1(a) == MX_ERR_UNSUPPORTED, "eval on gpu refused");
  MXT_CHECK(strstr(mx_last_error(), "without CUDA") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
}

/* run f on the gpu stream */
#define ON_GPU(expr)                                    \
  ({                                                    \
    mx_set_thread_stream(g_gpu);                        \
    mx_array *r_ = (expr);                              \
    mx_set_thread_stream((mx_stream){-1, {MX_CPU, 0}}); \
    r_;                                                 \
  })

static bool same_as_cpu(mx_array *gpu, mx_array *cpu, double tol, const char *what) {
  double *ref = mxt_to_f64(cpu);
  if (!ref) {
    MXT_CHECK(0, "%s: cpu failed: %s", what, mx_last_error());
    return false;
  }
  bool ok = mxt_close(gpu, ref, mx_array_size(cpu), tol, tol, what);
  free(ref);
  return ok;
}

static void test_copy_astype_full(void) {
  int s[3] = {7, 33, 65};
  mx_array *x = mxt_rand(s, 3, MX_FLOAT32, -4, 4);
  int perm[3] = {2, 0, 1};
  mx_array *xt = mx_transpose(x, perm, 3);
  for (int t = 0; t < MX_NUM_DTYPES; t++) {
    if (t == MX_COMPLEX64) continue;
    mx_array *g = ON_GPU(mx_astype(xt, (mx_dtype)t));
    mx_array *c = mx_astype(xt, (mx_dtype)t);
    same_as_cpu(g, c, 0, mx_dtype_name((mx_dtype)t));
  }
  mx_array *g = ON_GPU(mx_copy(mx_slice_axis(xt, 0, 60, 2, -3)));
  same_as_cpu(g, mx_copy(mx_slice_axis(xt, 0, 60, 2, -3)), 0, "strided copy");
  int big[2] = {300, 700};
  same_as_cpu(ON_GPU(mx_full(big, 2, 2.5, MX_BFLOAT16)),
              mx_full(big, 2, 2.5, MX_BFLOAT16), 0, "full");
  /* reshape of a transposed gpu array needs a device copy */
  mx_array *gt = ON_GPU(mx_transpose(mx_astype(x, MX_FLOAT32), perm, 3));
  int flat[1] = {-1};
  same_as_cpu(ON_GPU(mx_reshape(gt, flat, 1)), mx_reshape(xt, flat, 1), 0,
              "reshape copy");
}

static void test_matmul(void) {
  mx_dtype types[2] = {MX_FLOAT32, MX_BFLOAT16};
  for (int ti = 0; ti < 2; ti++) {
    mx_dtype t = types[ti];
    double tol = t == MX_FLOAT32 ? 1e-4 : 2e-2;
    int sa[3] = {3, 65, 130}, sb[3] = {3, 130, 97};
    mx_array *a = mx_astype(mxt_rand(sa, 3, MX_FLOAT32, -1, 1), t);
    mx_array *b = mx_astype(mxt_rand(sb, 3, MX_FLOAT32, -1, 1), t);
    /* the CPU result in float32 from the same (rounded) inputs */
    mx_array *ref = mx_matmul(mx_astype(a, MX_FLOAT32), mx_astype(b, MX_FLOAT32));
    same_as_cpu(ON_GPU(mx_matmul(a, b)), ref, tol, "batched matmul");
    /* transposed operands (views) and a broadcast batch */
    mx_array *bt = mx_swapaxes(mx_contiguous(mx_swapaxes(b, 1, 2)), 1, 2);
    same_as_cpu(ON_GPU(mx_matmul(a, bt)), ref, tol, "transposed b");
    int s2[2] = {130, 97};
    mx_array *b2 = mx_astype(mxt_rand(s2, 2, MX_FLOAT32, -1, 1), t);
    same_as_cpu(ON_GPU(mx_matmul(a, b2)),
                mx_matmul(mx_astype(a, MX_FLOAT32), mx_astype(b2, MX_FLOAT32)), tol,
                "broadcast b");
    /* sliced (non-contiguous rows) a, needs a copy */
    mx_array *as = mx_slice_axis(a, 1, 0, 65, 2);
    same_as_cpu(ON_GPU(mx_matmul(as, b)),
                mx_matmul(mx_astype(as, MX_FLOAT32), mx_astype(b, MX_FLOAT32)), tol,
                "strided a");
    /* a large square one */
    int sq[2] = {512, 512};
    mx_array *x = mx_astype(mxt_rand(sq, 2, MX_FLOAT32, -1, 1), t);
    same_as_cpu(ON_GPU(mx_matmul(x, x)),
                mx_matmul(mx_astype(x, MX_FLOAT32), mx_astype(x, MX_FLOAT32)), tol * 4,
                "512 square");
  }
}

static void test_add_multiply(void) {
  mx_dtype types[4] = {MX_FLOAT32, MX_BFLOAT16, MX_FLOAT16, MX_INT32};
  for (int ti = 0; ti < 4; ti++) {
    mx_dtype t = types[ti];
    int sa[3] = {4, 33, 65}, sb[2] = {33, 1};
    mx_array *a = mx_astype(mxt_rand(sa, 3, MX_FLOAT32, -8, 8), t);
    mx_array *b = mx_astype(mxt_rand(sb, 2, MX_FLOAT32, -8, 8), t);
    /* broadcast column, transposed view, scalar */
    same_as_cpu(ON_GPU(mx_add(a, b)), mx_add(a, b), 0, "add broadcast");
    same_as_cpu(ON_GPU(mx_multiply(a, b)), mx_multiply(a, b), 0, "multiply broadcast");
    same_as_cpu(ON_GPU(mx_subtract(a, b)), mx_subtract(a, b), 0, "subtract broadcast");
    mx_array *at = mx_transpose(a, NULL, 0);
    same_as_cpu(ON_GPU(mx_add(at, at)), mx_add(at, at), 0, "add transposed");
    mx_array *s = mx_scalar_like(a, 3);
    same_as_cpu(ON_GPU(mx_multiply(a, s)), mx_multiply(a, s), 0, "multiply scalar");
  }
  /* a chain stays on the GPU and reads back once */
  int sz[1] = {1 << 20};
  mx_array *x = mxt_rand(sz, 1, MX_FLOAT32, -1, 1);
  mx_array *y = ON_GPU(mx_add(mx_multiply(x, x), x));
  same_as_cpu(y, mx_add(mx_multiply(x, x), x), 1e-6, "chain");
  /* ops without a kernel say so */
  mx_array *d = ON_GPU(mx_divide(x, x));
  MXT_CHECK(mx_eval1(d) == MX_ERR_UNSUPPORTED &&
                strstr(mx_last_error(), "no CUDA kernel for divide"),
            "divide: %s", mx_last_error());
  mx_clear_error();
}

static void test_memory_counts_device(void) {
  mx_clear_cache();
  size_t before = mx_get_active_memory_device(mx_gpu());
  mx_scope_begin();
  int s[1] = {1 << 22};
  mx_array *g = ON_GPU(mx_copy(mx_zeros(s, 1, MX_FLOAT32)));
  MXT_CHECK(mx_eval1(g) == MX_OK, "eval");
  MXT_CHECK(mx_get_active_memory_device(mx_gpu()) >= before + (16u << 20),
            "device active");
  MXT_CHECK(mx_get_peak_memory_device(mx_gpu()) >= before + (16u << 20), "device peak");
  mx_scope_end();
  MXT_CHECK(mx_get_active_memory_device(mx_gpu()) == before, "device freed");
  MXT_CHECK(mx_get_cache_memory_device(mx_gpu()) >= (16u << 20), "device cache");
  mx_clear_cache();
  MXT_CHECK(mx_get_cache_memory_device(mx_gpu()) == 0, "device cache cleared");
}

static void test_missing_kernel_error(void) {
  mx_array *a = ON_GPU(mx_arange(0, 10, 1, MX_FLOAT32));
  MXT_CHECK(mx_eval1(a) == MX_ERR_UNSUPPORTED, "no silent fallback");
  MXT_CHECK(strstr(mx_last_error(), "no CUDA kernel for arange") != NULL, "msg: %s",
            mx_last_error());
  mx_clear_error();
}

int main(void) {
  if (!mx_built_with_cuda()) {
    MXT_RUN(test_no_cuda_errors);
    return mxt_finish();
  }
  if (!mx_gpu_available()) {
    printf("test_cuda: CUDA build but no GPU here: skipped (exit 77)\n");
    return 77;
  }
  g_gpu = mx_default_stream(mx_gpu());
  MXT_RUN(test_copy_astype_full);
  MXT_RUN(test_matmul);
  MXT_RUN(test_add_multiply);
  MXT_RUN(test_memory_counts_device);
  MXT_RUN(test_missing_kernel_error);
  return mxt_finish();
}
