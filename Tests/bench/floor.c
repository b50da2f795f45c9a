/* floor: what the file system's contract costs at the least on this machine, with no engine,
 * no shim and no Python: the bare operations that a create and a namespace write must make.
 *
 *   floor DIR FILES [PROCS]
 *
 * A create whose close returns only when its metadata is committed and which every process
 * sees at once (SEMANTICS.md) makes, at the least, one SQLite write transaction, and a
 * staging file that keeps its bytes when the process is killed. Here those are made bare:
 *   - native: open(O_CREAT), write 4 KiB, close: the native create the targets compare with;
 *   - staging: the same, then a rename (the staging file becomes the read copy);
 *   - transaction: BEGIN IMMEDIATE, insert the node and the entry (Hilbert's tables and
 *     indexes), touch the parent, bump two counters, insert a block reference, COMMIT, in WAL
 *     mode with synchronous=NORMAL, statements prepared once;
 *   - create: staging and transaction, per file;
 *   - chmod: native chmod(2) of one file, and an UPDATE of one node row in its own
 *     transaction (what a namespace write must do at the least);
 *   - with PROCS > 1, creates-xPROCS: PROCS processes making FILES creates each at once, on the
 *     same database, in all per second. The write lock passes as fast as it can: a process
 *     that finds it taken yields the CPU and tries again (SQLite's own handler sleeps).
 * Prints one line per measure: "name rate-per-second microseconds-each". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static sqlite3 *db;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void sql_check(int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "floor: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void sys_check(long r, const char *what, const char *path) {
    if (r < 0) {
        fprintf(stderr, "floor: %s %s: %s\n", what, path, strerror(errno));
        exit(1);
    }
}

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *s;
    sql_check(sqlite3_prepare_v2(db, sql, -1, &s, NULL), sql);
    return s;
}

static void step(sqlite3_stmt *s, const char *what) {
    sql_check(sqlite3_step(s), what);
    sqlite3_reset(s);
}

static const char schema[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "CREATE TABLE hl_node(ino INTEGER PRIMARY KEY, mode INTEGER NOT NULL, nlink INTEGER NOT NULL,"
    " uid INTEGER NOT NULL, gid INTEGER NOT NULL, rdev INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0,"
    " atime_s INTEGER NOT NULL, atime_ns INTEGER NOT NULL, mtime_s INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " ctime_s INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, btime_s INTEGER NOT NULL, btime_ns INTEGER NOT NULL,"
    " parent INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0, staged INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE hl_edge(id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name BLOB NOT NULL,"
    " ino INTEGER NOT NULL, type INTEGER NOT NULL, UNIQUE(parent, name));"
    "CREATE INDEX hl_edge_list ON hl_edge(parent, id); CREATE INDEX hl_edge_ino ON hl_edge(ino);"
    "CREATE TABLE hl_block(ino INTEGER NOT NULL, indx INTEGER NOT NULL, object_id INTEGER NOT NULL,"
    " raw_len INTEGER NOT NULL, stored_len INTEGER NOT NULL, crc INTEGER NOT NULL, obj_off INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(ino, indx)) WITHOUT ROWID;"
    "CREATE TABLE hl_counter(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO hl_counter VALUES('inodes', 0), ('used_bytes', 0);"
    "INSERT INTO hl_node VALUES(1, 16877, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);";

static char data[4096];

static void native_create(const char *dir, long i, int rename_it) {
    char s[4200], r[4200];
    snprintf(s, sizeof s, "%s/s%ld", dir, i);
    int fd = open(s, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    sys_check(fd, "open", s);
    sys_check(write(fd, data, sizeof data) == (ssize_t)sizeof data ? 0 : -1, "write", s);
    sys_check(close(fd), "close", s);
    if (rename_it) {
        snprintf(r, sizeof r, "%s/r%ld", dir, i);
        sys_check(rename(s, r), "rename", s);
    }
}

static sqlite3_stmt *s_begin, *s_commit, *s_node, *s_edge, *s_parent, *s_counter, *s_block, *s_chmod;

static void create_transaction(long ino, long i) {
    char name[32];
    int len = snprintf(name, sizeof name, "f%07ld", i);
    step(s_begin, "BEGIN");
    sqlite3_bind_int64(s_node, 1, ino);
    step(s_node, "insert node");
    sqlite3_bind_int64(s_edge, 1, 2 + i / 100);
    sqlite3_bind_blob(s_edge, 2, name, len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s_edge, 3, ino);
    step(s_edge, "insert entry");
    sqlite3_bind_int64(s_parent, 1, i);
    step(s_parent, "touch parent");
    sqlite3_bind_text(s_counter, 1, "inodes", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s_counter, 2, 1);
    step(s_counter, "counter");
    sqlite3_bind_text(s_counter, 1, "used_bytes", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s_counter, 2, 4096);
    step(s_counter, "counter");
    sqlite3_bind_int64(s_block, 1, ino);
    sqlite3_bind_int64(s_block, 2, i * 1200);
    step(s_block, "insert block");
    step(s_commit, "COMMIT");
}

static int yield_and_retry(void *arg, int tries) {
    (void)arg;
    (void)tries;
    sched_yield();
    return 1;
}

/* Statements of this process's own connection (after a fork, a child opens its own). */
static void open_database(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.db", dir);
    sql_check(sqlite3_open(path, &db), "open");
    sqlite3_busy_handler(db, yield_and_retry, NULL);
    sql_check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL), "pragmas");
}

static void prepare_statements(void) {
    s_begin = prepare("BEGIN IMMEDIATE");
    s_commit = prepare("COMMIT");
    s_node = prepare("INSERT INTO hl_node VALUES(?1, 33188, 1, 1000, 1000, 0, 4096, 1, 2, 1, 2, 1, 2, 1, 2, 0, 1, 0)");
    s_edge = prepare("INSERT INTO hl_edge(parent, name, ino, type) VALUES(?1, ?2, ?3, 8)");
    s_parent = prepare("UPDATE hl_node SET mtime_s = ?1, ctime_s = ?1 WHERE ino = 1");
    s_counter = prepare("UPDATE hl_counter SET value = value + ?2 WHERE name = ?1");
    s_block = prepare("INSERT INTO hl_block VALUES(?1, 0, 7, 4096, 1200, 12345, ?2)");
    s_chmod = prepare("UPDATE hl_node SET mode = ?2, ctime_s = ?3 WHERE ino = ?1");
}

static void report(const char *what, long n, double seconds) {
    printf("%s %.0f %.2f\n", what, (double)n / seconds, seconds / (double)n * 1e6);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: floor DIR FILES [PROCS]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = atol(argv[2]);
    long procs = argc == 4 ? atol(argv[3]) : 1;
    memset(data, 'x', sizeof data);
    char path[4200];
    open_database(dir);
    sql_check(sqlite3_exec(db, schema, NULL, NULL, NULL), "schema");
    prepare_statements();

    double t = now();
    for (long i = 0; i < n; i++) native_create(dir, i, 0);
    report("native", n, now() - t);
    t = now();
    for (long i = 0; i < n; i++) native_create(dir, n + i, 1);
    report("staging", n, now() - t);
    t = now();
    for (long i = 0; i < n; i++) create_transaction(1000 + i, i);
    report("transaction", n, now() - t);
    t = now();
    for (long i = 0; i < n; i++) {
        native_create(dir, 2 * n + i, 1);
        create_transaction(1000 + n + i, n + i);
    }
    report("create", n, now() - t);

    snprintf(path, sizeof path, "%s/s0", dir);
    long calls = 4 * n;
    t = now();
    for (long i = 0; i < calls; i++) sys_check(chmod(path, (i & 1) ? 0600 : 0644), "chmod", path);
    report("chmod-native", calls, now() - t);
    t = now();
    for (long i = 0; i < calls; i++) {
        step(s_begin, "BEGIN");
        sqlite3_bind_int64(s_chmod, 1, 1000 + (i * 7919) % (2 * n));
        sqlite3_bind_int64(s_chmod, 2, (i & 1) ? 0100600 : 0100644);
        sqlite3_bind_int64(s_chmod, 3, i);
        step(s_chmod, "chmod row");
        step(s_commit, "COMMIT");
    }
    report("chmod-transaction", calls, now() - t);
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, NULL)) sqlite3_finalize(s);
    sqlite3_close(db);
    if (procs <= 1) return 0;

    t = now();
    for (long p = 0; p < procs; p++) {
        pid_t pid = fork();
        sys_check(pid, "fork", dir);
        if (pid == 0) {
            open_database(dir);
            prepare_statements();
            long first = 3 * n + p * n;
            for (long i = 0; i < n; i++) {
                native_create(dir, first + i, 1);
                create_transaction(1000 + first + i, first + i);
            }
            _exit(0);
        }
    }
    int failed = 0;
    for (long p = 0; p < procs; p++) {
        int status;
        sys_check(wait(&status), "wait", dir);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
    }
    if (failed) {
        fprintf(stderr, "floor: a creating process failed\n");
        return 1;
    }
    char name[64];
    snprintf(name, sizeof name, "creates-x%ld", procs);
    report(name, procs * n, now() - t);
    return 0;
}
