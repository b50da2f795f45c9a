/* Test helper: `hlsymver <case> <vdir> <hostdir>` calls the OLD symbol versions of glibc's
 * multi-version path functions (bound with .symver, as a binary linked against an old glibc
 * would be) and the default ones, under the shim. <hostdir> is the backing directory of the
 * virtual <vdir>: the same files seen from the host. Host paths must behave exactly as libc's
 * own function of the same version (fetched from libc.so.6 with dlvsym); virtual paths must be
 * routed (/hilbert does not exist on the host) and keep the old version's semantics.
 * Prints "PASS <case>" or "FAIL <case> ...". Files: f, dang (dangling symlink), sub/g,
 * nosh (executable "exit 7" without #!), lib.so (a shared library). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*nftw_cb)(const char *, const struct stat *, int, struct FTW *);
typedef int (*glob_errf)(const char *, int);
char *realpath_old(const char *, char *);
int glob_old(const char *, int, glob_errf, glob_t *);
int glob64_old(const char *, int, glob_errf, glob64_t *);
int nftw_old(const char *, nftw_cb, int, int);
int nftw64_old(const char *, nftw_cb, int, int);
int posix_spawn_old(pid_t *, const char *, const posix_spawn_file_actions_t *,
                    const posix_spawnattr_t *, char *const[], char *const[]);
int posix_spawnp_old(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);
void *dlopen_old(const char *, int);
void *dlmopen_old(Lmid_t, const char *, int);
__asm__(".symver realpath_old,realpath@GLIBC_2.2.5");
__asm__(".symver glob_old,glob@GLIBC_2.2.5");
__asm__(".symver glob64_old,glob64@GLIBC_2.2.5");
__asm__(".symver nftw_old,nftw@GLIBC_2.2.5");
__asm__(".symver nftw64_old,nftw64@GLIBC_2.2.5");
__asm__(".symver posix_spawn_old,posix_spawn@GLIBC_2.2.5");
__asm__(".symver posix_spawnp_old,posix_spawnp@GLIBC_2.2.5");
__asm__(".symver dlopen_old,dlopen@GLIBC_2.2.5");
__asm__(".symver dlmopen_old,dlmopen@GLIBC_2.3.4");

extern char **environ;
static const char *name, *vdir, *hdir;
static int failed;
#include "check.h"

static char *V(const char *rel) {
    static char b[4][4096];
    static int i;
    char *p = b[i++ % 4];
    snprintf(p, 4096, "%s/%s", vdir, rel);
    return p;
}
static char *H(const char *rel) {
    static char b[4][4096];
    static int i;
    char *p = b[i++ % 4];
    snprintf(p, 4096, "%s/%s", hdir, rel);
    return p;
}

/* libc's own function of that version, past the shim. */
static void *libc_fn(const char *fn, const char *ver) {
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *f = h ? dlvsym(h, fn, ver) : NULL;
    if (!f) { printf("FAIL %s: no %s@%s in libc\n", name, fn, ver); exit(1); }
    return f;
}

static void realpath_case(void) {
    char *(*libc_old)(const char *, char *) = libc_fn("realpath", "GLIBC_2.2.5");
    char a[4096], b[4096];
    errno = 0;
    char *r = realpath_old(H("f"), NULL);
    int e = errno;
    errno = 0;
    char *l = libc_old(H("f"), NULL);
    CHECK(!r && !l && e == EINVAL && errno == EINVAL, "host, NULL buffer: EINVAL as libc's old realpath");
    r = realpath_old(H("sub/../f"), a);
    l = libc_old(H("sub/../f"), b);
    CHECK(r && l && !strcmp(a, b), "host: as libc's old realpath");
    errno = 0;
    CHECK(!realpath_old(V("f"), NULL) && errno == EINVAL, "virtual, NULL buffer: EINVAL");
    r = realpath_old(V("sub/../f"), a);
    CHECK(r == a && !strcmp(a, V("f")), "virtual: %s", r ? r : "NULL");
    r = realpath(V("sub/../f"), NULL);
    CHECK(r && !strcmp(r, V("f")), "virtual, default version allocates: %s", r ? r : "NULL");
    free(r);
}

static int nl, ns;
static int count_lstat(const char *p, struct stat *st) { nl++; return lstat(p, st); }
static int count_stat(const char *p, struct stat *st) { ns++; return stat(p, st); }
static void hooks(glob_t *g) {
    memset(g, 0, sizeof *g);
    g->gl_opendir = (void *(*)(const char *))opendir;
    g->gl_readdir = (struct dirent * (*)(void *)) readdir;
    g->gl_closedir = (void (*)(void *))closedir;
    g->gl_lstat = (int (*)(const char *, struct stat *))count_lstat;
    g->gl_stat = (int (*)(const char *, struct stat *))count_stat;
}
typedef int (*glob_fn)(const char *, int, glob_errf, glob_t *);
/* rc, number of matches, lstat hook calls: "rc/n/lstats" */
static char *glob_run(glob_fn fn, const char *pat, int alt) {
    static char out[4][64];
    static int i;
    char *o = out[i++ % 4];
    glob_t g;
    memset(&g, 0, sizeof g);
    if (alt) hooks(&g);
    nl = ns = 0;
    int rc = fn(pat, alt ? GLOB_ALTDIRFUNC : 0, NULL, &g);
    snprintf(o, 64, "%d/%zu/%d", rc, rc ? 0 : g.gl_pathc, nl);
    if (!rc) globfree(&g);
    return o;
}
static void glob_case(void) {
    glob_fn libc_old = libc_fn("glob", "GLIBC_2.2.5"), libc_new = libc_fn("glob", "GLIBC_2.27");
    /* The caller's own hooks: the old version must never call gl_lstat, host or virtual. */
    char want_old[64], want_new[64];
    snprintf(want_old, sizeof want_old, "%s", glob_run(libc_old, H("dang"), 1));
    snprintf(want_new, sizeof want_new, "%s", glob_run(libc_new, H("dang"), 1));
    CHECK(!strcmp(want_old, "3/0/0") && !strcmp(want_new, "0/1/1"), "libc itself: %s %s", want_old, want_new);
    const char *got = glob_run(glob_old, H("dang"), 1);
    CHECK(!strcmp(got, want_old), "host, hooks, old: %s want %s", got, want_old);
    got = glob_run(glob, H("dang"), 1);
    CHECK(!strcmp(got, want_new), "host, hooks, default: %s want %s", got, want_new);
    got = glob_run(glob_old, V("dang"), 1);
    CHECK(!strcmp(got, want_old), "virtual, hooks, old: %s want %s", got, want_old);
    got = glob_run(glob, V("dang"), 1);
    CHECK(!strcmp(got, want_new), "virtual, hooks, default: %s want %s", got, want_new);
    /* No hooks: the shim's own; results as libc's old glob gives on the host. */
    const char *pats[] = {"dang", "*", "s*/g", "nothing*"};
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
        char want[64];
        snprintf(want, sizeof want, "%s", glob_run(libc_old, H(pats[k]), 0));
        got = glob_run(glob_old, H(pats[k]), 0);
        CHECK(!strcmp(got, want), "host old %s: %s want %s", pats[k], got, want);
        got = glob_run(glob_old, V(pats[k]), 0);
        CHECK(!strcmp(got, want), "virtual old %s: %s want %s", pats[k], got, want);
        got = glob_run((glob_fn)glob64_old, V(pats[k]), 0);
        CHECK(!strcmp(got, want), "virtual old glob64 %s: %s want %s", pats[k], got, want);
    }
    glob_t g;
    CHECK(glob_old(V("s*/g"), 0, NULL, &g) == 0 && g.gl_pathc == 1 && !strcmp(g.gl_pathv[0], V("sub/g")),
          "virtual old names the virtual path");
}

static int calls;
static int skip_dirs(const char *p, const struct stat *st, int type, struct FTW *f) {
    (void)p, (void)st, (void)f;
    calls++;
    return type == FTW_D ? FTW_SKIP_SUBTREE : 0;
}
typedef int (*nftw_fn)(const char *, nftw_cb, int, int);
static char *nftw_run(nftw_fn fn, const char *root, int flags) {
    static char out[4][64];
    static int i;
    char *o = out[i++ % 4];
    calls = 0;
    errno = 0;
    int rc = fn(root, skip_dirs, 8, flags);
    snprintf(o, 64, "%d/%d/%d", rc, calls, rc < 0 ? errno : 0);
    return o;
}
static void nftw_case(void) {
    nftw_fn libc_old = libc_fn("nftw", "GLIBC_2.2.5"), libc_new = libc_fn("nftw", "GLIBC_2.3.3");
    /* old: FTW_ACTIONRETVAL is dropped, so the root's FTW_SKIP_SUBTREE (2) ends the walk with 2;
     * an unknown flag is ignored. new: the subtree is skipped (0); unknown flag: EINVAL. */
    int flags[] = {FTW_ACTIONRETVAL, FTW_ACTIONRETVAL | FTW_PHYS, 0x4000};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        char wo[64], wn[64];
        snprintf(wo, sizeof wo, "%s", nftw_run(libc_old, H(""), flags[k]));
        snprintf(wn, sizeof wn, "%s", nftw_run(libc_new, H(""), flags[k]));
        const char *got = nftw_run(nftw_old, H(""), flags[k]);
        CHECK(!strcmp(got, wo), "host old flags %#x: %s want %s", flags[k], got, wo);
        got = nftw_run(nftw_old, V(""), flags[k]);
        CHECK(!strcmp(got, wo), "virtual old flags %#x: %s want %s", flags[k], got, wo);
        got = nftw_run(nftw64_old, V(""), flags[k]);
        CHECK(!strcmp(got, wo), "virtual old nftw64 flags %#x: %s want %s", flags[k], got, wo);
        got = nftw_run((nftw_fn)nftw, V(""), flags[k]);
        CHECK(!strcmp(got, wn), "virtual default flags %#x: %s want %s", flags[k], got, wn);
        CHECK(strcmp(wo, wn), "old and new differ for flags %#x", flags[k]);
    }
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);
/* "rc/exit status" of spawning `path` (a file the kernel refuses: ENOEXEC). */
static char *spawn_run(spawn_fn fn, const char *path) {
    static char out[4][64];
    static int i;
    char *o = out[i++ % 4];
    pid_t pid;
    char *argv[] = {(char *)"nosh", NULL};
    int rc = fn(&pid, path, NULL, NULL, argv, environ), st = -1;
    if (rc == 0) waitpid(pid, &st, 0);
    snprintf(o, 64, "%d/%d", rc, rc == 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return o;
}
static void spawn_case(void) {
    spawn_fn libc_old = libc_fn("posix_spawn", "GLIBC_2.2.5"), libc_new = libc_fn("posix_spawn", "GLIBC_2.15");
    spawn_fn libcp_old = libc_fn("posix_spawnp", "GLIBC_2.2.5");
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* the children's shell complaints (libc's own spawnp case below) */
    char want_old[64], want_new[64], enoexec[64];
    snprintf(want_old, sizeof want_old, "%s", spawn_run(libc_old, H("nosh")));
    snprintf(want_new, sizeof want_new, "%s", spawn_run(libc_new, H("nosh")));
    snprintf(enoexec, sizeof enoexec, "%d/-1", ENOEXEC);
    CHECK(!strcmp(want_old, "0/7") && !strcmp(want_new, enoexec), "libc itself: %s %s", want_old, want_new);
    const char *got = spawn_run(posix_spawn_old, H("nosh"));
    CHECK(!strcmp(got, want_old), "host old: %s want %s", got, want_old);
    got = spawn_run(posix_spawn_old, V("nosh"));
    CHECK(!strcmp(got, want_old), "virtual old: %s want %s", got, want_old);
    got = spawn_run((spawn_fn)posix_spawn, V("nosh"));
    CHECK(!strcmp(got, want_new), "virtual default: %s want %s", got, want_new);
    setenv("PATH", hdir, 1);
    char want_p[64];
    snprintf(want_p, sizeof want_p, "%s", spawn_run(libcp_old, "nosh"));
    got = spawn_run(posix_spawnp_old, "nosh");
    CHECK(!strcmp(got, want_p), "host PATH old spawnp: %s want %s", got, want_p);
    /* libc's old posix_spawnp hands the bare name to /bin/sh (which finds it only in the cwd:
     * "0/2" above); the shim's PATH search over a virtual entry passes the full path, so the
     * shell fallback does run the file. */
    setenv("PATH", vdir, 1);
    got = spawn_run(posix_spawnp_old, "nosh");
    CHECK(!strcmp(got, want_old), "virtual PATH old spawnp: %s want %s", got, want_old);
    got = spawn_run((spawn_fn)posix_spawnp, "nosh");
    CHECK(!strcmp(got, want_new), "virtual PATH default spawnp: %s want %s", got, want_new);
}

static void dlopen_case(void) {
    void *h = dlopen_old(H("lib.so"), RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "host old dlopen: %s", dlerror());
    h = dlopen_old(V("lib.so"), RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "virtual old dlopen: %s", dlerror());
    h = dlmopen_old(LM_ID_BASE, V("lib.so"), RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "virtual old dlmopen: %s", dlerror());
    h = dlopen_old(V("missing.so"), RTLD_NOW);
    CHECK(h == NULL, "virtual old dlopen of a missing file fails");
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    name = argv[1], vdir = argv[2], hdir = argv[3];
    if (!strcmp(name, "realpath")) realpath_case();
    else if (!strcmp(name, "glob")) glob_case();
    else if (!strcmp(name, "nftw")) nftw_case();
    else if (!strcmp(name, "spawn")) spawn_case();
    else if (!strcmp(name, "dlopen")) dlopen_case();
    else { printf("FAIL %s: unknown case\n", name); return 2; }
    if (!failed) printf("PASS %s\n", name);
    return failed;
}
