/* Internal header of the Hilbert LD_PRELOAD shim. Everything here is hidden. */
#ifndef HILBERT_SHIM_H
#define HILBERT_SHIM_H

#define _GNU_SOURCE
/* Our wrappers accept NULL where glibc's prototypes promise non-null (the kernel decides). */
#define __attribute_nonnull__(params)
#define __nonnull(params)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>
#include "hilbert_abi.h"

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- real.c: the real libc functions, resolved lazily with dlsym(RTLD_NEXT) ---- */
struct statx;
struct utimbuf;
typedef int (*sh_ftw_fn)(const char *, const struct stat *, int);
typedef int (*sh_nftw_fn)(const char *, const struct stat *, int, void *);
#define SH_REAL_LIST(X)                                                              \
    X(open, int, (const char *, int, ...))                                           \
    X(openat, int, (int, const char *, int, ...))                                    \
    X(creat, int, (const char *, mode_t))                                            \
    X(__open_2, int, (const char *, int))                                            \
    X(__openat_2, int, (int, const char *, int))                                     \
    X(fopen, FILE *, (const char *, const char *))                                   \
    X(freopen, FILE *, (const char *, const char *, FILE *))                         \
    X(fclose, int, (FILE *))                                                         \
    X(stat, int, (const char *, struct stat *))                                      \
    X(lstat, int, (const char *, struct stat *))                                     \
    X(fstat, int, (int, struct stat *))                                              \
    X(fstatat, int, (int, const char *, struct stat *, int))                         \
    X(__xstat, int, (int, const char *, struct stat *))                              \
    X(__lxstat, int, (int, const char *, struct stat *))                             \
    X(__fxstat, int, (int, int, struct stat *))                                      \
    X(__fxstatat, int, (int, int, const char *, struct stat *, int))                 \
    X(statx, int, (int, const char *, int, unsigned, struct statx *))                \
    X(access, int, (const char *, int))                                              \
    X(faccessat, int, (int, const char *, int, int))                                 \
    X(euidaccess, int, (const char *, int))                                          \
    X(readlink, ssize_t, (const char *, char *, size_t))                             \
    X(readlinkat, ssize_t, (int, const char *, char *, size_t))                      \
    X(realpath, char *, (const char *, char *))                                      \
    X(canonicalize_file_name, char *, (const char *))                                \
    X(getcwd, char *, (char *, size_t))                                              \
    X(getwd, char *, (char *))                                                       \
    X(get_current_dir_name, char *, (void))                                          \
    X(chdir, int, (const char *))                                                    \
    X(fchdir, int, (int))                                                            \
    X(opendir, DIR *, (const char *))                                                \
    X(fdopendir, DIR *, (int))                                                       \
    X(closedir, int, (DIR *))                                                        \
    X(readdir, struct dirent *, (DIR *))                                             \
    X(readdir64, struct dirent64 *, (DIR *))                                         \
    X(readdir_r, int, (DIR *, struct dirent *, struct dirent **))                    \
    X(readdir64_r, int, (DIR *, struct dirent64 *, struct dirent64 **))              \
    X(rewinddir, void, (DIR *))                                                      \
    X(seekdir, void, (DIR *, long))                                                  \
    X(telldir, long, (DIR *))                                                        \
    X(dirfd, int, (DIR *))                                                           \
    X(scandir, int, (const char *, struct dirent ***, int (*)(const struct dirent *), \
                     int (*)(const struct dirent **, const struct dirent **)))       \
    X(scandirat, int, (int, const char *, struct dirent ***,                         \
                       int (*)(const struct dirent *),                               \
                       int (*)(const struct dirent **, const struct dirent **)))     \
    X(getdents64, ssize_t, (int, void *, size_t))                                    \
    X(glob, int, (const char *, int, int (*)(const char *, int), glob_t *))          \
    X(glob64, int, (const char *, int, int (*)(const char *, int), void *))          \
    X(ftw, int, (const char *, sh_ftw_fn, int))                                      \
    X(nftw, int, (const char *, sh_nftw_fn, int, int))                               \
    X(nftw64, int, (const char *, sh_nftw_fn, int, int))                             \
    X(fts_open, void *, (char *const *, int, void *))                                \
    X(fts_read, void *, (void *))                                                    \
    X(fts_children, void *, (void *, int))                                           \
    X(fts_set, int, (void *, void *, int))                                           \
    X(fts_close, int, (void *))                                                      \
    X(fts64_open, void *, (char *const *, int, void *))                              \
    X(fts64_read, void *, (void *))                                                  \
    X(fts64_children, void *, (void *, int))                                         \
    X(fts64_set, int, (void *, void *, int))                                         \
    X(fts64_close, int, (void *))                                                    \
    X(mkdir, int, (const char *, mode_t))                                            \
    X(mkdirat, int, (int, const char *, mode_t))                                     \
    X(rmdir, int, (const char *))                                                    \
    X(unlink, int, (const char *))                                                   \
    X(unlinkat, int, (int, const char *, int))                                       \
    X(remove, int, (const char *))                                                   \
    X(rename, int, (const char *, const char *))                                     \
    X(renameat, int, (int, const char *, int, const char *))                         \
    X(renameat2, int, (int, const char *, int, const char *, unsigned))              \
    X(link, int, (const char *, const char *))                                       \
    X(linkat, int, (int, const char *, int, const char *, int))                      \
    X(symlink, int, (const char *, const char *))                                    \
    X(symlinkat, int, (const char *, int, const char *))                             \
    X(mknod, int, (const char *, mode_t, dev_t))                                     \
    X(mknodat, int, (int, const char *, mode_t, dev_t))                              \
    X(__xmknod, int, (int, const char *, mode_t, dev_t *))                           \
    X(__xmknodat, int, (int, int, const char *, mode_t, dev_t *))                    \
    X(mkfifo, int, (const char *, mode_t))                                           \
    X(mkfifoat, int, (int, const char *, mode_t))                                    \
    X(umask, mode_t, (mode_t))                                                       \
    X(setuid, int, (uid_t))                                                          \
    X(seteuid, int, (uid_t))                                                         \
    X(setgid, int, (gid_t))                                                          \
    X(setegid, int, (gid_t))                                                         \
    X(setreuid, int, (uid_t, uid_t))                                                 \
    X(setregid, int, (gid_t, gid_t))                                                 \
    X(setresuid, int, (uid_t, uid_t, uid_t))                                         \
    X(setresgid, int, (gid_t, gid_t, gid_t))                                         \
    X(setgroups, int, (size_t, const gid_t *))                                       \
    X(initgroups, int, (const char *, gid_t))                                        \
    X(setfsuid, int, (uid_t))                                                        \
    X(setfsgid, int, (gid_t))                                                        \
    X(chmod, int, (const char *, mode_t))                                            \
    X(fchmod, int, (int, mode_t))                                                    \
    X(fchmodat, int, (int, const char *, mode_t, int))                               \
    X(lchmod, int, (const char *, mode_t))                                           \
    X(chown, int, (const char *, uid_t, gid_t))                                      \
    X(fchown, int, (int, uid_t, gid_t))                                              \
    X(lchown, int, (const char *, uid_t, gid_t))                                     \
    X(fchownat, int, (int, const char *, uid_t, gid_t, int))                         \
    X(truncate, int, (const char *, off_t))                                          \
    X(ftruncate, int, (int, off_t))                                                  \
    X(utime, int, (const char *, const struct utimbuf *))                            \
    X(utimes, int, (const char *, const struct timeval *))                           \
    X(lutimes, int, (const char *, const struct timeval *))                          \
    X(futimes, int, (int, const struct timeval *))                                   \
    X(futimesat, int, (int, const char *, const struct timeval *))                   \
    X(utimensat, int, (int, const char *, const struct timespec *, int))             \
    X(futimens, int, (int, const struct timespec *))                                 \
    X(statfs, int, (const char *, struct statfs *))                                  \
    X(fstatfs, int, (int, struct statfs *))                                          \
    X(statvfs, int, (const char *, struct statvfs *))                                \
    X(fstatvfs, int, (int, struct statvfs *))                                        \
    X(pathconf, long, (const char *, int))                                           \
    X(fpathconf, long, (int, int))                                                   \
    X(setxattr, int, (const char *, const char *, const void *, size_t, int))        \
    X(lsetxattr, int, (const char *, const char *, const void *, size_t, int))       \
    X(fsetxattr, int, (int, const char *, const void *, size_t, int))                \
    X(getxattr, ssize_t, (const char *, const char *, void *, size_t))               \
    X(lgetxattr, ssize_t, (const char *, const char *, void *, size_t))              \
    X(fgetxattr, ssize_t, (int, const char *, void *, size_t))                       \
    X(listxattr, ssize_t, (const char *, char *, size_t))                            \
    X(llistxattr, ssize_t, (const char *, char *, size_t))                           \
    X(flistxattr, ssize_t, (int, char *, size_t))                                    \
    X(removexattr, int, (const char *, const char *))                                \
    X(lremovexattr, int, (const char *, const char *))                               \
    X(fremovexattr, int, (int, const char *))                                        \
    X(mkstemp, int, (char *))                                                        \
    X(mkostemp, int, (char *, int))                                                  \
    X(mkstemps, int, (char *, int))                                                  \
    X(mkostemps, int, (char *, int, int))                                            \
    X(mkdtemp, char *, (char *))                                                     \
    X(mktemp, char *, (char *))                                                      \
    X(tempnam, char *, (const char *, const char *))                                 \
    X(tmpnam, char *, (char *))                                                      \
    X(tmpnam_r, char *, (char *))                                                    \
    X(execve, int, (const char *, char *const[], char *const[]))                     \
    X(execvp, int, (const char *, char *const[]))                                    \
    X(execvpe, int, (const char *, char *const[], char *const[]))                    \
    X(fexecve, int, (int, char *const[], char *const[]))                             \
    X(posix_spawn, int, (pid_t *, const char *, const void *, const void *,          \
                         char *const[], char *const[]))                              \
    X(posix_spawnp, int, (pid_t *, const char *, const void *, const void *,         \
                          char *const[], char *const[]))                             \
    X(posix_spawn_file_actions_addopen, int, (void *, int, const char *, int, mode_t))  \
    X(posix_spawn_file_actions_adddup2, int, (void *, int, int))                     \
    X(posix_spawn_file_actions_destroy, int, (void *))                               \
    X(system, int, (const char *))                                                   \
    X(popen, FILE *, (const char *, const char *))                                   \
    X(pclose, int, (FILE *))                                                         \
    X(dlopen, void *, (const char *, int))                                           \
    X(dlmopen, void *, (long, const char *, int))                                    \
    X(close, int, (int))                                                             \
    X(close_range, int, (unsigned, unsigned, int))                                   \
    X(closefrom, void, (int))                                                        \
    X(dup, int, (int))                                                               \
    X(dup2, int, (int, int))                                                         \
    X(dup3, int, (int, int, int))                                                    \
    X(fcntl, int, (int, int, ...))                                                   \
    X(fsync, int, (int))                                                             \
    X(fdatasync, int, (int))                                                         \
    X(fork, pid_t, (void))                                                           \
    X(vfork, pid_t, (void))                                                          \
    X(clone, int, (int (*)(void *), void *, int, void *, ...))                       \
    X(read, ssize_t, (int, void *, size_t))                                          \
    X(write, ssize_t, (int, const void *, size_t))                                   \
    X(pread64, ssize_t, (int, void *, size_t, off_t))                                \
    X(pwrite64, ssize_t, (int, const void *, size_t, off_t))                         \
    X(lseek64, off_t, (int, off_t, int))                                             \
    X(ftruncate64, int, (int, off_t))                                                \
    X(flock, int, (int, int))                                                        \
    X(lockf, int, (int, int, off_t))                                                 \
    X(mmap64, void *, (void *, size_t, int, int, int, off_t))                        \
    X(munmap, int, (void *, size_t))                                                 \
    X(mprotect, int, (void *, size_t, int))                                          \
    X(shmdt, int, (const void *))                                                    \
    X(mremap, void *, (void *, size_t, size_t, int, ...))                            \
    X(ioctl, int, (int, unsigned long, ...))                                         \
    X(fallocate64, int, (int, int, off_t, off_t))                                    \
    X(memfd_create, int, (const char *, unsigned int))                               \
    X(copy_file_range, ssize_t, (int, off_t *, int, off_t *, size_t, unsigned int))  \
    X(sendfile64, ssize_t, (int, int, off_t *, size_t))                              \
    X(statvfs64, int, (const char *, void *))                                        \
    X(sigaction, int, (int, const struct sigaction *, struct sigaction *))           \
    X(signal, sighandler_t, (int, sighandler_t))                                     \
    X(bsd_signal, sighandler_t, (int, sighandler_t))                                 \
    X(sysv_signal, sighandler_t, (int, sighandler_t))                                \
    X(sigset, sighandler_t, (int, sighandler_t))

#define SH_REAL_FIELD(name, ret, params) ret(*name) params;
typedef struct sh_real_fns { SH_REAL_LIST(SH_REAL_FIELD) } sh_real_fns;
#undef SH_REAL_FIELD
extern sh_real_fns sh_r;
void *sh_resolve(const char *name, void **slot);
#define REAL(n) (likely(sh_r.n != NULL) ? sh_r.n : (__typeof__(sh_r.n))sh_resolve(#n, (void **)&sh_r.n))
void sh_fill_engine_table(hl_real_table *t);

/* ---- versioned exports (exports.map, real.c, tests/check-versions.sh) ----
 * glibc exports a few path-taking functions in several versions whose ABIs differ. The shim
 * exports one wrapper per version: SH_SYMVER(impl, "name@@VER") makes impl the default version
 * (new links and unversioned lookups bind to it), SH_SYMVER(impl, "name@VER") an old one (what
 * binaries linked against older glibc import). An impl must be EXPORT for its alias to be
 * exported; exports.map hides the impl names themselves (sh_v_*). Each wrapper forwards to the
 * same version of the real function: REAL(name) is the default version (real.c asks dlvsym for
 * it), REAL_OLD(field) the old one listed below. */
#define SH_SYMVER(impl, versioned) __asm__(".symver " #impl "," versioned)
#define SH_REAL_OLD_LIST(X)                                                          \
    X(realpath_2_2_5, "realpath", "GLIBC_2.2.5", char *, (const char *, char *))     \
    X(glob_2_2_5, "glob", "GLIBC_2.2.5", int,                                        \
      (const char *, int, int (*)(const char *, int), glob_t *))                     \
    X(glob64_2_2_5, "glob64", "GLIBC_2.2.5", int,                                    \
      (const char *, int, int (*)(const char *, int), void *))                       \
    X(nftw_2_2_5, "nftw", "GLIBC_2.2.5", int, (const char *, sh_nftw_fn, int, int))  \
    X(nftw64_2_2_5, "nftw64", "GLIBC_2.2.5", int, (const char *, sh_nftw_fn, int, int)) \
    X(posix_spawn_2_2_5, "posix_spawn", "GLIBC_2.2.5", int,                          \
      (pid_t *, const char *, const void *, const void *, char *const[], char *const[])) \
    X(posix_spawnp_2_2_5, "posix_spawnp", "GLIBC_2.2.5", int,                        \
      (pid_t *, const char *, const void *, const void *, char *const[], char *const[])) \
    X(dlopen_2_2_5, "dlopen", "GLIBC_2.2.5", void *, (const char *, int))            \
    X(dlmopen_2_3_4, "dlmopen", "GLIBC_2.3.4", void *, (long, const char *, int))
#define SH_REAL_OLD_FIELD(field, name, ver, ret, params) ret(*field) params;
typedef struct sh_real_old_fns { SH_REAL_OLD_LIST(SH_REAL_OLD_FIELD) } sh_real_old_fns;
#undef SH_REAL_OLD_FIELD
extern sh_real_old_fns sh_ro;
void *sh_resolve_old(const char *field, void **slot);
#define REAL_OLD(f) \
    (likely(sh_ro.f != NULL) ? sh_ro.f : (__typeof__(sh_ro.f))sh_resolve_old(#f, (void **)&sh_ro.f))

/* ---- init.c: environment, process state ---- */
#define SH_MAX_MOUNTS 16
extern int sh_inited, sh_disabled, sh_debug_on, sh_hostlinks;
extern int sh_nmounts;
extern char sh_prefix[SH_MAX_MOUNTS][256];
extern size_t sh_plen[SH_MAX_MOUNTS];
extern const char *sh_mounts_env; /* HILBERT_MOUNTS as seen at start, or NULL */
extern const char *sh_engine_env; /* HILBERT_ENGINE as seen at start, or NULL */
extern pid_t sh_pid;
extern __thread int sh_guard;
void sh_init(void);
static inline int sh_pass(void) {
    if (unlikely(!sh_inited)) sh_init();
    return sh_guard | sh_disabled;
}
int sh_in_vfork(void);
/* Set once this process made a child that shares its memory (a real vfork, or clone with
 * CLONE_VM and no CLONE_THREAD); until then sh_in_vfork() needs no system call. */
extern volatile int sh_shared_memory_child;
void sh_debug(const char *op, const char *path);
/* fdgate.c: the program's calls that free or pick descriptor numbers exclude the engine's
 * windows between creating a descriptor and moving it above the program's range. */
extern volatile int sh_fdgate_armed, sh_fdgate_pending, sh_fdgate_fenced;
extern volatile int sh_fdgate_flags[];
extern __thread int sh_fdgate_slot;   /* 1 + the thread's flag; 0: none yet; -1: none free */
int sh_fdgate_enter(int who);
void sh_fdgate_leave(int token);
void sh_fdgate_arm(void);
void sh_fdgate_after_fork_child(void);
/* Around a program's close/dup2/dup3/F_DUPFD/close_range/open of a host path: a token for
 * sh_numbers_done. The engine's own calls (sh_guard) are not the program's. The usual case
 * is inline and touches only the thread's own flag (no atomic, no fence, errno untouched). */
static inline int sh_numbers_begin(void) {
    if (likely(!sh_fdgate_armed) || sh_guard) return 0;
    int s = sh_fdgate_slot;
    if (likely(s > 0) && likely(!sh_fdgate_fenced)) {
        volatile int *f = &sh_fdgate_flags[s - 1];
        int nested = *f;
        *f = nested + 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (likely(!sh_fdgate_pending) || nested) return HL_FD_GATE_PROGRAM;
        *f = nested;
    }
    int saved = errno;
    int t = sh_fdgate_enter(HL_FD_GATE_PROGRAM);
    errno = saved;
    return t;
}
static inline void sh_numbers_done(int token) {
    if (likely(!token)) return;
    int s = sh_fdgate_slot;
    if (likely(s > 0)) {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        sh_fdgate_flags[s - 1]--;
        return;
    }
    int saved = errno;
    sh_fdgate_leave(token);
    errno = saved;
}
/* The real call `expr` of a program's close/dup/open…, inside the gate; its value. */
#define SH_NUMBERED(expr)                                                            \
    ({                                                                               \
        int _nt = sh_numbers_begin();                                                \
        __typeof__(expr) _nr = (expr);                                               \
        sh_numbers_done(_nt);                                                        \
        _nr;                                                                         \
    })
/* lock.c: global spinlocks defer catchable signals while held (see there); sh_spin_* do not. */
void sh_lock(volatile int *l);
void sh_unlock(volatile int *l);
void sh_spin_lock(volatile int *l);
void sh_spin_unlock(volatile int *l);
int sh_defer_signals(sigset_t *old); /* 1 when it blocked any: restore then */
void sh_restore_signals(const sigset_t *old);
/* wrap_signal.c: the signals that have a handler (bit sig-1), the only ones deferred. */
extern volatile uint64_t sh_handled_signals;
void sh_scan_signal_handlers(void);
/* The shim's global spinlocks: init.c holds them all across fork(), so a child never inherits
 * one that another thread of the parent held (it would spin forever). */
extern volatile int sh_fdtable_lock, sh_dirreg_lock, sh_fts_lock, sh_lockfile_lock;
volatile int *sh_spawn_lock(int which); /* 0: popen streams, 1: addopen descriptors */

/* ---- wrap_exec.c ---- */
/* The default-version posix_spawn wrapper, for the shim's own system() and popen(). */
int sh_posix_spawn(pid_t *pid, const char *path, const void *fa, const void *attr,
                   char *const argv[], char *const envp[]);
/* ---- wrap_spawn.c ---- */
int sh_spawn_actions_error(const void *fa); /* a deferred error of a virtual addopen, or 0 */

/* ---- safe.c: copying through possibly bad user pointers ---- */
int sh_copy_str(char *dst, const char *src);          /* 0, -EFAULT, -ENAMETOOLONG */
size_t sh_peek(void *dst, const void *src, size_t n); /* bytes readable */
size_t sh_peek_str(char *dst, const char *src, size_t n); /* up to and with the NUL, or what is readable */
extern _Atomic unsigned long sh_map_gen;              /* bumped when memory may stop being readable */
int sh_copyout(void *dst, const void *src, size_t n); /* 0 or -EFAULT */
int sh_ret(long r);                                   /* r<0 → errno=-r, -1 */
size_t sh_strlcpy(char *d, const char *s, size_t n);
char *sh_utoa(char *p, unsigned long long v);         /* writes digits, returns end */

/* ---- classify.c ---- */
typedef struct vpath {
    hl_loc loc;
    const char *host; /* path for the real call */
    char buf[PATH_MAX];
} vpath;
enum { SH_ERR = -1, SH_HOST = 0, SH_VIRT = 1 };
enum { SH_LOOKUP = 0, SH_CREATE = 1 };
extern volatile int sh_vcwd_on;
extern int32_t sh_vcwd_mount;
extern uint64_t sh_vcwd_ino, sh_vcwd_pdev, sh_vcwd_pino;
int sh_match_abs(const char *p, const char **rest);
int sh_dir_virtual(int dirfd);
int sh_route(vpath *v, int kind, int dirfd, const char *p);
int sh_classify(vpath *v, int dirfd, const char *p);
int sh_after_enoent(vpath *v, int dirfd, int nofollow);
int sh_hostlink(const char *path, int nofollow, char *out);
void sh_vcwd_set(int32_t mount, uint64_t ino, uint64_t pdev, uint64_t pino);
void sh_vcwd_clear(void);
int sh_take_redirect(vpath *v);
/* ---- fdpath.c ---- */
int sh_empty_path_loc(int fd, const char *p, hl_loc *loc); /* p is "" and fd an engine fd: loc of its inode */
int sh_proc_fd_loc(vpath *v, const char *p);               /* /proc/self/fd/N of an engine fd */
int sh_magic_fd(const char *p, char head[64]);             /* the N of /proc/self/fd/N, /dev/fd/N, or -1 */
int sh_route_follow(vpath *v, int kind, int dirfd, const char *p); /* sh_route + the above */

#define SH_FAILVAL(e) ((__typeof__(e))_Generic((e), int: -1L, long: -1L, default: 0L))
#define SH_BAD(r) _Generic((r), int: (long)(r) < 0, long: (long)(r) < 0, default: (uintptr_t)(r) == 0)

/* A lookup goes to the kernel first whenever no directory of a prefix can stand for its
 * start: no virtual descriptor is open (so dirfd is a host one, and no /proc/self/fd path
 * names a virtual file) and the cwd is on the host. This is what sh_route would answer; said
 * inline, it spares host lookups (stat, open, readlink, chmod…) three calls. */
#define SH_LOOKUP_IS_HOST(kind) ((kind) == SH_LOOKUP && likely(sh_nrec == 0) && likely(!sh_vcwd_on))

/* Route a path-taking call. Falls through (with `v` filled) only when the path is
 * virtual; otherwise returns REALCALL (which must use v.host as its path). */
#define SH_ROUTE(v, kind, dirfd, p, nf, REALCALL)                                    \
    vpath v;                                                                         \
    v.host = (p);                                                                    \
    if (sh_pass()) return REALCALL;                                                  \
    int _saved_errno = errno;                                                        \
    for (int _k = SH_LOOKUP_IS_HOST(kind) ? SH_HOST                                 \
                  : (nf) ? sh_route(&v, kind, dirfd, p) : sh_route_follow(&v, kind, dirfd, p);; ) { \
        if (_k == SH_VIRT) break;                                                    \
        if (_k == SH_ERR) return SH_FAILVAL(REALCALL);                           \
        __typeof__(REALCALL) _r = REALCALL;                                          \
        if (!SH_BAD(_r) || errno != ENOENT) return _r;                               \
        _k = sh_after_enoent(&v, dirfd, nf);                                         \
        if (_k == SH_VIRT) break;                                                    \
        if (_k == SH_HOST) errno = ENOENT;                                           \
        return _r;                                                                   \
    }                                                                                \
    errno = _saved_errno;                                                            \
    sh_debug(__func__, v.buf)

/* After an engine call: retry on the host on -HL_REDIRECT, else errno convention. */
#define SH_FINISH(v, rc, REALCALL)                                                   \
    do {                                                                             \
        if ((rc) == -HL_REDIRECT) {                                                  \
            if (sh_take_redirect(&v) < 0) return -1;                                 \
            return REALCALL;                                                         \
        }                                                                            \
        return sh_ret(rc);                                                           \
    } while (0)

/* ---- loader.c ---- */
extern const hl_engine_api *volatile sh_E;
extern volatile int sh_engine_loaded;
const hl_engine_api *sh_engine(void); /* NULL with errno set when unavailable */
const char *sh_shim_path(void);
/* An engine call: errno kept, re-entry guard raised, signals deferred (lock.c). */
#define ECALL(expr)                                                                  \
    ({                                                                               \
        int _se = errno;                                                             \
        sigset_t _sm;                                                                \
        int _sd = sh_defer_signals(&_sm);                                            \
        sh_guard++;                                                                  \
        __typeof__(expr) _er = (expr);                                               \
        sh_guard--;                                                                  \
        if (_sd) sh_restore_signals(&_sm);                                           \
        errno = _se;                                                                 \
        _er;                                                                         \
    })
/* Get the engine or return -1/errno from the calling wrapper. */
/* Does the loaded engine's table have `field`? (The table grows at its end.) */
#define SH_HAS(E, field) ((E)->size >= offsetof(hl_engine_api, field) + sizeof((E)->field) && (E)->field)
#define SH_ENGINE(E, failval)                                                        \
    const hl_engine_api *E = sh_engine();                                            \
    if (!E) return failval

/* ---- fdtable.c ---- */
#define SH_KIND_PRIVATE 0x80u
/* A write fd inherited across exec that the engine has not been told of yet: its first write
 * asks the engine to watch it (write-behind). Folded into HL_KIND_WRITE by sh_fd_get. */
#define SH_KIND_WRITE_INHERITED 0x41u
#define SH_MAXFD 65536
extern volatile int sh_nrec;
int sh_fd_get(int fd, hl_file *out);
void sh_fd_set(int fd, const hl_file *f);
void sh_fd_clear(int fd);
uint64_t *sh_fd_cookie(int fd);
uint32_t sh_fd_kind_raw(int fd);
int sh_fd_max(void);
int sh_fd_max_user(void); /* the same, not counting SH_KIND_PRIVATE records */
void sh_note_private_fd(int fd, int on);
/* Move fd (made while the engine runs) to the top quarter of the descriptor table and mark it
 * private: the program's own descriptor numbers stay free. Returns the fd to use. */
int sh_park_private_fd(int fd);
int sh_current_umask(void);
unsigned long sh_cred_generation(void);
void sh_fd_after_dup(int oldfd, int newfd);
/* ---- wrap_lock.c ---- */
void sh_lock_after_dup(int oldfd, int newfd);
void sh_lock_on_close(int fd, const hl_file *f);
int sh_lock_fcntl(int fd, int cmd, void *arg, int *rc);
void sh_lock_at_exit(void);
static inline int sh_fd_lookup(int fd, hl_file *out) {
    if (likely(sh_nrec == 0)) return 0;
    return sh_fd_get(fd, out);
}

/* ---- shared virtual operations ---- */
int sh_fd_loc(int fd, hl_loc *loc); /* engine fd → loc with path NULL */
int sh_fd_loc_rw(int fd, hl_loc *loc); /* the same, but -1/EBADF for an O_PATH fd (fchmod, fchown, futimens, f*xattr) */
void sh_fill_stat(struct stat *st, const hl_stat *h);
int sh_vstat(const hl_loc *loc, int flags, struct stat *user);
int sh_vopen(vpath *v, int flags, mode_t mode);
DIR *sh_vopendir_fd(int fd, const hl_file *f);
int sh_is_vdir(DIR *d);
DIR *sh_opendir(const char *name);
struct dirent64 *sh_readdir64(DIR *d);
int sh_closedir(DIR *d);
int sh_stat(const char *p, struct stat *st);
int sh_lstat(const char *p, struct stat *st);
int sh_fstatat(int dirfd, const char *p, struct stat *st, int flags);
int sh_fstat(int fd, struct stat *st);
int sh_execve(const char *path, char *const argv[], char *const envp[]);
int sh_has_virtual_state(void);
int sh_build_env(char *const envp[], char **out, size_t cap, char *sbuf, size_t scap);
size_t sh_env_extra(void);
/* ---- wrap_read.c ---- */
struct iovec;
uint32_t sh_lazy_kind(int fd, hl_file *f);  /* HL_KIND_PARTIAL / HL_KIND_WRITE_SPARSE needing the engine, or 0 */
int sh_prepare_write(int fd, const hl_file *f, int op, int64_t off, int64_t len);
ssize_t sh_iov_length(const struct iovec *iov, int cnt);
int sh_partial_complete(int fd);            /* fetch the whole file behind a partial fd: 0 or -1/errno */
void sh_complete_inherited_partials(void);  /* before exec: partial fds the new program keeps */
void sh_partial_closed(const hl_file *f);    /* a partial fd was closed */
/* ---- wrap_write.c ---- */
int sh_prepare_truncate(int fd, off_t len);
/* ---- ldpath.c ---- */
int sh_ldpath_virtual(const char *val); /* an LD_LIBRARY_PATH value with an entry under a prefix */
char *sh_ldpath_rewrite(char *e, char **s, char *end);
void sh_sync_cloexec_writes(void);
int sh_open_flags_from_mode(const char *mode, int *flags);
int sh_vmkstemp(char *tmpl, int suffixlen, int flags, int dir);

#endif
