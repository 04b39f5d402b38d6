/* rope.c: rotary embedding setup for each rope_type of config.json, as
 * mlx-lm computes it: default (base only), linear (position scale), dynamic
 * NTK (base grows with the sequence, recomputed per forward), llama3
 * (wavelength-dependent frequency scaling), yarn (ramped interpolation plus
 * an attention scale) and longrope (Phi-3's per-frequency factors plus an
 * attention scale). Frequencies are passed to mx_fast_rope as periods
 * (MLX's `freqs`). The attention scale multiplies the rotated dimensions of
 * q and k, as transformers does through cos/sin. */
#include <math.h>
#include <stdlib.h>

#include "model.h"

static double yarn_mscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

static double yarn_correction_dim(double rot, int dims, double base, int max_pos) {
  return (dims * log(max_pos / (rot * 2 * M_PI))) / (2 * log(base));
}

mx_status mx_lm_rope_setup(mx_lm_model *m) {
  const mx_rope_config *r = &m->cfg.rope;
  int dims = (int)(m->cfg.head_dim * r->partial_rotary_factor);
  if (dims <= 0 || dims % 2) dims = m->cfg.head_dim;
  m->rope_dims = dims;
  m->rope_scale = 1.0f;
  m->attn_mscale = 1.0f;
  m->rope_freqs = NULL;
  m->attn_mscale_vec = NULL;
  int half = dims / 2;
  double base = r->theta;
  if (r->type == MX_ROPE_DEFAULT || r->type == MX_ROPE_DYNAMIC) return MX_OK;
  if (r->type == MX_ROPE_LINEAR) {
    m->rope_scale = (float)(1.0 / r->factor);
    return MX_OK;
  }
  if (r->type == MX_ROPE_LONGROPE && r->n_long_factor != half)
    return mx_set_error(MX_ERR_IO,
                        "[lm_load] rope long_factor has %d entries, expected %d (rotary "
                        "dims / 2)",
                        r->n_long_factor, half);
  float *f = malloc((size_t)half * sizeof *f);
  if (!f) return mx_set_error(MX_ERR_NOMEM, "[lm_load] out of memory");
  if (r->type == MX_ROPE_LLAMA3) {
    double old = r->original_max_position_embeddings;
    double low_wl = old / r->low_freq_factor, high_wl = old / r->high_freq_factor;
    for (int i = 0; i < half; i++) {
      double fr = pow(base, (2.0 * i) / dims); /* period */
      double wl = 2 * M_PI * fr;
      double out = wl > low_wl ? fr * r->factor : fr;
      if (wl > high_wl && wl < low_wl) {
        double smooth =
            (old / wl - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
        out = fr / ((1 - smooth) / r->factor + smooth);
      }
      f[i] = (float)out;
    }
  } else if (r->type == MX_ROPE_LONGROPE) {
    /* mlx-lm (SuScaledRoPE) uses the long factors at every length;
     * transformers switches to them past original_max_position_embeddings */
    for (int i = 0; i < half; i++)
      f[i] = (float)(r->long_factor[i] * pow(base, (2.0 * i) / dims));
    int orig = r->original_max_position_embeddings;
    double factor = orig > 0 ? (double)m->cfg.max_position_embeddings / orig : 1.0;
    m->attn_mscale =
        (float)(r->attention_factor > 0    ? r->attention_factor
                : r->long_mscale > 0       ? r->long_mscale
                : factor <= 1 || orig <= 1 ? 1.0
                                           : sqrt(1 + log(factor) / log((double)orig)));
  } else { /* yarn */
    int old = r->original_max_position_embeddings;
    double low = floor(yarn_correction_dim(r->beta_fast, dims, base, old));
    double high = ceil(yarn_correction_dim(r->beta_slow, dims, base, old));
    if (low < 0) low = 0;
    if (high > dims - 1) high = dims - 1;
    if (low == high) high += 0.001;
    for (int i = 0; i < half; i++) {
      double extra = pow(base, (2.0 * i) / dims);
      double inter = r->factor * extra;
      double ramp = (i - low) / (high - low);
      if (ramp < 0) ramp = 0;
      if (ramp > 1) ramp = 1;
      double mask = 1.0 - ramp;
      f[i] = (float)((inter * extra) / (inter * mask + extra * (1 - mask)));
    }
    m->attn_mscale =
        (float)(r->attention_factor > 0 ? r->attention_factor
                                        : yarn_mscale(r->factor, r->mscale) /
                                              yarn_mscale(r->factor, r->mscale_all_dim));
  }
  mx_scope_begin();
  m->rope_freqs = mx_keep(mx_array_from_data(f, &half, 1, MX_FLOAT32));
  int hd = m->cfg.head_dim;
  if (m->rope_freqs && m->attn_mscale != 1.0f && dims < hd) {
    /* partial rotary: only the rotated dimensions carry the scale */
    float *v = realloc(f, (size_t)hd * sizeof *v);
    if (v) {
      f = v;
      for (int i = 0; i < hd; i++) v[i] = i < dims ? m->attn_mscale : 1.0f;
      m->attn_mscale_vec =
          mx_keep(mx_astype(mx_array_from_data(v, &hd, 1, MX_FLOAT32), m->dtype));
    }
  }
  mx_scope_end();
  free(f);
  if (m->rope_freqs && m->attn_mscale != 1.0f && dims < hd && !m->attn_mscale_vec)
    return mx_last_status() != MX_OK
               ? mx_last_status()
               : mx_set_error(MX_ERR_NOMEM, "[lm_load] out of memory");
  return m->rope_freqs ? MX_OK : mx_last_status();
}
