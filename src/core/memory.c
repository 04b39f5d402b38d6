/* memory.c: the host allocator with a buffer cache, and MLX's memory API.
 *
 * Freed blocks go to a size-sorted cache and are reused for requests of at
 * least half their size, so a decode loop that frees and reallocates the same
 * sizes settles into a fixed set of blocks. Active memory counts bytes held
 * by live allocator buffers (external/mmapped memory is not counted). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

typedef struct {
  void *ptr;
  size_t cap;
} cached_block;

typedef struct {
  pthread_mutex_t mu;
  size_t active, peak, cache_bytes;
  size_t limit, cache_limit;
  cached_block *cache; /* sorted by cap */
  int ncache, capcache;
} allocator;

static allocator g_host = {.mu = PTHREAD_MUTEX_INITIALIZER};
/* device counters (the CUDA allocator reports through mx_memory_device_account) */
static pthread_mutex_t g_dev_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t g_dev_active, g_dev_peak, g_dev_cache;

static size_t total_ram(void) {
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || psz <= 0) return (size_t)1 << 40;
  return (size_t)pages * (size_t)psz;
}

static void ensure_limits(allocator *al) {
  if (al->limit == 0) {
    al->limit = total_ram();
    al->cache_limit = al->limit;
  }
}

static size_t round_cap(size_t n) {
  if (n == 0) n = 1;
  if (n <= 4096) return (n + 63) & ~(size_t)63;
  return (n + 4095) & ~(size_t)4095;
}

/* Remove cached blocks (largest first) until cache_bytes <= target. Caller
 * holds the lock. */
static void trim_cache(allocator *al, size_t target) {
  while (al->cache_bytes > target && al->ncache > 0) {
    cached_block b = al->cache[--al->ncache];
    al->cache_bytes -= b.cap;
    free(b.ptr);
  }
}

/* Smallest cached block of at least cap bytes and at most twice that;
 * caller holds the lock. */
static void *take_cached(allocator *al, size_t cap, size_t *got) {
  int lo = 0, hi = al->ncache;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (al->cache[mid].cap < cap) lo = mid + 1;
    else hi = mid;
  }
  if (lo >= al->ncache || al->cache[lo].cap > 2 * cap) return NULL;
  cached_block b = al->cache[lo];
  memmove(al->cache + lo, al->cache + lo + 1,
          (size_t)(al->ncache - lo - 1) * sizeof *al->cache);
  al->ncache--;
  al->cache_bytes -= b.cap;
  *got = b.cap;
  return b.ptr;
}

mx_buffer *mx_buffer_alloc(size_t nbytes) {
  allocator *al = &g_host;
  size_t cap = round_cap(nbytes);
  mx_buffer *b = calloc(1, sizeof *b);
  if (!b) {
    mx_set_error(MX_ERR_NOMEM, "[malloc] out of memory");
    return NULL;
  }
  pthread_mutex_lock(&al->mu);
  ensure_limits(al);
  size_t got = cap;
  void *p = take_cached(al, cap, &got);
  if (!p) {
    if (al->active + cap > al->limit) trim_cache(al, 0);
    if (al->active + cap > al->limit) {
      size_t active = al->active, limit = al->limit;
      pthread_mutex_unlock(&al->mu);
      free(b);
      mx_set_error(MX_ERR_NOMEM,
                   "[malloc] memory limit exceeded: requested %zu bytes with "
                   "%zu active, limit %zu (mx_set_memory_limit)",
                   nbytes, active, limit);
      return NULL;
    }
    p = aligned_alloc(64, cap);
    if (!p) {
      trim_cache(al, 0);
      p = aligned_alloc(64, cap);
    }
    if (!p) {
      pthread_mutex_unlock(&al->mu);
      free(b);
      mx_set_error(MX_ERR_NOMEM, "[malloc] out of memory allocating %zu bytes",
                   nbytes);
      return NULL;
    }
  }
  al->active += got;
  if (al->active > al->peak) al->peak = al->active;
  pthread_mutex_unlock(&al->mu);
  atomic_init(&b->refs, 1);
  b->host = p;
  b->nbytes = nbytes;
  b->capacity = got;
  b->valid = MX_VALID_HOST;
  return b;
}

static void host_free(void *p, size_t cap) {
  allocator *al = &g_host;
  pthread_mutex_lock(&al->mu);
  al->active -= cap;
  if (al->cache_bytes + cap <= al->cache_limit) {
    if (al->ncache == al->capcache) {
      int nc = al->capcache ? 2 * al->capcache : 64;
      cached_block *nb = realloc(al->cache, (size_t)nc * sizeof *nb);
      if (!nb) {
        pthread_mutex_unlock(&al->mu);
        free(p);
        return;
      }
      al->cache = nb;
      al->capcache = nc;
    }
    int i = al->ncache;
    while (i > 0 && al->cache[i - 1].cap > cap) {
      al->cache[i] = al->cache[i - 1];
      i--;
    }
    al->cache[i] = (cached_block){p, cap};
    al->ncache++;
    al->cache_bytes += cap;
    pthread_mutex_unlock(&al->mu);
    return;
  }
  pthread_mutex_unlock(&al->mu);
  free(p);
}

mx_buffer *mx_buffer_external(void *data, size_t nbytes, void (*release)(void *),
                              void *ctx) {
  mx_buffer *b = calloc(1, sizeof *b);
  if (!b) {
    mx_set_error(MX_ERR_NOMEM, "[malloc] out of memory");
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->host = data;
  b->nbytes = nbytes;
  b->release = release;
  b->release_ctx = ctx;
  b->valid = MX_VALID_HOST;
  return b;
}

void mx_buffer_retain(mx_buffer *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void mx_buffer_release(mx_buffer *b) {
  if (!b) return;
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (b->dev) mx_cuda_buffer_free(b);
  if (b->release) {
    b->release(b->release_ctx);
  } else if (b->host && b->capacity) {
    host_free(b->host, b->capacity);
  }
  free(b);
}

mx_status mx_buffer_ensure_host(mx_buffer *b) {
  if (b->valid & MX_VALID_HOST) return MX_OK;
  return mx_cuda_buffer_to_host(b);
}

/* ---- public API ---- */
static bool default_is_gpu(void) { return mx_default_device().type == MX_GPU; }

size_t mx_get_active_memory(void) {
  return default_is_gpu() ? mx_get_active_memory_device(mx_gpu())
                          : mx_get_active_memory_device(mx_cpu());
}
size_t mx_get_peak_memory(void) {
  return default_is_gpu() ? mx_get_peak_memory_device(mx_gpu())
                          : mx_get_peak_memory_device(mx_cpu());
}
size_t mx_get_cache_memory(void) {
  return default_is_gpu() ? mx_get_cache_memory_device(mx_gpu())
                          : mx_get_cache_memory_device(mx_cpu());
}

size_t mx_get_active_memory_device(mx_device d) {
  size_t v;
  if (d.type == MX_GPU) {
    pthread_mutex_lock(&g_dev_mu);
    v = g_dev_active;
    pthread_mutex_unlock(&g_dev_mu);
    return v;
  }
  pthread_mutex_lock(&g_host.mu);
  v = g_host.active;
  pthread_mutex_unlock(&g_host.mu);
  return v;
}
size_t mx_get_peak_memory_device(mx_device d) {
  size_t v;
  if (d.type == MX_GPU) {
    pthread_mutex_lock(&g_dev_mu);
    v = g_dev_peak;
    pthread_mutex_unlock(&g_dev_mu);
    return v;
  }
  pthread_mutex_lock(&g_host.mu);
  v = g_host.peak;
  pthread_mutex_unlock(&g_host.mu);
  return v;
}
size_t mx_get_cache_memory_device(mx_device d) {
  size_t v;
  if (d.type == MX_GPU) {
    pthread_mutex_lock(&g_dev_mu);
    v = g_dev_cache;
    pthread_mutex_unlock(&g_dev_mu);
    return v;
  }
  pthread_mutex_lock(&g_host.mu);
  v = g_host.cache_bytes;
  pthread_mutex_unlock(&g_host.mu);
  return v;
}

void mx_memory_device_account(int delta_sign, size_t bytes, bool cache) {
  pthread_mutex_lock(&g_dev_mu);
  size_t *v = cache ? &g_dev_cache : &g_dev_active;
  if (delta_sign > 0) *v += bytes;
  else *v -= bytes;
  if (g_dev_active > g_dev_peak) g_dev_peak = g_dev_active;
  pthread_mutex_unlock(&g_dev_mu);
}

void mx_reset_peak_memory(void) {
  pthread_mutex_lock(&g_host.mu);
  g_host.peak = g_host.active;
  pthread_mutex_unlock(&g_host.mu);
  pthread_mutex_lock(&g_dev_mu);
  g_dev_peak = g_dev_active;
  pthread_mutex_unlock(&g_dev_mu);
}

size_t mx_set_memory_limit(size_t limit) {
  pthread_mutex_lock(&g_host.mu);
  ensure_limits(&g_host);
  size_t old = g_host.limit;
  g_host.limit = limit ? limit : total_ram();
  pthread_mutex_unlock(&g_host.mu);
  return old;
}

size_t mx_get_memory_limit(void) {
  pthread_mutex_lock(&g_host.mu);
  ensure_limits(&g_host);
  size_t v = g_host.limit;
  pthread_mutex_unlock(&g_host.mu);
  return v;
}

size_t mx_set_cache_limit(size_t limit) {
  pthread_mutex_lock(&g_host.mu);
  ensure_limits(&g_host);
  size_t old = g_host.cache_limit;
  g_host.cache_limit = limit;
  trim_cache(&g_host, limit);
  pthread_mutex_unlock(&g_host.mu);
  return old;
}

void mx_clear_cache(void) {
  pthread_mutex_lock(&g_host.mu);
  trim_cache(&g_host, 0);
  pthread_mutex_unlock(&g_host.mu);
}
