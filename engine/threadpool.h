/* One pool of worker threads per session, created once.  A job runs on every
 * thread at once (the caller is thread 0); inside it threads split the work by
 * their index and may meet at hk_pool_barrier between phases.  Running a job
 * allocates nothing and creates no thread. */
#ifndef HK_THREADPOOL_H
#define HK_THREADPOOL_H

typedef struct hk_pool hk_pool;

/* fn(arg, ith, nth) runs on each of nth threads, ith = 0 .. nth-1. */
typedef void (*hk_pool_fn)(void *arg, int ith, int nth);

/* NULL when out of memory or a thread cannot start. */
hk_pool *hk_pool_new(int n_threads);
void hk_pool_free(hk_pool *p);
int hk_pool_size(const hk_pool *p);

/* Runs fn on every thread of the pool and returns when all have finished. */
void hk_pool_run(hk_pool *p, hk_pool_fn fn, void *arg);
/* Inside a job: waits until every thread of the pool has reached it. */
void hk_pool_barrier(hk_pool *p);

/* The rows [*lo, *hi) of n that thread ith of nth takes. */
static inline void hk_split(long n, int ith, int nth, long *lo, long *hi)
{
    long per = (n + nth - 1) / nth;
    *lo = per * ith < n ? per * ith : n;
    *hi = *lo + per < n ? *lo + per : n;
}

#endif
