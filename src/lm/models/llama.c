/* llama.c: the Llama family (Llama 2/3, stories260K, SmolLM, ...): a
 * pre-norm decoder with GQA, rotary embeddings (any rope_type) and a SwiGLU
 * MLP. Llama has no sliding window. */
#include "../model.h"

static mx_status configure(mx_lm_config *cfg, const cJSON *json) {
  (void)json;
  for (int i = 0; i < cfg->num_layers; i++) cfg->layer_sliding[i] = false;
  cfg->sliding_window = 0;
  return MX_OK;
}

const mx_lm_arch mx_lm_arch_llama = {
    .model_type = "llama",
    .configure = configure,
    .forward = mx_lm_decoder_forward,
};
