/* Directory streams. Virtual DIRs are our own objects, kept in a registry so that foreign
 * (glibc) DIR pointers are never dereferenced by us. */
#include "shim.h"

#define NREG 1024
typedef struct vdir {
    int fd;
    int32_t mount;
    uint64_t ino;
    uint64_t cookie; /* engine position of the next batch */
    uint64_t pos;    /* telldir: position after the last returned entry */
    size_t off, len;
    int eof;
    volatile int lock;
    struct dirent64 ent;
    char *buf;       /* small, then (from the second batch on) big when it could be allocated */
    size_t cap;
    int batches;
    char small[32768];
} vdir;

/* Batches after the first are bigger: a listing read to its end (ls -l, du, find, rsync) then
 * costs a quarter of the engine calls, each a round trip with metadata on a server, while a
 * caller that wants only the first few entries still pays for one small batch. */
#define BIG_BATCH (128 * 1024)

static vdir *volatile reg[NREG];
static volatile int nreg, reghigh;
volatile int sh_dirreg_lock;

static vdir *find(DIR *d) {
    if (likely(nreg == 0) || !d) return NULL;
    for (int i = 0; i < reghigh; i++)
        if (reg[i] == (vdir *)d) return (vdir *)d;
    return NULL;
}
int sh_is_vdir(DIR *d) { return find(d) != NULL; }

static int enroll(vdir *v) {
    sh_lock(&sh_dirreg_lock);
    for (int i = 0; i < NREG; i++) {
        if (!reg[i]) {
            reg[i] = v;
            if (i >= reghigh) reghigh = i + 1;
            nreg++;
            sh_unlock(&sh_dirreg_lock);
            return 0;
        }
    }
    sh_unlock(&sh_dirreg_lock);
    return -EMFILE;
}

static void unenroll(vdir *v) {
    sh_lock(&sh_dirreg_lock);
    for (int i = 0; i < reghigh; i++)
        if (reg[i] == v) { reg[i] = NULL; nreg--; }
    sh_unlock(&sh_dirreg_lock);
}

DIR *sh_vopendir_fd(int fd, const hl_file *f) {
    vdir *v = calloc(1, sizeof *v);
    if (!v) { errno = ENOMEM; return NULL; }
    v->fd = fd;
    v->buf = v->small;
    v->cap = sizeof v->small;
    v->mount = f->mount;
    v->ino = f->ino;
    int rc = enroll(v);
    if (rc < 0) { free(v); errno = -rc; return NULL; }
    return (DIR *)v;
}

static DIR *vopen(vpath *v) {
    int fd = sh_vopen(v, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return NULL;
    hl_file f;
    if (!sh_fd_lookup(fd, &f)) return REAL(fdopendir)(fd); /* redirected to the host */
    DIR *d = sh_vopendir_fd(fd, &f);
    if (!d) { int e = errno; close(fd); errno = e; }
    return d;
}

DIR *sh_opendir(const char *p) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, REAL(opendir)(v.host));
    return vopen(&v);
}
EXPORT DIR *opendir(const char *p) { return sh_opendir(p); }

EXPORT DIR *fdopendir(int fd) {
    hl_file f;
    if (sh_pass() || likely(!sh_fd_lookup(fd, &f)) || (f.kind != HL_KIND_DIR && f.kind != HL_KIND_PATH))
        return REAL(fdopendir)(fd);
    return sh_vopendir_fd(fd, &f);
}

int sh_closedir(DIR *d) {
    vdir *v = find(d);
    if (!v) return REAL(closedir)(d);
    unenroll(v);
    int r = close(v->fd);
    if (v->buf != v->small) free(v->buf);
    free(v);
    return r;
}
EXPORT int closedir(DIR *d) { return sh_closedir(d); }

struct dirent64 *sh_readdir64(DIR *d) {
    vdir *v = find(d);
    if (!v) return REAL(readdir64)(d);
    struct dirent64 *out = NULL;
    sh_spin_lock(&v->lock);
    if (v->off >= v->len && !v->eof) {
        if (v->batches++ == 1 && v->buf == v->small) {
            char *big = malloc(BIG_BATCH);
            if (big) { v->buf = big; v->cap = BIG_BATCH; }
        }
        const hl_engine_api *E = sh_engine();
        ssize_t n = E ? ECALL(E->readdir(v->mount, v->ino, &v->cookie, v->buf, v->cap)) : -errno;
        if (n < 0) { errno = (int)-n; goto out; }
        v->off = 0;
        v->len = (size_t)n;
        if (n == 0) v->eof = 1;
    }
    if (v->off < v->len) {
        const hl_dirent *r = (const hl_dirent *)(v->buf + v->off);
        v->off += r->reclen;
        v->pos = r->next;
        v->ent.d_ino = r->ino;
        v->ent.d_off = (off64_t)r->next;
        v->ent.d_reclen = sizeof v->ent;
        v->ent.d_type = r->type;
        sh_strlcpy(v->ent.d_name, r->name, sizeof v->ent.d_name);
        out = &v->ent;
    }
out:
    sh_spin_unlock(&v->lock);
    return out;
}
EXPORT struct dirent64 *readdir64(DIR *d) { return sh_readdir64(d); }
EXPORT struct dirent *readdir(DIR *d) {
    if (!find(d)) return REAL(readdir)(d);
    return (struct dirent *)sh_readdir64(d);
}

static int rd_r(DIR *d, struct dirent64 *entry, struct dirent64 **result) {
    int saved = errno;
    errno = 0;
    struct dirent64 *e = sh_readdir64(d);
    int err = errno;
    errno = saved;
    if (!e) { *result = NULL; return err; }
    memcpy(entry, e, sizeof *e);
    *result = entry;
    return 0;
}
EXPORT int readdir_r(DIR *d, struct dirent *e, struct dirent **r) {
    if (!find(d)) return REAL(readdir_r)(d, e, r);
    return rd_r(d, (struct dirent64 *)e, (struct dirent64 **)r);
}
EXPORT int readdir64_r(DIR *d, struct dirent64 *e, struct dirent64 **r) {
    if (!find(d)) return REAL(readdir64_r)(d, e, r);
    return rd_r(d, e, r);
}

static void seek(vdir *v, uint64_t pos) {
    sh_spin_lock(&v->lock);
    v->cookie = v->pos = pos;
    v->off = v->len = 0;
    v->eof = 0;
    sh_spin_unlock(&v->lock);
}
EXPORT void rewinddir(DIR *d) {
    vdir *v = find(d);
    if (!v) REAL(rewinddir)(d);
    else seek(v, 0);
}
EXPORT void seekdir(DIR *d, long pos) {
    vdir *v = find(d);
    if (!v) REAL(seekdir)(d, pos);
    else seek(v, (uint64_t)pos);
}
EXPORT long telldir(DIR *d) {
    vdir *v = find(d);
    return v ? (long)v->pos : REAL(telldir)(d);
}
EXPORT int dirfd(DIR *d) {
    vdir *v = find(d);
    return v ? v->fd : REAL(dirfd)(d);
}

/* getdents64 on a virtual directory fd: engine records have the linux_dirent64 layout. */
EXPORT ssize_t getdents64(int fd, void *buf, size_t len) {
    hl_file f;
    if (sh_pass() || likely(!sh_fd_lookup(fd, &f)) || (f.kind != HL_KIND_DIR && f.kind != HL_KIND_PATH))
        return REAL(getdents64)(fd, buf, len);
    SH_ENGINE(E, -1);
    char tmp[32768];
    if (len > sizeof tmp) len = sizeof tmp;
    uint64_t *cookie = sh_fd_cookie(fd);
    ssize_t n = ECALL(E->readdir(f.mount, f.ino, cookie, tmp, len));
    if (n > 0) {
        int rc = sh_copyout(buf, tmp, (size_t)n);
        if (rc < 0) return sh_ret(rc);
    }
    return n < 0 ? sh_ret(n) : n;
}

/* scandir over one of our DIRs. */
typedef int (*sel_fn)(const struct dirent *);
typedef int (*cmp_fn)(const struct dirent **, const struct dirent **);
static int vscandir(DIR *d, struct dirent ***list, sel_fn sel, cmp_fn cmp) {
    struct dirent **v = NULL, *e;
    size_t n = 0, cap = 0;
    int saved = errno;
    errno = 0;
    while ((e = (struct dirent *)sh_readdir64(d))) {
        if (sel && !sel(e)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            struct dirent **nv = realloc(v, cap * sizeof *v);
            if (!nv) goto fail;
            v = nv;
        }
        if (!(v[n] = malloc(sizeof *e))) goto fail;
        memcpy(v[n++], e, sizeof *e);
        errno = 0;
    }
    if (errno) goto fail;
    sh_closedir(d);
    if (cmp && n > 1) qsort(v, n, sizeof *v, (int (*)(const void *, const void *))cmp);
    *list = v;
    errno = saved;
    return (int)n;
fail:;
    int err = errno ? errno : ENOMEM;
    while (n) free(v[--n]);
    free(v);
    sh_closedir(d);
    errno = err;
    return -1;
}

static int do_scandirat(int dfd, const char *p, struct dirent ***list, sel_fn sel, cmp_fn cmp) {
    SH_ROUTE(v, SH_LOOKUP, dfd, p, 0, REAL(scandirat)(dfd, v.host, list, sel, cmp));
    DIR *d = vopen(&v);
    if (!d) return -1;
    if (!find(d)) { /* redirected to the host */
        REAL(closedir)(d);
        return REAL(scandirat)(dfd, v.host, list, sel, cmp);
    }
    return vscandir(d, list, sel, cmp);
}
EXPORT int scandir(const char *p, struct dirent ***l, sel_fn s, cmp_fn c) { return do_scandirat(AT_FDCWD, p, l, s, c); }
EXPORT int scandir64(const char *p, struct dirent64 ***l, int (*s)(const struct dirent64 *),
                     int (*c)(const struct dirent64 **, const struct dirent64 **)) {
    return do_scandirat(AT_FDCWD, p, (struct dirent ***)l, (sel_fn)s, (cmp_fn)c);
}
EXPORT int scandirat(int d, const char *p, struct dirent ***l, sel_fn s, cmp_fn c) { return do_scandirat(d, p, l, s, c); }
EXPORT int scandirat64(int d, const char *p, struct dirent64 ***l, int (*s)(const struct dirent64 *),
                       int (*c)(const struct dirent64 **, const struct dirent64 **)) {
    return do_scandirat(d, p, (struct dirent ***)l, (sel_fn)s, (cmp_fn)c);
}
