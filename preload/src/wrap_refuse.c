/* Calls Hilbert refuses on virtual paths, with one `hilbert:` line per call kind and process:
 * chroot (EPERM: what an unprivileged caller gets, so callers already handle it) and file
 * watches, inotify_add_watch and fanotify_mark (EOPNOTSUPP: nothing would ever be reported,
 * since other processes change the volume without the kernel seeing it). */
#include "shim.h"
#include <sys/fanotify.h>
#include <sys/inotify.h>

static volatile int said[3];

static int refuse(int which, const char *what, int err) {
    if (!__atomic_exchange_n(&said[which], 1, __ATOMIC_RELAXED)) {
        char line[256];
        size_t n = sh_strlcpy(line, "hilbert: ", sizeof line);
        n += sh_strlcpy(line + n, what, sizeof line - n - 1);
        line[n++] = '\n';
        REAL(write)(2, line, n);
    }
    errno = err;
    return -1;
}

#define REAL_OF(name, type) ((type)(real_##name ? real_##name : sh_resolve(#name, (void **)&real_##name)))

static int (*real_chroot)(const char *);
EXPORT int chroot(const char *p) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, REAL_OF(chroot, int (*)(const char *))(v.host));
    return refuse(0, "chroot into a Hilbert prefix is not supported (EPERM)", EPERM);
}

static int (*real_inotify_add_watch)(int, const char *, uint32_t);
EXPORT int inotify_add_watch(int fd, const char *p, uint32_t mask) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, (mask & IN_DONT_FOLLOW) != 0,
             REAL_OF(inotify_add_watch, int (*)(int, const char *, uint32_t))(fd, v.host, mask));
    return refuse(1, "inotify watches on a Hilbert prefix are not supported (EOPNOTSUPP)", EOPNOTSUPP);
}

static int (*real_fanotify_mark)(int, unsigned, uint64_t, int, const char *);
EXPORT int fanotify_mark(int fd, unsigned flags, uint64_t mask, int dirfd, const char *p) {
    typedef int (*fn)(int, unsigned, uint64_t, int, const char *);
    hl_loc loc;
    if (!p) {
        if (!sh_pass() && sh_empty_path_loc(dirfd, "", &loc))
            return refuse(2, "fanotify marks on a Hilbert prefix are not supported (EOPNOTSUPP)", EOPNOTSUPP);
        return REAL_OF(fanotify_mark, fn)(fd, flags, mask, dirfd, p);
    }
    SH_ROUTE(v, SH_LOOKUP, dirfd, p, (flags & FAN_MARK_DONT_FOLLOW) != 0,
             REAL_OF(fanotify_mark, fn)(fd, flags, mask, dirfd, v.host));
    return refuse(2, "fanotify marks on a Hilbert prefix are not supported (EOPNOTSUPP)", EOPNOTSUPP);
}
