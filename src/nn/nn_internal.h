/* nn_internal.h: the module struct and helpers shared by the nn sources.
 *
 * A module is an ordered list of entries, each a parameter (array, with a
 * frozen flag) or a child module; names are single path components. Built-in
 * layers keep their hyper-parameters in `data` (a struct per layer type,
 * checked through `type`). */
#ifndef MX_NN_INTERNAL_H
#define MX_NN_INTERNAL_H

#include "core/core.h"
#include "mx/nn.h"

typedef struct {
  char *name;
  mx_array *param;  /* one reference owned, or NULL */
  mx_module *child; /* owned, or NULL */
  bool frozen;
} mx_mod_entry;

struct mx_module {
  char *type;
  mx_mod_entry *e;
  int n, cap;
  bool training;
  mx_module_forward_fn forward;
  void *data;
  void (*data_free)(void *);
};

/* The module's data if its type is `type`, else NULL with an error naming
 * `op`. */
void *mx_nn_data_of(const mx_module *m, const char *type, const char *op);
/* New module of `type` with a malloc'd copy of `data` (size bytes) and a
 * forward function. NULL on allocation failure. */
mx_module *mx_nn_module_make(const char *type, const void *data, size_t size,
                             mx_module_forward_fn fwd);
/* Sets parameter `name` to a (kept) or records the failure; returns false on
 * failure (a == NULL included). */
bool mx_nn_set(mx_module *m, const char *name, mx_array *a);

/* A 0-d scalar with MLX's weak typing against x (a Python scalar next to
 * an array): x's dtype when x is inexact, or integer and v integral; else
 * float32 (int32 for an integral v next to bool). */
mx_array *mx_nn_scalar(mx_array *x, double v);

/* Close a scope opened by the caller, moving `r` out to the enclosing one:
 * the library pattern from docs/architecture.md. */
static inline mx_array *mx_nn_return(mx_array *r) {
  if (r) mx_keep(r);
  mx_scope_end();
  return r ? mx_scope_adopt(r) : NULL;
}

#endif
