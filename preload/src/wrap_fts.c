/* fts on virtual roots: a small re-implementation (no chdir; fts_accpath == fts_path).
 * Streams with only host roots go to glibc. FTS64/FTSENT64 share the layout on x86_64. */
#include "shim.h"
#include <fts.h>
#include <stddef.h>

typedef struct vfts {
    FTS pub;             /* first: callers may read the public fields */
    FTSENT *root;        /* dummy parent of the roots (level FTS_ROOTPARENTLEVEL) */
    FTSENT *cur;
    int opts, done;
    int (*cmp)(const FTSENT **, const FTSENT **);
    struct vfts *next;
} vfts;

typedef struct vent {
    FTSENT *kids; /* loaded children of a directory entry */
    FTSENT e;     /* last: fts_name continues past the struct */
} vent;
#define VENT(x) ((vent *)((char *)(x) - offsetof(vent, e)))
#define KIDS(x) (VENT(x)->kids)

static vfts *streams;
volatile int sh_fts_lock;

static vfts *find(void *p) {
    vfts *r = NULL;
    if (likely(!streams) || !p) return NULL;
    sh_lock(&sh_fts_lock);
    for (vfts *s = streams; s; s = s->next)
        if (s == p) r = s;
    sh_unlock(&sh_fts_lock);
    return r;
}

static FTSENT *node(FTSENT *parent, const char *path, const char *name, int level) {
    size_t nl = strlen(name), pl = strlen(path);
    vent *v = calloc(1, sizeof *v + nl + 1);
    if (!v) return NULL;
    FTSENT *e = &v->e;
    e->fts_path = malloc(pl + 1);
    e->fts_statp = calloc(1, sizeof(struct stat));
    if (!e->fts_path || !e->fts_statp) { free(e->fts_path); free(e->fts_statp); free(v); return NULL; }
    memcpy(e->fts_path, path, pl + 1);
    memcpy(e->fts_name, name, nl + 1);
    e->fts_accpath = e->fts_path;
    e->fts_pathlen = (unsigned short)pl;
    e->fts_namelen = (unsigned short)nl;
    e->fts_parent = parent;
    e->fts_level = (short)level;
    return e;
}

static void fill(vfts *s, FTSENT *e, int follow) {
    struct stat *st = e->fts_statp;
    if ((s->opts & FTS_NOSTAT) && e->fts_level > 0) { e->fts_info = FTS_NSOK; return; }
    int logical = (s->opts & FTS_LOGICAL) || follow ||
                  (e->fts_level == 0 && (s->opts & FTS_COMFOLLOW));
    int r = logical ? sh_stat(e->fts_path, st) : sh_lstat(e->fts_path, st);
    if (r < 0 && logical && sh_lstat(e->fts_path, st) == 0) { e->fts_info = FTS_SLNONE; return; }
    if (r < 0) { e->fts_errno = errno; e->fts_info = FTS_NS; return; }
    e->fts_dev = st->st_dev;
    e->fts_ino = st->st_ino;
    e->fts_nlink = st->st_nlink;
    if (S_ISDIR(st->st_mode)) {
        e->fts_info = FTS_D;
        for (FTSENT *p = e->fts_parent; p && p->fts_level >= 0; p = p->fts_parent)
            if (p->fts_dev == e->fts_dev && p->fts_ino == e->fts_ino) { e->fts_info = FTS_DC; e->fts_cycle = p; }
    } else if (S_ISLNK(st->st_mode)) e->fts_info = FTS_SL;
    else if (S_ISREG(st->st_mode)) e->fts_info = FTS_F;
    else e->fts_info = FTS_DEFAULT;
}

static void free_list(FTSENT *e) {
    while (e) {
        FTSENT *n = e->fts_link;
        free(e->fts_path);
        free(e->fts_statp);
        free(VENT(e));
        e = n;
    }
}

static FTSENT *sort(vfts *s, FTSENT *head) {
    if (!s->cmp || !head) return head;
    size_t n = 0;
    for (FTSENT *e = head; e; e = e->fts_link) n++;
    FTSENT **v = malloc(n * sizeof *v);
    if (!v) return head;
    n = 0;
    for (FTSENT *e = head; e; e = e->fts_link) v[n++] = e;
    qsort(v, n, sizeof *v, (int (*)(const void *, const void *))s->cmp);
    for (size_t i = 0; i < n; i++) v[i]->fts_link = i + 1 < n ? v[i + 1] : NULL;
    head = v[0];
    free(v);
    return head;
}

/* Children of directory entry d, as a linked list (stored in d->fts_pointer's slot). */
static FTSENT *children(vfts *s, FTSENT *d) {
    DIR *dir = sh_opendir(d->fts_path);
    if (!dir) { d->fts_info = FTS_DNR; d->fts_errno = errno; return NULL; }
    FTSENT *head = NULL, **tail = &head;
    struct dirent64 *de;
    char path[PATH_MAX];
    size_t pl = strlen(d->fts_path);
    while (pl > 1 && d->fts_path[pl - 1] == '/') pl--;
    while ((de = sh_readdir64(dir))) {
        int dot = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
        if (dot && !(s->opts & FTS_SEEDOT)) continue;
        if (pl + strlen(de->d_name) + 2 > sizeof path) continue;
        memcpy(path, d->fts_path, pl);
        path[pl] = '/';
        strcpy(path + pl + 1, de->d_name);
        FTSENT *e = node(d, path, de->d_name, d->fts_level + 1);
        if (!e) break;
        if (dot) e->fts_info = FTS_DOT;
        else fill(s, e, 0);
        *tail = e;
        tail = &e->fts_link;
    }
    sh_closedir(dir);
    return sort(s, head);
}

static void *vopen(char *const *argv, int opts, int (*cmp)(const FTSENT **, const FTSENT **)) {
    vfts *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->opts = opts;
    s->cmp = cmp;
    s->root = node(NULL, "", "", FTS_ROOTPARENTLEVEL);
    FTSENT *head = NULL, **tail = &head;
    for (size_t i = 0; argv[i]; i++) {
        FTSENT *e = node(s->root, argv[i], argv[i], 0);
        if (!e) break;
        fill(s, e, 0);
        *tail = e;
        tail = &e->fts_link;
    }
    s->root->fts_link = NULL;
    KIDS(s->root) = sort(s, head);
    sh_lock(&sh_fts_lock);
    s->next = streams;
    streams = s;
    sh_unlock(&sh_fts_lock);
    return s;
}

static FTSENT *top(FTSENT *e) {
    while (e->fts_level > 0) e = e->fts_parent;
    return e;
}

static FTSENT *vread(vfts *s) {
    FTSENT *e = s->cur;
    if (s->done) return NULL;
    if (!e) return s->cur = KIDS(s->root) ? KIDS(s->root) : (s->done = 1, NULL);
    int instr = e->fts_instr;
    e->fts_instr = FTS_NOINSTR;
    if (instr == FTS_AGAIN) { fill(s, e, 0); return e; }
    if (instr == FTS_FOLLOW && (e->fts_info == FTS_SL || e->fts_info == FTS_SLNONE)) {
        fill(s, e, 1);
        if (e->fts_info == FTS_D) return e;
    }
    if (e->fts_info == FTS_D && instr != FTS_SKIP &&
        !((s->opts & FTS_XDEV) && e->fts_dev != top(e)->fts_dev)) {
        if (!KIDS(e)) KIDS(e) = children(s, e);
        if (KIDS(e)) return s->cur = KIDS(e);
        if (e->fts_info != FTS_DNR) e->fts_info = FTS_DP;
        return e;
    }
    if (e->fts_info == FTS_D) { e->fts_info = FTS_DP; return e; } /* skipped */
    for (;;) {
        if (e->fts_link) return s->cur = e->fts_link;
        FTSENT *p = e->fts_parent;
        if (!p || p->fts_level < 0) { s->done = 1; return NULL; }
        free_list(KIDS(p));
        KIDS(p) = NULL;
        p->fts_info = FTS_DP;
        return s->cur = p;
    }
}

static void free_tree(FTSENT *e) {
    while (e) {
        FTSENT *n = e->fts_link;
        free_tree(KIDS(e));
        e->fts_link = NULL;
        free_list(e);
        e = n;
    }
}

static int any_virtual(char *const *argv) {
    if (sh_pass() || !argv) return 0;
    for (size_t i = 0; argv[i]; i++)
        if (argv[i][0] == '/' ? sh_match_abs(argv[i], NULL) >= 0 : sh_vcwd_on) return 1;
    return 0;
}

typedef int (*cmp_t)(const FTSENT **, const FTSENT **);
EXPORT FTS *fts_open(char *const *argv, int opts, cmp_t cmp) {
    if (!any_virtual(argv)) return REAL(fts_open)(argv, opts, (void *)cmp);
    return (FTS *)vopen(argv, opts, cmp);
}
EXPORT FTSENT *fts_read(FTS *f) {
    vfts *s = find(f);
    return s ? vread(s) : REAL(fts_read)(f);
}
EXPORT FTSENT *fts_children(FTS *f, int opts) {
    vfts *s = find(f);
    if (!s) return REAL(fts_children)(f, opts);
    FTSENT *e = s->cur;
    if (!e) return KIDS(s->root);
    if (e->fts_info != FTS_D) { errno = 0; return NULL; }
    if (!KIDS(e)) KIDS(e) = children(s, e);
    return KIDS(e);
}
EXPORT int fts_set(FTS *f, FTSENT *e, int instr) {
    if (!find(f)) return REAL(fts_set)(f, e, instr);
    e->fts_instr = (unsigned short)instr;
    return 0;
}
EXPORT int fts_close(FTS *f) {
    vfts *s = find(f);
    if (!s) return REAL(fts_close)(f);
    sh_lock(&sh_fts_lock);
    for (vfts **p = &streams; *p; p = &(*p)->next)
        if (*p == s) { *p = s->next; break; }
    sh_unlock(&sh_fts_lock);
    free_tree(KIDS(s->root));
    free_list(s->root);
    free(s);
    return 0;
}

typedef int (*cmp64_t)(const FTSENT64 **, const FTSENT64 **);
EXPORT FTS64 *fts64_open(char *const *a, int o, cmp64_t c) {
    if (!any_virtual(a)) return REAL(fts64_open)(a, o, (void *)c);
    return vopen(a, o, (cmp_t)c);
}
EXPORT FTSENT64 *fts64_read(FTS64 *f) { return find(f) ? (void *)fts_read((FTS *)f) : REAL(fts64_read)(f); }
EXPORT FTSENT64 *fts64_children(FTS64 *f, int o) {
    return find(f) ? (void *)fts_children((FTS *)f, o) : REAL(fts64_children)(f, o);
}
EXPORT int fts64_set(FTS64 *f, FTSENT64 *e, int i) {
    return find(f) ? fts_set((FTS *)f, (FTSENT *)e, i) : REAL(fts64_set)(f, e, i);
}
EXPORT int fts64_close(FTS64 *f) { return find(f) ? fts_close((FTS *)f) : REAL(fts64_close)(f); }
