/* config.c: parse a Hugging Face config.json into mx_lm_config, accepting
 * both transformers v4 keys (rope_theta, rope_scaling, torch_dtype) and v5
 * keys (rope_parameters, dtype, layer_types), plus mlx-community's
 * "quantization" block. */
#include <stdio.h>
#include <string.h>

#include "model.h"

static double num(const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* an int field: cJSON's valueint saturates to [INT_MIN, INT_MAX] (a cast of
 * a larger double would be undefined); the range checks that follow reject
 * what no model has */
static int inum(const cJSON *o, const char *k, int dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static bool boolean(const cJSON *o, const char *k, bool dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
  return dflt;
}

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A list of positive numbers (longrope's factors); absent is fine. */
static bool factors(const cJSON *o, const char *k, float *dst, int *n) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k), *e;
  *n = 0;
  if (!v) return true;
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 256) return false;
  cJSON_ArrayForEach(e, v) {
    if (!cJSON_IsNumber(e) || !(e->valuedouble > 0)) return false;
    dst[(*n)++] = (float)e->valuedouble;
  }
  return true;
}

static mx_status parse_rope(const cJSON *j, mx_lm_config *c, const char *path) {
  mx_rope_config *r = &c->rope;
  r->type = MX_ROPE_DEFAULT;
  r->theta = num(j, "rope_theta", 10000.0);
  r->factor = 1.0;
  r->partial_rotary_factor = num(j, "partial_rotary_factor", 1.0);
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "rope_parameters");
  const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
  if (cJSON_IsObject(params)) {
    r->theta = num(params, "rope_theta", r->theta);
    r->partial_rotary_factor =
        num(params, "partial_rotary_factor", r->partial_rotary_factor);
  }
  if (!(r->partial_rotary_factor > 0 && r->partial_rotary_factor <= 1))
    return mx_set_error(MX_ERR_IO,
                        "[lm_load] %s: partial_rotary_factor %g is not in (0, 1]", path,
                        r->partial_rotary_factor);
  if (!(r->theta > 0 && r->theta < 1e300))
    return mx_set_error(MX_ERR_IO, "[lm_load] %s: rope_theta %g is not a positive number",
                        path, r->theta);
  const cJSON *s =
      cJSON_IsObject(scaling) ? scaling : (cJSON_IsObject(params) ? params : NULL);
  if (!s) return MX_OK;
  const char *type = str(s, "rope_type");
  if (!type) type = str(s, "type");
  if (!type || !strcmp(type, "default")) return MX_OK;
  r->factor = num(s, "factor", 1.0);
  r->low_freq_factor = num(s, "low_freq_factor", 1.0);
  r->high_freq_factor = num(s, "high_freq_factor", 4.0);
  r->original_max_position_embeddings =
      inum(s, "original_max_position_embeddings",
           inum(j, "original_max_position_embeddings", c->max_position_embeddings));
  r->beta_fast = num(s, "beta_fast", 32.0);
  r->beta_slow = num(s, "beta_slow", 1.0);
  r->mscale = num(s, "mscale", 1.0);
  r->mscale_all_dim = num(s, "mscale_all_dim", 0.0);
  r->attention_factor = num(s, "attention_factor", 0.0);
  r->long_mscale = num(s, "long_mscale", 0.0);
  if (!factors(s, "long_factor", r->long_factor, &r->n_long_factor) ||
      !factors(s, "short_factor", r->short_factor, &r->n_short_factor))
    return mx_set_error(MX_ERR_IO,
                        "[lm_load] %s: rope long_factor/short_factor must be arrays of "
                        "at most 256 positive numbers",
                        path);
  if (!strcmp(type, "linear"))
    r->type = MX_ROPE_LINEAR;
  else if (!strcmp(type, "dynamic"))
    r->type = MX_ROPE_DYNAMIC;
  else if (!strcmp(type, "llama3"))
    r->type = MX_ROPE_LLAMA3;
  else if (!strcmp(type, "yarn"))
    r->type = MX_ROPE_YARN;
  else if (!strcmp(type, "longrope") || !strcmp(type, "su"))
    r->type = MX_ROPE_LONGROPE;
  else
    return mx_set_error(MX_ERR_UNSUPPORTED, "[lm_load] %s: unsupported rope type '%s'",
                        path, type);
  return MX_OK;
}

static void parse_ids(const cJSON *v, mx_lm_config *c) {
  if (cJSON_IsNumber(v)) {
    if (c->n_eos < MX_LM_MAX_EOS) c->eos_ids[c->n_eos++] = v->valueint;
  } else if (cJSON_IsArray(v)) {
    const cJSON *e;
    cJSON_ArrayForEach(e, v) if (cJSON_IsNumber(e) && c->n_eos < MX_LM_MAX_EOS)
        c->eos_ids[c->n_eos++] = e->valueint;
  }
}

mx_status mx_lm_config_parse(const char *text, const char *path, mx_lm_config *c,
                             cJSON **json_out) {
  memset(c, 0, sizeof *c);
  cJSON *j = cJSON_Parse(text);
  if (!j || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return mx_set_error(MX_ERR_IO, "[lm_load] %s: not a JSON object", path);
  }
  const char *mt = str(j, "model_type");
  if (!mt) {
    cJSON_Delete(j);
    return mx_set_error(MX_ERR_IO, "[lm_load] %s: no model_type", path);
  }
  snprintf(c->model_type, sizeof c->model_type, "%s", mt);
  c->hidden_size = inum(j, "hidden_size", 0);
  c->num_layers = inum(j, "num_hidden_layers", 0);
  c->num_heads = inum(j, "num_attention_heads", 0);
  c->num_kv_heads = inum(j, "num_key_value_heads", c->num_heads);
  c->intermediate_size = inum(j, "intermediate_size", 0);
  c->vocab_size = inum(j, "vocab_size", 0);
  c->max_position_embeddings = inum(j, "max_position_embeddings", 4096);
  c->rms_norm_eps = num(j, "rms_norm_eps", 1e-6);
  if (c->hidden_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 ||
      c->num_kv_heads <= 0 || c->vocab_size <= 0 || c->num_layers > 256 ||
      c->num_heads % c->num_kv_heads != 0) {
    cJSON_Delete(j);
    return mx_set_error(
        MX_ERR_IO,
        "[lm_load] %s: invalid sizes (hidden %d, layers %d, heads %d, kv heads "
        "%d, vocab %d)",
        path, c->hidden_size, c->num_layers, c->num_heads, c->num_kv_heads,
        c->vocab_size);
  }
  c->head_dim = inum(j, "head_dim", c->hidden_size / c->num_heads);
  if (c->head_dim <= 0) c->head_dim = c->hidden_size / c->num_heads;
  /* far above any published model, and small enough that the weight
   * shapes built from them ((heads + 2 kv heads) * head_dim, 2 *
   * intermediate) fit an int */
  if (c->hidden_size > (1 << 20) || c->intermediate_size < 0 ||
      c->intermediate_size > (1 << 20) || c->vocab_size > (1 << 24) ||
      c->num_heads > 4096 || c->head_dim <= 0 || c->head_dim > 4096) {
    cJSON_Delete(j);
    return mx_set_error(MX_ERR_IO,
                        "[lm_load] %s: sizes out of range (hidden %d, intermediate %d, "
                        "vocab %d, heads %d, head_dim %d)",
                        path, c->hidden_size, c->intermediate_size, c->vocab_size,
                        c->num_heads, c->head_dim);
  }
  const cJSON *tie = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
  c->tie_given = cJSON_IsBool(tie);
  c->tie_word_embeddings = boolean(j, "tie_word_embeddings", false);
  c->attention_bias = boolean(j, "attention_bias", false);
  c->mlp_bias = boolean(j, "mlp_bias", false);
  const cJSON *sw = cJSON_GetObjectItemCaseSensitive(j, "sliding_window");
  c->sliding_window = cJSON_IsNumber(sw) ? sw->valueint : 0;
  const cJSON *lt = cJSON_GetObjectItemCaseSensitive(j, "layer_types");
  for (int l = 0; l < c->num_layers; l++) {
    const cJSON *t = cJSON_IsArray(lt) ? cJSON_GetArrayItem(lt, l) : NULL;
    c->layer_sliding[l] =
        c->sliding_window > 0 &&
        (t ? (cJSON_IsString(t) && !strcmp(t->valuestring, "sliding_attention")) : true);
  }
  c->bos_id = inum(j, "bos_token_id", -1);
  parse_ids(cJSON_GetObjectItemCaseSensitive(j, "eos_token_id"), c);
  mx_status rc = parse_rope(j, c, path);
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "quantization");
  if (!cJSON_IsObject(q)) q = cJSON_GetObjectItemCaseSensitive(j, "quantization_config");
  if (cJSON_IsObject(q)) {
    c->quant_group_size = inum(q, "group_size", 64);
    c->quant_bits = inum(q, "bits", 4);
  }
  if (rc != MX_OK) {
    cJSON_Delete(j);
    return rc;
  }
  if (json_out)
    *json_out = j;
  else
    cJSON_Delete(j);
  return MX_OK;
}
