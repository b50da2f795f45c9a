/* Extended attributes. */
#include "shim.h"
#include <sys/xattr.h>

#define XMAX 65536

/* mode: 0 = path, AT_SYMLINK_NOFOLLOW = l-variant */
static ssize_t vget(const hl_loc *loc, const char *name, void *val, size_t len, int fl) {
    char n[PATH_MAX];
    int rc = sh_copy_str(n, name);
    if (rc < 0) return rc;
    SH_ENGINE(E, -errno);
    if (len > XMAX) len = XMAX;
    char buf[len ? len : 1];
    ssize_t r = ECALL(E->getxattr(loc, n, len ? buf : NULL, len, fl));
    if (r > 0 && len && (rc = sh_copyout(val, buf, (size_t)r)) < 0) return rc;
    return r;
}

static ssize_t vlist(const hl_loc *loc, char *list, size_t len, int fl) {
    SH_ENGINE(E, -errno);
    if (len > XMAX) len = XMAX;
    char buf[len ? len : 1];
    ssize_t r = ECALL(E->listxattr(loc, len ? buf : NULL, len, fl));
    int rc;
    if (r > 0 && len && (rc = sh_copyout(list, buf, (size_t)r)) < 0) return rc;
    return r;
}

static int vset(const hl_loc *loc, const char *name, const void *val, size_t len, int xf, int fl) {
    char n[PATH_MAX];
    int rc = sh_copy_str(n, name);
    if (rc < 0) return rc;
    if (len > XMAX) return -E2BIG;
    char buf[len ? len : 1];
    if (len && sh_peek(buf, val, len) != len) return -EFAULT;
    SH_ENGINE(E, -errno);
    return ECALL(E->setxattr(loc, n, buf, len, xf, fl));
}

static int vremove(const hl_loc *loc, const char *name, int fl) {
    char n[PATH_MAX];
    int rc = sh_copy_str(n, name);
    if (rc < 0) return rc;
    SH_ENGINE(E, -errno);
    return ECALL(E->removexattr(loc, n, fl));
}

#define PATHX(fn, lfl, real, vcall)                                                   \
    {                                                                                 \
        SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, lfl != 0, real);                          \
        long rc = vcall;                                                              \
        SH_FINISH(v, rc, real);                                                       \
    }

EXPORT ssize_t getxattr(const char *p, const char *n, void *b, size_t l)
    PATHX(getxattr, 0, REAL(getxattr)(v.host, n, b, l), vget(&v.loc, n, b, l, 0))
EXPORT ssize_t lgetxattr(const char *p, const char *n, void *b, size_t l)
    PATHX(lgetxattr, 1, REAL(lgetxattr)(v.host, n, b, l), vget(&v.loc, n, b, l, AT_SYMLINK_NOFOLLOW))
EXPORT ssize_t listxattr(const char *p, char *b, size_t l)
    PATHX(listxattr, 0, REAL(listxattr)(v.host, b, l), vlist(&v.loc, b, l, 0))
EXPORT ssize_t llistxattr(const char *p, char *b, size_t l)
    PATHX(llistxattr, 1, REAL(llistxattr)(v.host, b, l), vlist(&v.loc, b, l, AT_SYMLINK_NOFOLLOW))
EXPORT int setxattr(const char *p, const char *n, const void *b, size_t l, int x)
    PATHX(setxattr, 0, REAL(setxattr)(v.host, n, b, l, x), vset(&v.loc, n, b, l, x, 0))
EXPORT int lsetxattr(const char *p, const char *n, const void *b, size_t l, int x)
    PATHX(lsetxattr, 1, REAL(lsetxattr)(v.host, n, b, l, x), vset(&v.loc, n, b, l, x, AT_SYMLINK_NOFOLLOW))
EXPORT int removexattr(const char *p, const char *n)
    PATHX(removexattr, 0, REAL(removexattr)(v.host, n), vremove(&v.loc, n, 0))
EXPORT int lremovexattr(const char *p, const char *n)
    PATHX(lremovexattr, 1, REAL(lremovexattr)(v.host, n), vremove(&v.loc, n, AT_SYMLINK_NOFOLLOW))

EXPORT ssize_t fgetxattr(int fd, const char *n, void *b, size_t l) {
    hl_loc loc;
    int k = sh_fd_loc_rw(fd, &loc);
    if (likely(!k)) return REAL(fgetxattr)(fd, n, b, l);
    if (k < 0) return -1;
    return sh_ret(vget(&loc, n, b, l, 0));
}
EXPORT ssize_t flistxattr(int fd, char *b, size_t l) {
    hl_loc loc;
    int k = sh_fd_loc_rw(fd, &loc);
    if (likely(!k)) return REAL(flistxattr)(fd, b, l);
    if (k < 0) return -1;
    return sh_ret(vlist(&loc, b, l, 0));
}
EXPORT int fsetxattr(int fd, const char *n, const void *b, size_t l, int x) {
    hl_loc loc;
    int k = sh_fd_loc_rw(fd, &loc);
    if (likely(!k)) return REAL(fsetxattr)(fd, n, b, l, x);
    if (k < 0) return -1;
    return sh_ret(vset(&loc, n, b, l, x, 0));
}
EXPORT int fremovexattr(int fd, const char *n) {
    hl_loc loc;
    int k = sh_fd_loc_rw(fd, &loc);
    if (likely(!k)) return REAL(fremovexattr)(fd, n);
    if (k < 0) return -1;
    return sh_ret(vremove(&loc, n, 0));
}
