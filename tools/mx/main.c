/* main.c: the mx command line: dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mx/mx.h"

static const mx_cli_command k_commands[] = {
    {"generate", "generate text (mlx_lm.generate)", mx_cli_generate},
    {"chat", "chat in the terminal (mlx_lm.chat)", mx_cli_chat},
    {"cache-prompt", "save a prompt's KV cache (mlx_lm.cache_prompt)",
     mx_cli_cache_prompt},
    {"tokenize", "text -> token ids as JSON", mx_cli_tokenize},
    {"detokenize", "token ids (JSON on stdin) -> text", mx_cli_detokenize},
    {"template", "render the model's chat template", mx_cli_template},
    {"version", "print the version", mx_cli_version},
};

static void usage(FILE *f) {
  fprintf(f,
          "mx %s: MLX and MLX-LM in C\n"
          "\n"
          "usage: mx <command> [options]\n"
          "\n"
          "commands:\n",
          mx_version());
  for (size_t i = 0; i < sizeof k_commands / sizeof *k_commands; i++)
    fprintf(f, "  %-14s %s\n", k_commands[i].name, k_commands[i].help);
  fprintf(f,
          "\n"
          "options:\n"
          "  -h, --help     show this help\n"
          "  --version      print the version\n"
          "\n"
          "environment:\n"
          "  MX_NUM_THREADS     CPU worker threads (default: all cores)\n"
          "  OPENBLAS_NUM_THREADS\n"
          "                     set: OpenBLAS threads float32 products itself (default:\n"
          "                     mx splits them over its own workers)\n"
          "  MX_CPU_ISA         cap the matmul/quantized kernels: generic, avx2, avx512,\n"
          "                     avx512bf16, amx (default: the best the CPU has)\n"
          "  MX_SIMD            cap the element-wise kernels: none, avx2, avx512\n"
          "  MX_PREFETCH_NTA    0 or 1: decode prefetches weights non-temporal (default:\n"
          "                     1 on AMD CPUs, 0 elsewhere)\n"
          "  MX_INT8_ACTIVATIONS\n"
          "                     1: as --int8-activations (4-/8-bit products with\n"
          "                     int8 activations, AVX512-VNNI; not bit-exact)\n"
          "  MX_DEFAULT_MODEL   model used when --model is not given\n"
          "  HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE\n"
          "                     Hugging Face cache and download settings, as huggingface_hub\n"
          "  MX_COMPILE_DISABLE=1, MX_CC\n"
          "                     compile: no generated kernels; the C compiler to use\n"
          "\n"
          "Run 'mx <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
  /* one pool: OpenBLAS's polling threads would take a core from it */
  mx_blas_on_pool();
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) return mx_cli_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof k_commands / sizeof *k_commands; i++)
    if (!strcmp(cmd, k_commands[i].name)) return k_commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "mx: unknown command '%s' (see 'mx --help')\n", cmd);
  return 2;
}
