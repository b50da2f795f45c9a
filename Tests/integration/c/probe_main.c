/* The conformance probe: `probe DIR [GROUP…]` runs the case groups in the existing empty
 * directory DIR (absolute) and prints one line per case (see probe.h). */
#include "probe.h"
#include <stdarg.h>

const char *probe_dir;

void probe_report(const char *name, long rc, int err) {
    if (rc < 0) printf("%s = %ld %s\n", name, rc, strerrorname_np(err) ? strerrorname_np(err) : "?");
    else printf("%s = %ld\n", name, rc);
    fflush(stdout);
}

void probe_line(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("%s = ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

const char *P(const char *rel) {
    static char bufs[4][8192];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", probe_dir, rel);
    return b;
}

int probe_write_file(const char *path, const char *content) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    ssize_t n = write(fd, content, strlen(content));
    close(fd);
    return n == (ssize_t)strlen(content) ? 0 : -1;
}

const char *probe_read_fd(int fd) {
    static char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0) snprintf(buf, sizeof buf, "<%s>", strerrorname_np(errno));
    else buf[n] = 0;
    return buf;
}

const char *probe_read_file(const char *path) {
    static char buf[64];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(buf, sizeof buf, "<%s>", strerrorname_np(errno));
        return buf;
    }
    snprintf(buf, sizeof buf, "%s", probe_read_fd(fd));
    close(fd);
    return buf;
}

void probe_close(int fd) {
    if (fd >= 0) close(fd);
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"names", probe_names}, {"flags", probe_flags},   {"ns", probe_ns},           {"times", probe_times},
    {"sparse", probe_sparse}, {"opath", probe_opath}, {"tmpfile", probe_tmpfile},
};

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: probe ABSOLUTE-DIR [GROUP…]\n");
        return 2;
    }
    probe_dir = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(022);
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        int want = argc == 2;
        for (int i = 2; i < argc; i++) want |= !strcmp(argv[i], groups[g].name);
        if (!want) continue;
        char sub[64];
        snprintf(sub, sizeof sub, "%s", groups[g].name);
        if (mkdir(P(sub), 0755) < 0 || chdir(P(sub)) < 0) {
            printf("%s: cannot prepare its directory: %s\n", groups[g].name, strerror(errno));
            return 1;
        }
        printf("# %s\n", groups[g].name);
        const char *saved = probe_dir;
        probe_dir = strdup(P(sub));
        groups[g].run();
        probe_dir = saved;
        if (chdir("/") < 0) return 1;
    }
    return 0;
}
