/* cli.h: the subcommand table shared by main.c and the command files. Each
 * command gets argv starting at its own name and returns the exit code
 * (0 ok, 1 runtime error, 2 usage error). */
#ifndef MX_CLI_H
#define MX_CLI_H

typedef struct {
  const char *name;
  const char *help;
  int (*run)(int argc, char **argv);
} mx_cli_command;

int mx_cli_version(int argc, char **argv);
int mx_cli_generate(int argc, char **argv);
int mx_cli_chat(int argc, char **argv);
int mx_cli_tokenize(int argc, char **argv);
int mx_cli_detokenize(int argc, char **argv);
int mx_cli_template(int argc, char **argv);
int mx_cli_cache_prompt(int argc, char **argv);

#endif
