/* bind()/connect()/sendto()/sendmsg() of AF_UNIX socket paths under a prefix: the engine keeps
 * the socket inode in the metadata and names a node-local path for the kernel socket behind
 * it. sendto()/sendmsg() run the real call first and look at the destination only when the
 * kernel said ENOENT (a prefix does not exist on the host): datagrams to anything else cost
 * nothing extra, not even a peek at the address. */
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

/* The kernel socket's host address behind virtual path v (which must exist). 0, or -errno
 * (a socket inode nobody bound on this node: -ECONNREFUSED). *dirfd as for host_address. */
static int kernel_address(vpath *v, struct sockaddr_un *un, socklen_t *len, int *dirfd) {
    *dirfd = -1;
    const hl_engine_api *E = sh_engine();
    if (!E) return -errno;
    if (!E->socketpath) return -EOPNOTSUPP;
    char host[PATH_MAX];
    ssize_t n = ECALL(E->socketpath(&v->loc, 0, 0, host, sizeof host));
    if (n < 0) return (int)n;
    return host_address(host, un, len, dirfd);
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

/* A socket made while the engine runs (libpq's connection to a PostgreSQL metadata server) moves
 * to the top of the descriptor table at once, private like the engine's own files, so that a
 * program's dup2 onto a low number (bash's `exec 3>f`) never meets it, inside the number gate
 * (fdgate.c). Any other socket: the real call, inside the gate's program side. */
typedef int (*socket_fn)(int, int, int);
EXPORT int socket(int domain, int type, int protocol) {
    static socket_fn real;
    if (!real) real = (socket_fn)sh_resolve("socket", (void **)&real);
    if (!sh_guard) return SH_NUMBERED(real(domain, type, protocol));
    int t = sh_fdgate_armed ? sh_fdgate_enter(HL_FD_GATE_ENGINE) : 0;
    int fd = real(domain, type, protocol);
    if (fd >= 0) fd = sh_park_private_fd(fd);
    int saved = errno;
    sh_fdgate_leave(t);
    errno = saved;
    return fd;
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

/* The end of a datagram sent to the kernel socket behind a virtual path: ENOENT there means
 * nobody bound it on this node (ECONNREFUSED, as for connect); the directory fd is closed. */
static ssize_t sent(ssize_t r, int dirfd) {
    if (r < 0 && errno == ENOENT) errno = ECONNREFUSED;
    if (dirfd >= 0) { int e = errno; REAL(close)(dirfd); errno = e; }
    return r;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t alen) {
    typedef ssize_t (*fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    static fn real;
    if (!real) real = (fn)sh_resolve("sendto", (void **)&real);
    ssize_t r = real(fd, buf, n, flags, addr, alen);
    if (likely(r >= 0) || errno != ENOENT || !addr) return r;
    vpath v;
    int k = virtual_unix_path(addr, alen, &v);
    if (k <= 0) { if (k == 0) errno = ENOENT; return -1; }
    struct sockaddr_un un;
    socklen_t len;
    int dirfd, rc = kernel_address(&v, &un, &len, &dirfd);
    if (rc < 0) return sh_ret(rc);   /* no such virtual path: ENOENT, as on Linux */
    return sent(real(fd, buf, n, flags, (struct sockaddr *)&un, len), dirfd);
}

/* Descriptors passed to another process (SCM_RIGHTS) must be whole: the receiver reads them
 * with its own calls, through a shim that does not know them, or none. */
static void complete_passed_fds(const struct msghdr *msg) {
    struct msghdr m;
    if (sh_peek(&m, msg, sizeof m) != sizeof m || !m.msg_control || m.msg_controllen < sizeof(struct cmsghdr)) return;
    char buf[4096];
    size_t len = m.msg_controllen < sizeof buf ? m.msg_controllen : sizeof buf;
    if (sh_peek(buf, m.msg_control, len) != len) return;
    m.msg_control = buf;
    m.msg_controllen = len;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int pfd;
            memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof pfd);
            sh_partial_complete(pfd);
        }
    }
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    typedef ssize_t (*fn)(int, const struct msghdr *, int);
    static fn real;
    if (!real) real = (fn)sh_resolve("sendmsg", (void **)&real);
    if (unlikely(sh_nrec) && msg && !sh_guard) {
        int saved = errno;
        complete_passed_fds(msg);
        errno = saved;
    }
    ssize_t r = real(fd, msg, flags);
    if (likely(r >= 0) || errno != ENOENT || !msg) return r;
    struct msghdr m;
    if (sh_peek(&m, msg, sizeof m) != sizeof m || !m.msg_name) { errno = ENOENT; return -1; }
    vpath v;
    int k = virtual_unix_path(m.msg_name, m.msg_namelen, &v);
    if (k <= 0) { if (k == 0) errno = ENOENT; return -1; }
    struct sockaddr_un un;
    socklen_t len;
    int dirfd, rc = kernel_address(&v, &un, &len, &dirfd);
    if (rc < 0) return sh_ret(rc);
    m.msg_name = &un;          /* the same message, addressed to the kernel socket */
    m.msg_namelen = len;
    return sent(real(fd, &m, flags), dirfd);
}
