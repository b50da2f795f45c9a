/* fd lifetime: close, dup, fcntl, close_range, fsync. */
#include "shim.h"
#include <linux/close_range.h>
#include <sched.h>

EXPORT int close(int fd) {
    hl_file f;
    if (likely(!sh_fd_lookup(fd, &f)) || sh_guard) return SH_NUMBERED(REAL(close)(fd));
    if (f.kind == SH_KIND_PRIVATE) { errno = EBADF; return -1; }
    if (sh_in_vfork()) return SH_NUMBERED(REAL(close)(fd));
    sh_lock_on_close(fd, &f);
    sh_fd_clear(fd);
    if (f.kind == HL_KIND_WRITE) {
        const hl_engine_api *E = sh_engine();
        if (E) return sh_ret(ECALL(E->release(fd, &f)));
    }
    int r = SH_NUMBERED(REAL(close)(fd));
    if (f.kind == HL_KIND_PARTIAL) {
        int saved = errno;
        sh_partial_closed(&f);
        errno = saved;
    }
    return r;
}

static void after_dup(int oldfd, int r) {
    if (r >= 0 && sh_nrec && !sh_guard && !sh_in_vfork()) sh_fd_after_dup(oldfd, r);
}

static int is_private(int fd) {
    hl_file f;
    return !sh_guard && sh_fd_lookup(fd, &f) && f.kind == SH_KIND_PRIVATE;
}

EXPORT int dup(int fd) {
    if (unlikely(is_private(fd))) { errno = EBADF; return -1; }
    int r = SH_NUMBERED(REAL(dup)(fd));
    after_dup(fd, r);
    return r;
}

/* dup2/dup3 onto an fd that holds an engine file closes that file there, as close() would:
 * a write file's last close commits (bash restores stdout with dup2 after `echo x > f`), so a
 * duplicate taken before goes to release() after; the last descriptor of a partial read copy
 * lets the engine's copy go. */
typedef struct {
    hl_file f;  /* kind HL_KIND_NONE: nothing of the engine's replaced */
    int keep;   /* the duplicate of a write fd, or -1 */
} replaced;

static void note_replaced(int fd, int nfd, replaced *rp) {
    rp->f.kind = HL_KIND_NONE;
    rp->keep = -1;
    if (fd == nfd || likely(!sh_nrec) || sh_guard || sh_in_vfork()) return;
    if (!sh_fd_get(nfd, &rp->f)) rp->f.kind = HL_KIND_NONE;
    else if (rp->f.kind == HL_KIND_WRITE) rp->keep = REAL(fcntl)(nfd, F_DUPFD_CLOEXEC, 0);
}

static void close_replaced(const replaced *rp, int r) {
    if (rp->f.kind != HL_KIND_WRITE && rp->f.kind != HL_KIND_PARTIAL) return;
    int saved = errno;
    if (rp->f.kind == HL_KIND_PARTIAL) {
        if (r >= 0) sh_partial_closed(&rp->f);
    } else if (rp->keep >= 0) {
        const hl_engine_api *E = r >= 0 ? sh_engine() : NULL;
        if (E) ECALL(E->release(rp->keep, &rp->f));
        else REAL(close)(rp->keep);
    }
    errno = saved;
}

EXPORT int dup2(int fd, int nfd) {
    if (unlikely(is_private(nfd))) { errno = EBADF; return -1; }
    replaced rp;
    note_replaced(fd, nfd, &rp);
    int r = SH_NUMBERED(REAL(dup2)(fd, nfd));
    if (fd != nfd) after_dup(fd, r);
    close_replaced(&rp, r);
    return r;
}

EXPORT int dup3(int fd, int nfd, int flags) {
    if (unlikely(is_private(nfd))) { errno = EBADF; return -1; }
    replaced rp;
    note_replaced(fd, nfd, &rp);
    int r = SH_NUMBERED(REAL(dup3)(fd, nfd, flags));
    after_dup(fd, r);
    close_replaced(&rp, r);
    return r;
}

static int do_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg) {
    if (unlikely(is_private(fd))) { errno = EBADF; return -1; } /* hidden from the application */
    int r;
    if (unlikely(sh_nrec) && sh_lock_fcntl(fd, cmd, arg, &r)) return r;
    if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) return real(fd, cmd, arg);
    r = SH_NUMBERED(real(fd, cmd, arg));
    after_dup(fd, r);
    return r;
}

EXPORT int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(REAL(fcntl), fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    static int (*real64)(int, int, ...);
    if (!real64) real64 = (int (*)(int, int, ...))sh_resolve("fcntl64", (void **)&real64);
    return do_fcntl(real64, fd, cmd, arg);
}

/* Close [first,last] except engine-private fds, each as close() would: a write file goes to
 * release() (which closes it, and the last close of a file commits) before the kernel closes
 * the rest; the last descriptor of a partial read copy lets the engine's copy go. 0, or -1
 * with the errno of the first failed commit (everything is closed either way, as by close).
 * CLOSE_RANGE_CLOEXEC closes nothing: exec commits such write fds (sh_sync_cloexec_writes). */
static int range(unsigned first, unsigned last, int flags, int from) {
    int r = 0, failed = 0, max = sh_fd_max();
    unsigned lo = first;
    int closing = !(flags & CLOSE_RANGE_CLOEXEC) && !sh_in_vfork();
    for (unsigned fd = first; fd <= last && (int)fd <= max; fd++) {
        hl_file f;
        if (!sh_fd_get((int)fd, &f)) continue;
        if (f.kind == SH_KIND_PRIVATE) {
            if (fd > lo && SH_NUMBERED(REAL(close_range)(lo, fd - 1, flags)) < 0) r = -1;
            lo = fd + 1;
            continue;
        }
        if (!closing) continue;
        sh_lock_on_close((int)fd, &f);
        sh_fd_clear((int)fd);
        if (f.kind == HL_KIND_WRITE) {
            const hl_engine_api *E = sh_engine();
            int rc = E ? ECALL(E->release((int)fd, &f)) : 0;
            if (rc < 0 && !failed) failed = -rc;
        } else if (f.kind == HL_KIND_PARTIAL) {
            sh_partial_closed(&f);
        }
    }
    if (lo <= last && lo >= first) {
        int t = sh_numbers_begin();
        if (from) REAL(closefrom)((int)lo);
        else if (REAL(close_range)(lo, last, flags) < 0) r = -1;
        sh_numbers_done(t);
    }
    if (failed && r == 0) {
        errno = failed;
        r = -1;
    }
    return r;
}

EXPORT int close_range(unsigned first, unsigned last, int flags) {
    if (likely(!sh_nrec) || sh_guard || first > last || (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)))
        return SH_NUMBERED(REAL(close_range)(first, last, flags));   /* the kernel's EINVAL closes nothing */
    /* The engine closes write fds itself: in this thread's own descriptor table, the one the
     * kernel would have unshared first. */
    if (flags & CLOSE_RANGE_UNSHARE) {
        if (unshare(CLONE_FILES) < 0) return -1;
        flags &= ~CLOSE_RANGE_UNSHARE;
    }
    return range(first, last, flags, 0);
}

EXPORT void closefrom(int lowfd) {
    if (likely(!sh_nrec) || sh_guard || lowfd < 0) {
        int t = sh_numbers_begin();
        REAL(closefrom)(lowfd);
        sh_numbers_done(t);
        return;
    }
    int saved = errno;
    range((unsigned)lowfd, ~0U, 0, 1);
    errno = saved;
}

/* fsync of a write fd commits it to the store, which is where durability lives: syncing
 * the node-local staging file as well would write every byte to disk twice. Only when the
 * commit fails is the staging file synced, so the data is at least safe on this node. */
static int do_sync(int fd, int (*real)(int)) {
    hl_file f;
    if (likely(!sh_fd_lookup(fd, &f)) || f.kind != HL_KIND_WRITE || sh_guard || sh_in_vfork()) return real(fd);
    SH_ENGINE(E, real(fd));
    int rc = ECALL(E->fsync(fd, &f));
    if (rc < 0) {
        int saved = errno;
        real(fd);
        errno = saved;
    }
    return sh_ret(rc);
}

EXPORT int fsync(int fd) { return do_sync(fd, REAL(fsync)); }
EXPORT int fdatasync(int fd) { return do_sync(fd, REAL(fdatasync)); }
EXPORT int ftruncate(int fd, off_t len) {
    if (unlikely(sh_nrec) && sh_prepare_truncate(fd, len) < 0) return -1;
    return REAL(ftruncate)(fd, len);
}
EXPORT int ftruncate64(int fd, off_t len) {
    if (unlikely(sh_nrec) && sh_prepare_truncate(fd, len) < 0) return -1;
    return REAL(ftruncate)(fd, len);
}
