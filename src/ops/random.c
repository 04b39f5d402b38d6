/* random.c: the random module (MLX's mx.random): keys, the global key
 * sequence, and the sampling ops. Each op validates its arguments and makes
 * one lazy node whose first input is the key; the kernels are in
 * backend/cpu/random.c.
 *
 * Global key: as MLX's KeySequence, seeded from the clock (milliseconds)
 * until mx_random_seed; each call with key == NULL splits it into
 * (next global key, subkey) and samples with the subkey. Unlike MLX, whose
 * sequence is per thread, there is one sequence per process (locked). */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "../primitives/random.h"

/* ---- keys ---- */

static pthread_mutex_t g_key_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_key_set = false;
static uint32_t g_key[2];

static void key_of_seed(uint64_t seed, uint32_t k[2]) {
  k[0] = (uint32_t)(seed >> 32);
  k[1] = (uint32_t)seed;
}

mx_array *mx_random_key(uint64_t seed) {
  uint32_t k[2];
  key_of_seed(seed, k);
  int two = 2;
  return mx_array_from_data(k, &two, 1, MX_UINT32);
}

void mx_random_seed(uint64_t seed) {
  pthread_mutex_lock(&g_key_mu);
  key_of_seed(seed, g_key);
  g_key_set = true;
  pthread_mutex_unlock(&g_key_mu);
}

/* split(global) -> (global', sub): the rows of bits((2, 2), global). */
static mx_array *next_key(void) {
  uint32_t w[4];
  pthread_mutex_lock(&g_key_mu);
  if (!g_key_set) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    key_of_seed((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u, g_key);
    g_key_set = true;
  }
  mx_random_words(g_key, w, 4);
  g_key[0] = w[0];
  g_key[1] = w[1];
  pthread_mutex_unlock(&g_key_mu);
  int two = 2;
  return mx_array_from_data(w + 2, &two, 1, MX_UINT32);
}

/* The key to sample with: `key` after checking it, or the next global one. */
static mx_array *use_key(const char *op, mx_array *key) {
  if (!key) return next_key();
  if (key->dtype != MX_UINT32) {
    mx_set_error(MX_ERR_INVALID, "[%s] expected key type uint32 but received %s", op,
                 mx_dtype_name(key->dtype));
    return NULL;
  }
  if (key->ndim != 1 || key->shape[0] != 2) {
    mx_set_error(MX_ERR_INVALID, "[%s] expected key shape (2,) but received %s", op,
                 mx_shape_str(key->shape, key->ndim));
    return NULL;
  }
  return key;
}

static bool valid_shape(const char *op, const int *shape, int ndim) {
  if (ndim < 0 || ndim > MX_MAX_NDIM || (ndim && !shape)) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid shape (ndim %d)", op, ndim);
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

/* uniform-based samplers support the dtypes MLX's uniform does */
static bool uniform_dtype(const char *op, mx_dtype t) {
  if (t == MX_FLOAT16 || t == MX_BFLOAT16 || t == MX_FLOAT32) return true;
  if ((unsigned)t < MX_NUM_DTYPES && t == MX_FLOAT64)
    mx_set_error(MX_ERR_INVALID,
                 "[%s] float64 is not supported (as MLX: float16, bfloat16 or float32)",
                 op);
  else
    mx_set_error(MX_ERR_INVALID,
                 "[%s] can only generate real floating point numbers, not %s", op,
                 (unsigned)t < MX_NUM_DTYPES ? mx_dtype_name(t) : "an invalid dtype");
  return false;
}

mx_array *mx_random_split(mx_array *key, int num) {
  if (num < 0) {
    mx_set_error(MX_ERR_INVALID, "[split] num must be >= 0, got %d", num);
    return NULL;
  }
  int shape[2] = {num, 2};
  return mx_random_bits(shape, 2, 4, key);
}

mx_array *mx_random_bits(const int *shape, int ndim, int width, mx_array *key) {
  if (!valid_shape("bits", shape, ndim)) return NULL;
  mx_dtype t = width == 4 ? MX_UINT32 : width == 2 ? MX_UINT16 : MX_UINT8;
  if (width != 1 && width != 2 && width != 4) {
    mx_set_error(MX_ERR_INVALID, "[bits] bit width must be in {1, 2, 4} but got %d",
                 width);
    return NULL;
  }
  mx_array *k = use_key("bits", key);
  MX_CHECK_NULL1(k);
  mx_random_bits_params p = {width};
  return mx_node_make1(&mx_prim_random_bits, &p, sizeof p, &k, 1, t, shape, ndim);
}

static mx_array *sampler(const char *op, const mx_random_params *p, const int *shape,
                         int ndim, mx_dtype t, mx_array *key) {
  mx_array *k = use_key(op, key);
  MX_CHECK_NULL1(k);
  return mx_node_make1(&mx_prim_random, p, sizeof *p, &k, 1, t, shape, ndim);
}

mx_array *mx_random_uniform(double low, double high, const int *shape, int ndim,
                            mx_dtype t, mx_array *key) {
  if (!valid_shape("uniform", shape, ndim) || !uniform_dtype("uniform", t)) return NULL;
  mx_random_params p = {.kind = MX_RAND_UNIFORM, .a = low, .b = high};
  return sampler("uniform", &p, shape, ndim, t, key);
}

mx_array *mx_random_normal(const int *shape, int ndim, mx_dtype t, double loc,
                           double scale, mx_array *key) {
  if (!valid_shape("normal", shape, ndim)) return NULL;
  if (!mx_dtype_is_floating(t) && t != MX_COMPLEX64) {
    mx_set_error(MX_ERR_INVALID,
                 "[normal] only floating point and complex64 types are supported");
    return NULL;
  }
  /* loc == 0 is MLX's default (no add), which keeps -0.0 */
  mx_random_params p = {
      .kind = MX_RAND_NORMAL, .a = loc, .b = scale, .has_loc = loc != 0};
  return sampler("normal", &p, shape, ndim, t, key);
}

mx_array *mx_random_randint(int64_t low, int64_t high, const int *shape, int ndim,
                            mx_dtype t, mx_array *key) {
  if (!valid_shape("randint", shape, ndim)) return NULL;
  if ((unsigned)t >= MX_NUM_DTYPES || mx_dtype_is_inexact(t)) {
    mx_set_error(MX_ERR_INVALID,
                 "[randint] randint only accepts integer dtypes and bool");
    return NULL;
  }
  mx_random_params p = {.kind = MX_RAND_RANDINT, .ia = low, .ib = high};
  return sampler("randint", &p, shape, ndim, t, key);
}

mx_array *mx_random_gumbel(const int *shape, int ndim, mx_dtype t, mx_array *key) {
  if (!valid_shape("gumbel", shape, ndim) || !uniform_dtype("gumbel", t)) return NULL;
  mx_random_params p = {.kind = MX_RAND_GUMBEL};
  return sampler("gumbel", &p, shape, ndim, t, key);
}

mx_array *mx_random_truncated_normal(double lower, double upper, const int *shape,
                                     int ndim, mx_dtype t, mx_array *key) {
  if (!valid_shape("truncated_normal", shape, ndim) ||
      !uniform_dtype("truncated_normal", t))
    return NULL;
  mx_random_params p = {.kind = MX_RAND_TRUNC_NORMAL, .a = lower, .b = upper};
  return sampler("truncated_normal", &p, shape, ndim, t, key);
}

mx_array *mx_random_bernoulli(mx_array *p, const int *shape, int ndim, mx_array *key) {
  MX_CHECK_NULL1(p);
  if (!shape) {
    shape = p->shape;
    ndim = p->ndim;
  }
  if (!valid_shape("bernoulli", shape, ndim)) return NULL;
  if (!mx_dtype_is_floating(p->dtype)) {
    mx_set_error(MX_ERR_INVALID, "[bernoulli] probability p must be a float type, not %s",
                 mx_dtype_name(p->dtype));
    return NULL;
  }
  int bs[MX_MAX_NDIM], bnd;
  if (!mx_broadcast_shapes(p->shape, p->ndim, shape, ndim, bs, &bnd) || bnd != ndim ||
      memcmp(bs, shape, (size_t)ndim * sizeof(int)) != 0) {
    mx_set_error(MX_ERR_INVALID, "[bernoulli] shape of p %s does not broadcast to %s",
                 mx_shape_str(p->shape, p->ndim), mx_shape_str(shape, ndim));
    return NULL;
  }
  mx_array *k = use_key("bernoulli", key);
  MX_CHECK_NULL1(k);
  mx_random_params prm = {.kind = MX_RAND_BERNOULLI};
  mx_array *in[2] = {k, p};
  return mx_node_make1(&mx_prim_random, &prm, sizeof prm, in, 2, MX_BOOL, shape, ndim);
}

mx_array *mx_random_categorical(mx_array *logits, int axis, int num_samples,
                                mx_array *key) {
  MX_CHECK_NULL1(logits);
  int nd = logits->ndim;
  int ax = axis;
  if (!mx_norm_axis(&ax, nd)) {
    mx_set_error(MX_ERR_INVALID,
                 "[categorical] invalid axis %d for logits with %d dimensions", axis, nd);
    return NULL;
  }
  if (logits->dtype == MX_COMPLEX64) {
    mx_set_error(MX_ERR_INVALID, "[categorical] logits must be real, not complex64");
    return NULL;
  }
  int ncat = logits->shape[ax];
  int shape[MX_MAX_NDIM], ond = 0;
  for (int d = 0; d < nd; d++)
    if (d != ax) shape[ond++] = logits->shape[d];
  if (num_samples > 0) {
    if (ond + 1 > MX_MAX_NDIM) {
      mx_set_error(MX_ERR_INVALID, "[categorical] too many dimensions");
      return NULL;
    }
    shape[ond++] = num_samples;
  }
  int64_t osize = mx_shape_size(shape, ond);
  if (ncat == 0 && osize > 0) {
    mx_set_error(MX_ERR_INVALID, "[categorical] cannot sample from zero categories");
    return NULL;
  }
  mx_array *k = use_key("categorical", key);
  MX_CHECK_NULL1(k);
  mx_categorical_params p = {
      .axis = ax,
      .num_samples = num_samples > 0,
      /* MLX: one distribution and a non-empty sample shape -> inverse CDF */
      .inverse_cdf = ncat > 0 && logits->size == ncat && ond > 0,
  };
  mx_array *in[2] = {k, logits};
  return mx_node_make1(&mx_prim_random_categorical, &p, sizeof p, in, 2, MX_UINT32, shape,
                       ond);
}

mx_array *mx_random_permutation(int n, mx_array *key) {
  if (n < 0) {
    mx_set_error(MX_ERR_INVALID, "[permutation] n must be >= 0, got %d", n);
    return NULL;
  }
  mx_array *k = use_key("permutation", key);
  MX_CHECK_NULL1(k);
  mx_permutation_params p = {0};
  return mx_node_make1(&mx_prim_random_permutation, &p, sizeof p, &k, 1, MX_UINT32, &n,
                       1);
}

mx_array *mx_random_permutation_array(mx_array *a, int axis, mx_array *key) {
  MX_CHECK_NULL1(a);
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[permutation] invalid axis %d for a %d-d array", axis,
                 a->ndim);
    return NULL;
  }
  mx_array *k = use_key("permutation", key);
  MX_CHECK_NULL1(k);
  mx_permutation_params p = {ax};
  mx_array *in[2] = {k, a};
  return mx_node_make1(&mx_prim_random_permutation, &p, sizeof p, in, 2, a->dtype,
                       a->shape, a->ndim);
}
