/* LD_LIBRARY_PATH at exec: the dynamic loader searches its directories with its own system
 * calls, which the shim never sees, so each entry under a prefix is replaced by a host
 * directory mirroring that directory's shared objects (the engine's libdir). Entry order and
 * separators are kept, host entries and the loader's $ tokens are left alone. An entry the
 * engine cannot mirror stays as it was, with one `hilbert:` line (a missing directory, which
 * the loader skips anyway, says nothing). May run in a vfork child: no malloc. */
#include "shim.h"

#define LDP_LEN 16 /* strlen("LD_LIBRARY_PATH=") */

static int is_sep(char c) { return c == ':' || c == ';'; }

/* Would the loader look for entry [p, p+n) inside a mount? No system call: a prefix match,
 * or a relative entry ("" is the current directory) while the cwd is virtual. */
static int entry_virtual(const char *p, size_t n) {
    if (n == 0 || p[0] != '/') return sh_vcwd_on;
    if (memchr(p, '$', n) || n >= PATH_MAX) return 0;
    char b[PATH_MAX];
    memcpy(b, p, n);
    b[n] = 0;
    return sh_match_abs(b, NULL) >= 0;
}

int sh_ldpath_virtual(const char *val) {
    for (const char *p = val;; p++) {
        const char *e = p;
        while (*e && !is_sep(*e)) e++;
        if (entry_virtual(p, (size_t)(e - p))) return 1;
        if (!*e) return 0;
        p = e;
    }
}

static void warn(const char *entry, int err) {
    char line[PATH_MAX + 256];
    size_t n = sh_strlcpy(line, "hilbert: LD_LIBRARY_PATH entry ", sizeof line);
    n += sh_strlcpy(line + n, entry, PATH_MAX);
    n += sh_strlcpy(line + n, " left as it is: cannot mirror its shared libraries for the dynamic loader (", 128);
    if (sh_in_vfork()) {
        n += sh_strlcpy(line + n, "errno ", 8);
        n = (size_t)(sh_utoa(line + n, (unsigned)err) - line);
    } else {
        n += sh_strlcpy(line + n, strerror(err), 64);
    }
    n += sh_strlcpy(line + n, ")\n", 3);
    REAL(write)(2, line, n);
}

/* The host directory for one virtual entry, in `host` (PATH_MAX); 0, or -1 with errno. */
static int mirror(const char *entry, char *host) {
    vpath v;
    int k = sh_classify(&v, AT_FDCWD, *entry ? entry : ".");
    if (k == SH_ERR) return -1;
    if (k == SH_HOST) { errno = ENOENT; return -1; }
    const hl_engine_api *E = sh_engine();
    if (!E) return -1;
    if (!SH_HAS(E, libdir)) { errno = ENOSYS; return -1; }
    ssize_t r = ECALL(E->libdir(&v.loc, host, PATH_MAX));
    if (r == -HL_REDIRECT) { /* a symlink out of the volume: the loader can use the host path */
        if (sh_take_redirect(&v) < 0) return -1;
        sh_strlcpy(host, v.host, PATH_MAX);
        return 0;
    }
    if (r < 0) { errno = (int)-r; return -1; }
    return 0;
}

/* e is "LD_LIBRARY_PATH=…" with a virtual entry: the rewritten variable, put at *s (before
 * end), or e itself when nothing could be replaced or it does not fit. */
char *sh_ldpath_rewrite(char *e, char **s, char *end) {
    int saved = errno, changed = 0;
    char *out = *s, *o = out;
    if (end - o <= LDP_LEN) return e;
    memcpy(o, e, LDP_LEN);
    o += LDP_LEN;
    for (const char *p = e + LDP_LEN;; p++) {
        const char *q = p;
        while (*q && !is_sep(*q)) q++;
        size_t n = (size_t)(q - p);
        const char *put = p;
        size_t pn = n;
        char entry[PATH_MAX], host[PATH_MAX];
        if (entry_virtual(p, n) && n < PATH_MAX) {
            memcpy(entry, p, n);
            entry[n] = 0;
            if (mirror(entry, host) == 0) {
                put = host;
                pn = strlen(host);
                changed = 1;
            } else if (errno != ENOENT && errno != ENOTDIR) {
                warn(entry, errno);
            }
        }
        if ((size_t)(end - o) < pn + 2) { errno = saved; return e; }
        memcpy(o, put, pn);
        o += pn;
        if (!*q) break;
        *o++ = *q;
        p = q;
    }
    *o++ = 0;
    errno = saved;
    if (!changed) return e;
    *s = o;
    return out;
}
