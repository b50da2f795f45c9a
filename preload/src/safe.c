/* Reading and writing through user pointers without ever faulting: process_vm_readv /
 * process_vm_writev on our own pid return EFAULT for unmapped memory. */
#include "shim.h"
#include <stdatomic.h>
#include <sys/uio.h>

#define PAGE 4096UL
static int no_vm; /* process_vm_* refused (seccomp): fall back to plain access */

static ssize_t vm_rw(int write, void *local, const void *remote, size_t n) {
    struct iovec l = {local, n}, r = {(void *)remote, n};
    ssize_t k = write ? process_vm_writev(sh_pid, &l, 1, &r, 1, 0)
                      : process_vm_readv(sh_pid, &l, 1, &r, 1, 0);
    if (k < 0 && (errno == ENOSYS || errno == EPERM || errno == ESRCH)) no_vm = 1;
    return k;
}

/* Pages read through a pointer without a fault, remembered by each thread until the process
 * next unmaps memory or takes away its read permission (the shim's munmap, mremap, mprotect
 * and shmdt count those in sh_map_gen): reading there again needs no system call, so a
 * creating call on a host path costs no more than a string compare. What this cannot see is
 * memory glibc unmaps on its own (the free of a large block, malloc_trim, dlclose) and an
 * unreadable mmap(MAP_FIXED) over a mapping: a path there is one the program freed or
 * unloaded, whose use the kernel would answer with EFAULT and the shim may not survive. */
_Atomic unsigned long sh_map_gen = 1;
#define KNOWN 8
static __thread uintptr_t known[KNOWN] __attribute__((tls_model("initial-exec")));
static __thread unsigned long known_gen __attribute__((tls_model("initial-exec")));
static __thread unsigned known_next __attribute__((tls_model("initial-exec")));

static int page_known(uintptr_t page, unsigned long gen) {
    if (known_gen != gen) return 0;
    for (int i = 0; i < KNOWN; i++)
        if (known[i] == page) return 1;
    return 0;
}

static void note_page(uintptr_t page, unsigned long gen) {
    if (known_gen != gen) {
        memset(known, 0, sizeof known);
        known_gen = gen;
        known_next = 0;
    }
    known[known_next++ % KNOWN] = page;
}

/* Copy `chunk` bytes at a (within one page) into dst: 1 when all were readable. */
static int read_chunk(char *dst, uintptr_t a, size_t chunk, unsigned long gen) {
    if (no_vm || page_known(a & ~(PAGE - 1), gen)) {
        memcpy(dst, (const void *)a, chunk);
        return 1;
    }
    int saved = errno;
    ssize_t k = vm_rw(0, dst, (const void *)a, chunk);
    errno = saved;
    if (k == (ssize_t)chunk) {
        note_page(a & ~(PAGE - 1), gen);
        return 1;
    }
    if (no_vm) { /* refused just now: plain access from here on */
        memcpy(dst, (const void *)a, chunk);
        return 1;
    }
    return 0;
}

/* Copy up to n bytes, page by page, stopping at an unreadable page and, for a string (str),
 * after its NUL (pages past it are not touched): the bytes copied. */
static size_t peek(char *dst, const char *src, size_t n, int str) {
    size_t done = 0;
    if (!src) return 0;
    unsigned long gen = atomic_load_explicit(&sh_map_gen, memory_order_acquire);
    while (done < n) {
        uintptr_t a = (uintptr_t)src + done;
        size_t chunk = PAGE - (a & (PAGE - 1));
        if (chunk > n - done) chunk = n - done;
        if (!read_chunk(dst + done, a, chunk, gen)) break;
        if (str) {
            char *z = memchr(dst + done, 0, chunk);
            if (z) return (size_t)(z - dst) + 1;
        }
        done += chunk;
    }
    return done;
}

/* Copy as many bytes as are readable (page by page), up to n. */
size_t sh_peek(void *dst, const void *src, size_t n) { return peek(dst, src, n, 0); }

/* Copy a string (with its NUL) of at most n bytes: the bytes copied, the NUL included when
 * found; fewer when a page on the way is unreadable. Pages past the NUL are not touched. */
size_t sh_peek_str(char *dst, const char *src, size_t n) { return peek(dst, src, n, 1); }

int sh_copy_str(char *dst, const char *src) {
    if (!src) return -EFAULT;
    size_t got = sh_peek_str(dst, src, PATH_MAX);
    if (got > 0 && dst[got - 1] == 0) return 0;
    return got < PATH_MAX ? -EFAULT : -ENAMETOOLONG;
}

/* A buffer in the caller's frames, just above ours on this thread's stack, is certainly
 * mapped: the common case (struct stat on the caller's stack) needs no system call. The
 * window is small, so a bogus pointer cannot reach past the stack's own mapping (above a
 * stack lie the environment or the thread descriptor, both mapped). */
__attribute__((noinline)) static int in_callers_frames(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p, sp = (uintptr_t)__builtin_frame_address(0);
    return a > sp && a + n > a && a + n <= sp + 16384;
}

int sh_copyout(void *dst, const void *src, size_t n) {
    if (!dst) return -EFAULT;
    if (n == 0) return 0;
    if (in_callers_frames(dst, n)) {
        memcpy(dst, src, n);
        return 0;
    }
    if (!no_vm) {
        int saved = errno;
        ssize_t k = vm_rw(1, (void *)src, dst, n);
        errno = saved;
        if (k == (ssize_t)n) return 0;
        if (!no_vm) return -EFAULT;
    }
    memcpy(dst, src, n);
    return 0;
}

int sh_ret(long r) {
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return (int)r;
}

size_t sh_strlcpy(char *d, const char *s, size_t n) {
    size_t i = 0;
    if (n == 0) return 0;
    while (i + 1 < n && s[i]) { d[i] = s[i]; i++; }
    d[i] = 0;
    return i;
}

char *sh_utoa(char *p, unsigned long long v) {
    char tmp[24];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10));
    while (n) *p++ = tmp[--n];
    return p;
}
