import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData

/// Packs the small files a process commits: `close` stores a small file's content in the
/// metadata (inline: durable in one transaction, as always), and once the process has
/// committed `filesPerPack` of them (or 8 MiB; a pack never outgrows `PackBuilder.maxBytes`), it stores their content as one pack object and
/// moves them there in one more transaction. A job writing millions of small files thus leaves
/// about one object per `filesPerPack` files and keeps their bytes out of the metadata, while
/// every `close` keeps its contract (stored and committed before it returns). What is pending
/// when the process exits is packed then, if it is at least `minimumAtExit` files (or 1 MiB):
/// a process that wrote a file or two (a job array's task, `echo > f`) would make an object
/// per file, worse than leaving them inline. Those, and the files of a process that was
/// killed or exec'd meanwhile, stay inline until `hilbert compact`. docs/FORMAT.md,
/// "Extents and packs".
final class SmallFilePacker: @unchecked Sendable {
    /// HILBERT_PACK_FILES (a count; 0 turns packing off) overrides it.
    static let defaultFilesPerPack = 1024
    static let maxPendingBytes = 8 << 20
    static let minimumAtExit = 64
    static let minimumBytesAtExit = 1 << 20

    let filesPerPack: Int
    private let meta: MetaStore
    private let store: ObjectStore
    private let codec: BlockCompression
    private let owner: String
    private let lock = Lock()
    private var pending: [PackInput] = []
    private var pendingBytes = 0
    /// The size of the pending files' pack, at most (its magic and their blocks).
    private var packBound = PackBuilder.magic.count
    /// Files pending in all packers of the process, read at exit before any engine lock is
    /// taken: an exiting process with nothing pending takes none (another thread may hold one
    /// while the process exits). Changed under `counterLock` (packers of several volumes).
    nonisolated(unsafe) private(set) static var pendingInProcess = 0
    private static let counterLock = Lock()
    private static func count(_ delta: Int) { counterLock.withLock { pendingInProcess += delta } }

    init(meta: MetaStore, store: ObjectStore, owner: String) {
        self.meta = meta
        self.store = store
        self.owner = owner
        codec = meta.format.compression == "zstd" ? .zstd : .none
        if let text = getEnv("HILBERT_PACK_FILES"), let n = Int(text), n >= 0 {
            filesPerPack = n
        } else {
            filesPerPack = SmallFilePacker.defaultFilesPerPack
        }
    }

    /// `bytes` were just committed inline as `version` of `ino`.
    func committed(ino: Ino, version: UInt64, bytes: [UInt8]) {
        let piece = PackBuilder.pieceBound(rawLength: bytes.count)
        if filesPerPack == 0 || bytes.isEmpty || PackBuilder.magic.count + piece > PackBuilder.maxBytes { return }
        let full: [[PackInput]] = lock.withLock {
            var full: [[PackInput]] = []
            if packBound + piece > PackBuilder.maxBytes { full.append(take()) }
            pending.append(PackInput(ino: ino, version: version, raw: bytes))
            pendingBytes += bytes.count
            packBound += piece
            SmallFilePacker.count(1)
            if pending.count >= filesPerPack || pendingBytes >= SmallFilePacker.maxPendingBytes { full.append(take()) }
            return full
        }
        for files in full { pack(files) }
    }

    /// Pack what is pending, when it is enough for a pack (at exit).
    func flush() {
        let all = lock.withLock { () -> [PackInput] in
            guard pending.count >= SmallFilePacker.minimumAtExit || pendingBytes >= SmallFilePacker.minimumBytesAtExit else { return [] }
            return take()
        }
        if !all.isEmpty { pack(all) }
    }

    /// In a child after fork: the parent packs what it committed.
    func afterForkInChild() {
        lock.reinitialize()
        pending = []
        pendingBytes = 0
        packBound = PackBuilder.magic.count
        SmallFilePacker.counterLock.reinitialize()
        SmallFilePacker.pendingInProcess = 0
    }

    private func take() -> [PackInput] {
        SmallFilePacker.count(-pending.count)
        defer { pending = []; pendingBytes = 0; packBound = PackBuilder.magic.count }
        return pending
    }

    /// Best effort: the files are committed already; on failure they stay inline.
    private func pack(_ files: [PackInput]) {
        do throws(Errno) {
            _ = try storePack(files, meta: meta, store: store, codec: codec, owner: owner)
        } catch {
            Log.debug("packing \(files.count) small files failed: \(error) (\(meta.lastError?.message ?? DataErrors.last?.message ?? "")); they stay in the metadata until 'hilbert compact'")
        }
    }
}
