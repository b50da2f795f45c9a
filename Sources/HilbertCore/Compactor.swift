import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

public struct CompactOptions: Sendable {
    /// A pack holds at most this many bytes (encoded); at most `PackBuilder.maxBytes`, the
    /// largest a reader keeps whole.
    public var packBytes = PackBuilder.maxBytes
    /// Files up to this size are packed: their content is one block (inline, or an object
    /// of its own). Bigger files are already stored in objects of a useful size.
    public var maxFileBytes = 256 << 10
    /// A pack holds at most this many files, so that the transaction that points them at it
    /// stays a few thousand rows (on PostgreSQL one statement per kind of row, on SQLite what
    /// the write lock is held for) even where the files are a few bytes each: 16 MiB of
    /// 1-byte files would be some 500,000. `hilbert import` hands its packs over at the same count.
    public var packFiles = 4096
    /// A pack whose live blocks are less than this share of its bytes (files removed or
    /// rewritten since) is rewritten: its live blocks go into new packs and it is deleted.
    public var rewriteBelow = 0.5
    public init() {}
}

public struct CompactReport: Sendable {
    public var directories = 0
    public var files = 0
    /// Files whose content was inline or a small object of its own.
    public var candidates = 0
    public var packed = 0
    /// Candidates changed (written, removed) between reading and packing: left as they were.
    public var changed = 0
    public var packs = 0
    public var packBytes: UInt64 = 0
    /// Packs mostly dead when compaction began, and of those, the ones it emptied (deleted).
    public var sparsePacks = 0
    public var sparsePacksEmptied = 0
    public var inlineBytesMoved: UInt64 = 0
    /// Objects of their own the packed files no longer use, deleted from the store.
    public var looseObjectsReleased = 0
    public var seconds = 0.0
}

/// `hilbert compact`: moves the content of small files — inline in the metadata, or in
/// objects of their own — into pack objects, online. Each pack is written and stored first;
/// then one metadata transaction points the files at it, each only if it still has the
/// content that was read (its version), so a reader sees the same bytes before and after
/// and a writer that came in between wins. docs/FORMAT.md, "Extents and packs".
public final class Compactor {
    let meta: MetaStore
    let store: ObjectStore
    let options: CompactOptions
    let codec: BlockCompression
    public var progress: ((String) -> Void)?

    private var pending: [PackInput] = []
    /// The pending files' pack size, at most (its magic and their blocks).
    private var pendingBytes = PackBuilder.magic.count
    private var report = CompactReport()
    private var seen = Set<Ino>()
    private var sparse: [UInt64: (size: UInt64, live: UInt64)] = [:]
    private var lastTick = hl_monotonic_ns()

    public init(meta: MetaStore, store: ObjectStore, options: CompactOptions = CompactOptions()) {
        self.meta = meta
        self.store = store
        self.options = options
        codec = meta.format.compression == "zstd" ? .zstd : .none
    }

    /// Compact the tree at `root` (a directory or a file, by inode).
    public func run(root: Ino) throws(HilbertError) -> CompactReport {
        let start = hl_monotonic_ns()
        do throws(Errno) {
            sparse = try meta.sparsePacks(below: options.rewriteBelow)
            report.sparsePacks = sparse.count
            var dirs: [Ino] = []
            let a = try meta.getattr(root)
            if a.isDirectory {
                dirs.append(root)
            } else if a.isRegular {
                let layout = try meta.dataLayout(root)
                try consider(layout.attr, inline: layout.inline, blocks: layout.blocks)
            }
            while let dir = dirs.popLast() {
                report.directories += 1
                var cookie: UInt64 = 0
                while true {
                    // A page of entries with their content: a few statements per page (where
                    // reads are round trips), not one read per file.
                    let page = try meta.exportPage(dir, after: cookie, limit: 1000, cred: .root, extras: false)
                    for e in page.entries {
                        if e.attr.isDirectory { dirs.append(e.attr.ino); continue }
                        guard e.attr.isRegular else { continue }
                        if let failure = e.failure { throw failure }
                        try consider(e.attr, inline: e.inline, blocks: e.blocks)
                    }
                    guard let next = page.next else { break }
                    cookie = next
                }
                tick()
            }
            try flushPack()
            finishPendingDeletions()
            if !sparse.isEmpty {
                report.sparsePacksEmptied = try meta.packLiveBytes(Array(sparse.keys)).values.filter { $0 == 0 }.count
            }
        } catch {
            let why = meta.lastError?.message ?? DataErrors.last?.message ?? "\(error)"
            throw HilbertError(error, "compact: \(why)")
        }
        report.seconds = Double(hl_monotonic_ns() &- start) / 1e9
        return report
    }

    /// A file's content (`a`, `inline` and `blocks`, read together): read it when it is small
    /// and not yet in a pack (or in a pack mostly dead); a pack is stored when enough is pending.
    private func consider(_ a: Attr, inline: [UInt8]?, blocks: [BlockRef]) throws(Errno) {
        let ino = a.ino
        guard seen.insert(ino).inserted else { return }     // hard links: once
        report.files += 1
        let limit = min(options.packBytes, PackBuilder.maxBytes)
        guard !a.staged, a.size > 0, a.size <= UInt64(options.maxFileBytes),
              PackBuilder.magic.count + PackBuilder.pieceBound(rawLength: Int(a.size)) <= limit else { return }
        let raw: [UInt8]
        if let inline {
            raw = inline
        } else if blocks.count == 1, let b = blocks.first, b.index == 0, b.objectID != 0,
                  !b.isPacked || sparse[b.objectID] != nil, UInt64(b.rawLength) == a.size {
            do throws(Errno) { raw = try fetchBlock(b, store: store) } catch {
                // Replaced (and its object deleted) since the layout was read: leave it.
                if try meta.getattr(ino).version != a.version { report.changed += 1; return }
                throw error
            }
        } else {
            return
        }
        guard raw.count == Int(a.size) else { return }
        report.candidates += 1
        let piece = PackBuilder.pieceBound(rawLength: raw.count)
        if pendingBytes + piece > limit || pending.count >= options.packFiles { try flushPack() }
        pending.append(PackInput(ino: ino, version: a.version, raw: raw))
        pendingBytes += piece
    }

    /// Store the pending files as one pack and point them at it.
    private func flushPack() throws(Errno) {
        if pending.isEmpty { return }
        defer { pending.removeAll(keepingCapacity: true); pendingBytes = PackBuilder.magic.count }
        let stored = try storePack(pending, meta: meta, store: store, codec: codec,
                                   owner: StagingOwner.current(cacheRoot: "(hilbert compact)").record)
        report.packed += stored.adoption.adopted
        report.changed += stored.adoption.changed
        report.inlineBytesMoved += stored.adoption.inlineBytesMoved
        report.looseObjectsReleased += stored.looseObjectsDeleted
        if stored.bytes > 0 {
            report.packs += 1
            report.packBytes += UInt64(stored.bytes)
        }
        tick()
    }

    /// Delete what the metadata released but the backend could not name in the transaction
    /// (packs emptied on PostgreSQL), and any other deletion left pending: they are objects
    /// nothing references any more (as `hilbert flush` does).
    private func finishPendingDeletions() {
        var after: UInt64 = 0
        while let page = try? meta.pendingDeletions(after: after, limit: 1000, dueBy: Timespec.now().sec), !page.isEmpty {
            deleteReleased(page, meta: meta, store: store)
            after = page.last!.objectID
        }
    }

    /// A progress line about once a second.
    private func tick() {
        guard let progress else { return }
        let now = hl_monotonic_ns()
        if now &- lastTick < 1_000_000_000 { return }
        lastTick = now
        progress("compact: \(report.files) files seen in \(report.directories) directories, \(report.packed) packed into \(report.packs) packs (\(report.packBytes) bytes)")
    }
}
