/* Per-fd records of engine fds. Reads are lock-free (and async-signal-safe); updates take a
 * spinlock. The array (2 MiB) is mapped on the first record: a process that never touches a
 * prefix maps nothing (and cannot fault in a transparent huge page of zeros). */
#include "shim.h"
#include <sys/mman.h>

typedef struct {
    volatile uint32_t kind;
    int32_t mount;
    uint64_t ino;
    uint64_t cookie; /* getdents64 position of DIR fds */
} rec;

static rec *volatile table;
volatile int sh_nrec;
static volatile int maxfd = -1;
/* The highest fd with a record of the program's (not SH_KIND_PRIVATE): the engine's own fds
 * sit at 15000 and up, so loops over the program's fds at exit and exec stop here. */
static volatile int maxuserfd = -1;
volatile int sh_fdtable_lock;

/* Called with the lock held. NULL when the mapping fails (the record is then not kept, as for
 * fds beyond SH_MAXFD). */
static rec *table_for_update(void) {
    if (table) return table;
    void *m = mmap(NULL, sizeof(rec) * SH_MAXFD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    __atomic_store_n(&table, (rec *)m, __ATOMIC_RELEASE);
    return table;
}

int sh_fd_get(int fd, hl_file *out) {
    rec *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!t || fd < 0 || fd >= SH_MAXFD) return 0;
    uint32_t k = __atomic_load_n(&t[fd].kind, __ATOMIC_ACQUIRE);
    if (k == HL_KIND_NONE) return 0;
    out->kind = k == HL_KIND_WRITE_SPARSE || k == SH_KIND_WRITE_INHERITED ? HL_KIND_WRITE : k;
    out->mount = t[fd].mount;
    out->ino = t[fd].ino;
    return 1;
}

static void put(int fd, uint32_t kind, int32_t mount, uint64_t ino) {
    if (fd < 0 || fd >= SH_MAXFD) return;
    sh_lock(&sh_fdtable_lock);
    rec *t = table_for_update();
    if (!t) { sh_unlock(&sh_fdtable_lock); return; }
    rec *r = &t[fd];
    uint32_t old = r->kind;
    __atomic_store_n(&r->kind, HL_KIND_NONE, __ATOMIC_RELEASE);
    r->mount = mount;
    r->ino = ino;
    r->cookie = 0;
    __atomic_store_n(&r->kind, kind, __ATOMIC_RELEASE);
    if (old == HL_KIND_NONE && kind != HL_KIND_NONE) sh_nrec++;
    if (old != HL_KIND_NONE && kind == HL_KIND_NONE) sh_nrec--;
    if (kind != HL_KIND_NONE && fd > maxfd) maxfd = fd;
    if (kind != HL_KIND_NONE && kind != SH_KIND_PRIVATE && fd > maxuserfd) maxuserfd = fd;
    sh_unlock(&sh_fdtable_lock);
}

void sh_fd_set(int fd, const hl_file *f) { put(fd, f->kind, f->mount, f->ino); }
void sh_fd_clear(int fd) {
    rec *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (t && fd >= 0 && fd < SH_MAXFD && t[fd].kind != HL_KIND_NONE) put(fd, HL_KIND_NONE, 0, 0);
}
/* The kind as recorded (HL_KIND_WRITE_SPARSE and SH_KIND_WRITE_INHERITED are not folded into
 * HL_KIND_WRITE); 0 for none. */
uint32_t sh_fd_kind_raw(int fd) {
    rec *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!t || fd < 0 || fd >= SH_MAXFD) return HL_KIND_NONE;
    return __atomic_load_n(&t[fd].kind, __ATOMIC_ACQUIRE);
}
uint64_t *sh_fd_cookie(int fd) {
    rec *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    return t && fd >= 0 && fd < SH_MAXFD ? &t[fd].cookie : NULL;
}
int sh_fd_max(void) { return maxfd; }
int sh_fd_max_user(void) { return maxuserfd; }

void sh_note_private_fd(int fd, int on) {
    if (on) put(fd, SH_KIND_PRIVATE, -1, 0);
    else sh_fd_clear(fd);
}

int sh_park_private_fd(int fd) {
    int floor = hl_private_fd_floor(), saved = errno;
    int moved = fd < floor ? REAL(fcntl)(fd, F_DUPFD_CLOEXEC, floor) : -1;
    if (moved >= 0) {
        REAL(close)(fd);
        fd = moved;
    }
    errno = saved;
    sh_note_private_fd(fd, 1);
    return fd;
}

/* newfd now refers to oldfd's open file: copy (or drop) the record. */
void sh_fd_after_dup(int oldfd, int newfd) {
    hl_file f, replaced;
    if (sh_fd_get(newfd, &replaced) && replaced.kind != SH_KIND_PRIVATE) sh_lock_on_close(newfd, &replaced);
    if (sh_fd_get(oldfd, &f) && f.kind != SH_KIND_PRIVATE) {
        f.kind = sh_fd_kind_raw(oldfd);   /* a sparse write fd stays one */
        sh_fd_set(newfd, &f);
        sh_lock_after_dup(oldfd, newfd);
    } else {
        sh_fd_clear(newfd);
    }
}
