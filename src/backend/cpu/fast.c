/* fast.c: CPU kernels of the fused transformer ops: rms_norm, layer_norm,
 * rope and scaled_dot_product_attention. Inputs may have any strides; rows
 * are gathered into float32 scratch (float64 for float64 norms), computed,
 * and written to a contiguous output of the result dtype. Attention is a
 * flash-style online softmax over blocks of keys, parallel over (batch, kv
 * head, block of query rows); the query heads that share a kv head (GQA)
 * share each block of keys and values. */
#include "../../primitives/fast.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtypes.h"
#include "iter.h"
#include "qsimd.h"

/* ---- helpers ---- */

/* Element offset of row r of a (row = all axes but the last, row-major). */
static int64_t row_offset(const mx_array *a, int64_t r) {
  int64_t off = 0;
  for (int d = a->ndim - 2; d >= 0; d--) {
    int64_t i = r % a->shape[d];
    r /= a->shape[d];
    off += i * a->strides[d];
  }
  return off;
}

static bool is_hf(mx_dtype t) {
  return t == MX_FLOAT16 || t == MX_BFLOAT16 || t == MX_FLOAT32;
}

/* n elements of dtype t, element stride st, into float */
static void load_f32(const void *src, mx_dtype t, int64_t st, float *dst, int64_t n) {
  if (st == 1 && is_hf(t)) {
    mx_cvt_to_f32(src, t, dst, n);
    return;
  }
  size_t isz = mx_dtype_size(t);
  for (int64_t i = 0; i < n; i++)
    dst[i] = (float)mx_load_f64((const char *)src + i * st * (int64_t)isz, t);
}

static float sum_f32(const float *x, int64_t n) {
  float s[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) s[j] += x[i + j];
  for (; i < n; i++) s[0] += x[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* a 1-d parameter (weight, bias, freqs) as float/double; NULL on OOM */
static float *param_f32(const mx_array *p) {
  float *d = malloc(sizeof(float) * (size_t)(p->size ? p->size : 1));
  if (d) load_f32(mx_array_ptr(p), p->dtype, p->strides[0], d, p->size);
  return d;
}
static double *param_f64(const mx_array *p) {
  double *d = malloc(sizeof(double) * (size_t)(p->size ? p->size : 1));
  size_t isz = mx_dtype_size(p->dtype);
  if (d)
    for (int64_t i = 0; i < p->size; i++)
      d[i] = mx_load_f64((const char *)mx_array_ptr(p) + i * p->strides[0] * (int64_t)isz,
                         p->dtype);
  return d;
}

/* ---- rms_norm and layer_norm ---- */

typedef struct {
  const mx_array *x;
  mx_array *out;
  int kind; /* 0 rms, 1 layer */
  float eps;
  const float *w, *b;    /* float path (NULL: absent) */
  const double *wd, *bd; /* float64 path */
  atomic_int err;
} norm_ctx;

static void norm_range(void *c, int64_t r0, int64_t r1) {
  norm_ctx *p = c;
  const mx_array *x = p->x;
  const int D = x->shape[x->ndim - 1];
  const int64_t st = x->strides[x->ndim - 1];
  const size_t isz = mx_dtype_size(x->dtype), osz = mx_dtype_size(p->out->dtype);
  char *out = mx_array_ptr(p->out);
  if (p->out->dtype == MX_FLOAT64) { /* float64 result: float64 arithmetic */
    double *v = malloc(sizeof(double) * (size_t)D);
    if (!v) {
      atomic_store(&p->err, 1);
      return;
    }
    for (int64_t r = r0; r < r1; r++) {
      const char *src = (const char *)mx_array_ptr(x) + row_offset(x, r) * (int64_t)isz;
      double mu = 0, ss = 0;
      for (int i = 0; i < D; i++)
        v[i] = mx_load_f64(src + i * st * (int64_t)isz, x->dtype);
      if (p->kind == 1) {
        for (int i = 0; i < D; i++) mu += v[i];
        mu /= D;
      }
      for (int i = 0; i < D; i++) ss += (v[i] - mu) * (v[i] - mu);
      double inv = 1.0 / sqrt(ss / D + (double)p->eps);
      double *o = (double *)(out + r * D * (int64_t)osz);
      for (int i = 0; i < D; i++) {
        double y = (v[i] - mu) * inv;
        if (p->wd) y *= p->wd[i];
        if (p->bd) y += p->bd[i];
        o[i] = y;
      }
    }
    free(v);
    return;
  }
  float *v = malloc(sizeof(float) * (size_t)D);
  if (!v) {
    atomic_store(&p->err, 1);
    return;
  }
  for (int64_t r = r0; r < r1; r++) {
    load_f32((const char *)mx_array_ptr(x) + row_offset(x, r) * (int64_t)isz, x->dtype,
             st, v, D);
    float mu = 0;
    if (p->kind == 1) {
      mu = sum_f32(v, D) / (float)D;
      for (int i = 0; i < D; i++) v[i] -= mu;
    }
    float inv = 1.0f / sqrtf(mx_dot_f32(v, v, D) / (float)D + p->eps);
    if (p->w && p->b)
      for (int i = 0; i < D; i++) v[i] = v[i] * inv * p->w[i] + p->b[i];
    else if (p->w)
      for (int i = 0; i < D; i++) v[i] = v[i] * inv * p->w[i];
    else if (p->b)
      for (int i = 0; i < D; i++) v[i] = v[i] * inv + p->b[i];
    else
      for (int i = 0; i < D; i++) v[i] *= inv;
    mx_cvt_from_f32(v, out + r * D * (int64_t)osz, p->out->dtype, D);
  }
  free(v);
}

static mx_status run_norm(const char *op, int kind, float eps, mx_array *x, mx_array *w,
                          mx_array *b, mx_array *o) {
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  norm_ctx c = {x, o, kind, eps, NULL, NULL, NULL, NULL, 0};
  void *t0 = NULL, *t1 = NULL;
  bool f64 = o->dtype == MX_FLOAT64;
  if (w) t0 = f64 ? (void *)param_f64(w) : (void *)param_f32(w);
  if (b) t1 = f64 ? (void *)param_f64(b) : (void *)param_f32(b);
  if ((w && !t0) || (b && !t1)) {
    free(t0);
    free(t1);
    return mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", op);
  }
  if (f64)
    c.wd = t0, c.bd = t1;
  else
    c.w = t0, c.b = t1;
  int D = x->shape[x->ndim - 1];
  int64_t rows = D ? x->size / D : 0;
  mx_parallel_for(rows, 1 + (1 << 14) / (D ? D : 1), norm_range, &c);
  free(t0);
  free(t1);
  if (atomic_load(&c.err)) return mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", op);
  return MX_OK;
}

mx_status mx_cpu_rms_norm(mx_node *n, mx_array **in, mx_array **out) {
  const mx_rms_norm_params *p = MX_PARAMS(mx_rms_norm_params, n);
  return run_norm("rms_norm", 0, p->eps, in[0], p->has_weight ? in[1] : NULL, NULL,
                  out[0]);
}

mx_status mx_cpu_layer_norm(mx_node *n, mx_array **in, mx_array **out) {
  const mx_layer_norm_params *p = MX_PARAMS(mx_layer_norm_params, n);
  int i = 1;
  mx_array *w = p->has_weight ? in[i++] : NULL;
  mx_array *b = p->has_bias ? in[i++] : NULL;
  return run_norm("layer_norm", 1, p->eps, in[0], w, b, out[0]);
}

/* ---- rope ----
 * positions (offset + l) * scale along axis -2 (float32, as MLX), angles
 * theta_i = position * inv_freq_i with inv_freq_i = base^(-2i/dims) (or
 * 1/freqs_i). traditional rotates pairs (2i, 2i+1), otherwise (i, i+dims/2);
 * features from dims on pass through. */

typedef struct {
  const mx_array *x;
  mx_array *out;
  const mx_rope_params *p;
  const float *inv_freq;
  const int64_t *offsets; /* per table row block */
  int noff;               /* 1 or B */
  float *cs;              /* (noff, L, half, 2): cos, sin */
  int L, half;
  int64_t rows_per_b;
  atomic_int err;
} rope_ctx;

static void rope_table_range(void *c, int64_t t0, int64_t t1) {
  rope_ctx *p = c;
  for (int64_t t = t0; t < t1; t++) {
    int64_t ob = t / p->L, l = t % p->L;
    /* MLX: (arange(L) + offset) in float32, times scale */
    float pos = ((float)l + (float)p->offsets[ob]) * p->p->scale;
    float *cs = p->cs + t * p->half * 2;
    for (int i = 0; i < p->half; i++) {
      float th = pos * p->inv_freq[i];
      cs[2 * i] = cosf(th);
      cs[2 * i + 1] = sinf(th);
    }
  }
}

static void rope_range(void *c, int64_t r0, int64_t r1) {
  rope_ctx *p = c;
  const mx_array *x = p->x;
  const int D = x->shape[x->ndim - 1], half = p->half, dims = p->p->dims;
  const int64_t st = x->strides[x->ndim - 1];
  const size_t isz = mx_dtype_size(x->dtype);
  const bool fwd = p->p->forward, trad = p->p->traditional;
  float *v = malloc(sizeof(float) * 2 * (size_t)D);
  if (!v) {
    atomic_store(&p->err, 1);
    return;
  }
  float *o = v + D;
  for (int64_t r = r0; r < r1; r++) {
    load_f32((const char *)mx_array_ptr(x) + row_offset(x, r) * (int64_t)isz, x->dtype,
             st, v, D);
    int64_t b = r / p->rows_per_b, l = r % p->L;
    const float *cs = p->cs + ((p->noff > 1 ? b : 0) * p->L + l) * half * 2;
    for (int i = 0; i < half; i++) {
      int i1 = trad ? 2 * i : i, i2 = trad ? 2 * i + 1 : i + half;
      float c_ = cs[2 * i], s_ = cs[2 * i + 1], x1 = v[i1], x2 = v[i2];
      if (fwd) {
        o[i1] = x1 * c_ - x2 * s_;
        o[i2] = x1 * s_ + x2 * c_;
      } else {
        o[i1] = x2 * s_ + x1 * c_;
        o[i2] = x2 * c_ - x1 * s_;
      }
    }
    for (int i = dims; i < D; i++) o[i] = v[i];
    mx_cvt_from_f32(o, (char *)mx_array_ptr(p->out) + r * D * (int64_t)isz, x->dtype, D);
  }
  free(v);
}

mx_status mx_cpu_rope(mx_node *n, mx_array **in, mx_array **out) {
  const mx_rope_params *p = MX_PARAMS(mx_rope_params, n);
  mx_array *x = in[0], *o = out[0];
  int i = 1;
  mx_array *off = p->has_offset_array ? in[i++] : NULL;
  mx_array *freqs = p->has_freqs ? in[i++] : NULL;
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  const int half = p->dims / 2, L = x->shape[x->ndim - 2], B = x->shape[0];
  int noff = off && off->size > 1 ? B : 1;
  float *inv = malloc(sizeof(float) * (size_t)half);
  int64_t *offs = malloc(sizeof(int64_t) * (size_t)noff);
  float *cs = malloc(sizeof(float) * 2 * (size_t)half * (size_t)L * (size_t)noff);
  if (!inv || !offs || !cs) {
    free(inv), free(offs), free(cs);
    return mx_set_error(MX_ERR_NOMEM, "[rope] out of memory");
  }
  if (freqs) {
    load_f32(mx_array_ptr(freqs), freqs->dtype, freqs->strides[0], inv, half);
    for (int j = 0; j < half; j++) inv[j] = 1.0f / inv[j]; /* freqs are periods */
  } else { /* MLX: exp(-i * (log(base) / half)) in float32 */
    float c = logf(p->base) / (float)half;
    for (int j = 0; j < half; j++) inv[j] = expf(-(float)j * c);
  }
  for (int b = 0; b < noff; b++) {
    if (!off) {
      offs[b] = p->offset;
    } else {
      int64_t st = off->ndim ? off->strides[0] : 0;
      offs[b] = mx_load_i64(
          (const char *)mx_array_ptr(off) + b * st * (int64_t)mx_dtype_size(off->dtype),
          off->dtype);
    }
  }
  rope_ctx c = {
      x, o, p, inv, offs, noff, cs, L, half, o->size / x->shape[x->ndim - 1] / B, 0};
  mx_parallel_for((int64_t)noff * L, 64, rope_table_range, &c);
  int D = x->shape[x->ndim - 1];
  mx_parallel_for(o->size / D, 1 + (1 << 14) / D, rope_range, &c);
  free(inv), free(offs), free(cs);
  if (atomic_load(&c.err)) return mx_set_error(MX_ERR_NOMEM, "[rope] out of memory");
  return MX_OK;
}

/* ---- scaled dot product attention ----
 * Per task: query rows of one (batch, kv head), ordered query-major with
 * the kv head's n_rep query heads innermost, in blocks of SDPA_BQ rows.
 * Keys and values stream in blocks of SDPA_BK, read once per task and
 * block: keys converted and transposed into float32 in one pass (bfloat16
 * queries and keys with D a multiple of 32 and 2+ rows: packed in bfloat16
 * pairs for vdpbf16ps scores; otherwise up to 4 rows read keys as rows),
 * values read in place by the P.V kernel
 * (widened to float32 in registers); other layouts and dtypes go through a
 * float32 copy of each row. Per row: running max m, sum l and output o (online
 * softmax); a sink starts the row with m = sink, l = 1. Masking as MLX's
 * reference: a false boolean entry (and the causal mask) scores -FLT_MAX,
 * so a row with every key masked averages all values; an additive -inf
 * everywhere gives NaN. */
#define SDPA_BQ 64
#define SDPA_BK 64 /* fixed: mx_sdpa_scores makes 64 columns */
/* key and value rows prefetched at a task's start (a few hundred KB at most) */
#define SDPA_PF_ROWS 1024
/* and, past those, rows this many key blocks ahead of the one computed */
#define SDPA_PF_AHEAD 2

typedef struct {
  const mx_array *q, *k, *v, *mask, *sinks;
  mx_array *out;
  float scale;
  bool causal;
  int B, Hq, Hkv, Lq, Lk, D, Dv, nrep, nqb;
  int64_t mstr[4]; /* mask strides broadcast to (B, Hq, Lq, Lk) */
  atomic_int err;
} sdpa_ctx;

/* The first true entry of a boolean mask row of n entries (stride s): n
 * if none. Word at a time where the row is contiguous. */
static int mask_first(const uint8_t *p, int64_t s, int n) {
  int j = 0;
  if (s == 1)
    for (; j + 8 <= n; j += 8) {
      uint64_t w;
      memcpy(&w, p + j, 8);
      if (w) break;
    }
  for (; j < n; j++)
    if (p[j * s]) return j;
  return n;
}

/* One past the last true entry (0 if none). */
static int mask_end(const uint8_t *p, int64_t s, int n) {
  int j = n;
  if (s == 1)
    for (; j >= 8; j -= 8) {
      uint64_t w;
      memcpy(&w, p + j - 8, 8);
      if (w) break;
    }
  for (; j > 0; j--)
    if (p[(j - 1) * s]) return j;
  return 0;
}

/* Whether entries [j0, j1) of a boolean mask row are all true. */
static bool mask_dense(const uint8_t *p, int64_t s, int j0, int j1) {
  int j = j0;
  if (s == 1)
    for (; j + 8 <= j1; j += 8) {
      uint64_t w;
      memcpy(&w, p + j, 8);
      if ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) return false;
    }
  for (; j < j1; j++)
    if (!p[j * s]) return false;
  return true;
}

/* rows [t0, t0+nt) of the task: t = i*nrep + r (query i, head r of the group) */
static void sdpa_task(sdpa_ctx *c, int b, int hk, int t0, int nt, float *buf) {
  const int D = c->D, Dv = c->Dv, Lk = c->Lk, nrep = c->nrep;
  float *qs = buf;                     /* (BQ, D) scaled queries */
  float *kt = qs + SDPA_BQ * D;        /* (D, BK) keys, transposed; (BK, D) if few;
                                        * (D/2, BK) bfloat16 pairs (bf16s) */
  float *vt = kt + SDPA_BK * D;        /* (BK, Dv) */
  float *o = vt + SDPA_BK * Dv;        /* (BQ, Dv) */
  float *sc = o + SDPA_BQ * Dv;        /* (BQ, BK) scores */
  float *pr = sc + SDPA_BQ * SDPA_BK;  /* (BQ, BK) probabilities */
  float *kr = pr + SDPA_BQ * SDPA_BK;  /* (D) one key row */
  uint16_t *qb = (uint16_t *)(kr + D); /* (BQ, D) bfloat16 queries */
  float m[SDPA_BQ], l[SDPA_BQ];
  /* keys j in [lo[t], lim[t]) can be visible: causal, or the true span of
   * a boolean mask row (a sliding window's band); key blocks outside every
   * row's span are skipped. Their scores would be -FLT_MAX, which adds
   * nothing to a row that sees any key; a row that sees none gets lim 0
   * and the average of all values below, as MLX's reference gives it.
   * Values outside the spans are not read at all, as with the causal mask:
   * a NaN there does not reach the output (it would through MLX's zero
   * weights). */
  int lim[SDPA_BQ], lo[SDPA_BQ];
  bool dense[SDPA_BQ]; /* the row's span is all true: no per-entry mask reads */
  const mx_array *q = c->q, *k = c->k, *v = c->v;
  const size_t qsz = mx_dtype_size(q->dtype), ksz = mx_dtype_size(k->dtype),
               vsz = mx_dtype_size(v->dtype);
  int maxlim = 0, minlo = Lk;
  const bool few = nt <= 4;
  const bool bmask = c->mask && c->mask->dtype == MX_BOOL;
  const uint8_t *prow = NULL; /* the mask row of the previous row of the task */
  int plo = 0, pend = 0;
  bool pdense = false;
  /* bfloat16 queries and keys (D a multiple of 32): keys packed in pairs
   * and scores with vdpbf16ps instead of float32 tiles (a 64-key block of
   * 7 rows ran at about half the cost in L2; decode after 1500 tokens,
   * 0.4B q4: 139 -> 154 tok/s; prefill of 1500 tokens +2-4%). Also for
   * 2-4 rows (Llama-3's 4 query heads per kv head, D 128: 10-20% in the
   * microbenchmark); one row keeps the dot products on key rows (equal) */
  const bool bf16s = nt >= 2 && q->dtype == MX_BFLOAT16 && k->dtype == MX_BFLOAT16 &&
                     q->strides[3] == 1 && k->strides[3] == 1 && D % 32 == 0 &&
                     mx_sdpa_bf16_available();
  for (int t = 0; t < nt; t++) {
    int i = (t0 + t) / nrep, h = hk * nrep + (t0 + t) % nrep;
    const char *qp =
        (const char *)mx_array_ptr(q) +
        (b * q->strides[0] + h * q->strides[1] + i * q->strides[2]) * (int64_t)qsz;
    if (bf16s) {
      memcpy(qb + (int64_t)t * D, qp, sizeof(uint16_t) * (size_t)D);
    } else {
      load_f32(qp, q->dtype, q->strides[3], qs + t * D, D);
      for (int d = 0; d < D; d++) qs[t * D + d] *= c->scale;
    }
    m[t] = -INFINITY;
    l[t] = 0;
    if (c->sinks) {
      const mx_array *sk = c->sinks;
      m[t] =
          (float)mx_load_f64((const char *)mx_array_ptr(sk) +
                                 h * sk->strides[0] * (int64_t)mx_dtype_size(sk->dtype),
                             sk->dtype);
      l[t] = 1;
    }
    memset(o + t * Dv, 0, sizeof(float) * (size_t)Dv);
    int64_t li = c->causal ? (int64_t)i + Lk - c->Lq + 1 : Lk;
    lim[t] = li < 0 ? 0 : li > Lk ? Lk : (int)li;
    lo[t] = 0;
    if (bmask) {
      /* the heads of a group usually share the row (a mask broadcast over
       * heads): scanned once */
      const uint8_t *mr = (const uint8_t *)mx_array_ptr(c->mask) + b * c->mstr[0] +
                          h * c->mstr[1] + i * c->mstr[2];
      if (mr != prow) {
        prow = mr;
        plo = mask_first(mr, c->mstr[3], Lk);
        pend = plo < Lk ? mask_end(mr, c->mstr[3], Lk) : 0;
        pdense = mask_dense(mr, c->mstr[3], plo, pend);
      }
      lo[t] = plo; /* Lk (none true) only with lim 0 */
      lim[t] = pend;
    }
    dense[t] = bmask && pdense;
    if (lim[t] > maxlim) maxlim = lim[t];
    if (lim[t] > 0 && lo[t] < minlo) minlo = lo[t];
  }
  if (minlo > maxlim) minlo = maxlim; /* no row sees any key */
  {
    /* the keys and values this task reads, requested at once: decode
     * finds a layer's cache rows evicted by the weights streamed since
     * the last token, and read on demand (row by row, a block at a time)
     * they arrived at a fraction of the bandwidth: 8.1 -> 6.1 us per call
     * over ~100 keys inside 0.4B decode (2.6 us with the cache warm) */
    const char *kb = (const char *)mx_array_ptr(k) +
                     (b * k->strides[0] + hk * k->strides[1]) * (int64_t)ksz;
    const char *vb = (const char *)mx_array_ptr(v) +
                     (b * v->strides[0] + hk * v->strides[1]) * (int64_t)vsz;
    int npf = maxlim - minlo < SDPA_PF_ROWS ? maxlim - minlo : SDPA_PF_ROWS;
    /* only when this is the kv head's one task (decode, short prompts):
     * a prompt's many query blocks would request the same rows again */
    if (c->nqb == 1 && k->strides[3] == 1 && v->strides[3] == 1)
      for (int j = minlo; j < minlo + npf; j++) {
        const char *kr0 = kb + (int64_t)j * k->strides[2] * (int64_t)ksz;
        const char *vr0 = vb + (int64_t)j * v->strides[2] * (int64_t)vsz;
        for (int64_t off = 0; off < (int64_t)D * (int64_t)ksz; off += 64)
          __builtin_prefetch(kr0 + off, 0, 3);
        for (int64_t off = 0; off < (int64_t)Dv * (int64_t)vsz; off += 64)
          __builtin_prefetch(vr0 + off, 0, 3);
      }
  }
  for (int j0 = minlo; j0 < maxlim; j0 += SDPA_BK) {
    int nk = maxlim - j0 < SDPA_BK ? maxlim - j0 : SDPA_BK;
    const char *kp0 =
        (const char *)mx_array_ptr(k) +
        (b * k->strides[0] + hk * k->strides[1] + (int64_t)j0 * k->strides[2]) *
            (int64_t)ksz;
    const char *vp0 =
        (const char *)mx_array_ptr(v) +
        (b * v->strides[0] + hk * v->strides[1] + (int64_t)j0 * v->strides[2]) *
            (int64_t)vsz;
    /* decode (the kv head's one task): request the key and value rows
     * SDPA_PF_AHEAD blocks ahead, from the first block on. Without it the
     * rows past the start's SDPA_PF_ROWS were read on demand and stalled
     * (0.4B q4 decode after 1500 tokens 142.6 -> 153.5 tok/s, after 3000
     * 100.2 -> 110.3, paired runs) */
    if (c->nqb == 1 && k->strides[3] == 1 && v->strides[3] == 1 &&
        j0 + SDPA_PF_AHEAD * SDPA_BK < maxlim) {
      const int jn = j0 + SDPA_PF_AHEAD * SDPA_BK;
      const int nn = maxlim - jn < SDPA_BK ? maxlim - jn : SDPA_BK;
      const int64_t ks2 = k->strides[2] * (int64_t)ksz,
                    vs2 = v->strides[2] * (int64_t)vsz;
      const char *kq = kp0 + (int64_t)SDPA_PF_AHEAD * SDPA_BK * ks2;
      const char *vq = vp0 + (int64_t)SDPA_PF_AHEAD * SDPA_BK * vs2;
      for (int j = 0; j < nn; j++) {
        for (int64_t off = 0; off < (int64_t)D * (int64_t)ksz; off += 64)
          __builtin_prefetch(kq + j * ks2 + off, 0, 3);
        for (int64_t off = 0; off < (int64_t)Dv * (int64_t)vsz; off += 64)
          __builtin_prefetch(vq + j * vs2 + off, 0, 3);
      }
    }
    bool vblock = v->strides[3] == 1 && v->strides[2] == Dv;
    /* keys whose elements are contiguous (any row stride): read in place
     * by the few-rows score kernel, or converted and transposed in one pass
     * for the register-blocked one */
    bool kdirect = k->strides[3] == 1 && is_hf(k->dtype);
    bool ktr = !few && kdirect && !bf16s;
    if (ktr) mx_sdpa_kt(kp0, k->dtype, k->strides[2], nk, D, kt);
    if (bf16s)
      mx_sdpa_kpack_bf16((const uint16_t *)kp0, k->strides[2], nk, D, (uint32_t *)kt);
    /* values whose elements are contiguous are read in place by the P.V
     * kernel, shared by all rows of the task */
    bool vdirect = v->strides[3] == 1 && is_hf(v->dtype);
    /* other dtypes, rows one after another: one conversion per block */
    if (vblock && !vdirect) load_f32(vp0, v->dtype, 1, vt, (int64_t)nk * Dv);
    bool kdone = kdirect;
    /* per key row: only when a block load above did not cover it (decode
     * with the usual cache layout skips this loop) */
    for (int j = 0; j < nk && !(kdone && (vblock || vdirect)); j++) {
      const char *kp = kp0 + (int64_t)j * k->strides[2] * (int64_t)ksz;
      if (few) { /* few rows (decode): dot products on key rows */
        if (!kdirect) load_f32(kp, k->dtype, k->strides[3], kt + j * D, D);
      } else if (!kdirect) { /* transposed for the register-blocked score kernel */
        load_f32(kp, k->dtype, k->strides[3], kr, D);
        for (int d = 0; d < D; d++) kt[d * SDPA_BK + j] = kr[d];
      }
      if (!vblock && !vdirect)
        load_f32(vp0 + (int64_t)j * v->strides[2] * (int64_t)vsz, v->dtype, v->strides[3],
                 vt + j * Dv, Dv);
    }
    if (bf16s) {
      mx_sdpa_scores_bf16(qb, D, nt, D, (const uint32_t *)kt, c->scale, sc);
    } else if (few) {
      if (kdirect)
        mx_sdpa_scores_rows(qs, nt, D, kp0, k->dtype, k->strides[2], nk, sc);
      else
        mx_sdpa_scores_rows(qs, nt, D, kt, MX_FLOAT32, D, nk, sc);
    } else {
      if (nk < SDPA_BK && !ktr) /* zero columns: the score kernel always makes 64 */
        for (int d = 0; d < D; d++)
          memset(kt + d * SDPA_BK + nk, 0, sizeof(float) * (size_t)(SDPA_BK - nk));
      mx_sdpa_scores(qs, nt, D, kt, sc);
    }
    int act[SDPA_BQ], nact = 0; /* rows that see the whole block */
    for (int t = 0; t < nt; t++) {
      int n = lim[t] - j0 < nk ? lim[t] - j0 : nk; /* visible keys of this block */
      if (n <= 0 || lo[t] >= j0 + nk) continue;
      int i = (t0 + t) / nrep, h = hk * nrep + (t0 + t) % nrep;
      float *s = sc + t * SDPA_BK;
      float bm = -INFINITY;
      if (dense[t]) { /* only the keys before the span */
        for (int j = 0; j < lo[t] - j0 && j < n; j++) s[j] = -FLT_MAX;
      } else if (c->mask) {
        const mx_array *mk = c->mask;
        const char *mp =
            (const char *)mx_array_ptr(mk) + (b * c->mstr[0] + h * c->mstr[1] +
                                              i * c->mstr[2] + (int64_t)j0 * c->mstr[3]) *
                                                 (int64_t)mx_dtype_size(mk->dtype);
        int64_t ms = c->mstr[3] * (int64_t)mx_dtype_size(mk->dtype);
        if (mk->dtype == MX_BOOL) {
          for (int j = 0; j < n; j++)
            if (!mp[j * ms]) s[j] = -FLT_MAX;
        } else {
          for (int j = 0; j < n; j++) s[j] += (float)mx_load_f64(mp + j * ms, mk->dtype);
        }
      }
      bm = mx_max_f32(s, n, bm);
      float mn = bm > m[t] ? bm : m[t];
      if (mn == -INFINITY) continue; /* everything so far is -inf: nothing to add */
      float corr = m[t] == -INFINITY ? 0 : expf(m[t] - mn);
      float *ot = o + t * Dv;
      if (corr != 1) mx_scal_f32(corr, ot, Dv);
      float *pt = pr + t * SDPA_BK;
      float lsum = mx_exp_shift_f32(s, mn, pt, n);
      if (!vdirect) {
        mx_sdpa_pv(pt, n, vt, Dv, ot);
      } else {
        /* a row that sees only part of the block (the causal diagonal)
         * joins the others with zero weights on the rest: one P.V pass of
         * up to eight rows per value load instead of a pass per row (the
         * keys up to nk exist: other rows of the task see them). As in
         * MLX's softmax-then-matmul, a zero weight on a non-finite value
         * gives NaN. */
        for (int j = n; j < nk; j++) pt[j] = 0;
        act[nact++] = t;
      }
      l[t] = l[t] * corr + lsum;
      m[t] = mn;
    }
    if (nact) mx_sdpa_pv_rows(pr, act, nact, nk, vp0, v->dtype, v->strides[2], Dv, o);
  }
  /* rows with no visible key at all (causal with Lq > Lk): every score is
   * masked, so (as MLX's reference) all values get equal weight, or the
   * sink takes everything */
  for (int t = 0; t < nt; t++) {
    if (lim[t] > 0 || Lk == 0 || c->sinks) continue;
    float *ot = o + t * Dv;
    memset(ot, 0, sizeof(float) * (size_t)Dv);
    for (int j = 0; j < Lk; j++) {
      const char *vp =
          (const char *)mx_array_ptr(v) +
          (b * v->strides[0] + hk * v->strides[1] + (int64_t)j * v->strides[2]) *
              (int64_t)vsz;
      load_f32(vp, v->dtype, v->strides[3], vt, Dv);
      mx_axpy_f32(1.0f, vt, ot, Dv);
    }
    l[t] = (float)Lk;
  }
  const size_t osz = mx_dtype_size(c->out->dtype);
  for (int t = 0; t < nt; t++) {
    int i = (t0 + t) / nrep, h = hk * nrep + (t0 + t) % nrep;
    float *ot = o + t * Dv;
    /* Lk == 0: an empty sum (zeros); l == 0 otherwise: all scores -inf */
    float inv = Lk == 0 ? 0 : 1.0f / l[t];
    if (Lk == 0 || l[t] != 0)
      mx_scal_f32(inv, ot, Dv);
    else
      for (int d = 0; d < Dv; d++) ot[d] = NAN;
    int64_t orow = (((int64_t)b * c->Hq + h) * c->Lq + i) * Dv;
    mx_cvt_from_f32(ot, (char *)mx_array_ptr(c->out) + orow * (int64_t)osz, c->out->dtype,
                    Dv);
  }
}

static void sdpa_range(void *cv, int64_t t0, int64_t t1) {
  sdpa_ctx *c = cv;
  size_t n = (size_t)SDPA_BQ * c->D + (size_t)SDPA_BK * c->D + (size_t)SDPA_BK * c->Dv +
             (size_t)SDPA_BQ * c->Dv + (size_t)2 * SDPA_BQ * SDPA_BK + (size_t)c->D +
             ((size_t)SDPA_BQ * c->D + 1) / 2; /* + the bfloat16 queries */
  /* ~98 KB for D = 64: malloc would return it to the system and fault it
   * in again on every call (24 layers x 2 threads per decoded token) */
  float *buf = mx_thread_scratch(MX_SCRATCH_SDPA, sizeof(float) * n);
  if (!buf) {
    atomic_store(&c->err, 1);
    return;
  }
  int rows = c->nrep * c->Lq;
  for (int64_t task = t0; task < t1; task++) {
    int qb = (int)(task % c->nqb);
    int64_t bh = task / c->nqb;
    int hk = (int)(bh % c->Hkv), b = (int)(bh / c->Hkv);
    int r0 = qb * SDPA_BQ, nt = rows - r0 < SDPA_BQ ? rows - r0 : SDPA_BQ;
    sdpa_task(c, b, hk, r0, nt, buf);
  }
}

mx_status mx_cpu_sdpa(mx_node *n, mx_array **in, mx_array **out) {
  const mx_sdpa_params *p = MX_PARAMS(mx_sdpa_params, n);
  mx_array *q = in[0], *k = in[1], *v = in[2], *o = out[0];
  int i = 3;
  mx_array *mask = p->mask_mode == MX_SDPA_MASK_ARRAY ? in[i++] : NULL;
  mx_array *sinks = p->has_sinks ? in[i++] : NULL;
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  sdpa_ctx c = {q,
                k,
                v,
                mask,
                sinks,
                o,
                p->scale,
                p->mask_mode == MX_SDPA_MASK_CAUSAL,
                q->shape[0],
                q->shape[1],
                k->shape[1],
                q->shape[2],
                k->shape[2],
                q->shape[3],
                v->shape[3],
                q->shape[1] / k->shape[1],
                0,
                {0, 0, 0, 0},
                0};
  c.nqb = (c.nrep * c.Lq + SDPA_BQ - 1) / SDPA_BQ;
  if (mask) {
    int full[4] = {c.B, c.Hq, c.Lq, c.Lk};
    mx_broadcast_strides(mask, full, 4, c.mstr);
  }
  int64_t tasks = (int64_t)c.B * c.Hkv * c.nqb;
  mx_parallel_for(tasks, 1, sdpa_range, &c);
  if (atomic_load(&c.err))
    return mx_set_error(MX_ERR_NOMEM, "[scaled_dot_product_attention] out of memory");
  return MX_OK;
}
