/* optimizers.c: MLX's optimizers (SGD, RMSprop, Adagrad, AdaDelta, Adam,
 * AdamW, Adamax, Lion, Adafactor), their per-parameter state, state
 * save/load, and clip_grad_norm.
 *
 * Each update is MLX's apply_single written with the same ops in the same
 * order. Where MLX combines a 0-d array with Python floats (the learning
 * rate cast to the gradient's dtype, Adam's bias corrections, AdamW's decay
 * factor), the scalar is computed here on the host with the same roundings:
 * rnd(t, v) rounds to dtype t after every operation, as the array op would.
 *
 * State: one record per parameter name (insertion ordered, hashed), with up
 * to four slot arrays whose names depend on the optimizer. An update builds
 * every new array first and commits only when all succeeded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "mx/optim.h"

#define MAX_SLOTS 4

typedef struct {
  char *name;
  mx_array *slot[MAX_SLOTS]; /* one reference each, or NULL */
} pstate;

struct mx_optimizer {
  mx_optim_config c;
  mx_schedule *schedule;
  int64_t step;
  bool has_lr;
  float lr; /* MLX keeps the learning rate as a float32 array */
  pstate *ps;
  int n, cap;
  int *hash; /* open addressing: index into ps, -1 empty; size hcap */
  int hcap;
};

/* ---- per-optimizer slot names ---- */

static const char *const *slot_names(const mx_optimizer *o, int *n) {
  static const char *const v[] = {"v"};
  static const char *const vu[] = {"v", "u"};
  static const char *const mv[] = {"m", "v"};
  static const char *const m[] = {"m"};
  /* Adafactor: factored (row, col) or not (exp_avg_sq); exp_avg with beta1 */
  static const char *const af[] = {"exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq",
                                   "exp_avg"};
  switch (o->c.kind) {
    case MX_OPTIM_SGD:
    case MX_OPTIM_RMSPROP:
    case MX_OPTIM_ADAGRAD:
      *n = 1;
      return v;
    case MX_OPTIM_ADADELTA:
      *n = 2;
      return vu;
    case MX_OPTIM_ADAM:
    case MX_OPTIM_ADAMW:
    case MX_OPTIM_ADAMAX:
      *n = 2;
      return mv;
    case MX_OPTIM_LION:
      *n = 1;
      return m;
    case MX_OPTIM_ADAFACTOR:
      *n = 4;
      return af;
  }
  *n = 0;
  return NULL;
}

static int slot_index(const mx_optimizer *o, const char *slot) {
  int n;
  const char *const *names = slot_names(o, &n);
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], slot) == 0) return i;
  return -1;
}

/* ---- config ---- */

mx_optim_config mx_optim_defaults(mx_optim_kind kind, double learning_rate) {
  mx_optim_config c = {
      .kind = kind,
      .learning_rate = learning_rate,
      .beta1 = 0.9,
      .beta2 = 0.999,
      .eps = 1e-8,
      .eps2 = 1e-3,
      .alpha = 0.99,
      .rho = 0.9,
      .clip_threshold = 1.0,
      .decay_rate = -0.8,
      .scale_parameter = true,
      .relative_step = true,
  };
  switch (kind) {
    case MX_OPTIM_ADAMW:
      c.weight_decay = 0.01;
      break;
    case MX_OPTIM_LION:
      c.beta2 = 0.99;
      break;
    case MX_OPTIM_ADADELTA:
      c.eps = 1e-6;
      break;
    case MX_OPTIM_ADAFACTOR:
      c.eps = 1e-30;
      c.beta1 = NAN;
      break;
    default:
      break;
  }
  return c;
}

static const char *kind_name(mx_optim_kind k) {
  switch (k) {
    case MX_OPTIM_SGD:
      return "SGD";
    case MX_OPTIM_RMSPROP:
      return "RMSprop";
    case MX_OPTIM_ADAGRAD:
      return "Adagrad";
    case MX_OPTIM_ADADELTA:
      return "AdaDelta";
    case MX_OPTIM_ADAM:
      return "Adam";
    case MX_OPTIM_ADAMW:
      return "AdamW";
    case MX_OPTIM_ADAMAX:
      return "Adamax";
    case MX_OPTIM_LION:
      return "Lion";
    case MX_OPTIM_ADAFACTOR:
      return "Adafactor";
  }
  return NULL;
}

static bool validate(const mx_optim_config *c) {
  const char *nm = kind_name(c->kind);
  if (!nm) {
    mx_set_error(MX_ERR_INVALID, "[optim] unknown optimizer kind %d", (int)c->kind);
    return false;
  }
#define BAD(...) (mx_set_error(MX_ERR_INVALID, __VA_ARGS__), false)
  bool needs_lr = !(c->kind == MX_OPTIM_ADAFACTOR && c->relative_step);
  if (needs_lr && !isfinite(c->learning_rate))
    return BAD("[optim.%s] learning_rate must be finite, got %g", nm, c->learning_rate);
  switch (c->kind) {
    case MX_OPTIM_SGD:
      if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return BAD(
            "[optim.SGD] Nesterov momentum requires a momentum and zero dampening.");
      break;
    case MX_OPTIM_RMSPROP:
      if (c->alpha < 0)
        return BAD("[optim.RMSprop] RMSprop alpha should be >=0, %g was provided instead",
                   c->alpha);
      if (!(c->eps > 0))
        return BAD(
            "[optim.RMSprop] RMSprop epsilon should be >0, %g was provided instead",
            c->eps);
      break;
    case MX_OPTIM_ADAGRAD:
      if (!(c->eps > 0))
        return BAD(
            "[optim.Adagrad] Adagrad epsilon should be >0, %g was provided instead",
            c->eps);
      break;
    case MX_OPTIM_ADADELTA:
      if (c->rho < 0)
        return BAD("[optim.AdaDelta] AdaDelta rho should be >=0, %g was provided instead",
                   c->rho);
      if (!(c->eps > 0))
        return BAD(
            "[optim.AdaDelta] AdaDelta epsilon should be >0, %g was provided "
            "instead",
            c->eps);
      break;
    case MX_OPTIM_ADAM:
    case MX_OPTIM_ADAMW:
    case MX_OPTIM_ADAMAX:
    case MX_OPTIM_LION:
      if (!(c->beta1 >= 0 && c->beta1 < 1))
        return BAD("[optim.%s] %s beta1 should be in [0, 1), %g was provided instead", nm,
                   nm, c->beta1);
      if (!(c->beta2 >= 0 && c->beta2 < 1))
        return BAD("[optim.%s] %s beta2 should be in [0, 1), %g was provided instead", nm,
                   nm, c->beta2);
      if (c->kind != MX_OPTIM_LION && !(c->eps >= 0))
        return BAD("[optim.%s] %s epsilon should be >=0, %g was provided instead", nm, nm,
                   c->eps);
      break;
    case MX_OPTIM_ADAFACTOR:
      if (!(c->clip_threshold > 0))
        return BAD("[optim.Adafactor] clip_threshold must be positive, got %g",
                   c->clip_threshold);
      break;
  }
#undef BAD
  return true;
}

mx_optimizer *mx_optimizer_new(const mx_optim_config *config) {
  if (!config) {
    mx_set_error(MX_ERR_INVALID, "[optim] NULL config");
    return NULL;
  }
  if (!validate(config)) return NULL;
  mx_optimizer *o = calloc(1, sizeof *o);
  if (!o) {
    mx_set_error(MX_ERR_NOMEM, "[optim] out of memory");
    return NULL;
  }
  o->c = *config;
  o->has_lr = !isnan(config->learning_rate);
  o->lr = o->has_lr ? (float)config->learning_rate : NAN;
  return o;
}

static void clear_state(mx_optimizer *o) {
  for (int i = 0; i < o->n; i++) {
    free(o->ps[i].name);
    for (int s = 0; s < MAX_SLOTS; s++) mx_free(o->ps[i].slot[s]);
  }
  o->n = 0;
  for (int i = 0; i < o->hcap; i++) o->hash[i] = -1;
}

void mx_optimizer_free(mx_optimizer *o) {
  if (!o) return;
  clear_state(o);
  free(o->ps);
  free(o->hash);
  mx_schedule_free(o->schedule);
  free(o);
}

const char *mx_optimizer_name(const mx_optimizer *o) {
  return o ? kind_name(o->c.kind) : NULL;
}
const mx_optim_config *mx_optimizer_config(const mx_optimizer *o) {
  return o ? &o->c : NULL;
}

void mx_optimizer_set_schedule(mx_optimizer *o, mx_schedule *s) {
  if (!o) {
    mx_schedule_free(s);
    return;
  }
  if (o->schedule != s) mx_schedule_free(o->schedule);
  o->schedule = s;
  if (s) { /* MLX evaluates the schedule at the current step right away */
    o->lr = (float)mx_schedule_value(s, o->step);
    o->has_lr = true;
  }
}

mx_status mx_optimizer_set_learning_rate(mx_optimizer *o, double lr) {
  if (!o) return mx_set_error(MX_ERR_INVALID, "[optim] NULL optimizer");
  if (!isfinite(lr))
    return mx_set_error(MX_ERR_INVALID, "[optim] learning rate must be finite, got %g",
                        lr);
  o->lr = (float)lr;
  o->has_lr = true;
  return MX_OK;
}

double mx_optimizer_learning_rate(const mx_optimizer *o) {
  return o && o->has_lr ? (double)o->lr : NAN;
}

int64_t mx_optimizer_step(const mx_optimizer *o) { return o ? o->step : 0; }

/* ---- state table ---- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int find_state(const mx_optimizer *o, const char *name) {
  if (!o->hcap) return -1;
  for (uint64_t i = hash_str(name) & (uint64_t)(o->hcap - 1);;
       i = (i + 1) & (uint64_t)(o->hcap - 1)) {
    int k = o->hash[i];
    if (k < 0) return -1;
    if (strcmp(o->ps[k].name, name) == 0) return k;
  }
}

static void hash_insert(mx_optimizer *o, int k) {
  uint64_t i = hash_str(o->ps[k].name) & (uint64_t)(o->hcap - 1);
  while (o->hash[i] >= 0) i = (i + 1) & (uint64_t)(o->hcap - 1);
  o->hash[i] = k;
}

/* Index of a new, empty record for `name`, or -1 (error recorded). */
static int add_state(mx_optimizer *o, const char *name) {
  if (o->n == o->cap) {
    int nc = o->cap ? 2 * o->cap : 16;
    pstate *np = realloc(o->ps, (size_t)nc * sizeof *np);
    if (!np) goto oom;
    o->ps = np;
    o->cap = nc;
  }
  if (2 * (o->n + 1) > o->hcap) { /* keep the load factor under 1/2 */
    int nh = o->hcap ? 2 * o->hcap : 32;
    while (2 * (o->n + 1) > nh) nh *= 2;
    int *h = malloc((size_t)nh * sizeof *h);
    if (!h) goto oom;
    free(o->hash);
    o->hash = h;
    o->hcap = nh;
    for (int i = 0; i < nh; i++) h[i] = -1;
    for (int k = 0; k < o->n; k++) hash_insert(o, k);
  }
  char *nm = strdup(name);
  if (!nm) goto oom;
  o->ps[o->n] = (pstate){.name = nm};
  hash_insert(o, o->n);
  return o->n++;
oom:
  mx_set_error(MX_ERR_NOMEM, "[optim] out of memory");
  return -1;
}

mx_array *mx_optimizer_state_get(const mx_optimizer *o, const char *param,
                                 const char *slot) {
  if (!o || !param || !slot) return NULL;
  int k = find_state(o, param), s = slot_index(o, slot);
  return k >= 0 && s >= 0 ? o->ps[k].slot[s] : NULL;
}

/* ---- scalar helpers ---- */

/* v rounded to dtype t, as an array op's result would be (half types are
 * computed in float32 and rounded). */
static double rnd(mx_dtype t, double v) {
  switch (t) {
    case MX_FLOAT64:
      return v;
    case MX_FLOAT16:
      return mx_f16_to_f32(mx_f32_to_f16((float)v));
    case MX_BFLOAT16:
      return mx_bf16_to_f32(mx_f32_to_bf16((float)v));
    default:
      return (float)v;
  }
}

/* A weakly typed Python scalar next to array a. */
static mx_array *S(mx_array *a, double v) { return mx_scalar_like(a, v); }
/* A 0-d array of dtype t holding v rounded to t (an array cast with
 * astype). */
static mx_array *T(mx_dtype t, double v) { return mx_array_scalar_f64(rnd(t, v), t); }

/* ---- the updates ---- */

typedef struct {
  mx_optimizer *o;
  int64_t step; /* after the increment: 1 on the first update */
  double lr32;  /* the float32 learning rate */
} upd_ctx;

/* The new slot arrays; slot[i] NULL means unchanged. */
typedef struct {
  mx_array *slot[MAX_SLOTS];
} new_state;

/* Zeros for slot i of a parameter with gradient g (MLX init_single, which
 * is called with the gradients). */
static mx_array *init_slot(const mx_optimizer *o, int i, mx_array *g) {
  if (o->c.kind != MX_OPTIM_ADAFACTOR) return mx_zeros_like(g);
  int nd = mx_array_ndim(g);
  const int *sh = mx_array_shape(g);
  if (i == 0 || i == 1) { /* factored: row (shape[:-1]), col (shape[:-2] + shape[-1:]) */
    if (nd < 2) return NULL;
    int s[MX_MAX_NDIM];
    memcpy(s, sh, sizeof(int) * (size_t)nd);
    if (i == 1) s[nd - 2] = sh[nd - 1];
    return mx_zeros(s, nd - 1, mx_array_dtype(g));
  }
  if (i == 2) return nd < 2 ? mx_zeros_like(g) : NULL;
  return isnan(o->c.beta1) ? NULL : mx_zeros_like(g);
}

/* Whether slot i exists for a parameter with gradient g. */
static bool slot_used(const mx_optimizer *o, int i, mx_array *g) {
  if (o->c.kind != MX_OPTIM_ADAFACTOR) return true;
  bool factored = mx_array_ndim(g) >= 2;
  if (i < 2) return factored;
  if (i == 2) return !factored;
  return !isnan(o->c.beta1);
}

static mx_array *rms(mx_array *x) {
  return mx_sqrt(mx_mean(mx_square(x), NULL, 0, false));
}

/* Adam's update of (m, v) and the parameter; p may already carry AdamW's
 * decay. */
static mx_array *adam_update(const upd_ctx *u, mx_array *g, mx_array *p, mx_array **st,
                             new_state *ns) {
  const mx_optim_config *c = &u->o->c;
  mx_dtype t = mx_array_dtype(g);
  double lr = rnd(t, u->lr32);
  mx_array *m = mx_add(mx_multiply(S(st[0], c->beta1), st[0]),
                       mx_multiply(S(g, 1.0 - c->beta1), g));
  mx_array *v = mx_add(mx_multiply(S(st[1], c->beta2), st[1]),
                       mx_multiply(S(g, 1.0 - c->beta2), mx_square(g)));
  ns->slot[0] = m;
  ns->slot[1] = v;
  if (c->bias_correction) {
    /* b ** step is a float32 array (Python float ** uint64 array) */
    float step = (float)u->step;
    float d1 = 1.0f - powf((float)c->beta1, step);
    float d2 = 1.0f - powf((float)c->beta2, step);
    mx_dtype t32 = mx_promote_types(t, MX_FLOAT32);
    double c1 = rnd(t, rnd(t32, lr / (double)d1));  /* (lr / (1 - b1**step)) */
    double c2 = rnd(t, (double)(1.0f / sqrtf(d2))); /* rsqrt(1 - b2**step) */
    mx_array *num = mx_multiply(mx_array_scalar_f64(c1, t), m);
    mx_array *den =
        mx_add(mx_multiply(mx_sqrt(v), mx_array_scalar_f64(c2, t)), S(v, c->eps));
    return mx_subtract(p, mx_divide(num, den));
  }
  mx_array *den = mx_add(mx_sqrt(v), S(v, c->eps));
  return mx_subtract(p, mx_divide(mx_multiply(T(t, lr), m), den));
}

/* One parameter's update: returns the new parameter and fills ns. st holds
 * the current slots (zeros on first sight). */
static mx_array *apply_single(const upd_ctx *u, mx_array *g, mx_array *p, mx_array **st,
                              new_state *ns) {
  const mx_optim_config *c = &u->o->c;
  mx_dtype t = mx_array_dtype(g);
  double lr = rnd(t, u->lr32); /* learning_rate.astype(gradient.dtype) */
  switch (c->kind) {
    case MX_OPTIM_SGD: {
      if (c->weight_decay != 0) g = mx_add(g, mx_multiply(S(p, c->weight_decay), p));
      if (c->momentum <= 0) return mx_subtract(p, mx_multiply(T(t, lr), g));
      mx_array *v = mx_multiply(S(st[0], c->momentum), st[0]);
      v = c->dampening > 0 ? mx_add(v, mx_multiply(S(g, 1.0 - c->dampening), g))
                           : mx_add(v, g);
      mx_array *update = c->nesterov ? mx_add(g, mx_multiply(S(v, c->momentum), v)) : v;
      ns->slot[0] = v;
      return mx_subtract(p, mx_multiply(T(t, lr), update));
    }
    case MX_OPTIM_RMSPROP: {
      mx_array *v = mx_add(mx_multiply(S(st[0], c->alpha), st[0]),
                           mx_multiply(S(g, 1.0 - c->alpha), mx_square(g)));
      ns->slot[0] = v;
      mx_array *den = mx_add(mx_sqrt(v), S(v, c->eps));
      return mx_subtract(p, mx_divide(mx_multiply(T(t, lr), g), den));
    }
    case MX_OPTIM_ADAGRAD: {
      mx_array *v = mx_add(st[0], mx_square(g));
      ns->slot[0] = v;
      mx_array *den = mx_add(mx_sqrt(v), S(v, c->eps));
      return mx_subtract(p, mx_divide(mx_multiply(T(t, lr), g), den));
    }
    case MX_OPTIM_ADADELTA: {
      mx_array *v = mx_add(mx_multiply(S(st[0], c->rho), st[0]),
                           mx_multiply(S(g, 1.0 - c->rho), mx_square(g)));
      mx_array *d = mx_multiply(mx_divide(mx_sqrt(mx_add(st[1], S(st[1], c->eps))),
                                          mx_sqrt(mx_add(v, S(v, c->eps)))),
                                g);
      mx_array *uu = mx_add(mx_multiply(S(st[1], c->rho), st[1]),
                            mx_multiply(S(d, 1.0 - c->rho), mx_square(d)));
      ns->slot[0] = v;
      ns->slot[1] = uu;
      return mx_subtract(p, mx_multiply(T(t, lr), d));
    }
    case MX_OPTIM_ADAM:
      return adam_update(u, g, p, st, ns);
    case MX_OPTIM_ADAMW: {
      /* parameter * (1 - lr * weight_decay), in the gradient's dtype */
      double f = rnd(t, 1.0 - rnd(t, lr * rnd(t, c->weight_decay)));
      mx_array *pd = mx_multiply(p, mx_array_scalar_f64(f, t));
      return adam_update(u, g, pd, st, ns);
    }
    case MX_OPTIM_ADAMAX: {
      mx_array *m = mx_add(mx_multiply(S(st[0], c->beta1), st[0]),
                           mx_multiply(S(g, 1.0 - c->beta1), g));
      mx_array *v = mx_maximum(mx_multiply(S(st[1], c->beta2), st[1]), mx_abs(g));
      ns->slot[0] = m;
      ns->slot[1] = v;
      mx_array *den = mx_add(v, S(v, c->eps));
      return mx_subtract(p, mx_divide(mx_multiply(T(t, lr), m), den));
    }
    case MX_OPTIM_LION: {
      mx_array *m = st[0];
      mx_array *cc =
          mx_add(mx_multiply(S(m, c->beta1), m), mx_multiply(S(g, 1.0 - c->beta1), g));
      ns->slot[0] =
          mx_add(mx_multiply(S(m, c->beta2), m), mx_multiply(S(g, 1.0 - c->beta2), g));
      if (c->weight_decay > 0) {
        double f = rnd(t, 1.0 - rnd(t, lr * rnd(t, c->weight_decay)));
        p = mx_multiply(mx_array_scalar_f64(f, t), p);
      }
      return mx_subtract(p, mx_multiply(T(t, lr), mx_sign(cc)));
    }
    case MX_OPTIM_ADAFACTOR: {
      bool factored = mx_array_ndim(g) >= 2;
      mx_array *prms = rms(p);
      mx_dtype pt = mx_array_dtype(prms);
      float step = (float)u->step;
      /* relative step size: min(min_step, rsqrt(step)) in float32 */
      double rel;
      if (c->relative_step) {
        float min_step = c->warmup_init ? (float)1e-6 * step : (float)1e-2;
        float rs = 1.0f / sqrtf(step);
        rel = rnd(pt, (double)(min_step < rs ? min_step : rs));
      } else {
        rel = rnd(pt, u->lr32);
      }
      mx_array *lr_a = T(pt, rel);
      if (c->scale_parameter)
        lr_a = mx_multiply(mx_maximum(S(prms, c->eps2), prms), lr_a);
      /* beta_2 = 1 - step ** decay_rate (float32, cast to the rms dtype) */
      double b2 = rnd(pt, 1.0 - rnd(pt, (double)powf(step, (float)c->decay_rate)));
      mx_array *beta2 = T(pt, b2), *one_m_b2 = T(pt, rnd(pt, 1.0 - b2));
      mx_array *update = mx_add(mx_square(g), S(g, c->eps));
      if (factored) {
        int last = -1, second = -2;
        mx_array *row = mx_add(mx_multiply(beta2, st[0]),
                               mx_multiply(one_m_b2, mx_mean(update, &last, 1, false)));
        mx_array *col = mx_add(mx_multiply(beta2, st[1]),
                               mx_multiply(one_m_b2, mx_mean(update, &second, 1, false)));
        ns->slot[0] = row;
        ns->slot[1] = col;
        mx_array *rf = mx_rsqrt(mx_divide(row, mx_mean(row, &last, 1, true)));
        mx_array *cf = mx_rsqrt(col);
        update =
            mx_multiply(mx_expand_dims(rf, &last, 1), mx_expand_dims(cf, &second, 1));
        update = mx_multiply(update, g);
      } else {
        mx_array *v = mx_add(mx_multiply(beta2, st[2]), mx_multiply(one_m_b2, update));
        ns->slot[2] = v;
        update = mx_multiply(mx_rsqrt(v), g);
      }
      mx_array *ur = rms(update);
      update = mx_divide(update,
                         mx_maximum(S(ur, 1.0), mx_divide(ur, S(ur, c->clip_threshold))));
      update = mx_multiply(lr_a, update);
      if (!isnan(c->beta1)) {
        mx_array *ea = mx_add(mx_multiply(S(st[3], c->beta1), st[3]),
                              mx_multiply(S(update, 1.0 - c->beta1), update));
        ns->slot[3] = ea;
        update = ea;
      }
      if (c->weight_decay != 0)
        p = mx_add(p, mx_multiply(p, mx_multiply(S(lr_a, -c->weight_decay), lr_a)));
      return mx_subtract(p, update);
    }
  }
  mx_set_error(MX_ERR_INVALID, "[optim] unknown optimizer kind");
  return NULL;
}

/* ---- applying gradients ---- */

typedef struct {
  int state_index; /* -1: new record */
  mx_array *param;
  new_state ns;
} pending;

/* Computes every update (in the caller's scope); on success fills out[i]
 * with the new parameter for grads entry i and pend[i] with its state. */
static mx_status compute_all(mx_optimizer *o, const mx_array_map *grads,
                             mx_array *(*get_param)(void *ctx, const char *name),
                             void *ctx, pending *pend, bool params_only_init) {
  int n = mx_array_map_size(grads);
  upd_ctx u = {o, o->step + 1, 0};
  if (o->schedule)
    u.lr32 = (float)mx_schedule_value(o->schedule, o->step);
  else
    u.lr32 = o->has_lr ? o->lr : NAN;
  int nslots;
  slot_names(o, &nslots);
  for (int i = 0; i < n; i++) {
    const char *name = mx_array_map_name(grads, i);
    mx_array *g = mx_array_map_at(grads, i);
    mx_array *p = get_param(ctx, name);
    if (!p)
      return mx_last_status()
                 ? mx_last_status()
                 : mx_set_error(MX_ERR_INVALID,
                                "[optim.update] no parameter named \"%s\"", name);
    if (!mx_dtype_is_floating(mx_array_dtype(g)))
      return mx_set_error(MX_ERR_INVALID,
                          "[optim.update] gradient \"%s\" must be floating, got %s", name,
                          mx_dtype_name(mx_array_dtype(g)));
    int ndg = mx_array_ndim(g);
    if (ndg != mx_array_ndim(p) ||
        memcmp(mx_array_shape(g), mx_array_shape(p), sizeof(int) * (size_t)ndg) != 0) {
      char sg[128];
      snprintf(sg, sizeof sg, "%s", mx_shape_str(mx_array_shape(g), ndg));
      return mx_set_error(MX_ERR_INVALID,
                          "[optim.update] gradient %s and parameter %s of \"%s\" differ",
                          sg, mx_shape_str(mx_array_shape(p), mx_array_ndim(p)), name);
    }
    int k = find_state(o, name);
    mx_array *st[MAX_SLOTS] = {0};
    pend[i].state_index = k;
    for (int s = 0; s < nslots; s++) {
      st[s] = k >= 0 ? o->ps[k].slot[s] : NULL;
      if (!st[s] && slot_used(o, s, g)) {
        if (!(st[s] = init_slot(o, s, g))) return mx_last_status();
        /* a fresh slot is committed even if the update leaves it unchanged */
        pend[i].ns.slot[s] = st[s];
      }
    }
    if (params_only_init) continue;
    new_state ns = {{0}};
    mx_array *np = apply_single(&u, g, p, st, &ns);
    for (int s = 0; s < nslots; s++)
      if (ns.slot[s]) pend[i].ns.slot[s] = ns.slot[s];
    if (!np)
      return mx_last_status()
                 ? mx_last_status()
                 : mx_set_error(MX_ERR_RUNTIME, "[optim.update] update failed");
    pend[i].param = np;
  }
  if (!params_only_init && o->schedule) {
    o->lr = (float)u.lr32;
    o->has_lr = true;
  }
  return MX_OK;
}

/* Stores the pending state (keeping references). */
static mx_status commit_state(mx_optimizer *o, const mx_array_map *grads, pending *pend) {
  int n = mx_array_map_size(grads);
  for (int i = 0; i < n; i++) {
    int k = pend[i].state_index;
    if (k < 0) {
      const char *name = mx_array_map_name(grads, i);
      k = find_state(o, name); /* a repeated name in grads */
      if (k < 0 && (k = add_state(o, name)) < 0) return mx_last_status();
    }
    for (int s = 0; s < MAX_SLOTS; s++) {
      mx_array *a = pend[i].ns.slot[s];
      if (!a) continue;
      mx_keep(a);
      mx_free(o->ps[k].slot[s]);
      o->ps[k].slot[s] = a;
    }
  }
  return MX_OK;
}

static mx_array *param_from_map(void *ctx, const char *name) {
  return mx_array_map_get((const mx_array_map *)ctx, name);
}

static mx_array *param_from_module(void *ctx, const char *name) {
  return mx_module_get((const mx_module *)ctx, name);
}

static mx_array *param_is_grad(void *ctx, const char *name) {
  return mx_array_map_get((const mx_array_map *)ctx, name);
}

/* Runs one update against a parameter source; calls commit_params with the
 * new parameters on success. */
static mx_status run_update(mx_optimizer *o, const mx_array_map *grads,
                            mx_array *(*get_param)(void *, const char *), void *pctx,
                            mx_status (*commit_params)(void *, const mx_array_map *),
                            void *cctx, bool init_only) {
  if (!o || !grads)
    return mx_last_status()
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[optim.update] NULL argument");
  if (!init_only && !o->has_lr &&
      !(o->c.kind == MX_OPTIM_ADAFACTOR && o->c.relative_step) && !o->schedule)
    return mx_set_error(MX_ERR_INVALID, "[optim.update] no learning rate set");
  int n = mx_array_map_size(grads);
  pending *pend = calloc((size_t)(n ? n : 1), sizeof *pend);
  if (!pend) return mx_set_error(MX_ERR_NOMEM, "[optim.update] out of memory");
  mx_scope_begin();
  float lr_before = o->lr;
  bool has_before = o->has_lr;
  mx_status st = compute_all(o, grads, get_param, pctx, pend, init_only);
  mx_array_map *newp = NULL;
  if (st == MX_OK && !init_only) {
    newp = mx_array_map_new();
    if (!newp) st = mx_last_status();
    for (int i = 0; i < n && st == MX_OK; i++)
      st = mx_array_map_set(newp, mx_array_map_name(grads, i), pend[i].param);
  }
  if (st == MX_OK && newp) st = commit_params(cctx, newp);
  if (st == MX_OK) st = commit_state(o, grads, pend);
  if (st == MX_OK && !init_only) o->step++;
  if (st != MX_OK) { /* leave the learning rate as it was */
    o->lr = lr_before;
    o->has_lr = has_before;
  }
  mx_array_map_free(newp);
  mx_scope_end();
  free(pend);
  return st;
}

static mx_status commit_to_map(void *ctx, const mx_array_map *newp) {
  mx_array_map *params = ctx;
  for (int i = 0; i < mx_array_map_size(newp); i++) {
    mx_status st =
        mx_array_map_set(params, mx_array_map_name(newp, i), mx_array_map_at(newp, i));
    if (st != MX_OK) return st;
  }
  return MX_OK;
}

static mx_status commit_to_module(void *ctx, const mx_array_map *newp) {
  return mx_module_update((mx_module *)ctx, newp, true);
}

mx_status mx_optimizer_apply_gradients(mx_optimizer *o, const mx_array_map *grads,
                                       mx_array_map *params) {
  if (!params) return mx_set_error(MX_ERR_INVALID, "[optim.update] NULL parameters");
  return run_update(o, grads, param_from_map, params, commit_to_map, params, false);
}

mx_status mx_optimizer_update(mx_optimizer *o, mx_module *model,
                              const mx_array_map *grads) {
  if (!model) return mx_set_error(MX_ERR_INVALID, "[optim.update] NULL model");
  return run_update(o, grads, param_from_module, model, commit_to_module, model, false);
}

mx_status mx_optimizer_init(mx_optimizer *o, const mx_array_map *params) {
  /* MLX init(parameters): state shaped like the parameters themselves */
  return run_update(o, params, param_is_grad, (void *)params, NULL, NULL, true);
}

/* ---- state as a map ---- */

mx_array_map *mx_optimizer_state(const mx_optimizer *o) {
  if (!o) {
    mx_set_error(MX_ERR_INVALID, "[optim.state] NULL optimizer");
    return NULL;
  }
  mx_array_map *m = mx_array_map_new();
  if (!m) return NULL;
  mx_scope_begin();
  mx_status st = mx_array_map_set(m, "step", mx_array_scalar_i64(o->step, MX_UINT64));
  if (st == MX_OK && o->has_lr)
    st = mx_array_map_set(m, "learning_rate", mx_array_scalar_f64(o->lr, MX_FLOAT32));
  int ns;
  const char *const *names = slot_names(o, &ns);
  char key[4096];
  for (int k = 0; k < o->n && st == MX_OK; k++)
    for (int s = 0; s < ns && st == MX_OK; s++) {
      if (!o->ps[k].slot[s]) continue;
      if (snprintf(key, sizeof key, "%s.%s", o->ps[k].name, names[s]) >=
          (int)sizeof key) {
        st = mx_set_error(MX_ERR_INVALID, "[optim.state] name too long");
        break;
      }
      st = mx_array_map_set(m, key, o->ps[k].slot[s]);
    }
  mx_scope_end();
  if (st != MX_OK) {
    mx_array_map_free(m);
    return NULL;
  }
  return m;
}

mx_status mx_optimizer_eval(mx_optimizer *o) {
  if (!o) return mx_set_error(MX_ERR_INVALID, "[optim.eval] NULL optimizer");
  int cnt = 0;
  for (int k = 0; k < o->n; k++)
    for (int s = 0; s < MAX_SLOTS; s++) cnt += o->ps[k].slot[s] != NULL;
  if (!cnt) return MX_OK;
  mx_array **all = malloc((size_t)cnt * sizeof *all);
  if (!all) return mx_set_error(MX_ERR_NOMEM, "[optim.eval] out of memory");
  int i = 0;
  for (int k = 0; k < o->n; k++)
    for (int s = 0; s < MAX_SLOTS; s++)
      if (o->ps[k].slot[s]) all[i++] = o->ps[k].slot[s];
  mx_status st = mx_eval(all, cnt);
  free(all);
  return st;
}

mx_status mx_optimizer_set_state(mx_optimizer *o, const mx_array_map *state) {
  if (!o || !state)
    return mx_last_status()
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[optim.set_state] NULL argument");
  /* validate everything before touching the optimizer */
  int n = mx_array_map_size(state);
  int64_t step = -1;
  const char *ms = mx_array_map_meta(state, "step");
  if (ms) {
    char *end;
    long long v = strtoll(ms, &end, 10);
    if (end == ms || *end || v < 0)
      return mx_set_error(MX_ERR_IO, "[optim.set_state] invalid step metadata '%s'", ms);
    step = v;
  }
  mx_array *step_a = mx_array_map_get(state, "step");
  mx_array *lr_a = mx_array_map_get(state, "learning_rate");
  if (step < 0 && step_a) {
    if (mx_array_size(step_a) != 1)
      return mx_set_error(MX_ERR_IO, "[optim.set_state] 'step' must hold one value");
    step = mx_array_item_i64(step_a);
    if (mx_last_status()) return mx_last_status();
    if (step < 0) return mx_set_error(MX_ERR_IO, "[optim.set_state] negative step");
  }
  double lr = NAN;
  if (lr_a) {
    if (mx_array_size(lr_a) != 1)
      return mx_set_error(MX_ERR_IO,
                          "[optim.set_state] 'learning_rate' must hold one value");
    lr = mx_array_item_f64(lr_a);
    if (mx_last_status()) return mx_last_status();
  }
  for (int i = 0; i < n; i++) {
    const char *name = mx_array_map_name(state, i);
    if (strcmp(name, "step") == 0 || strcmp(name, "learning_rate") == 0) continue;
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || slot_index(o, dot + 1) < 0)
      return mx_set_error(MX_ERR_INVALID,
                          "[optim.set_state] '%s' is not a state entry of %s (expected "
                          "<param>.<slot>)",
                          name, kind_name(o->c.kind));
  }
  clear_state(o);
  char pname[4096];
  for (int i = 0; i < n; i++) {
    const char *name = mx_array_map_name(state, i);
    if (strcmp(name, "step") == 0 || strcmp(name, "learning_rate") == 0) continue;
    const char *dot = strrchr(name, '.');
    size_t len = (size_t)(dot - name);
    if (len >= sizeof pname)
      return mx_set_error(MX_ERR_INVALID, "[optim.set_state] name too long");
    memcpy(pname, name, len);
    pname[len] = 0;
    int k = find_state(o, pname);
    if (k < 0 && (k = add_state(o, pname)) < 0) return mx_last_status();
    int s = slot_index(o, dot + 1);
    mx_array *a = mx_keep(mx_array_map_at(state, i));
    mx_free(o->ps[k].slot[s]);
    o->ps[k].slot[s] = a;
  }
  o->step = step < 0 ? 0 : step;
  if (!isnan(lr)) {
    o->lr = (float)lr;
    o->has_lr = true;
  }
  return MX_OK;
}

mx_status mx_optimizer_save_state(const mx_optimizer *o, const char *path) {
  if (!o || !path)
    return mx_set_error(MX_ERR_INVALID, "[optim.save_state] NULL argument");
  mx_array_map *m = mx_optimizer_state(o);
  if (!m) return mx_last_status();
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)o->step);
  mx_status st = mx_array_map_set_meta(m, "step", buf);
  if (st == MX_OK) st = mx_array_map_set_meta(m, "optimizer", kind_name(o->c.kind));
  if (st == MX_OK) st = mx_save_safetensors(path, m);
  mx_array_map_free(m);
  return st;
}

mx_status mx_optimizer_load_state(mx_optimizer *o, const char *path) {
  if (!o || !path)
    return mx_set_error(MX_ERR_INVALID, "[optim.load_state] NULL argument");
  mx_array_map *m = mx_load_safetensors(path);
  if (!m) return mx_last_status();
  mx_status st = MX_OK;
  const char *kind = mx_array_map_meta(m, "optimizer");
  if (kind && strcmp(kind, kind_name(o->c.kind)) != 0)
    st = mx_set_error(MX_ERR_INVALID, "[optim.load_state] %s holds %s state, not %s",
                      path, kind, kind_name(o->c.kind));
  if (st == MX_OK) st = mx_optimizer_set_state(o, m);
  mx_array_map_free(m);
  return st;
}

/* ---- clip_grad_norm ---- */

mx_array *mx_clip_grad_norm(const mx_array_map *grads, double max_norm,
                            mx_array_map **clipped) {
  if (clipped) *clipped = NULL;
  if (!grads) {
    if (!mx_last_status())
      mx_set_error(MX_ERR_INVALID, "[optim.clip_grad_norm] NULL grads");
    return NULL;
  }
  if (!(max_norm >= 0)) {
    mx_set_error(MX_ERR_INVALID,
                 "[optim.clip_grad_norm] max_norm should be >=0, %g was provided instead",
                 max_norm);
    return NULL;
  }
  int n = mx_array_map_size(grads);
  mx_scope_begin();
  /* 0.0 + sum(g0^2) + sum(g1^2) + ... (a Python float start: first term's dtype) */
  mx_array *acc = NULL;
  for (int i = 0; i < n; i++) {
    mx_array *g = mx_array_map_at(grads, i);
    mx_array *sq = mx_sum(mx_square(g), NULL, 0, false);
    acc = acc ? mx_add(acc, sq) : mx_add(S(sq, 0.0), sq);
  }
  if (!acc) acc = mx_array_scalar_f64(0.0, MX_FLOAT32);
  mx_array *total = mx_sqrt(acc);
  mx_array *normalizer = mx_minimum(
      mx_divide(S(total, max_norm), mx_add(total, S(total, 1e-6))), S(total, 1.0));
  mx_array_map *out = NULL;
  if (clipped && total) {
    out = mx_array_map_new();
    for (int i = 0; out && i < n; i++) {
      mx_array *g = mx_array_map_at(grads, i);
      if (mx_array_map_set(out, mx_array_map_name(grads, i),
                           mx_multiply(g, normalizer)) != MX_OK) {
        mx_array_map_free(out);
        out = NULL;
      }
    }
    if (!out) total = NULL;
  }
  if (total) mx_keep(total);
  mx_scope_end();
  if (!total) {
    mx_array_map_free(out);
    return NULL;
  }
  if (clipped) *clipped = out;
  return mx_scope_adopt(total);
}
