/* random.h: primitives of the random module (MLX's threefry2x32 counter-based
 * generator). Every primitive takes the key, a uint32 array of shape (2,), as
 * its first input, so sampling is lazy and the same key always gives the
 * same numbers.
 *
 *  random_bits         raw bits, MLX's RandomBits (width 1, 2 or 4 bytes)
 *  random              elementwise distributions built on 32-bit words:
 *                      uniform, normal, randint, gumbel, truncated_normal,
 *                      bernoulli (p is the second input, broadcast to out)
 *  random_categorical  sampling from logits (second input)
 *  random_permutation  argsort of random bits; with a second input, that
 *                      array shuffled along an axis
 *
 * The kernels reproduce MLX's op-by-op rounding (each MLX op rounds to the
 * dtype it computes in) so results match MLX's CPU backend bit for bit. */
#ifndef MX_PRIM_RANDOM_H
#define MX_PRIM_RANDOM_H

#include "prim_util.h"

typedef struct {
  int width; /* bytes per element: 1, 2 or 4 */
} mx_random_bits_params;

typedef enum {
  MX_RAND_UNIFORM = 0, /* a = low, b = high */
  MX_RAND_NORMAL,      /* a = loc, b = scale; has_loc: add loc */
  MX_RAND_RANDINT,     /* ia = low, ib = high */
  MX_RAND_GUMBEL,
  MX_RAND_TRUNC_NORMAL, /* a = lower, b = upper */
  MX_RAND_BERNOULLI,    /* in[1] = p */
} mx_random_kind;

typedef struct {
  int kind; /* mx_random_kind */
  double a, b;
  int64_t ia, ib;
  bool has_loc;
} mx_random_params;

typedef struct {
  /* Samples (gumbel path): shape G is the output shape with the category
   * axis (length n) inserted at `axis`; logits broadcast to G (with
   * num_samples, logits get a trailing axis of 1). */
  int axis;
  bool num_samples; /* logits broadcast along G's last axis */
  /* MLX draws from a single distribution (logits of size n, non-empty
   * output) by inverse CDF instead of gumbel-max. */
  bool inverse_cdf;
} mx_categorical_params;

typedef struct {
  int axis; /* axis of in[1] to shuffle; unused for permutation(n) */
} mx_permutation_params;

extern const mx_prim mx_prim_random_bits;
extern const mx_prim mx_prim_random;
extern const mx_prim mx_prim_random_categorical;
extern const mx_prim mx_prim_random_permutation;

mx_status mx_cpu_random_bits(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_random(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_random_categorical(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_random_permutation(mx_node *n, mx_array **in, mx_array **out);

/* MLX's layout of the 32-bit words drawn from one key: n words are filled
 * in pairs by counters (j, j + n/2 + n%2); an odd middle word uses
 * (n/2, 0). Runs on the worker pool. */
void mx_random_words(const uint32_t key[2], uint32_t *words, int64_t n);

/* The Threefry-2x32 block function with 20 rounds (Random123, as MLX and
 * JAX): encrypts counter ctr under key. Exposed for known-answer tests. */
void mx_threefry2x32(const uint32_t key[2], const uint32_t ctr[2], uint32_t out[2]);

#endif
