/* stat family, access family. */
#include "shim.h"
#include <sys/sysmacros.h>

void sh_fill_stat(struct stat *st, const hl_stat *h) {
    memset(st, 0, sizeof *st);
    st->st_dev = h->dev;
    st->st_ino = h->ino;
    st->st_nlink = h->nlink;
    st->st_mode = h->mode;
    st->st_uid = h->uid;
    st->st_gid = h->gid;
    st->st_rdev = h->rdev;
    st->st_size = (off_t)h->size;
    st->st_blksize = h->blksize;
    st->st_blocks = (blkcnt_t)h->blocks;
    st->st_atim.tv_sec = h->atime_sec;
    st->st_atim.tv_nsec = h->atime_nsec;
    st->st_mtim.tv_sec = h->mtime_sec;
    st->st_mtim.tv_nsec = h->mtime_nsec;
    st->st_ctim.tv_sec = h->ctime_sec;
    st->st_ctim.tv_nsec = h->ctime_nsec;
}

static void fill_statx(struct statx *sx, const hl_stat *h) {
    memset(sx, 0, sizeof *sx);
    sx->stx_mask = STATX_BASIC_STATS | STATX_BTIME;
    sx->stx_blksize = h->blksize;
    sx->stx_nlink = (uint32_t)h->nlink;
    sx->stx_uid = h->uid;
    sx->stx_gid = h->gid;
    sx->stx_mode = (uint16_t)h->mode;
    sx->stx_ino = h->ino;
    sx->stx_size = h->size;
    sx->stx_blocks = h->blocks;
    sx->stx_atime.tv_sec = h->atime_sec;
    sx->stx_atime.tv_nsec = h->atime_nsec;
    sx->stx_btime.tv_sec = h->btime_sec;
    sx->stx_btime.tv_nsec = h->btime_nsec;
    sx->stx_ctime.tv_sec = h->ctime_sec;
    sx->stx_ctime.tv_nsec = h->ctime_nsec;
    sx->stx_mtime.tv_sec = h->mtime_sec;
    sx->stx_mtime.tv_nsec = h->mtime_nsec;
    sx->stx_rdev_major = major(h->rdev);
    sx->stx_rdev_minor = minor(h->rdev);
    sx->stx_dev_major = major(h->dev);
    sx->stx_dev_minor = minor(h->dev);
}

/* Raw engine stat into a user buffer: rc or -errno / -HL_REDIRECT. */
int sh_vstat(const hl_loc *loc, int flags, struct stat *user) {
    const hl_engine_api *E = sh_engine();
    if (!E) return -errno;
    hl_stat h;
    int rc = ECALL(E->stat(loc, flags & AT_SYMLINK_NOFOLLOW, &h));
    if (rc < 0) return rc;
    struct stat st;
    sh_fill_stat(&st, &h);
    return sh_copyout(user, &st, sizeof st);
}

/* Engine fd → virtual identity; 1 if handled (result in *rc). */
static int vfstat(int fd, hl_stat *h, int *rc) {
    hl_file f;
    if (sh_pass() || !sh_fd_lookup(fd, &f) || f.kind == SH_KIND_PRIVATE) return 0;
    const hl_engine_api *E = sh_engine();
    if (!E) { *rc = -errno; return 1; }
    *rc = ECALL(E->fstat(fd, &f, h));
    return 1;
}

int sh_fstat(int fd, struct stat *st) {
    hl_stat h;
    int rc;
    if (likely(!vfstat(fd, &h, &rc))) return REAL(fstat)(fd, st);
    if (rc >= 0) {
        struct stat s;
        sh_fill_stat(&s, &h);
        rc = sh_copyout(st, &s, sizeof s);
    }
    return sh_ret(rc);
}

/* AT_EMPTY_PATH with "" or, as Linux >= 6.11 takes it for fstatat and statx, NULL. */
static int empty_path(int fd, const char *p, int flags) {
    hl_file f;
    char c = 1;
    return (flags & AT_EMPTY_PATH) && sh_fd_lookup(fd, &f) && (!p || (sh_peek(&c, p, 1) == 1 && c == 0));
}

int sh_fstatat(int d, const char *p, struct stat *st, int flags) {
    if (unlikely(sh_nrec) && empty_path(d, p, flags)) return sh_fstat(d, st);
    SH_ROUTE(v, SH_LOOKUP, d, p, (flags & AT_SYMLINK_NOFOLLOW) != 0, REAL(fstatat)(d, v.host, st, flags));
    int rc = sh_vstat(&v.loc, flags, st);
    SH_FINISH(v, rc, REAL(fstatat)(d, v.host, st, flags));
}

int sh_stat(const char *p, struct stat *st) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 0, REAL(stat)(v.host, st));
    int rc = sh_vstat(&v.loc, 0, st);
    SH_FINISH(v, rc, REAL(stat)(v.host, st));
}

int sh_lstat(const char *p, struct stat *st) {
    SH_ROUTE(v, SH_LOOKUP, AT_FDCWD, p, 1, REAL(lstat)(v.host, st));
    int rc = sh_vstat(&v.loc, AT_SYMLINK_NOFOLLOW, st);
    SH_FINISH(v, rc, REAL(lstat)(v.host, st));
}

EXPORT int stat(const char *p, struct stat *st) { return sh_stat(p, st); }
EXPORT int stat64(const char *p, struct stat64 *st) { return sh_stat(p, (struct stat *)st); }
EXPORT int lstat(const char *p, struct stat *st) { return sh_lstat(p, st); }
EXPORT int lstat64(const char *p, struct stat64 *st) { return sh_lstat(p, (struct stat *)st); }
EXPORT int fstat(int fd, struct stat *st) { return sh_fstat(fd, st); }
EXPORT int fstat64(int fd, struct stat64 *st) { return sh_fstat(fd, (struct stat *)st); }
EXPORT int fstatat(int d, const char *p, struct stat *st, int fl) { return sh_fstatat(d, p, st, fl); }
EXPORT int fstatat64(int d, const char *p, struct stat64 *st, int fl) { return sh_fstatat(d, p, (struct stat *)st, fl); }
EXPORT int __xstat(int ver, const char *p, struct stat *st) { (void)ver; return sh_stat(p, st); }
EXPORT int __xstat64(int ver, const char *p, struct stat64 *st) { (void)ver; return sh_stat(p, (struct stat *)st); }
EXPORT int __lxstat(int ver, const char *p, struct stat *st) { (void)ver; return sh_lstat(p, st); }
EXPORT int __lxstat64(int ver, const char *p, struct stat64 *st) { (void)ver; return sh_lstat(p, (struct stat *)st); }
EXPORT int __fxstat(int ver, int fd, struct stat *st) { (void)ver; return sh_fstat(fd, st); }
EXPORT int __fxstat64(int ver, int fd, struct stat64 *st) { (void)ver; return sh_fstat(fd, (struct stat *)st); }
EXPORT int __fxstatat(int ver, int d, const char *p, struct stat *st, int fl) { (void)ver; return sh_fstatat(d, p, st, fl); }
EXPORT int __fxstatat64(int ver, int d, const char *p, struct stat64 *st, int fl) { (void)ver; return sh_fstatat(d, p, (struct stat *)st, fl); }

EXPORT int statx(int d, const char *p, int flags, unsigned mask, struct statx *sx) {
    hl_stat h;
    int rc;
    if (unlikely(sh_nrec) && empty_path(d, p, flags) && vfstat(d, &h, &rc)) goto fill;
    {
        SH_ROUTE(v, SH_LOOKUP, d, p, (flags & AT_SYMLINK_NOFOLLOW) != 0, REAL(statx)(d, v.host, flags, mask, sx));
        const hl_engine_api *E = sh_engine();
        if (!E) return -1;
        rc = ECALL(E->stat(&v.loc, flags & AT_SYMLINK_NOFOLLOW, &h));
        if (rc == -HL_REDIRECT) SH_FINISH(v, rc, REAL(statx)(d, v.host, flags, mask, sx));
    }
fill:
    if (rc >= 0) {
        struct statx s;
        fill_statx(&s, &h);
        rc = sh_copyout(sx, &s, sizeof s);
    }
    return sh_ret(rc);
}

static int do_access(int d, const char *p, int mode, int flags) {
    hl_loc loc;
    if ((flags & AT_EMPTY_PATH) && unlikely(sh_nrec) && !sh_pass() && sh_empty_path_loc(d, p, &loc)) {
        SH_ENGINE(E, -1);
        return sh_ret(ECALL(E->access(&loc, mode, flags)));
    }
    SH_ROUTE(v, SH_LOOKUP, d, p, (flags & AT_SYMLINK_NOFOLLOW) != 0, REAL(faccessat)(d, v.host, mode, flags));
    SH_ENGINE(E, -1);
    int rc = ECALL(E->access(&v.loc, mode, flags));
    SH_FINISH(v, rc, REAL(faccessat)(d, v.host, mode, flags));
}

EXPORT int access(const char *p, int mode) { return do_access(AT_FDCWD, p, mode, 0); }
EXPORT int faccessat(int d, const char *p, int mode, int fl) { return do_access(d, p, mode, fl); }
EXPORT int euidaccess(const char *p, int mode) { return do_access(AT_FDCWD, p, mode, AT_EACCESS); }
EXPORT int eaccess(const char *p, int mode) { return do_access(AT_FDCWD, p, mode, AT_EACCESS); }
