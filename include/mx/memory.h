/* mx/memory.h: MLX's memory API. Counts bytes held by arrays (active), the
 * high-water mark (peak) and freed buffers kept for reuse (cache). The limits
 * apply to the default device's allocator (CPU, or the GPU when it is the
 * default); the *_device forms name a device. */
#ifndef MX_MEMORY_H
#define MX_MEMORY_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

size_t mx_get_active_memory(void);
size_t mx_get_peak_memory(void);
void mx_reset_peak_memory(void);
size_t mx_get_cache_memory(void);
/* Returns the previous limit. An allocation that would take active memory
 * over the limit fails with MX_ERR_NOMEM ("[malloc] memory limit ..."). */
size_t mx_set_memory_limit(size_t limit);
size_t mx_get_memory_limit(void);
/* Returns the previous cache limit; the cache is trimmed to it. */
size_t mx_set_cache_limit(size_t limit);
void mx_clear_cache(void);

size_t mx_get_active_memory_device(mx_device d);
size_t mx_get_peak_memory_device(mx_device d);
size_t mx_get_cache_memory_device(mx_device d);

#ifdef __cplusplus
}
#endif
#endif
