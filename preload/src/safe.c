/* Reading and writing through user pointers without ever faulting: process_vm_readv /
 * process_vm_writev on our own pid return EFAULT for unmapped memory. */
#include "shim.h"
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

/* Copy as many bytes as are readable (page by page), up to n. */
size_t sh_peek(void *dst, const void *src, size_t n) {
    size_t done = 0;
    if (!src) return 0;
    while (done < n) {
        uintptr_t a = (uintptr_t)src + done;
        size_t chunk = PAGE - (a & (PAGE - 1));
        if (chunk > n - done) chunk = n - done;
        if (no_vm) { memcpy((char *)dst + done, (const void *)a, chunk); done += chunk; continue; }
        int saved = errno;
        ssize_t k = vm_rw(0, (char *)dst + done, (const void *)a, chunk);
        errno = saved;
        if (k <= 0) {
            if (no_vm) continue;
            break;
        }
        done += (size_t)k;
        if ((size_t)k < chunk) break;
    }
    return done;
}

int sh_copy_str(char *dst, const char *src) {
    size_t done = 0;
    if (!src) return -EFAULT;
    while (done < PATH_MAX) {
        uintptr_t a = (uintptr_t)src + done;
        size_t chunk = PAGE - (a & (PAGE - 1));
        if (chunk > PATH_MAX - done) chunk = PATH_MAX - done;
        size_t got = sh_peek(dst + done, (const void *)a, chunk);
        void *z = memchr(dst + done, 0, got);
        if (z) return 0;
        done += got;
        if (got < chunk) return -EFAULT;
    }
    return -ENAMETOOLONG;
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
