/* array_map.c: mx_array_map, an insertion-ordered name -> array map with
 * string metadata (what safetensors files hold). The map owns one reference
 * to each array (taken with mx_keep, dropped with mx_free), so its arrays
 * live independently of the scopes they were made in. Lookups are linear:
 * models have at most a few thousand tensors. */
#include <stdlib.h>
#include <string.h>

#include "io_util.h"

typedef struct {
  char *name;
  mx_array *a;
} entry;

typedef struct {
  char *key, *value;
} meta;

struct mx_array_map {
  entry *e;
  int n, cap;
  meta *m;
  int nmeta, capmeta;
};

mx_array_map *mx_array_map_new(void) {
  mx_array_map *m = calloc(1, sizeof *m);
  if (!m) mx_set_error(MX_ERR_NOMEM, "[array_map] out of memory");
  return m;
}

void mx_array_map_free(mx_array_map *m) {
  if (!m) return;
  for (int i = 0; i < m->n; i++) {
    free(m->e[i].name);
    mx_free(m->e[i].a);
  }
  for (int i = 0; i < m->nmeta; i++) {
    free(m->m[i].key);
    free(m->m[i].value);
  }
  free(m->e);
  free(m->m);
  free(m);
}

static int find(const mx_array_map *m, const char *name) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->e[i].name, name) == 0) return i;
  return -1;
}

/* Room for one more element in *items (count n, capacity *cap). */
static bool grow(void **items, size_t isz, int n, int *cap) {
  if (n < *cap) return true;
  int nc = *cap ? 2 * *cap : 16;
  void *ni = realloc(*items, (size_t)nc * isz);
  if (!ni) return false;
  *items = ni;
  *cap = nc;
  return true;
}

mx_status mx_array_map_set(mx_array_map *m, const char *name, mx_array *a) {
  if (!m || !name) return mx_set_error(MX_ERR_INVALID, "[array_map] NULL map or name");
  if (!a)
    return mx_last_status()
               ? mx_last_status()
               : mx_set_error(MX_ERR_INVALID, "[array_map] NULL array for '%s'", name);
  int i = find(m, name);
  if (i >= 0) {
    mx_keep(a); /* before the free: a may be the entry's own array */
    mx_free(m->e[i].a);
    m->e[i].a = a;
    return MX_OK;
  }
  void *items = m->e;
  char *nm = strdup(name);
  bool ok = nm && grow(&items, sizeof *m->e, m->n, &m->cap);
  m->e = items;
  if (!ok) {
    free(nm);
    return mx_set_error(MX_ERR_NOMEM, "[array_map] out of memory");
  }
  m->e[m->n++] = (entry){nm, mx_keep(a)};
  return MX_OK;
}

mx_array *mx_array_map_get(const mx_array_map *m, const char *name) {
  if (!m || !name) return NULL;
  int i = find(m, name);
  return i >= 0 ? m->e[i].a : NULL;
}

int mx_array_map_size(const mx_array_map *m) { return m ? m->n : 0; }

const char *mx_array_map_name(const mx_array_map *m, int i) {
  return m && i >= 0 && i < m->n ? m->e[i].name : NULL;
}

mx_array *mx_array_map_at(const mx_array_map *m, int i) {
  return m && i >= 0 && i < m->n ? m->e[i].a : NULL;
}

bool mx_array_map_remove(mx_array_map *m, const char *name) {
  if (!m || !name) return false;
  int i = find(m, name);
  if (i < 0) return false;
  free(m->e[i].name);
  mx_free(m->e[i].a);
  memmove(m->e + i, m->e + i + 1, (size_t)(m->n - i - 1) * sizeof *m->e);
  m->n--;
  return true;
}

mx_status mx_array_map_set_meta(mx_array_map *m, const char *key, const char *value) {
  if (!m || !key || !value)
    return mx_set_error(MX_ERR_INVALID, "[array_map] NULL map, key or value");
  char *v = strdup(value);
  if (!v) return mx_set_error(MX_ERR_NOMEM, "[array_map] out of memory");
  for (int i = 0; i < m->nmeta; i++)
    if (strcmp(m->m[i].key, key) == 0) {
      free(m->m[i].value);
      m->m[i].value = v;
      return MX_OK;
    }
  void *items = m->m;
  char *k = strdup(key);
  bool ok = k && grow(&items, sizeof *m->m, m->nmeta, &m->capmeta);
  m->m = items;
  if (!ok) {
    free(k);
    free(v);
    return mx_set_error(MX_ERR_NOMEM, "[array_map] out of memory");
  }
  m->m[m->nmeta++] = (meta){k, v};
  return MX_OK;
}

const char *mx_array_map_meta(const mx_array_map *m, const char *key) {
  if (!m || !key) return NULL;
  for (int i = 0; i < m->nmeta; i++)
    if (strcmp(m->m[i].key, key) == 0) return m->m[i].value;
  return NULL;
}

int mx_array_map_meta_size(const mx_array_map *m) { return m ? m->nmeta : 0; }

const char *mx_array_map_meta_key(const mx_array_map *m, int i) {
  return m && i >= 0 && i < m->nmeta ? m->m[i].key : NULL;
}
