/* readstorm: what the shim's read wrappers cost per call, measured inside one process.
 *
 *   readstorm FILE [SLICES] [CALLS_PER_SLICE]
 *
 * Opens FILE, and then opens the file its descriptor really refers to (readlink of
 * /proc/self/fd/N) a second time by that host path. For a virtual file whose blocks are all in
 * the node's cache, the first descriptor is the shim's (reads are looked up in its descriptor
 * table) and the second is a plain host descriptor of the very same inode, so the two differ
 * only in what the wrappers do. Run it also on a host file and without the shim: the host
 * descriptor's rate against the same program without LD_PRELOAD is the cost on host files.
 *
 * A third way reads the host descriptor by the raw system call (syscall(SYS_pread64)), past libc
 * and any wrapper: the yardstick, in the same process, for what libc's pread plus the shim cost.
 * The three take turns in slices of CALLS_PER_SLICE 4 KiB preads at pseudo-random 4 KiB-aligned
 * offsets (the same offsets for all), the order rotating, so drift of the machine's speed lands on
 * all alike. Prints calls per second of each over all its slices, and each descriptor's rate
 * against the raw call's with the median and range of the per-slice ratio. Run it with and
 * without the shim: host/raw without it is what libc's pread costs by itself. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "slices.h"

/* raw: the pread system call itself, past libc and any wrapper */
static double slice(int fd, int raw, uint64_t seed, long calls, long blocks, char *buf) {
    double t0 = now();
    for (long i = 0; i < calls; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        off_t off = (off_t)((seed >> 33) % (uint64_t)blocks) * 4096;
        ssize_t r = raw ? syscall(SYS_pread64, fd, buf, (size_t)4096, off) : pread(fd, buf, 4096, off);
        if (r < 0) {
            perror("readstorm: pread");
            exit(1);
        }
    }
    return now() - t0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: readstorm FILE [SLICES] [CALLS_PER_SLICE]\n");
        return 2;
    }
    long slices = argc > 2 ? atol(argv[2]) : 40, calls = argc > 3 ? atol(argv[3]) : 25000;
    int fd[2];
    fd[0] = open(argv[1], O_RDONLY);
    if (fd[0] < 0) {
        perror(argv[1]);
        return 1;
    }
    char link[64], host[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd[0]);
    ssize_t n = readlink(link, host, sizeof host - 1);
    if (n < 0) {
        perror("readstorm: readlink");
        return 1;
    }
    host[n] = 0;
    fd[1] = open(host, O_RDONLY);
    if (fd[1] < 0) {
        perror(host);
        return 1;
    }
    struct stat st;
    if (fstat(fd[0], &st) < 0 || st.st_size < 4096) {
        fprintf(stderr, "readstorm: %s: need a file of at least 4 KiB\n", argv[1]);
        return 1;
    }
    long blocks = (long)(st.st_size / 4096);
    static char buf[4096];
    /* three ways per slice: 0 the opened descriptor, 1 the host descriptor, 2 the host
     * descriptor by the raw system call; the order rotates from slice to slice */
    double total[3] = {0, 0, 0}, *ratio[2] = {calloc((size_t)slices, sizeof(double)), calloc((size_t)slices, sizeof(double))};
    for (long s = 0; s < slices; s++) {
        uint64_t seed = (uint64_t)s * 2654435761ULL + 1;
        double t[3];
        for (int j = 0; j < 3; j++) {
            int w = (int)((s + j) % 3);
            t[w] = slice(fd[w == 0 ? 0 : 1], w == 2, seed, calls, blocks, buf);
        }
        for (int w = 0; w < 3; w++) total[w] += t[w];
        ratio[0][s] = t[2] / t[0]; /* rate of the opened descriptor over the raw call's */
        ratio[1][s] = t[2] / t[1]; /* rate of the host descriptor over the raw call's */
    }
    qsort(ratio[0], (size_t)slices, sizeof(double), cmp_double);
    qsort(ratio[1], (size_t)slices, sizeof(double), cmp_double);
    double calls_all = (double)(slices * calls);
    printf("opened path %s: %.0f preads/s\n", argv[1], calls_all / total[0]);
    printf("its host path %s: %.0f preads/s\n", host, calls_all / total[1]);
    printf("raw pread system call on the host path: %.0f syscalls/s\n", calls_all / total[2]);
    printf("opened/raw: %.4f (per slice: median %.4f, %.4f-%.4f)\n", total[2] / total[0], ratio[0][slices / 2],
           ratio[0][0], ratio[0][slices - 1]);
    printf("host/raw: %.4f (per slice: median %.4f, %.4f-%.4f)\n", total[2] / total[1], ratio[1][slices / 2],
           ratio[1][0], ratio[1][slices - 1]);
    printf("opened/host: %.4f (%ld slices of %ld calls each way)\n", total[1] / total[0], slices, calls);
    return 0;
}
