/* system / popen / pclose. glibc's versions spawn /bin/sh with the unmodified environment,
 * so with virtual state (cwd, inherited fds) we spawn through our posix_spawn instead. */
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
    int e = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
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

typedef struct pent { FILE *fp; pid_t pid; struct pent *next; } pent;
static pent *plist;
static volatile int plock;

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
    sh_lock(&plock);
    for (pent *e = plist; e; e = e->next) /* POSIX: close other popen streams in the child */
        posix_spawn_file_actions_addclose(&fa, fileno(e->fp));
    sh_unlock(&plock);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    REAL(close)(theirs);
    pent *ent = err ? NULL : malloc(sizeof *ent);
    FILE *fp = ent ? fdopen(mine, rd ? "r" : "w") : NULL;
    if (!fp) {
        int e = err ? err : errno;
        REAL(close)(mine);
        free(ent);
        errno = e;
        return NULL;
    }
    if (!cloexec) REAL(fcntl)(mine, F_SETFD, 0);
    ent->fp = fp;
    ent->pid = pid;
    sh_lock(&plock);
    ent->next = plist;
    plist = ent;
    sh_unlock(&plock);
    return fp;
}

EXPORT int pclose(FILE *fp) {
    pent *found = NULL;
    sh_lock(&plock);
    for (pent **e = &plist; *e; e = &(*e)->next) {
        if ((*e)->fp == fp) {
            found = *e;
            *e = found->next;
            break;
        }
    }
    sh_unlock(&plock);
    if (!found) return REAL(pclose)(fp);
    pid_t pid = found->pid;
    free(found);
    fclose(fp);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return status;
}
