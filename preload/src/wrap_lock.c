/* Locks on Hilbert files. The fds programs get are private copies or the node's staging
 * file, so kernel locks taken on them would not exclude other processes. Lock calls on
 * engine fds go to one node-local lock file per inode instead:
 *  - flock and OFD locks belong to an open file description: one lock fd per description,
 *    shared by its dups (reference counted) and inherited over fork like the description;
 *  - POSIX record locks (F_SETLK*, lockf) belong to the process and inode: one lock fd per
 *    inode, closed — releasing them all, as POSIX says — when the process closes any fd of
 *    that inode. */
#include "shim.h"

#define MAX_PROC_LOCKS 64

static int ofd_lock[SH_MAXFD];      /* app fd → lock fd + 1 (0: none) */
static int lock_refs[SH_MAXFD];     /* lock fd → number of app fds sharing it */
static struct { int32_t mount; uint64_t ino; int fd; } proc_lock[MAX_PROC_LOCKS];
volatile int sh_lockfile_lock;

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
    if (close_ofd >= 0) close_lock_fd(close_ofd);
    if (close_proc >= 0) close_lock_fd(close_proc);
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
    *rc = REAL(fcntl)(lfd, cmd, &l);
    if (*rc == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK)) {
        if (sh_copyout(arg, &l, sizeof l) != 0) { errno = EFAULT; *rc = -1; }
    }
    return 1;
}

EXPORT int flock(int fd, int op) {
    hl_file f;
    if (likely(!sh_fd_lookup(fd, &f)) || f.kind == SH_KIND_PRIVATE || sh_guard || sh_in_vfork())
        return REAL(flock)(fd, op);
    int lfd = ofd_lock_fd(fd, &f);
    return lfd < 0 ? -1 : REAL(flock)(lfd, op);
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
