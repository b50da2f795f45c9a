/* Function pointers used by the vfork trampoline (vfork.S); clone(). */
#include "shim.h"
#include <sched.h>

void *sh_real_vfork_fn, *sh_real_fork_fn;

void sh_resolve_forks(void) {
    sh_real_fork_fn = (void *)REAL(fork);
    sh_real_vfork_fn = (void *)REAL(vfork);
}

/* A clone child sharing our memory (CLONE_VM without CLONE_THREAD) runs on its own stack and
 * never returns here, so a C wrapper is safe; it only records that such children exist. */
EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    pid_t *parent_tid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *child_tid = va_arg(ap, pid_t *);
    va_end(ap);
    if ((flags & CLONE_VM) && !(flags & CLONE_THREAD))
        __atomic_store_n(&sh_shared_memory_child, 1, __ATOMIC_RELAXED);
    return REAL(clone)(fn, stack, flags, arg, parent_tid, tls, child_tid);
}
