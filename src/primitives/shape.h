/* shape.h: shape primitives that move data: concatenate, pad and roll.
 * (stack, split, tile and repeat are compositions of these and of views.) */
#ifndef MX_PRIM_SHAPE_H
#define MX_PRIM_SHAPE_H

#include "prim_util.h"

typedef struct {
  int axis; /* normalised */
} mx_concatenate_params;

/* inputs: a, value (0-d, a's dtype). lo/hi per axis of a (0 where not
 * padded). */
typedef struct {
  int lo[MX_MAX_NDIM];
  int hi[MX_MAX_NDIM];
  int mode; /* mx_pad_mode */
} mx_pad_params;

/* out[i] = a[(i - shift) mod n] per axis; shift normalised to [0, n). */
typedef struct {
  int shift[MX_MAX_NDIM];
} mx_roll_params;

extern const mx_prim mx_prim_concatenate;
extern const mx_prim mx_prim_pad;
extern const mx_prim mx_prim_roll;

mx_status mx_cpu_concatenate(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_pad(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_roll(mx_node *n, mx_array **in, mx_array **out);

#endif
