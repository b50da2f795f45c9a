/* utimensat: nanoseconds, UTIME_NOW, UTIME_OMIT, symlinks, invalid values. */
#include "probe.h"
#include <time.h>

static void show(const char *name, const char *path, int nofollow) {
    struct stat st;
    int rc = nofollow ? lstat(path, &st) : stat(path, &st);
    if (rc < 0) { R(name, -1); return; }
    time_t now = time(NULL);
    char a[48], m[48];
    if (st.st_atime > now - 60 && st.st_atime <= now + 1) snprintf(a, sizeof a, "now");
    else snprintf(a, sizeof a, "%ld.%09ld", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
    if (st.st_mtime > now - 60 && st.st_mtime <= now + 1) snprintf(m, sizeof m, "now");
    else snprintf(m, sizeof m, "%ld.%09ld", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    probe_line(name, "atime %s mtime %s ctime %s", a, m, st.st_ctime > now - 60 ? "now" : "old");
}

void probe_times(void) {
    R("write f", probe_write_file("f", "x"));
    R("symlink l", symlink("f", "l"));
    struct timespec t[2] = {{1000, 123456789}, {2000, 987654321}};
    R("utimensat ns", utimensat(AT_FDCWD, "f", t, 0));
    show("  times", "f", 0);
    struct timespec omit_a[2] = {{0, UTIME_OMIT}, {3000, 5}};
    R("utimensat UTIME_OMIT atime", utimensat(AT_FDCWD, "f", omit_a, 0));
    show("  times", "f", 0);
    struct timespec now_a[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    R("utimensat UTIME_NOW atime, UTIME_OMIT mtime", utimensat(AT_FDCWD, "f", now_a, 0));
    show("  times", "f", 0);
    struct timespec omit2[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    R("utimensat both UTIME_OMIT", utimensat(AT_FDCWD, "f", omit2, 0));
    R("utimensat NULL (now)", utimensat(AT_FDCWD, "f", NULL, 0));
    show("  times", "f", 0);
    struct timespec bad[2] = {{1, 1000000000}, {1, 0}};
    R("utimensat nsec 1e9", utimensat(AT_FDCWD, "f", bad, 0));
    struct timespec neg[2] = {{1, -5}, {1, 0}};
    R("utimensat nsec -5", utimensat(AT_FDCWD, "f", neg, 0));
    R("utimensat missing", utimensat(AT_FDCWD, "zz", t, 0));
    R("utimensat bad flag", utimensat(AT_FDCWD, "f", t, 0x4000000));
    struct timespec lt[2] = {{4000, 1}, {5000, 2}};
    R("utimensat AT_SYMLINK_NOFOLLOW", utimensat(AT_FDCWD, "l", lt, AT_SYMLINK_NOFOLLOW));
    show("  link times", "l", 1);
    show("  target times", "f", 0);
    int fd = open("f", O_RDONLY);
    struct timespec ft[2] = {{6000, 600}, {7000, 700}};
    R("futimens on a read fd", futimens(fd, ft));
    show("  times", "f", 0);
    probe_close(fd);
    fd = open("f", O_WRONLY | O_APPEND);
    R("write through fd", write(fd, "y", 1));
    R("futimens on a write fd", futimens(fd, ft));
    probe_close(fd);
    show("  times after close", "f", 0);
}
