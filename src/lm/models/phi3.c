/* phi3.c: Phi-3 / Phi-3.5 (Phi3ForCausalLM): the Llama decoder with q, k and v
 * fused into one qkv_proj and gate and up into one gate_up_proj (split after
 * the matmul, as transformers and mlx-lm do), often with longrope scaling. */
#include "../model.h"

const mx_lm_arch mx_lm_arch_phi3 = {
    .model_type = "phi3",
    .fused_qkv = true,
    .fused_gate_up = true,
    .forward = mx_lm_decoder_forward,
};
