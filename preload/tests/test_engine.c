/* A test double of the Hilbert engine for the shim's tests: the volume is a plain backing
 * directory (HL_TEST_BACKING). Inode numbers are the backing inodes; an ino → path map and
 * the placeholder directories live in "<backing>.shadow" so that exec'd children can use
 * inherited inode numbers. Events are appended to HL_TEST_LOG when set. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "hilbert_abi.h"

#define VDEV 0x4c48u
static char root[PATH_MAX], shadow[PATH_MAX], prefix[256] = "/hilbert";
static size_t plen = 8;
static __thread char redirect[PATH_MAX];
static const hl_shim_services *svc;

static void logf_(const char *fmt, ...) {
    const char *log = getenv("HL_TEST_LOG");
    if (!log) return;
    char line[PATH_MAX + 64];
    int n = snprintf(line, sizeof line, "%d ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) { (void)!write(fd, line, (size_t)n); close(fd); }
}

/* ---- ino → mount-relative path map ("" is the root) ---- */
static void map_note(uint64_t ino, const char *rel) {
    char link[PATH_MAX], old[PATH_MAX], tgt[PATH_MAX];
    snprintf(link, sizeof link, "%s/map/%llu", shadow, (unsigned long long)ino);
    snprintf(tgt, sizeof tgt, "/%s", rel);
    ssize_t n = readlink(link, old, sizeof old - 1);
    if (n >= 0) {
        old[n] = 0;
        if (!strcmp(old, tgt)) return;
        unlink(link);
    }
    symlink(tgt, link);
}

static int map_get(uint64_t ino, char *rel) {
    char link[PATH_MAX], t[PATH_MAX];
    snprintf(link, sizeof link, "%s/map/%llu", shadow, (unsigned long long)ino);
    ssize_t n = readlink(link, t, sizeof t - 1);
    if (n <= 0) return -ENOENT;
    t[n] = 0;
    strcpy(rel, t + 1);
    char full[PATH_MAX];
    struct stat st;
    snprintf(full, sizeof full, "%s/%s", root, rel);
    if (lstat(full, &st) < 0 || st.st_ino != ino) return -ENOENT;
    return 0;
}

static void backing(char *out, const char *rel) { snprintf(out, PATH_MAX, "%s%s%s", root, *rel ? "/" : "", rel); }

/* Resolve loc to a mount-relative path; follows symlinks except a final one when !follow. */
static int resolve(const hl_loc *loc, int follow, char *cur) {
    char rest[PATH_MAX], tmp[PATH_MAX], full[PATH_MAX];
    cur[0] = 0;
    if (!loc->path || loc->path[0] != '/') {
        int r = map_get(loc->dir, cur);
        if (r < 0) return r;
    }
    snprintf(rest, sizeof rest, "%s", loc->path ? loc->path : "");
    for (int links = 0;;) {
        char *p = rest;
        while (*p == '/') p++;
        if (!*p) return 0;
        char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) return -ENAMETOOLONG;
        memcpy(comp, p, n);
        comp[n] = 0;
        memmove(rest, p + n, strlen(p + n) + 1);
        char *q = rest;
        while (*q == '/') q++;
        int last = *q == 0;
        if (!strcmp(comp, ".")) continue;
        if (!strcmp(comp, "..")) {
            char *s = strrchr(cur, '/');
            if (s) { *s = 0; continue; }
            if (*cur) { cur[0] = 0; continue; }
            /* ".." of the mount root leaves the volume */
            snprintf(tmp, sizeof tmp, "%.*s", (int)plen, prefix);
            char *d = strrchr(tmp, '/');
            d[d == tmp ? 1 : 0] = 0;
            snprintf(redirect, sizeof redirect, "%s%s%s", tmp, (*q && tmp[1]) ? "/" : "", q);
            return -HL_REDIRECT;
        }
        size_t cl = strlen(cur);
        if (cl + n + 2 >= PATH_MAX) return -ENAMETOOLONG;
        snprintf(tmp, sizeof tmp, "%s%s%s", cur, cl ? "/" : "", comp);
        if (last && !follow) { strcpy(cur, tmp); return 0; }
        backing(full, tmp);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISLNK(st.st_mode)) {
            if (++links > 40) return -ELOOP;
            char t[PATH_MAX];
            ssize_t tl = readlink(full, t, sizeof t - 1);
            if (tl < 0) return -errno;
            t[tl] = 0;
            if (t[0] == '/') {
                if (!strncmp(t, prefix, plen) && (t[plen] == 0 || t[plen] == '/')) {
                    cur[0] = 0;
                    snprintf(tmp, sizeof tmp, "%s/%s", t + plen, rest);
                } else {
                    snprintf(redirect, sizeof redirect, "%s%s%s", t, *q ? "/" : "", q);
                    return -HL_REDIRECT;
                }
            } else {
                snprintf(tmp, sizeof tmp, "%s/%s", t, rest);
            }
            strcpy(rest, tmp);
            continue;
        }
        strcpy(cur, tmp);
        if (!last && lstat(full, &st) == 0 && !S_ISDIR(st.st_mode)) return -ENOTDIR;
    }
}

static int resolve_full(const hl_loc *loc, int follow, char *full, char *rel) {
    char r[PATH_MAX];
    if (!rel) rel = r;
    int rc = resolve(loc, follow, rel);
    if (rc == 0) backing(full, rel);
    return rc;
}

static void to_hl(const struct stat *st, hl_stat *h) {
    memset(h, 0, sizeof *h);
    h->dev = VDEV;
    h->ino = st->st_ino;
    h->nlink = st->st_nlink;
    h->size = (uint64_t)st->st_size;
    h->blocks = (uint64_t)st->st_blocks;
    h->rdev = st->st_rdev;
    h->mode = st->st_mode;
    h->uid = st->st_uid;
    h->gid = st->st_gid;
    h->blksize = (uint32_t)st->st_blksize;
    h->atime_sec = st->st_atim.tv_sec;
    h->atime_nsec = (uint32_t)st->st_atim.tv_nsec;
    h->mtime_sec = st->st_mtim.tv_sec;
    h->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
    h->ctime_sec = h->btime_sec = st->st_ctim.tv_sec;
    h->ctime_nsec = h->btime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

#define RES(loc, follow)                                                              \
    char full[PATH_MAX], rel[PATH_MAX];                                               \
    int rc = resolve_full(loc, follow, full, rel);                                   \
    if (rc < 0) return rc
#define SYS(x) ((x) < 0 ? -errno : 0)

static int placeholder(uint64_t ino, int flags) {
    char ph[PATH_MAX];
    snprintf(ph, sizeof ph, "%s/ph/%llu", shadow, (unsigned long long)ino);
    mkdir(ph, 0755);
    int fd = open(ph, flags | O_DIRECTORY);
    return fd < 0 ? -errno : fd;
}

static int e_start(const hl_shim_services *s, const char *mounts) {
    svc = s;
    const char *b = getenv("HL_TEST_BACKING");
    const char *fail = getenv("HL_TEST_FAIL_START");
    if (fail) {
        fprintf(stderr, "hilbert: test engine refuses to start (HL_TEST_FAIL_START)\n");
        return -atoi(fail);
    }
    if (!b || !realpath(b, root)) {
        fprintf(stderr, "hilbert: test engine: HL_TEST_BACKING is not a directory\n");
        return -EIO;
    }
    if (mounts) {
        const char *eq = strchr(mounts, '=');
        plen = eq ? (size_t)(eq - mounts) : strlen(mounts);
        snprintf(prefix, sizeof prefix, "%.*s", (int)plen, mounts);
    }
    char d[PATH_MAX];
    snprintf(shadow, sizeof shadow, "%s.shadow", root);
    mkdir(shadow, 0755);
    snprintf(d, sizeof d, "%s/map", shadow);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/ph", shadow);
    mkdir(d, 0755);
    struct stat st;
    stat(root, &st);
    map_note(st.st_ino, "");
    int tmp = open(shadow, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int priv = fcntl(tmp, F_DUPFD_CLOEXEC, 500);
    close(tmp);
    s->note_private_fd(priv, 1);
    logf_("start private=%d", priv);
    return 0;
}

static void e_stop(const int *fds, const hl_file *f, int n) {
    for (int i = 0; i < n; i++) logf_("stop fd=%d ino=%llu", fds[i], (unsigned long long)f[i].ino);
}

static int e_open(const hl_loc *loc, int flags, mode_t mode, hl_file *out) {
    int follow = !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL));
    RES(loc, follow);
    struct stat st;
    int exists = stat(full, &st) == 0;
    out->mount = loc->mount;
    if (exists && S_ISDIR(st.st_mode)) {
        if ((flags & O_ACCMODE) != O_RDONLY) return -EISDIR;
        if ((flags & O_CREAT) && (flags & O_EXCL)) return -EEXIST;
        map_note(st.st_ino, rel);
        int fd = placeholder(st.st_ino, (flags & O_PATH ? O_PATH : O_RDONLY) | (flags & O_CLOEXEC));
        if (fd < 0) return fd;
        out->kind = flags & O_PATH ? HL_KIND_PATH : HL_KIND_DIR;
        out->ino = st.st_ino;
        return fd;
    }
    int fd = open(full, flags, mode);
    if (fd < 0) return -errno;
    fstat(fd, &st);
    out->ino = st.st_ino;
    out->kind = flags & O_PATH ? HL_KIND_PATH : (flags & O_ACCMODE) != O_RDONLY ? HL_KIND_WRITE : HL_KIND_READ;
    map_note(st.st_ino, rel);
    return fd;
}

static int e_release(int fd, const hl_file *f) {
    logf_("release ino=%llu", (unsigned long long)f->ino);
    return SYS(close(fd));
}

static int e_fsync(int fd, const hl_file *f) {
    (void)fd;
    logf_("fsync ino=%llu", (unsigned long long)f->ino);
    return 0;
}

static int e_fstat(int fd, const hl_file *f, hl_stat *out) {
    struct stat st;
    if (f->kind == HL_KIND_READ || f->kind == HL_KIND_WRITE) {
        if (fstat(fd, &st) < 0) return -errno;
    } else {
        char rel[PATH_MAX], full[PATH_MAX];
        int rc = map_get(f->ino, rel);
        if (rc < 0) return rc;
        backing(full, rel);
        if (lstat(full, &st) < 0) return -errno;
    }
    to_hl(&st, out);
    return 0;
}

static int e_stat(const hl_loc *loc, int fl, hl_stat *out) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    struct stat st;
    if (lstat(full, &st) < 0) return -errno;
    if (S_ISDIR(st.st_mode)) map_note(st.st_ino, rel);
    to_hl(&st, out);
    return 0;
}

static int e_access(const hl_loc *loc, int mode, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    return SYS(faccessat(AT_FDCWD, full, mode, fl & AT_EACCESS));
}
static int e_mkdir(const hl_loc *loc, mode_t mode) { RES(loc, 0); return SYS(mkdir(full, mode)); }
static int e_mknod(const hl_loc *loc, mode_t mode, dev_t dev) { RES(loc, 0); return SYS(mknod(full, mode, dev)); }
static int e_unlink(const hl_loc *loc, int fl) {
    RES(loc, 0);
    return SYS(fl & AT_REMOVEDIR ? rmdir(full) : unlink(full));
}
static int e_rename(const hl_loc *a, const hl_loc *b, unsigned fl) {
    char fa[PATH_MAX], fb[PATH_MAX];
    int rc = resolve_full(a, 0, fa, NULL);
    if (rc < 0 || (rc = resolve_full(b, 0, fb, NULL)) < 0) return rc;
    return SYS(renameat2(AT_FDCWD, fa, AT_FDCWD, fb, fl));
}
static int e_link(const hl_loc *a, const hl_loc *b, int fl) {
    char fa[PATH_MAX], fb[PATH_MAX];
    int rc = resolve_full(a, fl & AT_SYMLINK_FOLLOW, fa, NULL);
    if (rc < 0 || (rc = resolve_full(b, 0, fb, NULL)) < 0) return rc;
    return SYS(linkat(AT_FDCWD, fa, AT_FDCWD, fb, 0));
}
static int e_symlink(const char *target, const hl_loc *loc) { RES(loc, 0); return SYS(symlink(target, full)); }
static ssize_t e_readlink(const hl_loc *loc, char *buf, size_t len) {
    RES(loc, 0);
    ssize_t n = readlink(full, buf, len);
    return n < 0 ? -errno : n;
}
static int e_chmod(const hl_loc *loc, mode_t mode, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    struct stat st;
    if (lstat(full, &st) == 0 && S_ISLNK(st.st_mode)) return -EOPNOTSUPP;
    return SYS(chmod(full, mode));
}
static int e_chown(const hl_loc *loc, uid_t u, gid_t g, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    return SYS(lchown(full, u, g));
}
static int e_utimens(const hl_loc *loc, const struct timespec *t, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    return SYS(utimensat(AT_FDCWD, full, t, AT_SYMLINK_NOFOLLOW));
}
static int e_truncate(const hl_loc *loc, int64_t len) { RES(loc, 1); return SYS(truncate(full, len)); }
static int e_statfs(const hl_loc *loc, hl_statfs *o) {
    RES(loc, 1);
    struct statvfs s;
    if (statvfs(full, &s) < 0) return -errno;
    *o = (hl_statfs){0x484c4254, s.f_bsize, s.f_frsize, s.f_blocks, s.f_bfree, s.f_bavail,
                     s.f_files, s.f_ffree, s.f_favail, 0x4c48, s.f_namemax, 0};
    return 0;
}
static ssize_t e_getxattr(const hl_loc *loc, const char *n, void *b, size_t l, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    ssize_t r = lgetxattr(full, n, b, l);
    return r < 0 ? -errno : r;
}
static int e_setxattr(const hl_loc *loc, const char *n, const void *v, size_t l, int xf, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    return SYS(lsetxattr(full, n, v, l, xf));
}
static ssize_t e_listxattr(const hl_loc *loc, char *b, size_t l, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    ssize_t r = llistxattr(full, b, l);
    return r < 0 ? -errno : r;
}
static int e_removexattr(const hl_loc *loc, const char *n, int fl) {
    RES(loc, !(fl & AT_SYMLINK_NOFOLLOW));
    return SYS(lremovexattr(full, n));
}

static ssize_t e_readdir(int32_t mount, uint64_t dir, uint64_t *cookie, void *buf, size_t len) {
    (void)mount;
    char rel[PATH_MAX], full[PATH_MAX], child[PATH_MAX];
    int rc = map_get(dir, rel);
    if (rc < 0) return rc;
    backing(full, rel);
    DIR *d = opendir(full);
    if (!d) return -errno;
    uint64_t idx = 0;
    size_t off = 0;
    struct dirent *e;
    const char *dots[2] = {".", ".."};
    for (int i = 0;; i++) {
        const char *name;
        uint64_t ino;
        uint8_t type;
        if (i < 2) {
            name = dots[i];
            ino = i == 0 ? dir : 1;
            type = DT_DIR;
        } else {
            if (!(e = readdir(d))) break;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            name = e->d_name;
            ino = e->d_ino;
            type = e->d_type;
        }
        if (idx++ < *cookie) continue;
        size_t nl = strlen(name);
        size_t reclen = (sizeof(hl_dirent) + nl + 1 + 7) & ~(size_t)7;
        if (off + reclen > len) {
            if (off == 0) { closedir(d); return -EINVAL; }
            break;
        }
        hl_dirent *r = (hl_dirent *)((char *)buf + off);
        r->ino = ino;
        r->next = idx;
        r->reclen = (uint16_t)reclen;
        r->type = type;
        memcpy(r->name, name, nl + 1);
        off += reclen;
        *cookie = idx;
        if (type == DT_DIR && i >= 2) {
            snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", name);
            map_note(ino, child);
        }
    }
    closedir(d);
    return (ssize_t)off;
}

static int e_chdir(const hl_loc *loc, hl_file *out) {
    RES(loc, 1);
    struct stat st;
    if (stat(full, &st) < 0) return -errno;
    if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
    if (access(full, X_OK) < 0) return -errno;
    map_note(st.st_ino, rel);
    *out = (hl_file){loc->mount, HL_KIND_DIR, st.st_ino};
    return placeholder(st.st_ino, O_PATH | O_CLOEXEC);
}

static ssize_t e_getpath(int32_t mount, uint64_t ino, char *buf, size_t len) {
    (void)mount;
    char rel[PATH_MAX];
    int rc = map_get(ino, rel);
    if (rc < 0) return rc;
    int n = snprintf(buf, len, "/%s", rel);
    return (size_t)n >= len ? -ERANGE : n;
}

static ssize_t e_realpath(const hl_loc *loc, char *buf, size_t len) {
    RES(loc, 1);
    struct stat st;
    if (lstat(full, &st) < 0) return -errno;
    int n = snprintf(buf, len, "/%s", rel);
    return (size_t)n >= len ? -ENAMETOOLONG : n;
}

static ssize_t e_materialize(const hl_loc *loc, int for_exec, char *buf, size_t len) {
    RES(loc, 1);
    struct stat st;
    if (stat(full, &st) < 0) return -errno;
    if (!S_ISREG(st.st_mode)) return -EACCES;
    if (for_exec && access(full, X_OK) < 0) return -errno;
    logf_("materialize %s", rel);
    int n = snprintf(buf, len, "%s", full);
    return (size_t)n >= len ? -ENAMETOOLONG : n;
}

static ssize_t e_take_redirect(char *buf, size_t len) {
    int n = snprintf(buf, len, "%s", redirect);
    return (size_t)n >= len ? -ENAMETOOLONG : n;
}

static const hl_engine_api api = {
    HL_ABI_VERSION, sizeof(hl_engine_api), e_start, e_stop, e_open, e_release, e_fsync, e_fstat,
    e_stat, e_access, e_mkdir, e_mknod, e_unlink, e_rename, e_link, e_symlink, e_readlink,
    e_chmod, e_chown, e_utimens, e_truncate, e_statfs, e_getxattr, e_setxattr, e_listxattr,
    e_removexattr, e_readdir, e_chdir, e_getpath, e_realpath, e_materialize, e_take_redirect,
};

__attribute__((visibility("default"))) const hl_engine_api *hilbert_engine_api(void) { return &api; }
