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

EXPORT int glob(const char *pat, int fl, int (*err)(const char *, int), glob_t *g) {
    if ((fl & GLOB_ALTDIRFUNC) || !virtual_root(pat)) return REAL(glob)(pat, fl, err, g);
    hook(g);
    return REAL(glob)(pat, fl | GLOB_ALTDIRFUNC, err, g);
}
EXPORT int glob64(const char *pat, int fl, int (*err)(const char *, int), glob64_t *g) {
    if ((fl & GLOB_ALTDIRFUNC) || !virtual_root(pat)) return REAL(glob64)(pat, fl, err, g);
    hook((glob_t *)g);
    return REAL(glob64)(pat, fl | GLOB_ALTDIRFUNC, err, g);
}

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
EXPORT int nftw(const char *p, int (*fn)(const char *, const struct stat *, int, struct FTW *), int nfd, int fl) {
    return virtual_root(p) ? walk(p, (void *)fn, fl, 0) : REAL(nftw)(p, (sh_nftw_fn)fn, nfd, fl);
}
EXPORT int nftw64(const char *p, int (*fn)(const char *, const struct stat64 *, int, struct FTW *), int nfd, int fl) {
    return nftw(p, (int (*)(const char *, const struct stat *, int, struct FTW *))fn, nfd, fl);
}
