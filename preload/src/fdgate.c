/* The descriptor-number gate. The kernel gives every new descriptor the lowest free number, so
 * the engine's own descriptors start low and are then moved above the program's range
 * (hl_sys_park_fd): for a moment a low number is the engine's. The engine's threads run beside
 * the program, so without the gate that moment could fall between a program's close(1) and its
 * dup2(fd, 1) (a shell's `echo x > f`): the engine's thread would open at 1, the program's dup2
 * would replace that file, and the engine would then move and close what it took for its own,
 * the program's stdout. The program's write saw EBADF and its file was committed empty.
 *
 * So the program's calls that free or pick numbers (close, dup2, dup3, F_DUPFD, close_range,
 * and the open family on host paths) and the engine's windows (from creating a descriptor to
 * moving it) exclude each other. Program calls are many and windows are few, so the program's
 * side is a flag of its thread's own (no shared write, no fence) and the engine's side pays:
 * it raises `pending`, makes every thread of the process pass a full barrier (membarrier's
 * private expedited command, an asymmetric Dekker), then waits until no thread is inside a
 * program call. A program call that finds `pending` raised waits until the windows are done.
 * Where membarrier is refused (an old kernel, a seccomp filter), both sides use fences.
 *
 * A window is a few system calls, so a program call waits at most that long. A program call
 * can block (the open of a FIFO), so a window waits for one at most GATE_ENGINE_WAIT_NS and
 * then goes ahead unprotected, as before the gate, and so do the windows of the next
 * GATE_STUCK_NS (a stuck call costs the engine one wait a second, not one per window). Armed
 * when the engine is loaded: a process that never touches a prefix pays one load per call. */
#include "shim.h"
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>

#define GATE_ENGINE_WAIT_NS (50 * 1000 * 1000LL)
#define GATE_STUCK_NS (1000 * 1000 * 1000LL)
/* Threads with a flag of their own; more threads than this share one counter (atomically). */
#define GATE_SLOTS 1024

volatile int sh_fdgate_armed;
volatile int sh_fdgate_pending;           /* engine windows open or waiting to open */
volatile int sh_fdgate_fenced;            /* no membarrier: program calls fence too */
volatile int sh_fdgate_flags[GATE_SLOTS]; /* per thread: program calls it is inside */
#define pending sh_fdgate_pending
#define fenced sh_fdgate_fenced
#define flags sh_fdgate_flags
#define my_slot sh_fdgate_slot
static volatile int shared_flag;    /* the same for threads without a slot */
static volatile int slot_lock;
static int slots_used;              /* high-water mark */
static pid_t slot_tid[GATE_SLOTS];   /* the thread holding each slot; 0: free */
static long long stuck_until;
__thread int sh_fdgate_slot __attribute__((tls_model("initial-exec")));

static void pause_for(unsigned spins) {
    if (spins < 32) __builtin_ia32_pause();
    else if (spins < 256) sched_yield();
    else {
        struct timespec t = {0, 20 * 1000};
        nanosleep(&t, NULL);
    }
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A thread keeps its slot for its life. When every slot is taken, those of threads that have
 * exited (the kernel no longer knows their ids) are taken over: an exited thread is inside no
 * call, and its flag stayed 0. (No thread-exit hook: the shim does not use libpthread's.) */
static int slot_is_free(int i) {
    if (!slot_tid[i]) return 1;
    return syscall(SYS_tgkill, sh_pid, slot_tid[i], 0) < 0 && errno == ESRCH && flags[i] == 0;
}

static void take_slot(void) {
    int saved = errno, s = -1;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    sh_lock(&slot_lock);
    for (int pass = 0; pass < 2 && s < 0; pass++)
        for (int i = 0; i < GATE_SLOTS; i++)
            if (pass == 0 ? !slot_tid[i] : slot_is_free(i)) {
                slot_tid[i] = tid;
                s = i;
                if (i >= slots_used) __atomic_store_n(&slots_used, i + 1, __ATOMIC_RELEASE);
                break;
            }
    sh_unlock(&slot_lock);
    my_slot = s >= 0 ? s + 1 : -1;
    errno = saved;
}

static inline volatile int *my_flag(void) {
    if (unlikely(my_slot == 0)) take_slot();
    return my_slot > 0 ? &flags[my_slot - 1] : NULL;
}

static void program_in(volatile int *f) {
    if (f) (*f)++;
    else __atomic_fetch_add(&shared_flag, 1, __ATOMIC_SEQ_CST);
    if (unlikely(fenced)) __atomic_thread_fence(__ATOMIC_SEQ_CST);
    else __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static void program_out(volatile int *f) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (f) (*f)--;
    else __atomic_fetch_sub(&shared_flag, 1, __ATOMIC_SEQ_CST);
}

int sh_fdgate_enter(int who) {
    if (who == HL_FD_GATE_PROGRAM) {
        volatile int *f = my_flag();
        int nested = f ? *f > 0 : 0;
        for (unsigned spins = 0;; spins++) {
            program_in(f);
            /* A nested call (a signal handler's) does not wait: a window waits for its outer one. */
            if (likely(!__atomic_load_n(&pending, __ATOMIC_RELAXED)) || nested) return HL_FD_GATE_PROGRAM;
            program_out(f);
            while (__atomic_load_n(&pending, __ATOMIC_RELAXED)) pause_for(spins++);
        }
    }
    if (who != HL_FD_GATE_ENGINE) return 0;
    volatile int *own = my_flag();
    if (own && *own > 0) return 0;   /* inside a program call of this thread: it would wait for itself */
    __atomic_fetch_add(&pending, 1, __ATOMIC_SEQ_CST);
    if (fenced || syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    long long deadline = 0;
    for (unsigned spins = 0;; spins++) {
        int busy = __atomic_load_n(&shared_flag, __ATOMIC_ACQUIRE) > 0;
        int n = __atomic_load_n(&slots_used, __ATOMIC_ACQUIRE);
        for (int i = 0; i < n && !busy; i++) busy = __atomic_load_n(&flags[i], __ATOMIC_ACQUIRE) > 0;
        if (!busy) return HL_FD_GATE_ENGINE;
        long long now = spins >= 32 ? now_ns() : 0;
        if (spins == 32) {
            if (now < __atomic_load_n(&stuck_until, __ATOMIC_RELAXED)) break;
            deadline = now + GATE_ENGINE_WAIT_NS;
        } else if (spins > 32 && now > deadline) {
            /* A program call that blocks (a thread waiting in the open of a FIFO). */
            __atomic_store_n(&stuck_until, now + GATE_STUCK_NS, __ATOMIC_RELAXED);
            break;
        }
        pause_for(spins);
    }
    __atomic_fetch_sub(&pending, 1, __ATOMIC_SEQ_CST);
    return 0;
}

void sh_fdgate_leave(int token) {
    if (token == HL_FD_GATE_PROGRAM) program_out(my_slot > 0 ? &flags[my_slot - 1] : NULL);
    else if (token == HL_FD_GATE_ENGINE) __atomic_fetch_sub(&pending, 1, __ATOMIC_SEQ_CST);
}

/* membarrier needs the process registered; a forked child is a new process. Called with only
 * the calling thread running (the engine's load, a fork's child). */
static void register_barrier(void) {
    fenced = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0;
}

void sh_fdgate_arm(void) {
    register_barrier();
    sh_fdgate_armed = 1;
}

/* In a forked child only the forking thread exists: no window is open, and no other thread
 * is inside a program call. */
void sh_fdgate_after_fork_child(void) {
    if (!sh_fdgate_armed) return;
    pending = 0;
    shared_flag = 0;
    slot_lock = 0;
    for (int i = 0; i < GATE_SLOTS; i++)
        if (i != my_slot - 1) flags[i] = slot_tid[i] = 0;
    if (my_slot > 0) slot_tid[my_slot - 1] = (pid_t)syscall(SYS_gettid);
    register_barrier();
}
