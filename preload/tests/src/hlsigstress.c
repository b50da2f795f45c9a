/* Test helper: `hlsigstress DIR [SECONDS [THREADS]]` — signal-handler re-entry under the shim.
 * THREADS threads loop over prefix calls (open/read/stat/close of DIR/a, opendir/readdir/
 * closedir of DIR/d) while a high-frequency ITIMER_REAL SIGALRM handler (the main thread
 * blocks SIGALRM, so the kernel interrupts the workers) does prefix calls too (stat of DIR/b,
 * open+read+close of DIR/b). Two phases of SECONDS/2 each: the handler installed with
 * SA_RESTART, then without. Fails on a deadlock (no progress for 10 s: a watchdog exits 3),
 * a crash, wrong data, or an errno: EINTR is accepted only without SA_RESTART and only from
 * open, read and close (POSIX lists EINTR for those, not for stat, opendir or readdir).
 * Prints "PASS sigstress ..." or "FAIL sigstress: ...". */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ASIZE 5000
#define BSIZE 1234
#define NENT 12
static char dir[4096], pa[4200], pb[4200], pd[4200];
static char want_a[ASIZE], want_b[BSIZE];
static volatile int stop, joined, restart_mode;
static volatile long progress, handled, eintr_ok;
static volatile sig_atomic_t handler_bad, handler_errno, handler_step;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static int failed;

static void fail(const char *what, int err) {
    pthread_mutex_lock(&fail_lock);
    if (failed < 10) printf("FAIL sigstress: %s (%s, errno %d %s)\n", what,
                            restart_mode ? "SA_RESTART" : "no SA_RESTART", err, strerror(err));
    failed++;
    pthread_mutex_unlock(&fail_lock);
    stop = 1;
}

/* ---- the signal handler: async-signal-safe calls only ---- */
static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    char buf[BSIZE + 16];
    struct stat st;
    handled++;
    if (stat(pb, &st) != 0 || st.st_size != BSIZE) { handler_bad = 1, handler_errno = errno, handler_step = 1; goto out; }
    int fd = open(pb, O_RDONLY);
    if (fd < 0) { handler_bad = 1, handler_errno = errno, handler_step = 2; goto out; }
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0) { handler_bad = 1, handler_errno = errno, handler_step = 3; break; }
        if (n == 0) break;
        got += (size_t)n;
    }
    if (!handler_bad && (got != BSIZE || memcmp(buf, want_b, BSIZE))) handler_bad = 1, handler_step = 4;
    if (close(fd) != 0) handler_bad = 1, handler_errno = errno, handler_step = 5;
out:
    errno = saved;
}

/* EINTR is tolerated (and retried) only without SA_RESTART and only where POSIX allows it. */
static int eintr_allowed(int r) {
    if (r >= 0 || errno != EINTR || restart_mode) return 0;
    __atomic_add_fetch(&eintr_ok, 1, __ATOMIC_RELAXED);
    return 1;
}

static int read_all(const char *p, char *buf, size_t cap, size_t *len) {
    int fd;
    while ((fd = open(p, O_RDONLY)) < 0)
        if (!eintr_allowed(fd)) { fail("open", errno); return -1; }
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0) {
            if (eintr_allowed((int)n)) continue;
            fail("read", errno);
            close(fd);
            return -1;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    struct stat st;
    if (stat(p, &st) != 0) { fail("stat", errno); close(fd); return -1; }
    if (st.st_size != (off_t)got) { fail("stat size differs from the bytes read", 0); close(fd); return -1; }
    if (close(fd) != 0 && !eintr_allowed(-1)) { fail("close", errno); return -1; }
    *len = got;
    return 0;
}

static void *worker(void *arg) {
    (void)arg;
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
    char buf[ASIZE + 16];
    while (!stop) {
        size_t len;
        if (read_all(pa, buf, sizeof buf, &len) < 0) break;
        if (len != ASIZE || memcmp(buf, want_a, ASIZE)) { fail("wrong data read from a", 0); break; }
        errno = 0;
        DIR *d = opendir(pd);
        if (!d) { fail("opendir", errno); break; }
        int n = 0;
        struct dirent *e;
        errno = 0;
        while ((e = readdir(d))) n++;
        if (errno) { fail("readdir", errno); closedir(d); break; }
        if (closedir(d) != 0 && !eintr_allowed(-1)) { fail("closedir", errno); break; }
        if (n != NENT + 2) { fail("readdir: wrong number of entries", 0); break; }
        __atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *watchdog(void *arg) {
    (void)arg;
    long last = -1;
    int still = 0;
    while (!joined) {
        sleep(1);
        long now = __atomic_load_n(&progress, __ATOMIC_RELAXED);
        still = now == last ? still + 1 : 0;
        last = now;
        if (still >= 10) {
            printf("FAIL sigstress: deadlock (no progress for 10 s, %s, %ld iterations, %ld signals)\n",
                   restart_mode ? "SA_RESTART" : "no SA_RESTART", now, (long)handled);
            fflush(stdout);
            _exit(3);
        }
    }
    return NULL;
}

static void put(const char *p, const char *data, size_t n) {
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n || close(fd) != 0) {
        printf("FAIL sigstress: setup %s (errno %d)\n", p, errno);
        exit(1);
    }
}

static int phase(int restart, double seconds, int nthreads) {
    restart_mode = restart;
    stop = joined = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    pthread_t t[64], wd;
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, worker, NULL);
    pthread_create(&wd, NULL, watchdog, NULL);
    struct itimerval it = {{0, 200}, {0, 200}}; /* every 200 us */
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)seconds;
    end.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (end.tv_nsec >= 1000000000L) end.tv_sec++, end.tv_nsec -= 1000000000L;
    while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR) {}
    stop = 1;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    joined = 1;
    pthread_join(wd, NULL);
    if (handler_bad) {
        char what[64];
        snprintf(what, sizeof what, "in the signal handler, step %d", (int)handler_step);
        fail(what, handler_errno);
    }
    return failed;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    double seconds = argc > 2 ? atof(argv[2]) : 4;
    int nthreads = argc > 3 ? atoi(argv[3]) : 4;
    if (nthreads < 1 || nthreads > 64) nthreads = 4;
    snprintf(dir, sizeof dir, "%s", argv[1]);
    snprintf(pa, sizeof pa, "%s/a", dir);
    snprintf(pb, sizeof pb, "%s/b", dir);
    snprintf(pd, sizeof pd, "%s/d", dir);
    for (int i = 0; i < ASIZE; i++) want_a[i] = (char)('a' + i % 26);
    for (int i = 0; i < BSIZE; i++) want_b[i] = (char)('0' + i % 10);
    mkdir(dir, 0755);
    mkdir(pd, 0755);
    put(pa, want_a, ASIZE);
    put(pb, want_b, BSIZE);
    for (int i = 0; i < NENT; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/e%d", pd, i);
        put(p, "x", 1);
    }
    /* The main thread only waits, with SIGALRM blocked: the kernel delivers it to the workers,
     * which unblock it when they start. */
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, NULL);
    int bad = 0;
    for (int restart = 1; restart >= 0 && !bad; restart--) bad = phase(restart, seconds / 2, nthreads);
    if (!bad) printf("PASS sigstress (%ld iterations, %ld signals handled, %ld EINTR retried)\n",
                     (long)progress, (long)handled, (long)eintr_ok);
    return bad ? 1 : 0;
}
