#define _GNU_SOURCE
#include "hilbert_sys.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

volatile uint64_t *hl_sys_map_counter(const char *path, mode_t mode) {
    int fd = hl_sys.open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) fd = hl_sys.open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return NULL;
    struct stat st;
    int writable = (hl_sys.fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
    if (hl_sys.fstat64(fd, &st) == 0 && st.st_size < 4096 && writable) hl_sys.ftruncate64(fd, 4096);
    void *p = hl_sys.mmap64(NULL, 4096, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    hl_sys.close(fd);
    if (p == MAP_FAILED) return NULL;
    return (volatile uint64_t *)p;
}

uint64_t hl_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#include <sys/syscall.h>

void hl_sys_start_writeback(int fd) {
    syscall(SYS_sync_file_range, fd, (off_t)0, (off_t)0, 2 /* SYNC_FILE_RANGE_WRITE */);
}

#include <gnu/libc-version.h>
#include <stdlib.h>

int hl_glibc_version(void) {
    const char *v = gnu_get_libc_version();
    if (!v) return 0;
    char *end;
    long major = strtol(v, &end, 10);
    if (*end != '.') return 0;
    long minor = strtol(end + 1, NULL, 10);
    return (int)(major * 1000 + minor);
}

#include <stdio.h>

int hl_sys_memory_copy(const void *data, size_t len) {
    int mfd = hl_sys_memfd("hilbert", 1 /* MFD_CLOEXEC */);
    if (mfd < 0) return -errno;
    size_t done = 0;
    while (done < len) {
        ssize_t n = hl_sys.pwrite64(mfd, (const char *)data + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            hl_sys_close(mfd);
            return -e;
        }
        done += (size_t)n;
    }
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
    int fd = hl_sys.open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int moved = hl_sys.fcntl(mfd, F_DUPFD_CLOEXEC, 3);
        hl_sys_close(mfd);
        return moved < 0 ? -errno : moved;
    }
    hl_sys_close(mfd);
    return fd;
}
