/* Reads of descriptors whose file is only partly on this node: partial read copies
 * (HL_KIND_PARTIAL: a sparse cache file holding the blocks fetched so far) and sparse staging
 * files of writers (HL_KIND_WRITE_SPARSE: the blocks of the committed version brought in so
 * far). Every call that reads such a file through the kernel must have its bytes there first:
 * read/pread/readv/preadv (and their _chk, 64 and v2 forms) of a partial copy go to the engine,
 * which fetches the blocks the range needs and reads; on a sparse staging file prepare_write
 * brings those blocks in and the kernel reads. Calls whose reads the shim cannot see (mmap;
 * sendfile, copy_file_range and splice on either end; SEEK_DATA/SEEK_HOLE; a stdio stream; a
 * descriptor kept across exec, but for a write-only appender) have the whole file brought in
 * first. Also here: the engine's part of closing a partial copy's last descriptor
 * (sh_partial_closed), and sh_prepare_write and sh_iov_length, which wrap_write.c shares. Any
 * other descriptor costs one load of sh_nrec (no virtual descriptor open) or one table lookup. */
#include "shim.h"
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

extern void __chk_fail(void) __attribute__((noreturn));

/* HL_KIND_PARTIAL or HL_KIND_WRITE_SPARSE (with *f filled) when a call on fd needs the engine
 * first; 0 otherwise. */
uint32_t sh_lazy_kind(int fd, hl_file *f) {
    if (likely(sh_nrec == 0)) return 0;
    uint32_t k = sh_fd_kind_raw(fd);
    if (likely(k != HL_KIND_PARTIAL && k != HL_KIND_WRITE_SPARSE)) return 0;
    if (sh_guard || sh_in_vfork() || !sh_fd_get(fd, f)) return 0;
    return k;
}

static inline int partial_fd(int fd, hl_file *f) { return sh_lazy_kind(fd, f) == HL_KIND_PARTIAL; }

/* Before a call on a sparse write fd (HL_PREPARE_*): 0, or -1 with errno. */
int sh_prepare_write(int fd, const hl_file *f, int op, int64_t off, int64_t len) {
    const hl_engine_api *E = sh_engine();
    if (!E || !SH_HAS(E, prepare_write)) {
        errno = EIO;
        return -1;
    }
    int rc = ECALL(E->prepare_write(fd, f, op, off, len));
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    if (rc == 1) {
        hl_file g = *f;
        g.kind = HL_KIND_WRITE;
        sh_fd_set(fd, &g);
    }
    return 0;
}

/* The bytes an iovec array asks for (read safely); -1 with errno for a bad array. */
ssize_t sh_iov_length(const struct iovec *iov, int cnt) {
    if (cnt < 0 || cnt > IOV_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t len = 0;
    for (int i = 0; i < cnt; i++) {
        struct iovec v;
        if (sh_peek(&v, iov + i, sizeof v) != sizeof v) {
            errno = EFAULT;
            return -1;
        }
        if (v.iov_len > (size_t)SSIZE_MAX - len) {
            errno = EINVAL;
            return -1;
        }
        len += v.iov_len;
    }
    return (ssize_t)len;
}

static void mark_complete(int fd, const hl_file *f) {
    hl_file g = *f;
    g.kind = HL_KIND_READ;
    sh_fd_set(fd, &g);
}

/* The engine reads; iov is the shim's own copy. */
static ssize_t engine_read(int fd, const hl_file *f, const struct iovec *iov, int cnt, off_t off) {
    const hl_engine_api *E = sh_engine();
    if (!E || !SH_HAS(E, partial_read)) {
        errno = EIO;
        return -1;
    }
    size_t len = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - len) {
            errno = EINVAL;
            return -1;
        }
        len += iov[i].iov_len;
    }
    int complete = 0;
    ssize_t r = ECALL(E->partial_read(fd, f, iov, cnt, len, (int64_t)off, &complete));
    if (complete) mark_complete(fd, f);
    return sh_ret(r);
}

static ssize_t vread1(int fd, const hl_file *f, void *buf, size_t n, off_t off) {
    struct iovec v = {buf, n};
    return engine_read(fd, f, &v, 1, off);
}

static ssize_t vreadv(int fd, const hl_file *f, const struct iovec *iov, int cnt, off_t off) {
    if (cnt < 0 || cnt > IOV_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct iovec local[cnt > 0 ? cnt : 1];
    size_t bytes = sizeof(struct iovec) * (size_t)cnt;
    if (cnt > 0 && sh_peek(local, iov, bytes) != bytes) {
        errno = EFAULT;
        return -1;
    }
    return engine_read(fd, f, local, cnt, off);
}

#define RESOLVE(type, name)                                                          \
    static type real_##name;                                                         \
    if (unlikely(!real_##name)) real_##name = (type)sh_resolve(#name, (void **)&real_##name)

EXPORT ssize_t read(int fd, void *buf, size_t n) {
    hl_file f;
    uint32_t k = sh_lazy_kind(fd, &f);
    if (likely(k == 0)) return REAL(read)(fd, buf, n);
    if (k == HL_KIND_WRITE_SPARSE) {
        if (sh_prepare_write(fd, &f, HL_PREPARE_READ, -1, (int64_t)n) < 0) return -1;
        return REAL(read)(fd, buf, n);
    }
    return vread1(fd, &f, buf, n, -1);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
    if (n > buflen) __chk_fail();
    return read(fd, buf, n);
}

static ssize_t do_pread(int fd, void *buf, size_t n, off_t off) {
    hl_file f;
    uint32_t k = sh_lazy_kind(fd, &f);
    if (likely(k == 0)) return REAL(pread64)(fd, buf, n, off);
    if (k == HL_KIND_WRITE_SPARSE) {
        if (off >= 0 && sh_prepare_write(fd, &f, HL_PREPARE_READ, off, (int64_t)n) < 0) return -1;
        return REAL(pread64)(fd, buf, n, off);
    }
    if (off < 0) {
        errno = EINVAL;
        return -1;
    }
    return vread1(fd, &f, buf, n, off);
}
EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) { return do_pread(fd, buf, n, off); }
EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) { return do_pread(fd, buf, n, off); }
EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) {
    if (n > buflen) __chk_fail();
    return do_pread(fd, buf, n, off);
}
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) {
    if (n > buflen) __chk_fail();
    return do_pread(fd, buf, n, off);
}

typedef ssize_t (*readv_fn)(int, const struct iovec *, int);
EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt) {
    hl_file f;
    uint32_t k = sh_lazy_kind(fd, &f);
    RESOLVE(readv_fn, readv);
    if (likely(k == 0)) return real_readv(fd, iov, cnt);
    if (k == HL_KIND_WRITE_SPARSE) {
        ssize_t len = sh_iov_length(iov, cnt);
        if (len < 0 || sh_prepare_write(fd, &f, HL_PREPARE_READ, -1, len) < 0) return -1;
        return real_readv(fd, iov, cnt);
    }
    return vreadv(fd, &f, iov, cnt, -1);
}

typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*preadv2_fn)(int, const struct iovec *, int, off_t, int);

static ssize_t do_preadv(preadv_fn real, int fd, const struct iovec *iov, int cnt, off_t off) {
    hl_file f;
    uint32_t k = sh_lazy_kind(fd, &f);
    if (likely(k == 0)) return real(fd, iov, cnt, off);
    if (k == HL_KIND_WRITE_SPARSE) {
        ssize_t len = sh_iov_length(iov, cnt);
        if (len < 0 || (off >= 0 && sh_prepare_write(fd, &f, HL_PREPARE_READ, off, len) < 0)) return -1;
        return real(fd, iov, cnt, off);
    }
    if (off < 0) {
        errno = EINVAL;
        return -1;
    }
    return vreadv(fd, &f, iov, cnt, off);
}
EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off) {
    RESOLVE(preadv_fn, preadv);
    return do_preadv(real_preadv, fd, iov, cnt, off);
}
EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off) {
    RESOLVE(preadv_fn, preadv64);
    return do_preadv(real_preadv64, fd, iov, cnt, off);
}

/* preadv2's flags (RWF_NOWAIT, RWF_HIPRI…) only tune a read; offset -1 is the position. */
static ssize_t do_preadv2(preadv2_fn real, int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
    hl_file f;
    uint32_t k = sh_lazy_kind(fd, &f);
    if (likely(k == 0)) return real(fd, iov, cnt, off, flags);
    if (k == HL_KIND_WRITE_SPARSE) {
        ssize_t len = sh_iov_length(iov, cnt);
        if (len < 0 || (off >= -1 && sh_prepare_write(fd, &f, HL_PREPARE_READ, off, len) < 0)) return -1;
        return real(fd, iov, cnt, off, flags);
    }
    if (off < -1) {
        errno = EINVAL;
        return -1;
    }
    return vreadv(fd, &f, iov, cnt, off);
}
EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
    RESOLVE(preadv2_fn, preadv2);
    return do_preadv2(real_preadv2, fd, iov, cnt, off, flags);
}
EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
    RESOLVE(preadv2_fn, preadv64v2);
    return do_preadv2(real_preadv64v2, fd, iov, cnt, off, flags);
}

/* ---- calls that need the whole file ---- */

/* 0, or -1 with errno when the whole file cannot be fetched (a partial read copy, or the
 * blocks of a sparse staging file). */
int sh_partial_complete(int fd) {
    hl_file f;
    uint32_t k = sh_lazy_kind(fd, &f);
    if (likely(k == 0)) return 0;
    if (k == HL_KIND_WRITE_SPARSE) return sh_prepare_write(fd, &f, HL_PREPARE_WHOLE, 0, 0);
    const hl_engine_api *E = sh_engine();
    if (!E || !SH_HAS(E, partial_complete)) {
        errno = EIO;
        return -1;
    }
    int rc = ECALL(E->partial_complete(fd, &f));
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    mark_complete(fd, &f);
    return 0;
}

/* Before exec: descriptors the new program keeps must be whole (it may not run the shim): read
 * copies fetched, sparse staging files with every block brought in. */
void sh_complete_inherited_partials(void) {
    if (likely(sh_nrec == 0) || sh_guard || sh_in_vfork()) return;
    int saved = errno;
    for (int fd = 0, max = sh_fd_max_user(); fd <= max; fd++) {
        uint32_t k = sh_fd_kind_raw(fd);
        if (k != HL_KIND_PARTIAL && k != HL_KIND_WRITE_SPARSE) continue;
        int fl = REAL(fcntl)(fd, F_GETFD);
        if (fl < 0 || (fl & FD_CLOEXEC)) continue;
        /* A write-only appender (`cmd >> file`) can only add at the end, past every block of
         * the committed version: it stays sparse (HILBERT_FDS says so to a shimmed program). */
        if (k == HL_KIND_WRITE_SPARSE && (REAL(fcntl)(fd, F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_WRONLY | O_APPEND)) continue;
        sh_partial_complete(fd);
    }
    errno = saved;
}

/* close of a partial fd: when no other descriptor of this process records the same file,
 * the engine lets its copy go. */
void sh_partial_closed(const hl_file *f) {
    for (int fd = 0, max = sh_fd_max_user(); fd <= max; fd++) {
        hl_file g;
        if (sh_fd_get(fd, &g) && g.kind == HL_KIND_PARTIAL && g.mount == f->mount && g.ino == f->ino) return;
    }
    const hl_engine_api *E = sh_engine();
    if (E && SH_HAS(E, partial_forget)) ECALL((E->partial_forget(f->mount, f->ino), 0));
}

static void *do_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
    if (unlikely(sh_nrec) && fd >= 0 && sh_partial_complete(fd) < 0) return MAP_FAILED;
    return REAL(mmap64)(a, n, prot, flags, fd, off);
}
EXPORT void *mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) { return do_mmap(a, n, prot, flags, fd, off); }
EXPORT void *mmap64(void *a, size_t n, int prot, int flags, int fd, off_t off) { return do_mmap(a, n, prot, flags, fd, off); }

static inline int whole_both(int in, int out) {
    return unlikely(sh_nrec) && (sh_partial_complete(in) < 0 || sh_partial_complete(out) < 0) ? -1 : 0;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n) {
    if (whole_both(in, out) < 0) return -1;
    return REAL(sendfile64)(out, in, off, n);
}
EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n) {
    if (whole_both(in, out) < 0) return -1;
    return REAL(sendfile64)(out, in, off, n);
}

EXPORT ssize_t copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t n, unsigned int flags) {
    if (whole_both(in, out) < 0) return -1;
    return REAL(copy_file_range)(in, inoff, out, outoff, n, flags);
}

typedef ssize_t (*splice_fn)(int, off_t *, int, off_t *, size_t, unsigned int);
EXPORT ssize_t splice(int in, off_t *inoff, int out, off_t *outoff, size_t n, unsigned int flags) {
    RESOLVE(splice_fn, splice);
    if (whole_both(in, out) < 0) return -1;
    return real_splice(in, inoff, out, outoff, n, flags);
}

/* Holes of a partial copy are blocks not fetched yet, not holes of the file. */
static off_t do_lseek(int fd, off_t off, int whence) {
    if (unlikely(sh_nrec) && (whence == SEEK_DATA || whence == SEEK_HOLE) && sh_partial_complete(fd) < 0) return -1;
    return REAL(lseek64)(fd, off, whence);
}
EXPORT off_t lseek(int fd, off_t off, int whence) { return do_lseek(fd, off, whence); }
EXPORT off_t lseek64(int fd, off_t off, int whence) { return do_lseek(fd, off, whence); }

/* stdio reads through glibc's internal read, which the shim does not see. */
typedef FILE *(*fdopen_fn)(int, const char *);
EXPORT FILE *fdopen(int fd, const char *mode) {
    RESOLVE(fdopen_fn, fdopen);
    if (unlikely(sh_nrec) && sh_partial_complete(fd) < 0) return NULL;
    return real_fdopen(fd, mode);
}
