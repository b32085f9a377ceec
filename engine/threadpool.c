/* Worker threads sleep on a condition variable between jobs (a session may
 * sit idle for minutes) but spin briefly first, because during decoding the
 * next job follows within microseconds.  A job is handed over without the
 * mutex: the caller publishes fn and arg and bumps job_gen, which spinning
 * workers watch, and takes the mutex only when a worker has gone to sleep.
 * Handing every job over under the mutex cost a futex wake-up when a
 * spinning worker met the caller inside it: in qwen2.5-0.5b generation a
 * matmul started on thread 0 0.3-1.2 us after the call and on the worker
 * 0.7-2.6 us after, about 145 jobs a token; handed over this way, 0.3-0.9
 * and 0.3-1.5 us (tokens/s did not move beyond the noise of the 2-core
 * VM, +-2%).  Barriers spin and then yield:
 * the machine may have fewer free cores than threads, and a waiter that
 * never yields could starve the thread it waits for. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

enum { SPIN_BEFORE_SLEEP = 20000, SPIN_BEFORE_YIELD = 200 };

typedef struct worker {
    hk_pool *pool;
    pthread_t thread;
    int ith;
} worker;

struct hk_pool {
    int n;                      /* threads, the caller included */
    worker *workers;            /* n - 1 of them */
    int n_started;              /* workers whose thread is running (for cleanup) */
    pthread_mutex_t mu;         /* for sleeping and waking only */
    pthread_cond_t cv;
    atomic_uint job_gen;        /* bumped once per job (and to stop); workers run when it changes */
    atomic_int n_sleeping;      /* workers waiting on cv, or about to */
    atomic_bool stop;           /* workers exit */
    hk_pool_fn fn;              /* the current job, written before job_gen moves */
    void *arg;
    atomic_int bar_count;       /* threads arrived at the current barrier */
    atomic_uint bar_gen;        /* bumped when a barrier opens */
};

void hk_pool_barrier(hk_pool *p)
{
    if (p->n == 1)
        return;
    unsigned gen = atomic_load(&p->bar_gen);
    if (atomic_fetch_add(&p->bar_count, 1) == p->n - 1) {
        atomic_store(&p->bar_count, 0);
        atomic_fetch_add(&p->bar_gen, 1);
        return;
    }
    for (int spins = 0; atomic_load(&p->bar_gen) == gen; spins++)
        if (spins > SPIN_BEFORE_YIELD)
            sched_yield();
}

/* Waits for the job after seen: spins, then sleeps.  Sleeping is Dekker's
 * handshake with hk_pool_run/wake, all atomics sequentially consistent: the
 * worker counts itself in n_sleeping before it looks at job_gen a last
 * time, and the caller bumps job_gen before it looks at n_sleeping, so one
 * of them sees the other (the caller then broadcasts under the mutex, which
 * the worker holds from its last look until it waits). */
static unsigned wait_job(hk_pool *p, unsigned seen)
{
    for (int spins = 0; spins < SPIN_BEFORE_SLEEP; spins++)
        if (atomic_load_explicit(&p->job_gen, memory_order_acquire) != seen)
            return atomic_load_explicit(&p->job_gen, memory_order_acquire);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->n_sleeping, 1);
    while (atomic_load(&p->job_gen) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->mu);
    return atomic_load(&p->job_gen);
}

/* Publishes a new job_gen (fn and arg, or stop, written before) and wakes
 * the workers that sleep. */
static void wake(hk_pool *p)
{
    atomic_fetch_add(&p->job_gen, 1);
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker_main(void *argp)
{
    worker *w = argp;
    hk_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load(&p->stop))
            return NULL;
        p->fn(p->arg, w->ith, p->n);
        hk_pool_barrier(p);
    }
}

hk_pool *hk_pool_new(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    hk_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n_threads;
    atomic_init(&p->job_gen, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->bar_count, 0);
    atomic_init(&p->bar_gen, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            hk_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            p->workers[i].pool = p;
            p->workers[i].ith = i + 1;
            if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
                hk_pool_free(p);
                return NULL;
            }
            p->n_started++;
        }
    }
    return p;
}

void hk_pool_free(hk_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    wake(p);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int hk_pool_size(const hk_pool *p) { return p->n; }

void hk_pool_run(hk_pool *p, hk_pool_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    /* the workers are between jobs (the last one ended at a barrier), so
     * none reads fn or arg now */
    p->fn = fn;
    p->arg = arg;
    wake(p);
    fn(arg, 0, p->n);
    hk_pool_barrier(p);
}
