/* compile_cuda.c: where CUDA fusion will go.
 *
 * The plan: the same region description the CPU generator reads
 * (mx_fused_region: ops over inputs, literals and earlier ops, with dtypes)
 * becomes CUDA C for NVRTC: one thread per output element (a grid-stride
 * loop), inputs addressed through their broadcast strides (passed as
 * kernel arguments, dimensions merged on the host as mx_cpu_compiled
 * does), float16/bfloat16 through __half/__nv_bfloat16 conversions with
 * the same per-op rounding, exp/tanh/sigmoid through the CUDA kernels'
 * own formulas. The module is cached by the source hash like the CPU
 * libraries, and mx_cuda_fused launches it on the node's stream.
 *
 * Until then the build hook reports that there is no CUDA fusion, and
 * compile keeps regions on GPU streams unfused (their ops run their own
 * CUDA kernels; it says so once on stderr). The eval slot reports an error
 * too: a `compiled` node never runs CPU code behind a GPU stream's back. */
#include "compile.h"

mx_status mx_fuse_cuda_build(mx_fused_region *r, char **src) {
  (void)r;
  if (src) *src = NULL;
  return mx_set_error(MX_ERR_UNSUPPORTED, "[compile] no CUDA fusion yet");
}

mx_status mx_cuda_fused(mx_node *n, mx_array **in, mx_array **out) {
  (void)n, (void)in, (void)out;
  return mx_set_error(MX_ERR_UNSUPPORTED, "[compile] no CUDA fusion yet");
}
