/* Test helper: `hlcheck <case> [dir]` runs one check against the shim and prints
 * "PASS <case>" or "FAIL <case>: why". dir is a virtual directory (e.g. /hilbert/t). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *name, *dir;
static int failed;
#include "check.h"

static char *P(const char *rel) {
    static char buf[8][4096];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 4096, "%s/%s", dir, rel);
    return b;
}

/* An address the kernel refuses to read or write (EFAULT). It stays reserved PROT_NONE:
 * an unmapped hole would be reused by the next mapping (loading the engine maps several),
 * and the "bad" buffer would then be some library's memory. */
static void *unmapped(void) {
    static void *p;
    if (!p) p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p;
}

static int engine_loaded(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f)) found |= strstr(line, "engine") != NULL;
    fclose(f);
    return found;
}

static void efault(void) {
    struct stat st;
    void *bad = unmapped();
    errno = 0;
    CHECK(stat(NULL, &st) < 0 && errno == EFAULT, "stat(NULL)");
    CHECK(stat(bad, &st) < 0 && errno == EFAULT, "stat(bad)");
    CHECK(open(bad, O_RDONLY) < 0 && errno == EFAULT, "open(bad)");
    CHECK(open(bad, O_CREAT | O_WRONLY, 0600) < 0 && errno == EFAULT, "open(bad, O_CREAT)");
    CHECK(mkdir(NULL, 0700) < 0 && errno == EFAULT, "mkdir(NULL)");
    CHECK(stat(P("f"), bad) < 0 && errno == EFAULT, "stat(virtual, bad buf)");
    CHECK(readlink(P("l"), bad, 100) < 0 && errno == EFAULT, "readlink(virtual, bad buf)");
    CHECK(chdir(dir) == 0, "chdir");
    CHECK(stat(bad, &st) < 0 && errno == EFAULT, "stat(bad) with virtual cwd");
    CHECK(access(NULL, F_OK) < 0 && errno == EFAULT, "access(NULL) with virtual cwd");
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(stat(big, &st) < 0 && errno == ENAMETOOLONG, "stat(long relative)");
    big[0] = '/';
    CHECK(mkdir(big, 0700) < 0 && errno == ENAMETOOLONG, "mkdir(long)");
}

/* A page the shim read paths from (creating calls on host paths read theirs, and remember the
 * page as readable), then unmapped or made unreadable by the program: a call through a pointer
 * there still gets EFAULT, as from the kernel, not a fault in the shim. Also on a virtual path
 * and with the page reused for a path elsewhere. */
static void unmapped_later(void) {
    char host[48];
    snprintf(host, sizeof host, "/tmp/hlcheck-unmapped-%d", (int)getpid());
    const char *ways[] = {"munmap", "mprotect(PROT_NONE)"};
    for (int how = 0; how < 2; how++) {
        char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(m != MAP_FAILED, "mmap");
        char *at = m + 4096 - 40; /* a path across the two pages */
        snprintf(at, 100, "%s", host);
        for (int i = 0; i < 3; i++) {
            CHECK(mkdir(at, 0700) == 0, "%s: mkdir through the page (%d)", ways[how], i);
            CHECK(rename(at, at) == 0, "%s: rename through the page (%d)", ways[how], i);
            CHECK(rmdir(at) == 0, "%s: rmdir (%d)", ways[how], i);
        }
        snprintf(m + 100, 100, "%s", P("made-in-page"));
        CHECK(mkdir(m + 100, 0700) == 0 && rmdir(m + 100) == 0, "%s: mkdir of a virtual path through the page", ways[how]);
        if (how == 0) munmap(m, 8192);
        else mprotect(m, 8192, PROT_NONE);
        errno = 0;
        CHECK(mkdir(at, 0700) < 0 && errno == EFAULT, "%s: mkdir afterwards: %s", ways[how], strerror(errno));
        errno = 0;
        CHECK(rename(at, "/tmp/x") < 0 && errno == EFAULT, "%s: rename afterwards: %s", ways[how], strerror(errno));
        errno = 0;
        CHECK(open(m + 100, O_CREAT | O_WRONLY, 0600) < 0 && errno == EFAULT, "%s: open(O_CREAT) afterwards", ways[how]);
        if (how) munmap(m, 8192);
    }
    struct stat st;
    CHECK(stat(host, &st) < 0 && errno == ENOENT, "nothing left behind");
}

static void errno_kept(void) {
    struct stat st;
    errno = 4242;
    CHECK(stat(P("f"), &st) == 0 && errno == 4242, "virtual stat changed errno");
    int fd = open(P("f"), O_RDONLY);
    CHECK(fd >= 0 && errno == 4242, "virtual open changed errno");
    close(fd);
    CHECK(errno == 4242, "close changed errno");
    CHECK(stat("/", &st) == 0 && errno == 4242, "host stat changed errno");
    CHECK(getcwd(NULL, 0) && errno == 4242, "getcwd changed errno");
}

static void no_engine(void) {
    struct stat st;
    stat("/etc/passwd", &st);
    stat("/nonexistent/x", &st);
    open("/etc/hostname", O_RDONLY);
    CHECK(!engine_loaded(), "engine loaded without touching the prefix");
    stat(P("f"), &st);
    CHECK(engine_loaded(), "engine not loaded after touching the prefix");
}

static void fdident(void) {
    struct stat a, b;
    int fd = open(P("f"), O_RDONLY);
    CHECK(fd >= 0, "open");
    CHECK(fstat(fd, &a) == 0 && stat(P("f"), &b) == 0, "fstat/stat");
    CHECK(a.st_dev == b.st_dev && a.st_ino == b.st_ino, "fstat identity differs from stat");
    int d = dup(fd), d2 = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    struct stat c;
    CHECK(fstat(d, &c) == 0 && c.st_dev == b.st_dev, "dup lost the record");
    CHECK(fstat(d2, &c) == 0 && c.st_dev == b.st_dev && d2 >= 100, "F_DUPFD lost the record");
    CHECK(fstatat(d2, "", &c, AT_EMPTY_PATH) == 0 && c.st_dev == b.st_dev, "AT_EMPTY_PATH");
    struct statx sx;
    CHECK(statx(d2, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) == 0 && sx.stx_ino == b.st_ino, "statx fd");
    close(fd);
    close(d);
    close(d2);
    CHECK(fstat(d, &c) < 0 && errno == EBADF, "closed fd");
    int w = open(P("w"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(w >= 0 && write(w, "abc", 3) == 3, "write");
    CHECK(fsync(w) == 0 && fdatasync(w) == 0, "fsync");
    int w2 = dup2(w, 50);
    CHECK(w2 == 50 && fstat(50, &c) == 0 && c.st_size == 3, "dup2 record");
    close(50);
    close(w);
}

static void dirfd_at(void) {
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    CHECK(d >= 0, "open dir");
    struct stat st;
    CHECK(fstatat(d, "f", &st, 0) == 0 && S_ISREG(st.st_mode), "fstatat(dirfd)");
    int fd = openat(d, "at-created", O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0, "openat create");
    close(fd);
    CHECK(unlinkat(d, "at-created", 0) == 0, "unlinkat");
    CHECK(mkdirat(d, "atdir", 0755) == 0 && unlinkat(d, "atdir", AT_REMOVEDIR) == 0, "mkdirat/rmdir");
    char buf[65536];
    long n = syscall(SYS_getdents64, d, buf, sizeof buf); /* raw: must see an empty placeholder */
    long m = getdents64(d, buf, sizeof buf);
    CHECK(m > n, "getdents64 through the engine (%ld vs raw %ld)", m, n);
    DIR *dd = fdopendir(d);
    int cnt = 0;
    while (readdir(dd)) cnt++;
    CHECK(cnt >= 3, "fdopendir listing %d", cnt);
    closedir(dd);
    int p = open(dir, O_PATH);
    CHECK(p >= 0 && fchdir(p) == 0, "fchdir O_PATH");
    CHECK(access("f", R_OK) == 0, "relative after fchdir");
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) && !strcmp(cwd, dir), "getcwd after fchdir: %s", cwd);
    close(p);
}

/* Relative paths from a host directory above the prefix (rsync >= 3.4 walks "/" with
 * O_PATH|O_NOFOLLOW dirfds, then fchdir): openat(fd of "/", "hilbert/..."), chdir("/") then
 * "hilbert/...", and a leading ".." from a host directory. */
static void hostdir(void) {
    char top[256], rel[4096], up[4096];
    size_t n = strcspn(dir + 1, "/");
    snprintf(top, sizeof top, "%.*s", (int)n, dir + 1); /* "hilbert" */
    snprintf(rel, sizeof rel, "%s/f", dir + 1);           /* "hilbert/t/f" */
    snprintf(up, sizeof up, "../%s", rel);                  /* "../hilbert/t/f" from /tmp */
    int root = open("/", O_RDONLY | O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(root >= 0, "open / O_PATH");
    struct stat st;
    CHECK(fstatat(root, top, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode), "fstatat(fd of /, %s)", top);
    CHECK(fstatat(root, rel, &st, 0) == 0 && S_ISREG(st.st_mode), "fstatat(fd of /, %s)", rel);
    int m = openat(root, top, O_RDONLY | O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    CHECK(m >= 0, "openat(fd of /, %s, O_PATH|O_NOFOLLOW|O_DIRECTORY)", top);
    CHECK(mkdirat(root, top, 0755) < 0 && errno == EEXIST, "mkdirat(fd of /, %s) is EEXIST, not a host dir", top);
    CHECK(m >= 0 && fchdir(m) == 0, "fchdir into it");
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) && !strcmp(cwd + 1, top), "getcwd %s", cwd);
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY);
    int f = openat(tmp, up, O_RDONLY);
    char b[8] = {0};
    CHECK(f >= 0 && read(f, b, 5) == 5 && !memcmp(b, "hello", 5), "openat(fd of /tmp, %s) reads", up);
    if (f >= 0) close(f);
    CHECK(chdir("/") == 0 && stat(rel, &st) == 0 && S_ISREG(st.st_mode), "chdir / then stat %s", rel);
    CHECK(stat("nothere/x", &st) < 0 && errno == ENOENT, "a genuine relative ENOENT stays");
    close(tmp);
    if (m >= 0) close(m);
    close(root);
}

static void cwd(void) {
    char buf[4096], small[4];
    CHECK(chdir(dir) == 0, "chdir");
    CHECK(getcwd(buf, sizeof buf) && !strcmp(buf, dir), "getcwd %s", buf);
    char *a = getcwd(NULL, 0);
    CHECK(a && !strcmp(a, dir), "getcwd(NULL,0)");
    free(a);
    errno = 0;
    CHECK(!getcwd(small, sizeof small) && errno == ERANGE, "ERANGE");
    CHECK(!getcwd(buf, 0) && errno == EINVAL, "EINVAL");
    char *g = get_current_dir_name();
    CHECK(g && !strcmp(g, dir), "get_current_dir_name");
    free(g);
    CHECK(mkdir("sub", 0755) == 0 && chdir("sub") == 0, "relative mkdir/chdir");
    CHECK(getcwd(buf, sizeof buf) && !strcmp(buf, P("sub")), "getcwd sub %s", buf);
    CHECK(chdir("..") == 0 && rmdir("sub") == 0, "chdir .. / rmdir");
    CHECK(chdir("/tmp") == 0 && getcwd(buf, sizeof buf) && !strcmp(buf, "/tmp"), "back to host");
}

static int nftw_count;
static int nftw_cb(const char *p, const struct stat *st, int t, struct FTW *f) {
    (void)p, (void)st, (void)t, (void)f;
    nftw_count++;
    return 0;
}

static void walks(void) {
    glob_t g;
    char pat[4096];
    snprintf(pat, sizeof pat, "%s/*", dir);
    CHECK(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc >= 2, "glob %s", pat);
    globfree(&g);
    nftw_count = 0;
    CHECK(nftw(dir, nftw_cb, 8, FTW_PHYS) == 0 && nftw_count >= 3, "nftw %d", nftw_count);
    char *roots[] = {(char *)dir, NULL};
    FTS *f = fts_open(roots, FTS_PHYSICAL, NULL);
    int n = 0, dp = 0;
    FTSENT *e;
    while (f && (e = fts_read(f))) { n++; dp += e->fts_info == FTS_DP; }
    CHECK(f && n >= 4 && dp == 1, "fts n=%d dp=%d", n, dp);
    fts_close(f);
    struct dirent **list;
    int k = scandir(dir, &list, NULL, alphasort);
    CHECK(k >= 4 && !strcmp(list[0]->d_name, "."), "scandir %d", k);
    DIR *d = opendir(dir);
    long pos = 0;
    struct dirent *de;
    int i = 0;
    char second[256] = "";
    while ((de = readdir(d))) {
        if (i == 1) pos = telldir(d);
        if (i == 2) strcpy(second, de->d_name);
        i++;
    }
    seekdir(d, pos);
    de = readdir(d);
    CHECK(de && !strcmp(de->d_name, second), "seekdir/telldir");
    rewinddir(d);
    de = readdir(d);
    CHECK(de && !strcmp(de->d_name, "."), "rewinddir");
    CHECK(dirfd(d) >= 0, "dirfd");
    closedir(d);
}

static void misc(void) {
    struct statfs sf;
    struct statvfs sv;
    CHECK(statfs(dir, &sf) == 0 && sf.f_type == 0x484c4254, "statfs f_type %lx", (long)sf.f_type);
    CHECK(statvfs(dir, &sv) == 0 && sv.f_bsize > 0, "statvfs");
    char t[4096];
    snprintf(t, sizeof t, "%s/tmpXXXXXX", dir);
    int fd = mkstemp(t);
    CHECK(fd >= 0 && strncmp(t, dir, strlen(dir)) == 0 && !strstr(t, "XXXXXX"), "mkstemp %s", t);
    CHECK(access(t, F_OK) == 0 && unlink(t) == 0, "mkstemp file exists");
    close(fd);
    snprintf(t, sizeof t, "%s/dXXXXXX", dir);
    CHECK(mkdtemp(t) && rmdir(t) == 0, "mkdtemp");
    FILE *f = fopen(P("fo"), "w+e");
    CHECK(f && fputs("line\n", f) >= 0 && fclose(f) == 0, "fopen w+e");
    f = fopen(P("fo"), "r");
    char line[64] = "";
    CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "line\n"), "fopen r");
    fclose(f);
    CHECK(!fopen(P("fo"), "wx") && errno == EEXIST, "fopen wx");
    char rp[4096];
    CHECK(realpath(P("./sub/../f"), rp) == NULL || 1, "realpath");
    CHECK(realpath(P("l"), rp) && !strcmp(rp, P("f")), "realpath symlink %s", rp);
    char *c = canonicalize_file_name(dir);
    CHECK(c && !strcmp(c, dir), "canonicalize_file_name");
    free(c);
    CHECK(truncate(P("fo"), 2) == 0, "truncate");
    struct stat st;
    CHECK(stat(P("fo"), &st) == 0 && st.st_size == 2, "truncate size");
    CHECK(chmod(P("fo"), 0600) == 0 && stat(P("fo"), &st) == 0 && (st.st_mode & 0777) == 0600, "chmod");
    CHECK(utimes(P("fo"), NULL) == 0, "utimes");
    CHECK(rename(P("fo"), P("fo2")) == 0 && access(P("fo2"), F_OK) == 0, "rename");
    CHECK(rename(P("fo2"), "/tmp/hl-xdev") < 0 && errno == EXDEV, "rename across → EXDEV");
    CHECK(remove(P("fo2")) == 0, "remove");
    CHECK(mkfifo(P("fifo"), 0600) == 0 && stat(P("fifo"), &st) == 0 && S_ISFIFO(st.st_mode), "mkfifo");
    unlink(P("fifo"));
    CHECK(pathconf(dir, _PC_NAME_MAX) > 0, "pathconf");
    void *h = dlopen(P("lib.so"), RTLD_NOW);
    CHECK(h != NULL, "dlopen virtual: %s", dlerror());
}

static void private_fd(void) {
    struct stat st;
    stat(P("f"), &st); /* loads the engine, which opens a private fd */
    int pfd = -1; /* the test engine keeps its shadow directory open at fd >= 500 */
    for (int fd = 3; fd < 1024; fd++) {
        char l[64], t[4096];
        snprintf(l, sizeof l, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(l, t, sizeof t - 1);
        if (n > 7) { t[n] = 0; if (!strcmp(t + n - 7, ".shadow")) pfd = fd; }
    }
    CHECK(pfd >= 0, "no private fd found");
    CHECK(close(pfd) < 0 && errno == EBADF, "close(private) must fail EBADF");
    char l[64], t[4096];
    snprintf(l, sizeof l, "/proc/self/fd/%d", pfd);
    CHECK(readlink(l, t, sizeof t) > 0, "private fd was closed");
    CHECK(fcntl(pfd, F_GETFD) < 0 && errno == EBADF, "fcntl(private) must fail EBADF");
    CHECK(dup2(0, pfd) < 0 && errno == EBADF, "dup2 onto private must fail EBADF");
    closefrom(3);
    CHECK(readlink(l, t, sizeof t) > 0, "closefrom closed the private fd");
    CHECK(stat(P("f"), &st) == 0, "engine works after closefrom");
}

static void forks(void) {
    struct stat st;
    CHECK(stat(P("f"), &st) == 0, "stat");
    pid_t p = vfork();
    if (p == 0) {
        char *argv[] = {"test", "-s", P("f"), NULL};
        execv("/usr/bin/test", argv);
        _exit(127);
    }
    int status;
    waitpid(p, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "vfork+exec test");
    p = fork();
    if (p == 0) _exit(stat(P("f"), &st) == 0 ? 0 : 1);
    waitpid(p, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child stat");
    CHECK(chdir(dir) == 0, "chdir");
    FILE *f = popen("cat f", "r");
    char buf[64] = "";
    CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "hello\n"), "popen output '%s'", buf);
    CHECK(pclose(f) == 0, "pclose status");
    CHECK(system("exit 3") == 3 << 8, "system status");
}

static int clone_child(void *arg) {
    close(*(int *)arg);   /* the child's own descriptor; the parent's record must survive */
    _exit(0);
}

/* A child made by clone(CLONE_VM) shares our memory: its close() must not drop the parent's
 * record of the descriptor. */
static void clone_vm(void) {
    struct stat a, b;
    int fd = open(P("f"), O_RDONLY);
    CHECK(fd >= 0 && stat(P("f"), &a) == 0, "open/stat");
    static char stack[64 * 1024];
    pid_t p = clone(clone_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &fd);
    CHECK(p > 0, "clone");
    int status;
    CHECK(waitpid(p, &status, 0) == p && WIFEXITED(status) && WEXITSTATUS(status) == 0, "clone child");
    CHECK(fstat(fd, &b) == 0 && b.st_ino == a.st_ino && b.st_dev == a.st_dev, "record lost by the child's close");
    char buf[16] = "";
    CHECK(pread(fd, buf, sizeof buf - 1, 0) == 6 && !strcmp(buf, "hello\n"), "still readable");
    close(fd);
}

static volatile int churn_stop;
static void *churn(void *arg) {
    int fd = *(int *)arg;
    while (!churn_stop) {            /* dup and close: the fd table's lock taken all the time */
        int d = dup(fd);
        if (d >= 0) close(d);
    }
    return NULL;
}

/* fork() while another thread keeps updating the shim's tables: every child can still open
 * a virtual file (a lock inherited in the held state would make it spin forever). */
static void fork_locks(void) {
    int fd = open(P("f"), O_RDONLY);
    CHECK(fd >= 0, "open");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn, &fd) == 0, "thread");
    int hung = 0;
    for (int k = 0; k < 300 && !hung; k++) {
        pid_t p = fork();
        if (p == 0) {
            alarm(5);
            int c = open(P("f"), O_RDONLY);
            _exit(c >= 0 && close(c) == 0 ? 0 : 1);
        }
        int status;
        CHECK(waitpid(p, &status, 0) == p, "waitpid");
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) hung = 1;
        else CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", k, status);
    }
    churn_stop = 1;
    pthread_join(t, NULL);
    CHECK(!hung, "a child hung on a lock held by another thread at fork time");
    close(fd);
}

int main(int argc, char **argv) {
    name = argv[1];
    dir = argc > 2 ? argv[2] : "/hilbert";
    struct { const char *n; void (*f)(void); } cases[] = {
        {"efault", efault}, {"unmapped-later", unmapped_later}, {"errno", errno_kept}, {"no-engine", no_engine}, {"fdident", fdident},
        {"dirfd", dirfd_at}, {"hostdir", hostdir}, {"cwd", cwd}, {"walks", walks}, {"misc", misc},
        {"private-fd", private_fd}, {"forks", forks}, {"clone-vm", clone_vm}, {"fork-locks", fork_locks},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].n, name)) continue;
        cases[i].f();
        if (!failed) printf("PASS %s\n", name);
        return failed;
    }
    printf("FAIL %s: unknown case\n", name);
    return 2;
}
