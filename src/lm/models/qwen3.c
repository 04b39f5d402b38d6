/* qwen3.c: Qwen3: the Llama decoder with per-head RMSNorm on q and k
 * (q_norm, k_norm over head_dim) before rope, and no q/k/v biases unless
 * attention_bias is set. */
#include "../model.h"

mx_status mx_lm_qwen_configure(mx_lm_config *cfg, const cJSON *json);

const mx_lm_arch mx_lm_arch_qwen3 = {
    .model_type = "qwen3",
    .configure = mx_lm_qwen_configure,
    .qk_norm = true,
    .forward = mx_lm_decoder_forward,
};
