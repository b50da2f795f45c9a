/* umask: remembered so the engine applies the program's current mask to files it creates
 * (reading the mask back from the kernel would need /proc or a racy umask pair). */
#include "shim.h"

static int known_umask = -1;

EXPORT mode_t umask(mode_t mask) {
    mode_t old = REAL(umask)(mask);
    if (!sh_in_vfork()) __atomic_store_n(&known_umask, (int)(mask & 0777), __ATOMIC_RELAXED);
    return old;
}

int sh_current_umask(void) { return __atomic_load_n(&known_umask, __ATOMIC_RELAXED); }
