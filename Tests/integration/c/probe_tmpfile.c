/* O_TMPFILE: an anonymous file in a directory, named later with linkat. */
#include "probe.h"
#include <dirent.h>

static int entries(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void fdstat(const char *name, int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0) { R(name, -1); return; }
    probe_line(name, "%s mode %o nlink %lu size %lld", S_ISREG(st.st_mode) ? "file" : "other",
               st.st_mode & 07777, (unsigned long)st.st_nlink, (long long)st.st_size);
}

static const char *proc(int fd) {
    static char b[64];
    snprintf(b, sizeof b, "/proc/self/fd/%d", fd);
    return b;
}

void probe_tmpfile(void) {
    R("mkdir t", mkdir("t", 0755));
    R("write file", probe_write_file("file", "x"));
    int fd = RFD("O_TMPFILE|O_RDWR", open("t", O_TMPFILE | O_RDWR, 0640));
    R("  write", write(fd, "tmp data", 8));
    fdstat("  fstat", fd);
    probe_line("  entries in t", "%d", entries("t"));
    char buf[32] = "";
    R("  pread", pread(fd, buf, sizeof buf - 1, 0));
    probe_line("  read back", "%s", buf);
    R("fchmod of it", fchmod(fd, 0600));
    R("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, "t/named1", AT_EMPTY_PATH));
    fdstat("  fstat", fd);
    probe_line("  content of the name", "%s", probe_read_file("t/named1"));
    R("  write after linking", write(fd, "+more", 5));
    R("linkat AT_EMPTY_PATH again", linkat(fd, "", AT_FDCWD, "t/named1b", AT_EMPTY_PATH));
    R("linkat onto an existing name", linkat(fd, "", AT_FDCWD, "t/named1", AT_EMPTY_PATH));
    probe_close(fd);
    struct stat st;
    R("stat named1", stat("t/named1", &st));
    probe_line("  mode nlink size", "%o %lu %lld", st.st_mode & 07777, (unsigned long)st.st_nlink, (long long)st.st_size);
    probe_line("  content", "%s", probe_read_file("t/named1"));
    probe_line("  entries in t", "%d", entries("t"));

    fd = RFD("O_TMPFILE|O_WRONLY", open("t", O_TMPFILE | O_WRONLY, 0600));
    R("  write", write(fd, "second", 6));
    R("linkat /proc/self/fd AT_SYMLINK_FOLLOW", linkat(AT_FDCWD, proc(fd), AT_FDCWD, "t/named2", AT_SYMLINK_FOLLOW));
    probe_close(fd);
    probe_line("  content", "%s", probe_read_file("t/named2"));

    fd = RFD("O_TMPFILE not linked", open(".", O_TMPFILE | O_RDWR, 0600));
    R("  write", write(fd, "gone", 4));
    probe_close(fd);
    probe_line("  entries in t", "%d", entries("t"));

    fd = RFD("O_TMPFILE|O_EXCL", open("t", O_TMPFILE | O_RDWR | O_EXCL, 0600));
    R("  linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, "t/excl", AT_EMPTY_PATH));
    R("  linkat /proc/self/fd", linkat(AT_FDCWD, proc(fd), AT_FDCWD, "t/excl", AT_SYMLINK_FOLLOW));
    probe_close(fd);
    R("  no name", access("t/excl", F_OK));

    probe_close(RFD("O_TMPFILE on a file", open("file", O_TMPFILE | O_RDWR, 0600)));
    probe_close(RFD("O_TMPFILE on a missing dir", open("zz", O_TMPFILE | O_RDWR, 0600)));
    probe_close(RFD("O_TMPFILE read-only", open("t", O_TMPFILE | O_RDONLY, 0600)));
    fd = RFD("O_TMPFILE then linkat without AT_EMPTY_PATH", open("t", O_TMPFILE | O_RDWR, 0600));
    R("  linkat empty path", linkat(fd, "", AT_FDCWD, "t/nope", 0));
    probe_close(fd);
    probe_line("  entries in t", "%d", entries("t"));
}
