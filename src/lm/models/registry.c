/* registry.c: model_type -> architecture. */
#include <string.h>

#include "../model.h"

extern const mx_lm_arch mx_lm_arch_llama, mx_lm_arch_mistral, mx_lm_arch_qwen2,
    mx_lm_arch_qwen3, mx_lm_arch_phi3;

static const mx_lm_arch *const k_archs[] = {&mx_lm_arch_llama, &mx_lm_arch_mistral,
                                            &mx_lm_arch_qwen2, &mx_lm_arch_qwen3,
                                            &mx_lm_arch_phi3};

const mx_lm_arch *mx_lm_find_arch(const char *model_type) {
  for (size_t i = 0; i < sizeof k_archs / sizeof *k_archs; i++)
    if (!strcmp(k_archs[i]->model_type, model_type)) return k_archs[i];
  return NULL;
}
