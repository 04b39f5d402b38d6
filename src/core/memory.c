/* memory.c: caching allocators (one for host memory, one for the GPU when the
 * CUDA backend registers its raw allocation functions) and MLX's memory API.
 *
 * Freed blocks go to bins of equal capacity (sorted by capacity) and are
 * reused for requests between half their size and their size, so a decode loop that frees
 * and reallocates the same sizes settles into a fixed set of blocks. Active memory counts
 * the bytes of live allocator blocks (external/mmapped memory is not counted). Over the
 * memory limit an allocation first empties the cache, then fails with MX_ERR_NOMEM. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/* Freed blocks of one capacity, most recently freed last (reused first:
 * its lines are the likeliest to still be in cache). */
typedef struct {
  size_t cap;
  void **ptrs;
  int n, capn;
} size_bin;

struct mx_allocator {
  const char *name;
  pthread_mutex_t mu;
  size_t active, peak, cache_bytes;
  size_t limit, cache_limit;
  size_bin *bins; /* sorted by cap; a bin stays when it empties */
  int nbins, capbins;
  int ncache; /* blocks in all bins */
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

/* first bin with cap >= c; caller holds the lock */
static int bin_lower(const mx_allocator *al, size_t c) {
  int lo = 0, hi = al->nbins;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (al->bins[mid].cap < c)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Free cached blocks (largest first) until cache_bytes <= target. Caller
 * holds the lock. */
static void trim_cache(mx_allocator *al, size_t target) {
  for (int i = al->nbins - 1; i >= 0 && al->cache_bytes > target; i--) {
    size_bin *b = &al->bins[i];
    while (b->n > 0 && al->cache_bytes > target) {
      al->raw_free(b->ptrs[--b->n]);
      al->cache_bytes -= b->cap;
      al->ncache--;
    }
  }
}

/* The most recently freed block of the smallest cached capacity in
 * [cap, 2 cap]; caller holds the lock. */
static void *take_cached(mx_allocator *al, size_t cap, size_t *got) {
  for (int i = bin_lower(al, cap); i < al->nbins && al->bins[i].cap <= 2 * cap; i++) {
    size_bin *b = &al->bins[i];
    if (b->n == 0) continue;
    al->ncache--;
    al->cache_bytes -= b->cap;
    *got = b->cap;
    return b->ptrs[--b->n];
  }
  return NULL;
}

/* Put p (cap bytes) in its bin; false when out of memory. Caller holds the
 * lock. */
static bool put_cached(mx_allocator *al, void *p, size_t cap) {
  int i = bin_lower(al, cap);
  if (i == al->nbins || al->bins[i].cap != cap) {
    if (al->nbins == al->capbins) {
      int nc = al->capbins ? 2 * al->capbins : 32;
      size_bin *nb = realloc(al->bins, (size_t)nc * sizeof *nb);
      if (!nb) return false;
      al->bins = nb;
      al->capbins = nc;
    }
    memmove(al->bins + i + 1, al->bins + i, (size_t)(al->nbins - i) * sizeof *al->bins);
    al->bins[i] = (size_bin){cap, NULL, 0, 0};
    al->nbins++;
  }
  size_bin *b = &al->bins[i];
  if (b->n == b->capn) {
    int nc = b->capn ? 2 * b->capn : 8;
    void **np = realloc(b->ptrs, (size_t)nc * sizeof *np);
    if (!np) return false;
    b->ptrs = np;
    b->capn = nc;
  }
  b->ptrs[b->n++] = p;
  al->ncache++;
  al->cache_bytes += cap;
  return true;
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
  if (al->cache_bytes + cap > al->cache_limit || !put_cached(al, p, cap)) al->raw_free(p);
  pthread_mutex_unlock(&al->mu);
}

/* ---- small blocks ----
 * Size classes of 64 bytes up to 512; each thread keeps up to SMALL_KEEP
 * freed blocks per class in a singly linked list. A block may be freed on
 * another thread than the one that allocated it (the async eval thread
 * frees nodes that the caller built): it just joins that thread's list. A
 * thread's lists are freed when it exits. Under AddressSanitizer the cache
 * is off, so use-after-free of arrays and nodes is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define SMALL_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMALL_CACHE 0
#endif
#endif
#ifndef SMALL_CACHE
#define SMALL_CACHE 1
#endif
#define SMALL_STEP 64
#define SMALL_CLASSES 8
#define SMALL_KEEP 2048

typedef struct small_block {
  struct small_block *next;
} small_block;

typedef struct {
  small_block *head[SMALL_CLASSES];
  int n[SMALL_CLASSES];
  void *scratch[MX_SCRATCH_COUNT];
  size_t scratch_cap[MX_SCRATCH_COUNT];
  bool registered; /* the exit destructor knows this thread's lists */
} small_cache;

static _Thread_local small_cache g_small;
static pthread_key_t g_small_key;
static pthread_once_t g_small_once = PTHREAD_ONCE_INIT;

static void small_drain(void *arg) {
  small_cache *c = arg;
  for (int k = 0; k < SMALL_CLASSES; k++) {
    while (c->head[k]) {
      small_block *b = c->head[k];
      c->head[k] = b->next;
      free(b);
    }
    c->n[k] = 0;
  }
  for (int i = 0; i < MX_SCRATCH_COUNT; i++) {
    free(c->scratch[i]);
    c->scratch[i] = NULL;
    c->scratch_cap[i] = 0;
  }
}

static void small_key_init(void) { pthread_key_create(&g_small_key, small_drain); }

static void small_register(small_cache *c) {
  if (c->registered) return;
  pthread_once(&g_small_once, small_key_init);
  pthread_setspecific(g_small_key, c);
  c->registered = true;
}

void *mx_thread_scratch(int slot, size_t n) {
  small_cache *c = &g_small;
  if (slot < 0 || slot >= MX_SCRATCH_COUNT) return NULL;
  if (c->scratch_cap[slot] >= n && c->scratch[slot]) return c->scratch[slot];
  size_t cap = (n + 4095) & ~(size_t)4095;
  void *p = aligned_alloc(64, cap ? cap : 4096);
  if (!p) return NULL;
  free(c->scratch[slot]);
  c->scratch[slot] = p;
  c->scratch_cap[slot] = cap;
  small_register(c);
  return p;
}

void *mx_small_alloc(size_t n) {
  size_t k = n ? (n - 1) / SMALL_STEP : 0;
  if (!SMALL_CACHE || k >= SMALL_CLASSES) return calloc(1, n ? n : 1);
  small_cache *c = &g_small;
  small_block *b = c->head[k];
  if (!b) { /* the whole class (reusable for any size in it), line-aligned */
    void *p = aligned_alloc(SMALL_STEP, (k + 1) * SMALL_STEP);
    if (p) memset(p, 0, n);
    return p;
  }
  c->head[k] = b->next;
  c->n[k]--;
  memset(b, 0, n);
  return b;
}

void mx_small_free(void *p, size_t n) {
  size_t k = n ? (n - 1) / SMALL_STEP : 0;
  small_cache *c = &g_small;
  if (!p) return;
  if (!SMALL_CACHE || k >= SMALL_CLASSES || c->n[k] >= SMALL_KEEP) {
    free(p);
    return;
  }
  small_register(c);
  small_block *b = p;
  b->next = c->head[k];
  c->head[k] = b;
  c->n[k]++;
}

/* ---- buffers ---- */
mx_buffer *mx_buffer_alloc(size_t nbytes) {
  mx_buffer *b = mx_small_alloc(sizeof *b);
  if (!b) {
    mx_set_error(MX_ERR_NOMEM, "[malloc] out of memory");
    return NULL;
  }
  size_t cap = 0;
  void *p = mx_allocator_alloc(&g_host, nbytes, &cap);
  if (!p) {
    mx_small_free(b, sizeof *b);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->small = true;
  b->host = p;
  b->nbytes = nbytes;
  b->capacity = cap;
  b->valid = MX_VALID_HOST;
  return b;
}

mx_buffer *mx_buffer_external(void *data, size_t nbytes, void (*release)(void *),
                              void *ctx) {
  mx_buffer *b = mx_small_alloc(sizeof *b);
  if (!b) {
    mx_set_error(MX_ERR_NOMEM, "[malloc] out of memory");
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->small = true;
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
  if (b->small)
    mx_small_free(b, sizeof *b);
  else
    free(b); /* a backend's calloc */
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
