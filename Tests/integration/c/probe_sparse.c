/* SEEK_DATA/SEEK_HOLE on a sparse file, fallocate. */
#include "probe.h"
#include <linux/falloc.h>

#define MIB (1024L * 1024)

static void seeks(const char *what, int fd) {
    char n[96];
    snprintf(n, sizeof n, "%s: SEEK_DATA 0", what);
    R(n, lseek(fd, 0, SEEK_DATA));
    snprintf(n, sizeof n, "%s: SEEK_HOLE 0", what);
    R(n, lseek(fd, 0, SEEK_HOLE));
    snprintf(n, sizeof n, "%s: SEEK_DATA 4096", what);
    R(n, lseek(fd, 4096, SEEK_DATA));
    snprintf(n, sizeof n, "%s: SEEK_HOLE 8M", what);
    R(n, lseek(fd, 8 * MIB, SEEK_HOLE));
    snprintf(n, sizeof n, "%s: SEEK_DATA at EOF", what);
    R(n, lseek(fd, 8 * MIB + 4096, SEEK_DATA));
    snprintf(n, sizeof n, "%s: SEEK_HOLE beyond EOF", what);
    R(n, lseek(fd, 9 * MIB, SEEK_HOLE));
    snprintf(n, sizeof n, "%s: SEEK_DATA negative", what);
    R(n, lseek(fd, -1, SEEK_DATA));
}

static void sizes(const char *name, const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) { R(name, -1); return; }
    probe_line(name, "size %lld allocated %s", (long long)st.st_size,
               st.st_blocks * 512 < st.st_size ? "less than size" : "at least size");
}

void probe_sparse(void) {
    char block[4096];
    memset(block, 'a', sizeof block);
    int fd = RFD("create sparse", open("sparse", O_RDWR | O_CREAT | O_TRUNC, 0644));
    R("pwrite at 0", pwrite(fd, block, sizeof block, 0));
    R("pwrite at 8M", pwrite(fd, block, sizeof block, 8 * MIB));
    seeks("writer", fd);
    probe_close(fd);
    sizes("  after close", "sparse");
    fd = RFD("reopen read-only", open("sparse", O_RDONLY));
    seeks("reader", fd);
    char c = 1;
    R("read in the hole", pread(fd, &c, 1, 4 * MIB));
    probe_line("  byte", "%d", c);
    probe_close(fd);
    fd = RFD("reopen read-write", open("sparse", O_RDWR));
    seeks("rewriter", fd);
    probe_close(fd);

    fd = RFD("create falloc", open("falloc", O_RDWR | O_CREAT | O_TRUNC, 0644));
    R("fallocate mode 0", fallocate(fd, 0, 0, MIB));
    struct stat st;
    fstat(fd, &st);
    probe_line("  fstat size", "%lld", (long long)st.st_size);
    R("fallocate KEEP_SIZE beyond EOF", fallocate(fd, FALLOC_FL_KEEP_SIZE, MIB, MIB));
    fstat(fd, &st);
    probe_line("  fstat size", "%lld", (long long)st.st_size);
    R("pwrite data", pwrite(fd, block, sizeof block, 0));
    R("pwrite data 2", pwrite(fd, block, sizeof block, 65536));
    R("fallocate PUNCH_HOLE|KEEP_SIZE", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 65536));
    R("fallocate PUNCH_HOLE alone", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096));
    R("fallocate len 0", fallocate(fd, 0, 0, 0));
    fstat(fd, &st);
    probe_line("  fstat size", "%lld", (long long)st.st_size);
    R("SEEK_DATA after punch", lseek(fd, 0, SEEK_DATA));
    R("read punched byte", pread(fd, &c, 1, 10));
    probe_line("  byte", "%d", c);
    probe_close(fd);
    sizes("  after close", "falloc");
    fd = open("falloc", O_RDONLY);
    R("reader: read punched byte", pread(fd, &c, 1, 10));
    probe_line("  byte", "%d", c);
    R("reader: read data byte", pread(fd, &c, 1, 65536));
    probe_line("  byte", "%d", c);
    R("fallocate on a read-only fd", fallocate(fd, 0, 0, 4096));
    probe_close(fd);
    mkdir("d", 0755);
    fd = open("d", O_RDONLY | O_DIRECTORY);
    R("fallocate on a dir fd", fallocate(fd, 0, 0, 4096));
    probe_close(fd);
}
