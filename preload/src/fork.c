/* Function pointers used by the vfork trampoline (vfork.S). */
#include "shim.h"

void *sh_real_vfork_fn, *sh_real_fork_fn;

void sh_resolve_forks(void) {
    sh_real_fork_fn = (void *)REAL(fork);
    sh_real_vfork_fn = (void *)REAL(vfork);
}
