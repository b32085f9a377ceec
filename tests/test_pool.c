/* The thread pool (engine/threadpool.c): every job runs once on every
 * thread with its index, barriers inside a job hold every thread, and jobs
 * handed over to spinning workers, to sleeping ones and to both mixed all
 * run; pools are freed while their workers spin and while they sleep. */
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "threadpool.h"

enum { MAX_THREADS = 8, PHASES = 3 };

typedef struct job {
    atomic_int ran[MAX_THREADS];  /* times thread ith ran the job */
    atomic_int phase_count[PHASES];
    atomic_int bad_barrier;       /* a thread saw a phase incomplete after a barrier */
    atomic_int bad_nth;           /* nth was not the pool's size */
    int expect_nth;
} job;

static void job_fn(void *arg, int ith, int nth)
{
    job *j = arg;
    if (nth != j->expect_nth || ith < 0 || ith >= nth) {
        atomic_fetch_add(&j->bad_nth, 1);
        return;
    }
    atomic_fetch_add(&j->ran[ith], 1);
}

/* phases separated by barriers: after barrier k every thread must see all
 * nth arrivals of phase k */
typedef struct phased {
    job j;
    hk_pool *pool;
} phased;

static void phased_fn(void *arg, int ith, int nth)
{
    phased *p = arg;
    (void)ith;
    for (int k = 0; k < PHASES; k++) {
        atomic_fetch_add(&p->j.phase_count[k], 1);
        hk_pool_barrier(p->pool);
        if (atomic_load(&p->j.phase_count[k]) != nth)
            atomic_fetch_add(&p->j.bad_barrier, 1);
        hk_pool_barrier(p->pool);
    }
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void test_jobs(int n_threads)
{
    hk_pool *pool = hk_pool_new(n_threads);
    CHECK(pool != NULL && hk_pool_size(pool) == n_threads, "pool of %d", n_threads);
    if (!pool)
        return;
    /* back to back (workers spinning), then with pauses of 0.1-20 ms
     * (workers gone to sleep, SPIN_BEFORE_SLEEP), then mixed */
    const long pauses[] = {0, 0, 0, 100, 20000, 0, 3000, 0, 0, 50, 10000, 0};
    int wrong = 0;
    for (int round = 0; round < 400; round++) {
        const long pause = round < 200 ? 0 : pauses[round % (sizeof pauses / sizeof pauses[0])];
        if (pause)
            sleep_us(pause);
        job j;
        memset(&j, 0, sizeof j);
        j.expect_nth = n_threads;
        hk_pool_run(pool, job_fn, &j);
        /* hk_pool_run returns when every thread has finished */
        for (int t = 0; t < n_threads; t++)
            wrong += atomic_load(&j.ran[t]) != 1;
        wrong += atomic_load(&j.bad_nth) != 0;
    }
    CHECK(wrong == 0, "%d threads: %d jobs ran on a thread other than once", n_threads, wrong);

    int bad = 0;
    for (int round = 0; round < 100; round++) {
        if (round % 10 == 9)
            sleep_us(5000);
        phased p;
        memset(&p, 0, sizeof p);
        p.pool = pool;
        hk_pool_run(pool, phased_fn, &p);
        bad += atomic_load(&p.j.bad_barrier);
        for (int k = 0; k < PHASES; k++)
            bad += atomic_load(&p.j.phase_count[k]) != n_threads;
    }
    CHECK(bad == 0, "%d threads: %d barrier violations", n_threads, bad);
    hk_pool_free(pool);
}

static void test_free(void)
{
    /* freed at once (workers may not even have started), while spinning
     * right after a job, and asleep after a long pause: each must return */
    for (int i = 0; i < 20; i++)
        hk_pool_free(hk_pool_new(3));
    hk_pool *p = hk_pool_new(3);
    job j;
    memset(&j, 0, sizeof j);
    j.expect_nth = 3;
    hk_pool_run(p, job_fn, &j);
    hk_pool_free(p);
    p = hk_pool_new(3);
    hk_pool_run(p, job_fn, &j);
    sleep_us(50000);
    hk_pool_free(p);
    CHECK(atomic_load(&j.ran[0]) == 2 && atomic_load(&j.ran[1]) == 2 && atomic_load(&j.ran[2]) == 2,
          "jobs before free ran %d %d %d times", atomic_load(&j.ran[0]), atomic_load(&j.ran[1]),
          atomic_load(&j.ran[2]));
    hk_pool_free(NULL);
}

int main(void)
{
    const int sizes[] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        test_jobs(sizes[i]);
    test_free();
    return hk_check_done("pool");
}
