/* Locks on Hilbert files. The fds programs get are private copies or the node's staging
 * file, so kernel locks taken on them would not exclude other processes. Lock calls on
 * engine fds go to one node-local lock file per inode instead:
 *  - flock and OFD locks belong to an open file description: one lock fd per description,
 *    shared by its dups (reference counted) and inherited over fork like the description;
 *  - POSIX record locks (F_SETLK*, lockf) belong to the process and inode: one lock fd per
 *    inode, closed — releasing them all, as POSIX says — when the process closes any fd of
 *    that inode.
 * On a volume shared between nodes (PostgreSQL metadata) the engine also records each lock
 * in the cluster (cluster_lock, hilbert_abi.h) once the node-local lock is held, so that only
 * one process per node competes there; a refusal from another node is waited out by polling
 * (blocking calls) or undone on the node-local lock (EAGAIN). The first answer "one node
 * only" (SQLite) is kept per mount: those volumes never pay more than that one call. */
#include "shim.h"
#include <signal.h>
#include <time.h>

#define MAX_PROC_LOCKS 64

static int ofd_lock[SH_MAXFD];      /* app fd → lock fd + 1 (0: none) */
static int lock_refs[SH_MAXFD];     /* lock fd → number of app fds sharing it */
static struct { int32_t mount; uint64_t ino; int fd; } proc_lock[MAX_PROC_LOCKS];
volatile int sh_lockfile_lock;

/* Per mount: 0 not known yet, 1 shared between nodes, -1 one node's (no cluster calls). */
static volatile signed char cl_mode[SH_MAX_MOUNTS];
/* This process recorded a cluster lock at some point (close, exit and exec then tell the
 * engine); never set on single-node volumes. */
static volatile int cl_used;

/* The engine, when locks of f's mount may have to be recorded in the cluster. */
static const hl_engine_api *cl_engine(const hl_file *f) {
    if (f->mount >= 0 && f->mount < SH_MAX_MOUNTS && cl_mode[f->mount] < 0) return NULL;
    const hl_engine_api *E = sh_engine();
    if (!E || !SH_HAS(E, cluster_release_all)) return NULL;
    return E;
}

static void cl_note(const hl_file *f, int r) {
    if (f->mount < 0 || f->mount >= SH_MAX_MOUNTS) return;
    if (r == HL_LOCK_NODE_LOCAL) cl_mode[f->mount] = -1;
    else if (r == 0) cl_mode[f->mount] = 1;
}

/* After a handler interrupted a wait: restart it when every handled signal has SA_RESTART
 * (what the kernel does for flock and F_SETLKW), else EINTR. */
static int cl_restartable(void) {
    uint64_t m = __atomic_load_n(&sh_handled_signals, __ATOMIC_RELAXED);
    for (; m; m &= m - 1) {
        struct sigaction sa;
        if (sigaction(__builtin_ctzll(m) + 1, NULL, &sa) == 0 && !(sa.sa_flags & SA_RESTART)) return 0;
    }
    return 1;
}

/* The node-local lock `type` on lfd was just taken: take it in the cluster too. Blocking
 * (`wait`): poll with backoff (1 ms doubling to 100 ms) until no other node holds a
 * conflicting lock. On failure the node-local lock is put back and -1/errno returned. */
static int cl_take(const hl_file *f, int call, int lfd, int type, int64_t start, int64_t len, int wait) {
    const hl_engine_api *E = cl_engine(f);
    if (!E) return 0;
    long delay = 1000000;
    for (;;) {
        int r = ECALL(E->cluster_lock(f->mount, f->ino, call, lfd, type, start, len, 0));
        cl_note(f, r);
        if (r >= 0) {
            if (r == 0) cl_used = 1;
            return 0;
        }
        if (r == -EAGAIN && wait) {
            struct timespec ts = {0, delay};
            if (nanosleep(&ts, NULL) == 0 || cl_restartable()) {
                delay = delay * 2 > 100000000 ? 100000000 : delay * 2;
                continue;
            }
            r = -EINTR;
        }
        ECALL(E->cluster_lock(f->mount, f->ino, call, lfd, type, start, len, 1));
        errno = -r;
        return -1;
    }
}

/* The node-local lock on lfd was released (F_UNLCK over the range): so is the cluster's. */
static void cl_unlock(const hl_file *f, int call, int lfd, int64_t start, int64_t len) {
    if (!cl_used) return;
    const hl_engine_api *E = cl_engine(f);
    if (E) ECALL(E->cluster_lock(f->mount, f->ino, call, lfd, F_UNLCK, start, len, 0));
}

/* A lock fd of f's inode is about to be closed. */
static void cl_release(const hl_file *f, int lfd) {
    if (!cl_used) return;
    const hl_engine_api *E = cl_engine(f);
    if (E) ECALL((E->cluster_release(f->mount, f->ino, lfd), 0));
}

/* Exit and exec: the process's cluster rows go (its lock fds are close-on-exec). */
void sh_lock_at_exit(void) {
    if (!cl_used || sh_in_vfork()) return;
    cl_used = 0;
    const hl_engine_api *E = sh_engine();
    if (E && SH_HAS(E, cluster_release_all)) ECALL((E->cluster_release_all(), 0));
}

static void close_lock_fd(int lfd) {
    sh_note_private_fd(lfd, 0);
    REAL(close)(lfd);
}

static int open_lock_fd(const hl_file *f) {
    SH_ENGINE(E, -1);
    if (!E->lockfile) { errno = ENOLCK; return -1; }
    int lfd = ECALL(E->lockfile(f->mount, f->ino));
    if (lfd < 0) { errno = -lfd; return -1; }
    if (lfd >= SH_MAXFD) { close_lock_fd(lfd); errno = ENOLCK; return -1; }
    return lfd;
}

/* The lock fd of fd's open file description (created on first use). */
static int ofd_lock_fd(int fd, const hl_file *f) {
    if (fd < 0 || fd >= SH_MAXFD) { errno = EBADF; return -1; }
    int cur = __atomic_load_n(&ofd_lock[fd], __ATOMIC_ACQUIRE);
    if (cur) return cur - 1;
    int lfd = open_lock_fd(f);
    if (lfd < 0) return -1;
    sh_lock(&sh_lockfile_lock);
    if (ofd_lock[fd]) {                 /* another thread won */
        cur = ofd_lock[fd] - 1;
        sh_unlock(&sh_lockfile_lock);
        close_lock_fd(lfd);
        return cur;
    }
    ofd_lock[fd] = lfd + 1;
    lock_refs[lfd] = 1;
    sh_unlock(&sh_lockfile_lock);
    return lfd;
}

/* The process's record-lock fd for the inode behind fd. */
static int proc_lock_fd(const hl_file *f) {
    sh_lock(&sh_lockfile_lock);
    for (int i = 0; i < MAX_PROC_LOCKS; i++)
        if (proc_lock[i].fd && proc_lock[i].mount == f->mount && proc_lock[i].ino == f->ino) {
            int r = proc_lock[i].fd - 1;
            sh_unlock(&sh_lockfile_lock);
            return r;
        }
    sh_unlock(&sh_lockfile_lock);
    int lfd = open_lock_fd(f);
    if (lfd < 0) return -1;
    sh_lock(&sh_lockfile_lock);
    for (int i = 0; i < MAX_PROC_LOCKS; i++)
        if (!proc_lock[i].fd) {
            proc_lock[i].mount = f->mount;
            proc_lock[i].ino = f->ino;
            proc_lock[i].fd = lfd + 1;
            sh_unlock(&sh_lockfile_lock);
            return lfd;
        }
    sh_unlock(&sh_lockfile_lock);
    close_lock_fd(lfd);
    errno = ENOLCK;
    return -1;
}

/* newfd now shares oldfd's open file description. */
void sh_lock_after_dup(int oldfd, int newfd) {
    if (oldfd < 0 || oldfd >= SH_MAXFD || newfd < 0 || newfd >= SH_MAXFD) return;
    sh_lock(&sh_lockfile_lock);
    int l = ofd_lock[oldfd];
    if (l) lock_refs[l - 1]++;
    ofd_lock[newfd] = l;
    sh_unlock(&sh_lockfile_lock);
}

/* fd (a record of inode f) is going away. */
void sh_lock_on_close(int fd, const hl_file *f) {
    int close_ofd = -1, close_proc = -1;
    hl_file lf = *f;
    sh_lock(&sh_lockfile_lock);
    if (fd >= 0 && fd < SH_MAXFD && ofd_lock[fd]) {
        int l = ofd_lock[fd] - 1;
        ofd_lock[fd] = 0;
        if (--lock_refs[l] <= 0) close_ofd = l;
    }
    for (int i = 0; i < MAX_PROC_LOCKS; i++)
        if (proc_lock[i].fd && proc_lock[i].mount == f->mount && proc_lock[i].ino == f->ino) {
            close_proc = proc_lock[i].fd - 1;
            proc_lock[i].fd = 0;
        }
    sh_unlock(&sh_lockfile_lock);
    if (close_ofd >= 0) { cl_release(&lf, close_ofd); close_lock_fd(close_ofd); }
    if (close_proc >= 0) { cl_release(&lf, close_proc); close_lock_fd(close_proc); }
}

/* Record-lock ranges are relative to the program's fd (offset, size); the lock file is
 * empty, so make them absolute. The access mode check is the program fd's, too. */
static int absolute_range(int fd, struct flock *l) {
    if (l->l_type == F_WRLCK || l->l_type == F_RDLCK) {
        int acc = REAL(fcntl)(fd, F_GETFL) & O_ACCMODE;
        if ((l->l_type == F_WRLCK && acc == O_RDONLY) || (l->l_type == F_RDLCK && acc == O_WRONLY)) {
            errno = EBADF;
            return -1;
        }
    }
    if (l->l_whence == SEEK_CUR) {
        off_t pos = REAL(lseek64)(fd, 0, SEEK_CUR);
        if (pos < 0) return -1;
        l->l_start += pos;
    } else if (l->l_whence == SEEK_END) {
        struct stat st;
        if (REAL(fstat)(fd, &st) != 0) return -1;
        l->l_start += st.st_size;
    } else if (l->l_whence != SEEK_SET) {
        errno = EINVAL;
        return -1;
    }
    l->l_whence = SEEK_SET;
    return 0;
}

/* fcntl lock commands on an engine fd; returns 1 when handled (result in *rc). */
int sh_lock_fcntl(int fd, int cmd, void *arg, int *rc) {
    hl_file f;
    if (likely(!sh_fd_lookup(fd, &f)) || f.kind == SH_KIND_PRIVATE || sh_guard || sh_in_vfork()) return 0;
    int ofd = cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW || cmd == F_OFD_GETLK;
    if (!ofd && cmd != F_SETLK && cmd != F_SETLKW && cmd != F_GETLK) return 0;
    struct flock l;
    if (sh_peek(&l, arg, sizeof l) != sizeof l) { errno = EFAULT; *rc = -1; return 1; }
    if (absolute_range(fd, &l) != 0) { *rc = -1; return 1; }
    int lfd = ofd ? ofd_lock_fd(fd, &f) : proc_lock_fd(&f);
    if (lfd < 0) { *rc = -1; return 1; }
    int call = ofd ? HL_LOCK_OFD : HL_LOCK_POSIX;
    int64_t start = l.l_start, len = l.l_len;
    int type = l.l_type;
    *rc = REAL(fcntl)(lfd, cmd, &l);
    if (*rc == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK)) {
        if (l.l_type == F_UNLCK && (type == F_RDLCK || type == F_WRLCK)) {
            /* Nothing in the way on this node: another node's lock, if any (its pid is not
             * knowable here: -1, as Linux reports for OFD locks). */
            const hl_engine_api *E = cl_engine(&f);
            int t = type;
            int64_t s0 = start, n0 = len;
            if (E && ECALL(E->cluster_getlk(f.mount, f.ino, call, &t, &s0, &n0)) == 1) {
                l.l_type = (short)t;
                l.l_whence = SEEK_SET;
                l.l_start = s0;
                l.l_len = n0;
                l.l_pid = -1;
            }
        }
        if (sh_copyout(arg, &l, sizeof l) != 0) { errno = EFAULT; *rc = -1; }
    } else if (*rc == 0) {
        if (type == F_UNLCK) cl_unlock(&f, call, lfd, start, len);
        else if (cl_take(&f, call, lfd, type, start, len, cmd == F_SETLKW || cmd == F_OFD_SETLKW) != 0) *rc = -1;
    }
    return 1;
}

EXPORT int flock(int fd, int op) {
    hl_file f;
    if (likely(!sh_fd_lookup(fd, &f)) || f.kind == SH_KIND_PRIVATE || sh_guard || sh_in_vfork())
        return REAL(flock)(fd, op);
    int lfd = ofd_lock_fd(fd, &f);
    if (lfd < 0) return -1;
    int rc = REAL(flock)(lfd, op);
    if (rc != 0) return rc;
    int what = op & ~LOCK_NB;
    if (what == LOCK_UN) cl_unlock(&f, HL_LOCK_FLOCK, lfd, 0, 0);
    else if (what == LOCK_SH || what == LOCK_EX)
        return cl_take(&f, HL_LOCK_FLOCK, lfd, what == LOCK_EX ? F_WRLCK : F_RDLCK, 0, 0, !(op & LOCK_NB));
    return 0;
}

/* glibc's lockf reaches fcntl internally, so it is wrapped here on top of sh_lock_fcntl. */
static int do_lockf(int fd, int cmd, off_t len) {
    hl_file f;
    if (likely(!sh_fd_lookup(fd, &f)) || f.kind == SH_KIND_PRIVATE || sh_guard || sh_in_vfork())
        return REAL(lockf)(fd, cmd, len);
    struct flock l = { .l_whence = SEEK_CUR, .l_start = 0, .l_len = len };
    int rc = -1;
    switch (cmd) {
    case F_TEST:
        l.l_type = F_RDLCK;
        if (!sh_lock_fcntl(fd, F_GETLK, &l, &rc) || rc < 0) return -1;
        if (l.l_type == F_UNLCK || l.l_pid == getpid()) return 0;
        errno = EACCES;
        return -1;
    case F_ULOCK: l.l_type = F_UNLCK; sh_lock_fcntl(fd, F_SETLK, &l, &rc); return rc;
    case F_LOCK: l.l_type = F_WRLCK; sh_lock_fcntl(fd, F_SETLKW, &l, &rc); return rc;
    case F_TLOCK: l.l_type = F_WRLCK; sh_lock_fcntl(fd, F_SETLK, &l, &rc); return rc;
    default: errno = EINVAL; return -1;
    }
}
EXPORT int lockf(int fd, int cmd, off_t len) { return do_lockf(fd, cmd, len); }
EXPORT int lockf64(int fd, int cmd, off_t len) { return do_lockf(fd, cmd, len); }
