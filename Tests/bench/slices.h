/* What the in-process storms (readstorm.c, hostcalls.c) share: a monotonic clock in seconds and
 * an ascending order of doubles for qsort (medians of per-slice ratios). */
#ifndef HILBERT_BENCH_SLICES_H
#define HILBERT_BENCH_SLICES_H
#include <time.h>

static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
#endif
