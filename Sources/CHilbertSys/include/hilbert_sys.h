/*
 * The engine's door to the kernel. Every file-system call the engine makes goes through
 * hl_sys, a table of the *real* libc functions: inside a process the shim installs its
 * table (so the engine never re-enters the shim); in the CLI and tests it holds libc's.
 * Swift cannot call variadic C function pointers, hence the small fixed-arity helpers.
 */
#ifndef HILBERT_SYS_H
#define HILBERT_SYS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include "../../../preload/abi/include/hilbert_abi.h"

extern hl_real_table hl_sys;

/* Replace the table (engine start inside a shimmed process). Missing entries keep libc's. */
void hl_sys_install(const hl_real_table *real, void (*note_private_fd)(int fd, int on));
/* Mark fd as the engine's own (hidden from the application's close/dup2/close_range). */
void hl_sys_note_private(int fd, int on);

int hl_sys_open(const char *path, int flags, mode_t mode);
int hl_sys_openat(int dirfd, const char *path, int flags, mode_t mode);
int hl_sys_fcntl_int(int fd, int cmd, int arg);
int hl_sys_fcntl_lock(int fd, int cmd, struct flock *lock);
int hl_sys_errno(void);
void hl_sys_set_errno(int e);
/* open + move to a high fd (>= floor when the rlimit allows) with O_CLOEXEC, registered as
 * engine-private. Returns the fd or -1 with errno. */
int hl_sys_open_private(const char *path, int flags, mode_t mode);
/* Move an fd the engine owns above the application's range and register it. */
int hl_sys_park_fd(int fd);
int hl_sys_memfd(const char *name, unsigned int flags);
/* The shim's descriptor-number gate (hl_shim_services.fd_gate_enter/leave; no-ops without
 * one): a window from creating a descriptor to moving it (engine = 1) or handing it to the
 * program (engine = 0). Returns the token for hl_sys_window_end. */
void hl_sys_set_fd_gate(int (*enter)(int who), void (*leave)(int token));
int hl_sys_window_begin(int engine);
void hl_sys_window_end(int token);
/* open(2) gives the program the lowest free number, but the engine makes descriptors of its
 * own while it opens a file for the program (a staging file's seed, a memfd), takes the
 * program's, and closes its own: a lower number is free again. hl_sys_close notes the lowest
 * number this thread closed since hl_sys_numbers_mark; hl_sys_lowest_number moves `fd` down
 * to the lowest free number when one of those is below it (the same open file; FD_CLOEXEC
 * as `cloexec`). */
int hl_sys_close(int fd);
void hl_sys_numbers_mark(void);
int hl_sys_lowest_number(int fd, int cloexec);
int hl_sys_statvfs(const char *path, struct statvfs *out);

/* Give the O_TMPFILE file behind fd the name `path` (0 or -errno). */
int hl_sys_name_fd(int fd, const char *path);

/* CRC-32C (Castagnoli), hardware accelerated when the CPU has SSE4.2. */
uint32_t hl_crc32c(uint32_t crc, const void *data, size_t len);

/* Credentials of the calling thread at this moment. */
int hl_sys_groups(gid_t *out, int max);

#endif

/* The host path of the last -HL_REDIRECT on this thread (see hilbert_abi.h). */
void hl_redirect_set(const char *path, size_t len);
ssize_t hl_redirect_take(char *buf, size_t len);
/* The process umask, read without changing it (from /proc/self/status; -1 if unknown), on
 * the first call only: later changes go through umask(), which the shim tracks. */
int hl_read_umask(void);

/* Linux flag values Swift's Glibc module does not export without _GNU_SOURCE. */
enum {
    HL_O_PATH = 010000000,
    HL_O_NOATIME = 01000000,
    HL_O_TMPFILE = 020200000,
    HL_O_DIRECT = 040000,
    HL_MFD_CLOEXEC = 1,
    HL_RENAME_NOREPLACE = 1,
    HL_RENAME_EXCHANGE = 2,
    HL_SEEK_DATA = 3,
    HL_SEEK_HOLE = 4,
};

/* offsetof(hl_dirent, name): Swift cannot compute it for a flexible array member. */
static inline size_t hl_dirent_name_offset(void) { return offsetof(hl_dirent, name); }

/* The shim's umask tracker (hl_shim_services.current_umask), when the shim has one. */
void hl_sys_set_umask_hook(int (*hook)(void));
/* The program's umask as last set through umask(2), or -1 when unknown. */
int hl_sys_tracked_umask(void);

/* A shared counter in a small file mapped MAP_SHARED (the metadata change epoch). */
volatile uint64_t *hl_sys_map_counter(const char *path, mode_t mode);
static inline uint64_t hl_counter_load(volatile uint64_t *c) { return __atomic_load_n(c, __ATOMIC_ACQUIRE); }
static inline uint64_t hl_counter_bump(volatile uint64_t *c) { return __atomic_add_fetch(c, 1, __ATOMIC_ACQ_REL); }
static inline int64_t hl_counter_add(volatile uint64_t *c, int64_t delta) {
    return (int64_t)__atomic_add_fetch(c, (uint64_t)delta, __ATOMIC_ACQ_REL);
}
static inline void hl_counter_store(volatile uint64_t *c, uint64_t v) { __atomic_store_n(c, v, __ATOMIC_RELEASE); }
/* Shared memory of partial read copies (PartialCopy): a file mapped MAP_SHARED, or anonymous
 * shared memory that forked children keep sharing. NULL on failure. */
void *hl_sys_map_shared(int fd, size_t len);
void *hl_sys_map_anonymous_shared(size_t len);
void hl_sys_unmap(void *p, size_t len);
static inline uint32_t hl_u32_load(volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void hl_u32_store(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int hl_u32_cas(volatile uint32_t *p, uint32_t expected, uint32_t desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
/* fallocate(PUNCH_HOLE|KEEP_SIZE): 0 or -errno. */
int hl_sys_punch_hole(int fd, int64_t offset, int64_t len);
/* Open-file-description byte-range lock (F_OFD_SETLKW): F_WRLCK or F_UNLCK. 0 or -errno. */
int hl_sys_ofd_lock(int fd, int64_t start, int64_t len, int type);
/* preadv(2) as a system call: bytes or -errno. */
int64_t hl_sys_preadv(int fd, const void *iov, int iovcnt, int64_t offset);

/* Monotonic clock in nanoseconds (vDSO, no system call). */
uint64_t hl_monotonic_ns(void);

/* Start writeback of a file's dirty pages without waiting (sync_file_range WRITE). */
void hl_sys_start_writeback(int fd);

/* The shim's credential-change counter (hl_shim_services.cred_generation); 0 without one. */
void hl_sys_set_cred_hook(unsigned long (*hook)(void));
unsigned long hl_sys_cred_generation(void);

/* The shim's per-thread re-entry guard (hl_shim_services.guard_thread); a no-op without one.
 * Threads the engine starts raise it for their whole life. */
void hl_sys_set_guard_hook(void (*hook)(int delta));
void hl_sys_guard_thread(int delta);

/* fork() and the threads running engine code (forkgate.c): enter/leave around an engine
 * thread's life and around a program thread's call into the engine (nestable); pause/resume
 * around a call that blocks, or a stretch of pure C work (zstd on a big block); pause returns 1
 * when it stepped out, 0 when the thread was not inside or had stepped out already (a caller
 * nested in such a stretch leaves it to the outer one: no resume). try_resume is resume unless
 * a fork is being prepared (0: call resume without holding a lock). The fork handlers: prepare
 * returns the threads still inside when it gave up waiting (2 s). */
void hl_gate_enter(void);
void hl_gate_leave(void);
int hl_gate_pause(void);
void hl_gate_resume(void);
int hl_gate_try_resume(void);
int hl_gate_fork_prepare(void);
void hl_gate_fork_parent(void);
void hl_gate_fork_child(void);
/* Lock `m` after a failed trylock, out of the gate while it waits: a thread blocked on a lock
 * runs no engine code, and the lock's holder may be a thread waiting to get back in. */
void hl_gate_mutex_wait(pthread_mutex_t *m);
/* How the engine's locks (Lock, RecursiveLock, Monitor) lock: uncontended, a trylock and no
 * call; contended, hl_gate_mutex_wait. */
static inline __attribute__((always_inline)) void hl_gate_mutex_lock(pthread_mutex_t *m) {
    if (pthread_mutex_trylock(m) != 0) hl_gate_mutex_wait(m);
}

/* The running glibc's version (major * 1000 + minor), 0 if unknown. */
int hl_glibc_version(void);

/* An immutable in-memory copy of `data`: a memfd filled and reopened read-only through
 * /proc/self/fd (the memfd itself when /proc is missing). Returns an O_CLOEXEC fd or -errno. */
int hl_sys_memory_copy(const void *data, size_t len);
