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

/* dlopen and dlmopen have two versions each: @GLIBC_2.2.5 / @GLIBC_2.3.4 (from libdl.so.2,
 * what binaries linked before glibc 2.34 import) and @@GLIBC_2.34 (libc.so.6). The code and
 * the ABI are the same; each wrapper still forwards to its own version, which on glibc < 2.34
 * (the compat shim) exists only as the old one (REAL then falls back to it). */
static void *do_dlopen(void *(*real)(const char *, int), const char *p, int flags) {
    char host[PATH_MAX];
    int k = resolve(p, host);
    if (k < 0) return NULL;
    return real(k ? host : p, flags);
}
static void *do_dlmopen(void *(*real)(long, const char *, int), long lmid, const char *p, int flags) {
    char host[PATH_MAX];
    int k = resolve(p, host);
    if (k < 0) return NULL;
    return real(lmid, k ? host : p, flags);
}
EXPORT void *sh_v_dlopen(const char *p, int flags) { return do_dlopen(REAL(dlopen), p, flags); }
EXPORT void *sh_v_dlopen_old(const char *p, int flags) { return do_dlopen(REAL_OLD(dlopen_2_2_5), p, flags); }
EXPORT void *sh_v_dlmopen(long lmid, const char *p, int flags) { return do_dlmopen(REAL(dlmopen), lmid, p, flags); }
EXPORT void *sh_v_dlmopen_old(long lmid, const char *p, int flags) {
    return do_dlmopen(REAL_OLD(dlmopen_2_3_4), lmid, p, flags);
}
SH_SYMVER(sh_v_dlopen, "dlopen@@GLIBC_2.34");
SH_SYMVER(sh_v_dlopen_old, "dlopen@GLIBC_2.2.5");
SH_SYMVER(sh_v_dlmopen, "dlmopen@@GLIBC_2.34");
SH_SYMVER(sh_v_dlmopen_old, "dlmopen@GLIBC_2.3.4");
