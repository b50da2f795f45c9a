import Glibc
import CHilbertSys
import HilbertSupport

/// Calls the data layer needs beyond `Sys`, all through the real-function table `hl_sys`.
extension Sys {
    /// A directory entry with its d_type (DT_UNKNOWN on file systems that do not fill it).
    public struct TypedEntry {
        public var name: String
        public var type: UInt8
    }

    /// Names and d_types in a host directory (without "." and "..").
    public static func listDirectoryTyped(_ path: String) throws(Errno) -> [TypedEntry] {
        guard let dir = hl_sys.opendir(path) else { throw Errno.current }
        defer { _ = hl_sys.closedir(dir) }
        var out: [TypedEntry] = []
        while let raw = hl_sys.readdir64(dir) {
            let ent = raw.assumingMemoryBound(to: dirent.self)
            let type = ent.pointee.d_type
            let name = withUnsafePointer(to: &ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(TypedEntry(name: name, type: type)) }
        }
        return out
    }

    /// Write all of `buf` at `offset`, continuing short writes.
    public static func pwriteAll(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int, _ offset: Int64) throws(Errno) {
        try pwriteAll(fd, UnsafeRawBufferPointer(start: buf, count: count), offset)
    }

    static let utimeNowValue = 0x3fff_ffff   // UTIME_NOW ((1 << 30) - 1)
    static let utimeOmitValue = 0x3fff_fffe  // UTIME_OMIT ((1 << 30) - 2)
    /// Set atime and mtime of an open file to now.
    public static func touch(_ fd: Int32) throws(Errno) {
        try futimens(fd, [timespec(tv_sec: 0, tv_nsec: utimeNowValue), timespec(tv_sec: 0, tv_nsec: utimeNowValue)])
    }
    /// `touchModified`, only when the mtime is more than `seconds` old (a copy read often is
    /// not written to on every read).
    public static func touchModified(_ fd: Int32, ifOlderThan seconds: Int) {
        guard let st = try? fstat(fd) else { return }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if now.tv_sec - st.st_mtim.tv_sec > seconds { try? touchModified(fd) }
    }
    /// Set the mtime of an open file to now, its atime left as it is (a read copy's atime may
    /// hold a keep-until time: CacheDirectory.keep).
    public static func touchModified(_ fd: Int32) throws(Errno) {
        try futimens(fd, [timespec(tv_sec: 0, tv_nsec: utimeOmitValue), timespec(tv_sec: 0, tv_nsec: utimeNowValue)])
    }
}

/// A pthread running `body` with the shim's re-entry guard raised (libc calls of libraries the
/// engine uses, e.g. libcurl's sockets, must not be routed like the application's); nil when
/// none could be started. It blocks every signal (inherited from the mask set around
/// pthread_create): a signal meant for the program must run its handler on a program thread,
/// where the shim routes its calls, not on an engine thread whose guard is raised.
func startGuardedThread(_ body: @escaping () -> Void) -> pthread_t? {
    final class Box { let run: () -> Void; init(_ run: @escaping () -> Void) { self.run = run } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    var all = sigset_t(), old = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_SETMASK, &all, &old)
    defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
    let rc = pthread_create(&tid, nil, { arg in
        let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        hl_sys_guard_thread(1)
        hl_gate_enter()
        b.run()
        hl_gate_leave()
        hl_sys_guard_thread(-1)
        return nil
    }, box)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        return nil
    }
    return tid
}

/// A thread nobody joins (background read-ahead); false when none could be started.
public func startDetachedThread(_ body: @escaping () -> Void) -> Bool {
    guard let tid = startGuardedThread(body) else { return false }
    pthread_detach(tid)
    return true
}

/// Threads started by the data layer's pipelines (plain pthreads; joined by the caller).
public struct WorkerThreads {
    private var threads: [pthread_t] = []
    public var count: Int { threads.count }
    public init() {}

    /// Start up to `count` threads running `body(i)` (startGuardedThread); fewer when
    /// pthread_create fails.
    public static func start(_ count: Int, _ body: @escaping (Int) -> Void) -> WorkerThreads {
        var w = WorkerThreads()
        for i in 0..<count {
            if let tid = startGuardedThread({ body(i) }) { w.threads.append(tid) }
        }
        return w
    }
    public func join() { for t in threads { pthread_join(t, nil) } }
}

/// A condition variable paired with a mutex, for the small producer/consumer queues.
public final class Monitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }
    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }
    public func lock() { hl_gate_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Caller holds the lock. A thread counted in the fork gate steps out while it waits
    /// (forkgate.c); callers re-check their condition, as after any wakeup.
    public func wait() {
        hl_gate_pause()
        pthread_cond_wait(cond, mutex)
        rejoinForkGate()
    }
    /// `wait`, for at most `nanoseconds`.
    public func wait(nanoseconds: UInt64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let total = UInt64(ts.tv_nsec) + nanoseconds
        ts.tv_sec += Int(total / 1_000_000_000)
        ts.tv_nsec = Int(total % 1_000_000_000)
        hl_gate_pause()
        pthread_cond_timedwait(cond, mutex, &ts)
        rejoinForkGate()
    }
    /// Back into the fork gate; while a fork is being prepared, without holding the mutex (a
    /// thread still inside may need it to reach its own wait).
    private func rejoinForkGate() {
        if hl_gate_try_resume() == 0 {
            pthread_mutex_unlock(mutex)
            hl_gate_resume()
            lock()
        }
    }
    public func broadcast() { pthread_cond_broadcast(cond) }
    /// After fork in the child: a parent's thread may have held the mutex.
    public func reinitialize() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }
}

/// A fixed-capacity raw byte buffer owned by one worker, reused across blocks.
final class ByteBuffer {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    var count: Int = 0
    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 64)
    }
    deinit { base.deallocate() }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    var whole: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: capacity) }
}

/// True when every byte is zero (word at a time).
func isAllZero(_ p: UnsafeRawPointer, _ count: Int) -> Bool {
    var i = 0
    let words = count / 8
    if words > 0 {
        // Cheap early exit on the first word, then OR-accumulate in wide strides.
        if p.loadUnaligned(as: UInt64.self) != 0 { return false }
        var acc: UInt64 = 0
        var w = 0
        while w + 8 <= words {
            let q = p + w * 8
            acc |= q.loadUnaligned(fromByteOffset: 0, as: UInt64.self) | q.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                | q.loadUnaligned(fromByteOffset: 16, as: UInt64.self) | q.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                | q.loadUnaligned(fromByteOffset: 32, as: UInt64.self) | q.loadUnaligned(fromByteOffset: 40, as: UInt64.self)
                | q.loadUnaligned(fromByteOffset: 48, as: UInt64.self) | q.loadUnaligned(fromByteOffset: 56, as: UInt64.self)
            w += 8
            if w & 0x3ff == 0 && acc != 0 { return false }
        }
        while w < words { acc |= (p + w * 8).loadUnaligned(as: UInt64.self); w += 1 }
        if acc != 0 { return false }
        i = words * 8
    }
    while i < count { if p.load(fromByteOffset: i, as: UInt8.self) != 0 { return false }; i += 1 }
    return true
}
