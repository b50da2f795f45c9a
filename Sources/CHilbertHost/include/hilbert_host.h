/* Host-side calls of hilbert import/export (the CLI, never the engine) that Swift's Glibc
 * module does not bring: extended attributes and O_NOATIME. */
#ifndef HILBERT_HOST_H
#define HILBERT_HOST_H
#include <sys/types.h>

ssize_t hl_host_flistxattr(int fd, char *list, size_t size);
ssize_t hl_host_fgetxattr(int fd, const char *name, void *value, size_t size);
int hl_host_fsetxattr(int fd, const char *name, const void *value, size_t size);
/* O_NOATIME (a GNU flag). */
int hl_host_o_noatime(void);

#endif
