/* creation.h: primitives that make arrays from parameters: full, arange,
 * linspace, eye/tri, and the triangle mask applied by tril/triu. */
#ifndef MX_PRIM_CREATION_H
#define MX_PRIM_CREATION_H

#include "prim_util.h"

typedef struct {
  double value;
  int64_t ivalue; /* exact for 64-bit integer dtypes */
  bool is_int;
} mx_full_params;

typedef struct {
  double start, step;
  int64_t istart, istep;
  bool is_int;
} mx_arange_params;

typedef struct {
  double start, stop;
  int num;
} mx_linspace_params;

typedef struct {
  int k;
  int kind; /* 0: eye (diagonal k), 1: tri (ones on and below diagonal k) */
} mx_eye_params;

typedef struct {
  int k;
  bool upper; /* triu keeps j - i >= k; tril keeps j - i <= k */
} mx_trimask_params;

extern const mx_prim mx_prim_full;
extern const mx_prim mx_prim_arange;
extern const mx_prim mx_prim_linspace;
extern const mx_prim mx_prim_eye;
extern const mx_prim mx_prim_trimask;

mx_status mx_cpu_full(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_arange(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_linspace(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_eye(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_trimask(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cuda_full(mx_node *n, mx_array **in, mx_array **out);

#endif
