/* mkstemp family, mkdtemp, mktemp, tempnam on virtual templates. */
#include "shim.h"
#include <time.h>

static uint64_t rnd_state;
static uint64_t rnd(void) {
    uint64_t x = rnd_state;
    if (!x) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)sh_pid << 40) ^ (uintptr_t)&x;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rnd_state = x;
    return x;
}

enum { T_FILE, T_DIR, T_NAME };

/* Returns fd (T_FILE), 0 (T_DIR/T_NAME) or -1; 1 with *host set when the template is not
 * virtual (the caller uses the real function). */
static int vtemp(char *tmpl, int suffix, int flags, int what, int *fd_out) {
    vpath v;
    v.host = tmpl;
    int k = sh_classify(&v, AT_FDCWD, tmpl);
    if (k == SH_ERR) return -1;
    if (k == SH_HOST) return 1;
    size_t len = strlen(v.buf);
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if (suffix < 0 || len < (size_t)suffix + 6 || memcmp(v.buf + len - suffix - 6, "XXXXXX", 6)) {
        errno = EINVAL;
        return -1;
    }
    char *x = v.buf + len - suffix - 6;
    SH_ENGINE(E, -1);
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint64_t r = rnd();
        for (int i = 0; i < 6; i++, r /= 62) x[i] = chars[r % 62];
        int rc;
        if (what == T_FILE) {
            hl_file f = {0, 0, 0};
            rc = ECALL(E->open(&v.loc, O_RDWR | O_CREAT | O_EXCL | (flags & ~O_ACCMODE), 0600, &f));
            if (rc >= 0 && f.kind != HL_KIND_NONE) sh_fd_set(rc, &f);
        } else if (what == T_DIR) {
            rc = ECALL(E->mkdir(&v.loc, 0700));
        } else {
            hl_stat st;
            rc = ECALL(E->stat(&v.loc, AT_SYMLINK_NOFOLLOW, &st));
            rc = rc == -ENOENT ? 0 : rc == 0 ? -EEXIST : rc;
        }
        if (rc == -EEXIST) continue;
        if (rc < 0) return sh_ret(rc == -HL_REDIRECT ? -EXDEV : rc);
        if (sh_copyout(tmpl + (x - v.buf), x, 6) < 0) return sh_ret(-EFAULT);
        *fd_out = rc;
        return 0;
    }
    errno = EEXIST;
    return -1;
}

/* The template's X's are at the same offset in the user's string and in our copy. */
#define MKS(name, call, sfx, fl)                                                      \
    {                                                                                 \
        int fd;                                                                       \
        if (sh_pass()) return call;                                                   \
        int k = vtemp(t, sfx, fl, T_FILE, &fd);                                       \
        if (k == 1) return call;                                                      \
        return k < 0 ? -1 : fd;                                                       \
    }

EXPORT int mkstemp(char *t) MKS(mkstemp, REAL(mkstemp)(t), 0, 0)
EXPORT int mkstemp64(char *t) MKS(mkstemp64, REAL(mkstemp)(t), 0, 0)
EXPORT int mkostemp(char *t, int f) MKS(mkostemp, REAL(mkostemp)(t, f), 0, f)
EXPORT int mkostemp64(char *t, int f) MKS(mkostemp64, REAL(mkostemp)(t, f), 0, f)
EXPORT int mkstemps(char *t, int s) MKS(mkstemps, REAL(mkstemps)(t, s), s, 0)
EXPORT int mkstemps64(char *t, int s) MKS(mkstemps64, REAL(mkstemps)(t, s), s, 0)
EXPORT int mkostemps(char *t, int s, int f) MKS(mkostemps, REAL(mkostemps)(t, s, f), s, f)
EXPORT int mkostemps64(char *t, int s, int f) MKS(mkostemps64, REAL(mkostemps)(t, s, f), s, f)

EXPORT char *mkdtemp(char *t) {
    int fd;
    if (sh_pass()) return REAL(mkdtemp)(t);
    int k = vtemp(t, 0, 0, T_DIR, &fd);
    if (k == 1) return REAL(mkdtemp)(t);
    return k < 0 ? NULL : t;
}

EXPORT char *mktemp(char *t) {
    int fd;
    if (sh_pass()) return REAL(mktemp)(t);
    int k = vtemp(t, 0, 0, T_NAME, &fd);
    if (k == 1) return REAL(mktemp)(t);
    if (k < 0) t[0] = 0;
    return t;
}

/* tempnam: glibc checks TMPDIR / dir with an internal stat; pick a virtual one ourselves. */
EXPORT char *tempnam(const char *dir, const char *pfx) {
    const char *cands[2] = {getenv("TMPDIR"), dir};
    if (!sh_pass()) {
        for (int i = 0; i < 2; i++) {
            const char *d = cands[i];
            struct stat st;
            if (!d || sh_stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) continue;
            vpath v;
            if (sh_classify(&v, AT_FDCWD, d) != SH_VIRT) break;
            char buf[PATH_MAX];
            size_t n = sh_strlcpy(buf, d, sizeof buf - 20);
            while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
            n += sh_strlcpy(buf + n, "/", 2);
            n += sh_strlcpy(buf + n, pfx ? pfx : "file", 6);
            sh_strlcpy(buf + n, "XXXXXX", 7);
            return mktemp(buf)[0] ? strdup(buf) : NULL;
        }
    }
    return REAL(tempnam)(dir, pfx);
}

EXPORT char *tmpnam(char s[L_tmpnam]) { return REAL(tmpnam)(s); }
EXPORT char *tmpnam_r(char s[L_tmpnam]) { return REAL(tmpnam_r)(s); }
