import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// What the shim asks of the cluster lock calls (hilbert_abi.h, HL_LOCK_*).
public enum ClusterLockCall: Int32 {
    case flock = 1, posix = 2, ofd = 3
    var kind: ClusterLockKind { self == .flock ? .flock : .record }
}

/// The cluster locks this process holds (SEMANTICS.md, "locks"): on volumes shared between
/// nodes, every lock the shim took on a node-local lock file is recorded in the metadata as
/// a lease, renewed by one background thread while the process holds any and deleted when
/// released. What it holds is kept here, by lock descriptor, so that ranges can be split and
/// merged as fcntl does and a refused request can be undone on the node-local lock.
final class ClusterLocks: @unchecked Sendable {
    static let shared = ClusterLocks()

    struct Key: Hashable {
        var mount: Int
        var ino: Ino
        var kind: ClusterLockKind
        var handle: Int64
    }

    let lock = Lock()
    private var held: [Key: [ClusterLockRange]] = [:]
    /// Releases that failed (the server was unreachable): retried by the renewal thread, and
    /// never renewed meanwhile.
    private var pending: [(mount: Int, ino: Ino?, handle: Int64?)] = []
    /// Owners whose last request was refused: their next one (a waiter polling) looks in a
    /// read transaction first; a first request goes straight to the write transaction.
    private var refused: Set<Key> = []
    private var renewerRunning = false
    private var procID = ""
    private var domains: [Int: String] = [:]
    private var lastRenewFailed = false

    /// The lease: HILBERT_LOCK_LEASE seconds (1…3600, default 10). A process that stops
    /// renewing (killed, frozen, cut off from the server) loses its locks on other nodes this
    /// long after its last renewal; renewals happen every third of it.
    static let ttlMs: Int64 = {
        if let s = getEnv("HILBERT_LOCK_LEASE"), let v = Int64(s), v >= 1, v <= 3600 { return v * 1000 }
        return 10_000
    }()

    /// This process: its node's domain, its pid and a random number (a reused pid is another
    /// process). Made anew in a fork child.
    private func proc(_ v: Volume) -> String {
        if procID.isEmpty { procID = "pid=\(getpid()) r=\(UInt64.random(in: 1...UInt64.max))" }
        return domain(v) + " " + procID
    }

    /// The node-local lock domain of volume `v`: the node (boot, pid and mount namespaces)
    /// and the cache directory whose lock files this process uses. A node that cannot be
    /// identified makes every process a domain of its own (safe: it then competes in the
    /// cluster with the other processes of its node too).
    private func domain(_ v: Volume) -> String {
        let node = StagingOwner.current(cacheRoot: v.cache.root).node
        if node.isEmpty {
            if procID.isEmpty { procID = "pid=\(getpid()) r=\(UInt64.random(in: 1...UInt64.max))" }
            return "proc " + procID
        }
        return "node=\(node) cache=\(v.cache.root)"
    }

    private func owner(_ v: Volume, _ handle: Int64) -> ClusterLockOwner {
        let d = domain(v)
        return ClusterLockOwner(domain: d, proc: proc(v), handle: handle)
    }

    func afterForkInChild() {
        lock.reinitialize()
        // The child holds none of the parent's leases: POSIX locks are not inherited, and the
        // flock/OFD locks of inherited descriptions stay the parent's rows (SEMANTICS.md).
        held = [:]
        pending = []
        refused = []
        renewerRunning = false
        procID = ""
        lastRenewFailed = false
    }

    /// [lo, hi) of a request (fcntl's start and length, already absolute; len 0: to the end,
    /// negative: the bytes before start).
    static func range(_ call: ClusterLockCall, start: Int64, len: Int64) throws(Errno) -> (lo: Int64, hi: Int64) {
        if call == .flock { return ClusterLockRange.wholeFile }
        if len == 0 { return (start, Int64.max) }
        if len > 0 {
            let (hi, over) = start.addingReportingOverflow(len)
            return (start, over ? Int64.max : hi)
        }
        let lo = start &+ len
        if lo < 0 { throw Errno.invalid }
        return (lo, start)
    }

    /// Whether `ranges` (sorted, disjoint) cover [lo, hi) entirely.
    static func covered(_ ranges: [ClusterLockRange], _ lo: Int64, _ hi: Int64) -> Bool {
        var at = lo
        for r in ranges where r.hi > at {
            if r.lo > at { return false }
            at = r.hi
            if at >= hi { return true }
        }
        return at >= hi
    }

    /// Take (type F_RDLCK/F_WRLCK) or release (F_UNLCK) a lock on the cluster, after the shim
    /// changed the node-local lock on `lockfd` the same way. EAGAIN: another node holds a
    /// conflicting lock (nothing changed; the shim waits or undoes the node-local change).
    func change(_ v: Volume, mount: Int, ino: Ino, call: ClusterLockCall, lockfd: Int32, type: Int32,
                start: Int64, len: Int64) throws(Errno) {
        let (lo, hi) = try ClusterLocks.range(call, start: start, len: len)
        let key = Key(mount: mount, ino: ino, kind: call.kind, handle: Int64(lockfd))
        let write: Bool?
        switch type {
        case Int32(F_RDLCK): write = false
        case Int32(F_WRLCK): write = true
        case Int32(F_UNLCK): write = nil
        default: throw Errno.invalid
        }
        lock.lock()
        let old = held[key] ?? []
        let new = ClusterLockRange.apply(old, lo: lo, hi: hi, write: write)
        let who = owner(v, Int64(lockfd))
        lock.unlock()
        if new == old { return }
        if let write, write || !ClusterLocks.covered(old, lo, hi) {
            // A write lock, or a read lock on bytes not held yet: checked against the other
            // nodes' locks (a read lock on bytes this owner holds already cannot conflict).
            // A waiter's retries look first without the volume's write lock, which keeps
            // them out of the writers' queue.
            let want = ClusterLockRange(write: write, lo: lo, hi: hi)
            if lock.withLock({ refused.contains(key) }),
               try v.meta.clusterLockConflict(ino, domain: who.domain, kind: call.kind, want: want) != nil {
                throw Errno.wouldBlock
            }
            if try v.meta.clusterLockTake(ino, owner: who, kind: call.kind, want: want, ranges: new,
                                          ttlMs: ClusterLocks.ttlMs) != nil {
                lock.withLock { _ = refused.insert(key) }
                if call == .flock && !old.isEmpty {
                    // flock converts by removing the old lock first (Linux): a refused
                    // conversion leaves none, and two nodes upgrading a shared lock at once
                    // cannot wait for each other forever.
                    try? v.meta.clusterLockSet(ino, owner: who, kind: call.kind, ranges: [], ttlMs: ClusterLocks.ttlMs)
                    lock.withLock { held[key] = nil }
                }
                throw Errno.wouldBlock
            }
            lock.withLock { _ = refused.remove(key) }
        } else {
            // An unlock, or a read lock inside a write lock held (a downgrade): no check.
            do throws(Errno) {
                try v.meta.clusterLockSet(ino, owner: who, kind: call.kind, ranges: new, ttlMs: ClusterLocks.ttlMs)
            } catch {
                if new.isEmpty {
                    Log.error("cannot release a lock of inode \(ino) on \(v.meta.path) (\(error)); it is retried, and lapses \(ClusterLocks.ttlMs / 1000) s after the last renewal at the latest")
                    lock.withLock { pending.append((mount, ino, Int64(lockfd))); held[key] = nil }
                    startRenewer(v)
                }
                throw error
            }
        }
        lock.withLock {
            if new.isEmpty { held[key] = nil } else { held[key] = new }
        }
        if !new.isEmpty { startRenewer(v) }
    }

    /// After a refused request: put the node-local lock on `lockfd` back as the cluster
    /// records it for [start, start+len) (the shim changed it before asking).
    func undo(mount: Int, ino: Ino, call: ClusterLockCall, lockfd: Int32, start: Int64, len: Int64) {
        guard let (lo, hi) = try? ClusterLocks.range(call, start: start, len: len) else { return }
        let key = Key(mount: mount, ino: ino, kind: call.kind, handle: Int64(lockfd))
        let ranges = lock.withLock { held[key] ?? [] }
        if call == .flock {
            let op: Int32 = ranges.isEmpty ? LOCK_UN : (ranges[0].write ? LOCK_EX : LOCK_SH) | LOCK_NB
            try? Sys.flock(lockfd, op)
            return
        }
        let cmd: Int32 = call == .ofd ? 37 : F_SETLK  // F_OFD_SETLK (not in Glibc's Swift overlay)
        func set(_ type: Int32, _ lo: Int64, _ hi: Int64) {
            var l = flock()
            l.l_type = Int16(type)
            l.l_whence = Int16(SEEK_SET)
            l.l_start = Int(lo)
            l.l_len = hi == Int64.max ? 0 : Int(hi - lo)
            _ = hl_sys_fcntl_lock(lockfd, cmd, &l)
        }
        set(Int32(F_UNLCK), lo, hi)
        for r in ranges where r.overlaps(lo, hi) {
            set(r.write ? Int32(F_WRLCK) : Int32(F_RDLCK), max(r.lo, lo), min(r.hi, hi))
        }
    }

    /// F_GETLK: a lock of another node that would block `type` on the range.
    func conflict(_ v: Volume, ino: Ino, call: ClusterLockCall, type: Int32, start: Int64,
                  len: Int64) throws(Errno) -> ClusterLockRange? {
        let (lo, hi) = try ClusterLocks.range(call, start: start, len: len)
        let d = lock.withLock { domain(v) }
        return try v.meta.clusterLockConflict(ino, domain: d, kind: call.kind,
                                              want: ClusterLockRange(write: type == Int32(F_WRLCK), lo: lo, hi: hi))?.range
    }

    /// A lock descriptor of this process is closed: its rows (both families) go.
    func release(_ v: Volume, mount: Int, ino: Ino, lockfd: Int32) {
        let h = Int64(lockfd)
        let had = lock.withLock { () -> Bool in
            if !refused.isEmpty { refused = refused.filter { !($0.mount == mount && $0.ino == ino && $0.handle == h) } }
            let keys = held.keys.filter { $0.mount == mount && $0.ino == ino && $0.handle == h }
            for k in keys { held[k] = nil }
            return !keys.isEmpty
        }
        guard had else { return }
        let p = lock.withLock { proc(v) }
        do throws(Errno) {
            try v.meta.clusterLockRelease(proc: p, ino: ino, handle: h)
        } catch {
            lock.withLock { pending.append((mount, ino, h)) }
            startRenewer(v)
        }
    }

    /// Exit or exec: every row of this process goes.
    func releaseAll(_ volume: (Int) -> Volume?) {
        let mounts = lock.withLock { () -> Set<Int> in
            var m = Set(held.keys.map { $0.mount })
            for p in pending { m.insert(p.mount) }
            held = [:]
            pending = []
            return m
        }
        for m in mounts {
            guard let v = volume(m) else { continue }
            let p = lock.withLock { proc(v) }
            try? v.meta.clusterLockRelease(proc: p)
        }
    }

    // MARK: renewal

    private final class Box { let run: () -> Void; init(_ run: @escaping () -> Void) { self.run = run } }

    private func startRenewer(_ v: Volume) {
        let start = lock.withLock { () -> Bool in
            if renewerRunning { return false }
            renewerRunning = true
            return true
        }
        guard start else { return }
        let box = Unmanaged.passRetained(Box { [self] in renewLoop() }).toOpaque()
        var tid = pthread_t()
        // The thread never runs a handler of the program (every signal blocked) and routes its
        // own libc calls past the shim (the re-entry guard).
        var all = sigset_t(), old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &old)
        let rc = pthread_create(&tid, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            hl_sys_guard_thread(1)
            hl_gate_enter()
            b.run()
            return nil
        }, box)
        pthread_sigmask(SIG_SETMASK, &old, nil)
        if rc == 0 {
            pthread_detach(tid)
        } else {
            Unmanaged<Box>.fromOpaque(box).release()
            lock.withLock { renewerRunning = false }
            Log.error("cannot start the thread that renews lock leases (\(rc)): locks held longer than \(ClusterLocks.ttlMs / 1000) s stop excluding other nodes")
        }
    }

    private func renewLoop() {
        let engine = Engine.shared
        while true {
            var ts = timespec(tv_sec: Int(ClusterLocks.ttlMs / 3000), tv_nsec: Int((ClusterLocks.ttlMs / 3) % 1000) * 1_000_000)
            var rest = timespec()
            hl_gate_pause()
            while nanosleep(&ts, &rest) != 0 && errno == EINTR { ts = rest }
            hl_gate_resume()
            let (mounts, retry) = lock.withLock { () -> (Set<Int>, [(mount: Int, ino: Ino?, handle: Int64?)]) in
                (Set(held.keys.map { $0.mount }), pending)
            }
            for p in retry {
                guard let v = try? engine.volume(p.mount) else { continue }
                let id = lock.withLock { proc(v) }
                if (try? v.meta.clusterLockRelease(proc: id, ino: p.ino, handle: p.handle)) != nil {
                    lock.withLock { pending.removeAll { $0.mount == p.mount && $0.ino == p.ino && $0.handle == p.handle } }
                }
            }
            for m in mounts {
                guard let v = try? engine.volume(m) else { continue }
                let id = lock.withLock { proc(v) }
                do throws(Errno) {
                    _ = try v.meta.clusterLockRenew(proc: id, ttlMs: ClusterLocks.ttlMs)
                    lock.withLock { lastRenewFailed = false }
                } catch {
                    let first = lock.withLock { () -> Bool in
                        defer { lastRenewFailed = true }
                        return !lastRenewFailed
                    }
                    if first {
                        Log.error("cannot renew the lock leases of this process on \(v.meta.path) (\(error)): other nodes may take its locks \(ClusterLocks.ttlMs / 1000) s after the last renewal")
                    }
                }
            }
        }
    }
}

extension Engine {
    /// hilbert_abi.h `cluster_lock`: 1 when the volume is one node's (the shim stops asking
    /// for this mount), 0 when done, EAGAIN when another node holds a conflicting lock.
    public func clusterLock(mount: Int, ino: Ino, call: Int32, lockfd: Int32, type: Int32, start: Int64, len: Int64,
                            undo: Bool) throws(Errno) -> Int {
        guard let c = ClusterLockCall(rawValue: call) else { throw Errno.invalid }
        let v = try volume(mount)
        if !v.meta.sharedBetweenNodes { return 1 }
        if undo {
            ClusterLocks.shared.undo(mount: mount, ino: ino, call: c, lockfd: lockfd, start: start, len: len)
            return 0
        }
        do throws(Errno) {
            try ClusterLocks.shared.change(v, mount: mount, ino: ino, call: c, lockfd: lockfd, type: type,
                                           start: start, len: len)
        } catch where error != .wouldBlock && error != .invalid {
            if let e = v.meta.lastError { Log.error("lock of inode \(ino): \(e.message)") }
            throw Errno(ENOLCK)
        }
        return 0
    }

    /// `cluster_getlk`: the conflicting lock of another node, if any.
    public func clusterConflict(mount: Int, ino: Ino, call: Int32, type: Int32, start: Int64,
                                len: Int64) throws(Errno) -> ClusterLockRange? {
        guard let c = ClusterLockCall(rawValue: call) else { throw Errno.invalid }
        let v = try volume(mount)
        if !v.meta.sharedBetweenNodes { return nil }
        return try ClusterLocks.shared.conflict(v, ino: ino, call: c, type: type, start: start, len: len)
    }

    /// `cluster_release`: lock descriptor `lockfd` of inode `ino` is being closed.
    public func clusterRelease(mount: Int, ino: Ino, lockfd: Int32) {
        guard let v = try? volume(mount), v.meta.sharedBetweenNodes else { return }
        ClusterLocks.shared.release(v, mount: mount, ino: ino, lockfd: lockfd)
    }

    /// `cluster_release_all`: exit or exec.
    public func clusterReleaseAll() {
        ClusterLocks.shared.releaseAll { m in try? self.volume(m) }
    }
}
