/* The shim's spinlocks, and signal deferral around its critical sections.
 *
 * A signal handler may call open/read/stat/close (async-signal-safe in POSIX) on a virtual
 * path while the thread it interrupted is inside the shim. Were that thread holding one of the
 * shim's global spinlocks (fd table, DIR registry, fts, lock files, spawn lists), the handler
 * would spin on it forever; were it inside the engine, the handler would re-enter the engine
 * (not re-entrant: mutexes, per-thread state) or, seeing the re-entry guard raised, send the
 * virtual path to the host (ENOENT). So both are entered with the catchable asynchronous
 * signals that have a handler blocked (wrap_signal.c tracks them; a signal with its default
 * action or ignored cannot re-enter, and stays deliverable: SIGINT still ends a process that
 * waits in the engine), and a deferred signal is delivered when the section ends:
 *  - sh_lock/sh_unlock (global locks): blocked from the outermost lock to its unlock, one
 *    pair of sigprocmask calls however many locks nest (atfork takes all of them);
 *  - ECALL (shim.h): blocked for each engine call; threads the engine starts in a call
 *    inherit the mask, so a process-directed signal is not handled on an engine thread.
 * Synchronous signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) and SIGABRT stay
 * open: blocking them would turn a fault into a silent kill. glibc's sigprocmask keeps its
 * internal signals (cancellation, setxid) open by itself. The cost is two system calls per
 * engine call or outermost lock, on virtual paths only, and none while no handler is set.
 * The per-DIR lock of a virtual DIR (wrap_dir.c) is a plain spinlock (sh_spin_*): a handler
 * has its own DIR streams, and using the interrupted thread's stream is undefined (readdir is
 * not async-signal-safe). */
#include "shim.h"
#include <signal.h>

int sh_defer_signals(sigset_t *old) {
    uint64_t m = __atomic_load_n(&sh_handled_signals, __ATOMIC_RELAXED);
    static const int sync_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof sync_signals / sizeof sync_signals[0]; i++) m &= ~(1ULL << (sync_signals[i] - 1));
    if (!m) return 0; /* no handler: nothing can re-enter, and no system call */
    sigset_t set;
    sigemptyset(&set);
    for (; m; m &= m - 1) sigaddset(&set, __builtin_ctzll(m) + 1);
    sigprocmask(SIG_BLOCK, &set, old);
    return 1;
}
void sh_restore_signals(const sigset_t *old) { sigprocmask(SIG_SETMASK, old, NULL); }

void sh_spin_lock(volatile int *l) {
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED)) __builtin_ia32_pause();
}
void sh_spin_unlock(volatile int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* Global locks held by this thread, and its signal mask from before the outermost one. A
 * handler cannot run between the test and the sigprocmask below and find depth 0 but signals
 * blocked: if it runs there at all, it takes and releases its own locks completely first. */
static __thread int depth, deferred __attribute__((tls_model("initial-exec")));
static __thread sigset_t saved __attribute__((tls_model("initial-exec")));

void sh_lock(volatile int *l) {
    if (depth == 0) {
        sigset_t old;
        int d = sh_defer_signals(&old);
        saved = old;
        deferred = d;
    }
    depth++;
    sh_spin_lock(l);
}
void sh_unlock(volatile int *l) {
    sh_spin_unlock(l);
    if (--depth == 0 && deferred) {
        sigset_t old = saved;
        deferred = 0;
        sh_restore_signals(&old);
    }
}
