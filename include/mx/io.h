/* mx/io.h: .npy and safetensors files.
 * Safetensors load mmaps the file; tensors whose data is aligned for their
 * dtype wrap the mapping without copying (the mapping lives while any of them
 * does). Malformed or truncated files give MX_ERR_IO with a clear message. */
#ifndef MX_IO_H
#define MX_IO_H

#include "array.h"

#ifdef __cplusplus
extern "C" {
#endif

mx_array *mx_load_npy(const char *path);
mx_status mx_save_npy(const char *path, mx_array *a);

/* An ordered name -> array map plus string metadata. Owns references to its
 * arrays (independent of scopes). */
typedef struct mx_array_map mx_array_map;
mx_array_map *mx_array_map_new(void);
void mx_array_map_free(mx_array_map *m);
/* Takes its own reference; replaces an existing entry of the same name. */
mx_status mx_array_map_set(mx_array_map *m, const char *name, mx_array *a);
/* Borrowed; NULL if absent (no error recorded). */
mx_array *mx_array_map_get(const mx_array_map *m, const char *name);
int mx_array_map_size(const mx_array_map *m);
const char *mx_array_map_name(const mx_array_map *m, int i);
mx_array *mx_array_map_at(const mx_array_map *m, int i);
bool mx_array_map_remove(mx_array_map *m, const char *name);
mx_status mx_array_map_set_meta(mx_array_map *m, const char *key, const char *value);
const char *mx_array_map_meta(const mx_array_map *m, const char *key);
int mx_array_map_meta_size(const mx_array_map *m);
const char *mx_array_map_meta_key(const mx_array_map *m, int i);

mx_array_map *mx_load_safetensors(const char *path);
mx_status mx_save_safetensors(const char *path, const mx_array_map *m);

#ifdef __cplusplus
}
#endif
#endif
