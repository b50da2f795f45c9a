/* Process-wide state: environment (read once), pid cache, fork handling, exit commit. */
#include "shim.h"
#include <pthread.h>
#include <sys/syscall.h>

int sh_inited, sh_disabled, sh_debug_on, sh_hostlinks = 1;
int sh_nmounts;
char sh_prefix[SH_MAX_MOUNTS][256];
size_t sh_plen[SH_MAX_MOUNTS];
const char *sh_mounts_env, *sh_engine_env;
pid_t sh_pid;
__thread int sh_guard __attribute__((tls_model("initial-exec")));
static volatile int init_state; /* 0 none, 1 running, 2 done */

static void add_prefix(const char *s, size_t n) {
    while (n > 1 && s[n - 1] == '/') n--;
    if (n < 2 || s[0] != '/' || n >= sizeof sh_prefix[0] || sh_nmounts >= SH_MAX_MOUNTS) return;
    memcpy(sh_prefix[sh_nmounts], s, n);
    sh_prefix[sh_nmounts][n] = 0;
    sh_plen[sh_nmounts++] = n;
}

static void parse_mounts(const char *m) {
    while (m && *m) {
        const char *end = strchr(m, ';');
        size_t len = end ? (size_t)(end - m) : strlen(m);
        const char *eq = memchr(m, '=', len);
        add_prefix(m, eq ? (size_t)(eq - m) : len);
        m = end ? end + 1 : NULL;
    }
}

static unsigned long long num(const char **s) {
    unsigned long long v = 0;
    while (**s >= '0' && **s <= '9') v = v * 10 + (unsigned)(*(*s)++ - '0');
    return v;
}

/* HILBERT_CWD=<mount>:<ino>:<dev>:<placeholder ino>; trusted only if "." matches. */
static void parse_cwd(const char *s) {
    int32_t m = (int32_t)num(&s);
    if (*s++ != ':') return;
    uint64_t ino = num(&s);
    if (*s++ != ':') return;
    uint64_t dev = num(&s);
    if (*s++ != ':') return;
    uint64_t pino = num(&s);
    struct stat st;
    if (REAL(stat)(".", &st) == 0 && st.st_dev == dev && st.st_ino == pino)
        sh_vcwd_set(m, ino, dev, pino);
}

/* HILBERT_FDS=<fd>:<mount>:<kind>:<ino>,... */
static void parse_fds(const char *s) {
    while (*s) {
        hl_file f;
        int fd = (int)num(&s);
        if (*s++ != ':') return;
        f.mount = (int32_t)num(&s);
        if (*s++ != ':') return;
        f.kind = (uint32_t)num(&s);
        if (*s++ != ':') return;
        f.ino = num(&s);
        if (f.kind == HL_KIND_WRITE) f.kind = SH_KIND_WRITE_INHERITED;
        if (REAL(fcntl)(fd, F_GETFD) >= 0) sh_fd_set(fd, &f);
        if (*s == ',') s++;
        else if (*s) return;
    }
}

static volatile int *fork_lock(int i) {
    switch (i) {
    case 0: return &sh_fdtable_lock;
    case 1: return &sh_dirreg_lock;
    case 2: return &sh_fts_lock;
    case 3: return &sh_lockfile_lock;
    case 4: return sh_spawn_lock(0);
    case 5: return sh_spawn_lock(1);
    default: return NULL;
    }
}

/* No critical section holds one of these locks while taking another, so any order is safe.
 * Nor does one hold a lock across an engine call (ECALL): the engine's fork handler runs before
 * this one (registered later) and waits for every thread inside the engine to leave it, and a
 * thread that held one of these while waiting at the engine's gate would hold it through the
 * fork. (Each virtual DIR's own spinlock is held across the engine's readdir and is not taken
 * here: like glibc's lock of a DIR, it stays as it was in the child, which may not use a stream
 * another thread of the parent was reading.) */
static void atfork_prepare(void) {
    for (int i = 0; fork_lock(i); i++) sh_lock(fork_lock(i));
}
static void atfork_parent(void) {
    for (int i = 0; fork_lock(i); i++) sh_unlock(fork_lock(i));
}
static void atfork_child(void) {
    sh_pid = (pid_t)syscall(SYS_getpid);
    for (int i = 0; fork_lock(i); i++) sh_unlock(fork_lock(i));
    sh_fdgate_after_fork_child();
}

void sh_init(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&init_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != 2) __builtin_ia32_pause();
        return;
    }
    int saved = errno;
    sh_pid = (pid_t)syscall(SYS_getpid);
    const char *d = getenv("HILBERT_DISABLE");
    sh_disabled = d && d[0] == '1';
    d = getenv("HILBERT_DEBUG");
    sh_debug_on = d && d[0] == '1';
    d = getenv("HILBERT_HOST_LINKS");
    sh_hostlinks = !(d && d[0] == '0');
    sh_mounts_env = getenv("HILBERT_MOUNTS");
    sh_engine_env = getenv("HILBERT_ENGINE");
    if (sh_mounts_env && *sh_mounts_env) parse_mounts(sh_mounts_env);
    else sh_mounts_env = NULL;
    if (sh_nmounts == 0) add_prefix("/hilbert", 8);
    if (!sh_disabled) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        if ((d = getenv("HILBERT_CWD"))) parse_cwd(d);
        if ((d = getenv("HILBERT_FDS"))) parse_fds(d);
    }
    __atomic_store_n(&sh_inited, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
    errno = saved;
}

__attribute__((constructor)) static void sh_ctor(void) {
    if (!sh_inited) sh_init();
    /* Resolved now, not at a first call that may come from a signal handler (wrap_mem.c). */
    (void)REAL(munmap);
    (void)REAL(mprotect);
    (void)REAL(mremap);
    (void)REAL(shmdt);
}

/* A vfork child shares our memory: it must not touch tables or call the engine. Such a child
 * can only exist after the vfork trampoline or the clone wrapper set the flag. */
volatile int sh_shared_memory_child;

int sh_in_vfork(void) {
    if (likely(!__atomic_load_n(&sh_shared_memory_child, __ATOMIC_RELAXED))) return 0;
    return (pid_t)syscall(SYS_getpid) != sh_pid;
}

void sh_debug(const char *op, const char *path) {
    if (likely(!sh_debug_on)) return;
    int saved = errno;
    char line[PATH_MAX + 128];
    size_t n = sh_strlcpy(line, "hilbert: ", sizeof line);
    n += sh_strlcpy(line + n, op, 64);
    n += sh_strlcpy(line + n, " ", 2);
    n += sh_strlcpy(line + n, path ? path : "(fd)", PATH_MAX);
    line[n++] = '\n';
    REAL(write)(2, line, n);
    errno = saved;
}

/* Exit-time work: commit what processes holding engine write fds wrote, and let the engine
 * finish its own (small files committed but not yet packed). Only processes that loaded the
 * engine, or hold a write fd (inherited across exec), call into it. */
__attribute__((destructor)) static void sh_dtor(void) {
    if (sh_inited && !sh_disabled) sh_lock_at_exit(); /* cluster lock leases (wrap_lock.c) */
    if (!sh_inited || sh_disabled || sh_in_vfork() || (sh_nrec == 0 && !sh_engine_loaded)) return;
    int saved = errno, n = 0, max = sh_nrec == 0 ? -1 : sh_fd_max_user();
    int *fds = NULL;
    hl_file *files = NULL;
    for (int fd = 0; fd <= max; fd++) {
        hl_file f;
        if (!sh_fd_get(fd, &f) || f.kind != HL_KIND_WRITE) continue;
        if (!fds) {
            fds = malloc(sizeof *fds * (size_t)(max + 1));
            files = malloc(sizeof *files * (size_t)(max + 1));
            if (!fds || !files) return;
        }
        fds[n] = fd;
        files[n++] = f;
    }
    if (n) fflush(NULL);
    if (n || sh_engine_loaded) {
        const hl_engine_api *E = sh_engine();   /* loads it for a write fd inherited across exec */
        if (E) ECALL((E->stop(fds, files, n), 0));
    }
    free(fds);
    free(files);
    errno = saved;
}
