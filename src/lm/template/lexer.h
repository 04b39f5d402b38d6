/* lexer.h: tokens shared by lexer.c and parser.c. */
#ifndef MX_TEMPLATE_LEXER_H
#define MX_TEMPLATE_LEXER_H

#include "tmpl.h"

enum {
  TK_DATA,
  TK_VAR_BEGIN,
  TK_VAR_END,
  TK_BLOCK_BEGIN,
  TK_BLOCK_END,
  TK_NAME,
  TK_STRING,
  TK_INT,
  TK_FLOAT,
  TK_OP,
  TK_EOF
};

/* two-character operators; single-character ones are the character itself */
enum {
  TOP_FLOORDIV = 'F',
  TOP_POW = 'P',
  TOP_EQ = 'E',
  TOP_NE = 'N',
  TOP_GE = 'G',
  TOP_LE = 'L'
};

typedef struct {
  uint8_t type, op;
  int line;
  const char *s; /* TK_DATA: text; TK_NAME: NUL-terminated name */
  size_t n;
  jv val; /* TK_STRING, TK_INT, TK_FLOAT */
} jt_tok;

typedef struct {
  jt_tok *v;
  size_t n, cap;
} jt_toks;

void jt_lex(mx_template *t, const char *src, jt_toks *out);

#endif
