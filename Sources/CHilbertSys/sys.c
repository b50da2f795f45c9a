#define _GNU_SOURCE
#include "hilbert_sys.h"
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <stdio.h>

#define HL_DEFAULT(name, ret, params) .name = (ret (*) params)name,
hl_real_table hl_sys = { HL_REAL_FUNCTIONS(HL_DEFAULT) };
#undef HL_DEFAULT

static void (*note_private_hook)(int fd, int on);

void hl_sys_install(const hl_real_table *real, void (*note)(int fd, int on)) {
    const void *const *src = (const void *const *)real;
    void **dst = (void **)&hl_sys;
    for (size_t i = 0; i < sizeof(hl_real_table) / sizeof(void *); i++)
        if (src[i]) dst[i] = (void *)src[i];
    note_private_hook = note;
}

void hl_sys_note_private(int fd, int on) {
    if (note_private_hook && fd >= 0) note_private_hook(fd, on);
}

static int (*gate_enter)(int who);
static void (*gate_leave)(int token);

void hl_sys_set_fd_gate(int (*enter)(int who), void (*leave)(int token)) {
    gate_leave = leave;
    gate_enter = enter;
}

int hl_sys_window_begin(int engine) {
    return gate_enter ? gate_enter(engine ? HL_FD_GATE_ENGINE : HL_FD_GATE_PROGRAM) : 0;
}

void hl_sys_window_end(int token) {
    if (token && gate_leave) {
        int saved = errno;
        gate_leave(token);
        errno = saved;
    }
}

static __thread int lowest_closed = INT_MAX;

int hl_sys_close(int fd) {
    if (fd >= 0 && fd < lowest_closed) lowest_closed = fd;
    return hl_sys.close(fd);
}

void hl_sys_numbers_mark(void) { lowest_closed = INT_MAX; }

int hl_sys_lowest_number(int fd, int cloexec) {
    if (fd < 0 || lowest_closed >= fd) return fd;
    int saved = errno;
    int t = hl_sys_window_begin(0);
    int low = hl_sys.fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
    if (low >= 0 && low < fd) {
        hl_sys.close(fd);
        fd = low;
    } else if (low >= 0) {
        hl_sys.close(low);
    }
    hl_sys_window_end(t);
    errno = saved;
    return fd;
}

/* Descriptors opened here may be the program's (a staging file it writes), so they take
 * their numbers inside the program's side of the gate. */
int hl_sys_open(const char *path, int flags, mode_t mode) {
    int t = hl_sys_window_begin(0);
    int fd = hl_sys.open(path, flags, mode);
    hl_sys_window_end(t);
    return fd;
}
int hl_sys_openat(int dirfd, const char *path, int flags, mode_t mode) {
    int t = hl_sys_window_begin(0);
    int fd = hl_sys.openat(dirfd, path, flags, mode);
    hl_sys_window_end(t);
    return fd;
}
int hl_sys_fcntl_int(int fd, int cmd, int arg) { return hl_sys.fcntl(fd, cmd, arg); }
int hl_sys_fcntl_lock(int fd, int cmd, struct flock *lock) { return hl_sys.fcntl(fd, cmd, lock); }
int hl_sys_errno(void) { return errno; }
void hl_sys_set_errno(int e) { errno = e; }
int hl_sys_statvfs(const char *path, struct statvfs *out) { return hl_sys.statvfs64(path, out); }

int hl_sys_park_fd(int fd) {
    if (fd < 0) return fd;
    int floor = hl_private_fd_floor();
    int moved = floor > fd ? hl_sys.fcntl(fd, F_DUPFD_CLOEXEC, floor) : -1;
    if (moved >= 0) {
        hl_sys.close(fd);
        fd = moved;
    } else {
        hl_sys.fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    hl_sys_note_private(fd, 1);
    return fd;
}

int hl_sys_open_private(const char *path, int flags, mode_t mode) {
    int t = hl_sys_window_begin(1);
    int fd = hl_sys.open(path, flags | O_CLOEXEC, mode);
    if (fd >= 0) fd = hl_sys_park_fd(fd);
    hl_sys_window_end(t);
    return fd;
}

int hl_sys_memfd(const char *name, unsigned int flags) {
    if (hl_sys.memfd_create) return hl_sys.memfd_create(name, flags);
    errno = ENOSYS;
    return -1;
}

int hl_sys_groups(gid_t *out, int max) { return getgroups(max, out); }
