/* Which signals have a handler: the only ones whose delivery the shim defers (lock.c). A
 * signal with its default action or ignored cannot re-enter the shim, and leaving it open keeps
 * SIGINT/SIGTERM able to end a process that waits inside the engine (a virtual FIFO's open
 * blocks there until the other end opens). Tracked through the libc calls that install
 * handlers, and scanned once when the engine loads (handlers set with raw system calls before
 * that, e.g. by the Go runtime, are seen then; later raw ones are not). */
#include "shim.h"
#include <signal.h>

volatile uint64_t sh_handled_signals; /* bit sig-1 */

static void note(int sig, sighandler_t h) {
    if (sig < 1 || sig > 64) return;
    uint64_t bit = 1ULL << (sig - 1);
    if (h != SIG_DFL && h != SIG_IGN) __atomic_or_fetch(&sh_handled_signals, bit, __ATOMIC_RELAXED);
    else __atomic_and_fetch(&sh_handled_signals, ~bit, __ATOMIC_RELAXED);
}

void sh_scan_signal_handlers(void) {
    for (int sig = 1; sig <= 64; sig++) {
        struct sigaction sa;
        if (REAL(sigaction)(sig, NULL, &sa) == 0) note(sig, sa.sa_handler);
    }
}

/* act is read only after libc accepted it (glibc itself reads it in user space). */
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    int r = REAL(sigaction)(sig, act, old);
    if (r == 0 && act) note(sig, act->sa_handler);
    return r;
}
EXPORT sighandler_t signal(int sig, sighandler_t h) {
    sighandler_t r = REAL(signal)(sig, h);
    if (r != SIG_ERR) note(sig, h);
    return r;
}
EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) {
    sighandler_t r = REAL(bsd_signal)(sig, h);
    if (r != SIG_ERR) note(sig, h);
    return r;
}
EXPORT sighandler_t sysv_signal(int sig, sighandler_t h) {
    sighandler_t r = REAL(sysv_signal)(sig, h);
    if (r != SIG_ERR) note(sig, h);
    return r;
}
EXPORT sighandler_t sigset(int sig, sighandler_t h) {
    sighandler_t r = REAL(sigset)(sig, h);
    if (r != SIG_ERR && h != SIG_HOLD) note(sig, h);
    return r;
}
