/*
 * hilbert_abi.h — the one contract between the preloaded C shim and the Swift engine.
 *
 * The shim (preload/, always in LD_PRELOAD) dlopen()s the engine lazily and calls
 * hilbert_engine_api(), the engine's only exported symbol. Every engine entry returns
 * >= 0 on success and -errno on failure; the shim turns that into errno/-1 at the libc
 * boundary. The engine never calls an interposed libc symbol for its own I/O: it uses the
 * real-function table handed over in hl_shim_services, and the shim additionally runs
 * every engine call with its per-thread re-entry guard raised.
 *
 * Growth rule: new fields go at the end of a struct; `size` says how much the other side
 * built. A different HL_ABI_VERSION major is refused (the shim then answers ENOSYS).
 */
#ifndef HILBERT_ABI_H
#define HILBERT_ABI_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_ABI_VERSION 1u

/* Returned as -HL_REDIRECT by single-path operations when resolution left the volume
 * (".." above a mount root, or a symlink whose target is outside every mount). The shim
 * then calls take_redirect() for the host path and performs the real libc call on it. */
#define HL_REDIRECT 100000

/* The real libc functions, resolved by the shim with dlsym(RTLD_NEXT). The engine routes
 * all of its own file-system calls through these. NULL when the running libc lacks one. */
#define HL_REAL_FUNCTIONS(X)                                                         \
    X(open, int, (const char *, int, ...))                                           \
    X(openat, int, (int, const char *, int, ...))                                    \
    X(close, int, (int))                                                             \
    X(read, ssize_t, (int, void *, size_t))                                          \
    X(write, ssize_t, (int, const void *, size_t))                                   \
    X(pread64, ssize_t, (int, void *, size_t, off_t))                                \
    X(pwrite64, ssize_t, (int, const void *, size_t, off_t))                         \
    X(lseek64, off_t, (int, off_t, int))                                             \
    X(fstat64, int, (int, struct stat *))                                            \
    X(stat64, int, (const char *, struct stat *))                                    \
    X(lstat64, int, (const char *, struct stat *))                                   \
    X(fstatat64, int, (int, const char *, struct stat *, int))                       \
    X(access, int, (const char *, int))                                              \
    X(unlink, int, (const char *))                                                   \
    X(unlinkat, int, (int, const char *, int))                                       \
    X(rename, int, (const char *, const char *))                                     \
    X(renameat, int, (int, const char *, int, const char *))                         \
    X(mkdir, int, (const char *, mode_t))                                            \
    X(rmdir, int, (const char *))                                                    \
    X(ftruncate64, int, (int, off_t))                                                \
    X(fsync, int, (int))                                                             \
    X(fdatasync, int, (int))                                                         \
    X(fcntl, int, (int, int, ...))                                                   \
    X(flock, int, (int, int))                                                        \
    X(fchmod, int, (int, mode_t))                                                    \
    X(fchown, int, (int, uid_t, gid_t))                                              \
    X(futimens, int, (int, const struct timespec *))                                 \
    X(readlink, ssize_t, (const char *, char *, size_t))                             \
    X(getcwd, char *, (char *, size_t))                                              \
    X(opendir, void *, (const char *))                                               \
    X(readdir64, void *, (void *))                                                   \
    X(closedir, int, (void *))                                                       \
    X(statvfs64, int, (const char *, void *))                                        \
    X(mmap64, void *, (void *, size_t, int, int, int, off_t))                        \
    X(munmap, int, (void *, size_t))                                                 \
    X(mremap, void *, (void *, size_t, size_t, int, ...))                            \
    X(ioctl, int, (int, unsigned long, ...))                                         \
    X(fallocate64, int, (int, int, off_t, off_t))                                    \
    X(dup, int, (int))                                                               \
    X(link, int, (const char *, const char *))                                       \
    X(symlink, int, (const char *, const char *))                                    \
    X(memfd_create, int, (const char *, unsigned int))                               \
    X(copy_file_range, ssize_t, (int, off_t *, int, off_t *, size_t, unsigned int))  \
    X(sendfile64, ssize_t, (int, int, off_t *, size_t))

#define HL_REAL_FIELD(name, ret, params) ret (*name) params;
typedef struct hl_real_table {
    HL_REAL_FUNCTIONS(HL_REAL_FIELD)
} hl_real_table;
#undef HL_REAL_FIELD

/* Shim → engine, passed once to start(). */
typedef struct hl_shim_services {
    uint32_t abi_version;
    uint32_t size;                      /* sizeof(hl_shim_services) as the shim built it */
    const hl_real_table *real;
    /* The engine announces the fds it owns (SQLite, cache files it keeps open, sockets).
     * The shim hides them from the application's close/close_range/closefrom/dup2. */
    void (*note_private_fd)(int fd, int on);
    const char *shim_path;              /* absolute path of the loaded shim object */
    /* The umask the program last set with umask(2) (the shim wraps it), or -1 when the
     * program has not called umask since it started (the engine then reads it once). */
    int (*current_umask)(void);
    /* A counter the shim bumps whenever the program changes its uid/gid/groups through
     * libc: the engine re-reads its credentials only when it moved. */
    unsigned long (*cred_generation)(void);
    /* Raise (+1) or lower (-1) the calling thread's re-entry guard. The engine raises it in
     * every thread it starts, so what those threads and the libraries the engine loads
     * (libcurl, OpenSSL) call in libc goes straight to libc, as on the calling thread. */
    void (*guard_thread)(int delta);
    /* The descriptor-number gate (preload/src/fdgate.c). `fd_gate_enter(HL_FD_GATE_ENGINE)`
     * before the engine creates a descriptor it moves above the program's range, and
     * `fd_gate_enter(HL_FD_GATE_PROGRAM)` before it creates one for the program; then
     * `fd_gate_leave` with what enter returned (0: nothing was entered) once the descriptor
     * is where it belongs. */
    int (*fd_gate_enter)(int who);
    void (*fd_gate_leave)(int token);
} hl_shim_services;

enum { HL_FD_GATE_PROGRAM = 1, HL_FD_GATE_ENGINE = 2 };

/* Where a path operation points.
 *   path absolute ("/a/b"; "/" is the mount root): relative to the mount root; dir ignored.
 *   path relative ("a/b", "."): resolved from directory inode `dir` (the virtual cwd or the
 *     directory behind a dirfd).
 *   path NULL: the operation applies to inode `dir` itself (fd-based calls, AT_EMPTY_PATH).
 * Paths may contain ".", "..", repeated '/' and a trailing '/', and are resolved component by
 * component by the engine (".." is the physical parent; ".." of a mount root leaves it). */
typedef struct hl_loc {
    int32_t mount;                      /* index into the mount table given to start() */
    uint32_t reserved;
    uint64_t dir;
    const char *path;
} hl_loc;

typedef struct hl_stat {
    uint64_t dev, ino, nlink, size, blocks, rdev;
    uint32_t mode, uid, gid, blksize;
    int64_t atime_sec, mtime_sec, ctime_sec, btime_sec;
    uint32_t atime_nsec, mtime_nsec, ctime_nsec, btime_nsec;
} hl_stat;

typedef struct hl_statfs {
    uint64_t type, bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, namemax, flags;
} hl_statfs;

/* What an fd returned by open() is; the shim records it per fd (and across dup/fork/exec). */
enum {
    HL_KIND_NONE = 0,
    HL_KIND_READ = 1,    /* immutable local copy of a committed version (memfd or cache file) */
    HL_KIND_WRITE = 2,   /* the node's shared staging file; release() on close commits */
    HL_KIND_DIR = 3,     /* placeholder directory fd (empty shadow dir); listings via readdir() */
    HL_KIND_PATH = 4,    /* O_PATH placeholder */
    HL_KIND_TMPFILE = 5, /* O_TMPFILE: an anonymous kernel file with no inode in the volume yet
                          * (ino: bit 0 = opened with O_EXCL); fd calls on it are the kernel's */
    HL_KIND_PARTIAL = 6, /* a read copy filled as it is read (a sparse cache file): reads go to
                          * partial_read; calls the shim cannot see read through (mmap, sendfile,
                          * copy_file_range, splice, SEEK_DATA/SEEK_HOLE, stdio, exec) call
                          * partial_complete first. Becomes HL_KIND_READ once complete. */
    HL_KIND_WRITE_SPARSE = 7, /* an HL_KIND_WRITE fd whose staging file holds only the blocks
                          * brought in so far: reads, writes and truncates call prepare_write
                          * first; calls the shim cannot follow ask for the whole file. The shim
                          * reports it as HL_KIND_WRITE everywhere else, and records it as
                          * HL_KIND_WRITE once prepare_write says the file is whole. */
};
enum { HL_PREPARE_READ = 0, HL_PREPARE_WRITE = 1, HL_PREPARE_TRUNCATE = 2, HL_PREPARE_WHOLE = 3 };

typedef struct hl_file {
    int32_t mount;
    uint32_t kind;
    uint64_t ino;
} hl_file;

/* Records written by readdir(): 8-byte aligned, name NUL-terminated. */
typedef struct hl_dirent {
    uint64_t ino;
    uint64_t next;       /* cookie that continues after this entry (for telldir/seekdir) */
    uint16_t reclen;     /* bytes of this record including padding */
    uint8_t type;        /* DT_* */
    char name[];
} hl_dirent;

typedef struct hl_engine_api {
    uint32_t abi_version;
    uint32_t size;

    /* Idempotent. `mounts` is the HILBERT_MOUNTS string the shim parsed
     * ("PREFIX=META-URL;PREFIX=META-URL"), or NULL for the embedded default
     * ("/hilbert" → the default volume, created on first use). The engine reads its other
     * settings (HILBERT_CACHE, HILBERT_DEBUG, …) from the environment. A failure returns
     * -errno after printing one clear line to stderr; the shim then answers that errno. */
    int (*start)(const hl_shim_services *svc, const char *mounts);
    /* At process exit, after the shim flushed stdio: commit the listed write fds without
     * closing them (the kernel closes them right after). */
    void (*stop)(const int *write_fds, const hl_file *files, int count);

    /* Open. Returns a real kernel fd (O_CLOEXEC when flags has it) and fills *out.
     * Honours O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW, O_PATH,
     * O_ACCMODE; permission checks against the caller's current euid/egid/groups. */
    int (*open)(const hl_loc *loc, int flags, mode_t mode, hl_file *out);
    /* The application closed its last reference *as far as this process knows*: the engine
     * closes fd with the real close and commits when no writer is left anywhere. Only for
     * HL_KIND_WRITE; returns 0 or the commit's -errno (the fd is closed either way). */
    int (*release)(int fd, const hl_file *f);
    /* fsync/fdatasync on a write fd: commit the current content now (fd stays open). */
    int (*fsync)(int fd, const hl_file *f);
    /* Identity of an engine fd: virtual dev/ino/mode/owner; live size and mtime for writers. */
    int (*fstat)(int fd, const hl_file *f, hl_stat *out);

    int (*stat)(const hl_loc *loc, int at_flags, hl_stat *out);        /* AT_SYMLINK_NOFOLLOW */
    int (*access)(const hl_loc *loc, int mode, int at_flags);          /* AT_EACCESS, AT_SYMLINK_NOFOLLOW */
    int (*mkdir)(const hl_loc *loc, mode_t mode);
    int (*mknod)(const hl_loc *loc, mode_t mode, dev_t dev);
    int (*unlink)(const hl_loc *loc, int at_flags);                    /* AT_REMOVEDIR = rmdir */
    int (*rename)(const hl_loc *from, const hl_loc *to, unsigned int flags); /* RENAME_* */
    int (*link)(const hl_loc *from, const hl_loc *to, int at_flags);   /* AT_SYMLINK_FOLLOW */
    int (*symlink)(const char *target, const hl_loc *loc);
    ssize_t (*readlink)(const hl_loc *loc, char *buf, size_t len);     /* bytes, no NUL */
    int (*chmod)(const hl_loc *loc, mode_t mode, int at_flags);
    int (*chown)(const hl_loc *loc, uid_t uid, gid_t gid, int at_flags); /* -1 = unchanged */
    int (*utimens)(const hl_loc *loc, const struct timespec *times, int at_flags); /* NULL = now */
    int (*truncate)(const hl_loc *loc, int64_t length);
    int (*statfs)(const hl_loc *loc, hl_statfs *out);
    ssize_t (*getxattr)(const hl_loc *loc, const char *name, void *buf, size_t len, int at_flags);
    int (*setxattr)(const hl_loc *loc, const char *name, const void *val, size_t len, int xflags, int at_flags);
    ssize_t (*listxattr)(const hl_loc *loc, char *buf, size_t len, int at_flags);
    int (*removexattr)(const hl_loc *loc, const char *name, int at_flags);

    /* Directory listing of inode `dir`, starting after *cookie (0 = from the start, which
     * yields "." and ".." first). Fills hl_dirent records into buf; returns bytes written,
     * 0 at the end; advances *cookie. -EINVAL when buf cannot hold one record. */
    ssize_t (*readdir)(int32_t mount, uint64_t dir, uint64_t *cookie, void *buf, size_t len);
    /* chdir: checks directory + search permission, returns an O_PATH placeholder directory
     * fd the shim fchdir()s to (and then closes), and fills *out with the directory. */
    int (*chdir)(const hl_loc *loc, hl_file *out);
    /* Absolute path of a directory inode inside its mount ("/a/b", "/" for the root),
     * written NUL-terminated; returns the length. -ENOENT once the directory is removed. */
    ssize_t (*getpath)(int32_t mount, uint64_t ino, char *buf, size_t len);
    /* Canonical absolute path *inside the mount* of loc (symlinks resolved); -HL_REDIRECT
     * when it leaves the volume. Written NUL-terminated; returns the length. */
    ssize_t (*realpath)(const hl_loc *loc, char *buf, size_t len);
    /* For execve/dlopen: a real local file holding the current content of the regular file
     * at loc (executable bit kept), path written NUL-terminated; returns the length.
     * Checks X_OK when `for_exec`. */
    ssize_t (*materialize)(const hl_loc *loc, int for_exec, char *buf, size_t len);
    /* After -HL_REDIRECT: the host path to retry, NUL-terminated; returns the length. */
    ssize_t (*take_redirect)(char *buf, size_t len);
    /* A new engine-private O_RDWR fd on the node-local lock file of an inode: the shim
     * redirects flock/fcntl/lockf locks of engine fds to it, because the fds programs get
     * are private copies whose kernel locks would not exclude other processes. */
    int (*lockfile)(int32_t mount, uint64_t ino);
    /* AF_UNIX sockets under a prefix are node-local kernel sockets. bind (`create` = 1) makes
     * a socket inode at loc (mode & ~umask; -EADDRINUSE when the name exists); connect
     * (`create` = 0) checks that loc is a socket the caller may write (-ECONNREFUSED for
     * another file type). Both write the host path of the inode's kernel socket in the
     * node's cache directory, NUL-terminated, and return its length. */
    ssize_t (*socketpath)(const hl_loc *loc, int create, mode_t mode, char *buf, size_t len);
    /* Name the O_TMPFILE file behind fd (an HL_KIND_TMPFILE fd) at `to`: the inode is created
     * with the file's mode and content, committed, and *out is what fd is from then on (an
     * HL_KIND_WRITE fd of the new inode). -ENOENT for an O_EXCL tmpfile, -EEXIST when `to`
     * exists, -EXDEV for another mount. (Check `size` first: added after socketpath.) */
    int (*link_tmpfile)(int fd, const hl_file *f, const hl_loc *to, hl_file *out);
    /* For LD_LIBRARY_PATH: a host directory mirroring the shared objects (`*.so`, `*.so.*`,
     * regular files and symlinks) of the directory at loc, for the dynamic loader, which
     * searches library directories with system calls the shim does not see. The mirror lives
     * in the node's cache and is reused while those files are unchanged. Path written
     * NUL-terminated; returns its length. (Check `size` first: added after link_tmpfile.) */
    ssize_t (*libdir)(const hl_loc *loc, char *buf, size_t len);

    /* Cluster locks (check `size` first: added after libdir). On a volume shared between
     * nodes (PostgreSQL metadata) a lock the shim took on a node-local lock fd is recorded in
     * the metadata as a lease, so that it excludes other nodes too (SEMANTICS.md, "locks").
     * `call` is HL_LOCK_FLOCK, HL_LOCK_POSIX or HL_LOCK_OFD; `lockfd` the lock fd the shim
     * used (the lock's owner: an open file description, or the process's record-lock fd of
     * the inode); start/len are fcntl's, absolute (flock: ignored, the whole file).
     *
     * cluster_lock, after the node-local lock on lockfd changed successfully:
     *   undo = 0: take `type` (F_RDLCK/F_WRLCK) or release it (F_UNLCK) in the cluster. 0 when
     *     done; -EAGAIN when another node holds a conflicting lock (nothing recorded: the shim
     *     waits and asks again, or calls again with undo = 1 and fails); -ENOLCK when the
     *     metadata cannot be reached (one `hilbert:` line).
     *   undo = 1: put the node-local lock on lockfd for the range back as the cluster records
     *     it (after a refusal).
     *   HL_LOCK_NODE_LOCAL: the volume is one node's (SQLite): nothing to do, ever; the shim
     *     does not call again for this mount. */
    int (*cluster_lock)(int32_t mount, uint64_t ino, int call, int lockfd, int type, int64_t start, int64_t len, int undo);
    /* F_GETLK: 1 and the conflicting lock of another node in *type, *start, *len; 0 none. */
    int (*cluster_getlk)(int32_t mount, uint64_t ino, int call, int *type, int64_t *start, int64_t *len);
    /* lockfd is being closed: the cluster rows it owns go (both families). */
    void (*cluster_release)(int32_t mount, uint64_t ino, int lockfd);
    /* Exit or exec: every cluster row of this process goes. */
    void (*cluster_release_all)(void);

    /* Reads of HL_KIND_PARTIAL fds (check `size` first: added after cluster_release_all).
     * partial_read: preadv(2) of fd into `iov` (an array of `iovcnt` struct iovec the shim
     * copied, `length` bytes in all) at `offset`, or at the fd's position (advanced) when
     * `offset` is -1, after fetching the blocks the range needs. Returns bytes or -errno; sets
     * *complete when the copy now holds the whole file. */
    ssize_t (*partial_read)(int fd, const hl_file *f, const void *iov, int iovcnt, size_t length, int64_t offset, int *complete);
    /* Fetch the whole file behind fd (0 or -errno, one `hilbert:` line on failure). */
    int (*partial_complete)(int fd, const hl_file *f);
    /* The program closed its last HL_KIND_PARTIAL fd of (mount, ino). */
    void (*partial_forget)(int32_t mount, uint64_t ino);
    /* Before a call on an HL_KIND_WRITE_SPARSE fd: bring in the blocks it needs. `op`
     * HL_PREPARE_READ/WRITE: bytes [offset, offset+length) (offset -1: at the fd's position;
     * a write with O_APPEND: at its end); TRUNCATE: to `length`; WHOLE: every block. Returns 1
     * when the staging file is whole now, 0 when not, or -errno (one `hilbert:` line). */
    int (*prepare_write)(int fd, const hl_file *f, int op, int64_t offset, int64_t length);
    /* A write fd this process got across exec, at its first write: store its whole blocks
     * while they are written (write-behind). Best effort; nothing to report. */
    void (*watch_write)(int fd, const hl_file *f);
} hl_engine_api;

#define HL_LOCK_FLOCK 1
#define HL_LOCK_POSIX 2
#define HL_LOCK_OFD 3
#define HL_LOCK_NODE_LOCAL 1

/* Where the engine's own descriptors go, on both sides of this contract (the engine moves
 * its files there, the shim the sockets libpq opens while the engine runs): the top quarter
 * of the descriptor table (capped at 65536), far from the numbers programs pick (bash:
 * 10..255); 0, "where they are", under a limit below 256. */
static inline int hl_private_fd_floor(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 256) return 0;
    rlim_t cur = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
    return (int)(cur - cur / 4);
}

/* The engine's only exported symbol. */
typedef const hl_engine_api *(*hl_engine_entry_fn)(void);
#define HL_ENGINE_ENTRY "hilbert_engine_api"

#ifdef __cplusplus
}
#endif
#endif /* HILBERT_ABI_H */
