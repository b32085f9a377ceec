/* The machine's memory read bandwidth: the roofline of token generation,
 * which must stream every weight once per token (see DESIGN.md,
 * "Performance principles"). */
#ifndef HK_MEMBW_H
#define HK_MEMBW_H

#include <stddef.h>

/* Reads a buffer far larger than the last-level cache with n_threads
 * threads (<= 0: one per online CPU), each streaming its own slice, and
 * returns the best of several timed passes after a warm-up (passes in each
 * of the ways of reading membw.c tries), in GB/s
 * (10^9 bytes per second).  The buffer is 1 GiB or four times the
 * last-level cache, whichever is larger, and less when the machine has
 * little free memory.  It is measured twice, in ordinary pages and in
 * transparent huge pages, as a model file's may be; the higher counts.
 * Returns a negative value when memory or threads cannot be had.  Allocates and frees its buffer: call it where that cannot
 * disturb what is being measured (hark bench runs it in a child process so
 * the buffer never counts in its own peak RSS). */
double hk_measure_read_bandwidth(int n_threads);

/* Same with the buffer size and number of timed passes chosen by the caller
 * (tests use a small buffer; the number is then a cache bandwidth). */
double hk_measure_read_bandwidth_ex(int n_threads, size_t bytes, int passes);

/* The same read of memory the caller has, such as a model's mapped
 * weights (only read, never written), n_threads threads each taking an
 * even share of its whole 4 KiB pages; -1 when it holds no such page per
 * thread or threads cannot be had.  How fast a machine reads depends on
 * where its memory is: in a virtual machine the page cache holding a file
 * may read slower than a fresh buffer (hark bench). */
double hk_measure_read_bandwidth_of(const void *p, size_t bytes, int n_threads, int passes);

#endif
