/* fork() and the threads running engine code.
 *
 * fork() copies only the calling thread: a lock another thread held at that instant stays held
 * in the child for good. The engine's own locks are taken across fork (Engine.beforeFork), but
 * those of the Swift runtime linked into it (metadata caches, swift_once) cannot be: a child
 * hung for ever in swift_getTupleTypeMetadata on the runtime's tuple-cache lock, held in the
 * parent by a write-behind thread at the moment of the fork.
 *
 * So every thread running engine code is counted inside a gate: the engine's own threads for
 * their whole life, a program's thread for the length of a call into the engine. They step out
 * where they block (condition and lock waits, HTTP requests, sleeps). fork's prepare handler
 * (Engine.beforeFork, after it took the engine's locks) closes the gate and waits until no
 * thread but the caller is inside; a thread reaching the gate meanwhile waits for the fork to
 * finish, holding no lock another thread inside could be waiting for (Monitor drops its mutex
 * first; a thread that waits for any engine lock is out of the gate). The wait is bounded
 * (2 s): a thread busy inside for long or blocked where it does not step out must not hang the
 * program's fork; past the bound the fork goes ahead as it did before the gate. Compressing and
 * decompressing big blocks, the longest pure computation (a close of a multi-GiB file is
 * mostly that), step out too (hl_gate_pause), so a fork waits for a stretch of Swift code
 * between blocks, not for a whole close.
 *
 * Entering and leaving are one atomic add each when no fork is being prepared. */
#define _GNU_SOURCE
#include "hilbert_sys.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond;
static pthread_once_t gate_once = PTHREAD_ONCE_INIT;
static atomic_int inside;      /* threads counted inside */
static atomic_int forking;     /* fork prepares in progress */
static _Thread_local int depth;      /* this thread's nested enters */
static _Thread_local int stepped;    /* 1: stepped out (pause) */

enum { GATE_TIMEOUT_NS = 2000000000 };

static void gate_init(void) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&gate_cond, &a);
    pthread_condattr_destroy(&a);
}

static void wake_preparer(void) {
    pthread_mutex_lock(&gate_mutex);
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_mutex);
}

static void count_out(void) {
    if (atomic_fetch_sub(&inside, 1) == 1 && atomic_load(&forking) > 0) wake_preparer();
}

/* 1 when counted in; 0 when a fork is being prepared (not counted). */
static int try_count_in(void) {
    atomic_fetch_add(&inside, 1);
    if (atomic_load(&forking) == 0) return 1;
    count_out();
    return 0;
}

static void count_in(void) {
    while (!try_count_in()) {
        pthread_once(&gate_once, gate_init);
        pthread_mutex_lock(&gate_mutex);
        while (atomic_load(&forking) > 0) pthread_cond_wait(&gate_cond, &gate_mutex);
        pthread_mutex_unlock(&gate_mutex);
    }
}

void hl_gate_enter(void) {
    if (depth++ == 0) count_in();
}

void hl_gate_leave(void) {
    if (depth == 0) return;
    if (--depth == 0) {
        if (stepped) stepped = 0;
        else count_out();
    }
}

int hl_gate_pause(void) {
    if (depth == 0 || stepped) return 0;
    stepped = 1;
    count_out();
    return 1;
}

void hl_gate_resume(void) {
    if (!stepped) return;
    count_in();
    stepped = 0;
}

int hl_gate_try_resume(void) {
    if (!stepped) return 1;
    if (!try_count_in()) return 0;
    stepped = 0;
    return 1;
}

int hl_gate_fork_prepare(void) {
    pthread_once(&gate_once, gate_init);
    int self = depth > 0 && !stepped;   /* a signal handler forking in the middle of a call */
    pthread_mutex_lock(&gate_mutex);
    atomic_fetch_add(&forking, 1);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += GATE_TIMEOUT_NS % 1000000000;
    until.tv_sec += GATE_TIMEOUT_NS / 1000000000 + until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    while (atomic_load(&inside) > self)
        if (pthread_cond_timedwait(&gate_cond, &gate_mutex, &until) == ETIMEDOUT) break;
    int left = atomic_load(&inside) - self;
    pthread_mutex_unlock(&gate_mutex);
    return left;
}

void hl_gate_fork_parent(void) {
    pthread_mutex_lock(&gate_mutex);
    atomic_fetch_sub(&forking, 1);
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_mutex);
}

void hl_gate_fork_child(void) {
    /* Only the forking thread exists here. */
    pthread_mutex_init(&gate_mutex, NULL);
    gate_init();
    atomic_store(&inside, depth > 0 && !stepped ? 1 : 0);
    atomic_store(&forking, 0);
}

void hl_gate_mutex_wait(pthread_mutex_t *m) {
    hl_gate_pause();
    pthread_mutex_lock(m);
    hl_gate_resume();
}
