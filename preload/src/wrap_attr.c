/* Attributes: chmod, chown, truncate, utime family. */
#include "shim.h"
#include <utime.h>

static int do_chmod(int d, const char *p, mode_t m, int fl) {
    SH_ROUTE(v, SH_LOOKUP, d, p, (fl & AT_SYMLINK_NOFOLLOW) != 0, REAL(fchmodat)(d, v.host, m, fl));
    SH_ENGINE(E, -1);
    int rc = ECALL(E->chmod(&v.loc, m, fl));
    SH_FINISH(v, rc, REAL(fchmodat)(d, v.host, m, fl));
}
EXPORT int chmod(const char *p, mode_t m) { return do_chmod(AT_FDCWD, p, m, 0); }
EXPORT int lchmod(const char *p, mode_t m) { return do_chmod(AT_FDCWD, p, m, AT_SYMLINK_NOFOLLOW); }
EXPORT int fchmodat(int d, const char *p, mode_t m, int fl) {
    if (fl & ~AT_SYMLINK_NOFOLLOW) {
        /* Other flags: whatever this libc says (EINVAL before fchmodat2; with it, AT_EMPTY_PATH
         * works). Asked with an invalid fd, so nothing can change. */
        hl_loc loc;
        int saved = errno;
        if (REAL(fchmodat)(-1, "", m, fl) < 0 && errno != EBADF) return -1;
        errno = saved;
        if ((fl & AT_EMPTY_PATH) && sh_empty_path_loc(d, p, &loc)) {
            SH_ENGINE(E, -1);
            return sh_ret(ECALL(E->chmod(&loc, m, 0)));
        }
    }
    return do_chmod(d, p, m, fl);
}

/* fd-based attribute calls on engine fds go through the engine with loc.path = NULL. */
int sh_fd_loc(int fd, hl_loc *loc) {
    hl_file f;
    if (sh_pass() || likely(!sh_fd_lookup(fd, &f)) || f.kind == SH_KIND_PRIVATE || f.kind == HL_KIND_TMPFILE) return 0;
    loc->mount = f.mount;
    loc->reserved = 0;
    loc->dir = f.ino;
    loc->path = NULL;
    return 1;
}

int sh_fd_loc_rw(int fd, hl_loc *loc) {
    hl_file f;
    if (!sh_fd_loc(fd, loc)) return 0;
    if (sh_fd_get(fd, &f) && f.kind == HL_KIND_PATH) {
        errno = EBADF;
        return -1;
    }
    return 1;
}

EXPORT int fchmod(int fd, mode_t m) {
    hl_loc loc;
    int k = sh_fd_loc_rw(fd, &loc);
    if (likely(!k)) return REAL(fchmod)(fd, m);
    if (k < 0) return -1;
    SH_ENGINE(E, -1);
    return sh_ret(ECALL(E->chmod(&loc, m, 0)));
}

static int do_chown(int d, const char *p, uid_t u, gid_t g, int fl) {
    SH_ROUTE(v, SH_LOOKUP, d, p, (fl & AT_SYMLINK_NOFOLLOW) != 0, REAL(fchownat)(d, v.host, u, g, fl));
    SH_ENGINE(E, -1);
    int rc = ECALL(E->chown(&v.loc, u, g, fl));
    SH_FINISH(v, rc, REAL(fchownat)(d, v.host, u, g, fl));
}
EXPORT int chown(const char *p, uid_t u, gid_t g) { return do_chown(AT_FDCWD, p, u, g, 0); }
EXPORT int lchown(const char *p, uid_t u, gid_t g) { return do_chown(AT_FDCWD, p, u, g, AT_SYMLINK_NOFOLLOW); }
EXPORT int fchownat(int d, const char *p, uid_t u, gid_t g, int fl) {
    hl_loc loc;
    if ((fl & AT_EMPTY_PATH) && sh_empty_path_loc(d, p, &loc)) {
        SH_ENGINE(E, -1);
        return sh_ret(ECALL(E->chown(&loc, u, g, 0)));
    }
    return do_chown(d, p, u, g, fl);
}
EXPORT int fchown(int fd, uid_t u, gid_t g) {
    hl_loc loc;
    int k = sh_fd_loc_rw(fd, &loc);
    if (likely(!k)) return REAL(fchown)(fd, u, g);
    if (k < 0) return -1;
    SH_ENGINE(E, -1);
    return sh_ret(ECALL(E->chown(&loc, u, g, 0)));
}

static int do_truncate(const char *p, off_t len) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, REAL(truncate)(v.host, len));
    SH_ENGINE(E, -1);
    int rc = ECALL(E->truncate(&v.loc, len));
    SH_FINISH(v, rc, REAL(truncate)(v.host, len));
}
EXPORT int truncate(const char *p, off_t len) { return do_truncate(p, len); }
EXPORT int truncate64(const char *p, off_t len) { return do_truncate(p, len); }

/* utimensat(2) rejects these before looking at the path. */
static int bad_times(const struct timespec *ts, int fl) {
    if (fl & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return 1;
    for (int i = 0; ts && i < 2; i++)
        if (ts[i].tv_nsec != UTIME_NOW && ts[i].tv_nsec != UTIME_OMIT && (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000L))
            return 1;
    return 0;
}

/* times: NULL = now; copied in safely. */
static int do_utimens(int d, const char *p, const struct timespec *t, int fl) {
    SH_ROUTE(v, SH_LOOKUP, d, p, (fl & AT_SYMLINK_NOFOLLOW) != 0, REAL(utimensat)(d, v.host, t, fl));
    struct timespec ts[2];
    if (t && sh_peek(ts, t, sizeof ts) != sizeof ts) return sh_ret(-EFAULT);
    if (bad_times(t ? ts : NULL, fl)) return sh_ret(-EINVAL);
    SH_ENGINE(E, -1);
    int rc = ECALL(E->utimens(&v.loc, t ? ts : NULL, fl));
    SH_FINISH(v, rc, REAL(utimensat)(d, v.host, t, fl));
}

static const struct timespec *tv2ts(const struct timeval *tv, struct timespec *ts) {
    if (!tv) return NULL;
    for (int i = 0; i < 2; i++) {
        ts[i].tv_sec = tv[i].tv_sec;
        ts[i].tv_nsec = tv[i].tv_usec * 1000;
    }
    return ts;
}

EXPORT int utimensat(int d, const char *p, const struct timespec t[2], int fl) {
    hl_loc loc;
    int k = p ? 0 : sh_fd_loc_rw(d, &loc);
    if (k < 0) return -1;
    if (k) { /* futimens */
        struct timespec ts[2];
        if (t && sh_peek(ts, t, sizeof ts) != sizeof ts) return sh_ret(-EFAULT);
        if (bad_times(t ? ts : NULL, fl)) return sh_ret(-EINVAL);
        SH_ENGINE(E, -1);
        return sh_ret(ECALL(E->utimens(&loc, t ? ts : NULL, 0)));
    }
    if (!p) return REAL(utimensat)(d, p, t, fl);
    return do_utimens(d, p, t, fl);
}
EXPORT int futimens(int fd, const struct timespec t[2]) {
    hl_loc loc;
    int k = sh_fd_loc_rw(fd, &loc);
    if (likely(!k)) return REAL(futimens)(fd, t);
    if (k < 0) return -1;
    return utimensat(fd, NULL, t, 0);
}
EXPORT int utimes(const char *p, const struct timeval tv[2]) {
    struct timespec ts[2];
    return do_utimens(AT_FDCWD, p, tv2ts(tv, ts), 0);
}
EXPORT int lutimes(const char *p, const struct timeval tv[2]) {
    struct timespec ts[2];
    return do_utimens(AT_FDCWD, p, tv2ts(tv, ts), AT_SYMLINK_NOFOLLOW);
}
EXPORT int futimesat(int d, const char *p, const struct timeval tv[2]) {
    struct timespec ts[2];
    return p ? do_utimens(d, p, tv2ts(tv, ts), 0) : futimens(d, tv2ts(tv, ts));
}
EXPORT int futimes(int fd, const struct timeval tv[2]) {
    struct timespec ts[2];
    return futimens(fd, tv2ts(tv, ts));
}
EXPORT int utime(const char *p, const struct utimbuf *b) {
    struct timespec ts[2] = {{b ? b->actime : 0, 0}, {b ? b->modtime : 0, 0}};
    return do_utimens(AT_FDCWD, p, b ? ts : NULL, 0);
}
