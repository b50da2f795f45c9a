/* Checks of the WAL-gathering VFS (Sources/CSQLiteWAL) with real SQLite databases, for
 * t/sqlite-wal.t. `wal_stress DIR MODE`, MODE one of:
 *   spill   - transactions larger than the page cache (pages spilled to the WAL, rewritten in
 *             place, checksums rewritten at the commit) succeed and leave an intact database;
 *   kill    - a writer killed (SIGKILL) after 1,500 commits leaves exactly those 1,500;
 *   readers - two writers move amounts between rows for 4 s while three readers (one on the
 *             plain unix VFS) sum them: every sum is the same.
 * Prints one line per check, "ok - ..." or "not ok - ..."; exits 1 when one failed. */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sqlite_wal.h"

static char path[4096];
static int failed;

static void check(int ok, const char *what, const char *detail) {
    printf("%s - %s%s%s\n", ok ? "ok" : "not ok", what, detail && !ok ? ": " : "", detail && !ok ? detail : "");
    if (!ok) failed = 1;
}

static sqlite3 *open_db(const char *vfs, int create) {
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, vfs) != SQLITE_OK) {
        fprintf(stderr, "open %s: %s\n", path, db ? sqlite3_errmsg(db) : "no memory");
        exit(2);
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=30", 0, 0, 0);
    return db;
}

static void fresh(void) {
    char p[4200];
    const char *ext[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        unlink(p);
    }
}

static const char *integrity(sqlite3 *db) {
    static char out[256];
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, 0);
    snprintf(out, sizeof out, "%s", sqlite3_step(s) == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : "no answer");
    sqlite3_finalize(s);
    return out;
}

static long long one(sqlite3 *db, const char *q) {
    sqlite3_stmt *s;
    long long v = -1;
    if (sqlite3_prepare_v2(db, q, -1, &s, 0) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void spill(const char *vfs) {
    fresh();
    sqlite3 *db = open_db(vfs, 1);
    sqlite3_exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)", 0, 0, 0);
    char *err = NULL;
    int rc = sqlite3_exec(db, "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<3000) "
                              "INSERT INTO t SELECT x, randomblob(3000) FROM c; COMMIT", 0, 0, &err);
    check(rc == SQLITE_OK, "a transaction of 9 MB through a page cache of 30 pages commits", err);
    sqlite3_free(err);
    err = NULL;
    rc = sqlite3_exec(db, "BEGIN; DELETE FROM t WHERE k % 2 = 0; UPDATE t SET v = randomblob(100) WHERE k % 3 = 0; "
                          "UPDATE t SET v = randomblob(200) WHERE k % 3 = 0; COMMIT", 0, 0, &err);
    check(rc == SQLITE_OK, "a transaction that rewrites pages it wrote commits", err);
    sqlite3_free(err);
    check(one(db, "SELECT count(*) FROM t") == 1500, "the rows are all there", NULL);
    check(strcmp(integrity(db), "ok") == 0, "SQLite finds the database intact", integrity(db));
    sqlite3_close(db);
}

static void killed(const char *vfs) {
    fresh();
    pid_t pid = fork();
    if (pid == 0) {
        sqlite3 *db = open_db(vfs, 1);
        sqlite3_exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)", 0, 0, 0);
        for (int i = 1; i <= 2000; i++) {
            char q[400];
            snprintf(q, sizeof q, "BEGIN; INSERT INTO t VALUES(%d, randomblob(500)); UPDATE t SET v=randomblob(600) WHERE k=%d; %s COMMIT;",
                     i, i / 2 + 1, i % 50 == 0 ? "INSERT INTO t SELECT k+100000, v FROM t WHERE k<=200; DELETE FROM t WHERE k>100000;" : "");
            if (sqlite3_exec(db, q, 0, 0, 0) != SQLITE_OK) _exit(3);
            if (i == 1500) kill(getpid(), SIGKILL);
        }
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the writer was killed after 1,500 commits", NULL);
    sqlite3 *db = open_db(vfs, 0);
    char got[64];
    snprintf(got, sizeof got, "%lld rows, the last %lld", one(db, "SELECT count(*) FROM t"), one(db, "SELECT max(k) FROM t"));
    check(strcmp(got, "1500 rows, the last 1500") == 0, "every committed transaction is there, none other", got);
    check(strcmp(integrity(db), "ok") == 0, "SQLite finds the database intact", integrity(db));
    sqlite3_close(db);
}

static void readers(const char *vfs) {
    fresh();
    sqlite3 *db = open_db(vfs, 1);
    sqlite3_exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, n INTEGER, pad BLOB); WITH RECURSIVE c(x) AS "
                     "(SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<2000) INSERT INTO t SELECT x, 100, randomblob(300) FROM c", 0, 0, 0);
    sqlite3_close(db);
    pid_t kids[5];
    for (int w = 0; w < 5; w++) {
        if ((kids[w] = fork()) != 0) continue;
        srand((unsigned)getpid());
        sqlite3 *d = open_db(w == 4 ? NULL : vfs, 0);
        time_t end = time(0) + 4;
        long n = 0, bad = 0;
        while (time(0) < end) {
            if (w < 2) {
                char q[400];
                int a = rand() % 2000 + 1, b = rand() % 2000 + 1, m = rand() % 50;
                snprintf(q, sizeof q, "BEGIN IMMEDIATE; UPDATE t SET n=n-%d, pad=randomblob(%d) WHERE k=%d; UPDATE t SET n=n+%d WHERE k=%d; %s COMMIT;",
                         m, 200 + rand() % 200, a, m, b, rand() % 20 == 0 ? "UPDATE t SET pad=randomblob(310) WHERE k%7=0;" : "");
                if (sqlite3_exec(d, q, 0, 0, 0) != SQLITE_OK) { sqlite3_exec(d, "ROLLBACK", 0, 0, 0); continue; }
            } else if (one(d, "SELECT sum(n) * 10000 + count(*) FROM t") != 200000LL * 10000 + 2000) {
                bad++;
            }
            n++;
        }
        _exit(bad ? 1 : n > 0 ? 0 : 2);
    }
    int bad = 0;
    for (int w = 0; w < 5; w++) {
        int st = 0;
        waitpid(kids[w], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    }
    check(bad == 0, "while two writers commit, three readers (one on the unix VFS) always sum the same", NULL);
    db = open_db(vfs, 0);
    check(strcmp(integrity(db), "ok") == 0, "SQLite finds the database intact", integrity(db));
    sqlite3_close(db);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: wal_stress DIR spill|kill|readers\n"); return 2; }
    snprintf(path, sizeof path, "%s/wal-stress.db", argv[1]);
    const char *vfs = hl_sqlite_wal_vfs();
    check(vfs != NULL, "the VFS is registered", NULL);
    if (strcmp(argv[2], "spill") == 0) spill(vfs);
    else if (strcmp(argv[2], "kill") == 0) killed(vfs);
    else if (strcmp(argv[2], "readers") == 0) readers(vfs);
    else return 2;
    return failed;
}
