/* hostcalls: what each family of path calls costs through libc (and, under LD_PRELOAD, the shim)
 * against the same system calls made raw, in one process.
 *
 *   hostcalls DIR [SLICES] [CALLS_PER_SLICE] [FAMILY…]
 *
 * Per family, slices of CALLS_PER_SLICE calls through libc and slices of the same calls by
 * syscall() take turns, which goes first alternating, so the machine's drift lands on both
 * alike. Every family leaves DIR as it found it (pairs such as creat+unlink, rename there and
 * back). Only the FAMILY names given, when any. Prints tab-separated "family ratio median min max raw-rate": the rate through libc over
 * the raw rate, over all slices; the median and range of the per-slice ratio; raw calls per
 * second. Without the shim the ratio is libc's
 * own overhead; under it, libc's and the shim's: the quotient of the two runs' ratios is what the
 * shim costs on host paths, free of the drift between processes (Tests/bench/hoststorm.py). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "slices.h"

static char f_path[4096], g_path[4096], h_path[4096], d_path[4096], e_path[4096], link_path[4096];
static char buf[4096];

static void check(long r, const char *what, const char *path) {
    if (r < 0) {
        fprintf(stderr, "hostcalls: %s %s: %s\n", what, path, strerror(errno));
        exit(1);
    }
}

/* Each family: one step through libc, one step raw. The raw step makes the system call that
 * glibc itself makes on this architecture (chmod, not fchmodat, on x86-64), so that a wrapper
 * reaching the kernel by another entry (the shim calls the *at forms) is measured with that
 * difference included. i alternates modes where a family needs. */
static void open_libc(long i) {
    (void)i;
    int fd = open(f_path, O_RDONLY);
    check(fd, "open", f_path);
    close(fd);
}
static void open_raw(long i) {
    (void)i;
    long fd = syscall(SYS_openat, AT_FDCWD, f_path, O_RDONLY);
    check(fd, "openat", f_path);
    syscall(SYS_close, fd);
}
static void creat_libc(long i) {
    (void)i;
    int fd = open(g_path, O_CREAT | O_EXCL | O_WRONLY, 0644);
    check(fd, "open(O_CREAT)", g_path);
    close(fd);
    check(unlink(g_path), "unlink", g_path);
}
static void creat_raw(long i) {
    (void)i;
    long fd = syscall(SYS_openat, AT_FDCWD, g_path, O_CREAT | O_EXCL | O_WRONLY, 0644);
    check(fd, "openat(O_CREAT)", g_path);
    syscall(SYS_close, fd);
#ifdef SYS_unlink
    check(syscall(SYS_unlink, g_path), "unlink", g_path);
#else
    check(syscall(SYS_unlinkat, AT_FDCWD, g_path, 0), "unlinkat", g_path);
#endif
}
static void mkdir_libc(long i) {
    (void)i;
    check(mkdir(d_path, 0755), "mkdir", d_path);
    check(rmdir(d_path), "rmdir", d_path);
}
static void mkdir_raw(long i) {
    (void)i;
#ifdef SYS_mkdir
    check(syscall(SYS_mkdir, d_path, 0755), "mkdir", d_path);
    check(syscall(SYS_rmdir, d_path), "rmdir", d_path);
#else
    check(syscall(SYS_mkdirat, AT_FDCWD, d_path, 0755), "mkdirat", d_path);
    check(syscall(SYS_unlinkat, AT_FDCWD, d_path, AT_REMOVEDIR), "unlinkat(AT_REMOVEDIR)", d_path);
#endif
}
static void rename_libc(long i) {
    (void)i;
    check(rename(f_path, h_path), "rename", f_path);
    check(rename(h_path, f_path), "rename", h_path);
}
static void rename_raw(long i) {
    (void)i;
#ifdef SYS_rename
    check(syscall(SYS_rename, f_path, h_path), "rename", f_path);
    check(syscall(SYS_rename, h_path, f_path), "rename", h_path);
#else
    check(syscall(SYS_renameat2, AT_FDCWD, f_path, AT_FDCWD, h_path, 0), "renameat2", f_path);
    check(syscall(SYS_renameat2, AT_FDCWD, h_path, AT_FDCWD, f_path, 0), "renameat2", h_path);
#endif
}
static void chmod_libc(long i) { check(chmod(f_path, (i & 1) ? 0600 : 0644), "chmod", f_path); }
static void chmod_raw(long i) {
#ifdef SYS_chmod
    check(syscall(SYS_chmod, f_path, (i & 1) ? 0600 : 0644), "chmod", f_path);
#else
    check(syscall(SYS_fchmodat, AT_FDCWD, f_path, (i & 1) ? 0600 : 0644), "fchmodat", f_path);
#endif
}
static void utime_libc(long i) {
    (void)i;
    check(utimensat(AT_FDCWD, f_path, NULL, 0), "utimensat", f_path);
}
static void utime_raw(long i) {
    (void)i;
    check(syscall(SYS_utimensat, AT_FDCWD, f_path, NULL, 0), "utimensat", f_path);
}
static void readlink_libc(long i) {
    (void)i;
    check(readlink(link_path, buf, sizeof buf), "readlink", link_path);
}
static void readlink_raw(long i) {
    (void)i;
#ifdef SYS_readlink
    check(syscall(SYS_readlink, link_path, buf, sizeof buf), "readlink", link_path);
#else
    check(syscall(SYS_readlinkat, AT_FDCWD, link_path, buf, sizeof buf), "readlinkat", link_path);
#endif
}
static void stat_libc(long i) {
    (void)i;
    struct stat st;
    check(stat(f_path, &st), "stat", f_path);
}
static void stat_raw(long i) {
    (void)i;
    struct stat st;
    check(syscall(SYS_newfstatat, AT_FDCWD, f_path, &st, 0), "newfstatat", f_path);
}
static void opendir_libc(long i) {
    (void)i;
    DIR *h = opendir(e_path);
    if (!h) check(-1, "opendir", e_path);
    closedir(h);
}
static void opendir_raw(long i) {
    (void)i;
    long fd = syscall(SYS_openat, AT_FDCWD, e_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(fd, "openat(O_DIRECTORY)", e_path);
    syscall(SYS_close, fd);
}

static const struct {
    const char *name;
    void (*libc)(long), (*raw)(long);
} families[] = {
    {"open+close", open_libc, open_raw},
    {"open(O_CREAT|O_EXCL)+close+unlink", creat_libc, creat_raw},
    {"mkdir+rmdir", mkdir_libc, mkdir_raw},
    {"rename there and back", rename_libc, rename_raw},
    {"chmod", chmod_libc, chmod_raw},
    {"utimensat", utime_libc, utime_raw},
    {"readlink", readlink_libc, readlink_raw},
    {"stat", stat_libc, stat_raw},
    {"opendir+closedir", opendir_libc, opendir_raw},
};

static double slice(void (*step)(long), long calls) {
    double t0 = now();
    for (long i = 0; i < calls; i++) step(i);
    return now() - t0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: hostcalls DIR [SLICES] [CALLS_PER_SLICE] [FAMILY…]\n");
        return 2;
    }
    const char *dir = argv[1];
    long slices = argc > 2 ? atol(argv[2]) : 20, calls = argc > 3 ? atol(argv[3]) : 5000;
    if (slices < 1 || calls < 1) {
        fprintf(stderr, "hostcalls: SLICES and CALLS_PER_SLICE must be positive\n");
        return 2;
    }
    snprintf(f_path, sizeof f_path, "%s/f", dir);
    snprintf(g_path, sizeof g_path, "%s/g", dir);
    snprintf(h_path, sizeof h_path, "%s/h", dir);
    snprintf(d_path, sizeof d_path, "%s/d", dir);
    snprintf(e_path, sizeof e_path, "%s/e", dir);
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    int fd = open(f_path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    check(fd, "open", f_path);
    close(fd);
    check(mkdir(e_path, 0755), "mkdir", e_path);
    check(symlink("f", link_path), "symlink", link_path);
    double *ratio = calloc((size_t)slices, sizeof *ratio);
    for (size_t k = 0; k < sizeof families / sizeof families[0]; k++) {
        int wanted = argc <= 4;
        for (int a = 4; a < argc; a++) wanted |= !strcmp(argv[a], families[k].name);
        if (!wanted) continue;
        double libc = 0, raw = 0;
        for (long s = 0; s < slices; s++) {
            double a, b;
            if (s & 1) {
                b = slice(families[k].raw, calls);
                a = slice(families[k].libc, calls);
            } else {
                a = slice(families[k].libc, calls);
                b = slice(families[k].raw, calls);
            }
            libc += a;
            raw += b;
            ratio[s] = b / a;
        }
        qsort(ratio, (size_t)slices, sizeof *ratio, cmp_double);
        printf("%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.0f\n", families[k].name, raw / libc, ratio[slices / 2], ratio[0],
               ratio[slices - 1], (double)(slices * calls) / raw);
        fflush(stdout);
    }
    unlink(link_path);
    unlink(f_path);
    rmdir(e_path);
    return 0;
}
