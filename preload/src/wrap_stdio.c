/* fopen / freopen / fclose. glibc's stdio reaches open/close internally (no PLT). */
#include "shim.h"

/* glibc mode strings: r w a, then + b e x m c, and ",ccs=..." */
int sh_open_flags_from_mode(const char *mode, int *flags) {
    int f;
    switch (mode[0]) {
    case 'r': f = O_RDONLY; break;
    case 'w': f = O_WRONLY | O_CREAT | O_TRUNC; break;
    case 'a': f = O_WRONLY | O_CREAT | O_APPEND; break;
    default: return -EINVAL;
    }
    for (const char *m = mode + 1; *m && *m != ','; m++) {
        if (*m == '+') f = (f & ~O_ACCMODE) | O_RDWR;
        else if (*m == 'e') f |= O_CLOEXEC;
        else if (*m == 'x') f |= O_EXCL;
    }
    *flags = f;
    return 0;
}

/* fdopen() understands only the access part of the mode. */
static void fd_mode(const char *mode, char *out) {
    size_t n = 0;
    out[n++] = mode[0];
    if (strchr(mode, '+') && (!strchr(mode, ',') || strchr(mode, '+') < strchr(mode, ','))) out[n++] = '+';
    out[n] = 0;
}

static FILE *vfopen(vpath *v, const char *mode, int flags) {
    int fd = sh_vopen(v, flags, 0666);
    if (fd < 0) return NULL;
    char m[4];
    fd_mode(mode, m);
    FILE *fp = fdopen(fd, m);
    if (!fp) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return fp;
}

static FILE *do_fopen(const char *p, const char *mode) {
    int flags;
    if (!mode || sh_open_flags_from_mode(mode, &flags) < 0) return REAL(fopen)(p, mode);
    SH_ROUTE(v, (flags & O_CREAT) ? SH_CREATE : SH_LOOKUP, AT_FDCWD, p, 0, REAL(fopen)(v.host, mode));
    return vfopen(&v, mode, flags);
}
EXPORT FILE *fopen(const char *p, const char *m) { return do_fopen(p, m); }
EXPORT FILE *fopen64(const char *p, const char *m) { return do_fopen(p, m); }

/* Close fp; an engine write fd is handed to release() through a dup (stdio closes its own). */
EXPORT int fclose(FILE *fp) {
    hl_file f;
    int fd;
    if (likely(sh_nrec == 0) || sh_guard || (fd = fileno(fp)) < 0 || !sh_fd_lookup(fd, &f) ||
        f.kind == SH_KIND_PRIVATE || sh_in_vfork())
        return REAL(fclose)(fp);
    int keep = f.kind == HL_KIND_WRITE ? REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0) : -1;
    sh_fd_clear(fd);
    int r = REAL(fclose)(fp);
    if (keep >= 0) {
        int saved = errno;
        const hl_engine_api *E = sh_engine();
        int rc = E ? ECALL(E->release(keep, &f)) : REAL(close)(keep);
        errno = saved;
        if (rc < 0 && r == 0) r = sh_ret(rc);
    }
    return r;
}

static FILE *do_freopen(const char *p, const char *mode, FILE *fp) {
    int flags;
    if (!p || !mode || sh_open_flags_from_mode(mode, &flags) < 0) return REAL(freopen)(p, mode, fp);
    SH_ROUTE(v, (flags & O_CREAT) ? SH_CREATE : SH_LOOKUP, AT_FDCWD, p, 0, REAL(freopen)(v.host, mode, fp));
    /* Keep the FILE: open the new file, then move it onto the stream's fd. */
    int fd = sh_vopen(&v, flags | O_CLOEXEC, 0666);
    if (fd < 0) return NULL;
    fflush(fp);
    int old = fileno(fp);
    hl_file of;
    if (sh_fd_lookup(old, &of) && of.kind == HL_KIND_WRITE) {
        const hl_engine_api *E = sh_engine();
        sh_fd_clear(old);
        if (E) ECALL(E->release(REAL(fcntl)(old, F_DUPFD_CLOEXEC, 0), &of));
    }
    if (REAL(dup3)(fd, old, (flags & O_CLOEXEC)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    sh_fd_after_dup(fd, old);
    sh_fd_clear(fd);
    REAL(close)(fd);
    clearerr(fp);
    if (flags & O_APPEND) fseeko(fp, 0, SEEK_END);
    else rewind(fp);
    return fp;
}
EXPORT FILE *freopen(const char *p, const char *m, FILE *fp) { return do_freopen(p, m, fp); }
EXPORT FILE *freopen64(const char *p, const char *m, FILE *fp) { return do_freopen(p, m, fp); }
