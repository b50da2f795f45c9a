/* Naming an anonymous (O_TMPFILE) file. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "hilbert_sys.h"

/* linkat of /proc/self/fd/N with AT_SYMLINK_FOLLOW: the way an unprivileged process may give
 * an O_TMPFILE file a name (linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH). A raw
 * system call: the engine never calls an interposed libc function. 0 or -errno. */
int hl_sys_name_fd(int fd, const char *path) {
    char proc[40];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    long rc = syscall(SYS_linkat, AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
    return rc < 0 ? -errno : 0;
}
