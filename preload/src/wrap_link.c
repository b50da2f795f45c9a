/* readlink, realpath. */
#include "shim.h"

static ssize_t do_readlink(int d, const char *p, char *buf, size_t len) {
    vpath e;
    if (unlikely(sh_nrec) && !sh_pass() && sh_empty_path_loc(d, p, &e.loc)) {
        /* readlinkat(fd, "") names the fd's own inode (an O_PATH|O_NOFOLLOW symlink) */
        SH_ENGINE(E, -1);
        char tmp[PATH_MAX];
        if (len > sizeof tmp) len = sizeof tmp;
        ssize_t n = ECALL(E->readlink(&e.loc, tmp, len));
        if (n == -EINVAL) n = -ENOENT; /* not a symlink: the kernel says ENOENT for an empty path */
        if (n > 0 && (n = sh_copyout(buf, tmp, (size_t)n) < 0 ? -EFAULT : n) < 0) return sh_ret(n);
        return n < 0 ? sh_ret(n) : n;
    }
    SH_ROUTE(v, SH_LOOKUP, d, p, 1, REAL(readlinkat)(d, v.host, buf, len));
    SH_ENGINE(E, -1);
    char tmp[PATH_MAX];
    if (len > sizeof tmp) len = sizeof tmp;
    ssize_t n = ECALL(E->readlink(&v.loc, tmp, len));
    if (n == -HL_REDIRECT) SH_FINISH(v, n, REAL(readlinkat)(d, v.host, buf, len));
    if (n > 0) {
        int rc = sh_copyout(buf, tmp, (size_t)n);
        if (rc < 0) return sh_ret(rc);
    }
    return n < 0 ? sh_ret(n) : n;
}

EXPORT ssize_t readlink(const char *p, char *b, size_t l) { return do_readlink(AT_FDCWD, p, b, l); }
EXPORT ssize_t readlinkat(int d, const char *p, char *b, size_t l) { return do_readlink(d, p, b, l); }
EXPORT ssize_t __readlink_chk(const char *p, char *b, size_t l, size_t bl) {
    return do_readlink(AT_FDCWD, p, b, l < bl ? l : bl);
}
EXPORT ssize_t __readlinkat_chk(int d, const char *p, char *b, size_t l, size_t bl) {
    return do_readlink(d, p, b, l < bl ? l : bl);
}

/* Prefix + in-mount path ("/" → the prefix itself). */
static size_t join_prefix(char *out, int mount, const char *in) {
    size_t n = sh_strlcpy(out, sh_prefix[mount], PATH_MAX);
    if (strcmp(in, "/")) n += sh_strlcpy(out + n, in, PATH_MAX - n);
    return n;
}

typedef char *(*realpath_fn)(const char *, char *);

/* `real` is the version of libc's realpath that host paths go to (see the exports below). */
static char *do_realpath(const char *p, char *resolved, realpath_fn real) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, real(v.host, resolved));
    const hl_engine_api *E = sh_engine();
    if (!E) return NULL;
    char tmp[PATH_MAX], out[PATH_MAX];
    ssize_t n = ECALL(E->realpath(&v.loc, tmp, sizeof tmp));
    if (n == -HL_REDIRECT) {
        if (sh_take_redirect(&v) < 0) return NULL;
        return real(v.host, resolved);
    }
    if (n < 0) { errno = (int)-n; return NULL; }
    size_t len = join_prefix(out, v.loc.mount, tmp);
    if (!resolved) return strdup(out);
    int rc = sh_copyout(resolved, out, len + 1);
    if (rc < 0) { errno = -rc; return NULL; }
    return resolved;
}

/* realpath has two versions. realpath@@GLIBC_2.3 allocates the result when `resolved` is
 * NULL. realpath@GLIBC_2.2.5 (binaries linked before glibc 2.3) predates that and fails with
 * EINVAL for a NULL `resolved`, before looking at the path: so does its wrapper, for host and
 * virtual paths alike; otherwise the two behave the same, and the old one forwards host paths
 * to the old real realpath. __realpath_chk and canonicalize_file_name have one version. */
static char *real_new(const char *p, char *r) { return REAL(realpath)(p, r); }
static char *real_old(const char *p, char *r) { return REAL_OLD(realpath_2_2_5)(p, r); }
EXPORT char *sh_v_realpath(const char *p, char *r) { return do_realpath(p, r, real_new); }
EXPORT char *sh_v_realpath_old(const char *p, char *r) {
    if (!r) { errno = EINVAL; return NULL; }
    return do_realpath(p, r, real_old);
}
SH_SYMVER(sh_v_realpath, "realpath@@GLIBC_2.3");
SH_SYMVER(sh_v_realpath_old, "realpath@GLIBC_2.2.5");
EXPORT char *__realpath_chk(const char *p, char *r, size_t rl) { (void)rl; return do_realpath(p, r, real_new); }
EXPORT char *canonicalize_file_name(const char *p) { return do_realpath(p, NULL, real_new); }
