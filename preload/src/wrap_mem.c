/* Memory that may stop being readable: the pages safe.c remembers as readable are forgotten
 * first (sh_map_gen). Nothing else changes; the real call does the work. */
#include "shim.h"
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>

static inline void forget_pages(void) { atomic_fetch_add_explicit(&sh_map_gen, 1, memory_order_acq_rel); }

EXPORT int munmap(void *a, size_t n) {
    forget_pages();
    return REAL(munmap)(a, n);
}

EXPORT int mprotect(void *a, size_t n, int prot) {
    if (!(prot & PROT_READ)) forget_pages();
    return REAL(mprotect)(a, n, prot);
}

EXPORT void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...) {
    void *to = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        to = va_arg(ap, void *);
        va_end(ap);
    }
    forget_pages();
    return REAL(mremap)(old, old_size, new_size, flags, to);
}

EXPORT int shmdt(const void *a) {
    forget_pages();
    return REAL(shmdt)(a);
}
