/* schedules.c: MLX's learning-rate schedules. MLX evaluates them as array
 * formulas on the uint64 step: Python floats meet the step as float32, so
 * each formula here runs in float arithmetic in MLX's operation order (the
 * values match MLX's to the last bit where libm's cosf/powf match its
 * kernels). */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "mx/optim.h"

typedef enum { SCH_EXP, SCH_STEP, SCH_COS, SCH_LINEAR, SCH_JOIN, SCH_CUSTOM } sch_kind;

struct mx_schedule {
  sch_kind kind;
  double init, end, rate;
  int64_t steps;
  /* join */
  mx_schedule **parts;
  int64_t *boundaries;
  int nparts;
  /* custom */
  double (*fn)(int64_t, void *);
  void *ctx;
  void (*free_ctx)(void *);
};

static mx_schedule *sch_new(sch_kind k) {
  mx_schedule *s = calloc(1, sizeof *s);
  if (!s)
    mx_set_error(MX_ERR_NOMEM, "[optim.schedule] out of memory");
  else
    s->kind = k;
  return s;
}

mx_schedule *mx_schedule_exponential_decay(double init, double decay_rate) {
  mx_schedule *s = sch_new(SCH_EXP);
  if (s) {
    s->init = init;
    s->rate = decay_rate;
  }
  return s;
}

mx_schedule *mx_schedule_step_decay(double init, double decay_rate, int step_size) {
  if (step_size < 1) {
    mx_set_error(MX_ERR_INVALID,
                 "[optim.step_decay] step_size must be greater than 0, but got %d.",
                 step_size);
    return NULL;
  }
  mx_schedule *s = sch_new(SCH_STEP);
  if (s) {
    s->init = init;
    s->rate = decay_rate;
    s->steps = step_size;
  }
  return s;
}

mx_schedule *mx_schedule_cosine_decay(double init, int decay_steps, double end) {
  if (decay_steps < 1) {
    mx_set_error(MX_ERR_INVALID,
                 "[optim.cosine_decay] decay_steps must be greater than 0, but got %d.",
                 decay_steps);
    return NULL;
  }
  mx_schedule *s = sch_new(SCH_COS);
  if (s) {
    s->init = init;
    s->end = end;
    s->steps = decay_steps;
  }
  return s;
}

mx_schedule *mx_schedule_linear(double init, double end, int steps) {
  if (steps < 1) {
    mx_set_error(MX_ERR_INVALID,
                 "[optim.linear_schedule] steps must be greater than 0, but got %d.",
                 steps);
    return NULL;
  }
  mx_schedule *s = sch_new(SCH_LINEAR);
  if (s) {
    s->init = init;
    s->end = end;
    s->steps = steps;
  }
  return s;
}

mx_schedule *mx_schedule_join(mx_schedule *const *schedules, int n,
                              const int *boundaries) {
  bool ok = n >= 1 && schedules && (n == 1 || boundaries);
  for (int i = 0; ok && i < n; i++) ok = schedules[i] != NULL;
  mx_schedule *s = ok ? sch_new(SCH_JOIN) : NULL;
  if (s) {
    s->parts = calloc((size_t)n, sizeof *s->parts);
    s->boundaries = calloc((size_t)n, sizeof *s->boundaries);
    if (!s->parts || !s->boundaries) {
      mx_set_error(MX_ERR_NOMEM, "[optim.join_schedules] out of memory");
      ok = false;
    }
  } else if (ok) {
    ok = false; /* allocation failed */
  } else {
    mx_set_error(MX_ERR_INVALID,
                 "[optim.join_schedules] need at least 1 schedule and %d boundaries",
                 n > 0 ? n - 1 : 0);
  }
  if (!ok) {
    for (int i = 0; schedules && i < n; i++) mx_schedule_free(schedules[i]);
    if (s) {
      free(s->parts);
      free(s->boundaries);
      free(s);
    }
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    s->parts[i] = schedules[i];
    if (i) s->boundaries[i - 1] = boundaries[i - 1];
  }
  s->nparts = n;
  return s;
}

mx_schedule *mx_schedule_custom(double (*fn)(int64_t step, void *ctx), void *ctx,
                                void (*free_ctx)(void *ctx)) {
  if (!fn) {
    mx_set_error(MX_ERR_INVALID, "[optim.schedule] NULL function");
    return NULL;
  }
  mx_schedule *s = sch_new(SCH_CUSTOM);
  if (s) {
    s->fn = fn;
    s->ctx = ctx;
    s->free_ctx = free_ctx;
  }
  return s;
}

void mx_schedule_free(mx_schedule *s) {
  if (!s) return;
  for (int i = 0; i < s->nparts; i++) mx_schedule_free(s->parts[i]);
  free(s->parts);
  free(s->boundaries);
  if (s->free_ctx) s->free_ctx(s->ctx);
  free(s);
}

double mx_schedule_value(const mx_schedule *s, int64_t step) {
  if (!s) return NAN;
  if (step < 0) step = 0;
  switch (s->kind) {
    case SCH_EXP: /* init * decay_rate ** step */
      return (float)s->init * powf((float)s->rate, (float)step);
    case SCH_STEP: /* init * decay_rate ** (step // step_size) */
      return (float)s->init * powf((float)s->rate, (float)(step / s->steps));
    case SCH_COS: { /* s = min(step, n); end + 0.5 (1 + cos(pi / n * s)) (init - end) */
      int64_t t = step < s->steps ? step : s->steps;
      float decay = 0.5f * (1.0f + cosf((float)(M_PI / (double)s->steps) * (float)t));
      return (float)s->end + decay * (float)(s->init - s->end);
    }
    case SCH_LINEAR: { /* min(step, n) * ((end - init) / n) + init */
      int64_t t = step < s->steps ? step : s->steps;
      return (float)t * (float)((s->end - s->init) / (double)s->steps) + (float)s->init;
    }
    case SCH_JOIN: {
      double v = mx_schedule_value(s->parts[0], step);
      for (int i = 1; i < s->nparts; i++)
        if (step >= s->boundaries[i - 1])
          v = mx_schedule_value(s->parts[i], step - s->boundaries[i - 1]);
      return v;
    }
    case SCH_CUSTOM:
      return (float)s->fn(step, s->ctx);
  }
  return NAN;
}
