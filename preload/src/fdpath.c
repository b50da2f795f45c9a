/* Descriptors named by a path: an empty path with AT_EMPTY_PATH, and the magic links
 * /proc/self/fd/N, /proc/thread-self/fd/N, /proc/<own pid>/fd/N and /dev/fd/N. For an engine
 * fd the kernel would follow those to the shim's placeholder or private copy; the virtual
 * answer is the inode the fd stands for (loc.path NULL). */
#include "shim.h"

/* Tmpfile fds have no inode yet: calls on them are the kernel's (linkat handles them apart). */
int sh_empty_path_loc(int fd, const char *p, hl_loc *loc) {
    hl_file f;
    char c = 1;
    if (!sh_fd_lookup(fd, &f) || f.kind == SH_KIND_PRIVATE || f.kind == HL_KIND_TMPFILE) return 0;
    if (sh_peek(&c, p, 1) != 1 || c != 0) return 0;
    loc->mount = f.mount;
    loc->reserved = 0;
    loc->dir = f.ino;
    loc->path = NULL;
    return 1;
}

/* The N of a /proc/…/fd/N or /dev/fd/N path (no trailing component), or -1. */
static int magic_fd(const char *s) {
    if (!strncmp(s, "/dev/fd/", 8)) s += 8;
    else if (!strncmp(s, "/proc/", 6)) {
        s += 6;
        if (!strncmp(s, "self/", 5)) s += 5;
        else if (!strncmp(s, "thread-self/", 12)) s += 12;
        else {
            long pid = 0;
            if (*s < '0' || *s > '9') return -1;
            while (*s >= '0' && *s <= '9') pid = pid * 10 + (*s++ - '0');
            if (*s++ != '/' || pid != (long)getpid()) return -1;
        }
        if (strncmp(s, "fd/", 3)) return -1;
        s += 3;
    } else return -1;
    long n = 0;
    if (*s < '0' || *s > '9') return -1;
    while (*s >= '0' && *s <= '9' && n < SH_MAXFD) n = n * 10 + (*s++ - '0');
    return *s == 0 && n < SH_MAXFD ? (int)n : -1;
}

int sh_magic_fd(const char *p, char head[64]) {
    size_t got = sh_peek(head, p, 63);
    head[got] = 0;
    if (head[0] != '/' || (head[1] != 'p' && head[1] != 'd') || !memchr(head, 0, got)) return -1;
    return magic_fd(head);
}

int sh_proc_fd_loc(vpath *v, const char *p) {
    char head[64];
    int fd = sh_magic_fd(p, head);
    if (fd < 0 || !sh_empty_path_loc(fd, "", &v->loc)) return 0;
    memcpy(v->buf, head, strlen(head) + 1);
    return 1;
}

int sh_route_follow(vpath *v, int kind, int dirfd, const char *p) {
    if (unlikely(sh_nrec) && sh_proc_fd_loc(v, p)) return SH_VIRT;
    return sh_route(v, kind, dirfd, p);
}
