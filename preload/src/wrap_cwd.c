/* Working directory: chdir, fchdir, getcwd family. */
#include "shim.h"

static int host_chdir(const char *p) {
    int r = REAL(chdir)(p);
    if (r == 0) sh_vcwd_clear();
    return r;
}

/* fd is a placeholder directory for (mount, ino): move there. */
static int enter(int fd, int32_t mount, uint64_t ino) {
    struct stat st;
    if (REAL(fchdir)(fd) < 0) return -errno;
    if (REAL(fstat)(fd, &st) < 0) return -errno;
    sh_vcwd_set(mount, ino, st.st_dev, st.st_ino);
    return 0;
}

EXPORT int chdir(const char *p) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, host_chdir(v.host));
    SH_ENGINE(E, -1);
    hl_file f;
    int fd = ECALL(E->chdir(&v.loc, &f));
    if (fd == -HL_REDIRECT) SH_FINISH(v, fd, host_chdir(v.host));
    if (fd < 0) return sh_ret(fd);
    int rc = enter(fd, f.mount, f.ino);
    REAL(close)(fd);
    return sh_ret(rc);
}

EXPORT int fchdir(int fd) {
    hl_file f;
    if (sh_pass() || likely(!sh_fd_lookup(fd, &f)) || (f.kind != HL_KIND_DIR && f.kind != HL_KIND_PATH)) {
        int r = REAL(fchdir)(fd);
        if (r == 0 && !sh_guard) sh_vcwd_clear();
        return r;
    }
    return sh_ret(enter(fd, f.mount, f.ino));
}

/* The virtual cwd as a full path; -errno. */
static long vcwd_path(char *out) {
    SH_ENGINE(E, -errno);
    char tmp[PATH_MAX];
    ssize_t n = ECALL(E->getpath(sh_vcwd_mount, sh_vcwd_ino, tmp, sizeof tmp));
    if (n < 0) return n;
    size_t len = sh_strlcpy(out, sh_prefix[sh_vcwd_mount], PATH_MAX);
    if (strcmp(tmp, "/")) {
        if (len + (size_t)n >= PATH_MAX) return -ENAMETOOLONG;
        len += sh_strlcpy(out + len, tmp, PATH_MAX - len);
    }
    return (long)len;
}

EXPORT char *getcwd(char *buf, size_t size) {
    if (sh_pass() || likely(!sh_vcwd_on)) return REAL(getcwd)(buf, size);
    char path[PATH_MAX];
    long n = vcwd_path(path);
    if (n < 0) { errno = (int)-n; return NULL; }
    if (buf && size == 0) { errno = EINVAL; return NULL; }
    if (size && size < (size_t)n + 1) { errno = ERANGE; return NULL; }
    if (!buf) return strdup(path);
    int rc = sh_copyout(buf, path, (size_t)n + 1);
    if (rc < 0) { errno = -rc; return NULL; }
    return buf;
}

EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen) {
    (void)buflen;
    return getcwd(buf, size);
}

EXPORT char *getwd(char *buf) {
    if (sh_pass() || likely(!sh_vcwd_on)) return REAL(getwd)(buf);
    return getcwd(buf, PATH_MAX);
}

EXPORT char *get_current_dir_name(void) {
    if (sh_pass() || likely(!sh_vcwd_on)) return REAL(get_current_dir_name)();
    return getcwd(NULL, 0);
}
