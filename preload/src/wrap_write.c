/* Writes to engine write fds that need the engine first. Sparse staging files
 * (HL_KIND_WRITE_SPARSE) hold only the blocks of the committed version brought in so far, so
 * the blocks a write, a truncate or an allocation touches are brought in first
 * (prepare_write). A write fd inherited across exec (SH_KIND_WRITE_INHERITED) is shown to the
 * engine at its first write, which then stores its whole blocks while they are written
 * (watch_write; an exec'd program's engine never opened it). Other descriptors cost one load of
 * sh_nrec, or one table lookup while virtual descriptors are open. */
#include "shim.h"
#include <sys/uio.h>

#define RESOLVE(type, name)                                                          \
    static type real_##name;                                                         \
    if (unlikely(!real_##name)) real_##name = (type)sh_resolve(#name, (void **)&real_##name)

static inline int sparse(int fd, hl_file *f) { return sh_lazy_kind(fd, f) == HL_KIND_WRITE_SPARSE; }

/* Once per inherited descriptor: the engine watches it from now on. Never fails the write. */
static void watch_inherited(int fd, const hl_file *f) {
    hl_file g = *f;
    g.kind = HL_KIND_WRITE;
    sh_fd_set(fd, &g);
    int saved = errno;
    const hl_engine_api *E = sh_engine();
    if (E && SH_HAS(E, watch_write)) ECALL((E->watch_write(fd, f), 0));
    errno = saved;
}

/* Before a write of `len` bytes at `off` (-1: at the position, or the end with O_APPEND):
 * 0, or -1 with errno. */
static inline int before_write(int fd, int64_t off, int64_t len) {
    if (likely(sh_nrec == 0)) return 0;
    uint32_t k = sh_fd_kind_raw(fd);
    if (likely(k != HL_KIND_WRITE_SPARSE && k != SH_KIND_WRITE_INHERITED)) return 0;
    hl_file f;
    if (sh_guard || sh_in_vfork() || !sh_fd_get(fd, &f)) return 0;
    if (k == SH_KIND_WRITE_INHERITED) {
        watch_inherited(fd, &f);
        return 0;
    }
    return sh_prepare_write(fd, &f, HL_PREPARE_WRITE, off, len);
}

EXPORT ssize_t write(int fd, const void *buf, size_t n) {
    if (unlikely(before_write(fd, -1, (int64_t)n) < 0)) return -1;
    return REAL(write)(fd, buf, n);
}

static ssize_t do_pwrite(int fd, const void *buf, size_t n, off_t off) {
    if (off >= 0 && unlikely(before_write(fd, off, (int64_t)n) < 0)) return -1;
    return REAL(pwrite64)(fd, buf, n, off);
}
EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) { return do_pwrite(fd, buf, n, off); }
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) { return do_pwrite(fd, buf, n, off); }

typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);

/* offset -1: at the position (or the end with O_APPEND). */
static int prepare_iov(int fd, const struct iovec *iov, int cnt, off_t off) {
    uint32_t k = sh_fd_kind_raw(fd);
    if (likely(k != HL_KIND_WRITE_SPARSE && k != SH_KIND_WRITE_INHERITED)) return 0;
    ssize_t len = k == HL_KIND_WRITE_SPARSE ? sh_iov_length(iov, cnt) : 0;
    if (len < 0) return -1;
    return off < -1 ? 0 : before_write(fd, off, len);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    RESOLVE(writev_fn, writev);
    if (unlikely(sh_nrec) && prepare_iov(fd, iov, cnt, -1) < 0) return -1;
    return real_writev(fd, iov, cnt);
}
EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    RESOLVE(pwritev_fn, pwritev);
    if (unlikely(sh_nrec) && off >= 0 && prepare_iov(fd, iov, cnt, off) < 0) return -1;
    return real_pwritev(fd, iov, cnt, off);
}
EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
    RESOLVE(pwritev_fn, pwritev64);
    if (unlikely(sh_nrec) && off >= 0 && prepare_iov(fd, iov, cnt, off) < 0) return -1;
    return real_pwritev64(fd, iov, cnt, off);
}
EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
    RESOLVE(pwritev2_fn, pwritev2);
    if (unlikely(sh_nrec) && prepare_iov(fd, iov, cnt, off) < 0) return -1;
    return real_pwritev2(fd, iov, cnt, off, flags);
}
EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
    RESOLVE(pwritev2_fn, pwritev64v2);
    if (unlikely(sh_nrec) && prepare_iov(fd, iov, cnt, off) < 0) return -1;
    return real_pwritev64v2(fd, iov, cnt, off, flags);
}

/* ftruncate: the block the new end cuts keeps its head. */
int sh_prepare_truncate(int fd, off_t len) {
    hl_file f;
    if (likely(!sparse(fd, &f)) || len < 0) return 0;
    return sh_prepare_write(fd, &f, HL_PREPARE_TRUNCATE, 0, len);
}

/* fallocate modes move, zero and punch ranges: every block first. */
static int whole(int fd) {
    hl_file f;
    if (likely(!sparse(fd, &f))) return 0;
    return sh_prepare_write(fd, &f, HL_PREPARE_WHOLE, 0, 0);
}
typedef int (*fallocate_fn)(int, int, off_t, off_t);
EXPORT int fallocate(int fd, int mode, off_t off, off_t len) {
    if (unlikely(sh_nrec) && whole(fd) < 0) return -1;
    return REAL(fallocate64)(fd, mode, off, len);
}
EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) {
    if (unlikely(sh_nrec) && whole(fd) < 0) return -1;
    return REAL(fallocate64)(fd, mode, off, len);
}
typedef int (*posix_fallocate_fn)(int, off_t, off_t);
EXPORT int posix_fallocate(int fd, off_t off, off_t len) {
    RESOLVE(posix_fallocate_fn, posix_fallocate);
    if (unlikely(sh_nrec) && whole(fd) < 0) return errno;
    return real_posix_fallocate(fd, off, len);
}
EXPORT int posix_fallocate64(int fd, off_t off, off_t len) {
    RESOLVE(posix_fallocate_fn, posix_fallocate64);
    if (unlikely(sh_nrec) && whole(fd) < 0) return errno;
    return real_posix_fallocate64(fd, off, len);
}
