/* bind()/connect() of AF_UNIX socket paths under a prefix: the engine keeps the socket inode in
 * the metadata and names a node-local path for the kernel socket behind it. sendto()/sendmsg()
 * with a destination path are not wrapped: peeking at every datagram's address would cost
 * every program a system call per send (connect() a datagram socket first). */
#include "shim.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>

/* 1 with v classified when addr is an AF_UNIX path under a prefix, 0 when it is not, -1 with
 * errno on a bad pointer. */
static int virtual_unix_path(const struct sockaddr *addr, socklen_t len, vpath *v) {
    struct sockaddr_un un;
    if (sh_pass() || len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof un) return 0;
    sa_family_t family;
    if (sh_peek(&family, addr, sizeof family) != sizeof family) { errno = EFAULT; return -1; }
    if (family != AF_UNIX) return 0;
    if (sh_peek(&un, addr, len) != len) { errno = EFAULT; return -1; }
    if (!un.sun_path[0]) return 0; /* abstract name */
    char path[sizeof un.sun_path + 1];
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    memcpy(path, un.sun_path, n);
    path[n] = 0;
    int k = sh_classify(v, AT_FDCWD, path);
    if (k == SH_ERR) return -1;
    return k == SH_VIRT;
}

/* The host address of the kernel socket; a host path too long for sun_path is reached through
 * an O_PATH descriptor of its directory (*dirfd, to be closed by the caller). */
static int host_address(const char *host, struct sockaddr_un *un, socklen_t *len, int *dirfd) {
    char tmp[PATH_MAX];
    *dirfd = -1;
    if (strlen(host) >= sizeof un->sun_path) {
        const char *slash = strrchr(host, '/');
        size_t dl = (size_t)(slash - host);
        if (!slash || dl >= sizeof tmp) return -ENAMETOOLONG;
        memcpy(tmp, host, dl);
        tmp[dl] = 0;
        *dirfd = REAL(open)(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (*dirfd < 0) return -errno;
        char *e = sh_strlcpy(tmp, "/proc/self/fd/", sizeof tmp) + tmp;
        e = sh_utoa(e, (unsigned)*dirfd);
        sh_strlcpy(e, slash, sizeof tmp - (size_t)(e - tmp));
        host = tmp;
        if (strlen(host) >= sizeof un->sun_path) return -ENAMETOOLONG;
    }
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    sh_strlcpy(un->sun_path, host, sizeof un->sun_path);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(un->sun_path) + 1);
    return 0;
}

/* bind or connect (create = 1 / 0) the real socket fd to the kernel socket behind v. */
static int unix_at(int fd, vpath *v, int create, int (*real)(int, const struct sockaddr *, socklen_t)) {
    SH_ENGINE(E, -1);
    if (!E->socketpath) return sh_ret(-EOPNOTSUPP);
    char host[PATH_MAX];
    ssize_t n = ECALL(E->socketpath(&v->loc, create, 0777, host, sizeof host));
    if (n < 0) return sh_ret(n);   /* nothing was made */
    struct sockaddr_un un;
    socklen_t len = 0;
    int dirfd, rc = host_address(host, &un, &len, &dirfd);
    if (rc == 0) rc = real(fd, (struct sockaddr *)&un, len) == 0 ? 0 : -errno;
    if (dirfd >= 0) REAL(close)(dirfd);
    if (rc < 0 && create) ECALL(E->unlink(&v->loc, 0)); /* the inode just made: take it back */
    if (rc == -ENOENT && !create) rc = -ECONNREFUSED;   /* nobody bound it on this node */
    return sh_ret(rc);
}

typedef int (*sockaddr_fn)(int, const struct sockaddr *, socklen_t);

static int route(int fd, const struct sockaddr *addr, socklen_t len, int create, sockaddr_fn real) {
    vpath v;
    int k = virtual_unix_path(addr, len, &v);
    if (k < 0) return -1;
    return k ? unix_at(fd, &v, create, real) : real(fd, addr, len);
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static sockaddr_fn real;
    if (!real) real = (sockaddr_fn)sh_resolve("bind", (void **)&real);
    return route(fd, addr, len, 1, real);
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static sockaddr_fn real;
    if (!real) real = (sockaddr_fn)sh_resolve("connect", (void **)&real);
    return route(fd, addr, len, 0, real);
}
