import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// The staging files this process writes, watched by one background thread that stores their
/// whole blocks while they are written (WriteBehindFile), so that closing a big file uploads
/// only its last blocks. The thread polls (every 100 ms, one stat per file: the shim does not
/// report writes, and a program may write through descriptors the engine never sees), runs
/// while files are watched and stops after a few idle seconds: a process that writes no big
/// file never has it busy.
final class WriteBehind: @unchecked Sendable {
    static let shared = WriteBehind()
    /// HILBERT_WRITE_BEHIND=0: big files are stored at close only.
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
        var touched: Int64 = Timespec.now().sec
        init(volume: Volume, ino: Ino, file: WriteBehindFile) { self.volume = volume; self.ino = ino; self.file = file }
    }

    private let monitor = Monitor()
    private var files: [String: Watched] = [:]
    private var running = false

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
        running = false
    }

    private func discard(_ w: Watched) {
        let gone = w.file.seal()
        for id in gone.objectIDs { try? w.volume.store.delete(objectKey(id: id)) }
        for key in gone.keys { try? w.volume.meta.finishUpload(commit: key) }
    }

    private func run() {
        var idle = 0
        while true {
            monitor.lock()
            if files.isEmpty { idle += 1 } else { idle = 0 }
            if idle > WriteBehind.idleRounds {
                running = false
                monitor.unlock()
                return
            }
            let watched = Array(files)
            monitor.unlock()

            var jobs: [(Watched, UInt32)] = []
            var workers = 1
            for (path, w) in watched {
                guard let st = try? Sys.stat(path), UInt64(st.st_ino) == w.file.inode, UInt64(st.st_dev) == w.file.device else {
                    retireIfSame(path, w)   // retired by another process of the node
                    continue
                }
                let size = Int64(st.st_size)
                if size < 2 * Int64(w.file.blockSize) { continue }
                if !w.knowsCommitted {
                    guard let blocks = try? w.volume.meta.dataLayout(w.ino).blocks else { continue }
                    w.file.reopen(committed: blocks)
                    w.knowsCommitted = true
                }
                let n = max(1, min(8, w.volume.store.concurrency))
                workers = max(workers, n)
                for index in w.file.due(size: size, limit: n - min(n, jobs.count)) { jobs.append((w, index)) }
                keepAlive(w)
            }
            if jobs.isEmpty {
                monitor.lock(); monitor.wait(nanoseconds: WriteBehind.pollNanos); monitor.unlock()
                continue
            }
            store(jobs, workers: workers)
        }
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

    /// Store the blocks of `jobs`, on this thread and up to `workers - 1` more.
    private func store(_ jobs: [(Watched, UInt32)], workers: Int) {
        let next = Lock()
        var taken = 0
        let work: (Int) -> Void = { _ in
            while true {
                let i = next.withLock { () -> Int in defer { taken += 1 }; return taken }
                if i >= jobs.count { return }
                let (w, index) = jobs[i]
                let v = w.volume
                let owner = v.cache.stagingOwner.record
                w.file.store(index, into: v.store, codec: v.format.compression == "zstd" ? .zstd : .none, level: BlockCodec.defaultLevel,
                             allocate: { (n: Int, key: UInt64) throws(Errno) -> UInt64 in
                                 try v.meta.allocateUploadIDs(count: n, commit: key, owner: owner)
                             })
            }
        }
        let threads = WorkerThreads.start(min(workers, jobs.count) - 1, work)
        work(0)
        threads.join()
    }
}

extension Engine {
    /// A program's write descriptor: its staging file is watched for blocks to store early.
    func watchWrites(_ fd: Int32, _ file: OpenFile) {
        guard WriteBehind.enabled, let v = try? volume(file.mount) else { return }
        guard let name = stagingHint(file.ino) ?? (try? v.meta.staging(file.ino)) ?? nil else { return }
        WriteBehind.shared.watch(v, ino: file.ino, path: v.cache.stagingPath(name), fd: fd)
    }
}
