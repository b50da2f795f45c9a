/* Storms of path calls on host paths, one family at a time: what a process under the shim pays
 * for calls that never touch the prefix (Tests/bench/hoststorm.py runs it with and without the
 * shim). Prints "family ops/s" lines. Usage: hoststorm DIR N */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what, const char *p) {
    fprintf(stderr, "hoststorm: %s %s: %s\n", what, p, strerror(errno));
    exit(1);
}

static char **names(const char *dir, const char *tag, int n) {
    char **v = malloc(sizeof *v * (size_t)n);
    for (int i = 0; i < n; i++) {
        v[i] = malloc(strlen(dir) + 32);
        sprintf(v[i], "%s/%s%07d", dir, tag, i);
    }
    return v;
}

static void report(const char *family, int n, double t0) {
    printf("%s %.0f\n", family, n / (now() - t0));
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: hoststorm DIR N\n");
        return 2;
    }
    const char *dir = argv[1];
    int n = atoi(argv[2]);
    char **f = names(dir, "f", n), **g = names(dir, "g", n), **d = names(dir, "d", n);
    char link[4096], target[4096], buf[4096];
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(target, sizeof target, "%s/target", dir);
    if (symlink(target, link) < 0) die("symlink", link);

    double t = now();
    for (int i = 0; i < n; i++) {
        int fd = open(f[i], O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0) die("open", f[i]);
        close(fd);
    }
    report("open(O_CREAT)+close", n, t);

    t = now();
    for (int i = 0; i < n; i++)
        if (mkdir(d[i], 0755) < 0) die("mkdir", d[i]);
    report("mkdir", n, t);

    t = now();
    for (int i = 0; i < n; i++)
        if (rename(f[i], g[i]) < 0) die("rename", f[i]);
    report("rename", n, t);

    t = now();
    for (int i = 0; i < n; i++)
        if (chmod(g[i], 0600) < 0) die("chmod", g[i]);
    report("chmod", n, t);

    t = now();
    for (int i = 0; i < n; i++)
        if (utimensat(AT_FDCWD, g[i], NULL, 0) < 0) die("utimensat", g[i]);
    report("utimensat", n, t);

    t = now();
    for (int i = 0; i < n; i++)
        if (readlink(link, buf, sizeof buf) < 0) die("readlink", link);
    report("readlink", n, t);

    t = now();
    for (int i = 0; i < n; i++) {
        DIR *h = opendir(d[i]);
        if (!h) die("opendir", d[i]);
        closedir(h);
    }
    report("opendir+closedir", n, t);

    t = now();
    struct stat st;
    for (int i = 0; i < n; i++)
        if (stat(g[i], &st) < 0) die("stat", g[i]);
    report("stat", n, t);

    t = now();
    for (int i = 0; i < n; i++)
        if (unlink(g[i]) < 0) die("unlink", g[i]);
    report("unlink", n, t);

    t = now();
    for (int i = 0; i < n; i++)
        if (rmdir(d[i]) < 0) die("rmdir", d[i]);
    report("rmdir", n, t);
    unlink(link);
    return 0;
}
