/* A VFS over SQLite's "unix" VFS that gathers the writes a transaction makes to its WAL and
 * writes them in one pwrite. SQLite writes each WAL frame with two system calls (its 24-byte
 * header, then the page): a small file's create and commit wrote 18 frames, 36 pwrites, about a
 * fifth of a create's time, while holding the volume's write lock.
 *
 * Safe because of when the gathered bytes reach the file. A commit's frames are written out
 * in the xWrite of its last frame (the one whose header holds the database size), so a failure
 * (a full disk) fails that write as it did before, and SQLite publishes nothing. A reader, in
 * this process or another, reads frames only up to the `mxFrame` of the WAL-index header in
 * shared memory, which the writer updates after its frames are written. As a second guard,
 * every xShmBarrier (the writer calls one between the two copies of the header it publishes,
 * and a reader accepts a header only when both agree) and every shared-memory lock change
 * writes out what is gathered, as does everything else that looks at the WAL (a read, its
 * size, sync, truncate, a file control, close). A killed writer loses only frames that no
 * header pointed to: a transaction that did not commit.
 *
 * Only contiguous appends are gathered; any other write writes the gathered ones out first,
 * and what SQLite writes after a commit's frames (the checksums it rewrites when the
 * transaction overwrote a frame of its own) goes straight to the file.
 * HILBERT_WAL_COALESCE=0 turns it off (the plain "unix" VFS). */
#include "sqlite_wal.h"
#include <sqlite3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VFS_NAME "hilbert-wal"
/* The unix VFS writes at most 0x1ffff bytes per call (it masks the length: SQLite itself never
 * writes more than a page), so the gathered bytes go out before they would pass that. */
#define GATHER_MAX 0x1ffff

typedef struct wal_file wal_file;
struct wal_file {
    sqlite3_file base;
    sqlite3_file *real;      /* the unix VFS's file, allocated right after this struct */
    int is_wal;
    char *db_name;           /* the database this file (or WAL) belongs to */
    /* WAL files: the gathered bytes, for offsets [start, start + len) */
    pthread_mutex_t lock;
    unsigned char *data;
    size_t len, cap;
    sqlite3_int64 start;
    int commit_next;         /* the last write was a commit frame's header: its page follows */
    int after_commit;        /* the commit's frames are out: what SQLite writes now (checksums
                              * it rewrites) goes straight to the file */
    wal_file *next;          /* the list of open WAL files */
};

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs vfs;
static sqlite3_io_methods methods_v1, methods_v3;
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static wal_file *wal_list;

/* Write out what is gathered. On a failure in a call of the connection that gathered it, the
 * bytes are dropped: SQLite learns of the failure and abandons the transaction, and its frames
 * must never reach the file later (a commit frame written after its transaction was reported
 * failed would be replayed as committed by a recovery). A failure in another connection's
 * call (`keep`: a barrier or lock change of the same database) keeps them for their own
 * connection's next write, which reports it. */
static int write_out_locked(wal_file *f, int keep) {
    int rc = SQLITE_OK;
    if (f->len) rc = f->real->pMethods->xWrite(f->real, f->data, (int)f->len, f->start);
    if (rc == SQLITE_OK || !keep) f->len = 0;
    return rc;
}

static int write_out(wal_file *f) {
    if (!f->is_wal) return SQLITE_OK;
    pthread_mutex_lock(&f->lock);
    int rc = write_out_locked(f, 0);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* The commit is published (a barrier, a lock change): the next transaction gathers again. */
static void write_out_ending(wal_file *f) {
    pthread_mutex_lock(&f->lock);
    write_out_locked(f, 1);
    f->after_commit = 0;
    pthread_mutex_unlock(&f->lock);
}

/* The WAL files of database `name` (every connection's): written out, as far as they can be. */
static void write_out_wals_of(const char *name) {
    pthread_mutex_lock(&list_lock);
    for (wal_file *w = wal_list; w; w = w->next)
        if (w->db_name && name && strcmp(w->db_name, name) == 0) write_out_ending(w);
    pthread_mutex_unlock(&list_lock);
}

static int x_close(sqlite3_file *p) {
    wal_file *f = (wal_file *)p;
    int rc = write_out(f);
    if (f->is_wal) {
        pthread_mutex_lock(&list_lock);
        for (wal_file **w = &wal_list; *w; w = &(*w)->next)
            if (*w == f) { *w = f->next; break; }
        pthread_mutex_unlock(&list_lock);
        pthread_mutex_destroy(&f->lock);
        free(f->data);
    }
    int rc2 = f->real->pMethods->xClose(f->real);
    free(f->db_name);
    return rc != SQLITE_OK ? rc : rc2;
}

static int x_read(sqlite3_file *p, void *buf, int n, sqlite3_int64 off) {
    wal_file *f = (wal_file *)p;
    int rc = write_out(f);
    if (rc != SQLITE_OK) return rc;
    return f->real->pMethods->xRead(f->real, buf, n, off);
}

/* Room for `n` more gathered bytes; 0 when it cannot be had (no memory). */
static int make_room_locked(wal_file *f, size_t n) {
    if (f->len + n <= f->cap) return 1;
    size_t cap = f->cap ? f->cap : 64 << 10;
    while (cap < f->len + n) cap *= 2;
    unsigned char *d = realloc(f->data, cap);
    if (!d) return 0;
    f->data = d;
    f->cap = cap;
    return 1;
}

static int x_write(sqlite3_file *p, const void *buf, int n, sqlite3_int64 off) {
    wal_file *f = (wal_file *)p;
    if (!f->is_wal) return f->real->pMethods->xWrite(f->real, buf, n, off);
    pthread_mutex_lock(&f->lock);
    /* A frame header (24 bytes) whose bytes 4-7 (the database size after a commit) are not zero
     * starts a commit frame: once its page is here, everything goes out. */
    const unsigned char *b = buf;
    int commit_page = f->commit_next;
    f->commit_next = n == 24 && (b[4] | b[5] | b[6] | b[7]);
    int rc = SQLITE_OK;
    if (f->len && (off != f->start + (sqlite3_int64)f->len || f->len + (size_t)n > GATHER_MAX))
        rc = write_out_locked(f, 0);
    int through = f->after_commit || (size_t)n > GATHER_MAX || !make_room_locked(f, (size_t)n);
    if (rc == SQLITE_OK && through) {
        rc = write_out_locked(f, 0);
        if (rc == SQLITE_OK) rc = f->real->pMethods->xWrite(f->real, buf, n, off);
    } else if (rc == SQLITE_OK) {
        if (!f->len) f->start = off;
        memcpy(f->data + f->len, buf, (size_t)n);
        f->len += (size_t)n;
        if (commit_page) {
            rc = write_out_locked(f, 0);
            f->after_commit = 1;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int x_truncate(sqlite3_file *p, sqlite3_int64 size) {
    wal_file *f = (wal_file *)p;
    int rc = write_out(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int x_sync(sqlite3_file *p, int flags) {
    wal_file *f = (wal_file *)p;
    int rc = write_out(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int x_file_size(sqlite3_file *p, sqlite3_int64 *size) {
    wal_file *f = (wal_file *)p;
    int rc = write_out(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int x_lock(sqlite3_file *p, int l) { wal_file *f = (wal_file *)p; return f->real->pMethods->xLock(f->real, l); }
static int x_unlock(sqlite3_file *p, int l) { wal_file *f = (wal_file *)p; return f->real->pMethods->xUnlock(f->real, l); }
static int x_check_reserved(sqlite3_file *p, int *out) {
    wal_file *f = (wal_file *)p;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int x_file_control(sqlite3_file *p, int op, void *arg) {
    wal_file *f = (wal_file *)p;
    int rc = write_out(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int x_sector_size(sqlite3_file *p) { wal_file *f = (wal_file *)p; return f->real->pMethods->xSectorSize(f->real); }
static int x_device_characteristics(sqlite3_file *p) {
    wal_file *f = (wal_file *)p;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* Shared memory belongs to the database file; its WAL's gathered frames are written out before
 * every barrier and every lock change (see the top of the file). */
static int x_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **pp) {
    wal_file *f = (wal_file *)p;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}
/* A failure to write out here is not this call's: the bytes stay gathered, and the write of
 * the connection they belong to reports it. */
static int x_shm_lock(sqlite3_file *p, int offset, int n, int flags) {
    wal_file *f = (wal_file *)p;
    write_out_wals_of(f->db_name);
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}
static void x_shm_barrier(sqlite3_file *p) {
    wal_file *f = (wal_file *)p;
    write_out_wals_of(f->db_name);
    f->real->pMethods->xShmBarrier(f->real);
}
static int x_shm_unmap(sqlite3_file *p, int del) {
    wal_file *f = (wal_file *)p;
    write_out_wals_of(f->db_name);
    return f->real->pMethods->xShmUnmap(f->real, del);
}

static int x_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp) {
    wal_file *f = (wal_file *)p;
    return f->real->pMethods->xFetch(f->real, off, n, pp);
}
static int x_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr) {
    wal_file *f = (wal_file *)p;
    return f->real->pMethods->xUnfetch(f->real, off, ptr);
}

static char *database_of(const char *name, int flags) {
    if (!name) return NULL;
    const char *db = (flags & SQLITE_OPEN_WAL) ? sqlite3_filename_database(name) : name;
    return db ? strdup(db) : NULL;
}

static int x_open(sqlite3_vfs *v, const char *name, sqlite3_file *p, int flags, int *out_flags) {
    (void)v;
    wal_file *f = (wal_file *)p;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = unix_vfs->xOpen(unix_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->base.pMethods = NULL;
        return rc;
    }
    f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    f->db_name = database_of(name, flags);
    if (f->is_wal) {
        pthread_mutex_init(&f->lock, NULL);
        pthread_mutex_lock(&list_lock);
        f->next = wal_list;
        wal_list = f;
        pthread_mutex_unlock(&list_lock);
    }
    f->base.pMethods = f->real->pMethods->iVersion >= 3 ? &methods_v3 : &methods_v1;
    return SQLITE_OK;
}

static int x_delete(sqlite3_vfs *v, const char *name, int sync) { (void)v; return unix_vfs->xDelete(unix_vfs, name, sync); }
static int x_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
    (void)v;
    return unix_vfs->xAccess(unix_vfs, name, flags, out);
}
static int x_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
    (void)v;
    return unix_vfs->xFullPathname(unix_vfs, name, n, out);
}
static void *x_dlopen(sqlite3_vfs *v, const char *name) { (void)v; return unix_vfs->xDlOpen(unix_vfs, name); }
static void x_dlerror(sqlite3_vfs *v, int n, char *out) { (void)v; unix_vfs->xDlError(unix_vfs, n, out); }
static void (*x_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) { (void)v; return unix_vfs->xDlSym(unix_vfs, h, sym); }
static void x_dlclose(sqlite3_vfs *v, void *h) { (void)v; unix_vfs->xDlClose(unix_vfs, h); }
static int x_randomness(sqlite3_vfs *v, int n, char *out) { (void)v; return unix_vfs->xRandomness(unix_vfs, n, out); }
static int x_sleep(sqlite3_vfs *v, int us) { (void)v; return unix_vfs->xSleep(unix_vfs, us); }
static int x_current_time(sqlite3_vfs *v, double *out) { (void)v; return unix_vfs->xCurrentTime(unix_vfs, out); }
static int x_get_last_error(sqlite3_vfs *v, int n, char *out) {
    (void)v;
    return unix_vfs->xGetLastError ? unix_vfs->xGetLastError(unix_vfs, n, out) : 0;
}
static int x_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out) {
    (void)v;
    return unix_vfs->xCurrentTimeInt64(unix_vfs, out);
}
static int x_set_system_call(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr fn) {
    (void)v;
    return unix_vfs->xSetSystemCall(unix_vfs, name, fn);
}
static sqlite3_syscall_ptr x_get_system_call(sqlite3_vfs *v, const char *name) {
    (void)v;
    return unix_vfs->xGetSystemCall(unix_vfs, name);
}
static const char *x_next_system_call(sqlite3_vfs *v, const char *name) {
    (void)v;
    return unix_vfs->xNextSystemCall(unix_vfs, name);
}

static const char *registered;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_vfs(void) {
    const char *off = getenv("HILBERT_WAL_COALESCE");
    if (off && strcmp(off, "0") == 0) return;
    unix_vfs = sqlite3_vfs_find("unix");
    if (!unix_vfs || unix_vfs->iVersion < 3) return;
    methods_v1 = (sqlite3_io_methods){
        .iVersion = 1, .xClose = x_close, .xRead = x_read, .xWrite = x_write, .xTruncate = x_truncate,
        .xSync = x_sync, .xFileSize = x_file_size, .xLock = x_lock, .xUnlock = x_unlock,
        .xCheckReservedLock = x_check_reserved, .xFileControl = x_file_control,
        .xSectorSize = x_sector_size, .xDeviceCharacteristics = x_device_characteristics,
    };
    methods_v3 = methods_v1;
    methods_v3.iVersion = 3;
    methods_v3.xShmMap = x_shm_map;
    methods_v3.xShmLock = x_shm_lock;
    methods_v3.xShmBarrier = x_shm_barrier;
    methods_v3.xShmUnmap = x_shm_unmap;
    methods_v3.xFetch = x_fetch;
    methods_v3.xUnfetch = x_unfetch;
    vfs = (sqlite3_vfs){
        .iVersion = 3, .szOsFile = (int)sizeof(wal_file) + unix_vfs->szOsFile, .mxPathname = unix_vfs->mxPathname,
        .zName = VFS_NAME, .xOpen = x_open, .xDelete = x_delete, .xAccess = x_access,
        .xFullPathname = x_full_pathname, .xDlOpen = x_dlopen, .xDlError = x_dlerror, .xDlSym = x_dlsym,
        .xDlClose = x_dlclose, .xRandomness = x_randomness, .xSleep = x_sleep, .xCurrentTime = x_current_time,
        .xGetLastError = x_get_last_error, .xCurrentTimeInt64 = x_current_time_int64,
        .xSetSystemCall = x_set_system_call, .xGetSystemCall = x_get_system_call,
        .xNextSystemCall = x_next_system_call,
    };
    if (sqlite3_vfs_register(&vfs, 0) == SQLITE_OK) registered = VFS_NAME;
}

const char *hl_sqlite_wal_vfs(void) {
    pthread_once(&once, register_vfs);
    return registered;
}
