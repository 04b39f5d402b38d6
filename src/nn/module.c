/* module.c: the module tree (MLX nn.Module): ordered entries (parameters and
 * children), dotted-name lookup, flatten/unflatten, freezing, training mode,
 * and loading/saving weights as safetensors under MLX's names.
 *
 * Paths are walked component by component without copying; names of entries
 * are single components (no '.'). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ---- construction ---- */

mx_module *mx_module_new(const char *type) {
  mx_module *m = calloc(1, sizeof *m);
  char *t = strdup(type ? type : "Module");
  if (!m || !t) {
    free(m);
    free(t);
    mx_set_error(MX_ERR_NOMEM, "[nn.module] out of memory");
    return NULL;
  }
  m->type = t;
  m->training = true;
  return m;
}

void mx_module_free(mx_module *m) {
  if (!m) return;
  for (int i = 0; i < m->n; i++) {
    free(m->e[i].name);
    mx_free(m->e[i].param);
    mx_module_free(m->e[i].child);
  }
  free(m->e);
  if (m->data_free) m->data_free(m->data);
  free(m->type);
  free(m);
}

const char *mx_module_type(const mx_module *m) { return m ? m->type : NULL; }

void mx_module_set_forward(mx_module *m, mx_module_forward_fn fn) {
  if (m) m->forward = fn;
}

void mx_module_set_data(mx_module *m, void *data, void (*free_fn)(void *)) {
  if (!m) return;
  if (m->data_free && m->data != data) m->data_free(m->data);
  m->data = data;
  m->data_free = free_fn;
}

void *mx_module_data(const mx_module *m) { return m ? m->data : NULL; }

mx_module *mx_nn_module_make(const char *type, const void *data, size_t size,
                             mx_module_forward_fn fwd) {
  mx_module *m = mx_module_new(type);
  if (!m) return NULL;
  if (size) {
    void *d = malloc(size);
    if (!d) {
      mx_module_free(m);
      mx_set_error(MX_ERR_NOMEM, "[nn.module] out of memory");
      return NULL;
    }
    memcpy(d, data, size);
    mx_module_set_data(m, d, free);
  }
  m->forward = fwd;
  return m;
}

void *mx_nn_data_of(const mx_module *m, const char *type, const char *op) {
  if (!m) {
    if (!mx_last_status()) mx_set_error(MX_ERR_INVALID, "[%s] NULL module", op);
    return NULL;
  }
  if (strcmp(m->type, type) != 0 || !m->data) {
    mx_set_error(MX_ERR_INVALID, "[%s] expected a %s module, got %s", op, type, m->type);
    return NULL;
  }
  return m->data;
}

/* ---- entries ---- */

static int find_local(const mx_module *m, const char *name, size_t len) {
  for (int i = 0; i < m->n; i++)
    if (strncmp(m->e[i].name, name, len) == 0 && m->e[i].name[len] == 0) return i;
  return -1;
}

static bool valid_name(const char *name) { return name && name[0] && !strchr(name, '.'); }

/* Index of a new entry at the end, or -1 on allocation failure. */
static int push_entry(mx_module *m, const char *name) {
  if (m->n == m->cap) {
    int nc = m->cap ? 2 * m->cap : 8;
    mx_mod_entry *ne = realloc(m->e, (size_t)nc * sizeof *ne);
    if (!ne) return -1;
    m->e = ne;
    m->cap = nc;
  }
  char *nm = strdup(name);
  if (!nm) return -1;
  m->e[m->n] = (mx_mod_entry){.name = nm};
  return m->n++;
}

mx_status mx_module_set_param(mx_module *m, const char *name, mx_array *a) {
  if (!m) return mx_set_error(MX_ERR_INVALID, "[nn.set_param] NULL module");
  if (!valid_name(name))
    return mx_set_error(MX_ERR_INVALID,
                        "[nn.set_param] invalid parameter name '%s' (empty or has '.')",
                        name ? name : "(null)");
  if (!a)
    return mx_last_status()
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[nn.set_param] NULL array for '%s'", name);
  int i = find_local(m, name, strlen(name));
  if (i >= 0 && m->e[i].child)
    return mx_set_error(MX_ERR_INVALID,
                        "[nn.set_param] '%s' is a child module of %s, not a parameter",
                        name, m->type);
  if (i < 0 && (i = push_entry(m, name)) < 0)
    return mx_set_error(MX_ERR_NOMEM, "[nn.set_param] out of memory");
  mx_keep(a); /* before the free: a may be the entry's own array */
  mx_free(m->e[i].param);
  m->e[i].param = a;
  return MX_OK;
}

bool mx_nn_set(mx_module *m, const char *name, mx_array *a) {
  return mx_module_set_param(m, name, a) == MX_OK;
}

mx_status mx_module_set_child(mx_module *m, const char *name, mx_module *child) {
  if (!m) {
    mx_module_free(child);
    return mx_set_error(MX_ERR_INVALID, "[nn.set_child] NULL module");
  }
  if (!child) {
    return mx_last_status() ? mx_last_status()
                            : mx_set_error(MX_ERR_INVALID, "[nn.set_child] NULL child");
  }
  if (!valid_name(name)) {
    mx_module_free(child);
    return mx_set_error(MX_ERR_INVALID,
                        "[nn.set_child] invalid child name '%s' (empty or has '.')",
                        name ? name : "(null)");
  }
  if (child == m)
    return mx_set_error(MX_ERR_INVALID, "[nn.set_child] a module cannot contain itself");
  int i = find_local(m, name, strlen(name));
  if (i >= 0 && m->e[i].param) {
    mx_module_free(child);
    return mx_set_error(MX_ERR_INVALID,
                        "[nn.set_child] '%s' is a parameter of %s, not a child", name,
                        m->type);
  }
  if (i < 0 && (i = push_entry(m, name)) < 0) {
    mx_module_free(child);
    return mx_set_error(MX_ERR_NOMEM, "[nn.set_child] out of memory");
  }
  if (m->e[i].child != child) mx_module_free(m->e[i].child);
  m->e[i].child = child;
  return MX_OK;
}

bool mx_module_remove(mx_module *m, const char *name) {
  if (!m || !name) return false;
  int i = find_local(m, name, strlen(name));
  if (i < 0) return false;
  free(m->e[i].name);
  mx_free(m->e[i].param);
  mx_module_free(m->e[i].child);
  memmove(m->e + i, m->e + i + 1, (size_t)(m->n - i - 1) * sizeof *m->e);
  m->n--;
  return true;
}

int mx_module_num_entries(const mx_module *m) { return m ? m->n : 0; }
const char *mx_module_entry_name(const mx_module *m, int i) {
  return m && i >= 0 && i < m->n ? m->e[i].name : NULL;
}
mx_array *mx_module_entry_param(const mx_module *m, int i) {
  return m && i >= 0 && i < m->n ? m->e[i].param : NULL;
}
mx_module *mx_module_entry_child(const mx_module *m, int i) {
  return m && i >= 0 && i < m->n ? m->e[i].child : NULL;
}

/* The entry at a dotted path (its module in *owner), or NULL. */
static mx_mod_entry *find_path(const mx_module *m, const char *path, mx_module **owner) {
  if (!m || !path || !path[0]) return NULL;
  const char *p = path;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    int i = find_local(m, p, len);
    if (i < 0) return NULL;
    if (!dot) {
      if (owner) *owner = (mx_module *)m;
      return &m->e[i];
    }
    if (!m->e[i].child) return NULL;
    m = m->e[i].child;
    p = dot + 1;
  }
}

mx_array *mx_module_get(const mx_module *m, const char *path) {
  mx_mod_entry *e = find_path(m, path, NULL);
  return e ? e->param : NULL;
}

mx_module *mx_module_child(const mx_module *m, const char *path) {
  mx_mod_entry *e = find_path(m, path, NULL);
  return e ? e->child : NULL;
}

bool mx_module_is_frozen(const mx_module *m, const char *path) {
  mx_mod_entry *e = find_path(m, path, NULL);
  return e && e->param && e->frozen;
}

/* ---- tree walks ---- */

/* Calls fn(entry, dotted name, ctx) for every parameter, depth first in
 * entry order. Stops (returning false) when fn does. */
typedef bool (*param_fn)(mx_mod_entry *e, const char *name, void *ctx);

static bool walk(const mx_module *m, char *buf, size_t len, size_t cap, param_fn fn,
                 void *ctx) {
  for (int i = 0; i < m->n; i++) {
    mx_mod_entry *e = &m->e[i];
    size_t nl = strlen(e->name);
    size_t need = len + (len ? 1 : 0) + nl + 1;
    if (need > cap) {
      mx_set_error(MX_ERR_INVALID, "[nn.module] parameter path too long");
      return false;
    }
    size_t at = len;
    if (len) buf[at++] = '.';
    memcpy(buf + at, e->name, nl + 1);
    if (e->param) {
      if (!fn(e, buf, ctx)) return false;
    } else if (e->child) {
      if (!walk(e->child, buf, at + nl, cap, fn, ctx)) return false;
    }
    buf[len] = 0;
  }
  return true;
}

#define MX_NN_PATH_MAX 4096

static bool walk_params(const mx_module *m, param_fn fn, void *ctx) {
  char buf[MX_NN_PATH_MAX];
  buf[0] = 0;
  return walk(m, buf, 0, sizeof buf, fn, ctx);
}

typedef struct {
  mx_array_map *map;
  bool trainable_only;
} collect_ctx;

static bool collect(mx_mod_entry *e, const char *name, void *vctx) {
  collect_ctx *c = vctx;
  if (c->trainable_only && e->frozen) return true;
  return mx_array_map_set(c->map, name, e->param) == MX_OK;
}

static mx_array_map *flatten(const mx_module *m, bool trainable_only) {
  if (!m) {
    if (!mx_last_status()) mx_set_error(MX_ERR_INVALID, "[nn.parameters] NULL module");
    return NULL;
  }
  collect_ctx c = {mx_array_map_new(), trainable_only};
  if (!c.map) return NULL;
  if (!walk_params(m, collect, &c)) {
    mx_array_map_free(c.map);
    return NULL;
  }
  return c.map;
}

mx_array_map *mx_module_parameters(const mx_module *m) { return flatten(m, false); }
mx_array_map *mx_module_trainable_parameters(const mx_module *m) {
  return flatten(m, true);
}

static bool count_params(mx_mod_entry *e, const char *name, void *ctx) {
  (void)name;
  *(int64_t *)ctx += mx_array_size(e->param);
  return true;
}

int64_t mx_module_num_params(const mx_module *m) {
  int64_t n = 0;
  if (m) walk_params(m, count_params, &n);
  return n;
}

/* ---- freezing ---- */

typedef struct {
  const char *prefix; /* dotted prefix, or NULL = all */
  const char *key;    /* local name, or NULL */
  bool frozen;
  int count;
} freeze_ctx;

static bool prefix_match(const char *name, const char *prefix) {
  size_t pl = strlen(prefix);
  return strncmp(name, prefix, pl) == 0 && (name[pl] == 0 || name[pl] == '.');
}

static bool freeze_one(mx_mod_entry *e, const char *name, void *vctx) {
  freeze_ctx *c = vctx;
  bool hit = c->key ? strcmp(e->name, c->key) == 0
                    : (!c->prefix || prefix_match(name, c->prefix));
  if (hit) {
    e->frozen = c->frozen;
    c->count++;
  }
  return true;
}

static int set_frozen(mx_module *m, const char *prefix, const char *key, bool frozen) {
  if (!m) return 0;
  freeze_ctx c = {prefix && prefix[0] ? prefix : NULL, key, frozen, 0};
  walk_params(m, freeze_one, &c);
  return c.count;
}

int mx_module_freeze(mx_module *m, const char *prefix) {
  return set_frozen(m, prefix, NULL, true);
}
int mx_module_unfreeze(mx_module *m, const char *prefix) {
  return set_frozen(m, prefix, NULL, false);
}
int mx_module_freeze_key(mx_module *m, const char *key) {
  return key ? set_frozen(m, NULL, key, true) : 0;
}
int mx_module_unfreeze_key(mx_module *m, const char *key) {
  return key ? set_frozen(m, NULL, key, false) : 0;
}

/* ---- training mode ---- */

void mx_module_train(mx_module *m, bool training) {
  if (!m) return;
  m->training = training;
  for (int i = 0; i < m->n; i++)
    if (m->e[i].child) mx_module_train(m->e[i].child, training);
}

bool mx_module_training(const mx_module *m) { return m && m->training; }

/* ---- update / load / save ---- */

mx_status mx_module_update(mx_module *m, const mx_array_map *params, bool strict) {
  if (!m || !params)
    return mx_last_status() ? mx_last_status()
                            : mx_set_error(MX_ERR_INVALID, "[nn.update] NULL argument");
  int n = mx_array_map_size(params);
  /* check first, so a failing strict update changes nothing */
  for (int i = 0; i < n && strict; i++) {
    const char *name = mx_array_map_name(params, i);
    mx_mod_entry *e = find_path(m, name, NULL);
    if (!e || !e->param)
      return mx_set_error(MX_ERR_INVALID,
                          "[nn.update] Module does not have parameter named \"%s\".",
                          name);
  }
  for (int i = 0; i < n; i++) {
    const char *name = mx_array_map_name(params, i);
    mx_mod_entry *e = find_path(m, name, NULL);
    if (!e || !e->param) continue;
    mx_array *a = mx_array_map_at(params, i);
    mx_keep(a);
    mx_free(e->param);
    e->param = a;
  }
  return MX_OK;
}

mx_module *mx_module_unflatten(const mx_array_map *params) {
  if (!params) {
    if (!mx_last_status()) mx_set_error(MX_ERR_INVALID, "[nn.unflatten] NULL map");
    return NULL;
  }
  mx_module *root = mx_module_new("dict");
  if (!root) return NULL;
  int n = mx_array_map_size(params);
  for (int i = 0; i < n; i++) {
    const char *name = mx_array_map_name(params, i);
    mx_module *m = root;
    const char *p = name;
    const char *dot;
    char comp[MX_NN_PATH_MAX];
    bool ok = true;
    while (ok && (dot = strchr(p, '.'))) {
      size_t len = (size_t)(dot - p);
      if (len == 0 || len >= sizeof comp) {
        ok = false;
        break;
      }
      memcpy(comp, p, len);
      comp[len] = 0;
      int j = find_local(m, comp, len);
      if (j >= 0 && m->e[j].param) {
        mx_set_error(MX_ERR_INVALID,
                     "[nn.unflatten] '%s' is both a parameter and a prefix of '%s'", comp,
                     name);
        mx_module_free(root);
        return NULL;
      }
      if (j < 0) {
        mx_module *c = mx_module_new("dict");
        if (!c || mx_module_set_child(m, comp, c) != MX_OK) {
          mx_module_free(root);
          return NULL;
        }
        j = find_local(m, comp, len);
      }
      m = m->e[j].child;
      p = dot + 1;
    }
    if (!ok || !p[0]) {
      mx_set_error(MX_ERR_INVALID, "[nn.unflatten] invalid parameter name '%s'", name);
      mx_module_free(root);
      return NULL;
    }
    if (mx_module_set_param(m, p, mx_array_map_at(params, i)) != MX_OK) {
      mx_module_free(root);
      return NULL;
    }
  }
  return root;
}

typedef struct {
  mx_array *(*fn)(mx_array *, const char *, void *);
  void *ctx;
  mx_array_map *out;
} apply_ctx;

static bool apply_one(mx_mod_entry *e, const char *name, void *vctx) {
  apply_ctx *c = vctx;
  mx_array *r = c->fn(e->param, name, c->ctx);
  if (!r) {
    if (!mx_last_status())
      mx_set_error(MX_ERR_INVALID, "[nn.apply] function failed on '%s'", name);
    return false;
  }
  return mx_array_map_set(c->out, name, r) == MX_OK;
}

mx_status mx_module_apply(mx_module *m,
                          mx_array *(*fn)(mx_array *a, const char *name, void *ctx),
                          void *ctx) {
  if (!m || !fn) return mx_set_error(MX_ERR_INVALID, "[nn.apply] NULL argument");
  apply_ctx c = {fn, ctx, mx_array_map_new()};
  if (!c.out) return mx_last_status();
  mx_scope_begin();
  mx_status st = walk_params(m, apply_one, &c) ? MX_OK : mx_last_status();
  mx_scope_end(); /* the map holds its own references */
  if (st == MX_OK) st = mx_module_update(m, c.out, true);
  mx_array_map_free(c.out);
  return st;
}

static mx_array *cast_floating(mx_array *a, const char *name, void *ctx) {
  (void)name;
  mx_dtype t = *(mx_dtype *)ctx;
  if (!mx_dtype_is_floating(mx_array_dtype(a))) return a;
  return mx_astype(a, t);
}

mx_status mx_module_set_dtype(mx_module *m, mx_dtype t) {
  if ((unsigned)t >= MX_NUM_DTYPES)
    return mx_set_error(MX_ERR_INVALID, "[nn.set_dtype] invalid dtype %d", (int)t);
  return mx_module_apply(m, cast_floating, &t);
}

static void visit(mx_module *m, char *buf, size_t len, size_t cap,
                  void (*fn)(const char *, mx_module *, void *), void *ctx) {
  fn(buf, m, ctx);
  for (int i = 0; i < m->n; i++) {
    if (!m->e[i].child) continue;
    size_t nl = strlen(m->e[i].name);
    if (len + nl + 2 > cap) continue; /* too deep to name: skipped */
    size_t at = len;
    if (len) buf[at++] = '.';
    memcpy(buf + at, m->e[i].name, nl + 1);
    visit(m->e[i].child, buf, at + nl, cap, fn, ctx);
    buf[len] = 0;
  }
}

void mx_module_visit(mx_module *m,
                     void (*fn)(const char *path, mx_module *mod, void *ctx), void *ctx) {
  if (!m || !fn) return;
  char buf[MX_NN_PATH_MAX];
  buf[0] = 0;
  visit(m, buf, 0, sizeof buf, fn, ctx);
}

static bool collect_arrays(mx_mod_entry *e, const char *name, void *vctx) {
  (void)name;
  mx_array ***p = vctx;
  *(*p)++ = e->param;
  return true;
}

static bool count_entries(mx_mod_entry *e, const char *name, void *ctx) {
  (void)e;
  (void)name;
  (*(int *)ctx)++;
  return true;
}

mx_status mx_module_eval(mx_module *m) {
  if (!m) return mx_set_error(MX_ERR_INVALID, "[nn.eval] NULL module");
  int n = 0;
  walk_params(m, count_entries, &n);
  if (n == 0) return MX_OK;
  mx_array **all = malloc((size_t)n * sizeof *all);
  if (!all) return mx_set_error(MX_ERR_NOMEM, "[nn.eval] out of memory");
  mx_array **p = all;
  walk_params(m, collect_arrays, &p);
  mx_status st = mx_eval(all, n);
  free(all);
  return st;
}

/* Names in `a` missing from `b`, joined for a message (static buffer). */
static const char *missing_names(const mx_array_map *a, const mx_array_map *b,
                                 int *count) {
  static _Thread_local char buf[1024];
  buf[0] = 0;
  *count = 0;
  size_t len = 0;
  for (int i = 0; i < mx_array_map_size(a); i++) {
    const char *nm = mx_array_map_name(a, i);
    if (mx_array_map_get(b, nm)) continue;
    (*count)++;
    size_t nl = strlen(nm);
    if (len + nl + 8 < sizeof buf) {
      if (len) {
        memcpy(buf + len, ", ", 2);
        len += 2;
      }
      memcpy(buf + len, nm, nl + 1);
      len += nl;
    } else if (len + 4 < sizeof buf && (len == 0 || buf[len - 1] != '.')) {
      memcpy(buf + len, "...", 4);
      len += 3;
    }
  }
  return buf;
}

mx_status mx_module_load_map(mx_module *m, const mx_array_map *weights, bool strict) {
  if (!m || !weights)
    return mx_last_status()
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[nn.load_weights] NULL argument");
  if (strict) {
    mx_array_map *cur = mx_module_parameters(m);
    if (!cur) return mx_last_status();
    int cnt;
    const char *names = missing_names(weights, cur, &cnt);
    mx_status st = MX_OK;
    if (cnt) {
      st = mx_set_error(MX_ERR_INVALID,
                        "[nn.load_weights] Received %d parameters not in model: %s.", cnt,
                        names);
    } else if ((names = missing_names(cur, weights, &cnt)), cnt) {
      st = mx_set_error(MX_ERR_INVALID, "[nn.load_weights] Missing %d parameters: %s.",
                        cnt, names);
    } else {
      for (int i = 0; i < mx_array_map_size(cur); i++) {
        const char *nm = mx_array_map_name(cur, i);
        mx_array *v = mx_array_map_at(cur, i);
        mx_array *w = mx_array_map_get(weights, nm);
        int nd = mx_array_ndim(v);
        bool same = nd == mx_array_ndim(w) &&
                    memcmp(mx_array_shape(v), mx_array_shape(w), sizeof(int) * nd) == 0;
        if (!same) {
          char sv[128];
          snprintf(sv, sizeof sv, "%s", mx_shape_str(mx_array_shape(v), nd));
          st = mx_set_error(MX_ERR_INVALID,
                            "[nn.load_weights] Expected shape %s but received shape %s "
                            "for parameter %s",
                            sv, mx_shape_str(mx_array_shape(w), mx_array_ndim(w)), nm);
          break;
        }
      }
    }
    mx_array_map_free(cur);
    if (st != MX_OK) return st;
  }
  return mx_module_update(m, weights, false);
}

mx_status mx_module_load_weights(mx_module *m, const char *path, bool strict) {
  if (!m || !path) return mx_set_error(MX_ERR_INVALID, "[nn.load_weights] NULL argument");
  mx_array_map *w = mx_load_safetensors(path);
  if (!w) return mx_last_status();
  mx_status st = mx_module_load_map(m, w, strict);
  mx_array_map_free(w);
  return st;
}

mx_status mx_module_save_weights(const mx_module *m, const char *path) {
  if (!m || !path) return mx_set_error(MX_ERR_INVALID, "[nn.save_weights] NULL argument");
  mx_array_map *p = mx_module_parameters(m);
  if (!p) return mx_last_status();
  mx_status st = mx_save_safetensors(path, p);
  mx_array_map_free(p);
  return st;
}

mx_array *mx_module_forward(mx_module *m, mx_array *x) {
  if (!m) {
    if (!mx_last_status()) mx_set_error(MX_ERR_INVALID, "[nn.forward] NULL module");
    return NULL;
  }
  MX_CHECK_NULL1(x);
  if (!m->forward) {
    mx_set_error(MX_ERR_INVALID, "[nn.forward] module %s has no forward function",
                 m->type);
    return NULL;
  }
  return m->forward(m, x);
}

mx_array *mx_nn_scalar(mx_array *x, double v) {
  mx_dtype t = x ? mx_array_dtype(x) : MX_FLOAT32;
  bool integral = fabs(v) < 9.0e18 && v == (double)(int64_t)v;
  if (mx_dtype_is_inexact(t) || (mx_dtype_is_integer(t) && integral))
    return mx_scalar_like(x, v);
  return mx_array_scalar_f64(v, integral && t == MX_BOOL ? MX_INT32 : MX_FLOAT32);
}
