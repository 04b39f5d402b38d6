/* mx/nn.h: neural network modules, activations, losses and initialisers
 * (MLX's mlx.nn).
 *
 * A module is a named tree: each module holds an ordered list of entries,
 * each a parameter (an array) or a child module. Flattening the tree gives
 * MLX's dotted names ("layers.0.weight"), in insertion order, depth first;
 * those names are what safetensors files from MLX and mlx-lm use.
 *
 * Ownership: a module owns one reference to each of its parameters (taken
 * with mx_keep, like mx_array_map) and owns its children; mx_module_free
 * frees the whole subtree. Arrays returned by forward functions, losses and
 * initialisers belong to the caller's scope as for any op.
 *
 * Parameters can be frozen (excluded from mx_module_trainable_parameters, so
 * from gradients and optimizer updates). Freezing follows MLX: it marks the
 * parameter names present at that time; a parameter replaced later (update,
 * load) keeps its flag, one added later starts trainable.
 *
 * Errors: functions record "[nn.X] message" and return NULL or a status. */
#ifndef MX_NN_H
#define MX_NN_H

#include "array.h"
#include "fast.h"
#include "io.h"
#include "transforms.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================= modules ======================= */

typedef struct mx_module mx_module;

/* The module's computation on one input (NULL: the module has none). */
typedef mx_array *(*mx_module_forward_fn)(mx_module *m, mx_array *x);

/* A module with no entries. `type` names its kind ("Linear", "Model", ...). */
mx_module *mx_module_new(const char *type);
/* Frees the module, its children and its references to parameters. */
void mx_module_free(mx_module *m);
const char *mx_module_type(const mx_module *m);

/* Custom modules: a forward function and user data (freed with `free_fn`
 * when the module is freed, if not NULL). Built-in layers set both. */
void mx_module_set_forward(mx_module *m, mx_module_forward_fn fn);
void mx_module_set_data(mx_module *m, void *data, void (*free_fn)(void *));
void *mx_module_data(const mx_module *m);

/* Sets parameter `name` (one path component: no '.') of m, replacing an
 * existing one in place (keeping its position and frozen flag). Takes its own
 * reference to a. */
mx_status mx_module_set_param(mx_module *m, const char *name, mx_array *a);
/* Adds (or replaces, freeing the old one) child `name`; m takes ownership of
 * child, also on failure. */
mx_status mx_module_set_child(mx_module *m, const char *name, mx_module *child);
/* Removes and frees the entry `name` (parameter or child). false if absent. */
bool mx_module_remove(mx_module *m, const char *name);

/* Parameter or module at a dotted path ("layers.0.weight"); borrowed, NULL
 * (no error recorded) when absent. */
mx_array *mx_module_get(const mx_module *m, const char *path);
mx_module *mx_module_child(const mx_module *m, const char *path);
/* Direct entries, in order: name i, and its parameter or child (the other
 * one is NULL). */
int mx_module_num_entries(const mx_module *m);
const char *mx_module_entry_name(const mx_module *m, int i);
mx_array *mx_module_entry_param(const mx_module *m, int i);
mx_module *mx_module_entry_child(const mx_module *m, int i);

/* Flatten: every parameter (or every trainable one) under its dotted name,
 * in a new map the caller frees. */
mx_array_map *mx_module_parameters(const mx_module *m);
mx_array_map *mx_module_trainable_parameters(const mx_module *m);
/* Number of scalars in all parameters. */
int64_t mx_module_num_params(const mx_module *m);

/* Unflatten into m: sets each parameter named in `params` (MLX
 * Module.update). strict: every name must be an existing parameter of m;
 * otherwise unknown names are skipped. Shapes are not checked (as MLX). */
mx_status mx_module_update(mx_module *m, const mx_array_map *params, bool strict);
/* Unflatten a map into a new tree of generic modules (type "dict"): the
 * module form of MLX's tree_unflatten. */
mx_module *mx_module_unflatten(const mx_array_map *params);

/* Freeze/unfreeze every parameter whose dotted name equals `prefix` or starts
 * with `prefix` + "." (NULL or "" = all). Returns how many parameters matched
 * (0 is not an error, as MLX with strict=False). */
int mx_module_freeze(mx_module *m, const char *prefix);
int mx_module_unfreeze(mx_module *m, const char *prefix);
/* Freeze/unfreeze the parameters with local name `key` in every module of
 * the tree (MLX freeze(keys="bias")). Returns how many matched. */
int mx_module_freeze_key(mx_module *m, const char *key);
int mx_module_unfreeze_key(mx_module *m, const char *key);
/* Whether the parameter at `path` is frozen (false if absent). */
bool mx_module_is_frozen(const mx_module *m, const char *path);

/* Training mode, set recursively (MLX Module.train / eval). New modules are
 * in training mode, as in MLX. */
void mx_module_train(mx_module *m, bool training);
bool mx_module_training(const mx_module *m);

/* Replace every parameter by fn(param, dotted name, ctx) (MLX
 * Module.apply). fn returns a new array (an op result), `param` itself to
 * keep it, or NULL to fail; on failure nothing changes. */
mx_status mx_module_apply(mx_module *m,
                          mx_array *(*fn)(mx_array *a, const char *name, void *ctx),
                          void *ctx);
/* Cast the floating parameters to t (MLX Module.set_dtype's default). */
mx_status mx_module_set_dtype(mx_module *m, mx_dtype t);
/* Call fn(dotted path, module, ctx) on m ("") and every module below it,
 * parents before children, in entry order (MLX apply_to_modules). */
void mx_module_visit(mx_module *m,
                     void (*fn)(const char *path, mx_module *mod, void *ctx), void *ctx);

/* Evaluate every parameter. */
mx_status mx_module_eval(mx_module *m);

/* MLX Module.load_weights. strict: the map's names must be exactly the
 * module's parameters, with the same shapes; otherwise only names the module
 * has are loaded. */
mx_status mx_module_load_map(mx_module *m, const mx_array_map *weights, bool strict);
mx_status mx_module_load_weights(mx_module *m, const char *path, bool strict);
/* MLX Module.save_weights (safetensors, dotted names). */
mx_status mx_module_save_weights(const mx_module *m, const char *path);

/* Calls the module's forward function. */
mx_array *mx_module_forward(mx_module *m, mx_array *x);

/* ======================= training ======================= */
/* A loss over a module: builds a one-element array from the module's
 * current parameters and `inputs` with mx ops (it must not evaluate them).
 * It may push auxiliary outputs (e.g. a token count) on `aux`. */
typedef mx_array *(*mx_nn_loss_fn)(mx_module *model, mx_array *const *inputs, int n,
                                   mx_vec *aux, void *ctx);
/* MLX nn.value_and_grad: the loss (*loss, a 0-d array of the caller's
 * scope) and its gradients with respect to the model's trainable
 * parameters, as a new map named like mx_module_trainable_parameters (the
 * caller frees it; ready for mx_optimizer_update). Auxiliary outputs are
 * pushed on aux when it is given. The module is unchanged afterwards.
 * loss, grads and aux may be NULL when not wanted. */
mx_status mx_nn_value_and_grad(mx_module *model, mx_nn_loss_fn fn, void *ctx,
                               mx_array *const *inputs, int ninputs, mx_array **loss,
                               mx_array_map **grads, mx_vec *aux);

/* ======================= layers ======================= */
/* Constructors draw initial values from the global random key (mx/random.h,
 * mx_random_seed), with MLX's distributions. Dimension arguments of 0 mean
 * "MLX's default" where MLX has one (noted per layer). */

/* weight (out, in) ~ U(-1/sqrt(in), 1/sqrt(in)); bias (out,) likewise.
 * forward: x (..., in) -> (..., out) = x @ weight.T + bias. */
mx_module *mx_nn_linear(int input_dims, int output_dims, bool bias);
mx_module *mx_nn_identity(void);

/* MLX's affine quantization. group_size 0 -> 64, bits 0 -> 4. Entries:
 * weight (uint32), scales, biases[, bias]. weight/scales/biases are frozen;
 * as MLX, a bias copied from a Linear stays trainable. */
mx_module *mx_nn_quantized_linear(int input_dims, int output_dims, bool bias,
                                  int group_size, int bits);
mx_module *mx_nn_quantized_linear_from_linear(const mx_module *linear, int group_size,
                                              int bits);

/* weight (num, dims) ~ N(0, 1/dims). forward: int indices (...) -> (..., dims). */
mx_module *mx_nn_embedding(int num_embeddings, int dims);
mx_module *mx_nn_quantized_embedding(int num_embeddings, int dims, int group_size,
                                     int bits);
mx_module *mx_nn_quantized_embedding_from_embedding(const mx_module *embedding,
                                                    int group_size, int bits);
/* x (..., dims) @ weight.T -> (..., num): tied output projection (Embedding
 * or QuantizedEmbedding). */
mx_array *mx_nn_embedding_as_linear(mx_module *m, mx_array *x);

/* Replace every Linear and Embedding in the tree (including m's own
 * children, not m itself) by its quantized form (MLX nn.quantize).
 * `pred(path, module, ctx)`, if given, selects which ones. */
mx_status mx_nn_quantize(mx_module *m, int group_size, int bits,
                         bool (*pred)(const char *path, const mx_module *mod, void *ctx),
                         void *ctx);

/* weight (dims,) = 1. forward: mx_fast_rms_norm. MLX default eps 1e-5. */
mx_module *mx_nn_rms_norm(int dims, double eps);
/* affine: weight (dims,) = 1 and, with bias, bias (dims,) = 0. MLX defaults
 * eps 1e-5, affine true, bias true. */
mx_module *mx_nn_layer_norm(int dims, double eps, bool affine, bool bias);
/* x (B, ..., dims), groups over the features; the spatial dims in between
 * are normalised together. pytorch_compatible groups contiguous features
 * (as PyTorch) instead of strided ones (MLX's default). Entries bias, weight
 * (in MLX's order) when affine. */
mx_module *mx_nn_group_norm(int num_groups, int dims, double eps, bool affine,
                            bool pytorch_compatible);

/* mx_fast_rope around (B, ..., L, D). MLX defaults: traditional false, base
 * 10000, scale 1. forward = offset 0. */
mx_module *mx_nn_rope(int dims, bool traditional, float base, float scale);
mx_array *mx_nn_rope_forward(mx_module *m, mx_array *x, int offset);

/* MLX MultiHeadAttention: children query_proj, key_proj, value_proj,
 * out_proj. 0 for query/key/value_input_dims, value_dims,
 * value_output_dims gives MLX's defaults (dims, dims, key_input_dims, dims,
 * dims). */
mx_module *mx_nn_multi_head_attention(int dims, int num_heads, int query_input_dims,
                                      int key_input_dims, int value_input_dims,
                                      int value_dims, int value_output_dims, bool bias);
/* queries (B, Lq, Dq), keys (B, Lk, Dk), values (B, Lk, Dv) -> (B, Lq, Do).
 * mask (optional): additive or boolean, broadcastable to (B, H, Lq, Lk).
 * mx_module_forward(m, x) is self-attention without a mask. */
mx_array *mx_nn_multi_head_attention_forward(mx_module *m, mx_array *queries,
                                             mx_array *keys, mx_array *values,
                                             mx_array *mask);
/* (n, n): 0 on and below the diagonal, the dtype's lowest value above. */
mx_array *mx_nn_create_additive_causal_mask(int n, mx_dtype t);

/* Zeroes elements with probability p in training mode and scales the rest
 * by 1/(1-p); identity in eval mode. p in [0, 1). forward uses the global
 * key; mx_nn_dropout_forward takes one (NULL = global). */
mx_module *mx_nn_dropout(float p);
mx_array *mx_nn_dropout_forward(mx_module *m, mx_array *x, mx_array *key);

/* Channels last, as MLX: x (N, L, C_in) / (N, H, W, C_in); weight
 * (C_out, K..., C_in / groups) ~ U(+-1/sqrt(C_in * prod K)); bias zeros. */
mx_module *mx_nn_conv1d(int in_channels, int out_channels, int kernel_size, int stride,
                        int padding, int dilation, int groups, bool bias);
mx_module *mx_nn_conv2d(int in_channels, int out_channels, const int kernel_size[2],
                        const int stride[2], const int padding[2], const int dilation[2],
                        int groups, bool bias);

/* Calls its modules in order; they are stored as children "layers.0",
 * "layers.1", ... (MLX's names). Takes ownership of the modules (also on
 * failure). */
mx_module *mx_nn_sequential(mx_module *const *modules, int n);
mx_status mx_nn_sequential_append(mx_module *seq, mx_module *layer);

/* A module without parameters around a function (for Sequential). */
mx_module *mx_nn_lambda(mx_array *(*fn)(mx_array *x, void *ctx), void *ctx);

/* ======================= activations ======================= */
/* Elementwise, computed in x's dtype as MLX writes them. */
mx_array *mx_nn_sigmoid(mx_array *x);
mx_array *mx_nn_tanh(mx_array *x);
mx_array *mx_nn_relu(mx_array *x);                              /* max(x, 0) */
mx_array *mx_nn_relu2(mx_array *x);                             /* max(x, 0)^2 */
mx_array *mx_nn_relu6(mx_array *x);                             /* min(max(x, 0), 6) */
mx_array *mx_nn_leaky_relu(mx_array *x, double negative_slope); /* MLX: 0.01 */
mx_array *mx_nn_elu(mx_array *x, double alpha);                 /* MLX: alpha 1 */
mx_array *mx_nn_celu(mx_array *x, double alpha);
mx_array *mx_nn_selu(mx_array *x);
mx_array *mx_nn_silu(mx_array *x); /* x * sigmoid(x) */
mx_array *mx_nn_gelu(mx_array *x); /* x * (1 + erf(x / sqrt 2)) / 2 */
/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
mx_array *mx_nn_gelu_approx(mx_array *x);
mx_array *mx_nn_gelu_fast_approx(mx_array *x); /* x * sigmoid(1.702 x) */
mx_array *mx_nn_softplus(mx_array *x);         /* logaddexp(x, 0) */
mx_array *mx_nn_softsign(mx_array *x);
mx_array *mx_nn_mish(mx_array *x); /* x * tanh(softplus(x)) */
mx_array *mx_nn_log_sigmoid(mx_array *x);
mx_array *mx_nn_hardswish(mx_array *x);
mx_array *mx_nn_hard_tanh(mx_array *x, double min_val, double max_val);
mx_array *mx_nn_softshrink(mx_array *x, double lambd);
mx_array *mx_nn_hard_shrink(mx_array *x, double lambd);
mx_array *mx_nn_step(mx_array *x, double threshold);
mx_array *mx_nn_prelu(mx_array *x, mx_array *alpha);
mx_array *mx_nn_softmax(mx_array *x, int axis);
mx_array *mx_nn_softmin(mx_array *x, int axis);
mx_array *mx_nn_log_softmax(mx_array *x, int axis);
/* Split `axis` in halves a, b: a * sigmoid(b). */
mx_array *mx_nn_glu(mx_array *x, int axis);
/* SwiGLU gating as in mlx-lm's MLPs: silu(gate) * x. */
mx_array *mx_nn_swiglu(mx_array *gate, mx_array *x);

typedef enum {
  MX_ACT_RELU,
  MX_ACT_RELU2,
  MX_ACT_RELU6,
  MX_ACT_LEAKY_RELU, /* param: negative_slope */
  MX_ACT_ELU,        /* param: alpha */
  MX_ACT_CELU,       /* param: alpha */
  MX_ACT_SELU,
  MX_ACT_SILU,
  MX_ACT_GELU,
  MX_ACT_GELU_APPROX,
  MX_ACT_GELU_FAST_APPROX,
  MX_ACT_SIGMOID,
  MX_ACT_TANH,
  MX_ACT_SOFTPLUS,
  MX_ACT_SOFTSIGN,
  MX_ACT_MISH,
  MX_ACT_LOG_SIGMOID,
  MX_ACT_HARDSWISH,
  MX_ACT_SOFTMAX,     /* over the last axis */
  MX_ACT_LOG_SOFTMAX, /* over the last axis */
  MX_ACT_GLU,         /* over the last axis */
} mx_activation;
/* Module form (MLX's ReLU, GELU, ...); `param` as noted above. */
mx_module *mx_nn_activation(mx_activation kind, double param);
/* Apply an activation by kind. */
mx_array *mx_nn_activate(mx_activation kind, double param, mx_array *x);

/* ======================= losses ======================= */
typedef enum { MX_REDUCTION_NONE, MX_REDUCTION_MEAN, MX_REDUCTION_SUM } mx_reduction;
/* "none", "mean", "sum"; false if unknown. */
bool mx_reduction_from_name(const char *name, mx_reduction *out);

/* MLX defaults are noted as (default: ...). */

/* logits (..., C, ...) over `axis`; targets either class indices (logits'
 * shape without axis) or probabilities (logits' shape). weights (optional)
 * have the loss's shape: give ignored positions weight 0 (their index must
 * still be valid). label_smoothing in [0, 1). (default: none) */
mx_array *mx_nn_cross_entropy(mx_array *logits, mx_array *targets, mx_array *weights,
                              int axis, double label_smoothing, mx_reduction r);
/* with_logits: inputs are logits (default true), else probabilities whose
 * logs are clipped at -100. (default: mean) */
mx_array *mx_nn_binary_cross_entropy(mx_array *inputs, mx_array *targets,
                                     mx_array *weights, bool with_logits, mx_reduction r);
mx_array *mx_nn_l1_loss(mx_array *predictions, mx_array *targets,
                        mx_reduction r); /* (default: mean) */
mx_array *mx_nn_mse_loss(mx_array *predictions, mx_array *targets,
                         mx_reduction r); /* (default: mean) */
/* 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta. (default: beta 1,
 * mean) */
mx_array *mx_nn_smooth_l1_loss(mx_array *predictions, mx_array *targets, double beta,
                               mx_reduction r);
/* inputs: log probabilities; targets: class indices. (default: none) */
mx_array *mx_nn_nll_loss(mx_array *inputs, mx_array *targets, int axis, mx_reduction r);
/* sum(exp(targets) * (targets - inputs), axis), both log probabilities.
 * (default: none) */
mx_array *mx_nn_kl_div_loss(mx_array *inputs, mx_array *targets, int axis,
                            mx_reduction r);
/* (default: full false, eps 1e-6, mean) */
mx_array *mx_nn_gaussian_nll_loss(mx_array *inputs, mx_array *targets, mx_array *vars,
                                  bool full, double eps, mx_reduction r);
mx_array *mx_nn_hinge_loss(mx_array *inputs, mx_array *targets,
                           mx_reduction r); /* (default: none) */
mx_array *mx_nn_huber_loss(mx_array *inputs, mx_array *targets, double delta,
                           mx_reduction r); /* (default: delta 1, none) */
mx_array *mx_nn_log_cosh_loss(mx_array *inputs, mx_array *targets,
                              mx_reduction r); /* (default: none) */

/* ======================= initialisers ======================= */
/* Arrays of `shape` (MLX's initialisers take an array and use its shape).
 * key NULL: the global key. Glorot/He need ndim >= 2: fan_in = shape[-1] *
 * receptive field, fan_out = shape[0] * receptive field, receptive field =
 * product of shape[1:-1]. */
typedef enum { MX_FAN_IN, MX_FAN_OUT } mx_fan_mode;
mx_array *mx_nn_init_constant(const int *shape, int ndim, double value, mx_dtype t);
mx_array *mx_nn_init_normal(const int *shape, int ndim, double mean, double std,
                            mx_dtype t, mx_array *key);
mx_array *mx_nn_init_uniform(const int *shape, int ndim, double low, double high,
                             mx_dtype t, mx_array *key);
/* Square shapes only (n, n). */
mx_array *mx_nn_init_identity(const int *shape, int ndim, mx_dtype t);
/* std = gain * sqrt(2 / (fan_in + fan_out)) */
mx_array *mx_nn_init_glorot_normal(const int *shape, int ndim, double gain, mx_dtype t,
                                   mx_array *key);
/* limit = gain * sqrt(6 / (fan_in + fan_out)) */
mx_array *mx_nn_init_glorot_uniform(const int *shape, int ndim, double gain, mx_dtype t,
                                    mx_array *key);
/* std = gain / sqrt(fan) */
mx_array *mx_nn_init_he_normal(const int *shape, int ndim, mx_fan_mode mode, double gain,
                               mx_dtype t, mx_array *key);
/* limit = gain * sqrt(3 / fan) */
mx_array *mx_nn_init_he_uniform(const int *shape, int ndim, mx_fan_mode mode, double gain,
                                mx_dtype t, mx_array *key);
/* fan_in and fan_out of a shape as above; false (with an error) for
 * ndim < 2. */
bool mx_nn_init_fans(const int *shape, int ndim, int64_t *fan_in, int64_t *fan_out);

#ifdef __cplusplus
}
#endif
#endif
