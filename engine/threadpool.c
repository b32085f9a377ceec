/* Worker threads sleep on a condition variable between jobs (a session may
 * sit idle for minutes) but spin briefly first, because during decoding the
 * next job follows within microseconds.  Barriers spin and then yield: the
 * machine may have fewer free cores than threads, and a waiter that never
 * yields could starve the thread it waits for. */
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
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint job_gen;        /* bumped once per job; workers run when it changes */
    bool stop;                  /* under mu: workers exit */
    hk_pool_fn fn;              /* the current job (written before job_gen moves) */
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

static void *worker_main(void *argp)
{
    worker *w = argp;
    hk_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        for (int spins = 0; spins < SPIN_BEFORE_SLEEP && atomic_load(&p->job_gen) == seen; spins++)
            ;
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->job_gen) == seen && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = atomic_load(&p->job_gen);
        hk_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, w->ith, p->n);
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
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
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
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    atomic_fetch_add(&p->job_gen, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    hk_pool_barrier(p);
}
