/* mx/optim.h: optimizers, learning-rate schedules and gradient clipping
 * (MLX's mlx.optimizers).
 *
 * An optimizer keeps a step count, a learning rate (float32, as MLX stores
 * it) and, per parameter name, its state arrays (Adam: "m" and "v", ...).
 * Gradients come as a name -> array map (dotted names, as
 * mx_module_trainable_parameters gives them); each update applies MLX's
 * formula for that optimizer with the same op order and dtype rules
 * (hyper-parameters act as weakly typed scalars in the gradient's dtype).
 *
 * Order of one update (as MLX): the learning rate is taken from the schedule
 * at the current step (0 on the first update), the step is incremented, then
 * every parameter is updated with that step (1 on the first update; Adam's
 * bias correction and Adafactor use it). State is created on first sight of
 * a name, zeros like its gradient.
 *
 * Updates are lazy: evaluate the model and the optimizer state afterwards
 * (mx_module_eval, mx_optimizer_eval), like mx.eval(model.parameters(),
 * optimizer.state). A failing update changes nothing. */
#ifndef MX_OPTIM_H
#define MX_OPTIM_H

#include "array.h"
#include "io.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================= schedules ======================= */
/* A function of the step, evaluated in float32 as MLX's array formulas are. */
typedef struct mx_schedule mx_schedule;

/* init * decay_rate^step */
mx_schedule *mx_schedule_exponential_decay(double init, double decay_rate);
/* init * decay_rate^(step / step_size) (integer division); step_size >= 1 */
mx_schedule *mx_schedule_step_decay(double init, double decay_rate, int step_size);
/* end + (init - end) * 0.5 (1 + cos(pi * min(step, decay_steps) / decay_steps))
 * (MLX default end = 0); decay_steps >= 1 */
mx_schedule *mx_schedule_cosine_decay(double init, int decay_steps, double end);
/* init + min(step, steps) * (end - init) / steps: e.g. linear warmup;
 * steps >= 1 */
mx_schedule *mx_schedule_linear(double init, double end, int steps);
/* schedules[0] before boundaries[0], then schedules[i+1] given
 * step - boundaries[i], ... (n schedules, n - 1 boundaries). Takes ownership
 * of the schedules, also on failure. */
mx_schedule *mx_schedule_join(mx_schedule *const *schedules, int n,
                              const int *boundaries);
/* A user function; free_ctx (may be NULL) runs on ctx when freed. */
mx_schedule *mx_schedule_custom(double (*fn)(int64_t step, void *ctx), void *ctx,
                                void (*free_ctx)(void *ctx));
/* Value at a step (a float32 value, returned as double). */
double mx_schedule_value(const mx_schedule *s, int64_t step);
void mx_schedule_free(mx_schedule *s);

/* ======================= optimizers ======================= */
typedef enum {
  MX_OPTIM_SGD,
  MX_OPTIM_RMSPROP,
  MX_OPTIM_ADAGRAD,
  MX_OPTIM_ADADELTA,
  MX_OPTIM_ADAM,
  MX_OPTIM_ADAMW,
  MX_OPTIM_ADAMAX,
  MX_OPTIM_LION,
  MX_OPTIM_ADAFACTOR,
} mx_optim_kind;

/* Hyper-parameters of every optimizer; each reads the fields noted. Start
 * from mx_optim_defaults, which fills MLX's defaults for `kind`. */
typedef struct {
  mx_optim_kind kind;
  /* all. Adafactor: NAN = none (MLX's default; needs relative_step) */
  double learning_rate;
  double momentum;       /* SGD (0) */
  double dampening;      /* SGD (0) */
  bool nesterov;         /* SGD (false): needs momentum > 0 and no dampening */
  double weight_decay;   /* SGD (0), AdamW (0.01), Lion (0), Adafactor (0) */
  double beta1;          /* Adam/AdamW/Adamax (0.9), Lion (0.9),
                            Adafactor (NAN = no first moment) */
  double beta2;          /* Adam/AdamW/Adamax (0.999), Lion (0.99) */
  double eps;            /* Adam* (1e-8), RMSprop (1e-8), Adagrad (1e-8),
                            AdaDelta (1e-6), Adafactor eps[0] (1e-30) */
  double eps2;           /* Adafactor eps[1] (1e-3) */
  double alpha;          /* RMSprop smoothing (0.99) */
  double rho;            /* AdaDelta (0.9) */
  bool bias_correction;  /* Adam, AdamW (false) */
  double clip_threshold; /* Adafactor (1.0) */
  double decay_rate;     /* Adafactor (-0.8) */
  bool scale_parameter;  /* Adafactor (true) */
  bool relative_step;    /* Adafactor (true) */
  bool warmup_init;      /* Adafactor (false) */
} mx_optim_config;

mx_optim_config mx_optim_defaults(mx_optim_kind kind, double learning_rate);

typedef struct mx_optimizer mx_optimizer;

/* Validates the config as MLX does (betas in [0, 1), eps > 0, ...). */
mx_optimizer *mx_optimizer_new(const mx_optim_config *config);
void mx_optimizer_free(mx_optimizer *o);
/* "SGD", "Adam", ... */
const char *mx_optimizer_name(const mx_optimizer *o);
const mx_optim_config *mx_optimizer_config(const mx_optimizer *o);

/* Put the learning rate on a schedule (taking ownership; NULL removes it).
 * The schedule is read at each update, before the step increments. */
void mx_optimizer_set_schedule(mx_optimizer *o, mx_schedule *s);
/* Set the current learning rate (stored as float32); a schedule, if any,
 * overrides it at the next update. */
mx_status mx_optimizer_set_learning_rate(mx_optimizer *o, double lr);
/* Current learning rate (NAN when there is none: Adafactor without one). */
double mx_optimizer_learning_rate(const mx_optimizer *o);
/* Number of updates applied so far. */
int64_t mx_optimizer_step(const mx_optimizer *o);

/* Create the state for these parameters now (optional; MLX
 * Optimizer.init). Existing state is kept. */
mx_status mx_optimizer_init(mx_optimizer *o, const mx_array_map *params);
/* Update the parameters named in grads: params (a superset of grads) gets
 * the new arrays in place. */
mx_status mx_optimizer_apply_gradients(mx_optimizer *o, const mx_array_map *grads,
                                       mx_array_map *params);
/* MLX Optimizer.update: every name in grads must be a parameter of model. */
mx_status mx_optimizer_update(mx_optimizer *o, mx_module *model,
                              const mx_array_map *grads);

/* The state flattened as MLX's tree_flatten(optimizer.state) names it:
 * "step" (uint64), "learning_rate" (float32, when set) and
 * "<param>.<slot>". A new map the caller frees. */
mx_array_map *mx_optimizer_state(const mx_optimizer *o);
/* One state array (borrowed; NULL if absent). */
mx_array *mx_optimizer_state_get(const mx_optimizer *o, const char *param,
                                 const char *slot);
/* Replace the whole state (MLX's state setter): "step", "learning_rate" and
 * "<param>.<slot>" entries with this optimizer's slot names. The step comes
 * from metadata "step" when present, else from the "step" array. */
mx_status mx_optimizer_set_state(mx_optimizer *o, const mx_array_map *state);
/* Evaluate every state array. */
mx_status mx_optimizer_eval(mx_optimizer *o);
/* Save / load the state as safetensors (tensors as mx_optimizer_state, plus
 * metadata "step" and "optimizer"). */
mx_status mx_optimizer_save_state(const mx_optimizer *o, const char *path);
mx_status mx_optimizer_load_state(mx_optimizer *o, const char *path);

/* Scale all gradients by min(max_norm / (norm + 1e-6), 1) where norm is
 * their global L2 norm (MLX clip_grad_norm). Returns the norm (0-d array)
 * and a new map of clipped gradients in *clipped (the caller frees it). */
mx_array *mx_clip_grad_norm(const mx_array_map *grads, double max_norm,
                            mx_array_map **clipped);

#ifdef __cplusplus
}
#endif
#endif
