/* Lazy engine loading: the engine is dlopen()ed the first time a virtual path is touched. */
#include "shim.h"
#include <dlfcn.h>
#include <sched.h>

__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dladdr,dladdr@GLIBC_2.2.5");
__asm__(".symver dlerror,dlerror@GLIBC_2.2.5");

const hl_engine_api *volatile sh_E;
volatile int sh_engine_loaded;
static volatile int load_state; /* 0 idle, 1 loading, 2 done */
static int load_err = ENOSYS;
static char shim_path[PATH_MAX];
static hl_real_table real_table;
static hl_shim_services svc;

static void guard_thread(int delta) { sh_guard += delta; }

static void say(const char *a, const char *b, const char *c) {
    char line[PATH_MAX + 512];
    size_t n = sh_strlcpy(line, "hilbert: ", sizeof line);
    n += sh_strlcpy(line + n, a, sizeof line - n);
    n += sh_strlcpy(line + n, b ? b : "", sizeof line - n);
    n += sh_strlcpy(line + n, c ? c : "", sizeof line - n - 1);
    line[n++] = '\n';
    REAL(write)(2, line, n);
}

/* Absolute path of this shim (dladdr on one of our symbols). Not safe in a vfork child
 * the first time (realpath), so exec paths fall back to the raw dladdr name there. */
const char *sh_shim_path(void) {
    if (shim_path[0]) return shim_path;
    Dl_info info;
    if (!dladdr((void *)sh_shim_path, &info) || !info.dli_fname) return NULL;
    if (sh_in_vfork() || !REAL(realpath)(info.dli_fname, shim_path))
        return info.dli_fname;
    return shim_path;
}

static void load(void) {
    char path[PATH_MAX];
    const char *self = sh_shim_path();
    if (sh_engine_env && *sh_engine_env) {
        sh_strlcpy(path, sh_engine_env, sizeof path);
    } else {
        size_t n = self ? sh_strlcpy(path, self, sizeof path) : 0;
        while (n > 0 && path[n - 1] != '/') n--;
        sh_strlcpy(path + n, "libHilbertEngine.so", sizeof path - n);
    }
    void *h = REAL(dlopen)(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        say("cannot load engine: ", dlerror(), "; virtual paths will fail with ENOSYS");
        return;
    }
    hl_engine_entry_fn entry = (hl_engine_entry_fn)dlsym(h, HL_ENGINE_ENTRY);
    const hl_engine_api *api = entry ? entry() : NULL;
    if (!api || api->abi_version != HL_ABI_VERSION || api->size < sizeof(hl_engine_api)) {
        say("engine ", path, api ? " has an incompatible ABI version" : " lacks " HL_ENGINE_ENTRY);
        return;
    }
    sh_fill_engine_table(&real_table);
    svc.abi_version = HL_ABI_VERSION;
    svc.size = sizeof svc;
    svc.real = &real_table;
    svc.note_private_fd = sh_note_private_fd;
    svc.shim_path = self;
    svc.current_umask = sh_current_umask;
    svc.cred_generation = sh_cred_generation;
    svc.guard_thread = guard_thread;
    svc.fd_gate_enter = sh_fdgate_enter;
    svc.fd_gate_leave = sh_fdgate_leave;
    sh_fdgate_arm();
    sh_engine_loaded = 1;
    int r = api->start(&svc, sh_mounts_env);
    if (r < 0) {
        load_err = -r; /* the engine printed its own line */
        return;
    }
    __atomic_store_n(&sh_E, api, __ATOMIC_RELEASE);
}

const hl_engine_api *sh_engine(void) {
    const hl_engine_api *E = __atomic_load_n(&sh_E, __ATOMIC_ACQUIRE);
    if (likely(E != NULL)) return E;
    if (sh_in_vfork()) { errno = ENOSYS; return NULL; }
    int expected = 0;
    if (__atomic_compare_exchange_n(&load_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        int saved = errno;
        sh_scan_signal_handlers();
        sigset_t mask; /* deferred as in ECALL: the engine's start spawns threads, takes locks */
        int deferred = sh_defer_signals(&mask);
        sh_guard++;
        load();
        sh_guard--;
        if (deferred) sh_restore_signals(&mask);
        errno = saved;
        __atomic_store_n(&load_state, 2, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&load_state, __ATOMIC_ACQUIRE) != 2) sched_yield();
    }
    E = __atomic_load_n(&sh_E, __ATOMIC_ACQUIRE);
    if (!E) errno = load_err;
    return E;
}
