/* memory.c: caching allocators (one for host memory, one for the GPU when the
 * CUDA backend registers its raw allocation functions) and MLX's memory API.
 *
 * Freed blocks go to a size-sorted cache and are reused for requests between
 * half their size and their size, so a decode loop that frees and reallocates
 * the same sizes settles into a fixed set of blocks. Active memory counts the
 * bytes of live allocator blocks (external/mmapped memory is not counted).
 * Over the memory limit an allocation first empties the cache, then fails
 * with MX_ERR_NOMEM. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

typedef struct {
  void *ptr;
  size_t cap;
} cached_block;

struct mx_allocator {
  const char *name;
  pthread_mutex_t mu;
  size_t active, peak, cache_bytes;
  size_t limit, cache_limit;
  cached_block *cache; /* sorted by cap */
  int ncache, capcache;
  void *(*raw_alloc)(size_t);
  void (*raw_free)(void *);
};

static void *host_raw_alloc(size_t n) { return aligned_alloc(64, n); }
static void host_raw_free(void *p) { free(p); }

static mx_allocator g_host = {.name = "malloc",
                              .mu = PTHREAD_MUTEX_INITIALIZER,
                              .raw_alloc = host_raw_alloc,
                              .raw_free = host_raw_free};
static mx_allocator g_dev = {.name = "cuda_malloc", .mu = PTHREAD_MUTEX_INITIALIZER};

mx_allocator *mx_allocator_host(void) { return &g_host; }
mx_allocator *mx_allocator_device(void) { return &g_dev; }

void mx_allocator_set_raw(mx_allocator *al, void *(*alloc_fn)(size_t),
                          void (*free_fn)(void *), size_t limit) {
  pthread_mutex_lock(&al->mu);
  al->raw_alloc = alloc_fn;
  al->raw_free = free_fn;
  if (limit) {
    al->limit = limit;
    al->cache_limit = limit;
  }
  pthread_mutex_unlock(&al->mu);
}

static size_t total_ram(void) {
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || psz <= 0) return (size_t)1 << 40;
  return (size_t)pages * (size_t)psz;
}

static void ensure_limits(mx_allocator *al) {
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

/* Free cached blocks (largest first) until cache_bytes <= target. Caller
 * holds the lock. */
static void trim_cache(mx_allocator *al, size_t target) {
  while (al->cache_bytes > target && al->ncache > 0) {
    cached_block b = al->cache[--al->ncache];
    al->cache_bytes -= b.cap;
    al->raw_free(b.ptr);
  }
}

/* Smallest cached block of at least cap bytes and at most twice that;
 * caller holds the lock. */
static void *take_cached(mx_allocator *al, size_t cap, size_t *got) {
  int lo = 0, hi = al->ncache;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (al->cache[mid].cap < cap)
      lo = mid + 1;
    else
      hi = mid;
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

void *mx_allocator_alloc(mx_allocator *al, size_t nbytes, size_t *cap_out) {
  size_t cap = round_cap(nbytes);
  pthread_mutex_lock(&al->mu);
  if (!al->raw_alloc) {
    pthread_mutex_unlock(&al->mu);
    mx_set_error(MX_ERR_UNSUPPORTED, "[%s] no such device allocator", al->name);
    return NULL;
  }
  ensure_limits(al);
  size_t got = cap;
  void *p = take_cached(al, cap, &got);
  if (!p) {
    if (al->active + cap > al->limit) trim_cache(al, 0);
    if (al->active + cap > al->limit) {
      size_t active = al->active, limit = al->limit;
      pthread_mutex_unlock(&al->mu);
      mx_set_error(MX_ERR_NOMEM,
                   "[%s] memory limit exceeded: requested %zu bytes with %zu "
                   "active, limit %zu (mx_set_memory_limit)",
                   al->name, nbytes, active, limit);
      return NULL;
    }
    p = al->raw_alloc(cap);
    if (!p && al->ncache) {
      trim_cache(al, 0);
      p = al->raw_alloc(cap);
    }
    if (!p) {
      pthread_mutex_unlock(&al->mu);
      mx_set_error(MX_ERR_NOMEM, "[%s] out of memory allocating %zu bytes", al->name,
                   nbytes);
      return NULL;
    }
  }
  al->active += got;
  if (al->active > al->peak) al->peak = al->active;
  pthread_mutex_unlock(&al->mu);
  *cap_out = got;
  return p;
}

void mx_allocator_free(mx_allocator *al, void *p, size_t cap) {
  pthread_mutex_lock(&al->mu);
  al->active -= cap;
  if (al->cache_bytes + cap <= al->cache_limit) {
    if (al->ncache == al->capcache) {
      int nc = al->capcache ? 2 * al->capcache : 64;
      cached_block *nb = realloc(al->cache, (size_t)nc * sizeof *nb);
      if (!nb) {
        al->raw_free(p);
        pthread_mutex_unlock(&al->mu);
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
  al->raw_free(p);
  pthread_mutex_unlock(&al->mu);
}

/* ---- buffers ---- */
mx_buffer *mx_buffer_alloc(size_t nbytes) {
  mx_buffer *b = calloc(1, sizeof *b);
  if (!b) {
    mx_set_error(MX_ERR_NOMEM, "[malloc] out of memory");
    return NULL;
  }
  size_t cap = 0;
  void *p = mx_allocator_alloc(&g_host, nbytes, &cap);
  if (!p) {
    free(b);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->host = p;
  b->nbytes = nbytes;
  b->capacity = cap;
  b->valid = MX_VALID_HOST;
  return b;
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
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  if (b->dev) mx_cuda_buffer_free(b);
  if (b->release) {
    b->release(b->release_ctx);
  } else if (b->host && b->capacity) {
    mx_allocator_free(&g_host, b->host, b->capacity);
  }
  free(b);
}

mx_status mx_buffer_ensure_host(mx_buffer *b) {
  if (b->valid & MX_VALID_HOST) return MX_OK;
  return mx_cuda_buffer_to_host(b);
}

/* ---- public API ---- */
static mx_allocator *for_device(mx_device d) {
  return d.type == MX_GPU ? &g_dev : &g_host;
}
static mx_allocator *for_default(void) { return for_device(mx_default_device()); }

static size_t read_field(mx_allocator *al, size_t *field) {
  pthread_mutex_lock(&al->mu);
  size_t v = *field;
  pthread_mutex_unlock(&al->mu);
  return v;
}

size_t mx_get_active_memory_device(mx_device d) {
  mx_allocator *al = for_device(d);
  return read_field(al, &al->active);
}
size_t mx_get_peak_memory_device(mx_device d) {
  mx_allocator *al = for_device(d);
  return read_field(al, &al->peak);
}
size_t mx_get_cache_memory_device(mx_device d) {
  mx_allocator *al = for_device(d);
  return read_field(al, &al->cache_bytes);
}
size_t mx_get_active_memory(void) {
  return mx_get_active_memory_device(mx_default_device());
}
size_t mx_get_peak_memory(void) { return mx_get_peak_memory_device(mx_default_device()); }
size_t mx_get_cache_memory(void) {
  return mx_get_cache_memory_device(mx_default_device());
}

void mx_reset_peak_memory(void) {
  mx_allocator *als[2] = {&g_host, &g_dev};
  for (int i = 0; i < 2; i++) {
    pthread_mutex_lock(&als[i]->mu);
    als[i]->peak = als[i]->active;
    pthread_mutex_unlock(&als[i]->mu);
  }
}

size_t mx_set_memory_limit(size_t limit) {
  mx_allocator *al = for_default();
  pthread_mutex_lock(&al->mu);
  ensure_limits(al);
  size_t old = al->limit;
  al->limit = limit ? limit : total_ram();
  pthread_mutex_unlock(&al->mu);
  return old;
}

size_t mx_get_memory_limit(void) {
  mx_allocator *al = for_default();
  pthread_mutex_lock(&al->mu);
  ensure_limits(al);
  size_t v = al->limit;
  pthread_mutex_unlock(&al->mu);
  return v;
}

size_t mx_set_cache_limit(size_t limit) {
  mx_allocator *al = for_default();
  pthread_mutex_lock(&al->mu);
  ensure_limits(al);
  size_t old = al->cache_limit;
  al->cache_limit = limit;
  trim_cache(al, limit);
  pthread_mutex_unlock(&al->mu);
  return old;
}

void mx_clear_cache(void) {
  mx_allocator *als[2] = {&g_host, &g_dev};
  for (int i = 0; i < 2; i++) {
    pthread_mutex_lock(&als[i]->mu);
    if (als[i]->raw_free) trim_cache(als[i], 0);
    pthread_mutex_unlock(&als[i]->mu);
  }
}
