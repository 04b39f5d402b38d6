/* mistral.c: Mistral: the Llama decoder with a sliding attention window on
 * every layer (a token attends to the `sliding_window` most recent positions,
 * itself included). */
#include "../model.h"

const mx_lm_arch mx_lm_arch_mistral = {
    .model_type = "mistral",
    .forward = mx_lm_decoder_forward,
};
