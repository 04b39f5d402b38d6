/* rules.h: the transform rules (vjp, jvp, vmap) of every primitive, named
 * mx_{vjp,jvp,vmap}_<prim>. Tables in src/primitives/<family>.c point at
 * them; bodies live in src/transforms/rules_<family>.c. The contract is in
 * src/transforms/tr.h. */
#ifndef MX_TR_RULES_H
#define MX_TR_RULES_H

#include "../core/core.h"

#define MX_TR_VJP(x)                                                          \
  mx_status mx_vjp_##x(mx_node *n, mx_array *const *in, mx_array *const *out, \
                       mx_array *const *cotan, const int *argnums, int nargs, \
                       mx_array **grads)
#define MX_TR_JVP(x)                                                               \
  mx_status mx_jvp_##x(mx_node *n, mx_array *const *in, mx_array *const *tangents, \
                       const int *argnums, int nargs, mx_array **out_tangents)
#define MX_TR_VMAP(x)                                                        \
  mx_status mx_vmap_##x(mx_node *n, mx_array *const *in, const int *in_axes, \
                        mx_array **out, int *out_axes)
#define MX_TR_RULES(x) \
  MX_TR_VJP(x);        \
  MX_TR_JVP(x);        \
  MX_TR_VMAP(x)

/* views */
MX_TR_RULES(reshape);
MX_TR_RULES(transpose);
MX_TR_RULES(broadcast);
MX_TR_RULES(slice);
MX_TR_RULES(as_strided);
/* layout */
MX_TR_RULES(astype);
MX_TR_RULES(copy);
MX_TR_VMAP(view);
/* creation (no inputs except trimask) */
MX_TR_RULES(trimask);
/* linalg */
MX_TR_RULES(matmul);
MX_TR_RULES(addmm);
/* conv */
MX_TR_RULES(conv);
/* shape */
MX_TR_RULES(concatenate);
MX_TR_RULES(pad);
MX_TR_RULES(roll);
/* indexing */
MX_TR_RULES(slice_update);
MX_TR_RULES(dynamic_slice);
MX_TR_RULES(dynamic_slice_update);
MX_TR_RULES(take);
MX_TR_RULES(take_along_axis);
MX_TR_RULES(put_along_axis);
MX_TR_RULES(gather);
MX_TR_RULES(scatter);
/* quantized */
MX_TR_VMAP(quantize);
MX_TR_RULES(dequantize);
MX_TR_RULES(quantized_matmul);
/* unary / binary */
MX_TR_RULES(unary);
MX_TR_VMAP(stop_gradient);
MX_TR_RULES(binary);
MX_TR_RULES(select);
MX_TR_VMAP(all_compare);
/* reductions, scans, softmax, sorting */
MX_TR_RULES(reduce);
MX_TR_RULES(logsumexp);
MX_TR_VMAP(arg_reduce);
MX_TR_RULES(scan);
MX_TR_RULES(softmax);
MX_TR_RULES(sort); /* sort and partition; argsort/argpartition: vmap only */
/* fast */
MX_TR_RULES(rms_norm);
MX_TR_RULES(layer_norm);
MX_TR_RULES(rope);
MX_TR_RULES(sdpa);
/* random: no gradient (zero) except the shuffle of permutation(a); all
 * batched by an explicit loop (a batched key needs one draw per key) */
MX_TR_VJP(random_permutation);
MX_TR_JVP(random_permutation);
MX_TR_VJP(zero);
MX_TR_JVP(zero);
MX_TR_VMAP(loop);

#endif
