/* bind() of a unix socket path: never let it create anything at or under a prefix. */
#include "shim.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))sh_resolve("bind", (void **)&real);
    struct sockaddr_un un;
    if (sh_pass() || len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof un) return real(fd, addr, len);
    if (sh_peek(&un, addr, len) != len) return sh_ret(-EFAULT);
    if (un.sun_family != AF_UNIX || !un.sun_path[0]) return real(fd, addr, len);
    char path[sizeof un.sun_path + 1];
    memcpy(path, un.sun_path, sizeof un.sun_path);
    path[sizeof un.sun_path] = 0;
    vpath v;
    if (sh_classify(&v, AT_FDCWD, path) == SH_VIRT) return sh_ret(-EOPNOTSUPP);
    return real(fd, addr, len);
}
