/* Path classification: prefix match, virtual cwd, virtual dirfds, host symlinks into a prefix. */
#include "shim.h"

volatile int sh_vcwd_on;
int32_t sh_vcwd_mount;
uint64_t sh_vcwd_ino, sh_vcwd_pdev, sh_vcwd_pino;

void sh_vcwd_set(int32_t mount, uint64_t ino, uint64_t pdev, uint64_t pino) {
    sh_vcwd_mount = mount;
    sh_vcwd_ino = ino;
    sh_vcwd_pdev = pdev;
    sh_vcwd_pino = pino;
    __atomic_store_n(&sh_vcwd_on, 1, __ATOMIC_RELEASE);
}

void sh_vcwd_clear(void) { __atomic_store_n(&sh_vcwd_on, 0, __ATOMIC_RELEASE); }

int sh_match_abs(const char *p, const char **rest) {
    if (p[0] != '/') return -1;
    while (p[1] == '/') p++;
    for (int i = 0; i < sh_nmounts; i++) {
        size_t n = sh_plen[i];
        if (p[1] == sh_prefix[i][1] && !strncmp(p, sh_prefix[i], n) && (p[n] == 0 || p[n] == '/')) {
            if (rest) *rest = p[n] ? p + n : "/";
            return i;
        }
    }
    return -1;
}

/* Does a relative path against dirfd land in a mount? */
int sh_dir_virtual(int dirfd) {
    if (dirfd == AT_FDCWD) return sh_vcwd_on;
    hl_file f;
    return sh_fd_lookup(dirfd, &f) && (f.kind == HL_KIND_DIR || f.kind == HL_KIND_PATH);
}

static int classify_buf(vpath *v, int dirfd);

/* Full classification of a path we may not have read yet. */
int sh_classify(vpath *v, int dirfd, const char *p) {
    int r = sh_copy_str(v->buf, p);
    if (r < 0) { errno = -r; return SH_ERR; }
    return classify_buf(v, dirfd);
}

static int classify_buf(vpath *v, int dirfd) {
    v->loc.reserved = 0;
    v->loc.dir = 0;
    if (v->buf[0] == '/') {
        const char *rest;
        int m = sh_match_abs(v->buf, &rest);
        if (m < 0) return SH_HOST;
        v->loc.mount = m;
        v->loc.path = rest;
        return SH_VIRT;
    }
    if (dirfd == AT_FDCWD) {
        if (!sh_vcwd_on) return SH_HOST;
        v->loc.mount = sh_vcwd_mount;
        v->loc.dir = sh_vcwd_ino;
    } else {
        hl_file f;
        if (!sh_fd_lookup(dirfd, &f) || (f.kind != HL_KIND_DIR && f.kind != HL_KIND_PATH)) return SH_HOST;
        v->loc.mount = f.mount;
        v->loc.dir = f.ino;
    }
    if (!v->buf[0]) { errno = ENOENT; return SH_ERR; }
    v->loc.path = v->buf;
    return SH_VIRT;
}

/* Skip leading "./" and "../" components (and extra slashes); *ups counts the "..". */
static const char *skip_dots(const char *p, int *ups) {
    for (;;) {
        while (*p == '/') p++;
        if (p[0] == '.' && (p[1] == '/' || !p[1])) p += 1;
        else if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2])) { p += 2; (*ups)++; }
        else return p;
    }
}

/* Is the first real component of a relative path a component of some mount prefix? Only
 * then can the path reach a prefix from a host directory (cheap filter for the ENOENT path). */
static int rel_may_reach(const char *rel) {
    int ups = 0;
    rel = skip_dots(rel, &ups);
    size_t n = strcspn(rel, "/");
    if (n == 0) return 0;
    for (int i = 0; i < sh_nmounts; i++)
        for (const char *c = sh_prefix[i]; *c;) {
            while (*c == '/') c++;
            size_t m = strcspn(c, "/");
            if (m == n && !memcmp(c, rel, n)) return 1;
            c += m;
        }
    return 0;
}

/* The absolute path of `rel` against the host directory dirfd (AT_FDCWD: the host cwd), with
 * its leading "." and ".." applied to the directory's canonical path; 0 or -1. */
static int host_dir_join(int dirfd, const char *rel, char *out) {
    char dir[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (!REAL(getcwd)(dir, sizeof dir)) return -1;
    } else {
        char link[32] = "/proc/self/fd/";
        *sh_utoa(link + 14, (unsigned)dirfd) = 0;
        ssize_t t = REAL(readlink)(link, dir, sizeof dir - 1);
        if (t <= 0) return -1;
        dir[t] = 0;
    }
    if (dir[0] != '/') return -1;
    int ups = 0;
    rel = skip_dots(rel, &ups);
    size_t len = strlen(dir);
    while (ups-- > 0) {
        while (len > 1 && dir[len - 1] != '/') len--;
        if (len > 1) len--;
    }
    dir[len] = 0;
    if (len + 1 + strlen(rel) >= PATH_MAX) return -1;
    memcpy(out, dir, len);
    out[len] = '/';
    strcpy(out + len + 1, rel);
    return 0;
}

/* First step of SH_ROUTE. SH_HOST means "do the real call first". */
int sh_route(vpath *v, int kind, int dirfd, const char *p) {
    if (sh_dir_virtual(dirfd)) return sh_classify(v, dirfd, p);
    if (kind == SH_LOOKUP) return SH_HOST;
    /* Creating calls: never let the real call create the prefix itself on the host. */
    char head[258];
    size_t got = sh_peek_str(head, p, sizeof head - 1);
    if (got == 0) { errno = EFAULT; return SH_ERR; }
    head[got] = 0;
    if (sh_match_abs(head, NULL) >= 0) return sh_classify(v, dirfd, p);
    if (memchr(head, 0, got) || got == sizeof head - 1) {
        /* mkdirat(fd of "/", "hilbert") must not create the prefix on the host either */
        char abs[PATH_MAX];
        if (head[0] != '/' && memchr(head, 0, got) && rel_may_reach(head) && host_dir_join(dirfd, head, abs) == 0 &&
            sh_match_abs(abs, NULL) >= 0)
            return sh_classify(v, AT_FDCWD, abs);
        return SH_HOST;
    }
    return sh_classify(v, dirfd, p);
}

/* The real call said ENOENT: the path may be absolute-virtual, relative to a host directory
 * above a prefix (openat(fd of "/", "hilbert/x"), or chdir("/") then "hilbert/x"), or cross a
 * host symlink. */
int sh_after_enoent(vpath *v, int dirfd, int nofollow) {
    int saved = errno;
    /* The kernel just read the string (ENOENT, not EFAULT): plain access is safe here. */
    size_t n = strnlen(v->host, PATH_MAX);
    if (n >= PATH_MAX) return SH_HOST;
    memcpy(v->buf, v->host, n + 1);
    int k = classify_buf(v, dirfd);
    if (k != SH_HOST) return k;
    if (v->buf[0] && v->buf[0] != '/' && rel_may_reach(v->buf)) {
        char abs[PATH_MAX];
        if (host_dir_join(dirfd, v->buf, abs) == 0) {
            memcpy(v->buf, abs, strlen(abs) + 1);
            dirfd = AT_FDCWD;
            k = classify_buf(v, dirfd);
            if (k != SH_HOST) return k;
        }
    }
    if (!sh_hostlinks || (dirfd != AT_FDCWD && v->buf[0] != '/')) { errno = saved; return SH_HOST; }
    char out[PATH_MAX];
    int r = sh_hostlink(v->buf, nofollow, out);
    if (r < 0) return SH_ERR;
    errno = saved;
    if (r == 0) return SH_HOST;
    memcpy(v->buf, out, strlen(out) + 1);
    return sh_classify(v, AT_FDCWD, v->buf) == SH_VIRT ? SH_VIRT : SH_HOST;
}

static size_t dirlen(const char *p, size_t n) {
    while (n > 0 && p[n - 1] != '/') n--;
    return n; /* length including the trailing '/', 0 for a bare name */
}

/* Replace the first `n` bytes of cur (a symlink path) by its target; rest follows. */
static int link_splice(char *cur, size_t n, const char *target, size_t tlen) {
    char tmp[PATH_MAX];
    size_t keep = target[0] == '/' ? 0 : dirlen(cur, n);
    size_t rest = strlen(cur + n);
    if (keep + tlen + rest >= PATH_MAX) return -ENAMETOOLONG;
    memcpy(tmp, cur, keep);
    memcpy(tmp + keep, target, tlen);
    memcpy(tmp + keep + tlen, cur + n, rest + 1);
    memcpy(cur, tmp, keep + tlen + rest + 1);
    return 0;
}

/* Returns 1 with `out` = an absolute virtual path when `path` reaches a prefix through host
 * symlinks, 0 when the ENOENT is genuine, -1 (errno) on ELOOP/ENAMETOOLONG. */
int sh_hostlink(const char *path, int nofollow, char *out) {
    char cur[PATH_MAX], tgt[PATH_MAX];
    struct stat st;
    sh_strlcpy(cur, path, sizeof cur);
    for (int links = 0;; links++) {
        if (links > 40) { errno = ELOOP; return -1; }
        if (sh_match_abs(cur, NULL) >= 0) { memcpy(out, cur, strlen(cur) + 1); return 1; }
        size_t len = strlen(cur);
        while (len > 1 && cur[len - 1] == '/') len--;
        if (!nofollow) {
            if (REAL(lstat)(cur, &st) == 0) {
                if (!S_ISLNK(st.st_mode)) return 0;
                ssize_t t = REAL(readlink)(cur, tgt, sizeof tgt - 1);
                if (t <= 0) return 0;
                cur[len] = 0;
                if (link_splice(cur, len, tgt, (size_t)t) < 0) return 0;
                continue;
            }
            if (errno != ENOENT) return 0;
        }
        /* Is the parent fine on the host? Then the ENOENT is genuine. */
        size_t dl = dirlen(cur, len);
        if (dl == 0) return 0;
        char c = cur[dl];
        cur[dl] = 0;
        int parent_ok = REAL(stat)(cur, &st) == 0;
        cur[dl] = c;
        if (parent_ok) return 0;
        /* Walk the components for the symlink that leaves the host. */
        size_t i = 0;
        int found = 0;
        while (i < len && !found) {
            while (i < len && cur[i] == '/') i++;
            while (i < len && cur[i] != '/') i++;
            if (i >= len) break;
            char save = cur[i];
            cur[i] = 0;
            int lr = REAL(lstat)(cur, &st);
            if (lr == 0 && S_ISLNK(st.st_mode)) {
                ssize_t t = REAL(readlink)(cur, tgt, sizeof tgt - 1);
                cur[i] = save;
                if (t <= 0 || link_splice(cur, i, tgt, (size_t)t) < 0) return 0;
                found = 1;
            } else {
                cur[i] = save;
                if (lr != 0) return 0;
            }
        }
        if (!found) return 0;
    }
}

int sh_take_redirect(vpath *v) {
    const hl_engine_api *E = sh_engine();
    if (!E) return -1;
    ssize_t n = ECALL(E->take_redirect(v->buf, sizeof v->buf));
    if (n < 0) { errno = (int)-n; return -1; }
    v->host = v->buf;
    return 0;
}
