/* pool.c: the CPU worker pool. One job runs at a time; a thread that finds the
 * pool busy (another graph on another thread, or a nested call from inside a
 * job) runs its range inline, so there is no deadlock and no oversubscription.
 * Work is handed out in chunks through an atomic counter. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core.h"

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  pthread_mutex_t busy; /* held by the thread that owns the current job */
  int nthreads;         /* including the caller */
  int started;          /* worker threads alive */
  uint64_t generation;
  /* current job */
  mx_range_fn fn;
  void *ctx;
  int64_t n, chunk;
  atomic_int_fast64_t next;
  int pending; /* workers still in this generation */
} pool_t;

static pool_t g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
                        .cv_work = PTHREAD_COND_INITIALIZER,
                        .cv_done = PTHREAD_COND_INITIALIZER,
                        .busy = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local int g_in_job = 0;

static void run_chunks(pool_t *p) {
  for (;;) {
    int64_t b = atomic_fetch_add(&p->next, p->chunk);
    if (b >= p->n) break;
    int64_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
    p->fn(p->ctx, b, e);
  }
}

static void *worker(void *arg) {
  pool_t *p = arg;
  uint64_t seen = 0;
  g_in_job = 1;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->generation == seen) pthread_cond_wait(&p->cv_work, &p->mu);
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_chunks(p);
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0) pthread_cond_signal(&p->cv_done);
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
  if (n <= grain || workers <= 0 || g_in_job ||
      pthread_mutex_trylock(&p->busy) != 0) {
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
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->chunk = (n + parts - 1) / parts;
  atomic_store(&p->next, 0);
  p->pending = p->started;
  p->generation++;
  pthread_cond_broadcast(&p->cv_work);
  pthread_mutex_unlock(&p->mu);
  g_in_job = 1;
  run_chunks(p);
  g_in_job = 0;
  pthread_mutex_lock(&p->mu);
  while (p->pending > 0) pthread_cond_wait(&p->cv_done, &p->mu);
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_unlock(&p->busy);
}
