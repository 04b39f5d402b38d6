/* cuda_binary.c: eval_cuda of the binary primitive for the first CUDA slice:
 * add, subtract and multiply (float32, float64, float16, bfloat16, int32,
 * int64, uint32, uint8). Every other op code or dtype fails with
 * "no CUDA kernel for <op>", never a silent CPU fallback. */
#include "../../primitives/binary.h"
#include "cuda_backend.h"

mx_status mx_cuda_binary(mx_node *n, mx_array **in, mx_array **out) {
  const mx_binary_params *p = MX_PARAMS(mx_binary_params, n);
  int op = p->op == MX_BOP_ADD        ? 0
           : p->op == MX_BOP_MULTIPLY ? 1
           : p->op == MX_BOP_SUBTRACT ? 2
                                      : -1;
  if (op < 0)
    return mx_set_error(MX_ERR_UNSUPPORTED, "[%s] no CUDA kernel for %s",
                        mx_binary_op_name(p->op), mx_binary_op_name(p->op));
  mx_status rc = mx_cuda_inputs(n, in);
  if (rc != MX_OK) return rc;
  rc = mx_cuda_array_alloc(out[0]);
  if (rc != MX_OK) return rc;
  char err[MX_CUDA_ERR_LEN];
  int lrc = mx_cuda_launch_binary(
      op, mx_cuda_ptr(in[0]), mx_cuda_layout_broadcast(in[0], out[0]), mx_cuda_ptr(in[1]),
      mx_cuda_layout_broadcast(in[1], out[0]), out[0]->buf->dev, out[0]->dtype,
      out[0]->size, err);
  if (lrc == 2)
    return mx_set_error(MX_ERR_UNSUPPORTED, "[%s] no CUDA kernel for %s of %s",
                        mx_binary_op_name(p->op), mx_binary_op_name(p->op),
                        mx_dtype_name(out[0]->dtype));
  return mx_cuda_check(lrc, mx_binary_op_name(p->op), err);
}
