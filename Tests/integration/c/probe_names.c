/* Name and path lengths, symlink loops and chains. */
#include "probe.h"

static char *rep(char c, size_t n) {
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

/* Directories under `base` (created as needed) and a leaf name so that base/…/leaf is exactly
 * `len` bytes long; returns the path (malloc'ed). */
static char *deep_path(const char *base, size_t len) {
    char *p = malloc(len + 512);
    strcpy(p, base);
    for (;;) {
        size_t cur = strlen(p), left = len - cur; /* bytes still to add, '/' included */
        if (left - 1 <= 255) {
            p[cur] = '/';
            memset(p + cur + 1, 'f', left - 1);
            p[len] = 0;
            return p;
        }
        size_t k = left - 3 < 200 ? left - 3 : 200;
        p[cur] = '/';
        memset(p + cur + 1, 'd', k);
        p[cur + 1 + k] = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            printf("deep_path mkdir: %s\n", strerror(errno));
            exit(1);
        }
    }
}

static void lengths(void) {
    char *n255 = rep('n', 255), *n256 = rep('n', 256);
    probe_close(RFD("creat name 255", creat(n255, 0644)));
    R("stat name 255", access(n255, F_OK));
    probe_close(RFD("creat name 256", creat(n256, 0644)));
    R("stat name 256", access(n256, F_OK));
    R("mkdir name 256", mkdir(n256, 0755));
    R("symlink name 256", symlink("x", n256));
    R("rename to name 256", rename(n255, n256));
    R("link to name 256", link(n255, n256));
    R("unlink name 256", unlink(n256));
    char *abs256 = malloc(strlen(probe_dir) + 300);
    sprintf(abs256, "%s/%s/x", probe_dir, n256);
    R("stat dir component 256", access(abs256, F_OK));
    R("unlink name 255", unlink(n255));

    R("mkdir abs", mkdir(P("abs"), 0755));
    char *a4095 = deep_path(P("abs"), 4095);
    probe_close(RFD("creat path 4095", creat(a4095, 0644)));
    R("stat path 4095", access(a4095, F_OK));
    char *a4096 = deep_path(P("abs"), 4096);
    probe_close(RFD("creat path 4096", creat(a4096, 0644)));
    R("stat path 4096", access(a4096, F_OK));
    R("mkdir path 4096", mkdir(a4096, 0755));
    R("unlink path 4095", unlink(a4095));

    R("mkdir rel", mkdir("rel", 0755));
    char *r4095 = deep_path("rel", 4095);
    probe_close(RFD("creat relative path 4095", creat(r4095, 0644)));
    R("stat relative path 4095", access(r4095, F_OK));
    char *r4096 = deep_path("rel", 4096);
    probe_close(RFD("creat relative path 4096", creat(r4096, 0644)));

    char *t4095 = rep('t', 4095), *t4096 = rep('t', 4096);
    R("symlink target 4095", symlink(t4095, "longtarget"));
    char buf[8192];
    R("readlink target 4095", readlink("longtarget", buf, sizeof buf));
    R("symlink target 4096", symlink(t4096, "longtarget2"));
}

static void loops(void) {
    R("symlink loop1", symlink("loop2", "loop1"));
    R("symlink loop2", symlink("loop1", "loop2"));
    R("symlink self", symlink("self", "self"));
    probe_close(RFD("open loop", open("loop1", O_RDONLY)));
    probe_close(RFD("open loop O_CREAT", open("self", O_WRONLY | O_CREAT, 0644)));
    struct stat st;
    R("stat loop", stat("loop1", &st));
    R("lstat loop", lstat("loop1", &st));
    R("stat through loop", stat("loop1/x", &st));
    R("mkdir through loop", mkdir("loop1/x", 0755));
    R("chdir loop", chdir("loop1"));
    R("access loop", access(P("loop2"), F_OK));

    R("write chain target", probe_write_file("target", "end of chain"));
    R("symlink c0", symlink("target", "c0"));
    char name[16], prev[16];
    for (int i = 1; i <= 41; i++) {
        snprintf(name, sizeof name, "c%d", i);
        snprintf(prev, sizeof prev, "c%d", i - 1);
        if (symlink(prev, name) < 0) R("symlink chain", -1);
    }
    probe_close(RFD("open chain of 40 links", open("c39", O_RDONLY)));
    probe_close(RFD("open chain of 41 links", open("c40", O_RDONLY)));
    R("stat chain of 40 links", stat("c39", &st));
    R("stat chain of 41 links", stat("c40", &st));
    probe_line("read chain of 40 links", "%s", probe_read_file("c39"));
    /* Links met in the middle of a path count too: c39 is a directory link here. */
    R("mkdir chain dir", mkdir("cdir", 0755));
    R("symlink d0", symlink("cdir", "d0"));
    for (int i = 1; i <= 41; i++) {
        snprintf(name, sizeof name, "d%d", i);
        snprintf(prev, sizeof prev, "d%d", i - 1);
        if (symlink(prev, name) < 0) R("symlink dchain", -1);
    }
    probe_close(RFD("creat through 40 dir links", creat("d39/f", 0644)));
    probe_close(RFD("creat through 41 dir links", creat("d40/g", 0644)));
}

void probe_names(void) {
    lengths();
    loops();
}
