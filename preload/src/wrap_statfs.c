/* statfs / statvfs / pathconf. */
#include "shim.h"

static void to_statfs(struct statfs *s, const hl_statfs *h) {
    memset(s, 0, sizeof *s);
    s->f_type = (long)h->type;
    s->f_bsize = (long)h->bsize;
    s->f_frsize = (long)(h->frsize ? h->frsize : h->bsize);
    s->f_blocks = h->blocks;
    s->f_bfree = h->bfree;
    s->f_bavail = h->bavail;
    s->f_files = h->files;
    s->f_ffree = h->ffree;
    memcpy(&s->f_fsid, &h->fsid, sizeof s->f_fsid);
    s->f_namelen = (long)h->namemax;
    s->f_flags = (long)h->flags;
}

static void to_statvfs(struct statvfs *s, const hl_statfs *h) {
    memset(s, 0, sizeof *s);
    s->f_bsize = h->bsize;
    s->f_frsize = h->frsize ? h->frsize : h->bsize;
    s->f_blocks = h->blocks;
    s->f_bfree = h->bfree;
    s->f_bavail = h->bavail;
    s->f_files = h->files;
    s->f_ffree = h->ffree;
    s->f_favail = h->favail;
    s->f_fsid = h->fsid;
    s->f_flag = h->flags;
    s->f_namemax = h->namemax;
}

/* vfs: 0 → struct statfs, 1 → struct statvfs */
static int vstatfs(const hl_loc *loc, void *user, int vfs) {
    SH_ENGINE(E, -errno);
    hl_statfs h;
    int rc = ECALL(E->statfs(loc, &h));
    if (rc < 0) return rc;
    if (vfs) {
        struct statvfs s;
        to_statvfs(&s, &h);
        return sh_copyout(user, &s, sizeof s);
    }
    struct statfs s;
    to_statfs(&s, &h);
    return sh_copyout(user, &s, sizeof s);
}

static int do_statfs(const char *p, struct statfs *b) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, REAL(statfs)(v.host, b));
    int rc = vstatfs(&v.loc, b, 0);
    SH_FINISH(v, rc, REAL(statfs)(v.host, b));
}
static int do_statvfs(const char *p, struct statvfs *b) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, REAL(statvfs)(v.host, b));
    int rc = vstatfs(&v.loc, b, 1);
    SH_FINISH(v, rc, REAL(statvfs)(v.host, b));
}
static int do_fstatfs(int fd, void *b, int vfs) {
    hl_loc loc;
    if (likely(!sh_fd_loc(fd, &loc)))
        return vfs ? REAL(fstatvfs)(fd, b) : REAL(fstatfs)(fd, b);
    return sh_ret(vstatfs(&loc, b, vfs));
}

EXPORT int statfs(const char *p, struct statfs *b) { return do_statfs(p, b); }
EXPORT int statfs64(const char *p, struct statfs64 *b) { return do_statfs(p, (struct statfs *)b); }
EXPORT int statvfs(const char *p, struct statvfs *b) { return do_statvfs(p, b); }
EXPORT int statvfs64(const char *p, struct statvfs64 *b) { return do_statvfs(p, (struct statvfs *)b); }
EXPORT int fstatfs(int fd, struct statfs *b) { return do_fstatfs(fd, b, 0); }
EXPORT int fstatfs64(int fd, struct statfs64 *b) { return do_fstatfs(fd, b, 0); }
EXPORT int fstatvfs(int fd, struct statvfs *b) { return do_fstatfs(fd, b, 1); }
EXPORT int fstatvfs64(int fd, struct statvfs64 *b) { return do_fstatfs(fd, b, 1); }

EXPORT long pathconf(const char *p, int name) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, REAL(pathconf)(v.host, name));
    SH_ENGINE(E, -1);
    hl_statfs h;
    int rc = ECALL(E->statfs(&v.loc, &h));
    if (rc == -HL_REDIRECT) SH_FINISH(v, rc, REAL(pathconf)(v.host, name));
    if (rc < 0) return sh_ret(rc);
    if (name == _PC_NAME_MAX) return (long)h.namemax;
    return REAL(pathconf)("/", name);
}
EXPORT long fpathconf(int fd, int name) { return REAL(fpathconf)(fd, name); }
