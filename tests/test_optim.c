/* test_optim.c: optimizers against their closed forms in float64 over
 * several steps (weight decay, momentum, dampening, nesterov, bias
 * correction, Adafactor's factored second moments), schedules at chosen
 * steps, an optimizer on a schedule, clip_grad_norm, state save/load round
 * trip, updates of a module (frozen parameters, unknown names) and config
 * validation. The references follow MLX's documented semantics: the
 * learning rate is stored as float32, the step counts from 1 inside an
 * update and the schedule sees the step before the update. */
#include <unistd.h>

#include "harness.h"

#define NW 12 /* "w": (3, 4) */
#define NB 5  /* "b": (5,) */
#define NSTEPS 5

typedef struct {
  double p[NW + NB];
  double s[4][NW + NB]; /* slots; Adafactor: row/col/vec/exp_avg packed */
} ref_state;

/* Gradients for step t (1-based), deterministic. */
static void grads_at(int t, double *g) {
  for (int i = 0; i < NW + NB; i++)
    g[i] = sin(1.3 * i + 0.7 * t) * (1 + 0.1 * t) + 0.05 * i;
}

static mx_array_map *grads_map(int t, mx_dtype dt) {
  double g[NW + NB];
  grads_at(t, g);
  int ws[2] = {3, 4}, bs = NB;
  mx_array_map *m = mx_array_map_new();
  mx_scope_begin();
  mx_array_map_set(m, "w", mx_astype(mx_array_from_data(g, ws, 2, MX_FLOAT64), dt));
  mx_array_map_set(m, "b", mx_astype(mx_array_from_data(g + NW, &bs, 1, MX_FLOAT64), dt));
  mx_scope_end();
  return m;
}

static mx_array_map *params_map(const double *p, mx_dtype dt) {
  int ws[2] = {3, 4}, bs = NB;
  mx_array_map *m = mx_array_map_new();
  mx_scope_begin();
  mx_array_map_set(m, "w", mx_astype(mx_array_from_data(p, ws, 2, MX_FLOAT64), dt));
  mx_array_map_set(m, "b", mx_astype(mx_array_from_data(p + NW, &bs, 1, MX_FLOAT64), dt));
  mx_scope_end();
  return m;
}

static void init_params(double *p) {
  for (int i = 0; i < NW + NB; i++) p[i] = cos(0.9 * i) * 0.8 + 0.1;
}

/* One update of the elementwise optimizers in float64 (MLX formulas). */
static void ref_elementwise(const mx_optim_config *c, mx_dtype dt, int t, double lr,
                            double *p, double (*s)[NW + NB], const double *g0, int lo,
                            int hi) {
  for (int i = lo; i < hi; i++) {
    double g = g0[i], w = p[i];
    switch (c->kind) {
      case MX_OPTIM_SGD: {
        g += c->weight_decay * w;
        if (c->momentum <= 0) {
          p[i] = w - lr * g;
          break;
        }
        double v =
            c->momentum * s[0][i] + (c->dampening > 0 ? (1 - c->dampening) * g : g);
        s[0][i] = v;
        double upd = c->nesterov ? g + c->momentum * v : v;
        p[i] = w - lr * upd;
        break;
      }
      case MX_OPTIM_RMSPROP:
        s[0][i] = c->alpha * s[0][i] + (1 - c->alpha) * g * g;
        p[i] = w - lr * g / (sqrt(s[0][i]) + c->eps);
        break;
      case MX_OPTIM_ADAGRAD:
        s[0][i] += g * g;
        p[i] = w - lr * g / (sqrt(s[0][i]) + c->eps);
        break;
      case MX_OPTIM_ADADELTA: {
        s[0][i] = c->rho * s[0][i] + (1 - c->rho) * g * g;
        double d = sqrt(s[1][i] + c->eps) / sqrt(s[0][i] + c->eps) * g;
        s[1][i] = c->rho * s[1][i] + (1 - c->rho) * d * d;
        p[i] = w - lr * d;
        break;
      }
      case MX_OPTIM_ADAM:
      case MX_OPTIM_ADAMW: {
        if (c->kind == MX_OPTIM_ADAMW) w *= 1 - lr * c->weight_decay;
        double m = s[0][i] = c->beta1 * s[0][i] + (1 - c->beta1) * g;
        double v = s[1][i] = c->beta2 * s[1][i] + (1 - c->beta2) * g * g;
        if (c->bias_correction) {
          /* MLX: beta ** step is a float32 array (Python float ** uint64
           * array), so 1 - beta2^t carries float32 cancellation; the
           * corrections are c1 = lr / (1 - b1^t), c2 = rsqrt(1 - b2^t) in
           * float32, and w - c1 m / (sqrt(v) c2 + eps) */
          float d1 = 1.0f - powf((float)c->beta1, (float)t);
          float d2 = 1.0f - powf((float)c->beta2, (float)t);
          double c1 = lr / d1, c2 = 1.0f / sqrtf(d2);
          if (dt != MX_FLOAT64) c1 = (float)c1;
          p[i] = w - c1 * m / (sqrt(v) * c2 + c->eps);
        } else {
          p[i] = w - lr * m / (sqrt(v) + c->eps);
        }
        break;
      }
      case MX_OPTIM_ADAMAX: {
        double m = s[0][i] = c->beta1 * s[0][i] + (1 - c->beta1) * g;
        double v = s[1][i] = fmax(c->beta2 * s[1][i], fabs(g));
        p[i] = w - lr * m / (v + c->eps);
        break;
      }
      case MX_OPTIM_LION: {
        double cc = c->beta1 * s[0][i] + (1 - c->beta1) * g;
        s[0][i] = c->beta2 * s[0][i] + (1 - c->beta2) * g;
        if (c->weight_decay > 0) w *= 1 - lr * c->weight_decay;
        p[i] = w - lr * (cc > 0 ? 1 : cc < 0 ? -1 : 0);
        break;
      }
      default:
        break;
    }
  }
}

/* Adafactor on one parameter: a (R, C) matrix (factored) or a vector.
 * st: row (R) + col (C) or vec (n); ea (n). */
static void ref_adafactor(const mx_optim_config *c, int t, double lr, double *p,
                          const double *g, int R, int C, bool matrix, double *row,
                          double *col, double *vec, double *ea) {
  int n = matrix ? R * C : R;
  double ms = 0;
  for (int i = 0; i < n; i++) ms += p[i] * p[i];
  double prms = sqrt(ms / n);
  double rel =
      c->relative_step ? fmin(c->warmup_init ? 1e-6 * t : 1e-2, 1 / sqrt((double)t)) : lr;
  double lra = c->scale_parameter ? fmax(c->eps2, prms) * rel : rel;
  double b2 = 1 - pow((double)t, c->decay_rate);
  double *u = calloc((size_t)n, sizeof *u);
  if (matrix) {
    for (int r = 0; r < R; r++) {
      double a = 0;
      for (int k = 0; k < C; k++) a += g[r * C + k] * g[r * C + k] + c->eps;
      row[r] = b2 * row[r] + (1 - b2) * a / C;
    }
    for (int k = 0; k < C; k++) {
      double a = 0;
      for (int r = 0; r < R; r++) a += g[r * C + k] * g[r * C + k] + c->eps;
      col[k] = b2 * col[k] + (1 - b2) * a / R;
    }
    double rm = 0;
    for (int r = 0; r < R; r++) rm += row[r];
    rm /= R;
    for (int r = 0; r < R; r++)
      for (int k = 0; k < C; k++)
        u[r * C + k] = 1 / sqrt(row[r] / rm) / sqrt(col[k]) * g[r * C + k];
  } else {
    for (int i = 0; i < n; i++) {
      vec[i] = b2 * vec[i] + (1 - b2) * (g[i] * g[i] + c->eps);
      u[i] = g[i] / sqrt(vec[i]);
    }
  }
  double us = 0;
  for (int i = 0; i < n; i++) us += u[i] * u[i];
  double den = fmax(1.0, sqrt(us / n) / c->clip_threshold);
  for (int i = 0; i < n; i++) {
    double ui = lra * (u[i] / den);
    if (!isnan(c->beta1)) ui = ea[i] = c->beta1 * ea[i] + (1 - c->beta1) * ui;
    double w = p[i];
    if (c->weight_decay != 0) w += w * (-c->weight_decay * lra);
    p[i] = w - ui;
  }
  free(u);
}

static void ref_update(const mx_optim_config *c, mx_dtype dt, int t, double lr,
                       ref_state *r, const double *g) {
  if (c->kind == MX_OPTIM_ADAFACTOR) {
    /* w: (3, 4) factored: row s[0][0..3), col s[1][0..4); b: vector s[2] */
    ref_adafactor(c, t, lr, r->p, g, 3, 4, true, r->s[0], r->s[1], NULL, r->s[3]);
    ref_adafactor(c, t, lr, r->p + NW, g + NW, NB, 1, false, NULL, NULL, r->s[2] + NW,
                  r->s[3] + NW);
  } else {
    ref_elementwise(c, dt, t, lr, r->p, r->s, g, 0, NW + NB);
  }
}

/* Runs NSTEPS updates of `c` in dtype dt and compares every step. */
static void run_against_ref(const char *name, mx_optim_config c, mx_dtype dt,
                            double tol) {
  mx_optimizer *o = mx_optimizer_new(&c);
  MXT_OK(o);
  if (!o) return;
  ref_state r;
  memset(&r, 0, sizeof r);
  init_params(r.p);
  /* start from the parameters as the dtype holds them */
  mx_array_map *pm = params_map(r.p, dt);
  for (int i = 0; i < 2; i++) {
    double *d = mxt_to_f64(mx_array_map_at(pm, i));
    memcpy(i == 0 ? r.p : r.p + NW, d, sizeof(double) * (i == 0 ? NW : NB));
    free(d);
  }
  double lr = (float)c.learning_rate; /* MLX stores it as float32 */
  char what[160];
  for (int t = 1; t <= NSTEPS; t++) {
    double g[NW + NB];
    mx_array_map *gm = grads_map(t, dt);
    /* the reference sees the gradients as the dtype holds them */
    for (int i = 0; i < 2; i++) {
      double *d = mxt_to_f64(mx_array_map_at(gm, i));
      memcpy(i == 0 ? g : g + NW, d, sizeof(double) * (i == 0 ? NW : NB));
      free(d);
    }
    mx_status st = mx_optimizer_apply_gradients(o, gm, pm);
    MXT_CHECK(st == MX_OK, "%s step %d: %s", name, t, mx_last_error());
    ref_update(&c, dt, t, lr, &r, g);
    snprintf(what, sizeof what, "%s (%s) step %d w", name, mx_dtype_name(dt), t);
    mxt_close(mx_array_map_get(pm, "w"), r.p, NW, tol, tol * 1e-3, what);
    snprintf(what, sizeof what, "%s (%s) step %d b", name, mx_dtype_name(dt), t);
    mxt_close(mx_array_map_get(pm, "b"), r.p + NW, NB, tol, tol * 1e-3, what);
    MXT_CHECK(mx_array_dtype(mx_array_map_get(pm, "w")) == dt, "%s keeps dtype", name);
    MXT_CHECK(mx_optimizer_step(o) == t, "step count");
    mx_array_map_free(gm);
  }
  mx_array_map_free(pm);
  mx_optimizer_free(o);
}

static void test_sgd(void) {
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_SGD, 0.1);
  run_against_ref("sgd", c, MX_FLOAT64, 1e-12);
  run_against_ref("sgd", c, MX_FLOAT32, 2e-6);
  c.weight_decay = 0.1;
  run_against_ref("sgd wd", c, MX_FLOAT64, 1e-12);
  c.momentum = 0.9;
  run_against_ref("sgd momentum wd", c, MX_FLOAT64, 1e-12);
  c.dampening = 0.2;
  run_against_ref("sgd dampening", c, MX_FLOAT64, 1e-12);
  c.dampening = 0;
  c.nesterov = true;
  run_against_ref("sgd nesterov", c, MX_FLOAT64, 1e-12);
  run_against_ref("sgd nesterov", c, MX_FLOAT32, 2e-6);
  /* nesterov needs momentum and no dampening */
  c.dampening = 0.1;
  MXT_CHECK(mx_optimizer_new(&c) == NULL && strstr(mx_last_error(), "Nesterov"),
            "nesterov");
  mx_clear_error();
}

static void test_adaptive(void) {
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_RMSPROP, 0.01);
  MXT_CHECK(c.alpha == 0.99 && c.eps == 1e-8, "rmsprop defaults");
  run_against_ref("rmsprop", c, MX_FLOAT64, 1e-11);
  run_against_ref("rmsprop", c, MX_FLOAT32, 1e-5);
  c = mx_optim_defaults(MX_OPTIM_ADAGRAD, 0.05);
  run_against_ref("adagrad", c, MX_FLOAT64, 1e-11);
  c = mx_optim_defaults(MX_OPTIM_ADADELTA, 0.5);
  MXT_CHECK(c.rho == 0.9 && c.eps == 1e-6, "adadelta defaults");
  run_against_ref("adadelta", c, MX_FLOAT64, 1e-11);
  c = mx_optim_defaults(MX_OPTIM_ADAM, 0.01);
  MXT_CHECK(c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8 && !c.bias_correction,
            "adam defaults");
  run_against_ref("adam", c, MX_FLOAT64, 1e-11);
  run_against_ref("adam", c, MX_FLOAT32, 1e-5);
  c.bias_correction = true;
  run_against_ref("adam bias correction", c, MX_FLOAT64, 1e-11);
  run_against_ref("adam bias correction", c, MX_FLOAT32, 1e-5);
  c = mx_optim_defaults(MX_OPTIM_ADAMW, 0.01);
  MXT_CHECK(c.weight_decay == 0.01, "adamw default decay");
  c.weight_decay = 0.1;
  run_against_ref("adamw", c, MX_FLOAT64, 1e-11);
  c.bias_correction = true;
  run_against_ref("adamw bias correction", c, MX_FLOAT64, 1e-11);
  c = mx_optim_defaults(MX_OPTIM_ADAMAX, 0.01);
  run_against_ref("adamax", c, MX_FLOAT64, 1e-11);
  c = mx_optim_defaults(MX_OPTIM_LION, 0.001);
  MXT_CHECK(c.beta1 == 0.9 && c.beta2 == 0.99 && c.weight_decay == 0, "lion defaults");
  run_against_ref("lion", c, MX_FLOAT64, 1e-12);
  c.weight_decay = 0.1;
  run_against_ref("lion wd", c, MX_FLOAT64, 1e-12);
  run_against_ref("lion wd", c, MX_FLOAT32, 2e-6);
  /* bfloat16 parameters and gradients stay bfloat16, loosely on track */
  c = mx_optim_defaults(MX_OPTIM_ADAM, 0.01);
  run_against_ref("adam", c, MX_BFLOAT16, 3e-2);
  /* validation */
  c.beta1 = 1.0;
  MXT_CHECK(mx_optimizer_new(&c) == NULL && strstr(mx_last_error(), "beta1"),
            "beta1 range");
  mx_clear_error();
  c = mx_optim_defaults(MX_OPTIM_RMSPROP, 0.01);
  c.eps = 0;
  MXT_CHECK(mx_optimizer_new(&c) == NULL && strstr(mx_last_error(), "epsilon"),
            "rms eps");
  mx_clear_error();
  c = mx_optim_defaults(MX_OPTIM_SGD, NAN);
  MXT_CHECK(mx_optimizer_new(&c) == NULL && strstr(mx_last_error(), "learning_rate"),
            "lr");
  mx_clear_error();
  c.kind = (mx_optim_kind)42;
  MXT_CHECK(mx_optimizer_new(&c) == NULL, "kind");
  mx_clear_error();
}

static void test_adafactor(void) {
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_ADAFACTOR, NAN);
  MXT_CHECK(c.eps == 1e-30 && c.eps2 == 1e-3 && c.clip_threshold == 1 &&
                c.decay_rate == -0.8 && isnan(c.beta1) && c.relative_step &&
                c.scale_parameter && !c.warmup_init,
            "adafactor defaults");
  /* float32 scalars inside (beta_2, relative step): 1e-6 relative */
  run_against_ref("adafactor", c, MX_FLOAT64, 1e-6);
  run_against_ref("adafactor", c, MX_FLOAT32, 1e-5);
  c.beta1 = 0.9;
  c.weight_decay = 0.01;
  run_against_ref("adafactor beta1 wd", c, MX_FLOAT64, 1e-6);
  c.warmup_init = true;
  run_against_ref("adafactor warmup", c, MX_FLOAT64, 1e-6);
  c = mx_optim_defaults(MX_OPTIM_ADAFACTOR, 0.02);
  c.relative_step = false;
  c.scale_parameter = false;
  c.clip_threshold = 0.5;
  run_against_ref("adafactor lr", c, MX_FLOAT64, 1e-6);
  c.learning_rate = NAN;
  MXT_CHECK(mx_optimizer_new(&c) == NULL, "needs a learning rate without relative_step");
  mx_clear_error();
  /* state names and shapes: factored row (3,), col (4,), vector (5,) */
  c = mx_optim_defaults(MX_OPTIM_ADAFACTOR, NAN);
  mx_optimizer *o = mx_optimizer_new(&c);
  double p[NW + NB];
  init_params(p);
  mx_array_map *pm = params_map(p, MX_FLOAT32);
  MXT_CHECK(mx_optimizer_init(o, pm) == MX_OK, "init");
  mx_array *row = mx_optimizer_state_get(o, "w", "exp_avg_sq_row"),
           *col = mx_optimizer_state_get(o, "w", "exp_avg_sq_col"),
           *vec = mx_optimizer_state_get(o, "b", "exp_avg_sq");
  MXT_CHECK(row && mx_array_ndim(row) == 1 && mx_array_dim(row, 0) == 3, "row shape");
  MXT_CHECK(col && mx_array_ndim(col) == 1 && mx_array_dim(col, 0) == 4, "col shape");
  MXT_CHECK(vec && mx_array_dim(vec, 0) == NB, "vector state");
  MXT_CHECK(!mx_optimizer_state_get(o, "w", "exp_avg_sq") &&
                !mx_optimizer_state_get(o, "w", "exp_avg"),
            "no unused slots");
  MXT_CHECK(mx_optimizer_step(o) == 0, "init does not step");
  MXT_CHECK(isnan(mx_optimizer_learning_rate(o)), "no learning rate");
  mx_array_map_free(pm);
  mx_optimizer_free(o);
}

static void test_schedules(void) {
  mx_schedule *s = mx_schedule_exponential_decay(0.1, 0.9);
  int steps[] = {0, 1, 5, 37};
  for (int i = 0; i < 4; i++) {
    double want = 0.1 * pow(0.9, steps[i]);
    MXT_CHECK(fabs(mx_schedule_value(s, steps[i]) - want) <= 1e-6 * want, "exp %d",
              steps[i]);
  }
  mx_schedule_free(s);
  s = mx_schedule_step_decay(0.1, 0.9, 10);
  MXT_CHECK(fabs(mx_schedule_value(s, 9) - 0.1) < 1e-8 &&
                fabs(mx_schedule_value(s, 10) - 0.09) < 1e-8 &&
                fabs(mx_schedule_value(s, 21) - 0.081) < 1e-8,
            "step_decay");
  mx_schedule_free(s);
  s = mx_schedule_cosine_decay(0.1, 1000, 0.01);
  int cs[] = {0, 1, 250, 500, 999, 1000, 5000};
  for (int i = 0; i < 7; i++) {
    int t = cs[i] < 1000 ? cs[i] : 1000;
    double want = 0.01 + 0.5 * (1 + cos(M_PI * t / 1000)) * 0.09;
    MXT_CHECK(fabs(mx_schedule_value(s, cs[i]) - want) < 1e-7, "cosine %d: %g vs %g",
              cs[i], mx_schedule_value(s, cs[i]), want);
  }
  mx_schedule_free(s);
  s = mx_schedule_linear(0, 0.1, 100);
  MXT_CHECK(mx_schedule_value(s, 0) == 0 &&
                fabs(mx_schedule_value(s, 50) - 0.05) < 1e-8 &&
                fabs(mx_schedule_value(s, 100) - 0.1) < 1e-8 &&
                fabs(mx_schedule_value(s, 1000) - 0.1) < 1e-8,
            "linear");
  mx_schedule_free(s);
  /* warmup then cosine: the second part sees step - boundary */
  mx_schedule *parts[2] = {mx_schedule_linear(0, 0.1, 10),
                           mx_schedule_cosine_decay(0.1, 200, 0)};
  int b = 10;
  s = mx_schedule_join(parts, 2, &b);
  MXT_OK(s);
  MXT_CHECK(mx_schedule_value(s, 0) == 0 && fabs(mx_schedule_value(s, 5) - 0.05) < 1e-8,
            "join warmup");
  MXT_CHECK(fabs(mx_schedule_value(s, 10) - 0.1) < 1e-8, "join boundary");
  double want = 0.5 * (1 + cos(M_PI * 100 / 200)) * 0.1;
  MXT_CHECK(fabs(mx_schedule_value(s, 110) - want) < 1e-7, "join cosine");
  mx_schedule_free(s);
  /* three parts */
  mx_schedule *p3[3] = {mx_schedule_linear(1, 1, 1), mx_schedule_linear(2, 2, 1),
                        mx_schedule_exponential_decay(3, 0.5)};
  int b3[2] = {5, 8};
  s = mx_schedule_join(p3, 3, b3);
  MXT_CHECK(mx_schedule_value(s, 4) == 1 && mx_schedule_value(s, 5) == 2 &&
                mx_schedule_value(s, 8) == 3 && mx_schedule_value(s, 9) == 1.5,
            "join three");
  mx_schedule_free(s);
  MXT_CHECK(mx_schedule_cosine_decay(0.1, 0, 0) == NULL &&
                strstr(mx_last_error(), "decay_steps"),
            "decay_steps >= 1");
  mx_clear_error();
  MXT_CHECK(mx_schedule_step_decay(0.1, 0.9, 0) == NULL, "step_size >= 1");
  mx_clear_error();
  mx_schedule *one[1] = {mx_schedule_linear(0, 1, 2)};
  MXT_CHECK(mx_schedule_join(one, 0, NULL) == NULL, "join needs a schedule");
  mx_clear_error();
  mx_schedule_free(one[0]);
}

static void test_scheduled_optimizer(void) {
  /* SGD with g = 1: each update moves p by exactly the learning rate used */
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_SGD, 1.0);
  mx_optimizer *o = mx_optimizer_new(&c);
  mx_schedule *parts[2] = {mx_schedule_linear(0, 0.1, 3),
                           mx_schedule_cosine_decay(0.1, 10, 0)};
  int b = 3;
  mx_schedule *s = mx_schedule_join(parts, 2, &b);
  /* a second handle to compute expected values */
  mx_schedule *parts2[2] = {mx_schedule_linear(0, 0.1, 3),
                            mx_schedule_cosine_decay(0.1, 10, 0)};
  mx_schedule *ref = mx_schedule_join(parts2, 2, &b);
  mx_optimizer_set_schedule(o, s);
  MXT_CHECK(mx_optimizer_learning_rate(o) == 0, "lr at step 0");
  double p0 = 0;
  int one = 1;
  mx_array_map *pm = mx_array_map_new(), *gm = mx_array_map_new();
  mx_array_map_set(pm, "x", mx_zeros(&one, 1, MX_FLOAT64));
  mx_array_map_set(gm, "x", mx_ones(&one, 1, MX_FLOAT64));
  for (int t = 0; t < 8; t++) {
    MXT_CHECK(mx_optimizer_apply_gradients(o, gm, pm) == MX_OK, "update");
    double lr = (float)mx_schedule_value(ref, t);
    p0 -= lr;
    mxt_close(mx_array_map_get(pm, "x"), &p0, 1, 1e-12, 1e-15, "scheduled step");
    MXT_CHECK(mx_optimizer_learning_rate(o) == lr, "lr after step %d", t);
  }
  mx_schedule_free(ref);
  /* set_learning_rate without a schedule */
  mx_optimizer_set_schedule(o, NULL);
  mx_optimizer_set_learning_rate(o, 0.25);
  MXT_CHECK(mx_optimizer_learning_rate(o) == 0.25, "set lr");
  mx_optimizer_apply_gradients(o, gm, pm);
  p0 -= 0.25;
  mxt_close(mx_array_map_get(pm, "x"), &p0, 1, 1e-12, 1e-15, "fixed lr");
  mx_array_map_free(pm);
  mx_array_map_free(gm);
  mx_optimizer_free(o);
}

static void test_clip_grad_norm(void) {
  mx_array_map *gm = grads_map(1, MX_FLOAT32);
  double g[NW + NB], n2 = 0;
  grads_at(1, g);
  for (int i = 0; i < NW + NB; i++) n2 += (float)g[i] * (double)(float)g[i];
  double norm = sqrt(n2);
  for (int big = 0; big <= 1; big++) {
    double max_norm = big ? 2 * norm : norm / 3;
    mx_array_map *cl = NULL;
    mx_array *tn = mx_clip_grad_norm(gm, max_norm, &cl);
    MXT_OK(tn);
    MXT_OK(cl);
    mxt_close(tn, &norm, 1, 1e-6, 0, "global norm");
    double scale = fmin(max_norm / (norm + 1e-6), 1.0), want[NW + NB];
    for (int i = 0; i < NW + NB; i++) want[i] = (float)g[i] * scale;
    mxt_close(mx_array_map_get(cl, "w"), want, NW, 1e-6, 1e-7, "clipped w");
    mxt_close(mx_array_map_get(cl, "b"), want + NW, NB, 1e-6, 1e-7, "clipped b");
    if (!big) {
      double cn = 0;
      double *cw = mxt_to_f64(mx_array_map_get(cl, "w")),
             *cb = mxt_to_f64(mx_array_map_get(cl, "b"));
      for (int i = 0; i < NW; i++) cn += cw[i] * cw[i];
      for (int i = 0; i < NB; i++) cn += cb[i] * cb[i];
      free(cw);
      free(cb);
      MXT_CHECK(fabs(sqrt(cn) - max_norm) < 1e-5 * max_norm, "clipped norm = max_norm");
    }
    mx_array_map_free(cl);
  }
  MXT_CHECK(
      mx_clip_grad_norm(gm, -1, NULL) == NULL && strstr(mx_last_error(), "max_norm"),
      "negative max_norm");
  mx_clear_error();
  mx_array_map_free(gm);
}

static void test_state_roundtrip(void) {
  char path[256];
  snprintf(path, sizeof path, "/tmp/mx_test_optim_%d.safetensors", (int)getpid());
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_ADAM, 0.01);
  c.bias_correction = true; /* depends on the step count */
  mx_optimizer *a = mx_optimizer_new(&c);
  double p[NW + NB];
  init_params(p);
  mx_array_map *pa = params_map(p, MX_FLOAT32);
  for (int t = 1; t <= 3; t++) {
    mx_array_map *gm = grads_map(t, MX_FLOAT32);
    mx_optimizer_apply_gradients(a, gm, pa);
    mx_array_map_free(gm);
  }
  MXT_CHECK(mx_optimizer_eval(a) == MX_OK, "eval state");
  MXT_CHECK(mx_optimizer_save_state(a, path) == MX_OK, "save: %s", mx_last_error());
  mx_array_map *raw = mx_load_safetensors(path);
  MXT_OK(raw);
  const char *names[] = {"step", "learning_rate", "w.m", "w.v", "b.m", "b.v"};
  MXT_CHECK(raw && mx_array_map_size(raw) == 6, "6 tensors");
  for (int i = 0; raw && i < 6; i++)
    MXT_CHECK(mx_array_map_get(raw, names[i]) != NULL, "has %s", names[i]);
  MXT_CHECK(raw && mx_array_map_meta(raw, "step") &&
                strcmp(mx_array_map_meta(raw, "step"), "3") == 0,
            "step metadata");
  MXT_CHECK(raw && mx_array_item_i64(mx_array_map_get(raw, "step")) == 3 &&
                mx_array_dtype(mx_array_map_get(raw, "step")) == MX_UINT64,
            "step tensor");
  /* a fresh optimizer continues exactly where the first one is */
  mx_optimizer *b = mx_optimizer_new(&c);
  MXT_CHECK(mx_optimizer_load_state(b, path) == MX_OK, "load: %s", mx_last_error());
  MXT_CHECK(mx_optimizer_step(b) == 3, "step restored");
  MXT_CHECK(mx_optimizer_learning_rate(b) == (float)0.01, "lr restored");
  mx_array_map *pb = mx_array_map_new();
  mx_array_map_set(pb, "w", mx_array_map_get(pa, "w"));
  mx_array_map_set(pb, "b", mx_array_map_get(pa, "b"));
  for (int t = 4; t <= 5; t++) {
    mx_array_map *gm = grads_map(t, MX_FLOAT32);
    mx_optimizer_apply_gradients(a, gm, pa);
    mx_optimizer_apply_gradients(b, gm, pb);
    mx_array_map_free(gm);
  }
  double *wa = mxt_to_f64(mx_array_map_get(pa, "w")),
         *ba = mxt_to_f64(mx_array_map_get(pa, "b"));
  mxt_close(mx_array_map_get(pb, "w"), wa, NW, 0, 0, "same w after reload");
  mxt_close(mx_array_map_get(pb, "b"), ba, NB, 0, 0, "same b after reload");
  free(wa);
  free(ba);
  /* the state map names */
  mx_array_map *sm = mx_optimizer_state(b);
  MXT_CHECK(
      sm && mx_array_map_size(sm) == 6 && strcmp(mx_array_map_name(sm, 0), "step") == 0,
      "state map");
  mx_array_map_free(sm);
  /* wrong optimizer, unknown slot */
  mx_optim_config cs = mx_optim_defaults(MX_OPTIM_SGD, 0.1);
  mx_optimizer *s = mx_optimizer_new(&cs);
  MXT_CHECK(mx_optimizer_load_state(s, path) != MX_OK && strstr(mx_last_error(), "Adam"),
            "Adam state into SGD");
  mx_clear_error();
  mx_array_map_remove(raw, "w.m");
  mx_array_map_set(raw, "w.q", mx_zeros_like(mx_array_map_get(pa, "w")));
  MXT_CHECK(
      mx_optimizer_set_state(b, raw) == MX_ERR_INVALID && strstr(mx_last_error(), "w.q"),
      "unknown slot");
  mx_clear_error();
  MXT_CHECK(mx_optimizer_step(b) == 5, "failed set_state changes nothing");
  MXT_CHECK(mx_optimizer_load_state(b, "/nonexistent.safetensors") != MX_OK,
            "missing file");
  mx_clear_error();
  mx_optimizer_free(s);
  mx_array_map_free(raw);
  mx_array_map_free(pa);
  mx_array_map_free(pb);
  mx_optimizer_free(a);
  mx_optimizer_free(b);
  unlink(path);
}

static void test_module_update(void) {
  mx_random_seed(3);
  mx_module *m = mx_nn_linear(4, 3, true);
  mx_module_freeze(m, "bias");
  mx_array_map *tp = mx_module_trainable_parameters(m);
  MXT_CHECK(mx_array_map_size(tp) == 1, "weight only");
  /* grads for the trainable parameters */
  mx_array_map *gm = mx_array_map_new();
  mx_array_map_set(gm, "weight", mx_ones_like(mx_array_map_get(tp, "weight")));
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_SGD, 0.5);
  c.momentum = 0.5;
  mx_optimizer *o = mx_optimizer_new(&c);
  double *w0 = mxt_to_f64(mx_module_get(m, "weight")),
         *b0 = mxt_to_f64(mx_module_get(m, "bias"));
  MXT_CHECK(mx_optimizer_update(o, m, gm) == MX_OK, "update");
  MXT_CHECK(mx_module_eval(m) == MX_OK && mx_optimizer_eval(o) == MX_OK, "eval");
  double w1[12];
  for (int i = 0; i < 12; i++) w1[i] = w0[i] - 0.5;
  mxt_close(mx_module_get(m, "weight"), w1, 12, 1e-6, 1e-7, "weight updated");
  mxt_close(mx_module_get(m, "bias"), b0, 3, 0, 0, "frozen bias untouched");
  MXT_CHECK(
      mx_optimizer_state_get(o, "weight", "v") && !mx_optimizer_state_get(o, "bias", "v"),
      "state per name");
  /* an unknown name fails and changes nothing: params, state, step */
  mx_array *wcur = mx_module_get(m, "weight"),
           *vcur = mx_optimizer_state_get(o, "weight", "v");
  mx_array_map_set(gm, "nope", mx_ones_like(mx_array_map_get(tp, "weight")));
  MXT_CHECK(
      mx_optimizer_update(o, m, gm) == MX_ERR_INVALID && strstr(mx_last_error(), "nope"),
      "unknown name");
  mx_clear_error();
  MXT_CHECK(mx_module_get(m, "weight") == wcur &&
                mx_optimizer_state_get(o, "weight", "v") == vcur &&
                mx_optimizer_step(o) == 1,
            "nothing changed");
  /* shape mismatch */
  mx_array_map_remove(gm, "nope");
  int s2[2] = {2, 2};
  mx_array_map_set(gm, "weight", mx_ones(s2, 2, MX_FLOAT32));
  MXT_CHECK(mx_optimizer_update(o, m, gm) == MX_ERR_INVALID, "shape mismatch");
  mx_clear_error();
  /* integer gradients */
  int s3[2] = {3, 4};
  mx_array_map_set(gm, "weight", mx_ones(s3, 2, MX_INT32));
  MXT_CHECK(mx_optimizer_update(o, m, gm) == MX_ERR_INVALID, "integer gradient");
  mx_clear_error();
  free(w0);
  free(b0);
  mx_array_map_free(gm);
  mx_array_map_free(tp);
  mx_optimizer_free(o);
  mx_module_free(m);
}

/* Many parameters: the state table grows and rehashes; every name keeps
 * its own state. */
static void test_many_params(void) {
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_SGD, 0.5);
  c.momentum = 0.5;
  mx_optimizer *o = mx_optimizer_new(&c);
  mx_array_map *pm = mx_array_map_new(), *gm = mx_array_map_new();
  char name[64];
  int two = 2, n = 300;
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "layers.%d.w", i);
    mx_array_map_set(pm, name, mx_zeros(&two, 1, MX_FLOAT32));
    mx_array_map_set(gm, name, mx_full(&two, 1, (double)i, MX_FLOAT32));
  }
  for (int t = 0; t < 2; t++)
    MXT_CHECK(mx_optimizer_apply_gradients(o, gm, pm) == MX_OK, "update %d", t);
  /* v1 = g, p1 = -0.5 g; v2 = 1.5 g, p2 = -0.5 g - 0.75 g */
  bool ok = true;
  for (int i = 0; i < n && ok; i++) {
    snprintf(name, sizeof name, "layers.%d.w", i);
    double want = -1.25 * i, wv = 1.5 * i;
    double *p = mxt_to_f64(mx_array_map_get(pm, name));
    mx_array *v = mx_optimizer_state_get(o, name, "v");
    double *vd = v ? mxt_to_f64(v) : NULL;
    ok = p && vd && fabs(p[0] - want) < 1e-5 && fabs(vd[1] - wv) < 1e-5;
    MXT_CHECK(ok, "param %d", i);
    free(p);
    free(vd);
  }
  mx_array_map *sm = mx_optimizer_state(o);
  MXT_CHECK(sm && mx_array_map_size(sm) == n + 2, "state entries");
  mx_array_map_free(sm);
  mx_array_map_free(pm);
  mx_array_map_free(gm);
  mx_optimizer_free(o);
}

int main(void) {
  MXT_RUN(test_sgd);
  MXT_RUN(test_adaptive);
  MXT_RUN(test_adafactor);
  MXT_RUN(test_schedules);
  MXT_RUN(test_scheduled_optimizer);
  MXT_RUN(test_clip_grad_norm);
  MXT_RUN(test_state_roundtrip);
  MXT_RUN(test_module_update);
  MXT_RUN(test_many_params);
  return mxt_finish();
}
