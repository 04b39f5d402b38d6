/* mx/random.h: key-based, splittable random numbers (threefry2x32, as MLX).
 * A key is a uint32 array of shape (2,). Functions taking `key` use the
 * process-wide global key (mx_random_seed) when key is NULL, splitting it so
 * successive calls differ. Same key -> same numbers on every backend. */
#ifndef MX_RANDOM_H
#define MX_RANDOM_H

#include "array.h"

#ifdef __cplusplus
extern "C" {
#endif

mx_array *mx_random_key(uint64_t seed);
void mx_random_seed(uint64_t seed);
/* (num, 2) keys */
mx_array *mx_random_split(mx_array *key, int num);
/* Raw random bits: uint32 array of shape (width = 4 bytes). */
mx_array *mx_random_bits(const int *shape, int ndim, int width, mx_array *key);
mx_array *mx_random_uniform(double low, double high, const int *shape, int ndim,
                            mx_dtype t, mx_array *key);
mx_array *mx_random_normal(const int *shape, int ndim, mx_dtype t, double loc,
                           double scale, mx_array *key);
/* integers in [low, high) */
mx_array *mx_random_randint(int64_t low, int64_t high, const int *shape, int ndim,
                            mx_dtype t, mx_array *key);
/* p broadcast to shape; shape == NULL uses p's shape */
mx_array *mx_random_bernoulli(mx_array *p, const int *shape, int ndim, mx_array *key);
/* Samples from logits along axis; num_samples > 0 appends that many draws
 * (shape: logits' shape without axis, plus num_samples), else one draw per
 * row (shape without axis). */
mx_array *mx_random_categorical(mx_array *logits, int axis, int num_samples,
                                mx_array *key);
mx_array *mx_random_gumbel(const int *shape, int ndim, mx_dtype t, mx_array *key);
mx_array *mx_random_truncated_normal(double lower, double upper, const int *shape,
                                     int ndim, mx_dtype t, mx_array *key);
/* Permutation of arange(n). */
mx_array *mx_random_permutation(int n, mx_array *key);
/* Shuffle of a along axis. */
mx_array *mx_random_permutation_array(mx_array *a, int axis, mx_array *key);

#ifdef __cplusplus
}
#endif
#endif
