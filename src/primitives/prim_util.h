/* prim_util.h: helpers for primitive tables. MX_CUDA_FN(f) is f in a CUDA
 * build and NULL otherwise, so a table entry names its CUDA kernel once and
 * a CPU-only build reports "no CUDA kernel" instead of failing to link. */
#ifndef MX_PRIM_UTIL_H
#define MX_PRIM_UTIL_H

#include "../core/core.h"

#ifdef MX_WITH_CUDA
#define MX_CUDA_FN(f) (f)
#else
#define MX_CUDA_FN(f) NULL
#endif

/* Params of node n as type T. */
#define MX_PARAMS(T, n) ((const T *)(n)->params)

#endif
