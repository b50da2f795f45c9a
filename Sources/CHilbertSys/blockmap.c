#define _GNU_SOURCE
#include "hilbert_sys.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

void *hl_sys_map_shared(int fd, size_t len) {
    void *p = hl_sys.mmap64(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *hl_sys_map_anonymous_shared(size_t len) {
    void *p = hl_sys.mmap64(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void hl_sys_unmap(void *p, size_t len) { hl_sys.munmap(p, len); }

int hl_sys_punch_hole(int fd, int64_t offset, int64_t len) {
    return hl_sys.fallocate64(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len) == 0 ? 0 : -errno;
}

/* preadv(2) straight to the kernel: the buffers are the program's, and the kernel checks them
 * (EFAULT), not us. */
int64_t hl_sys_preadv(int fd, const void *iov, int iovcnt, int64_t offset) {
    long r = syscall(SYS_preadv, fd, (const struct iovec *)iov, iovcnt, (unsigned long)offset, (unsigned long)((uint64_t)offset >> 32));
    return r < 0 ? -errno : r;
}

/* An open-file-description lock on bytes [start, start+len) of fd: F_WRLCK or F_UNLCK,
 * waiting. Released when the description is closed, so a process that dies holding it
 * holds nothing. 0 or -errno. */
int hl_sys_ofd_lock(int fd, int64_t start, int64_t len, int type) {
    struct flock fl = {0};
    fl.l_type = (short)type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    for (;;) {
        if (hl_sys.fcntl(fd, F_OFD_SETLKW, &fl) == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}
