#ifndef HILBERT_SQLITE_WAL_H
#define HILBERT_SQLITE_WAL_H

/* The name of a VFS over SQLite's "unix" one that writes each transaction's WAL frames in one
 * system call (wal_coalesce.c). Registered on the first call; NULL when it cannot be. */
const char *hl_sqlite_wal_vfs(void);

#endif
