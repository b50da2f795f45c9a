/* exec family: environment hand-over, virtual executables, #! scripts, PATH search.
 * Everything here may run in a vfork child: no malloc, no table mutation. */
#include "shim.h"

/* cand = dir + "/" + file for a PATH search ("" means the current directory); 0 when it
 * does not fit in PATH_MAX. */
static int path_candidate(char cand[PATH_MAX], const char *dir, size_t dl, const char *file, size_t fl) {
    if (dl + fl + 3 > PATH_MAX) return 0;
    size_t n = 0;
    if (dl == 0) cand[n++] = '.';
    memcpy(cand + n, dir, dl);
    n += dl;
    cand[n++] = '/';
    memcpy(cand + n, file, fl + 1);
    return 1;
}

extern char **environ;
#define SBUF 32768

static int has(const char *e, const char *name) {
    size_t n = strlen(name);
    return !strncmp(e, name, n) && e[n] == '=';
}

int sh_has_virtual_state(void) { return sh_vcwd_on || sh_nrec > 0; }

size_t sh_env_extra(void) { return 6; }

static char *put(char **s, char *end, const char *a, const char *b) {
    char *start = *s;
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    if ((size_t)(end - *s) < la + lb + 1) return NULL;
    memcpy(*s, a, la);
    if (lb) memcpy(*s + la, b, lb);
    (*s)[la + lb] = 0;
    *s += la + lb + 1;
    return start;
}

/* envp minus stale HILBERT_CWD/FDS, plus fresh state and re-added LD_PRELOAD, HILBERT_MOUNTS
 * and HILBERT_ENGINE; LD_LIBRARY_PATH entries under a prefix become host mirrors (ldpath.c).
 * `out` needs count(envp) + sh_env_extra() + 1 slots. */
int sh_build_env(char *const envp[], char **out, size_t cap, char *sbuf, size_t scap) {
    sh_complete_inherited_partials();
    size_t n = 0;
    int preload = 0, mounts = 0, engine = 0;
    char *s = sbuf, *end = sbuf + scap;
    for (size_t i = 0; envp && envp[i] && n + 7 < cap; i++) {
        const char *e = envp[i];
        if (has(e, "HILBERT_CWD") || has(e, "HILBERT_FDS")) continue;
        preload |= has(e, "LD_PRELOAD");
        mounts |= has(e, "HILBERT_MOUNTS");
        engine |= has(e, "HILBERT_ENGINE");
        if (unlikely(e[0] == 'L') && has(e, "LD_LIBRARY_PATH") && sh_ldpath_virtual(e + 16) &&
            (sh_E || !sh_in_vfork())) {
            out[n++] = sh_ldpath_rewrite((char *)e, &s, end);
            continue;
        }
        out[n++] = (char *)e;
    }
    char *x;
    if (!preload && sh_shim_path() && (x = put(&s, end, "LD_PRELOAD=", sh_shim_path()))) out[n++] = x;
    if (!mounts && sh_mounts_env && (x = put(&s, end, "HILBERT_MOUNTS=", sh_mounts_env))) out[n++] = x;
    if (!engine && sh_engine_env && (x = put(&s, end, "HILBERT_ENGINE=", sh_engine_env))) out[n++] = x;
    if (sh_vcwd_on && end - s > 128) {
        char *p = s;
        p = stpcpy(p, "HILBERT_CWD=");
        p = sh_utoa(p, (unsigned long long)sh_vcwd_mount);
        *p++ = ':';
        p = sh_utoa(p, sh_vcwd_ino);
        *p++ = ':';
        p = sh_utoa(p, sh_vcwd_pdev);
        *p++ = ':';
        p = sh_utoa(p, sh_vcwd_pino);
        *p++ = 0;
        out[n++] = s;
        s = p;
    }
    if (sh_nrec > 0 && end - s > 64) {
        char *p = s, *lim = end - 64;
        p = stpcpy(p, "HILBERT_FDS=");
        char *first = p;
        for (int fd = 0, max = sh_fd_max_user(); fd <= max && p < lim; fd++) {
            hl_file f;
            if (!sh_fd_get(fd, &f) || f.kind == SH_KIND_PRIVATE) continue;
            int fl = REAL(fcntl)(fd, F_GETFD);
            if (fl < 0 || (fl & FD_CLOEXEC)) continue;
            if (p != first) *p++ = ',';
            p = sh_utoa(p, (unsigned)fd);
            *p++ = ':';
            p = sh_utoa(p, (unsigned long long)f.mount);
            *p++ = ':';
            uint32_t k = sh_fd_kind_raw(fd);
            p = sh_utoa(p, k == SH_KIND_WRITE_INHERITED ? HL_KIND_WRITE : k);   /* a sparse appender stays one */
            *p++ = ':';
            p = sh_utoa(p, f.ino);
        }
        *p++ = 0;
        if (p - 1 != first) {
            out[n++] = s;
            s = p;
        }
    }
    out[n] = NULL;
    return (int)n;
}

/* Write fds that vanish at exec: commit their content now (they stay open). And the engine's
 * exit-time work (small files committed but not yet packed): the process image is going. */
void sh_sync_cloexec_writes(void) {
    if ((likely(sh_nrec == 0) && !sh_engine_loaded) || sh_in_vfork()) return;
    int saved = errno;
    for (int fd = 0, max = sh_nrec == 0 ? -1 : sh_fd_max_user(); fd <= max; fd++) {
        hl_file f;
        if (!sh_fd_get(fd, &f) || f.kind != HL_KIND_WRITE) continue;
        int fl = REAL(fcntl)(fd, F_GETFD);
        if (fl < 0 || !(fl & FD_CLOEXEC)) continue;
        const hl_engine_api *E = sh_engine();
        if (E) ECALL(E->fsync(fd, &f));
    }
    if (sh_engine_loaded) {
        const hl_engine_api *E = sh_engine();
        if (E) ECALL((E->stop(NULL, NULL, 0), 0));
    }
    errno = saved;
}

static size_t count(char *const v[]) {
    size_t n = 0;
    while (v && v[n]) n++;
    return n;
}

/* Parse "#!interp [arg]" from the first bytes of a file. 1 if it is a script. */
static int shebang(const char *host, char *interp, char *arg) {
    char b[256];
    int fd = REAL(open)(host, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = REAL(read)(fd, b, sizeof b - 1);
    REAL(close)(fd);
    if (n < 3 || b[0] != '#' || b[1] != '!') return 0;
    b[n] = 0;
    char *p = b + 2, *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    while (*p == ' ' || *p == '\t') p++;
    char *e = p;
    while (*e && *e != ' ' && *e != '\t') e++;
    if (e == p) return 0;
    char *a = e;
    if (*a) *a++ = 0;
    while (*a == ' ' || *a == '\t') a++;
    size_t al = strlen(a);
    while (al && (a[al - 1] == ' ' || a[al - 1] == '\t' || a[al - 1] == '\r')) a[--al] = 0;
    sh_strlcpy(interp, p, PATH_MAX);
    sh_strlcpy(arg, a, PATH_MAX);
    return 1;
}

/* A vfork child cannot load the engine: let a fresh shell (which loads the shim) exec it. */
static int exec_via_shell(const char *path, char *const argv[], char *const env[]) {
    size_t argc = count(argv);
    char *nv[argc + 5];
    size_t k = 0;
    if (REAL(access)("/bin/bash", X_OK) == 0) {
        nv[k++] = "bash";
        nv[k++] = "-c";
        nv[k++] = "exec -a \"$0\" \"$1\" \"${@:2}\"";
        nv[k++] = argc ? argv[0] : (char *)path;
        nv[k++] = (char *)path;
        for (size_t i = 1; i < argc; i++) nv[k++] = argv[i];
        nv[k] = NULL;
        return REAL(execve)("/bin/bash", nv, env);
    }
    nv[k++] = "sh";
    nv[k++] = "-c";
    nv[k++] = "exec \"$0\" \"$@\"";
    nv[k++] = (char *)path;
    for (size_t i = 1; i < argc; i++) nv[k++] = argv[i];
    nv[k] = NULL;
    return REAL(execve)("/bin/sh", nv, env);
}

/* Resolve a virtual executable to a host file. For scripts, *argvp becomes
 * [interp, arg?, path, argv[1..]] in nv (count(argv) + 3 slots). Returns the host path to
 * exec, or NULL (errno). `host` and `ibuf`/`abuf` are PATH_MAX buffers. */
static const char *prepare(vpath *v, const char *path, char *const **argvp, char **nv,
                           char *host, char *ibuf, char *abuf) {
    const hl_engine_api *E = sh_engine();
    if (!E) return NULL;
    ssize_t n = ECALL(E->materialize(&v->loc, 1, host, PATH_MAX));
    if (n == -HL_REDIRECT) {
        if (sh_take_redirect(v) < 0) return NULL;
        return v->host;
    }
    if (n < 0) { errno = (int)-n; return NULL; }
    if (!shebang(host, ibuf, abuf)) return host;
    char *const *argv = *argvp;
    size_t argc = count(argv), k = 0;
    nv[k++] = ibuf;
    if (*abuf) nv[k++] = abuf;
    nv[k++] = (char *)path;
    for (size_t i = 1; i < argc; i++) nv[k++] = argv[i];
    nv[k] = NULL;
    *argvp = nv;
    vpath iv;
    if (sh_classify(&iv, AT_FDCWD, ibuf) == SH_VIRT) {
        n = ECALL(E->materialize(&iv.loc, 1, host, PATH_MAX));
        if (n == -HL_REDIRECT) {
            /* the interpreter is a symlink out of the prefix (a venv's bin/python3 ->
             * /usr/bin/python3): exec its host target; argv[0] keeps the virtual name */
            if (sh_take_redirect(&iv) < 0) return NULL;
            sh_strlcpy(host, iv.host, PATH_MAX);
            return host;
        }
        if (n < 0) { errno = (int)-n; return NULL; }
        return host;
    }
    return ibuf;
}

/* An LD_LIBRARY_PATH that sh_build_env could not rewrite (a vfork child without the engine). */
static int ldpath_pending(char *const env[]) {
    for (size_t i = 0; env[i]; i++)
        if (env[i][0] == 'L' && has(env[i], "LD_LIBRARY_PATH")) return sh_ldpath_virtual(env[i] + 16);
    return 0;
}

static int vexec(vpath *v, const char *path, char *const argv[], char *const env[]) {
    if (!sh_E && sh_in_vfork()) return exec_via_shell(path, argv, env);
    char host[PATH_MAX], ibuf[PATH_MAX], abuf[PATH_MAX];
    char *nv[count(argv) + 4];
    char *const *av = argv;
    const char *x = prepare(v, path, &av, nv, host, ibuf, abuf);
    if (!x) return -1;
    return REAL(execve)(x, av, env);
}

int sh_execve(const char *path, char *const argv[], char *const envp[]) {
    if (sh_pass()) return REAL(execve)(path, argv, envp);
    char *env[count(envp) + sh_env_extra() + 2];
    char sbuf[SBUF];
    sh_build_env(envp, env, sizeof env / sizeof env[0], sbuf, sizeof sbuf);
    sh_sync_cloexec_writes();
    sh_lock_at_exit(); /* the lock fds are close-on-exec: so go their cluster leases */
    vpath v;
    v.host = path;
    int k = sh_route(&v, SH_CREATE, AT_FDCWD, path);
    if (k == SH_ERR) return -1;
    if (k == SH_HOST) {
        /* the shell's exec mirrors them; a PATH search's missing candidates must still fail */
        if (unlikely(!sh_E) && sh_in_vfork() && ldpath_pending(env) && REAL(access)(path, X_OK) == 0)
            return exec_via_shell(path, argv, env);
        REAL(execve)(path, argv, env);
        if (errno != ENOENT) return -1;
        k = sh_after_enoent(&v, AT_FDCWD, 0);
        if (k != SH_VIRT) {
            if (k == SH_HOST) errno = ENOENT;
            return -1;
        }
    }
    sh_debug("execve", v.buf);
    return vexec(&v, path, argv, env);
}

EXPORT int execve(const char *p, char *const a[], char *const e[]) { return sh_execve(p, a, e); }
EXPORT int execv(const char *p, char *const a[]) { return sh_execve(p, a, environ); }

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
    if (sh_pass()) return REAL(execvpe)(file, argv, envp);
    if (!file || !*file) { errno = ENOENT; return -1; }
    if (strchr(file, '/')) {
        sh_execve(file, argv, envp);
        goto noexec;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/bin:/usr/bin";
    size_t fl = strlen(file);
    int eacces = 0;
    for (const char *p = path;; p++) {
        const char *e = strchr(p, ':');
        size_t dl = e ? (size_t)(e - p) : strlen(p);
        char cand[PATH_MAX];
        if (path_candidate(cand, p, dl, file, fl)) {
            sh_execve(cand, argv, envp);
            if (errno == ENOEXEC) {
                file = cand;
                goto noexec;
            }
            if (errno == EACCES) eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
                     errno != ETIMEDOUT && errno != ELOOP && errno != ENAMETOOLONG)
                return -1;
        }
        if (!e) break;
        p = e;
    }
    errno = eacces ? EACCES : ENOENT;
    return -1;
noexec:
    if (errno == ENOEXEC) { /* glibc runs such files with /bin/sh */
        size_t argc = count(argv);
        char *nv[argc + 3];
        nv[0] = "/bin/sh";
        nv[1] = (char *)file;
        for (size_t i = 1; i <= argc; i++) nv[i + 1] = i < argc ? argv[i] : NULL;
        if (argc == 0) nv[2] = NULL;
        sh_execve("/bin/sh", nv, envp);
    }
    return -1;
}

EXPORT int execvp(const char *f, char *const a[]) { return execvpe(f, a, environ); }

#define COLLECT(first, ap, args, extra)                                               \
    size_t _n = 1;                                                                    \
    va_list _c;                                                                       \
    va_copy(_c, ap);                                                                  \
    while (va_arg(_c, char *)) _n++;                                                  \
    va_end(_c);                                                                       \
    char *args[_n + 1];                                                               \
    args[0] = (char *)(first);                                                        \
    for (size_t _i = 1; _i <= _n; _i++) args[_i] = _i < _n ? va_arg(ap, char *) : NULL; \
    extra

EXPORT int execl(const char *p, const char *a0, ...) {
    va_list ap;
    va_start(ap, a0);
    COLLECT(a0, ap, args, );
    va_end(ap);
    return sh_execve(p, args, environ);
}
EXPORT int execlp(const char *f, const char *a0, ...) {
    va_list ap;
    va_start(ap, a0);
    COLLECT(a0, ap, args, );
    va_end(ap);
    return execvpe(f, args, environ);
}
EXPORT int execle(const char *p, const char *a0, ...) {
    va_list ap;
    va_start(ap, a0);
    COLLECT(a0, ap, args, char *const *envp = va_arg(ap, char *const *));
    va_end(ap);
    return sh_execve(p, args, envp);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
    if (sh_pass()) return REAL(fexecve)(fd, argv, envp);
    char *env[count(envp) + sh_env_extra() + 2];
    char sbuf[SBUF];
    sh_build_env(envp, env, sizeof env / sizeof env[0], sbuf, sizeof sbuf);
    sh_sync_cloexec_writes();
    sh_lock_at_exit();
    return REAL(fexecve)(fd, argv, env);
}

/* posix_spawn and posix_spawnp have two versions with the same arguments. The default
 * (@@GLIBC_2.15) fails with ENOEXEC for a file the kernel cannot execute; the old one
 * (@GLIBC_2.2.5, binaries linked before glibc 2.15) then runs it with /bin/sh instead, as
 * execvp does. Every path of each wrapper (host, virtual after materializing, PATH search)
 * ends in the same version of the real function, so the old wrapper keeps that fallback, and
 * system()/popen() (wrap_spawn.c) use the default one, as glibc's do. */
typedef int (*spawn_fn)(pid_t *, const char *, const void *, const void *, char *const[], char *const[]);
static int spawn_new(pid_t *a, const char *b, const void *c, const void *d, char *const e[], char *const f[]) {
    return REAL(posix_spawn)(a, b, c, d, e, f);
}
static int spawn_old(pid_t *a, const char *b, const void *c, const void *d, char *const e[], char *const f[]) {
    return REAL_OLD(posix_spawn_2_2_5)(a, b, c, d, e, f);
}
static int spawnp_new(pid_t *a, const char *b, const void *c, const void *d, char *const e[], char *const f[]) {
    return REAL(posix_spawnp)(a, b, c, d, e, f);
}
static int spawnp_old(pid_t *a, const char *b, const void *c, const void *d, char *const e[], char *const f[]) {
    return REAL_OLD(posix_spawnp_2_2_5)(a, b, c, d, e, f);
}

/* posix_spawn: same environment rules; virtual executables are resolved first. */
static int do_spawn(spawn_fn real, pid_t *pid, const char *path, const void *fa, const void *attr,
                    char *const argv[], char *const envp[]) {
    if (sh_pass()) return real(pid, path, fa, attr, argv, envp);
    int fa_err = sh_spawn_actions_error(fa);
    if (fa_err) return fa_err;
    char *env[count(envp) + sh_env_extra() + 2];
    char sbuf[SBUF];
    sh_build_env(envp, env, sizeof env / sizeof env[0], sbuf, sizeof sbuf);
    sh_sync_cloexec_writes();
    int saved = errno;
    vpath v;
    v.host = path;
    int k = sh_route(&v, SH_CREATE, AT_FDCWD, path);
    if (k == SH_ERR) { int e = errno; errno = saved; return e; }
    if (k == SH_HOST) return real(pid, path, fa, attr, argv, env);
    char host[PATH_MAX], ibuf[PATH_MAX], abuf[PATH_MAX];
    char *nv[count(argv) + 4];
    char *const *av = argv;
    const char *x = prepare(&v, path, &av, nv, host, ibuf, abuf);
    if (!x) { int e = errno; errno = saved; return e; }
    return real(pid, x, fa, attr, av, env);
}

static int path_has_virtual(const char *path) {
    for (const char *p = path; p && *p;) {
        if ((*p == '/' && sh_match_abs(p, NULL) >= 0) || ((*p != '/') && sh_vcwd_on)) return 1;
        const char *e = strchr(p, ':');
        if (!e) break;
        p = e + 1;
        if (!*p && sh_vcwd_on) return 1;
    }
    return 0;
}

static int do_spawnp(spawn_fn real, spawn_fn realp, pid_t *pid, const char *file, const void *fa,
                     const void *attr, char *const argv[], char *const envp[]) {
    const char *path = getenv("PATH");
    if (sh_pass() || strchr(file, '/') || !path_has_virtual(path)) {
        if (sh_pass() || strchr(file, '/')) return do_spawn(real, pid, file, fa, attr, argv, envp);
        int fa_err = sh_spawn_actions_error(fa);
        if (fa_err) return fa_err;
        char *env[count(envp) + sh_env_extra() + 2];
        char sbuf[SBUF];
        sh_build_env(envp, env, sizeof env / sizeof env[0], sbuf, sizeof sbuf);
        sh_sync_cloexec_writes();
        return realp(pid, file, fa, attr, argv, env);
    }
    size_t fl = strlen(file);
    for (const char *p = path;; p++) {
        const char *e = strchr(p, ':');
        size_t dl = e ? (size_t)(e - p) : strlen(p);
        char cand[PATH_MAX];
        if (path_candidate(cand, p, dl, file, fl)) {
            int saved = errno;
            if (access(cand, X_OK) == 0) return do_spawn(real, pid, cand, fa, attr, argv, envp);
            errno = saved;
        }
        if (!e) break;
        p = e;
    }
    return ENOENT;
}

int sh_posix_spawn(pid_t *pid, const char *path, const void *fa, const void *attr,
                   char *const argv[], char *const envp[]) {
    return do_spawn(spawn_new, pid, path, fa, attr, argv, envp);
}
EXPORT int sh_v_posix_spawn(pid_t *pid, const char *path, const void *fa, const void *attr,
                            char *const argv[], char *const envp[]) {
    return do_spawn(spawn_new, pid, path, fa, attr, argv, envp);
}
EXPORT int sh_v_posix_spawn_old(pid_t *pid, const char *path, const void *fa, const void *attr,
                                char *const argv[], char *const envp[]) {
    return do_spawn(spawn_old, pid, path, fa, attr, argv, envp);
}
EXPORT int sh_v_posix_spawnp(pid_t *pid, const char *file, const void *fa, const void *attr,
                             char *const argv[], char *const envp[]) {
    return do_spawnp(spawn_new, spawnp_new, pid, file, fa, attr, argv, envp);
}
EXPORT int sh_v_posix_spawnp_old(pid_t *pid, const char *file, const void *fa, const void *attr,
                                 char *const argv[], char *const envp[]) {
    return do_spawnp(spawn_old, spawnp_old, pid, file, fa, attr, argv, envp);
}
SH_SYMVER(sh_v_posix_spawn, "posix_spawn@@GLIBC_2.15");
SH_SYMVER(sh_v_posix_spawn_old, "posix_spawn@GLIBC_2.2.5");
SH_SYMVER(sh_v_posix_spawnp, "posix_spawnp@@GLIBC_2.15");
SH_SYMVER(sh_v_posix_spawnp_old, "posix_spawnp@GLIBC_2.2.5");
