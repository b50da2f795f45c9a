import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// The staging files this process writes, watched by one background thread that stores their
/// whole blocks while they are written (WriteBehindFile), so that closing a big file uploads
/// only its last blocks. The thread polls (one stat per file every 100 ms, every second while
/// the file is smaller than two blocks: the shim does not report writes, and a program may
/// write through descriptors the engine never sees), hands the blocks due to worker threads,
/// runs while files are watched and stops after a few idle seconds: a process that writes no
/// big file never has it busy.
final class WriteBehind: @unchecked Sendable {
    static let shared = WriteBehind()
    /// On unless HILBERT_WRITE_BEHIND=0. Its threads keep out of a fork's way through the fork
    /// gate (forkgate.c); before it, a child could inherit a Swift runtime lock they held.
    static let enabled: Bool = getEnv("HILBERT_WRITE_BEHIND") != "0"
    private static let pollNanos: UInt64 = 100_000_000
    private static let idleRounds = 50
    /// Upload keys are refreshed this often (gc on another node gives up on a silent hour).
    private static let touchSeconds: Int64 = 600

    private final class Watched {
        let volume: Volume
        let ino: Ino
        let file: WriteBehindFile
        var knowsCommitted = false
        /// Rounds to skip: a file still smaller than two blocks is looked at once a second.
        var skip = 0
        var touched: Int64 = Timespec.now().sec
        init(volume: Volume, ino: Ino, file: WriteBehindFile) { self.volume = volume; self.ino = ino; self.file = file }
    }

    private let monitor = Monitor()
    private var files: [String: Watched] = [:]
    private var running = false
    private var queue: [(Watched, UInt32)] = []
    private var workers = 0      // worker threads alive
    private var wanted = 0       // workers the watched files' stores want (their concurrency, at most 16)
    private var busy = 0         // blocks being stored

    /// Watch the staging file at `path` (the one behind the program's write descriptor `fd`).
    func watch(_ v: Volume, ino: Ino, path: String, fd: Int32) {
        guard WriteBehind.enabled, let st = try? Sys.fstat(fd) else { return }
        monitor.lock()
        if let w = files[path], w.file.inode == UInt64(st.st_ino), w.file.device == UInt64(st.st_dev) {
            monitor.unlock()
            return
        }
        let old = files[path]
        files[path] = Watched(volume: v, ino: ino,
                              file: WriteBehindFile(path: path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                                                    blockSize: v.format.blockSize, committed: []))
        let start = !running
        running = true
        monitor.unlock()
        if let old { discard(old) }
        if start && !startDetachedThread({ WriteBehind.shared.run() }) {
            monitor.lock(); running = false; monitor.unlock()
        }
    }

    /// The file stored for the staging file at `path`, if watched.
    func file(_ path: String) -> WriteBehindFile? {
        monitor.lock(); defer { monitor.unlock() }
        return files[path]?.file
    }

    /// The staging file at `path` is retired (committed, or its file removed): what was
    /// stored for it and not taken by a commit is deleted.
    func retire(_ path: String) {
        monitor.lock()
        let w = files.removeValue(forKey: path)
        monitor.unlock()
        if let w { discard(w) }
    }

    /// Process exit, after its commits: give up everything still stored.
    func shutdown() {
        monitor.lock()
        let all = Array(files.values)
        files.removeAll()
        monitor.unlock()
        for w in all { discard(w) }
    }

    /// In a child after fork: the parent's stored blocks are the parent's to commit or delete.
    func afterForkInChild() {
        monitor.reinitialize()
        files.removeAll()
        queue.removeAll()
        running = false
        workers = 0; wanted = 0; busy = 0
    }

    private func discard(_ w: Watched) {
        let gone = w.file.seal()
        for id in gone.objectIDs { try? w.volume.store.delete(objectKey(id: id)) }
        for key in gone.keys { try? w.volume.meta.finishUpload(commit: key) }
    }

    /// The poller: hands the blocks due to the workers, keeping at most two per worker queued.
    private func run() {
        var idle = 0
        while true {
            monitor.lock()
            if files.isEmpty { idle += 1 } else { idle = 0 }
            if idle > WriteBehind.idleRounds {
                running = false
                monitor.broadcast()
                monitor.unlock()
                return
            }
            let watched = Array(files)
            var room = max(0, 2 * max(wanted, 1) - queue.count - busy)
            monitor.unlock()

            var jobs: [(Watched, UInt32)] = []
            var want = 1
            for (path, w) in watched {
                if w.skip > 0 {
                    w.skip -= 1
                    continue
                }
                guard let st = try? Sys.stat(path), UInt64(st.st_ino) == w.file.inode, UInt64(st.st_dev) == w.file.device else {
                    retireIfSame(path, w)   // retired by another process of the node
                    continue
                }
                let size = Int64(st.st_size)
                if size < 2 * Int64(w.file.blockSize) {
                    w.skip = 9
                    continue
                }
                if !w.knowsCommitted {
                    guard let blocks = try? w.volume.meta.dataLayout(w.ino).blocks else { continue }
                    w.file.reopen(committed: blocks)
                    w.knowsCommitted = true
                }
                want = max(want, min(16, w.volume.store.concurrency))
                let due = w.file.due(size: size, limit: room)
                room -= due.count
                for index in due { jobs.append((w, index)) }
                keepAlive(w)
            }
            monitor.lock()
            queue.append(contentsOf: jobs)
            wanted = max(wanted, want)
            while workers < wanted && !jobs.isEmpty {
                guard startDetachedThread({ WriteBehind.shared.work() }) else { break }
                workers += 1
            }
            let noWorkers = workers == 0
            monitor.broadcast()
            if !noWorkers { monitor.wait(nanoseconds: WriteBehind.pollNanos) }
            monitor.unlock()
            if noWorkers { drain() }   // no thread could be started: store them here
            if jobs.isEmpty && noWorkers {
                monitor.lock(); monitor.wait(nanoseconds: WriteBehind.pollNanos); monitor.unlock()
            }
        }
    }

    /// A worker: stores queued blocks until the poller stops.
    private func work() {
        monitor.lock()
        while true {
            while queue.isEmpty && running { monitor.wait() }
            if queue.isEmpty {
                workers -= 1
                monitor.unlock()
                return
            }
            let (w, index) = queue.removeFirst()
            busy += 1
            monitor.unlock()
            store(w, index)
            monitor.lock()
            busy -= 1
            monitor.broadcast()
        }
    }

    private func drain() {
        while true {
            monitor.lock()
            if queue.isEmpty { monitor.unlock(); return }
            let (w, index) = queue.removeFirst()
            monitor.unlock()
            store(w, index)
        }
    }

    private func store(_ w: Watched, _ index: UInt32) {
        let v = w.volume
        let owner = v.cache.stagingOwner.record
        w.file.store(index, into: v.store, codec: v.format.compression == "zstd" ? .zstd : .none, level: BlockCodec.defaultLevel,
                     allocate: { (n: Int, key: UInt64) throws(Errno) -> UInt64 in
                         try v.meta.allocateUploadIDs(count: n, commit: key, owner: owner)
                     })
    }

    private func retireIfSame(_ path: String, _ w: Watched) {
        monitor.lock()
        let same = files[path] === w
        if same { files.removeValue(forKey: path) }
        monitor.unlock()
        if same { discard(w) }
    }

    private func keepAlive(_ w: Watched) {
        let now = Timespec.now().sec
        guard now - w.touched >= WriteBehind.touchSeconds else { return }
        w.touched = now
        let key = w.file.currentKey
        if key != 0 { try? w.volume.meta.touchUpload(commit: key) }
    }
}

extension Engine {
    /// A program's write descriptor: its staging file is watched for blocks to store early.
    func watchWrites(_ fd: Int32, _ file: OpenFile) {
        guard WriteBehind.enabled, let v = try? volume(file.mount) else { return }
        guard let name = stagingHint(file.ino) ?? (try? v.meta.staging(file.ino)) ?? nil else { return }
        WriteBehind.shared.watch(v, ino: file.ino, path: v.cache.stagingPath(name), fd: fd)
    }

    /// A write descriptor this process got across exec (hl_engine_api.watch_write).
    public func watchInherited(fd: Int32, file: OpenFile) {
        if file.kind == .write || file.kind == .sparseWrite { watchWrites(fd, file) }
    }
}
