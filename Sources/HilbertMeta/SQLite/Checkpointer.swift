import Glibc
import CSQLite
import CSQLiteWAL
import CHilbertSys
import HilbertSupport

/// Checkpoints of one database's WAL, mostly on a thread of their own with a connection of
/// their own, so that program calls rarely wait for them. SQLite's automatic checkpoint runs
/// inside the COMMIT that crosses its threshold (1,000 frames): with `synchronous=NORMAL` it
/// syncs the WAL, copies the frames into the database file and syncs that, two fdatasyncs of
/// 3–10 ms each on the development VM's disk, about once per 66 small-file creates. Here the
/// thread does that (PASSIVE: it never waits for a reader or a writer) each time another
/// 1,000 frames were committed. A writer that never pauses keeps such a checkpoint from ever
/// catching up, and the WAL restarts only when one has: at 4,000 frames the committing
/// connection checkpoints itself, as SQLite would (the WAL restarts at the next commit, which
/// syncs its new header, as with SQLite's own checkpoint). Durability is unchanged: a committed
/// transaction is in the WAL either way, and every checkpoint syncs as SQLite's does.
///
/// Fork: `beforeFork` waits until the thread is outside SQLite (whose global mutexes the child
/// would otherwise inherit locked); the child has no thread and starts one when it needs it.
final class Checkpointer: @unchecked Sendable {
    /// Frames committed since the last request that ask the thread for a checkpoint
    /// (SQLite's own threshold: a WAL this size costs a process that opens the volume alone
    /// ~1.4 ms to index).
    static let frames: Int32 = 1000
    /// WAL frames after a commit at which the committing connection checkpoints itself.
    static let inlineFrames: Int32 = 4000

    private let path: String
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var requested = false
    private var running = false
    private var busy = false
    private var db: OpaquePointer?
    /// What checkpoints did so far (for tests): passes of the thread, with the WAL frames its
    /// last one found in the database afterwards, and checkpoints run by committing connections.
    private var threadPasses = 0
    private var threadFramesDone: Int32 = 0
    private var inlinePasses = 0

    var record: (threadPasses: Int, threadFramesDone: Int32, inlinePasses: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (threadPasses, threadFramesDone, inlinePasses)
    }

    init(path: String) {
        self.path = path
        Checkpointer.initialize(mutex, wake)
    }

    private static func initialize(_ m: UnsafeMutablePointer<pthread_mutex_t>, _ c: UnsafeMutablePointer<pthread_cond_t>) {
        pthread_mutex_init(m, nil)
        pthread_cond_init(c, nil)
    }

    /// The WAL's size when the thread was last asked (a smaller one: the WAL restarted).
    private var askedAt: Int32 = 0

    /// A commit on `db` left `frames` frames in the WAL.
    func committed(frames: Int32, on db: OpaquePointer) {
        if frames >= Checkpointer.inlineFrames {
            var log: Int32 = 0, done: Int32 = 0
            _ = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
            pthread_mutex_lock(mutex)
            inlinePasses += 1
            pthread_mutex_unlock(mutex)
            return
        }
        pthread_mutex_lock(mutex)
        if frames < askedAt { askedAt = 0 }
        guard frames - askedAt >= Checkpointer.frames else {
            pthread_mutex_unlock(mutex)
            return
        }
        askedAt = frames
        requested = true
        let start = !running
        if start { running = true }
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
        if start && !startThread() {
            pthread_mutex_lock(mutex)
            running = false
            requested = false
            pthread_mutex_unlock(mutex)
            // No thread: checkpoint here, as SQLite would have.
            var log: Int32 = 0, done: Int32 = 0
            _ = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
        }
    }

    func beforeFork() {
        pthread_mutex_lock(mutex)
        while busy { pthread_cond_wait(wake, mutex) }
    }

    func afterForkInParent() { pthread_mutex_unlock(mutex) }

    /// The child has no checkpoint thread; the parent's connection is left alone (closing it
    /// would touch locks the parent holds). It asks for a checkpoint only once the WAL grew past
    /// where the parent last asked (a child that writes a file and exits starts no thread).
    func afterForkInChild() {
        Checkpointer.initialize(mutex, wake)
        requested = false
        running = false
        busy = false
        db = nil
    }

    private final class Box { let run: () -> Void; init(_ run: @escaping () -> Void) { self.run = run } }

    private func startThread() -> Bool {
        let box = Unmanaged.passRetained(Box { [self] in loop() }).toOpaque()
        var tid = pthread_t()
        // The thread never runs a handler of the program (every signal blocked) and its libc
        // calls go past the shim (the re-entry guard), like the lock lease renewer's.
        var all = sigset_t(), old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &old)
        let rc = pthread_create(&tid, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            hl_sys_guard_thread(1)
            b.run()
            return nil
        }, box)
        pthread_sigmask(SIG_SETMASK, &old, nil)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            return false
        }
        pthread_detach(tid)
        return true
    }

    private func loop() {
        while true {
            pthread_mutex_lock(mutex)
            while !requested { pthread_cond_wait(wake, mutex) }
            requested = false
            busy = true
            pthread_mutex_unlock(mutex)
            let done = checkpoint()
            pthread_mutex_lock(mutex)
            threadPasses += 1
            threadFramesDone = done
            busy = false
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
    }

    /// One PASSIVE checkpoint; returns the WAL frames now in the database file. A failure is
    /// left to the next request (or to SQLite's own checkpoint when the last connection closes).
    private func checkpoint() -> Int32 {
        guard let db = connection() else { return 0 }
        var log: Int32 = 0, done: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
        return rc == SQLITE_OK ? done : 0
    }

    private func connection() -> OpaquePointer? {
        if let db { return db }
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, hl_sqlite_wal_vfs()) == SQLITE_OK,
              let handle else {
            if let handle { sqlite3_close_v2(handle) }
            return nil
        }
        _ = Connection.configure(handle)
        db = handle
        return handle
    }
}
