/* probe.h — shared helpers of the conformance probe (Tests/integration/c/probe_*.c).
 *
 * Every case prints one line "NAME = RESULT": the return value, or "-1 ERRNONAME". The test
 * runs the probe on a native directory and under /hilbert and compares the two outputs, so
 * a line must never contain anything that legitimately differs between the two (paths,
 * inode numbers, device numbers, absolute times). */
#ifndef PROBE_H
#define PROBE_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const char *probe_dir; /* absolute, the directory the probe works in */

/* Report a call: evaluates EXPR once, prints its value or -1 and the errno name. */
#define R(name, expr)                                                                \
    ({                                                                               \
        errno = 0;                                                                   \
        long _r = (long)(expr);                                                      \
        probe_report(name, _r, errno);                                               \
        _r;                                                                          \
    })
/* The same for calls returning a new descriptor: prints "fd" instead of its number. */
#define RFD(name, expr)                                                              \
    ({                                                                               \
        errno = 0;                                                                   \
        long _r = (long)(expr);                                                      \
        if (_r >= 0) probe_line(name, "fd");                                         \
        else probe_report(name, _r, errno);                                          \
        (int)_r;                                                                     \
    })
void probe_report(const char *name, long rc, int err);
void probe_line(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* DIR/rel into a static buffer (one of four rotating ones). */
const char *P(const char *rel);
int probe_write_file(const char *path, const char *content);
/* The content of a path, or "<errno>" (first 63 bytes). */
const char *probe_read_file(const char *path);
const char *probe_read_fd(int fd);
void probe_close(int fd);

void probe_names(void);   /* name and path lengths, symlink loops and chains */
void probe_flags(void);   /* open flags */
void probe_ns(void);      /* namespace errors: rmdir, rename, renameat2, unlink, link, mkdir */
void probe_times(void);   /* utimensat */
void probe_sparse(void);  /* SEEK_DATA/SEEK_HOLE, fallocate */
void probe_opath(void);   /* O_PATH, /proc/self/fd reopen, AT_EMPTY_PATH, statx */
void probe_tmpfile(void); /* O_TMPFILE and naming it with linkat */
#endif
