#define _GNU_SOURCE
#include "hilbert_host.h"
#include <fcntl.h>
#include <sys/xattr.h>

ssize_t hl_host_flistxattr(int fd, char *list, size_t size) { return flistxattr(fd, list, size); }
ssize_t hl_host_fgetxattr(int fd, const char *name, void *value, size_t size) { return fgetxattr(fd, name, value, size); }
int hl_host_fsetxattr(int fd, const char *name, const void *value, size_t size) { return fsetxattr(fd, name, value, size, 0); }
int hl_host_o_noatime(void) { return O_NOATIME; }
