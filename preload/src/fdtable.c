/* Per-fd records of engine fds. Reads are lock-free (and async-signal-safe); updates take a
 * spinlock. The array lives in .bss, so untouched pages cost nothing. */
#include "shim.h"

typedef struct {
    volatile uint32_t kind;
    int32_t mount;
    uint64_t ino;
    uint64_t cookie; /* getdents64 position of DIR fds */
} rec;

static rec table[SH_MAXFD];
volatile int sh_nrec;
static volatile int maxfd = -1;
static volatile int lock;

int sh_fd_get(int fd, hl_file *out) {
    if (fd < 0 || fd >= SH_MAXFD) return 0;
    uint32_t k = __atomic_load_n(&table[fd].kind, __ATOMIC_ACQUIRE);
    if (k == HL_KIND_NONE) return 0;
    out->kind = k;
    out->mount = table[fd].mount;
    out->ino = table[fd].ino;
    return 1;
}

static void put(int fd, uint32_t kind, int32_t mount, uint64_t ino) {
    if (fd < 0 || fd >= SH_MAXFD) return;
    sh_lock(&lock);
    rec *r = &table[fd];
    uint32_t old = r->kind;
    __atomic_store_n(&r->kind, HL_KIND_NONE, __ATOMIC_RELEASE);
    r->mount = mount;
    r->ino = ino;
    r->cookie = 0;
    __atomic_store_n(&r->kind, kind, __ATOMIC_RELEASE);
    if (old == HL_KIND_NONE && kind != HL_KIND_NONE) sh_nrec++;
    if (old != HL_KIND_NONE && kind == HL_KIND_NONE) sh_nrec--;
    if (kind != HL_KIND_NONE && fd > maxfd) maxfd = fd;
    sh_unlock(&lock);
}

void sh_fd_set(int fd, const hl_file *f) { put(fd, f->kind, f->mount, f->ino); }
void sh_fd_clear(int fd) {
    if (fd >= 0 && fd < SH_MAXFD && table[fd].kind != HL_KIND_NONE) put(fd, HL_KIND_NONE, 0, 0);
}
uint64_t *sh_fd_cookie(int fd) { return fd >= 0 && fd < SH_MAXFD ? &table[fd].cookie : NULL; }
int sh_fd_max(void) { return maxfd; }

void sh_note_private_fd(int fd, int on) {
    if (on) put(fd, SH_KIND_PRIVATE, -1, 0);
    else sh_fd_clear(fd);
}

/* newfd now refers to oldfd's open file: copy (or drop) the record. */
void sh_fd_after_dup(int oldfd, int newfd) {
    hl_file f, replaced;
    if (sh_fd_get(newfd, &replaced) && replaced.kind != SH_KIND_PRIVATE) sh_lock_on_close(newfd, &replaced);
    if (sh_fd_get(oldfd, &f) && f.kind != SH_KIND_PRIVATE) {
        sh_fd_set(newfd, &f);
        sh_lock_after_dup(oldfd, newfd);
    } else {
        sh_fd_clear(newfd);
    }
}
