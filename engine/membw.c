/* Memory read bandwidth, measured the way generation reads weights: every
 * thread streams its own contiguous slice of one big buffer, all threads at
 * once, with wide loads.  How fast a core streams depends on how its loads
 * are laid out, so each pass set is read in several ways (READ_WAYS) and the
 * best counts: the roofline is the most that reading can reach. */
#include "membw.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { MAX_THREADS = 256, DEFAULT_PASSES = 5 };

/* Vectors of the GCC/clang extension.  The width matters: with 32-byte
 * vectors on a baseline x86-64 build (two 16-byte loads each) this measured
 * 22.5 GB/s on the 2-core Sapphire Rapids VM where 64-byte AVX-512 loads
 * reach 28.6 GB/s, and llama.cpp's generation streamed its weights at 24.2
 * (Nov 2026): a roofline below what real code reaches.  So the widest loads
 * the CPU has. */
typedef uint64_t v4u64 __attribute__((vector_size(32)));
typedef uint64_t v8u64 __attribute__((vector_size(64)));

/* The ways of reading a slice, each timed on its own passes:
 *   - READ_WIDE: four independent accumulators, four vectors per step;
 *   - READ_LINES: one 64-byte line per step into one accumulator;
 *   - READ_PAIRS: blocks of 2 KiB read as two 1 KiB streams side by side,
 *     each line asked for PAIR_FAR bytes ahead into L2 and PAIR_NEAR into
 *     L1, as the one-token kernels read two weight rows (gemv_avx512.c);
 *     the last block's prefetches reach past the slice, which is harmless
 *     (a prefetch never faults) even in the caller's memory.
 * On the 2-core Sapphire Rapids VM, two threads, 2 GiB in huge pages, the
 * first read 30.4-31.6 GB/s, the second 33.9-36.0 and the third 33.9-38.5
 * in the same minutes; the wide loop alone, the probe until Nov 2026, put
 * the roofline about 15% below what the kernels themselves then streamed
 * (32-33 GB/s for Q8_0 rows).  Its many loads in flight out of order seem
 * to serve the hardware prefetcher worse than lines asked for in order. */
enum { READ_WIDE, READ_LINES, READ_PAIRS, READ_WAYS };
enum { PAIR_BLOCK = 2048, PAIR_FAR = 4096, PAIR_NEAR = 1024, LINE = 64 };

typedef struct shared {
    uint8_t *buf;
    size_t slice;              /* bytes per thread (multiple of 4096) */
    bool touch;                /* write the slice first (a buffer of our own) */
    int n_threads;
    int passes;                /* timed passes, after one warm-up */
    pthread_barrier_t start;   /* every pass starts with all threads together */
    pthread_barrier_t end;     /* and ends when the slowest is done */
    double best_s;             /* shortest pass, seconds (thread 0 writes it) */
    pthread_mutex_t gate_mu;   /* the gate: workers start once all exist */
    pthread_cond_t gate_cv;
    int gate;                  /* 0 wait, 1 go, -1 give up (a thread could not start) */
} shared;

typedef struct worker {
    shared *sh;
    int idx;
    pthread_t tid;
    uint64_t sink;             /* what the reads gave, kept so they cannot be optimized away */
    bool differs;              /* two ways of reading gave different values: a bug */
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The line-at-a-time loops are kept as written: at -O3 GCC unrolled
 * READ_PAIRS sixteen lines deep and moved a block's prefetches and loads
 * together, which read 29.6-31.2 GB/s where the loop as written (-O2, or
 * these two guards) reads 33.2-36.1, same machine, same minutes.  One guard
 * keeps the loop from being unrolled, the other keeps each line's loads and
 * prefetches on their own side of the next line's. */
#if defined(__GNUC__) || defined(__clang__)
#define HK_ONE_AT_A_TIME _Pragma("GCC unroll 1")
#define HK_IN_ORDER() __asm__ __volatile__("" ::: "memory")
#else
#define HK_ONE_AT_A_TIME
#define HK_IN_ORDER() ((void)0)
#endif

/* The n bytes (n a multiple of PAIR_BLOCK, p 64-byte aligned) folded into
 * a word, read in one of the READ_WAYS: vectors combined by exclusive or,
 * their words added.  The same value whichever way, which run_worker
 * checks.  VEC is 64 bytes or 32 (two per line). */
#define READ_SLICE(NAME, VEC, ATTR)                                                  \
    ATTR static uint64_t NAME(const uint8_t *p, size_t n, int way)                  \
    {                                                                                \
        const size_t per_line = LINE / sizeof(VEC);                                  \
        VEC a0 = {0}, a1 = a0, a2 = a0, a3 = a0;                                     \
        if (way == READ_WIDE) {                                                      \
            const VEC *v = (const VEC *)(const void *)p;                             \
            for (size_t i = 0; i < n / sizeof(VEC); i += 4) {                        \
                a0 ^= v[i];                                                          \
                a1 ^= v[i + 1];                                                      \
                a2 ^= v[i + 2];                                                      \
                a3 ^= v[i + 3];                                                      \
            }                                                                        \
        } else if (way == READ_LINES) {                                              \
            HK_ONE_AT_A_TIME for (size_t o = 0; o < n; o += LINE) {                  \
                const VEC *v = (const VEC *)(const void *)(p + o);                   \
                for (size_t k = 0; k < per_line; k++)                                \
                    a0 ^= v[k];                                                      \
                HK_IN_ORDER();                                                       \
            }                                                                        \
        } else {                                                                     \
            for (size_t b = 0; b < n; b += PAIR_BLOCK) {                             \
                const uint8_t *r0 = p + b, *r1 = r0 + PAIR_BLOCK / 2;               \
                HK_ONE_AT_A_TIME for (size_t o = 0; o < PAIR_BLOCK / 2; o += LINE) {     \
                    __builtin_prefetch(r0 + o + PAIR_FAR, 0, 2);                     \
                    __builtin_prefetch(r1 + o + PAIR_FAR, 0, 2);                     \
                    __builtin_prefetch(r0 + o + PAIR_NEAR, 0, 3);                    \
                    __builtin_prefetch(r1 + o + PAIR_NEAR, 0, 3);                    \
                    const VEC *v0 = (const VEC *)(const void *)(r0 + o);             \
                    const VEC *v1 = (const VEC *)(const void *)(r1 + o);             \
                    for (size_t k = 0; k < per_line; k++) {                          \
                        a0 ^= v0[k];                                                 \
                        a1 ^= v1[k];                                                 \
                    }                                                                \
                    HK_IN_ORDER();                                                   \
                }                                                                    \
            }                                                                        \
        }                                                                            \
        VEC s = a0 ^ a1 ^ a2 ^ a3;                                                   \
        uint64_t t = 0;                                                              \
        for (size_t k = 0; k < sizeof(VEC) / sizeof(uint64_t); k++)                 \
            t += s[k];                                                               \
        return t;                                                                    \
    }

READ_SLICE(read_slice_base, v4u64, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
READ_SLICE(read_slice_avx512, v8u64, __attribute__((target("avx512f"))))
READ_SLICE(read_slice_avx2, v4u64, __attribute__((target("avx2"))))
#endif

static uint64_t read_slice(const uint8_t *p, size_t n, int way)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f"))
        return read_slice_avx512(p, n, way);
    if (__builtin_cpu_supports("avx2"))
        return read_slice_avx2(p, n, way);
#endif
    return read_slice_base(p, n, way);
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    uint8_t *mine = sh->buf + (size_t)w->idx * sh->slice;
    /* no barrier may be entered before every thread exists: one that fails
     * to start would leave the others waiting there forever */
    pthread_mutex_lock(&sh->gate_mu);
    while (sh->gate == 0)
        pthread_cond_wait(&sh->gate_cv, &sh->gate_mu);
    int go = sh->gate > 0;
    pthread_mutex_unlock(&sh->gate_mu);
    if (!go)
        return NULL;
    /* First touch by the thread that will read the slice: on a NUMA machine
     * its pages land next to it, as a model's pages do for the thread that
     * keeps reading the same rows. */
    if (sh->touch)
        memset(mine, 0x5a + w->idx, sh->slice);
    /* pass 0 is the warm-up (TLB, frequency ramp), then passes per way */
    for (int pass = 0; pass <= sh->passes * READ_WAYS; pass++) {
        const int way = pass == 0 ? READ_WIDE : (pass - 1) / sh->passes;
        pthread_barrier_wait(&sh->start);
        double t0 = now_s();
        const uint64_t v = read_slice(mine, sh->slice, way);
        if (pass > 0)
            w->differs |= v != w->sink;
        w->sink = v;
        pthread_barrier_wait(&sh->end);
        double dt = now_s() - t0;
        if (w->idx == 0 && pass > 0 && dt < sh->best_s)
            sh->best_s = dt;
    }
    return NULL;
}

/* Four times the last-level cache and at least 1 GiB, so that no more than
 * a small part of any pass can come from the cache (virtual machines may
 * report the host's whole L3, hundreds of MiB); but at most a quarter of the
 * free memory, and never below 64 MiB. */
static size_t default_bytes(void)
{
    size_t want = (size_t)1 << 30;
#ifdef _SC_LEVEL3_CACHE_SIZE /* glibc */
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc > 0 && (size_t)llc * 4 > want)
        want = (size_t)llc * 4;
#endif
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0) {
        uint64_t avail = (uint64_t)pages * (uint64_t)psz;
        if (avail / 4 < want)
            want = (size_t)(avail / 4);
    }
    if (want < ((size_t)64 << 20))
        want = (size_t)64 << 20;
    return want;
}

static int clamp_threads(int n_threads)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    return n_threads > MAX_THREADS ? MAX_THREADS : n_threads;
}

/* n_threads threads each read their slice of buf (slice bytes, 4096-byte
 * aligned) passes times in each of the READ_WAYS after one warm-up, all
 * together; GB/s of the best pass, -1 when threads cannot be had (or the ways of reading disagree,
 * which is a bug).  touch: write the slices first. */
static double read_threads(uint8_t *buf, size_t slice, int n_threads, int passes, bool touch)
{
    if (passes < 1)
        passes = 1;
    const size_t total = slice * (size_t)n_threads;
    shared sh = {.buf = buf, .slice = slice, .touch = touch, .n_threads = n_threads, .passes = passes, .best_s = 1e30};
    worker *ws = calloc((size_t)n_threads, sizeof *ws);
    double gbs = -1;
    if (!ws)
        return -1;
    if (pthread_barrier_init(&sh.start, NULL, (unsigned)n_threads))
        goto free_ws;
    if (pthread_barrier_init(&sh.end, NULL, (unsigned)n_threads))
        goto destroy_start;
    pthread_mutex_init(&sh.gate_mu, NULL);
    pthread_cond_init(&sh.gate_cv, NULL);
    /* threads 1.. run beside the caller, which is thread 0 */
    int started = 1;
    for (int i = 0; i < n_threads; i++)
        ws[i] = (worker){.sh = &sh, .idx = i};
    for (; started < n_threads; started++)
        if (pthread_create(&ws[started].tid, NULL, run_worker, &ws[started]))
            break;
    pthread_mutex_lock(&sh.gate_mu);
    sh.gate = started == n_threads ? 1 : -1;
    pthread_cond_broadcast(&sh.gate_cv);
    pthread_mutex_unlock(&sh.gate_mu);
    if (started == n_threads) {
        run_worker(&ws[0]);
        gbs = (double)total / sh.best_s * 1e-9;
    }
    for (int i = 1; i < started; i++)
        pthread_join(ws[i].tid, NULL);
    volatile uint64_t keep = 0;
    for (int i = 0; i < n_threads; i++) {
        keep += ws[i].sink;
        if (ws[i].differs)
            gbs = -1;
    }
    (void)keep;
    pthread_cond_destroy(&sh.gate_cv);
    pthread_mutex_destroy(&sh.gate_mu);
    pthread_barrier_destroy(&sh.end);
destroy_start:
    pthread_barrier_destroy(&sh.start);
free_ws:
    free(ws);
    return gbs;
}

/* One measurement over a buffer in ordinary pages, or with the advice to
 * use transparent huge pages (huge); -1 when memory or threads cannot be
 * had. */
static double measure_pages(int n_threads, size_t bytes, int passes, bool huge)
{
    n_threads = clamp_threads(n_threads);
    size_t slice = bytes / (size_t)n_threads / 4096 * 4096;
    if (slice == 0)
        slice = 4096;
    const size_t total = slice * (size_t)n_threads;
    /* huge pages need a 2 MiB-aligned start: map 2 MiB more and skip to it */
    const size_t align = huge ? (size_t)2 << 20 : 0, mapped = total + align;
    uint8_t *raw = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return -1;
    uint8_t *buf = raw;
    if (huge) {
        buf = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
#ifdef MADV_HUGEPAGE
        if (madvise(buf, total, MADV_HUGEPAGE)) {
            munmap(raw, mapped);
            return -1; /* no transparent huge pages here */
        }
#else
        munmap(raw, mapped);
        return -1;
#endif
    }
#ifdef MADV_NOHUGEPAGE
    else
        (void)madvise(buf, total, MADV_NOHUGEPAGE); /* ordinary even where THP is "always" */
#endif
    const double gbs = read_threads(buf, slice, n_threads, passes, true);
    munmap(raw, mapped);
    return gbs;
}

double hk_measure_read_bandwidth_of(const void *p, size_t bytes, int n_threads, int passes)
{
    n_threads = clamp_threads(n_threads);
    /* whole 4 KiB pages inside [p, p + bytes), split evenly */
    const uintptr_t lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, hi = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
    if (hi <= lo)
        return -1;
    const size_t slice = (size_t)(hi - lo) / (size_t)n_threads / 4096 * 4096;
    if (slice == 0)
        return -1;
    return read_threads((uint8_t *)lo, slice, n_threads, passes, false);
}

/* Model weights are a file mapping, in 4 KiB pages or, where the kernel
 * keeps the file in 2 MiB folios, in huge pages (gguf.c map_file); the
 * roofline is meant to be the most that reading them could reach, so both
 * kinds are measured and the higher counts.  On the 2-core Sapphire Rapids
 * VM, two threads, READ_WIDE alone, ordinary pages read 28.6-28.8 GB/s and
 * huge ones 26.4-29.5 from one run to the next; with all the ways, one
 * run read 29.8 GB/s in ordinary pages and 31.8 in huge ones (READ_LINES
 * best in both); machines where huge pages save more TLB misses differ. */
double hk_measure_read_bandwidth_ex(int n_threads, size_t bytes, int passes)
{
    const double small = measure_pages(n_threads, bytes, passes, false);
    const double huge = measure_pages(n_threads, bytes, passes, true);
    return huge > small ? huge : small;
}

double hk_measure_read_bandwidth(int n_threads)
{
    return hk_measure_read_bandwidth_ex(n_threads, default_bytes(), DEFAULT_PASSES);
}
