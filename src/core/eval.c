/* eval.c: graph evaluation. Builds a topological tape of the nodes that the
 * requested arrays need (iterative DFS, so deep graphs do not overflow the
 * stack), runs each node's kernel for its stream's device, marks the outputs
 * evaluated and detaches them from the node, which drops the node's inputs as
 * soon as nothing else needs them.
 *
 * Async: mx_async_eval marks the arrays of its tape SCHEDULED before it
 * returns and hands the tape to a background thread; anyone who needs one of
 * those arrays waits for it to become EVALUATED (or to fall back to
 * UNEVALUATED on failure, in which case the waiter evaluates it itself and
 * sees the error). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

void mx_array_detach(mx_array *a);

static pthread_mutex_t g_wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wait_cv = PTHREAD_COND_INITIALIZER;

static void wait_scheduled(mx_array *a) {
  if (atomic_load(&a->status) != MX_ST_SCHEDULED) return;
  pthread_mutex_lock(&g_wait_mu);
  while (atomic_load(&a->status) == MX_ST_SCHEDULED)
    pthread_cond_wait(&g_wait_cv, &g_wait_mu);
  pthread_mutex_unlock(&g_wait_mu);
}

static void notify_all(void) {
  pthread_mutex_lock(&g_wait_mu);
  pthread_cond_broadcast(&g_wait_cv);
  pthread_mutex_unlock(&g_wait_mu);
}

/* ---- pointer set ---- */
typedef struct {
  void **slots;
  size_t cap, n;
} ptrset;

static bool ptrset_add(ptrset *s, void *p) { /* true if newly added */
  if ((s->n + 1) * 2 > s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    void **ns = calloc(nc, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < s->cap; i++)
      if (s->slots[i]) {
        size_t h = ((uintptr_t)s->slots[i] >> 4) * 0x9E3779B97F4A7C15ull;
        size_t j = h & (nc - 1);
        while (ns[j]) j = (j + 1) & (nc - 1);
        ns[j] = s->slots[i];
      }
    free(s->slots);
    s->slots = ns;
    s->cap = nc;
  }
  size_t h = ((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull;
  size_t j = h & (s->cap - 1);
  while (s->slots[j]) {
    if (s->slots[j] == p) return false;
    j = (j + 1) & (s->cap - 1);
  }
  s->slots[j] = p;
  s->n++;
  return true;
}

typedef struct {
  mx_node **nodes;
  int n, cap;
} tape;

static mx_status tape_push(tape *t, mx_node *n) {
  if (t->n == t->cap) {
    int nc = t->cap ? 2 * t->cap : 64;
    mx_node **nn = realloc(t->nodes, (size_t)nc * sizeof *nn);
    if (!nn) return mx_set_error(MX_ERR_NOMEM, "[eval] out of memory");
    t->nodes = nn;
    t->cap = nc;
  }
  t->nodes[t->n++] = n;
  return MX_OK;
}

typedef struct {
  mx_node *node;
  int next;
} frame;

/* Post-order DFS from the targets over unevaluated arrays. */
static mx_status build_tape(mx_array *const *arrays, int n, tape *t) {
  ptrset seen = {0};
  frame *st = NULL;
  int sn = 0, scap = 0;
  mx_status rc = MX_OK;
  for (int i = 0; i < n && rc == MX_OK; i++) {
    mx_array *a = arrays[i];
    if (!a) {
      rc = mx_last_status() ? mx_last_status()
                            : mx_set_error(MX_ERR_INVALID, "[eval] NULL array");
      break;
    }
    wait_scheduled(a);
    if (atomic_load(&a->status) == MX_ST_EVALUATED || !a->node) continue;
    if (!ptrset_add(&seen, a->node)) continue;
    if (sn == scap) {
      scap = scap ? 2 * scap : 64;
      frame *ns = realloc(st, (size_t)scap * sizeof *ns);
      if (!ns) {
        rc = mx_set_error(MX_ERR_NOMEM, "[eval] out of memory");
        break;
      }
      st = ns;
    }
    st[sn++] = (frame){a->node, 0};
    while (sn > 0 && rc == MX_OK) {
      frame *f = &st[sn - 1];
      if (f->next < f->node->nin) {
        mx_array *x = f->node->in[f->next++];
        wait_scheduled(x);
        if (atomic_load(&x->status) == MX_ST_EVALUATED || !x->node) continue;
        if (!ptrset_add(&seen, x->node)) continue;
        if (sn == scap) {
          scap *= 2;
          frame *ns = realloc(st, (size_t)scap * sizeof *ns);
          if (!ns) {
            rc = mx_set_error(MX_ERR_NOMEM, "[eval] out of memory");
            break;
          }
          st = ns;
        }
        st[sn++] = (frame){x->node, 0};
      } else {
        rc = tape_push(t, f->node);
        sn--;
      }
    }
  }
  free(st);
  free(seen.slots);
  return rc;
}

static mx_status run_node(mx_node *node) {
  const mx_prim *p = node->prim;
  mx_array **outs = node->out; /* live or dead outputs, all intact */
  mx_status rc = MX_OK;
  if (node->stream.device.type == MX_GPU) {
    if (!mx_cuda_compiled())
      return mx_set_error(MX_ERR_UNSUPPORTED,
                          "[%s] array is on the GPU stream but mx was built without CUDA",
                          p->name);
    if (!p->eval_cuda)
      return mx_set_error(MX_ERR_UNSUPPORTED, "[%s] no CUDA kernel for %s", p->name,
                          p->name);
    rc = p->eval_cuda(node, node->in, outs);
  } else {
    if (!p->eval_cpu)
      return mx_set_error(MX_ERR_UNSUPPORTED, "[%s] no CPU kernel for %s", p->name,
                          p->name);
#ifdef MX_WITH_CUDA
    /* without CUDA every buffer is on the host: no need to touch them (each
     * is a cache miss when decoding streams the weights) */
    for (int i = 0; i < node->nin && rc == MX_OK; i++)
      rc = mx_buffer_ensure_host(node->in[i]->buf);
#endif
    if (rc == MX_OK) rc = p->eval_cpu(node, node->in, outs);
  }
  if (rc != MX_OK && mx_last_status() == MX_OK)
    mx_set_error(rc, "[%s] kernel failed", p->name);
  return rc;
}

/* Mark a run node's live outputs evaluated and detach them (which may free
 * the node). */
static mx_status finish_node(mx_node *node) {
  int nout = node->nout;
  mx_array *outs_local[8], **outs = outs_local;
  if (nout > 8) outs = malloc((size_t)nout * sizeof *outs);
  if (!outs) return mx_set_error(MX_ERR_NOMEM, "[eval] out of memory");
  for (int o = 0; o < nout; o++) outs[o] = node->out[o];
  /* dead outputs (refs == 0) stay with the node until it is freed */
  for (int o = 0; o < nout; o++) {
    if (atomic_load(&outs[o]->refs) == 0)
      outs[o] = NULL;
    else
      atomic_store(&outs[o]->status, MX_ST_EVALUATED);
  }
  for (int o = 0; o < nout; o++)
    if (outs[o]) mx_array_detach(outs[o]);
  if (outs != outs_local) free(outs);
  return MX_OK;
}

/* Tape positions after a groupable node that are searched for partners,
 * and the largest group (a layer's q/k/v products are within a few nodes
 * of each other, as are gate and up). */
#define GROUP_WINDOW 16
#define GROUP_MAX 4

static bool node_ready(const mx_node *m) {
  for (int k = 0; k < m->nin; k++) {
    const mx_array *x = m->in[k];
    if (x->node && atomic_load(&x->status) != MX_ST_EVALUATED) return false;
  }
  return true;
}

/* Nodes at positions after i that can run with nodes[i] as one group; they
 * are removed from the tape (set to NULL). Returns the group size. */
static int find_group(tape *t, int i, mx_node **g) {
  mx_node *first = t->nodes[i];
  const mx_prim *p = first->prim;
  g[0] = first;
  if (!p->eval_cpu_group || first->stream.device.type != MX_CPU) return 1;
  int ng = 1, pos[GROUP_MAX];
  for (int j = i + 1; j < t->n && j <= i + GROUP_WINDOW && ng < GROUP_MAX; j++) {
    mx_node *m = t->nodes[j];
    if (!m || m->prim != p || m->stream.device.type != MX_CPU) continue;
    if (!p->cpu_group_ok(first, m) || !node_ready(m)) continue;
    pos[ng] = j;
    g[ng++] = m;
  }
  for (int k = 1; k < ng; k++) t->nodes[pos[k]] = NULL;
  return ng;
}

static mx_status run_tape(tape *t) {
  for (int i = 0; i < t->n; i++) {
    mx_node *g[GROUP_MAX];
    if (!t->nodes[i]) continue; /* ran with an earlier node's group */
    int ng = find_group(t, i, g);
    mx_status rc = MX_OK;
    if (ng > 1) {
#ifdef MX_WITH_CUDA
      for (int k = 0; k < ng && rc == MX_OK; k++)
        for (int j = 0; j < g[k]->nin && rc == MX_OK; j++)
          rc = mx_buffer_ensure_host(g[k]->in[j]->buf);
#endif
      if (rc == MX_OK) rc = g[0]->prim->eval_cpu_group(g, ng);
      if (rc != MX_OK && mx_last_status() == MX_OK)
        mx_set_error(rc, "[%s] kernel failed", g[0]->prim->name);
    } else {
      rc = run_node(g[0]);
    }
    for (int k = 0; k < ng && rc == MX_OK; k++) rc = finish_node(g[k]);
    if (rc != MX_OK) return rc;
  }
  return MX_OK;
}

static bool any_gpu(tape *t) {
  for (int i = 0; i < t->n; i++)
    if (t->nodes[i]->stream.device.type == MX_GPU) return true;
  return false;
}

mx_status mx_eval(mx_array *const *arrays, int n) {
  if (n < 0 || (n > 0 && !arrays))
    return mx_set_error(MX_ERR_INVALID, "[eval] bad array list");
  tape t = {0};
  mx_status rc = build_tape(arrays, n, &t);
  bool gpu = rc == MX_OK && any_gpu(&t); /* nodes are freed as they run */
  if (rc == MX_OK) rc = run_tape(&t);
  if (rc == MX_OK && gpu) rc = mx_cuda_synchronize();
  free(t.nodes);
  return rc;
}

mx_status mx_eval1(mx_array *a) { return mx_eval(&a, 1); }

/* ---- async ---- */
typedef struct task {
  tape t;
  mx_array **hold; /* every output on the tape, retained */
  int nhold;
  struct task *next;
} task;

static pthread_mutex_t g_q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_q_cv = PTHREAD_COND_INITIALIZER;
static task *g_q_head, *g_q_tail;
static bool g_worker_started;
static int g_inflight; /* queued or running tasks, under g_q_mu */
static pthread_cond_t g_idle_cv = PTHREAD_COND_INITIALIZER;

/* Wait until every async task has finished and dropped its references. */
void mx_async_wait_idle(void);
void mx_async_wait_idle(void) {
  pthread_mutex_lock(&g_q_mu);
  while (g_inflight > 0) pthread_cond_wait(&g_idle_cv, &g_q_mu);
  pthread_mutex_unlock(&g_q_mu);
}

static void *async_worker(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&g_q_mu);
    while (!g_q_head) pthread_cond_wait(&g_q_cv, &g_q_mu);
    task *tk = g_q_head;
    g_q_head = tk->next;
    if (!g_q_head) g_q_tail = NULL;
    pthread_mutex_unlock(&g_q_mu);
    bool gpu = any_gpu(&tk->t);
    mx_status rc = run_tape(&tk->t);
    if (rc == MX_OK && gpu) rc = mx_cuda_synchronize();
    if (rc != MX_OK) {
      /* put what did not finish back, so a waiter evaluates it itself and
       * gets the error in its own thread */
      for (int i = 0; i < tk->nhold; i++) {
        int expect = MX_ST_SCHEDULED;
        atomic_compare_exchange_strong(&tk->hold[i]->status, &expect, MX_ST_UNEVALUATED);
      }
      mx_clear_error();
    }
    for (int i = 0; i < tk->nhold; i++) mx_array_release(tk->hold[i]);
    free(tk->hold);
    free(tk->t.nodes);
    free(tk);
    notify_all();
    pthread_mutex_lock(&g_q_mu);
    if (--g_inflight == 0) pthread_cond_broadcast(&g_idle_cv);
    pthread_mutex_unlock(&g_q_mu);
  }
  return NULL;
}

mx_status mx_async_eval(mx_array *const *arrays, int n) {
  if (n < 0 || (n > 0 && !arrays))
    return mx_set_error(MX_ERR_INVALID, "[async_eval] bad array list");
  task *tk = calloc(1, sizeof *tk);
  if (!tk) return mx_set_error(MX_ERR_NOMEM, "[async_eval] out of memory");
  mx_status rc = build_tape(arrays, n, &tk->t);
  if (rc != MX_OK || tk->t.n == 0) {
    free(tk->t.nodes);
    free(tk);
    return rc;
  }
  int total = 0;
  for (int i = 0; i < tk->t.n; i++) total += tk->t.nodes[i]->nout;
  tk->hold = malloc((size_t)total * sizeof *tk->hold);
  if (!tk->hold) {
    free(tk->t.nodes);
    free(tk);
    return mx_set_error(MX_ERR_NOMEM, "[async_eval] out of memory");
  }
  for (int i = 0; i < tk->t.n; i++) {
    mx_node *nd = tk->t.nodes[i];
    for (int o = 0; o < nd->nout; o++) {
      mx_array *x = nd->out[o];
      if (!x || atomic_load(&x->refs) == 0) continue;
      mx_array_retain(x);
      atomic_store(&x->status, MX_ST_SCHEDULED);
      tk->hold[tk->nhold++] = x;
    }
  }
  pthread_mutex_lock(&g_q_mu);
  if (!g_worker_started) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int prc = pthread_create(&th, &attr, async_worker, NULL);
    pthread_attr_destroy(&attr);
    if (prc != 0) {
      pthread_mutex_unlock(&g_q_mu);
      /* run synchronously instead */
      for (int i = 0; i < tk->nhold; i++)
        atomic_store(&tk->hold[i]->status, MX_ST_UNEVALUATED);
      rc = run_tape(&tk->t);
      for (int i = 0; i < tk->nhold; i++) mx_array_release(tk->hold[i]);
      free(tk->hold);
      free(tk->t.nodes);
      free(tk);
      return rc;
    }
    g_worker_started = true;
  }
  if (g_q_tail)
    g_q_tail->next = tk;
  else
    g_q_head = tk;
  g_q_tail = tk;
  g_inflight++;
  pthread_cond_signal(&g_q_cv);
  pthread_mutex_unlock(&g_q_mu);
  return MX_OK;
}
