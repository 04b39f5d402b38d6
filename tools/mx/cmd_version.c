/* cmd_version.c: `mx version` / `mx --version`. */
#include <stdio.h>

#include "cli.h"
#include "mx/mx.h"

int mx_cli_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("mx %s (cuda: %s)\n", mx_version(),
         mx_gpu_available() ? "available" : "not available");
  return 0;
}
