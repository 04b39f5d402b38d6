/* qwen2.c: Qwen2 / Qwen2.5: the Llama decoder with biases on the q, k and v
 * projections; sliding windows only when use_sliding_window is set (for the
 * layers config.json's layer_types marks). */
#include <string.h>

#include "../model.h"

mx_status mx_lm_qwen_configure(mx_lm_config *cfg, const cJSON *json);
mx_status mx_lm_qwen_configure(mx_lm_config *cfg, const cJSON *json) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(json, "use_sliding_window");
  if (!cJSON_IsTrue(u)) {
    for (int i = 0; i < cfg->num_layers; i++) cfg->layer_sliding[i] = false;
    cfg->sliding_window = 0;
  }
  return MX_OK;
}

const mx_lm_arch mx_lm_arch_qwen2 = {
    .model_type = "qwen2",
    .configure = mx_lm_qwen_configure,
    .qkv_bias = true,
    .forward = mx_lm_decoder_forward,
};
