/* glob (through GLOB_ALTDIRFUNC hooks) and ftw/nftw (own walk) on virtual roots. */
#include "shim.h"
#include <ftw.h>

static int virtual_root(const char *p) {
    if (!p || sh_pass()) return 0;
    return p[0] == '/' ? sh_match_abs(p, NULL) >= 0 : sh_vcwd_on;
}

static void *g_readdir(void *d) { return sh_readdir64((DIR *)d); }
static void g_closedir(void *d) { sh_closedir((DIR *)d); }
static void *g_opendir(const char *p) { return sh_opendir(p); }

static void hook(glob_t *g) {
    g->gl_closedir = g_closedir;
    g->gl_readdir = (struct dirent * (*)(void *)) g_readdir;
    g->gl_opendir = g_opendir;
    g->gl_lstat = (int (*)(const char *, struct stat *))sh_lstat;
    g->gl_stat = (int (*)(const char *, struct stat *))sh_stat;
}

typedef int (*glob_fn)(const char *, int, int (*)(const char *, int), glob_t *);

/* glob and glob64 (one function on x86_64) have two versions with the same glob_t layout.
 * glob@GLIBC_2.2.5 (binaries linked before glibc 2.27) never calls gl_lstat, which old callers'
 * GLOB_ALTDIRFUNC hooks may leave unset: with GLOB_ALTDIRFUNC it checks names without
 * metacharacters with gl_stat where glob@@GLIBC_2.27 uses gl_lstat (so only the new one finds
 * a dangling symlink). Without GLOB_ALTDIRFUNC the two behave the same on glibc 2.36 (both
 * lstat; measured with strace). Hence:
 *  - host pattern, or the caller's own GLOB_ALTDIRFUNC: the same real version as the caller's;
 *  - virtual pattern without caller hooks: our hooks and the NEW real glob, for both versions.
 *    The caller's ABI is identical there, and the old real glob would turn its lstat checks
 *    into gl_stat calls on our hooks, i.e. behave on the volume unlike on the host. (glibc
 *    2.27-2.35 may still stat there in the old version; under the compat shim a dangling
 *    virtual symlink then matches where a host one would not.) */
static int glob_new(const char *p, int f, int (*e)(const char *, int), glob_t *g) { return REAL(glob)(p, f, e, g); }
static int glob_old(const char *p, int f, int (*e)(const char *, int), glob_t *g) { return REAL_OLD(glob_2_2_5)(p, f, e, g); }
static int glob64_new(const char *p, int f, int (*e)(const char *, int), glob_t *g) { return REAL(glob64)(p, f, e, g); }
static int glob64_old(const char *p, int f, int (*e)(const char *, int), glob_t *g) { return REAL_OLD(glob64_2_2_5)(p, f, e, g); }
/* `real`: the caller's version; `hooked`: the new one of the same name (see above). */
static int do_glob(glob_fn real, glob_fn hooked, const char *pat, int fl, int (*err)(const char *, int), glob_t *g) {
    if ((fl & GLOB_ALTDIRFUNC) || !virtual_root(pat)) return real(pat, fl, err, g);
    hook(g);
    return hooked(pat, fl | GLOB_ALTDIRFUNC, err, g);
}

typedef int (*glob_err_fn)(const char *, int);
EXPORT int sh_v_glob(const char *p, int f, glob_err_fn e, glob_t *g) { return do_glob(glob_new, glob_new, p, f, e, g); }
EXPORT int sh_v_glob_old(const char *p, int f, glob_err_fn e, glob_t *g) { return do_glob(glob_old, glob_new, p, f, e, g); }
EXPORT int sh_v_glob64(const char *p, int f, glob_err_fn e, glob64_t *g) { return do_glob(glob64_new, glob64_new, p, f, e, (glob_t *)g); }
EXPORT int sh_v_glob64_old(const char *p, int f, glob_err_fn e, glob64_t *g) { return do_glob(glob64_old, glob64_new, p, f, e, (glob_t *)g); }
SH_SYMVER(sh_v_glob, "glob@@GLIBC_2.27");
SH_SYMVER(sh_v_glob_old, "glob@GLIBC_2.2.5");
SH_SYMVER(sh_v_glob64, "glob64@@GLIBC_2.27");
SH_SYMVER(sh_v_glob64_old, "glob64@GLIBC_2.2.5");

typedef struct {
    void *fn;
    int flags, old;
    dev_t dev;
} walker;

static int call(walker *w, const char *path, const struct stat *st, int type, int base, int level) {
    if (w->old) return ((sh_ftw_fn)w->fn)(path, st, type);
    struct FTW f = {base, level};
    return ((int (*)(const char *, const struct stat *, int, struct FTW *))w->fn)(path, st, type, &f);
}

/* Returns the callback's verdict (FTW_SKIP_SIBLINGS is handled by the caller's loop). */
static int visit(walker *w, char *path, size_t len, int base, int level) {
    struct stat st;
    int phys = w->flags & FTW_PHYS, type;
    memset(&st, 0, sizeof st);
    if ((phys ? sh_lstat(path, &st) : sh_stat(path, &st)) < 0) {
        type = (!phys && sh_lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) ? FTW_SLN : FTW_NS;
    } else if (S_ISDIR(st.st_mode)) {
        type = FTW_D;
    } else {
        type = S_ISLNK(st.st_mode) ? FTW_SL : FTW_F;
    }
    if (level == 0) w->dev = st.st_dev;
    if (type != FTW_D) return call(w, path, &st, type, base, level);
    if ((w->flags & FTW_MOUNT) && st.st_dev != w->dev) return 0;
    DIR *d = sh_opendir(path);
    if (!d) return call(w, path, &st, FTW_DNR, base, level);
    int r = 0, act = w->flags & FTW_ACTIONRETVAL;
    if (!(w->flags & FTW_DEPTH)) {
        r = call(w, path, &st, FTW_D, base, level);
        if (act && r == FTW_SKIP_SUBTREE) { sh_closedir(d); return 0; }
        if (r) { sh_closedir(d); return r; }
    }
    /* Read all names first: one open directory per level at most briefly. */
    char *names = NULL;
    size_t used = 0, cap = 0;
    struct dirent64 *e;
    while ((e = sh_readdir64(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t n = strlen(e->d_name) + 1;
        if (used + n > cap) {
            cap = (cap + n) * 2;
            char *nn = realloc(names, cap);
            if (!nn) { free(names); sh_closedir(d); errno = ENOMEM; return -1; }
            names = nn;
        }
        memcpy(names + used, e->d_name, n);
        used += n;
    }
    sh_closedir(d);
    size_t blen = len;
    if (blen > 1 && path[blen - 1] == '/') blen--;
    for (size_t off = 0; off < used && !r; off += strlen(names + off) + 1) {
        size_t n = strlen(names + off);
        if (blen + n + 2 > PATH_MAX) continue;
        path[blen] = '/';
        memcpy(path + blen + 1, names + off, n + 1);
        r = visit(w, path, blen + 1 + n, (int)blen + 1, level + 1);
        path[len] = 0;
        if (act && r == FTW_SKIP_SIBLINGS) { r = 0; break; }
        if (act && r == FTW_SKIP_SUBTREE) r = 0;
    }
    path[len] = 0;
    free(names);
    if (!r && (w->flags & FTW_DEPTH)) r = call(w, path, &st, FTW_DP, base, level);
    return r;
}

static int walk(const char *root, void *fn, int flags, int old) {
    char path[PATH_MAX];
    int rc = sh_copy_str(path, root);
    if (rc < 0) return sh_ret(rc);
    if (!path[0]) { errno = ENOENT; return -1; }
    size_t len = strlen(path), base = len;
    while (base > 0 && path[base - 1] != '/') base--;
    if (base == len) base = 0;
    walker w = {fn, flags, old, 0};
    rc = visit(&w, path, len, (int)base, 0);
    if ((flags & FTW_ACTIONRETVAL) && (rc == FTW_SKIP_SUBTREE || rc == FTW_SKIP_SIBLINGS)) rc = 0;
    return rc;
}

EXPORT int ftw(const char *p, sh_ftw_fn fn, int nfd) {
    return virtual_root(p) ? walk(p, (void *)fn, 0, 1) : REAL(ftw)(p, fn, nfd);
}
EXPORT int ftw64(const char *p, int (*fn)(const char *, const struct stat64 *, int), int nfd) {
    return ftw(p, (sh_ftw_fn)fn, nfd);
}
/* nftw and nftw64 (one function on x86_64) have two versions. nftw@@GLIBC_2.3.3 fails with
 * EINVAL on a flag it does not know and honours FTW_ACTIONRETVAL; nftw@GLIBC_2.2.5 predates
 * FTW_ACTIONRETVAL and silently drops every flag but FTW_PHYS|FTW_MOUNT|FTW_CHDIR|FTW_DEPTH
 * (a callback's FTW_SKIP_SUBTREE, 2, then just stops the walk with 2). Host paths go to the
 * same real version; the virtual walk applies the same flag rule itself. */
#define NFTW_OLD_FLAGS (FTW_PHYS | FTW_MOUNT | FTW_CHDIR | FTW_DEPTH)
typedef int (*nftw_real)(const char *, sh_nftw_fn, int, int);
static int do_nftw(nftw_real real, int old, const char *p, void *fn, int nfd, int fl) {
    if (!virtual_root(p)) return real(p, (sh_nftw_fn)fn, nfd, fl);
    if (old) fl &= NFTW_OLD_FLAGS;
    if (fl & ~(NFTW_OLD_FLAGS | FTW_ACTIONRETVAL)) { errno = EINVAL; return -1; }
    return walk(p, fn, fl, 0);
}
typedef int (*nftw_cb)(const char *, const struct stat *, int, struct FTW *);
typedef int (*nftw64_cb)(const char *, const struct stat64 *, int, struct FTW *);
EXPORT int sh_v_nftw(const char *p, nftw_cb fn, int nfd, int fl) { return do_nftw(REAL(nftw), 0, p, (void *)fn, nfd, fl); }
EXPORT int sh_v_nftw_old(const char *p, nftw_cb fn, int nfd, int fl) { return do_nftw(REAL_OLD(nftw_2_2_5), 1, p, (void *)fn, nfd, fl); }
EXPORT int sh_v_nftw64(const char *p, nftw64_cb fn, int nfd, int fl) { return do_nftw(REAL(nftw64), 0, p, (void *)fn, nfd, fl); }
EXPORT int sh_v_nftw64_old(const char *p, nftw64_cb fn, int nfd, int fl) {
    return do_nftw(REAL_OLD(nftw64_2_2_5), 1, p, (void *)fn, nfd, fl);
}
SH_SYMVER(sh_v_nftw, "nftw@@GLIBC_2.3.3");
SH_SYMVER(sh_v_nftw_old, "nftw@GLIBC_2.2.5");
SH_SYMVER(sh_v_nftw64, "nftw64@@GLIBC_2.3.3");
SH_SYMVER(sh_v_nftw64_old, "nftw64@GLIBC_2.2.5");
