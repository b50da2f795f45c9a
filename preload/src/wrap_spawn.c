/* system / popen / pclose. glibc's versions spawn /bin/sh with the unmodified environment,
 * so with virtual state (cwd, inherited fds) we spawn through our posix_spawn instead.
 * posix_spawn_file_actions_addopen of a virtual path: glibc's spawn child opens it with an
 * internal open the shim never sees, so the file is opened here instead (see below). */
#include "shim.h"
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

EXPORT int system(const char *cmd) {
    if (sh_pass() || !sh_has_virtual_state()) return REAL(system)(cmd);
    if (!cmd) return 1;
    struct sigaction ign = {.sa_handler = SIG_IGN}, oint, oquit;
    sigset_t chld, omask;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigaction(SIGINT, &ign, &oint);
    sigaction(SIGQUIT, &ign, &oquit);
    sigprocmask(SIG_BLOCK, &chld, &omask);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    if (oint.sa_handler != SIG_IGN) sigaddset(&def, SIGINT);
    if (oquit.sa_handler != SIG_IGN) sigaddset(&def, SIGQUIT);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setsigmask(&attr, &omask);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    int status = -1;
    int e = sh_posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (e == 0) {
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) { status = -1; break; }
    } else {
        status = 127 << 8;
    }
    sigaction(SIGINT, &oint, NULL);
    sigaction(SIGQUIT, &oquit, NULL);
    sigprocmask(SIG_SETMASK, &omask, NULL);
    return status;
}

/* A locked list of entries keyed by a pointer (popen streams, addopen descriptors). */
typedef struct kent { const void *key; int val, err; struct kent *next; } kent;
typedef struct klist { kent *head; volatile int lock; } klist;
static void kpush(klist *l, kent *e, const void *key, int val, int err) {
    e->key = key;
    e->val = val;
    e->err = err;
    sh_lock(&l->lock);
    e->next = l->head;
    l->head = e;
    sh_unlock(&l->lock);
}
/* Unlink and return the first entry with `key`, or NULL. */
static kent *ktake(klist *l, const void *key) {
    kent *found = NULL;
    sh_lock(&l->lock);
    for (kent **e = &l->head; *e; e = &(*e)->next) {
        if ((*e)->key == key) {
            found = *e;
            *e = found->next;
            break;
        }
    }
    sh_unlock(&l->lock);
    return found;
}
static klist popens;

EXPORT FILE *popen(const char *cmd, const char *mode) {
    if (sh_pass() || !sh_has_virtual_state()) return REAL(popen)(cmd, mode);
    int rd = mode[0] == 'r', cloexec = strchr(mode, 'e') != NULL;
    if ((mode[0] != 'r' && mode[0] != 'w')) { errno = EINVAL; return NULL; }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return NULL;
    int mine = rd ? p[0] : p[1], theirs = rd ? p[1] : p[0];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, theirs, rd ? 1 : 0);
    sh_lock(&popens.lock);
    for (kent *e = popens.head; e; e = e->next) /* POSIX: close other popen streams in the child */
        posix_spawn_file_actions_addclose(&fa, fileno((FILE *)e->key));
    sh_unlock(&popens.lock);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    int err = sh_posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    REAL(close)(theirs);
    kent *ent = err ? NULL : malloc(sizeof *ent);
    FILE *fp = ent ? fdopen(mine, rd ? "r" : "w") : NULL;
    if (!fp) {
        int e = err ? err : errno;
        REAL(close)(mine);
        free(ent);
        errno = e;
        return NULL;
    }
    if (!cloexec) REAL(fcntl)(mine, F_SETFD, 0);
    kpush(&popens, ent, fp, pid, 0);
    return fp;
}

EXPORT int pclose(FILE *fp) {
    kent *found = ktake(&popens, fp);
    if (!found) return REAL(pclose)(fp);
    pid_t pid = found->val;
    free(found);
    fclose(fp);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return status;
}

/* addopen of a virtual path (absolute, or relative to a virtual cwd): the file is opened now,
 * close-on-exec, through the shim, and the action becomes "dup2 that fd to the target". The
 * fd stays open until the actions are destroyed. An open that fails is remembered and
 * posix_spawn(p) with these actions fails with its errno, as glibc's would. */
static klist opens; /* key: the actions, val: our fd or -1, err: the open's errno */

volatile int *sh_spawn_lock(int which) { return which ? &opens.lock : &popens.lock; }

EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path, int oflag,
                                            mode_t mode) {
    if (sh_pass() || !path || fd < 0) return REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);
    int saved = errno;
    vpath v;
    /* No real call comes first here (the child's open is glibc-internal), so the path is
     * classified in full: absolute prefix paths whatever the cwd, relative ones in a virtual
     * cwd. A bad pointer is left to glibc (it copies the path with strdup). */
    int k = sh_classify(&v, AT_FDCWD, path);
    errno = saved;
    if (k != SH_VIRT) return REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);
    kent *e = malloc(sizeof *e);
    if (!e) return ENOMEM;
    int of = open(path, oflag | O_CLOEXEC, mode);
    int oerr = of < 0 ? errno : 0;
    int r = of < 0 ? 0 : REAL(posix_spawn_file_actions_adddup2)(fa, of, fd);
    if (r) {
        close(of);
        free(e);
        errno = saved;
        return r;
    }
    kpush(&opens, e, fa, of, oerr);
    errno = saved;
    return 0;
}

int sh_spawn_actions_error(const void *fa) {
    if (!fa || !opens.head) return 0;
    int err = 0;
    sh_lock(&opens.lock);
    for (kent *e = opens.head; e && !err; e = e->next)
        if (e->key == fa) err = e->err;
    sh_unlock(&opens.lock);
    return err;
}

EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa) {
    int saved = errno;
    for (kent *x; (x = ktake(&opens, fa));) {
        if (x->val >= 0) close(x->val);
        free(x);
    }
    errno = saved;
    return REAL(posix_spawn_file_actions_destroy)(fa);
}
