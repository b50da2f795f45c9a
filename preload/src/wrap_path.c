/* Namespace mutation: mkdir, unlink, rmdir, rename, link, symlink, mknod, mkfifo. */
#include "shim.h"
#include <sys/sysmacros.h>

static int do_mkdir(int d, const char *p, mode_t m) {
    SH_ROUTE(v, SH_CREATE, d, p, 1, REAL(mkdirat)(d, v.host, m));
    SH_ENGINE(E, -1);
    int rc = ECALL(E->mkdir(&v.loc, m));
    SH_FINISH(v, rc, REAL(mkdirat)(d, v.host, m));
}
EXPORT int mkdir(const char *p, mode_t m) { return do_mkdir(AT_FDCWD, p, m); }
EXPORT int mkdirat(int d, const char *p, mode_t m) { return do_mkdir(d, p, m); }

static int do_unlink(int d, const char *p, int fl) {
    if (fl & ~AT_REMOVEDIR) return sh_ret(-EINVAL); /* checked before the lookup, as the kernel does */
    SH_ROUTE(v, SH_LOOKUP, d, p, 1, REAL(unlinkat)(d, v.host, fl));
    SH_ENGINE(E, -1);
    int rc = ECALL(E->unlink(&v.loc, fl));
    SH_FINISH(v, rc, REAL(unlinkat)(d, v.host, fl));
}
EXPORT int unlink(const char *p) { return do_unlink(AT_FDCWD, p, 0); }
EXPORT int unlinkat(int d, const char *p, int fl) { return do_unlink(d, p, fl); }
EXPORT int rmdir(const char *p) { return do_unlink(AT_FDCWD, p, AT_REMOVEDIR); }

EXPORT int remove(const char *p) {
    int saved = errno;
    int r = do_unlink(AT_FDCWD, p, 0);
    if (r < 0 && errno == EISDIR) {
        errno = saved;
        r = do_unlink(AT_FDCWD, p, AT_REMOVEDIR);
    }
    return r;
}

/* Two paths: both virtual on one mount → SH_VIRT; both host → SH_HOST; else EXDEV.
 * `follow`: the first path's last symlink is followed (/proc/self/fd/N then names an fd). */
static int route2(vpath *a, int da, const char *pa, vpath *b, int db, const char *pb, int follow) {
    a->host = pa;
    b->host = pb;
    char ca = 1, cb = 1;
    if (sh_peek(&ca, pa, 1) == 1 && sh_peek(&cb, pb, 1) == 1 && (!ca || !cb)) {
        errno = ENOENT; /* an empty path names nothing (AT_EMPTY_PATH was handled before) */
        return SH_ERR;
    }
    int ka = follow ? sh_route_follow(a, SH_CREATE, da, pa) : sh_route(a, SH_CREATE, da, pa);
    if (ka == SH_ERR) return SH_ERR;
    int kb = sh_route(b, SH_CREATE, db, pb);
    if (kb == SH_ERR) return SH_ERR;
    if (ka != kb || (ka == SH_VIRT && a->loc.mount != b->loc.mount)) {
        errno = EXDEV;
        return SH_ERR;
    }
    return ka;
}

static int do_rename(int da, const char *pa, int db, const char *pb, unsigned fl) {
    vpath a, b;
    if (sh_pass()) return REAL(renameat2)(da, pa, db, pb, fl);
    /* Flag checks come before any lookup (the kernel's order). */
    if ((fl & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) ||
        ((fl & (RENAME_NOREPLACE | RENAME_WHITEOUT)) && (fl & RENAME_EXCHANGE)))
        return sh_ret(-EINVAL);
    int k = route2(&a, da, pa, &b, db, pb, 0);
    if (k == SH_ERR) return -1;
    if (k == SH_HOST) return fl ? REAL(renameat2)(da, pa, db, pb, fl) : REAL(renameat)(da, pa, db, pb);
    sh_debug("rename", pa);
    SH_ENGINE(E, -1);
    int rc = ECALL(E->rename(&a.loc, &b.loc, fl));
    return sh_ret(rc == -HL_REDIRECT ? -EXDEV : rc);
}
EXPORT int rename(const char *a, const char *b) { return do_rename(AT_FDCWD, a, AT_FDCWD, b, 0); }
EXPORT int renameat(int da, const char *a, int db, const char *b) { return do_rename(da, a, db, b, 0); }
EXPORT int renameat2(int da, const char *a, int db, const char *b, unsigned fl) { return do_rename(da, a, db, b, fl); }

/* The O_TMPFILE fd (pa, da) names, by AT_EMPTY_PATH or /proc/self/fd/N, or -1. */
static int tmpfile_source(int da, const char *pa, int fl, hl_file *f) {
    char c = 1, head[64];
    int empty = (fl & AT_EMPTY_PATH) && sh_peek(&c, pa, 1) == 1 && c == 0;
    int fd = empty ? da : (fl & AT_SYMLINK_FOLLOW) ? sh_magic_fd(pa, head) : -1;
    return fd >= 0 && sh_fd_lookup(fd, f) && f->kind == HL_KIND_TMPFILE ? fd : -1;
}

/* linkat(fd, "", …, AT_EMPTY_PATH) is allowed as on Linux >= 6.10 (to the opener; older
 * kernels want CAP_DAC_READ_SEARCH), for tmpfiles and other engine fds alike. */
static int link_tmpfile(int fd, hl_file *f, int db, const char *pb) {
    vpath b;
    b.host = pb;
    int k = sh_route(&b, SH_CREATE, db, pb);
    if (k == SH_ERR) return -1;
    if (k == SH_HOST) return sh_ret(-EXDEV);
    sh_debug("link_tmpfile", b.buf);
    SH_ENGINE(E, -1);
    if (!SH_HAS(E, link_tmpfile)) return sh_ret(-EOPNOTSUPP);
    hl_file now = *f;
    int rc = ECALL(E->link_tmpfile(fd, f, &b.loc, &now));
    if (rc == -HL_REDIRECT) rc = -EXDEV;
    if (rc >= 0) sh_fd_set(fd, &now);
    return sh_ret(rc);
}

static int do_link(int da, const char *pa, int db, const char *pb, int fl) {
    vpath a, b;
    if (sh_pass()) return REAL(linkat)(da, pa, db, pb, fl);
    if (fl & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return sh_ret(-EINVAL);
    int k;
    hl_file tf;
    if (unlikely(sh_nrec) && (k = tmpfile_source(da, pa, fl, &tf)) >= 0) return link_tmpfile(k, &tf, db, pb);
    if ((fl & AT_EMPTY_PATH) && unlikely(sh_nrec) && sh_empty_path_loc(da, pa, &a.loc)) {
        b.host = pb;
        k = sh_route(&b, SH_CREATE, db, pb);
        if (k == SH_ERR) return -1;
        if (k == SH_HOST || b.loc.mount != a.loc.mount) return sh_ret(-EXDEV);
    } else {
        k = route2(&a, da, pa, &b, db, pb, (fl & AT_SYMLINK_FOLLOW) != 0);
        if (k == SH_ERR) return -1;
        if (k == SH_HOST) return REAL(linkat)(da, pa, db, pb, fl);
    }
    sh_debug("link", pa);
    SH_ENGINE(E, -1);
    int rc = ECALL(E->link(&a.loc, &b.loc, fl));
    return sh_ret(rc == -HL_REDIRECT ? -EXDEV : rc);
}
EXPORT int link(const char *a, const char *b) { return do_link(AT_FDCWD, a, AT_FDCWD, b, 0); }
EXPORT int linkat(int da, const char *a, int db, const char *b, int fl) { return do_link(da, a, db, b, fl); }

static int do_symlink(const char *target, int d, const char *p) {
    SH_ROUTE(v, SH_CREATE, d, p, 1, REAL(symlinkat)(target, d, v.host));
    char t[PATH_MAX];
    int rc = sh_copy_str(t, target);
    if (rc < 0) return sh_ret(rc);
    SH_ENGINE(E, -1);
    rc = ECALL(E->symlink(t, &v.loc));
    SH_FINISH(v, rc, REAL(symlinkat)(target, d, v.host));
}
EXPORT int symlink(const char *t, const char *p) { return do_symlink(t, AT_FDCWD, p); }
EXPORT int symlinkat(const char *t, int d, const char *p) { return do_symlink(t, d, p); }

static int do_mknod(int d, const char *p, mode_t m, dev_t dev) {
    SH_ROUTE(v, SH_CREATE, d, p, 1, REAL(mknodat)(d, v.host, m, dev));
    SH_ENGINE(E, -1);
    int rc = ECALL(E->mknod(&v.loc, m, dev));
    SH_FINISH(v, rc, REAL(mknodat)(d, v.host, m, dev));
}
EXPORT int mknod(const char *p, mode_t m, dev_t dev) { return do_mknod(AT_FDCWD, p, m, dev); }
EXPORT int mknodat(int d, const char *p, mode_t m, dev_t dev) { return do_mknod(d, p, m, dev); }
EXPORT int __xmknod(int ver, const char *p, mode_t m, dev_t *dev) { (void)ver; return do_mknod(AT_FDCWD, p, m, dev ? *dev : 0); }
EXPORT int __xmknodat(int ver, int d, const char *p, mode_t m, dev_t *dev) { (void)ver; return do_mknod(d, p, m, dev ? *dev : 0); }
EXPORT int mkfifo(const char *p, mode_t m) { return do_mknod(AT_FDCWD, p, (m & 07777) | S_IFIFO, 0); }
EXPORT int mkfifoat(int d, const char *p, mode_t m) { return do_mknod(d, p, (m & 07777) | S_IFIFO, 0); }
