import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// Where a path operation points (see hl_loc in hilbert_abi.h).
public struct Location {
    public var mount: Int
    public var dir: Ino
    public var path: [UInt8]?
    public init(mount: Int, dir: Ino, path: [UInt8]?) {
        self.mount = mount; self.dir = dir; self.path = path
    }
}

/// The engine of one process: the mount table, lazily opened volumes, and the file
/// operations the shim routes here. One instance per process (`Engine.shared`).
public final class Engine {
    public static let shared = Engine()

    let lock = Lock()
    private(set) var mounts: [MountSpec] = []
    private var volumes: [Volume?] = []
    private var openErrors: [Errno?] = []
    /// Staging files this process registered, by inode: spares a metadata lookup on the
    /// close→commit path. A hint only; every decision is re-checked in a transaction.
    private var stagingHints: [UInt64: String] = [:]
    private var committedStates: [String: CommittedState] = [:]
    private(set) var cacheRoot = ""
    private var started = false

    public init() {}

    /// Idempotent. `mountsText` is HILBERT_MOUNTS as the shim parsed it (nil: the default).
    public func start(mountsText: String?) throws(HilbertError) {
        try lock.withLock { () throws(HilbertError) in
            if started { return }
            // Inside a program, SQLite's descriptors must be engine-private: high numbers the
            // program's dup2/close cannot clobber (bash `exec 3>file` would corrupt the DB).
            SQLiteSystemCalls.routeThroughSys()
            if let text = mountsText, !text.isEmpty {
                mounts = try Settings.parseMounts(text)
            } else {
                mounts = [MountSpec(prefix: Settings.defaultPrefix, metaURL: Settings.defaultMetaURL)]
            }
            cacheRoot = Settings.cacheDirectory
            volumes = Array(repeating: nil, count: mounts.count)
            openErrors = Array(repeating: nil, count: mounts.count)
            started = true
            ForkSafety.install()
        }
    }

    /// The volume behind mount `index`, opened on first use. An open failure is reported once
    /// (one stderr line) and then answered with its errno.
    func volume(_ index: Int) throws(Errno) -> Volume {
        lock.lock()
        defer { lock.unlock() }
        guard index >= 0, index < volumes.count else { throw Errno.invalid }
        if let v = volumes[index] { return v }
        if let e = openErrors[index] { throw e }
        do {
            let v = try Volume.open(mounts[index], cacheRoot: cacheRoot, createIfDefault: true)
            volumes[index] = v
            return v
        } catch {
            Log.error(error.message)
            openErrors[index] = error.errno
            throw error.errno
        }
    }

    /// What this process last committed from a staging file still in use (by name).
    struct CommittedState { var size: Int; var mtime: Timespec; var ctime: Timespec; var version: UInt64 }
    func noteCommittedState(_ name: String, _ s: CommittedState) { lock.withLock { committedStates[name] = s } }
    func committedState(_ name: String) -> CommittedState? { lock.withLock { committedStates[name] } }
    func forgetCommittedState(_ name: String) { lock.withLock { _ = committedStates.removeValue(forKey: name) } }

    func noteStaging(_ ino: UInt64, _ name: String) { lock.withLock { stagingHints[ino] = name } }
    func stagingHint(_ ino: UInt64) -> String? { lock.withLock { stagingHints[ino] } }
    func forgetStaging(_ ino: UInt64) { lock.withLock { _ = stagingHints.removeValue(forKey: ino) } }

    /// Volumes opened so far (for exit-time work and fork handling).
    func openedVolumes() -> [Volume] {
        lock.withLock { volumes.compactMap { $0 } }
    }

    /// The program's umask now: as it last set it (tracked by the shim), else as inherited
    /// (read from /proc when first needed: most processes never create a file).
    var umask: UInt32 {
        let tracked = hl_sys_tracked_umask()
        if tracked >= 0 { return UInt32(tracked) }
        let inherited = hl_read_umask()
        return inherited >= 0 ? UInt32(inherited) : 0o022
    }

    // Fork: no other thread may be inside SQLite or hold an engine lock while the child is
    // created (the child would wait forever); the child drops the parent's SQLite handles and
    // reopens lazily.
    //
    // The volumes' metadata locks are taken before the engine lock, the order the engine's
    // own code takes them in (a commit's transaction notes its state under `lock`): taking
    // `lock` first deadlocked a program whose main thread forked while another thread
    // committed. A volume opened meanwhile (under `lock`) makes it start over.
    private var heldForFork: [Volume] = []
    func beforeFork() {
        while true {
            let opened = openedVolumes()
            for v in opened { v.meta.beforeFork() }
            lock.lock()
            if volumes.lazy.compactMap({ $0 }).count == opened.count {
                heldForFork = opened
                break
            }
            lock.unlock()
            for v in opened.reversed() { v.meta.afterForkInParent() }
        }
        // Last, with the locks held (a thread holding one may be waiting for another inside
        // the gate); threads that then wait for these locks step out (forkgate.c).
        _ = hl_gate_fork_prepare()
    }
    func parentAfterFork() {
        hl_gate_fork_parent()
        let held = heldForFork
        heldForFork = []
        lock.unlock()
        for v in held.reversed() { v.meta.afterForkInParent() }
    }
    func childAfterFork() {
        hl_gate_fork_child()
        heldForFork = []
        lock.reinitialize()
        CredentialCache.afterForkInChild()
        ClusterLocks.shared.afterForkInChild()
        PackCache.shared.afterForkInChild()
        PartialCopies.shared.afterForkInChild { $0.afterForkInChild() }
        SparseStagings.shared.afterForkInChild()
        WriteBehind.shared.afterForkInChild()
        for v in volumes.compactMap({ $0 }) {
            v.meta.afterForkInChild()
            v.packer.afterForkInChild()
            v.cache.reinitializeAfterFork()
            v.store.afterForkInChild()
        }
    }
}

enum ForkSafety {
    nonisolated(unsafe) static var installed = false
    static func install() {
        if installed { return }
        installed = true
        pthread_atfork({ Engine.shared.beforeFork() },
                       { Engine.shared.parentAfterFork() },
                       { Engine.shared.childAfterFork() })
    }
}

extension Errno {
    /// Resolution left the volume; the host path waits in the thread's redirect slot.
    public static let redirect = Errno(100000)
}

func redirect(to hostPath: [UInt8]) -> Errno {
    hostPath.withUnsafeBufferPointer { b in
        b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { hl_redirect_set($0, b.count) }
    }
    return .redirect
}
