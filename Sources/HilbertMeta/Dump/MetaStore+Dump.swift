import CHilbertSys
import HilbertSupport

/// What a dump holds, table by table (also what a load counts).
public struct DumpCounts: Equatable, Sendable {
    public var nodes = 0
    public var edges = 0
    public var symlinks = 0
    public var xattrs = 0
    public var inline = 0
    public var blocks = 0
    public var packs = 0
    public var deletedObjects = 0
    /// Bytes of the dump document.
    public var bytes: UInt64 = 0
    public init() {}
    public var entries: Int { nodes + edges + symlinks + xattrs + inline + blocks + packs + deletedObjects }
}

public struct DumpOptions: Sendable {
    /// Dump files that have uncommitted data in a staging area as last committed, instead of
    /// refusing (their uncommitted bytes are then not in the dump).
    public var ignoreStaging = false
    public init() {}
}

public struct DumpResult: Sendable {
    public var counts: DumpCounts
    /// Files with uncommitted data left out (`ignoreStaging`), and a few of their paths.
    public var stagedFiles = 0
    public var stagedExamples: [String] = []
}

/// The dump document (docs/FORMAT.md, "Dump format").
enum DumpFormat {
    /// 2: blocks may sit in packs (a block's `obj_off`, the `packs` section). A version 1 dump
    /// (no packs) still loads.
    static let version = 2
    /// The sections after the header, in the order they are written and must be read.
    static let sections = ["nodes", "edges", "symlinks", "xattrs", "inline", "blocks", "packs", "deleted_objects"]
    /// Those of a dump of `version`.
    static func sections(of version: UInt64) -> [String] { version == 1 ? sections.filter { $0 != "packs" } : sections }
    static let pageSize = 1000
    /// Inline rows per page: about 8 MiB of content.
    static func inlinePage(_ inlineMax: Int) -> Int { max(16, min(pageSize, (8 << 20) / max(1, inlineMax))) }
}

extension MetaStore {
    /// Write the whole metadata of the volume to `sink` as one JSON document, from one read
    /// transaction (one snapshot), a page of each table at a time. Refuses (EBUSY, explained)
    /// when files have uncommitted data in a staging area, unless `options.ignoreStaging`.
    /// `progress` is called about once a second with what was written so far.
    public func dump(options: DumpOptions = DumpOptions(),
                     to sink: @escaping (UnsafeRawBufferPointer) throws(Errno) -> Void,
                     progress: ((DumpCounts) -> Void)? = nil) throws(HilbertError) -> DumpResult {
        var failure: HilbertError?
        let out = DumpOutput { (b: UnsafeRawBufferPointer) throws(Errno) in
            do throws(Errno) { try sink(b) } catch {
                if failure == nil { failure = HilbertError(error, "cannot write the dump: \(error)") }
                throw error
            }
        }
        do throws(Errno) {
            return try read { () throws(Errno) -> DumpResult in
                var result = DumpResult(counts: DumpCounts())
                let staged = try backend.stagingRowCount()
                if staged > 0 {
                    for (ino, _) in try backend.allStagingRows().prefix(5) { result.stagedExamples.append(try pathText(ino)) }
                    result.stagedFiles = staged
                    if !options.ignoreStaging {
                        failure = HilbertError(.busy, "\(staged) file\(staged == 1 ? " has" : "s have") data not yet committed, in the staging area of the node that wrote \(staged == 1 ? "it" : "them") (\(result.stagedExamples.joined(separator: ", "))\(staged > 5 ? ", …" : "")): end the writers and run 'hilbert flush' on that node, then dump again (--ignore-staging dumps the last committed content instead)")
                        throw Errno.busy
                    }
                }
                var w = DumpWriting(out: out, progress: progress)
                try writeHeader(out)
                try dumpNodes(&w)
                try dumpEdges(&w)
                try dumpSymlinks(&w)
                try dumpXattrs(&w)
                try dumpInline(&w) { (message: String) in failure = HilbertError(.io, message) }
                try dumpBlocks(&w)
                try dumpPacks(&w)
                try dumpDeletedObjects(&w)
                let crc = try out.crcSoFar()
                let c = w.counts
                out.raw("\"end\":{\"nodes\":"); DumpJSON.appendInt(Int64(c.nodes), to: &out.buffer)
                out.raw(",\"edges\":"); DumpJSON.appendInt(Int64(c.edges), to: &out.buffer)
                out.raw(",\"symlinks\":"); DumpJSON.appendInt(Int64(c.symlinks), to: &out.buffer)
                out.raw(",\"xattrs\":"); DumpJSON.appendInt(Int64(c.xattrs), to: &out.buffer)
                out.raw(",\"inline\":"); DumpJSON.appendInt(Int64(c.inline), to: &out.buffer)
                out.raw(",\"blocks\":"); DumpJSON.appendInt(Int64(c.blocks), to: &out.buffer)
                out.raw(",\"packs\":"); DumpJSON.appendInt(Int64(c.packs), to: &out.buffer)
                out.raw(",\"deleted_objects\":"); DumpJSON.appendInt(Int64(c.deletedObjects), to: &out.buffer)
                out.raw(",\"crc32c\":"); DumpJSON.appendUInt(UInt64(crc), to: &out.buffer)
                out.raw("}}\n")
                try out.flush()
                result.counts = c
                result.counts.bytes = out.total
                return result
            }
        } catch {
            throw failure ?? HilbertError(error, "reading the metadata of \(path): \(backend.lastError?.message ?? "\(error)")")
        }
    }

    /// "/a/b (inode N)" for messages: the first name of `ino`, walked up to the root.
    func pathText(_ ino: Ino) throws(Errno) -> String {
        var parts: [[UInt8]] = []
        var cur = ino
        while cur != rootIno {
            guard parts.count < 4096, let e = try backend.edgeNaming(cur) else { return "inode \(ino), without a name" }
            parts.append(e.name)
            cur = e.parent
        }
        return "/" + parts.reversed().map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/") + " (inode \(ino))"
    }

    private func writeHeader(_ out: DumpOutput) throws(Errno) {
        let f = format
        out.raw("{\"hilbert-dump\":"); DumpJSON.appendInt(Int64(DumpFormat.version), to: &out.buffer)
        out.raw(",\n\"settings\":{\"name\":"); DumpJSON.appendString(f.name.utf8, to: &out.buffer)
        out.raw(",\"uuid\":"); DumpJSON.appendString(f.uuid.utf8, to: &out.buffer)
        out.raw(",\"storage\":"); DumpJSON.appendString(f.storage.utf8, to: &out.buffer)
        out.raw(",\"bucket\":"); DumpJSON.appendString(f.bucket.utf8, to: &out.buffer)
        out.raw(",\"storage_options\":{")
        for (i, (k, v)) in f.storageOptions.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out.raw(",") }
            DumpJSON.appendString(k.utf8, to: &out.buffer)
            out.raw(":")
            DumpJSON.appendString(v.utf8, to: &out.buffer)
        }
        out.raw("},\"compression\":"); DumpJSON.appendString(f.compression.utf8, to: &out.buffer)
        out.raw(",\"block_size\":"); DumpJSON.appendInt(Int64(f.blockSize), to: &out.buffer)
        out.raw(",\"inline_max\":"); DumpJSON.appendInt(Int64(f.inlineMax), to: &out.buffer)
        out.raw(",\"format_version\":"); DumpJSON.appendInt(Int64(f.formatVersion), to: &out.buffer)
        out.raw("},\n\"counters\":{")
        for (i, c) in try backend.allCounters().sorted(by: { $0.name < $1.name }).enumerated() {
            if i > 0 { out.raw(",") }
            DumpJSON.appendString(c.name.utf8, to: &out.buffer)
            out.raw(":")
            DumpJSON.appendInt(c.value, to: &out.buffer)
        }
        out.raw("},\n")
    }

    /// One section: the rows a backend walk gives page by page after a key, each written as one
    /// record by `write`.
    private func dumpSection<Key, Row>(_ w: inout DumpWriting, _ head: StaticString, from start: Key,
                                       limit: Int = DumpFormat.pageSize, count: WritableKeyPath<DumpCounts, Int>,
                                       page: (Key, Int) throws(Errno) -> [Row], key: (Row) -> Key,
                                       write: (Row, DumpOutput) throws(Errno) -> Void) throws(Errno) {
        w.begin(head)
        var after = start
        while true {
            let rows = try page(after, limit)
            for r in rows {
                w.record()
                try write(r, w.out)
                w.counts[keyPath: count] += 1
                try w.tick()
            }
            guard rows.count == limit, let last = rows.last else { break }
            after = key(last)
        }
        w.end()
    }

    private func dumpNodes(_ w: inout DumpWriting) throws(Errno) {
        try dumpSection(&w, "\"nodes\":[", from: Ino(0), count: \.nodes,
                        page: { (k, n) throws(Errno) in try backend.nodes(afterIno: k, limit: n) }, key: { $0.ino }) { a, o in
            o.raw("{\"ino\":"); DumpJSON.appendUInt(a.ino, to: &o.buffer)
            o.raw(",\"mode\":"); DumpJSON.appendUInt(UInt64(a.mode), to: &o.buffer)
            o.raw(",\"nlink\":"); DumpJSON.appendUInt(UInt64(a.nlink), to: &o.buffer)
            o.raw(",\"uid\":"); DumpJSON.appendUInt(UInt64(a.uid), to: &o.buffer)
            o.raw(",\"gid\":"); DumpJSON.appendUInt(UInt64(a.gid), to: &o.buffer)
            o.raw(",\"rdev\":"); DumpJSON.appendUInt(a.rdev, to: &o.buffer)
            o.raw(",\"size\":"); DumpJSON.appendUInt(a.size, to: &o.buffer)
            o.raw(",\"atime\":"); DumpWriting.time(a.atime, o)
            o.raw(",\"mtime\":"); DumpWriting.time(a.mtime, o)
            o.raw(",\"ctime\":"); DumpWriting.time(a.ctime, o)
            o.raw(",\"btime\":"); DumpWriting.time(a.btime, o)
            o.raw(",\"parent\":"); DumpJSON.appendUInt(a.parent, to: &o.buffer)
            o.raw(",\"version\":"); DumpJSON.appendUInt(a.version, to: &o.buffer)
            o.raw("}")
        }
    }

    private func dumpEdges(_ w: inout DumpWriting) throws(Errno) {
        try dumpSection(&w, "\"edges\":[", from: Int64(0), count: \.edges,
                        page: { (k, n) throws(Errno) in try backend.allEdges(afterID: k, limit: n) }, key: { $0.id }) { e, o in
            o.raw("{\"id\":"); DumpJSON.appendInt(e.id, to: &o.buffer)
            o.raw(",\"parent\":"); DumpJSON.appendUInt(e.parent, to: &o.buffer)
            o.raw(",\"name\":"); DumpJSON.appendBytes(e.name, to: &o.buffer)
            o.raw(",\"ino\":"); DumpJSON.appendUInt(e.ino, to: &o.buffer)
            o.raw(",\"type\":"); DumpJSON.appendUInt(UInt64(e.type), to: &o.buffer)
            o.raw("}")
        }
    }

    private func dumpSymlinks(_ w: inout DumpWriting) throws(Errno) {
        try dumpSection(&w, "\"symlinks\":[", from: Ino(0), count: \.symlinks,
                        page: { (k, n) throws(Errno) in try backend.symlinkRows(afterIno: k, limit: n) }, key: { $0.ino }) { r, o in
            o.raw("{\"ino\":"); DumpJSON.appendUInt(r.ino, to: &o.buffer)
            o.raw(",\"target\":"); DumpJSON.appendBytes(r.target, to: &o.buffer)
            o.raw("}")
        }
    }

    private func dumpXattrs(_ w: inout DumpWriting) throws(Errno) {
        try dumpSection(&w, "\"xattrs\":[", from: (Ino(0), [UInt8]()), count: \.xattrs,
                        page: { (k, n) throws(Errno) in try backend.xattrRows(afterIno: k.0, afterName: k.1, limit: n) },
                        key: { ($0.ino, $0.name) }) { r, o in
            o.raw("{\"ino\":"); DumpJSON.appendUInt(r.ino, to: &o.buffer)
            o.raw(",\"name\":"); DumpJSON.appendBytes(r.name, to: &o.buffer)
            o.raw(",\"value\":"); DumpJSON.appendBytes(r.value, to: &o.buffer)
            o.raw("}")
        }
    }

    private func dumpInline(_ w: inout DumpWriting, damaged: (String) -> Void) throws(Errno) {
        try dumpSection(&w, "\"inline\":[", from: Ino(0), limit: DumpFormat.inlinePage(format.inlineMax), count: \.inline,
                        page: { (k, n) throws(Errno) in try backend.inlineRows(afterIno: k, limit: n) }, key: { $0.ino }) { r, o throws(Errno) in
            let crc = InlineChecksum.of(r.data)
            if let stored = r.crc, stored != crc {
                damaged("the volume is damaged: the inline content of \(try pathText(r.ino)) fails its checksum; remove or rewrite that file, then dump again")
                throw Errno.io
            }
            o.raw("{\"ino\":"); DumpJSON.appendUInt(r.ino, to: &o.buffer)
            o.raw(",\"crc\":"); DumpJSON.appendUInt(UInt64(crc), to: &o.buffer)
            o.raw(",\"data\":\""); DumpJSON.appendBase64(r.data, to: &o.buffer)
            o.raw("\"}")
        }
    }

    private func dumpBlocks(_ w: inout DumpWriting) throws(Errno) {
        try dumpSection(&w, "\"blocks\":[", from: (Ino(0), UInt32(0)), count: \.blocks,
                        page: { (k, n) throws(Errno) in try backend.blockRows(afterIno: k.0, afterIndex: k.1, limit: n) },
                        key: { ($0.ino, $0.block.index) }) { r, o in
            o.raw("{\"ino\":"); DumpJSON.appendUInt(r.ino, to: &o.buffer)
            o.raw(",\"index\":"); DumpJSON.appendUInt(UInt64(r.block.index), to: &o.buffer)
            o.raw(",\"object\":"); DumpJSON.appendUInt(r.block.objectID, to: &o.buffer)
            o.raw(",\"raw_len\":"); DumpJSON.appendUInt(UInt64(r.block.rawLength), to: &o.buffer)
            o.raw(",\"stored_len\":"); DumpJSON.appendUInt(UInt64(r.block.storedLength), to: &o.buffer)
            o.raw(",\"crc\":"); DumpJSON.appendUInt(UInt64(r.block.crc), to: &o.buffer)
            if r.block.isPacked { o.raw(",\"obj_off\":"); DumpJSON.appendUInt(r.block.objectOffset, to: &o.buffer) }
            o.raw("}")
        }
    }

    private func dumpPacks(_ w: inout DumpWriting) throws(Errno) {
        try dumpSection(&w, "\"packs\":[", from: UInt64(0), count: \.packs,
                        page: { (k, n) throws(Errno) in try backend.packRows(after: k, limit: n) }, key: { $0.objectID }) { p, o in
            o.raw("{\"object\":"); DumpJSON.appendUInt(p.objectID, to: &o.buffer)
            o.raw(",\"size\":"); DumpJSON.appendUInt(p.size, to: &o.buffer)
            o.raw(",\"pieces\":"); DumpJSON.appendUInt(p.pieces, to: &o.buffer)
            o.raw(",\"created\":"); DumpJSON.appendInt(p.created, to: &o.buffer)
            o.raw("}")
        }
    }

    private func dumpDeletedObjects(_ w: inout DumpWriting) throws(Errno) {
        try dumpSection(&w, "\"deleted_objects\":[", from: UInt64(0), count: \.deletedObjects,
                        page: { (k, n) throws(Errno) in try backend.deletedObjects(after: k, limit: n, dueBy: .max) }, key: { $0.objectID }) { d, o in
            o.raw("{\"object\":"); DumpJSON.appendUInt(d.objectID, to: &o.buffer)
            o.raw(",\"stored_len\":"); DumpJSON.appendUInt(UInt64(d.storedLength), to: &o.buffer)
            o.raw("}")
        }
    }
}

/// The array sections of a dump being written: one record per line, progress about once a
/// second.
struct DumpWriting {
    let out: DumpOutput
    let progress: ((DumpCounts) -> Void)?
    var counts = DumpCounts()
    private var first = true
    private var pacer = ProgressPacer()

    init(out: DumpOutput, progress: ((DumpCounts) -> Void)?) {
        self.out = out
        self.progress = progress
    }

    mutating func begin(_ head: StaticString) {
        out.raw(head)
        first = true
    }

    /// Before each record: the separator.
    mutating func record() {
        out.raw(first ? "\n" : ",\n")
        first = false
    }

    mutating func end() {
        out.raw("\n],\n")
    }

    /// After each record.
    mutating func tick() throws(Errno) {
        try out.maybeFlush()
        guard let progress, pacer.due(entries: counts.entries) else { return }
        var c = counts
        c.bytes = out.total
        progress(c)
    }

    static func time(_ t: Timespec, _ o: DumpOutput) {
            o.raw("[")
            DumpJSON.appendInt(t.sec, to: &o.buffer)
            o.raw(",")
            DumpJSON.appendUInt(UInt64(t.nsec), to: &o.buffer)
            o.raw("]")
    }
}
