/* dlopen of a virtual path: materialize the library and load the local copy. */
#include "shim.h"

/* 1 with `host` filled when p is virtual; 0 host; -1 error. */
static int resolve(const char *p, char *host) {
    if (!p || sh_pass()) return 0;
    vpath v;
    v.host = p;
    int k = sh_route(&v, SH_CREATE, AT_FDCWD, p);
    if (k != SH_VIRT) return 0; /* let dlopen report errors itself */
    const hl_engine_api *E = sh_engine();
    if (!E) return -1;
    ssize_t n = ECALL(E->materialize(&v.loc, 0, host, PATH_MAX));
    if (n == -HL_REDIRECT) {
        if (sh_take_redirect(&v) < 0) return -1;
        sh_strlcpy(host, v.host, PATH_MAX);
        return 1;
    }
    if (n < 0) { errno = (int)-n; return -1; }
    return 1;
}

EXPORT void *dlopen(const char *p, int flags) {
    char host[PATH_MAX];
    int k = resolve(p, host);
    if (k < 0) return NULL;
    return REAL(dlopen)(k ? host : p, flags);
}

EXPORT void *dlmopen(long lmid, const char *p, int flags) {
    char host[PATH_MAX];
    int k = resolve(p, host);
    if (k < 0) return NULL;
    return REAL(dlmopen)(lmid, k ? host : p, flags);
}
