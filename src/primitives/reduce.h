/* reduce.h: primitives of the reduction family: Reduce (sum, prod, max, min,
 * all, any, mean, var, std), LogSumExp, ArgReduce (argmax/argmin), Scan
 * (cumsum/cumprod/cummax/cummin), Softmax, and the sorting primitives Sort,
 * ArgSort, Partition, ArgPartition.
 *
 * Params are plain data compared bytewise (constructors memset them), and
 * carry everything a vjp/jvp/vmap needs: the op code, the reduced axes as a
 * bitmask over the INPUT's axes, keepdims and ddof. */
#ifndef MX_PRIM_REDUCE_H
#define MX_PRIM_REDUCE_H

#include "prim_util.h"

typedef enum {
  MX_REDUCE_SUM,
  MX_REDUCE_PROD,
  MX_REDUCE_MAX,
  MX_REDUCE_MIN,
  MX_REDUCE_AND, /* all */
  MX_REDUCE_OR,  /* any */
  MX_REDUCE_MEAN,
  MX_REDUCE_VAR,
  MX_REDUCE_STD,
  MX_REDUCE_LOGSUMEXP
} mx_reduce_op;

/* Output: input shape with the axes in `axes` removed (or kept as 1 with
 * keepdims), row-major contiguous. */
typedef struct {
  int op;        /* mx_reduce_op */
  uint32_t axes; /* bit i set: input axis i is reduced */
  int ddof;      /* var/std only */
  bool keepdims;
} mx_reduce_params;

typedef enum { MX_ARGREDUCE_MAX, MX_ARGREDUCE_MIN } mx_argreduce_op;
typedef struct {
  int op; /* mx_argreduce_op */
  int axis;
  bool keepdims;
} mx_argreduce_params;

typedef enum { MX_SCAN_SUM, MX_SCAN_PROD, MX_SCAN_MAX, MX_SCAN_MIN } mx_scan_op;
typedef struct {
  int op; /* mx_scan_op */
  int axis;
  bool reverse;
  bool inclusive;
} mx_scan_params;

typedef struct {
  uint32_t axes; /* bitmask of the normalised axes */
  bool precise;
} mx_softmax_params;

/* sort/argsort use axis only; partition/argpartition also kth (normalised,
 * in [0, shape[axis])). */
typedef struct {
  int axis;
  int kth;
} mx_sort_params;

extern const mx_prim mx_prim_reduce;
extern const mx_prim mx_prim_logsumexp;
extern const mx_prim mx_prim_arg_reduce;
extern const mx_prim mx_prim_scan;
extern const mx_prim mx_prim_softmax;
extern const mx_prim mx_prim_sort;
extern const mx_prim mx_prim_argsort;
extern const mx_prim mx_prim_partition;
extern const mx_prim mx_prim_argpartition;

/* Reduce and LogSumExp share one kernel (the op code says which). */
mx_status mx_cpu_reduce(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_arg_reduce(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_scan(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_softmax(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_sort(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_argsort(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_partition(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_argpartition(mx_node *n, mx_array **in, mx_array **out);

#endif
