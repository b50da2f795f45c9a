/* open family. */
#include "shim.h"

int sh_vopen(vpath *v, int flags, mode_t mode) {
    SH_ENGINE(E, -1);
    hl_file f = {0, 0, 0};
    int fd = ECALL(E->open(&v->loc, flags, mode, &f));
    if (fd == -HL_REDIRECT) {
        if (sh_take_redirect(v) < 0) return -1;
        return SH_NUMBERED(REAL(openat)(AT_FDCWD, v->host, flags, mode));
    }
    if (fd < 0) return sh_ret(fd);
    if (f.kind != HL_KIND_NONE) sh_fd_set(fd, &f);
    return fd;
}

static int do_open(int dirfd, const char *p, int flags, mode_t mode) {
    int creat = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
    SH_ROUTE(v, creat ? SH_CREATE : SH_LOOKUP, dirfd, p, (flags & O_NOFOLLOW) != 0,
             SH_NUMBERED(REAL(openat)(dirfd, v.host, flags, mode)));
    return sh_vopen(&v, flags, mode);
}

#define MODE_ARG(flags, mode)                                                        \
    mode_t mode = 0;                                                                 \
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {                     \
        va_list ap;                                                                  \
        va_start(ap, flags);                                                         \
        mode = (mode_t)va_arg(ap, int);                                              \
        va_end(ap);                                                                  \
    }

EXPORT int open(const char *p, int flags, ...) { MODE_ARG(flags, mode); return do_open(AT_FDCWD, p, flags, mode); }
EXPORT int open64(const char *p, int flags, ...) { MODE_ARG(flags, mode); return do_open(AT_FDCWD, p, flags, mode); }
EXPORT int __open(const char *p, int flags, ...) { MODE_ARG(flags, mode); return do_open(AT_FDCWD, p, flags, mode); }
EXPORT int __open64(const char *p, int flags, ...) { MODE_ARG(flags, mode); return do_open(AT_FDCWD, p, flags, mode); }
EXPORT int openat(int d, const char *p, int flags, ...) { MODE_ARG(flags, mode); return do_open(d, p, flags, mode); }
EXPORT int openat64(int d, const char *p, int flags, ...) { MODE_ARG(flags, mode); return do_open(d, p, flags, mode); }
EXPORT int __open_2(const char *p, int flags) { return do_open(AT_FDCWD, p, flags, 0); }
EXPORT int __open64_2(const char *p, int flags) { return do_open(AT_FDCWD, p, flags, 0); }
EXPORT int __openat_2(int d, const char *p, int flags) { return do_open(d, p, flags, 0); }
EXPORT int __openat64_2(int d, const char *p, int flags) { return do_open(d, p, flags, 0); }
EXPORT int creat(const char *p, mode_t m) { return do_open(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }
EXPORT int creat64(const char *p, mode_t m) { return do_open(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }
