/* linear.c: Linear, Identity, Embedding and their quantized forms
 * (QuantizedLinear, QuantizedEmbedding), and nn.quantize, which swaps them
 * in a module tree. Initial values and parameter order follow MLX, so
 * flattened names match MLX and mlx-lm checkpoints (weight, scales, biases,
 * bias). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

typedef struct {
  int group_size, bits;
} quant_cfg;

/* ---- Linear ---- */

static mx_array *linear_forward(mx_module *m, mx_array *x) {
  mx_array *w = mx_module_get(m, "weight");
  mx_array *b = mx_module_get(m, "bias");
  if (!w) {
    mx_set_error(MX_ERR_INVALID, "[nn.Linear] missing weight");
    return NULL;
  }
  mx_scope_begin();
  // x: (..., in) @ W.T: (in, out) -> (..., out); the transpose is a view
  mx_array *wt = mx_transpose(w, NULL, 0);
  mx_array *y = b ? mx_addmm(b, x, wt, 1.0f, 1.0f) : mx_matmul(x, wt);
  return mx_nn_return(y);
}

static bool check_dims(const char *op, int a, int b) {
  if (a <= 0 || b <= 0) {
    mx_set_error(MX_ERR_INVALID, "[%s] dimensions must be positive, got %d and %d", op, a,
                 b);
    return false;
  }
  return true;
}

mx_module *mx_nn_linear(int input_dims, int output_dims, bool bias) {
  if (!check_dims("nn.Linear", input_dims, output_dims)) return NULL;
  mx_module *m = mx_nn_module_make("Linear", NULL, 0, linear_forward);
  if (!m) return NULL;
  double scale = sqrt(1.0 / input_dims);
  int wshape[2] = {output_dims, input_dims};
  mx_scope_begin();
  bool ok = mx_nn_set(m, "weight",
                      mx_random_uniform(-scale, scale, wshape, 2, MX_FLOAT32, NULL));
  if (ok && bias)
    ok = mx_nn_set(m, "bias",
                   mx_random_uniform(-scale, scale, &output_dims, 1, MX_FLOAT32, NULL));
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

static mx_array *identity_forward(mx_module *m, mx_array *x) {
  (void)m;
  return mx_scope_adopt(mx_keep(x));
}

mx_module *mx_nn_identity(void) {
  return mx_nn_module_make("Identity", NULL, 0, identity_forward);
}

/* ---- quantization helpers ---- */

static bool quant_defaults(const char *op, int *group_size, int *bits) {
  if (*group_size == 0) *group_size = 64;
  if (*bits == 0) *bits = 4;
  if (*group_size < 0 || *bits < 0) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid group_size %d or bits %d", op, *group_size,
                 *bits);
    return false;
  }
  return true;
}

/* Quantize w into m's weight, scales and biases, all frozen. */
static bool set_quantized(mx_module *m, mx_array *w, int group_size, int bits) {
  mx_array *wq = NULL, *scales = NULL, *biases = NULL;
  if (mx_quantize(w, group_size, bits, &wq, &scales, &biases) != MX_OK) return false;
  bool ok = mx_nn_set(m, "weight", wq) && mx_nn_set(m, "scales", scales) &&
            mx_nn_set(m, "biases", biases);
  if (ok) mx_module_freeze(m, NULL);
  return ok;
}

/* ---- QuantizedLinear ---- */

static mx_array *qlinear_forward(mx_module *m, mx_array *x) {
  quant_cfg *c = mx_nn_data_of(m, "QuantizedLinear", "nn.QuantizedLinear");
  if (!c) return NULL;
  mx_array *w = mx_module_get(m, "weight"), *s = mx_module_get(m, "scales");
  if (!w || !s) {
    mx_set_error(MX_ERR_INVALID, "[nn.QuantizedLinear] missing weight or scales");
    return NULL;
  }
  mx_scope_begin();
  // x: (..., in) @ dequant(W).T: (in, out) -> (..., out)
  mx_array *y = mx_quantized_matmul(x, w, s, mx_module_get(m, "biases"), true,
                                    c->group_size, c->bits);
  mx_array *b = mx_module_get(m, "bias");
  if (b) y = mx_add(y, b);
  return mx_nn_return(y);
}

mx_module *mx_nn_quantized_linear(int input_dims, int output_dims, bool bias,
                                  int group_size, int bits) {
  if (!check_dims("nn.QuantizedLinear", input_dims, output_dims) ||
      !quant_defaults("nn.QuantizedLinear", &group_size, &bits))
    return NULL;
  quant_cfg c = {group_size, bits};
  mx_module *m = mx_nn_module_make("QuantizedLinear", &c, sizeof c, qlinear_forward);
  if (!m) return NULL;
  double scale = sqrt(1.0 / input_dims);
  int wshape[2] = {output_dims, input_dims};
  mx_scope_begin();
  mx_array *w = mx_random_uniform(-scale, scale, wshape, 2, MX_FLOAT32, NULL);
  bool ok = w && set_quantized(m, w, group_size, bits);
  if (ok && bias) ok = mx_nn_set(m, "bias", mx_zeros(&output_dims, 1, MX_FLOAT32));
  if (ok) mx_module_freeze(m, NULL); /* MLX freezes after adding the bias */
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

mx_module *mx_nn_quantized_linear_from_linear(const mx_module *linear, int group_size,
                                              int bits) {
  if (!linear || strcmp(linear->type, "Linear") != 0) {
    mx_set_error(MX_ERR_INVALID, "[nn.QuantizedLinear] expected a Linear module, got %s",
                 linear ? linear->type : "NULL");
    return NULL;
  }
  if (!quant_defaults("nn.QuantizedLinear", &group_size, &bits)) return NULL;
  mx_array *w = mx_module_get(linear, "weight");
  if (!w) {
    mx_set_error(MX_ERR_INVALID, "[nn.QuantizedLinear] the Linear has no weight");
    return NULL;
  }
  quant_cfg c = {group_size, bits};
  mx_module *m = mx_nn_module_make("QuantizedLinear", &c, sizeof c, qlinear_forward);
  if (!m) return NULL;
  mx_scope_begin();
  bool ok = set_quantized(m, w, group_size, bits);
  mx_array *b = mx_module_get(linear, "bias");
  if (ok && b) ok = mx_nn_set(m, "bias", b); /* stays trainable, as in MLX */
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

/* ---- Embedding ---- */

static mx_array *embedding_forward(mx_module *m, mx_array *x) {
  mx_array *w = mx_module_get(m, "weight");
  if (!w) {
    mx_set_error(MX_ERR_INVALID, "[nn.Embedding] missing weight");
    return NULL;
  }
  return mx_take(w, x, 0);  // ids (...) -> (..., dims)
}

mx_module *mx_nn_embedding(int num_embeddings, int dims) {
  if (!check_dims("nn.Embedding", num_embeddings, dims)) return NULL;
  mx_module *m = mx_nn_module_make("Embedding", NULL, 0, embedding_forward);
  if (!m) return NULL;
  int shape[2] = {num_embeddings, dims};
  mx_scope_begin();
  bool ok = mx_nn_set(
      m, "weight", mx_random_normal(shape, 2, MX_FLOAT32, 0.0, sqrt(1.0 / dims), NULL));
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

static mx_array *qembedding_forward(mx_module *m, mx_array *x) {
  quant_cfg *c = mx_nn_data_of(m, "QuantizedEmbedding", "nn.QuantizedEmbedding");
  if (!c) return NULL;
  mx_array *w = mx_module_get(m, "weight"), *s = mx_module_get(m, "scales");
  mx_array *b = mx_module_get(m, "biases");
  if (!w || !s || !b) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.QuantizedEmbedding] missing weight, scales or biases");
    return NULL;
  }
  mx_scope_begin();
  // gather the packed rows, then dequantize only those: (...) -> (..., dims)
  mx_array *y = mx_dequantize(mx_take(w, x, 0), mx_take(s, x, 0), mx_take(b, x, 0),
                              c->group_size, c->bits);
  return mx_nn_return(y);
}

mx_module *mx_nn_quantized_embedding(int num_embeddings, int dims, int group_size,
                                     int bits) {
  if (!check_dims("nn.QuantizedEmbedding", num_embeddings, dims) ||
      !quant_defaults("nn.QuantizedEmbedding", &group_size, &bits))
    return NULL;
  quant_cfg c = {group_size, bits};
  mx_module *m =
      mx_nn_module_make("QuantizedEmbedding", &c, sizeof c, qembedding_forward);
  if (!m) return NULL;
  int shape[2] = {num_embeddings, dims};
  mx_scope_begin();
  mx_array *w = mx_random_normal(shape, 2, MX_FLOAT32, 0.0, sqrt(1.0 / dims), NULL);
  bool ok = w && set_quantized(m, w, group_size, bits);
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

mx_module *mx_nn_quantized_embedding_from_embedding(const mx_module *embedding,
                                                    int group_size, int bits) {
  if (!embedding || strcmp(embedding->type, "Embedding") != 0) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.QuantizedEmbedding] expected an Embedding module, got %s",
                 embedding ? embedding->type : "NULL");
    return NULL;
  }
  if (!quant_defaults("nn.QuantizedEmbedding", &group_size, &bits)) return NULL;
  mx_array *w = mx_module_get(embedding, "weight");
  if (!w) {
    mx_set_error(MX_ERR_INVALID, "[nn.QuantizedEmbedding] the Embedding has no weight");
    return NULL;
  }
  quant_cfg c = {group_size, bits};
  mx_module *m =
      mx_nn_module_make("QuantizedEmbedding", &c, sizeof c, qembedding_forward);
  if (!m) return NULL;
  mx_scope_begin();
  bool ok = set_quantized(m, w, group_size, bits);
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

mx_array *mx_nn_embedding_as_linear(mx_module *m, mx_array *x) {
  MX_CHECK_NULL1(x);
  if (!m) {
    if (!mx_last_status()) mx_set_error(MX_ERR_INVALID, "[nn.as_linear] NULL module");
    return NULL;
  }
  mx_array *w = mx_module_get(m, "weight");
  if (!w) {
    mx_set_error(MX_ERR_INVALID, "[nn.as_linear] module %s has no weight", m->type);
    return NULL;
  }
  if (strcmp(m->type, "Embedding") == 0) {
    mx_scope_begin();
    // x: (..., dims) @ W.T: (dims, num) -> (..., num)
    return mx_nn_return(mx_matmul(x, mx_transpose(w, NULL, 0)));
  }
  quant_cfg *c = mx_nn_data_of(m, "QuantizedEmbedding", "nn.as_linear");
  if (!c) return NULL;
  return mx_quantized_matmul(x, w, mx_module_get(m, "scales"), mx_module_get(m, "biases"),
                             true, c->group_size, c->bits);
}

/* ---- nn.quantize ---- */

typedef struct {
  mx_module *parent;
  int index;
  mx_module *replacement;
} swap;

typedef struct {
  swap *s;
  int n, cap;
  int group_size, bits;
  bool (*pred)(const char *, const mx_module *, void *);
  void *ctx;
} quantize_ctx;

static bool quantize_walk(mx_module *m, char *path, size_t len, size_t cap,
                          quantize_ctx *q) {
  for (int i = 0; i < m->n; i++) {
    mx_module *c = m->e[i].child;
    if (!c) continue;
    size_t nl = strlen(m->e[i].name);
    if (len + nl + 2 > cap) {
      mx_set_error(MX_ERR_INVALID, "[nn.quantize] module path too long");
      return false;
    }
    size_t at = len;
    if (len) path[at++] = '.';
    memcpy(path + at, m->e[i].name, nl + 1);
    bool is_lin = strcmp(c->type, "Linear") == 0;
    bool is_emb = strcmp(c->type, "Embedding") == 0;
    if (is_lin || is_emb) {
      if (!q->pred || q->pred(path, c, q->ctx)) {
        mx_module *r =
            is_lin ? mx_nn_quantized_linear_from_linear(c, q->group_size, q->bits)
                   : mx_nn_quantized_embedding_from_embedding(c, q->group_size, q->bits);
        if (!r) return false;
        if (q->n == q->cap) {
          int nc = q->cap ? 2 * q->cap : 16;
          swap *ns = realloc(q->s, (size_t)nc * sizeof *ns);
          if (!ns) {
            mx_module_free(r);
            mx_set_error(MX_ERR_NOMEM, "[nn.quantize] out of memory");
            return false;
          }
          q->s = ns;
          q->cap = nc;
        }
        r->training = c->training;
        q->s[q->n++] = (swap){m, i, r};
      }
    } else if (!quantize_walk(c, path, at + nl, cap, q)) {
      return false;
    }
    path[len] = 0;
  }
  return true;
}

mx_status mx_nn_quantize(mx_module *m, int group_size, int bits,
                         bool (*pred)(const char *path, const mx_module *mod, void *ctx),
                         void *ctx) {
  if (!m) return mx_set_error(MX_ERR_INVALID, "[nn.quantize] NULL module");
  quantize_ctx q = {.group_size = group_size, .bits = bits, .pred = pred, .ctx = ctx};
  char path[4096];
  path[0] = 0;
  /* build every replacement first: a failure leaves the tree unchanged */
  bool ok = quantize_walk(m, path, 0, sizeof path, &q);
  for (int i = 0; i < q.n; i++) {
    swap *s = &q.s[i];
    if (ok) {
      mx_module_free(s->parent->e[s->index].child);
      s->parent->e[s->index].child = s->replacement;
    } else {
      mx_module_free(s->replacement);
    }
  }
  free(q.s);
  return ok ? MX_OK : mx_last_status();
}
