/* einsum.c: numpy/MLX einsum built from views and matmul.
 *
 * Subscripts: letters, at most one "..." per term, optional "->output"
 * (whitespace ignored). Implicit output (no "->"): the broadcast ("...") dims
 * first, then the letters that occur exactly once, in ASCII order. As in
 * MLX, an explicit output without "..." sums the broadcast dims (numpy
 * rejects that). Sizes must agree per letter, except that size 1 broadcasts.
 *
 * Evaluation:
 *  1. a letter repeated within one operand takes the diagonal (as_strided
 *     view with the summed strides);
 *  2. operands are contracted left to right; before each pair, letters that
 *     no later term (or the output) needs and only one side has are summed
 *     out (a matmul with a ones vector);
 *  3. a pair becomes one batched matmul: shared letters still needed are
 *     batch dims, shared letters no longer needed are the contraction,
 *     one-sided letters are the rows/columns (a size-1 contraction when
 *     nothing is shared gives the broadcast product);
 *  4. the last term is summed down to the output letters and transposed.
 * The result dtype is the promotion of all operands; integer and bool
 * operands are allowed (as numpy), complex is not. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../primitives/linalg.h"

#define NLETTERS 52
#define MAX_LABELS (NLETTERS + MX_MAX_NDIM)

typedef struct {
  mx_array *a;
  int nl;
  int lab[MX_MAX_NDIM];
} term;

/* 'A'..'Z' -> 0..25, 'a'..'z' -> 26..51: id order is ASCII order. */
static int letter_id(char c) { return c <= 'Z' ? c - 'A' : 26 + (c - 'a'); }

/* A parsed subscript: letter ids with -1 marking the ellipsis position. */
typedef struct {
  int n;
  int ids[MX_MAX_NDIM + 64];
  int nletters;
  bool ellipsis;
} sub_t;

static bool parse_sub(const char *s, size_t len, sub_t *out, const char *what) {
  out->n = 0;
  out->nletters = 0;
  out->ellipsis = false;
  for (size_t i = 0; i < len; i++) {
    if (isalpha((unsigned char)s[i])) {
      if (out->n >= (int)(sizeof out->ids / sizeof out->ids[0])) {
        mx_set_error(MX_ERR_INVALID, "[einsum] Too many subscripts in %s.", what);
        return false;
      }
      out->ids[out->n++] = letter_id(s[i]);
      out->nletters++;
      continue;
    }
    if (s[i] == '.' && i + 2 < len && s[i + 1] == '.' && s[i + 2] == '.') {
      if (out->ellipsis) {
        mx_set_error(MX_ERR_INVALID,
                     "[einsum] Only one ellipsis per subscript is allowed but found more "
                     "in '%.*s'.",
                     (int)len, s);
        return false;
      }
      out->ellipsis = true;
      out->ids[out->n++] = -1;
      i += 2;
      continue;
    }
    mx_set_error(MX_ERR_INVALID, "[einsum] Subscripts must be letters, but got '%c'.",
                 s[i]);
    return false;
  }
  return true;
}

/* Sum out the labels of t not in keep[] (a matmul with a ones vector). */
static bool reduce_term(term *t, const bool *keep) {
  int perm[MX_MAX_NDIM], np = 0, kshape[MX_MAX_NDIM + 1], nk = 0, kl[MX_MAX_NDIM];
  int64_t s = 1;
  bool any = false;
  for (int i = 0; i < t->nl; i++)
    if (keep[t->lab[i]]) {
      perm[np++] = i;
      kl[nk] = t->lab[i];
      kshape[nk++] = t->a->shape[i];
    }
  for (int i = 0; i < t->nl; i++)
    if (!keep[t->lab[i]]) {
      perm[np++] = i;
      s *= t->a->shape[i];
      any = true;
    }
  if (!any) return true;
  if (s > INT32_MAX) {
    mx_set_error(MX_ERR_INVALID, "[einsum] reduction too large");
    return false;
  }
  int ns = (int)s;
  kshape[nk] = ns;
  mx_array *x = mx_reshape(mx_transpose(t->a, perm, t->nl), kshape, nk + 1);
  mx_array *r = mx_linalg_matmul(x, mx_ones(&ns, 1, t->a->dtype), true, "einsum");
  if (!r) return false;
  t->a = r;
  t->nl = nk;
  memcpy(t->lab, kl, sizeof(int) * (size_t)nk);
  return true;
}

/* L x R -> one term; `later` marks labels needed after this pair. */
static bool contract(term *L, term *R, const bool *later, term *out) {
  int batch[MX_MAX_NDIM], nbt = 0, con[MX_MAX_NDIM], nc = 0, lo[MX_MAX_NDIM], nlo = 0,
                          ro[MX_MAX_NDIM], nro = 0;
  int lpos[MAX_LABELS], rpos[MAX_LABELS];
  for (int l = 0; l < MAX_LABELS; l++) lpos[l] = rpos[l] = -1;
  for (int i = 0; i < L->nl; i++) lpos[L->lab[i]] = i;
  for (int i = 0; i < R->nl; i++) rpos[R->lab[i]] = i;
  for (int i = 0; i < L->nl; i++) {
    int l = L->lab[i];
    if (rpos[l] >= 0) {
      if (later[l])
        batch[nbt++] = l;
      else
        con[nc++] = l;
    } else {
      lo[nlo++] = l;
    }
  }
  for (int i = 0; i < R->nl; i++)
    if (lpos[R->lab[i]] < 0) ro[nro++] = R->lab[i];
  if (nbt + nlo + nro > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID,
                 "[einsum] intermediate result has more than %d dimensions", MX_MAX_NDIM);
    return false;
  }
  /* contracted labels: broadcast a size-1 side to the other's size */
  mx_array *la = L->a, *ra = R->a;
  {
    int ls[MX_MAX_NDIM], rs[MX_MAX_NDIM];
    bool lb = false, rb = false;
    memcpy(ls, la->shape, sizeof(int) * (size_t)la->ndim);
    memcpy(rs, ra->shape, sizeof(int) * (size_t)ra->ndim);
    for (int i = 0; i < nc; i++) {
      int x = lpos[con[i]], y = rpos[con[i]];
      if (ls[x] == 1 && rs[y] != 1) {
        ls[x] = rs[y];
        lb = true;
      } else if (rs[y] == 1 && ls[x] != 1) {
        rs[y] = ls[x];
        rb = true;
      }
    }
    if (lb) la = mx_broadcast_to(la, ls, la->ndim);
    if (rb) ra = mx_broadcast_to(ra, rs, ra->ndim);
    if (!la || !ra) return false;
  }
  int pl[MX_MAX_NDIM], pr[MX_MAX_NDIM], sl[MX_MAX_NDIM], sr[MX_MAX_NDIM], so[MX_MAX_NDIM];
  int npl = 0, npr = 0, nsl = 0, nsr = 0, nso = 0;
  int64_t ml = 1, kc = 1, nr = 1;
  for (int i = 0; i < nbt; i++) {
    int x = lpos[batch[i]], y = rpos[batch[i]];
    pl[npl++] = x;
    pr[npr++] = y;
    sl[nsl++] = la->shape[x];
    sr[nsr++] = ra->shape[y];
    so[nso++] = la->shape[x] == 1 ? ra->shape[y] : la->shape[x];
  }
  for (int i = 0; i < nlo; i++) {
    int x = lpos[lo[i]];
    pl[npl++] = x;
    ml *= la->shape[x];
    so[nso++] = la->shape[x];
  }
  for (int i = 0; i < nc; i++) {
    pl[npl++] = lpos[con[i]];
    pr[npr++] = rpos[con[i]];
    kc *= la->shape[lpos[con[i]]];
  }
  for (int i = 0; i < nro; i++) {
    int y = rpos[ro[i]];
    pr[npr++] = y;
    nr *= ra->shape[y];
    so[nso++] = ra->shape[y];
  }
  if (ml > INT32_MAX || kc > INT32_MAX || nr > INT32_MAX) {
    mx_set_error(MX_ERR_INVALID, "[einsum] operands too large");
    return false;
  }
  sl[nsl++] = (int)ml;
  sl[nsl++] = (int)kc;
  sr[nsr++] = (int)kc;
  sr[nsr++] = (int)nr;
  mx_array *x = mx_reshape(mx_transpose(la, pl, la->ndim), sl, nsl);
  mx_array *y = mx_reshape(mx_transpose(ra, pr, ra->ndim), sr, nsr);
  mx_array *r = mx_reshape(mx_linalg_matmul(x, y, true, "einsum"), so, nso);
  if (!r) return false;
  out->a = r;
  out->nl = 0;
  for (int i = 0; i < nbt; i++) out->lab[out->nl++] = batch[i];
  for (int i = 0; i < nlo; i++) out->lab[out->nl++] = lo[i];
  for (int i = 0; i < nro; i++) out->lab[out->nl++] = ro[i];
  return true;
}

/* Everything after parsing; runs inside the caller's scope. */
static mx_array *einsum_run(term *terms, int n, const int *out_lab, int nout) {
  bool in_out[MAX_LABELS] = {0};
  for (int i = 0; i < nout; i++) in_out[out_lab[i]] = true;
  term cur = terms[0];
  for (int j = 1; j < n; j++) {
    bool later[MAX_LABELS];
    memcpy(later, in_out, sizeof later);
    for (int k = j + 1; k < n; k++)
      for (int i = 0; i < terms[k].nl; i++) later[terms[k].lab[i]] = true;
    bool keep[MAX_LABELS];
    memcpy(keep, later, sizeof keep);
    for (int i = 0; i < terms[j].nl; i++) keep[terms[j].lab[i]] = true;
    if (!reduce_term(&cur, keep)) return NULL;
    memcpy(keep, later, sizeof keep);
    for (int i = 0; i < cur.nl; i++) keep[cur.lab[i]] = true;
    if (!reduce_term(&terms[j], keep)) return NULL;
    term next;
    if (!contract(&cur, &terms[j], later, &next)) return NULL;
    cur = next;
  }
  if (!reduce_term(&cur, in_out)) return NULL;
  int perm[MX_MAX_NDIM];
  for (int i = 0; i < nout; i++) {
    perm[i] = -1;
    for (int k = 0; k < cur.nl; k++)
      if (cur.lab[k] == out_lab[i]) perm[i] = k;
    if (perm[i] < 0) {
      mx_set_error(MX_ERR_INVALID, "[einsum] internal error: output label lost");
      return NULL;
    }
  }
  return mx_transpose(cur.a, perm, nout);
}

mx_array *mx_einsum(const char *subscripts, mx_array *const *operands, int n) {
  if (!subscripts) {
    mx_set_error(MX_ERR_INVALID, "[einsum] subscripts must not be NULL");
    return NULL;
  }
  if (n <= 0 || !operands) {
    mx_set_error(MX_ERR_INVALID, "[einsum] At least one operand is required.");
    return NULL;
  }
  for (int i = 0; i < n; i++) MX_CHECK_NULL1(operands[i]);
  if (n > MX_MAX_NDIM * 4) {
    mx_set_error(MX_ERR_INVALID, "[einsum] too many operands (%d)", n);
    return NULL;
  }
  /* strip whitespace */
  size_t slen = strlen(subscripts);
  char *s = malloc(slen + 1);
  if (!s) {
    mx_set_error(MX_ERR_NOMEM, "[einsum] out of memory");
    return NULL;
  }
  size_t len = 0;
  for (size_t i = 0; i < slen; i++)
    if (!isspace((unsigned char)subscripts[i])) s[len++] = subscripts[i];
  s[len] = 0;

  mx_array *result = NULL;
  sub_t *subs = calloc((size_t)n + 1, sizeof *subs);
  term *terms = calloc((size_t)n, sizeof *terms);
  if (!subs || !terms) {
    mx_set_error(MX_ERR_NOMEM, "[einsum] out of memory");
    goto done;
  }
  char *arrow = strstr(s, "->");
  size_t lhs_len = arrow ? (size_t)(arrow - s) : len;
  /* input terms */
  int nterms = 0;
  size_t start = 0;
  for (size_t i = 0; i <= lhs_len; i++) {
    if (i == lhs_len || s[i] == ',') {
      if (nterms < n && !parse_sub(s + start, i - start, &subs[nterms], "input"))
        goto done;
      nterms++;
      start = i + 1;
    }
  }
  if (nterms != n) {
    mx_set_error(MX_ERR_INVALID,
                 "[einsum] Number of operands, %d, does not match number of input "
                 "subscripts, %d",
                 n, nterms);
    goto done;
  }
  /* ellipsis lengths */
  int ell_len[MX_MAX_NDIM * 4], E = 0;
  for (int i = 0; i < n; i++) {
    mx_array *a = operands[i];
    if (subs[i].ellipsis) {
      ell_len[i] = a->ndim - subs[i].nletters;
      if (ell_len[i] < 0) {
        mx_set_error(MX_ERR_INVALID,
                     "[einsum] Operand %d with shape %s has insufficient dimensions for "
                     "its subscript: the ellipsis requires at least %d dimensions.",
                     i, mx_shape_str(a->shape, a->ndim), subs[i].nletters);
        goto done;
      }
      if (ell_len[i] > E) E = ell_len[i];
    } else {
      ell_len[i] = 0;
      if (subs[i].nletters != a->ndim) {
        mx_set_error(MX_ERR_INVALID,
                     "[einsum] Invalid number of subscripts %d for input %d with %d "
                     "dimensions.",
                     subs[i].nletters, i, a->ndim);
        goto done;
      }
    }
  }
  /* expand ellipses into labels NLETTERS + position (right-aligned) */
  int labs[MX_MAX_NDIM * 4][MX_MAX_NDIM];
  int sizes[MAX_LABELS];
  int count[MAX_LABELS] = {0};
  bool any_ellipsis = false;
  for (int l = 0; l < MAX_LABELS; l++) sizes[l] = -1;
  for (int i = 0; i < n; i++) {
    int q = 0;
    for (int k = 0; k < subs[i].n; k++) {
      if (subs[i].ids[k] < 0) {
        any_ellipsis = true;
        for (int e = 0; e < ell_len[i]; e++) labs[i][q++] = NLETTERS + E - ell_len[i] + e;
      } else {
        labs[i][q++] = subs[i].ids[k];
      }
    }
    mx_array *a = operands[i];
    int local[MAX_LABELS];
    for (int l = 0; l < MAX_LABELS; l++) local[l] = -1;
    for (int d = 0; d < a->ndim; d++) {
      int l = labs[i][d], dim = a->shape[d];
      count[l]++;
      if (local[l] >= 0 && local[l] != dim) {
        mx_set_error(MX_ERR_INVALID,
                     "[einsum] Dimensions of repeated subscripts do not have the same "
                     "size (%d != %d).",
                     local[l], dim);
        goto done;
      }
      local[l] = dim;
      if (sizes[l] > 1 && dim != 1 && dim != sizes[l]) {
        mx_set_error(
            MX_ERR_INVALID,
            "[einsum] Cannot broadcast dimension %d of input %d with shape %s to "
            "size %d.",
            d, i, mx_shape_str(a->shape, a->ndim), sizes[l]);
        goto done;
      }
      if (sizes[l] <= 1) sizes[l] = dim;
    }
  }
  /* output labels */
  int out_lab[MX_MAX_NDIM + 1], nout = 0;
  if (arrow) {
    sub_t os;
    if (!parse_sub(arrow + 2, len - lhs_len - 2, &os, "output")) goto done;
    bool seen[MAX_LABELS] = {0};
    for (int k = 0; k < os.n; k++) {
      int ids[MX_MAX_NDIM], nid = 0;
      if (os.ids[k] < 0)
        for (int e = 0; e < E; e++) ids[nid++] = NLETTERS + e;
      else
        ids[nid++] = os.ids[k];
      for (int q = 0; q < nid; q++) {
        int l = ids[q];
        if (seen[l]) {
          mx_set_error(MX_ERR_INVALID, "[einsum] Repeat indices not allowed in output.");
          goto done;
        }
        if (count[l] == 0) {
          mx_set_error(MX_ERR_INVALID,
                       "[einsum] Output subscript '%c' does not appear in the inputs.",
                       l < 26 ? 'A' + l : 'a' + (l - 26));
          goto done;
        }
        if (nout >= MX_MAX_NDIM) {
          mx_set_error(MX_ERR_INVALID, "[einsum] output has more than %d dimensions",
                       MX_MAX_NDIM);
          goto done;
        }
        seen[l] = true;
        out_lab[nout++] = l;
      }
    }
  } else {
    if (any_ellipsis)
      for (int e = 0; e < E; e++) out_lab[nout++] = NLETTERS + e;
    for (int l = 0; l < NLETTERS; l++)
      if (count[l] == 1) {
        if (nout >= MX_MAX_NDIM) {
          mx_set_error(MX_ERR_INVALID, "[einsum] output has more than %d dimensions",
                       MX_MAX_NDIM);
          goto done;
        }
        out_lab[nout++] = l;
      }
  }
  /* dtype */
  mx_dtype t = operands[0]->dtype;
  for (int i = 1; i < n; i++) t = mx_promote_types(t, operands[i]->dtype);
  if (t == MX_COMPLEX64) {
    mx_set_error(MX_ERR_UNSUPPORTED, "[einsum] complex64 operands are not supported");
    goto done;
  }

  mx_scope_begin();
  bool ok = true;
  for (int i = 0; i < n && ok; i++) {
    mx_array *a = mx_astype(operands[i], t);
    if (!a) {
      ok = false;
      break;
    }
    /* diagonal of repeated labels: one axis per distinct label, stride the
     * sum of the repeats' strides (relative to a's row-major layout) */
    int64_t rstr[MX_MAX_NDIM];
    mx_row_strides(a->shape, a->ndim, rstr);
    term *tm = &terms[i];
    tm->nl = 0;
    int shp[MX_MAX_NDIM];
    int64_t str[MX_MAX_NDIM];
    for (int d = 0; d < a->ndim; d++) {
      int l = labs[i][d], k;
      for (k = 0; k < tm->nl; k++)
        if (tm->lab[k] == l) break;
      if (k == tm->nl) {
        tm->lab[tm->nl] = l;
        shp[tm->nl] = a->shape[d];
        str[tm->nl++] = rstr[d];
      } else {
        str[k] += rstr[d];
      }
    }
    tm->a = tm->nl == a->ndim ? a : mx_as_strided(a, shp, str, tm->nl, 0);
    ok = tm->a != NULL;
  }
  mx_array *r = ok ? einsum_run(terms, n, out_lab, nout) : NULL;
  result = mx_keep(r);
  mx_scope_end();
  if (result) result = mx_scope_adopt(result);
done:
  free(s);
  free(subs);
  free(terms);
  return result;
}
