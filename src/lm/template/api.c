/* api.c: the public template API (mx/template.h): options, parse, render
 * with a JSON context, and transformers' apply_chat_template. Each call sets
 * up an arena and a setjmp point; any error inside unwinds here, is worded
 * "[template] line N: message" plus the template line, and recorded with
 * mx_set_error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

void mx_template_options_init(mx_template_options *o) {
  memset(o, 0, sizeof *o);
  o->trim_blocks = true;
  o->lstrip_blocks = true;
  o->keep_trailing_newline = false;
  o->max_depth = 100;
  o->max_steps = 2 * 1000 * 1000;
  o->max_output = (size_t)64 << 20;
  o->max_memory = (size_t)256 << 20;
  o->fixed_time = false;
  o->time = 0;
}

/* "[template] line N: msg" followed by the source line, malloc'd */
static char *format_error(const char *src, int line, const char *msg) {
  const char *ls = NULL;
  size_t ln = 0;
  if (src && line > 0) {
    const char *p = src;
    for (int k = 1; k < line && p; k++) {
      p = strchr(p, '\n');
      if (p) p++;
    }
    if (p) {
      ls = p;
      const char *e = strchr(p, '\n');
      ln = e ? (size_t)(e - p) : strlen(p);
      while (ln && (*ls == ' ' || *ls == '\t')) ls++, ln--;
      if (ln > 160) ln = 160;
    }
  }
  size_t cap = strlen(msg) + ln + 64;
  char *s = malloc(cap);
  if (!s) return NULL;
  if (line > 0) {
    int k = snprintf(s, cap, "[template] line %d: %s", line, msg);
    if (ls && ln) snprintf(s + k, cap - (size_t)k, "\n    %.*s", (int)ln, ls);
  } else {
    snprintf(s, cap, "[template] %s", msg);
  }
  return s;
}

static void report(mx_status st, const char *src, int line, const char *msg, char **err) {
  char *m = format_error(src, line, msg);
  mx_set_error(st, "%s", m ? m : msg);
  if (err) {
    *err = m;
  } else {
    free(m);
  }
}

static bool check_opts(const mx_template_options *o, char **err) {
  if (o->max_depth < 1 || o->max_steps < 1 || o->max_output < 1 || o->max_memory < 4096) {
    report(MX_ERR_INVALID, NULL, 0, "invalid options (limits must be positive)", err);
    return false;
  }
  return true;
}

mx_template *mx_template_parse_opts(const char *src, const mx_template_options *opts,
                                    char **err) {
  if (err) *err = NULL;
  mx_template_options o;
  if (opts) {
    o = *opts;
  } else {
    mx_template_options_init(&o);
  }
  if (!src) {
    report(MX_ERR_INVALID, NULL, 0, "NULL template source", err);
    return NULL;
  }
  if (!check_opts(&o, err)) return NULL;
  mx_template *t = calloc(1, sizeof *t);
  if (!t) {
    report(MX_ERR_NOMEM, NULL, 0, "out of memory", err);
    return NULL;
  }
  t->opt = o;
  jt_arena_init(&t->ar, o.max_memory, &t->err);
  if (setjmp(t->err.jb)) {
    report(t->err.st, t->src, t->err.line, t->err.msg, err);
    jt_arena_release(&t->ar);
    free(t);
    return NULL;
  }
  jt_parse(t, src);
  return t;
}

mx_template *mx_template_parse(const char *src, char **err) {
  return mx_template_parse_opts(src, NULL, err);
}

void mx_template_free(mx_template *t) {
  if (!t) return;
  jt_arena_release(&t->ar);
  free(t);
}

/* what apply_chat_template adds to the context */
typedef struct {
  const char *messages, *tools, *extra, *bos, *eos;
  bool add_generation_prompt;
} chat_args;

typedef struct {
  jt_ctx c;
  jt_err err;
} render_state;

static jdict *build_vars(jt_ctx *c, const char *context_json, const chat_args *chat) {
  if (!chat) {
    if (!context_json || !*context_json) return jd_new(&c->ar, 0);
    jv v = jt_json_parse(c, context_json, "the context");
    if (v.t != JV_DICT) jt_error(c, "the context must be a JSON object");
    return v.d;
  }
  jdict *d = jd_new(&c->ar, 8);
  if (!chat->messages) jt_error(c, "messages are required");
  jd_set(c, d, jv_cstr(&c->ar, "messages"), jt_json_parse(c, chat->messages, "messages"));
  jd_set(c, d, jv_cstr(&c->ar, "tools"),
         chat->tools ? jt_json_parse(c, chat->tools, "tools") : jv_none());
  jd_set(c, d, jv_cstr(&c->ar, "documents"), jv_none());
  jd_set(c, d, jv_cstr(&c->ar, "add_generation_prompt"),
         jv_bool(chat->add_generation_prompt));
  if (chat->bos) jd_set(c, d, jv_cstr(&c->ar, "bos_token"), jv_cstr(&c->ar, chat->bos));
  if (chat->eos) jd_set(c, d, jv_cstr(&c->ar, "eos_token"), jv_cstr(&c->ar, chat->eos));
  if (chat->extra && *chat->extra) {
    jv x = jt_json_parse(c, chat->extra, "extra kwargs");
    if (x.t != JV_DICT) jt_error(c, "extra kwargs must be a JSON object");
    for (size_t i = 0; i < x.d->n; i++) {
      if (x.d->k[i].t == JV_STR && !strcmp(x.d->k[i].s->p, "messages")) continue;
      jd_set(c, d, x.d->k[i], x.d->v[i]);
    }
  }
  return d;
}

static mx_status render_impl(const mx_template *t, const char *context_json,
                             const chat_args *chat, char **out) {
  render_state *rs = calloc(1, sizeof *rs);
  if (!rs) return mx_set_error(MX_ERR_NOMEM, "[template] out of memory");
  jt_ctx *c = &rs->c;
  c->err = &rs->err;
  c->t = t;
  jt_arena_init(&c->ar, t->opt.max_memory, c->err);
  if (setjmp(rs->err.jb)) {
    mx_status st = rs->err.st ? rs->err.st : MX_ERR_INVALID;
    report(st, t->src, rs->err.line, rs->err.msg, NULL);
    jt_arena_release(&rs->c.ar);
    free(rs);
    return st;
  }
  c->line = 0; /* errors in the context are not at a template line */
  jdict *vars = build_vars(c, context_json, chat);
  jt_scope *root = jt_scope_new(c, NULL);
  root->dict = vars;
  c->sc = jt_scope_new(c, root);
  jt_buf *buf = jt_zalloc(&c->ar, sizeof *buf);
  c->out = buf;
  jt_exec_template(c);
  char *s = malloc(buf->n + 1);
  if (!s) jt_fail(c->err, 0, MX_ERR_NOMEM, "out of memory");
  if (buf->n) memcpy(s, buf->p, buf->n);
  s[buf->n] = 0;
  *out = s;
  jt_arena_release(&c->ar);
  free(rs);
  return MX_OK;
}

mx_status mx_template_render(const mx_template *t, const char *context_json, char **out) {
  if (out) *out = NULL;
  if (!t || !out)
    return mx_set_error(MX_ERR_INVALID, "[template] NULL template or output");
  return render_impl(t, context_json, NULL, out);
}

mx_status mx_chat_template_apply_opts(const char *template_src, const char *messages_json,
                                      const char *tools_json_or_null,
                                      bool add_generation_prompt,
                                      const char *extra_kwargs_json_or_null,
                                      const char *bos_token, const char *eos_token,
                                      const mx_template_options *o, char **out) {
  if (out) *out = NULL;
  if (!template_src || !messages_json || !out)
    return mx_set_error(MX_ERR_INVALID, "[template] NULL template, messages or output");
  mx_template *t = mx_template_parse_opts(template_src, o, NULL);
  if (!t) return mx_last_status();
  chat_args ch = {messages_json, tools_json_or_null, extra_kwargs_json_or_null,
                  bos_token,     eos_token,          add_generation_prompt};
  mx_status st = render_impl(t, NULL, &ch, out);
  mx_template_free(t);
  return st;
}

mx_status mx_chat_template_apply(const char *template_src, const char *messages_json,
                                 const char *tools_json_or_null,
                                 bool add_generation_prompt,
                                 const char *extra_kwargs_json_or_null,
                                 const char *bos_token, const char *eos_token,
                                 char **out) {
  return mx_chat_template_apply_opts(template_src, messages_json, tools_json_or_null,
                                     add_generation_prompt, extra_kwargs_json_or_null,
                                     bos_token, eos_token, NULL, out);
}
