/* pool.c: the CPU worker pool. One job runs at a time; a thread that finds the
 * pool busy (another graph on another thread, or a nested call from inside a
 * job) runs its range inline, so there is no deadlock and no oversubscription.
 * Work is handed out in chunks through an atomic counter. Idle workers poll
 * briefly before sleeping, and the owner of a job waits only for the workers
 * that joined it, not for every worker to wake. */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv_work;
  pthread_mutex_t busy; /* held by the thread that owns the current job */
  int nthreads;         /* including the caller */
  int started;          /* worker threads alive */
  /* workers blocked on cv_work or about to be (changed under mu; read
   * without it by the owner after publishing a job, see wait_job) */
  atomic_int sleepers;
  /* current job: written by the owner before it publishes the generation;
   * a worker reads them only after joining (see state) */
  mx_range_fn fn;
  void *ctx;
  int64_t n, chunk;
  atomic_int max_join; /* workers that may join this job */
  atomic_int_fast64_t next;
  atomic_uint_fast64_t gen; /* last published job (0: none) */
  /* (generation mod 2^32) << 32 | CLOSED | number of joined workers. A worker
   * joins with a CAS that needs the generation it woke for and no CLOSED bit;
   * the owner sets CLOSED once it ran out of chunks and waits only for the
   * joined workers. Late workers see CLOSED or a newer generation and touch
   * nothing, so the owner never waits for a thread that has not woken up. */
  atomic_uint_fast64_t state;
} pool_t;

#define ST_CLOSED ((uint64_t)1 << 31)
#define ST_COUNT (ST_CLOSED - 1)

static pool_t g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
                        .cv_work = PTHREAD_COND_INITIALIZER,
                        .busy = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local int g_in_job = 0;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* how long an idle worker polls for the next job before it sleeps: decode
 * issues hundreds of short jobs per token, and a futex wake-up costs about
 * as much as one of them */
#define SPIN_SECONDS 200e-6

static void run_chunks(pool_t *p) {
  for (;;) {
    int64_t b = atomic_fetch_add(&p->next, p->chunk);
    if (b >= p->n) break;
    int64_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
    p->fn(p->ctx, b, e);
  }
}

static uint64_t wait_job(pool_t *p, uint64_t seen) {
  uint64_t g = atomic_load(&p->gen);
  if (g != seen) return g;
  double t0 = now_s();
  for (int i = 1;; i++) {
    cpu_relax();
    g = atomic_load(&p->gen);
    if (g != seen) return g;
    if ((i & 63) == 0) {
      if (now_s() - t0 > SPIN_SECONDS) break;
      /* let the process's other threads (the graph builder, the async
       * eval thread) have the core between polls: on 2 cores a pure spin
       * halved the decode speed of a small model */
      sched_yield();
    }
  }
  /* sleepers++ then reading gen, against the owner's storing gen then
   * reading sleepers (all sequentially consistent): either this thread sees
   * the new job or the owner sees a sleeper and broadcasts under mu */
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->sleepers, 1);
  while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->cv_work, &p->mu);
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->mu);
  return g;
}

static void *worker(void *arg) {
  pool_t *p = arg;
  uint64_t seen = 0;
  g_in_job = 1;
  for (;;) {
    uint64_t g = wait_job(p, seen);
    seen = g;
    uint64_t want = (uint64_t)(uint32_t)g << 32;
    uint64_t s = atomic_load(&p->state);
    bool joined = false;
    while ((s & ~ST_COUNT) == want) {
      /* fields are valid: the job is open, so its owner has not returned */
      if ((int)(s & ST_COUNT) >= atomic_load_explicit(&p->max_join, memory_order_relaxed))
        break;
      if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    run_chunks(p);
    atomic_fetch_sub(&p->state, 1);
  }
  return NULL;
}

static int env_threads(void) {
  const char *s = getenv("MX_NUM_THREADS");
  if (s && atoi(s) > 0) return atoi(s);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

static void start_workers(int total) {
  pool_t *p = &g_pool;
  while (p->started < total - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, worker, p);
    pthread_attr_destroy(&attr);
    if (rc != 0) break; /* run with fewer workers */
    p->started++;
  }
}

static void init_pool(void) {
  g_pool.nthreads = env_threads();
  pthread_mutex_lock(&g_pool.mu);
  start_workers(g_pool.nthreads);
  pthread_mutex_unlock(&g_pool.mu);
}

void mx_set_num_threads(int n) {
  pthread_once(&g_once, init_pool);
  if (n < 1) n = 1;
  pthread_mutex_lock(&g_pool.busy);
  pthread_mutex_lock(&g_pool.mu);
  start_workers(n);
  g_pool.nthreads = n;
  pthread_mutex_unlock(&g_pool.mu);
  pthread_mutex_unlock(&g_pool.busy);
}

int mx_num_threads(void) {
  pthread_once(&g_once, init_pool);
  return g_pool.nthreads;
}

void mx_parallel_for(int64_t n, int64_t grain, mx_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  pthread_once(&g_once, init_pool);
  pool_t *p = &g_pool;
  int workers = p->nthreads - 1 < p->started ? p->nthreads - 1 : p->started;
  if (n <= grain || workers <= 0 || g_in_job || pthread_mutex_trylock(&p->busy) != 0) {
    fn(ctx, 0, n);
    return;
  }
  int64_t parts = (n + grain - 1) / grain;
  int64_t maxparts = 4 * (int64_t)(workers + 1);
  if (parts > maxparts) parts = maxparts;
  if (parts <= 1) {
    pthread_mutex_unlock(&p->busy);
    fn(ctx, 0, n);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->chunk = (n + parts - 1) / parts;
  atomic_store_explicit(&p->max_join, workers, memory_order_relaxed);
  atomic_store(&p->next, 0);
  uint64_t g = atomic_load(&p->gen) + 1;
  atomic_store(&p->state, (uint64_t)(uint32_t)g << 32); /* open, nobody joined */
  atomic_store(&p->gen, g);
  if (atomic_load(&p->sleepers) > 0) { /* no lock while the workers poll */
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
  }
  g_in_job = 1;
  run_chunks(p);
  g_in_job = 0;
  /* no chunk left: close the job and wait for the workers still in it */
  atomic_fetch_or(&p->state, ST_CLOSED);
  for (int i = 1; (atomic_load(&p->state) & ST_COUNT) != 0; i++) {
    cpu_relax();
    if ((i & 1023) == 0) sched_yield();
  }
  pthread_mutex_unlock(&p->busy);
}
