/* O_PATH descriptors, reopening through /proc/self/fd/N, AT_EMPTY_PATH, statx. */
#include "probe.h"
#include <dirent.h>
#include <sys/xattr.h>

static const char *fdpath(const char *base, int fd) {
    static char b[2][64];
    static int n;
    char *s = b[n++ & 1];
    snprintf(s, sizeof b[0], "%s/%d", base, fd);
    return s;
}

static const char *type(mode_t m) {
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

static void listing(const char *name, int dirfd) {
    DIR *d = fdopendir(dirfd);
    if (!d) { R(name, -1); return; }
    char names[256] = "";
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (strlen(names) + strlen(e->d_name) < 200) strcat(strcat(names, " "), e->d_name);
    }
    closedir(d);
    probe_line(name, "%d entries%s", n, n == 1 ? names : "");
}

static void opath_file(void) {
    struct stat st, ref;
    stat("file", &ref);
    int fd = RFD("O_PATH open", open("file", O_PATH));
    R("fstat O_PATH", fstat(fd, &st));
    probe_line("  type size same-inode", "%s %lld %d", type(st.st_mode), (long long)st.st_size, st.st_ino == ref.st_ino);
    char c;
    R("read O_PATH", read(fd, &c, 1));
    R("fchmod O_PATH", fchmod(fd, 0600));
    R("fchown O_PATH", fchown(fd, 0, 0));
    R("fsync O_PATH", fsync(fd));
    R("futimens O_PATH", futimens(fd, NULL));
    R("fgetxattr O_PATH", fgetxattr(fd, "user.x", &c, 1));
    R("fstatat AT_EMPTY_PATH", fstatat(fd, "", &st, AT_EMPTY_PATH));
    probe_line("  type size", "%s %lld", type(st.st_mode), (long long)st.st_size);
    memset(&st, 0, sizeof st);
    R("fstatat NULL path AT_EMPTY_PATH", fstatat(fd, NULL, &st, AT_EMPTY_PATH));
    probe_line("  type size", "%s %lld", type(st.st_mode), (long long)st.st_size);
    struct statx sx;
    memset(&sx, 0, sizeof sx);
    R("statx NULL path AT_EMPTY_PATH", statx(fd, NULL, AT_EMPTY_PATH, STATX_SIZE, &sx));
    probe_line("  size", "%lld", (long long)sx.stx_size);
    R("fstatat empty path without AT_EMPTY_PATH", fstatat(fd, "", &st, 0));
    R("fstatat relative to a file fd", fstatat(fd, "x", &st, 0));
    R("fchownat AT_EMPTY_PATH", fchownat(fd, "", 1234, 5678, AT_EMPTY_PATH));
    stat("file", &st);
    probe_line("  owner", "%u:%u", (unsigned)st.st_uid, (unsigned)st.st_gid);
    R("fchmodat AT_EMPTY_PATH", fchmodat(fd, "", 0640, AT_EMPTY_PATH));
    R("faccessat AT_EMPTY_PATH", faccessat(fd, "", R_OK, AT_EMPTY_PATH));

    int r = RFD("reopen /proc/self/fd O_RDONLY", open(fdpath("/proc/self/fd", fd), O_RDONLY));
    probe_line("  content", "%s", probe_read_fd(r));
    fstat(r, &st);
    probe_line("  same inode", "%d", st.st_ino == ref.st_ino);
    probe_close(r);
    r = RFD("reopen /dev/fd O_WRONLY|O_APPEND", open(fdpath("/dev/fd", fd), O_WRONLY | O_APPEND));
    R("  append", write(r, "+more", 5));
    probe_close(r);
    probe_line("  file now", "%s", probe_read_file("file"));
    R("stat /proc/self/fd/N", stat(fdpath("/proc/self/fd", fd), &st));
    probe_line("  type size same-inode", "%s %lld %d", type(st.st_mode), (long long)st.st_size, st.st_ino == ref.st_ino);
    probe_close(RFD("reopen O_DIRECTORY", open(fdpath("/proc/self/fd", fd), O_RDONLY | O_DIRECTORY)));
    R("linkat AT_EMPTY_PATH of an O_PATH fd", linkat(fd, "", AT_FDCWD, "file-link", AT_EMPTY_PATH));
    probe_line("  content", "%s", probe_read_file("file-link"));
    R("linkat /proc/self/fd AT_SYMLINK_FOLLOW", linkat(AT_FDCWD, fdpath("/proc/self/fd", fd), AT_FDCWD, "file-link2", AT_SYMLINK_FOLLOW));
    stat("file", &st);
    probe_line("  nlink", "%lu", (unsigned long)st.st_nlink);
    probe_close(fd);

    fd = RFD("O_PATH|O_NOFOLLOW of a symlink", open("link", O_PATH | O_NOFOLLOW));
    R("fstatat AT_EMPTY_PATH of it", fstatat(fd, "", &st, AT_EMPTY_PATH));
    probe_line("  type", "%s", type(st.st_mode));
    char buf[64];
    ssize_t n = R("readlinkat empty path", readlinkat(fd, "", buf, sizeof buf));
    if (n >= 0) probe_line("  target", "%.*s", (int)n, buf);
    probe_close(RFD("reopen it through /proc/self/fd", open(fdpath("/proc/self/fd", fd), O_RDONLY)));
    probe_close(fd);
}

static void opath_dir(void) {
    struct stat st;
    int d = RFD("O_PATH open of a dir", open("dir", O_PATH | O_DIRECTORY));
    int f = RFD("openat through it", openat(d, "inner", O_RDONLY));
    probe_line("  content", "%s", probe_read_fd(f));
    probe_close(f);
    R("fstatat through it", fstatat(d, "inner", &st, 0));
    R("mkdirat through it", mkdirat(d, "sub", 0755));
    R("fstatat AT_EMPTY_PATH", fstatat(d, "", &st, AT_EMPTY_PATH));
    probe_line("  type", "%s", type(st.st_mode));
    R("fdopendir of an O_PATH fd", fdopendir(d) ? 0 : -1);
    int r = RFD("reopen dir through /proc/self/fd", open(fdpath("/proc/self/fd", d), O_RDONLY | O_DIRECTORY));
    if (r >= 0) listing("  listing", r);
    R("fchdir to it", fchdir(d));
    probe_line("  cwd content", "%s", probe_read_file("inner"));
    R("chdir back", chdir(probe_dir));
    probe_close(d);
}

static void statx_cases(void) {
    struct statx sx;
    int fd = open("file", O_RDONLY);
    R("statx AT_EMPTY_PATH regular fd", statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    probe_line("  type size nlink", "%s %llu %u", type(sx.stx_mode), (unsigned long long)sx.stx_size, sx.stx_nlink);
    R("statx empty path without AT_EMPTY_PATH", statx(fd, "", 0, STATX_BASIC_STATS, &sx));
    probe_close(fd);
    fd = open("file", O_WRONLY | O_APPEND);
    R("  write", write(fd, "!", 1));
    R("statx AT_EMPTY_PATH write fd", statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    probe_line("  type size", "%s %llu", type(sx.stx_mode), (unsigned long long)sx.stx_size);
    probe_close(fd);
    fd = open("dir", O_RDONLY | O_DIRECTORY);
    R("statx AT_EMPTY_PATH dir fd", statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    probe_line("  type", "%s", type(sx.stx_mode));
    R("statx relative to the dir fd", statx(fd, "inner", 0, STATX_BASIC_STATS, &sx));
    probe_line("  type size", "%s %llu", type(sx.stx_mode), (unsigned long long)sx.stx_size);
    probe_close(fd);
    R("statx AT_SYMLINK_NOFOLLOW", statx(AT_FDCWD, "link", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx));
    probe_line("  type", "%s", type(sx.stx_mode));
    R("statx missing", statx(AT_FDCWD, "zz", 0, STATX_BASIC_STATS, &sx));
}

void probe_opath(void) {
    R("write file", probe_write_file("file", "content"));
    R("symlink link", symlink("file", "link"));
    R("mkdir dir", mkdir("dir", 0755));
    R("write dir/inner", probe_write_file(P("dir/inner"), "inner"));
    opath_file();
    opath_dir();
    statx_cases();
}
