#define _GNU_SOURCE
#include "hilbert_sys.h"
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static __thread char redirect_path[8192];
static __thread size_t redirect_len;

void hl_redirect_set(const char *path, size_t len) {
    if (len >= sizeof redirect_path) len = sizeof redirect_path - 1;
    memcpy(redirect_path, path, len);
    redirect_path[len] = 0;
    redirect_len = len;
}

ssize_t hl_redirect_take(char *buf, size_t len) {
    if (redirect_len == 0) return -ENOENT;
    if (len <= redirect_len) return -ENAMETOOLONG;
    memcpy(buf, redirect_path, redirect_len + 1);
    ssize_t n = (ssize_t)redirect_len;
    redirect_len = 0;
    return n;
}

static int read_umask(void) {
    int fd = hl_sys.open("/proc/self/status", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return -1;
    char buf[4096];
    ssize_t n = hl_sys.read(fd, buf, sizeof buf - 1);
    hl_sys.close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, "Umask:");
    if (!p) return -1;
    p += 6;
    while (*p == ' ' || *p == '\t') p++;
    int mask = 0;
    while (*p >= '0' && *p <= '7') mask = mask * 8 + (*p++ - '0');
    return mask;
}

static int inherited_umask = -2;

int hl_read_umask(void) {
    int m = __atomic_load_n(&inherited_umask, __ATOMIC_RELAXED);
    if (m == -2) {
        m = read_umask();
        __atomic_store_n(&inherited_umask, m, __ATOMIC_RELAXED);
    }
    return m;
}

static int (*umask_hook)(void);

void hl_sys_set_umask_hook(int (*hook)(void)) { umask_hook = hook; }

int hl_sys_tracked_umask(void) { return umask_hook ? umask_hook() : -1; }

static unsigned long (*cred_hook)(void);

void hl_sys_set_cred_hook(unsigned long (*hook)(void)) { cred_hook = hook; }

unsigned long hl_sys_cred_generation(void) { return cred_hook ? cred_hook() : 0; }

static void (*guard_hook)(int delta);

void hl_sys_set_guard_hook(void (*hook)(int delta)) { guard_hook = hook; }

void hl_sys_guard_thread(int delta) {
    if (guard_hook) guard_hook(delta);
}
