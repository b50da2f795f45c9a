import CHilbertSys
import HilbertSupport

public struct LoadOptions: Sendable {
    /// Where the loaded volume finds its objects instead of the dump's `bucket` (the objects
    /// must be there, under the same keys).
    public var bucket: String?
    /// Write the counters recomputed from the rows instead of refusing a dump whose counters
    /// do not match them.
    public var recount = false
    /// The dump's name, for messages and the `loading` marker.
    public var source = "-"
    public init() {}
}

public struct LoadResult: Sendable {
    public var counts: DumpCounts
    public var format: VolumeFormat
    /// Counters whose dumped value did not match the rows, written recomputed (`recount`).
    public var recounted: [(name: String, dumped: Int64, counted: Int64)] = []
}

extension MetaStore {
    /// Create the volume at `url` from a dump read from `source` (which returns 0 at its end),
    /// streaming: rows are validated as they come and written in write transactions of
    /// bounded size; the settings, which make the volume usable, are written last, in the
    /// transaction that also sets the counters. A load that fails leaves a volume every
    /// command refuses (its `loading` marker), named in the error with how to remove it.
    /// EEXIST when something is at `url`.
    public static func load(into url: MetaURL, options: LoadOptions = LoadOptions(),
                            from source: @escaping (UnsafeMutableRawBufferPointer) throws(Errno) -> Int,
                            progress: ((DumpCounts) -> Void)? = nil) throws(HilbertError) -> LoadResult {
        try DumpLoader(url: url, options: options, reader: DumpReader(name: options.source, source), progress: progress).run()
    }
}

/// One byte per inode seen in a load's nodes (pages of 64 Ki inodes, allocated where inodes
/// are): the file type and what was found for it. A load holds this, not the volume.
struct InoMap {
    static let named: UInt8 = 0x08
    static let target: UInt8 = 0x10
    static let inline: UInt8 = 0x20
    static let blocks: UInt8 = 0x40
    static let regular: UInt8 = 1
    static let directory: UInt8 = 2
    static let symlink: UInt8 = 3
    /// DT_* value of each type code.
    static let dtype: [UInt8] = [0, 8, 4, 10, 1, 12, 2, 6]

    static func code(_ mode: UInt32) -> UInt8? {
        switch mode & 0o170000 {
        case FileType.regular.rawValue: return 1
        case FileType.directory.rawValue: return 2
        case FileType.symlink.rawValue: return 3
        case FileType.fifo.rawValue: return 4
        case FileType.socket.rawValue: return 5
        case FileType.charDevice.rawValue: return 6
        case FileType.blockDevice.rawValue: return 7
        default: return nil
        }
    }

    private var pages: [UInt64: [UInt8]] = [:]

    subscript(ino: Ino) -> UInt8 {
        get { pages[ino >> 16]?[Int(ino & 0xFFFF)] ?? 0 }
        set {
            let k = ino >> 16
            if pages[k] == nil { pages[k] = [UInt8](repeating: 0, count: 1 << 16) }
            pages[k]![Int(ino & 0xFFFF)] = newValue
        }
    }

    /// The first inode, ascending, whose entry makes `bad` true.
    func first(where bad: (Ino, UInt8) -> Bool) -> Ino? {
        for k in pages.keys.sorted() {
            let page = pages[k]!
            for i in 0..<page.count where page[i] != 0 && bad(k << 16 | UInt64(i), page[i]) {
                return k << 16 | UInt64(i)
            }
        }
        return nil
    }
}

private enum LoadRow {
    case node(Attr)
    case edge(id: Int64, parent: Ino, name: [UInt8], ino: Ino, type: UInt8)
    case symlink(Ino, [UInt8])
    case xattr(Ino, [UInt8], [UInt8])
    case inline(Ino, [UInt8], UInt32)
    case block(Ino, BlockRef)
    case pack(PackRow)
    case deleted(DeletedObject)
}

private final class DumpLoader {
    static let batchRows = 5000
    static let batchBytes = 16 << 20
    static let requiredCounters = ["inodes", "next_ino", "next_object", "objects", "stored_bytes", "used_bytes"]

    let url: MetaURL
    let options: LoadOptions
    let r: DumpReader
    let progress: ((DumpCounts) -> Void)?
    var store: MetaStore?
    var format = VolumeFormat(name: "", uuid: "", storage: "", bucket: "", compression: "", blockSize: 0, inlineMax: 0)
    var counters: [(name: String, value: Int64)] = []
    var nextIno: UInt64 = 0
    var nextObject: UInt64 = 0
    var counts = DumpCounts()
    var map = InoMap()
    var usedBytes: UInt64 = 0
    var storedBytes: UInt64 = 0
    var objects: UInt64 = 0
    // The last key of each section (rows must come in key order).
    var lastIno: Ino = 0
    var lastEdge: Int64 = 0
    var lastXattr: (Ino, [UInt8])?
    var lastBlock: (Ino, UInt32)?
    var lastObject: UInt64 = 0
    var lastPack: UInt64 = 0
    /// Packs the blocks point into that the packs section has not listed yet.
    var packsReferenced = Set<UInt64>()
    var dumpVersion: UInt64 = 0
    var batch: [LoadRow] = []
    var batchBytes = 0
    var failure: HilbertError?
    var pacer = ProgressPacer()

    init(url: MetaURL, options: LoadOptions, reader: DumpReader, progress: ((DumpCounts) -> Void)?) {
        self.url = url
        self.options = options
        self.r = reader
        self.progress = progress
        batch.reserveCapacity(DumpLoader.batchRows)
    }

    func run() throws(HilbertError) -> LoadResult {
        var result = LoadResult(counts: DumpCounts(), format: format)
        do throws(Errno) {
            try readHeader()
            try create()
            for s in DumpFormat.sections(of: dumpVersion) {
                try readSection(s)
                if s == "packs" || (s == "blocks" && dumpVersion == 1) { try checkPacksListed() }
            }
            try readEnd()
            try checkWhole()
            result.recounted = try settleCounters()
            try finish()
        } catch {
            store?.close()
            let why = failure ?? r.failure ?? HilbertError(error, "\(options.source): \(error)")
            if store == nil { throw why }
            throw HilbertError(why.errno, why.message + "; nothing usable was made: every command refuses the incomplete volume; remove it before loading again: \(url.removalHint)")
        }
        result.counts = counts
        result.counts.bytes = r.offset
        result.format = format
        return result
    }

    // MARK: the header

    private func readHeader() throws(Errno) {
        r.section = "the header"
        try r.expect(0x7B, "'{', the start of a hilbert dump")
        try r.expectKey("hilbert-dump")
        let v = try r.readValue()
        guard case .number(false, let version) = v else { throw r.fail("\"hilbert-dump\": expected the dump format version, found \(v.kind)") }
        if version < 1 || version > UInt64(DumpFormat.version) {
            throw r.fail("dump format version \(version): this hilbert reads versions 1 to \(DumpFormat.version)")
        }
        dumpVersion = version
        try r.expect(0x2C, "','")
        r.section = "\"settings\""
        try r.expectKey("settings")
        var s = try DumpFields(try r.readValue(), r, what: "the settings")
        format = VolumeFormat(name: try s.string("name"), uuid: try s.string("uuid"), storage: try s.string("storage"),
                              bucket: try s.string("bucket"), compression: try s.string("compression"),
                              blockSize: Int(try s.uint("block_size", max: 1 << 30)),
                              inlineMax: Int(try s.uint("inline_max", max: 1 << 30)),
                              formatVersion: Int(try s.uint("format_version", max: 1 << 30)))
        for (k, value) in try s.object("storage_options") {
            guard case .string(let b) = value else { throw r.fail("\"storage_options\": \"\(k)\" is not a string") }
            format.storageOptions[k] = String(decoding: b, as: UTF8.self)
        }
        try s.finish()
        if format.uuid.isEmpty || format.storage.isEmpty || format.bucket.isEmpty || format.blockSize == 0 {
            throw r.fail("the settings lack a uuid, a storage, a bucket or a block size")
        }
        if let bucket = options.bucket {
            if format.storage == "file" && !bucket.hasPrefix("/") {
                failure = HilbertError(.invalid, "the volume keeps its objects in a directory (storage file): --bucket must be an absolute directory")
                throw Errno.invalid
            }
            format.bucket = bucket
        }
        try r.expect(0x2C, "','")
        r.section = "\"counters\""
        try r.expectKey("counters")
        let c = try r.readValue()
        guard case .object(let fields) = c else { throw r.fail("expected the counters (an object), found \(c.kind)") }
        for (k, value) in fields { counters.append((k, try DumpFields.int(value, k, r))) }
        for name in DumpLoader.requiredCounters where !counters.contains(where: { $0.name == name }) {
            throw r.fail("the counter \"\(name)\" is missing")
        }
        nextIno = UInt64(max(0, counter("next_ino")))
        nextObject = UInt64(max(0, counter("next_object")))
        if nextIno < 2 || nextObject < 1 { throw r.fail("next_ino must be at least 2 and next_object at least 1") }
        try r.expect(0x2C, "','")
    }

    private func counter(_ name: String) -> Int64 { counters.first { $0.name == name }?.value ?? 0 }

    private func create() throws(Errno) {
        do throws(Errno) {
            store = try MetaStore.createForLoad(url, format: format, source: "of \(options.source)")
        } catch {
            failure = HilbertError(error, error == .exists
                ? "a volume (or another file) is already there: \(MetaStore.lastOpenError?.message ?? "\(error)"); load into a new META-URL"
                : MetaStore.lastOpenError?.message ?? "cannot create the volume: \(error)")
            throw error
        }
    }

    // MARK: the sections

    private func readSection(_ name: String) throws(Errno) {
        r.section = name
        r.entry = 0
        lastIno = 0
        try r.expectKey(name)
        try r.expect(0x5B, "'[', the start of \"\(name)\"")
        if try !r.consume(0x5D) {
            repeat {
                r.entry += 1
                let v = try r.readValue()
                switch name {
                case "nodes": try node(v)
                case "edges": try edge(v)
                case "symlinks": try symlink(v)
                case "xattrs": try xattr(v)
                case "inline": try inline(v)
                case "blocks": try block(v)
                case "packs": try pack(v)
                default: try deleted(v)
                }
                if batch.count >= DumpLoader.batchRows || batchBytes >= DumpLoader.batchBytes { try flush() }
                tick()
            } while try r.consume(0x2C)
            try r.expect(0x5D, "',' or ']' after an entry")
        }
        r.entry = 0
        try flush()
        try r.expect(0x2C, "',' after \"\(name)\"")
    }

    private func node(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "a node")
        let u32 = UInt64(UInt32.max)
        let a = Attr(ino: try f.uint("ino"), mode: UInt32(try f.uint("mode", max: 0o177777)),
                     nlink: UInt32(try f.uint("nlink", max: u32)), uid: UInt32(try f.uint("uid", max: u32)),
                     gid: UInt32(try f.uint("gid", max: u32)), rdev: try f.uint("rdev"),
                     size: try f.uint("size", max: UInt64(Int64.max)),
                     atime: try f.time("atime"), mtime: try f.time("mtime"), ctime: try f.time("ctime"),
                     btime: try f.time("btime"), parent: try f.uint("parent"), version: try f.uint("version"),
                     staged: false)
        try f.finish()
        if a.ino == 0 { throw r.fail("inode 0 is no inode number") }
        if a.ino <= lastIno { throw r.fail("inode \(a.ino) after inode \(lastIno): nodes must come in ascending inode order") }
        if a.ino >= nextIno { throw r.fail("inode \(a.ino) is not below the counter next_ino (\(nextIno))") }
        guard let code = InoMap.code(a.mode) else { throw r.fail("inode \(a.ino): mode 0\(String(a.mode, radix: 8)) is no file type") }
        if counts.nodes == 0 && (a.ino != rootIno || code != InoMap.directory || a.parent != rootIno) {
            throw r.fail("the first node must be the root directory, inode 1, its own parent")
        }
        if code == InoMap.directory && (a.parent == 0 || a.nlink < 2) {
            throw r.fail("directory inode \(a.ino) has no parent or fewer than 2 links")
        }
        if code != InoMap.directory && a.nlink == 0 { throw r.fail("inode \(a.ino) has no link") }
        if code == InoMap.regular { usedBytes &+= a.size }
        map[a.ino] = code
        lastIno = a.ino
        counts.nodes += 1
        append(.node(a), 128)
    }

    private func edge(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "a directory entry")
        let id = try f.int("id")
        let parent = try f.uint("parent")
        let name = try f.bytes("name")
        let ino = try f.uint("ino")
        let type = UInt8(try f.uint("type", max: 15))
        try f.finish()
        if id <= lastEdge { throw r.fail("entry id \(id) after \(lastEdge): entries must come in ascending id order, from 1") }
        if map[parent] & 7 != InoMap.directory { throw r.fail("entry \(id): its directory, inode \(parent), is not a directory of the dump") }
        let t = map[ino]
        if t & 7 == 0 { throw r.fail("entry \(id) names inode \(ino), which is not in the dump") }
        if ino == rootIno { throw r.fail("entry \(id) names the root directory") }
        if type != InoMap.dtype[Int(t & 7)] { throw r.fail("entry \(id): type \(type) does not match the mode of inode \(ino)") }
        if name.isEmpty || name.count > 255 || name.contains(0x2F) || name.contains(0) || name == [0x2E] || name == [0x2E, 0x2E] {
            throw r.fail("entry \(id): not a valid file name")
        }
        if t & 7 == InoMap.directory && t & InoMap.named != 0 { throw r.fail("entry \(id): directory inode \(ino) has a second name") }
        map[ino] = t | InoMap.named
        lastEdge = id
        counts.edges += 1
        append(.edge(id: id, parent: parent, name: name, ino: ino, type: type), 64 + name.count)
    }

    private func symlink(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "a symlink target")
        let ino = try f.uint("ino")
        let target = try f.bytes("target")
        try f.finish()
        if ino <= lastIno { throw r.fail("inode \(ino) after inode \(lastIno): symlinks must come in ascending inode order") }
        let t = map[ino]
        if t & 7 != InoMap.symlink { throw r.fail("inode \(ino) is not a symlink of the dump") }
        if target.isEmpty || target.contains(0) { throw r.fail("inode \(ino): an empty target or one with a NUL byte") }
        map[ino] = t | InoMap.target
        lastIno = ino
        counts.symlinks += 1
        append(.symlink(ino, target), 64 + target.count)
    }

    private func xattr(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "an extended attribute")
        let ino = try f.uint("ino")
        let name = try f.bytes("name")
        let value = try f.bytes("value")
        try f.finish()
        if let (li, ln) = lastXattr, ino < li || (ino == li && !ln.lexicographicallyPrecedes(name)) {
            throw r.fail("extended attributes must come in (inode, name) order, each once")
        }
        if map[ino] & 7 == 0 { throw r.fail("inode \(ino), which is not in the dump, has an extended attribute") }
        if name.isEmpty || name.count > 255 || name.contains(0) || value.count > 65536 {
            throw r.fail("inode \(ino): an extended attribute name that is empty, longer than 255 bytes or holds NUL, or a value larger than 64 KiB")
        }
        lastXattr = (ino, name)
        counts.xattrs += 1
        append(.xattr(ino, name, value), 64 + name.count + value.count)
    }

    private func inline(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "inline content")
        let ino = try f.uint("ino")
        let crc = UInt32(try f.uint("crc", max: UInt64(UInt32.max)))
        let data = try f.base64("data")
        try f.finish()
        if ino <= lastIno { throw r.fail("inode \(ino) after inode \(lastIno): inline content must come in ascending inode order") }
        let t = map[ino]
        if t & 7 != InoMap.regular { throw r.fail("inode \(ino), which is not a regular file of the dump, has inline content") }
        if InlineChecksum.of(data) != crc { throw r.fail("the inline content of inode \(ino) does not match its CRC-32C") }
        map[ino] = t | InoMap.inline
        lastIno = ino
        storedBytes &+= UInt64(data.count)
        counts.inline += 1
        append(.inline(ino, data, crc), 64 + data.count)
    }

    private func block(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "a block reference")
        let u32 = UInt64(UInt32.max)
        let ino = try f.uint("ino")
        let b = BlockRef(index: UInt32(try f.uint("index", max: u32)), objectID: try f.uint("object"),
                         rawLength: UInt32(try f.uint("raw_len", max: u32)),
                         storedLength: UInt32(try f.uint("stored_len", max: u32)), crc: UInt32(try f.uint("crc", max: u32)),
                         objectOffset: f.has("obj_off") ? try f.uint("obj_off") : 0)
        try f.finish()
        if let (li, lx) = lastBlock, ino < li || (ino == li && b.index <= lx) {
            throw r.fail("block references must come in (inode, index) order, each once")
        }
        let t = map[ino]
        if t & 7 != InoMap.regular { throw r.fail("inode \(ino), which is not a regular file of the dump, has blocks") }
        if t & InoMap.inline != 0 { throw r.fail("inode \(ino) has both inline content and blocks") }
        if b.objectID >= nextObject { throw r.fail("object \(b.objectID) is not below the counter next_object (\(nextObject))") }
        if b.rawLength > format.blockSize { throw r.fail("block \(b.index) of inode \(ino) is longer than the block size") }
        map[ino] = t | InoMap.blocks
        lastBlock = (ino, b.index)
        if b.objectID != 0 {
            if b.isPacked {
                // Counted as an object by its row in the packs section.
                packsReferenced.insert(b.objectID)
            } else {
                objects += 1
            }
            storedBytes &+= UInt64(b.storedLength)
        }
        counts.blocks += 1
        append(.block(ino, b), 64)
    }

    private func pack(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "a pack")
        let p = PackRow(objectID: try f.uint("object"), size: try f.uint("size"), pieces: try f.uint("pieces"),
                        created: try f.int("created"))
        try f.finish()
        if p.objectID <= lastPack { throw r.fail("pack \(p.objectID) after \(lastPack): packs must come in ascending order") }
        if p.objectID >= nextObject { throw r.fail("pack \(p.objectID) is not below the counter next_object (\(nextObject))") }
        lastPack = p.objectID
        packsReferenced.remove(p.objectID)
        objects += 1
        counts.packs += 1
        append(.pack(p), 48)
    }

    /// Every block in a pack points into a pack the dump lists.
    private func checkPacksListed() throws(Errno) {
        if let id = packsReferenced.min() {
            throw r.fail("blocks point into object \(id) at an offset (a pack), but the dump lists no such pack")
        }
    }

    private func deleted(_ v: DumpValue) throws(Errno) {
        var f = try DumpFields(v, r, what: "an object to delete")
        let id = try f.uint("object")
        let len = UInt32(try f.uint("stored_len", max: UInt64(UInt32.max)))
        try f.finish()
        if id <= lastObject { throw r.fail("object \(id) after \(lastObject): objects to delete must come in ascending order, from 1") }
        if id >= nextObject { throw r.fail("object \(id) is not below the counter next_object (\(nextObject))") }
        lastObject = id
        counts.deletedObjects += 1
        append(.deleted(DeletedObject(objectID: id, storedLength: len)), 32)
    }

    private func append(_ row: LoadRow, _ bytes: Int) {
        batch.append(row)
        batchBytes += bytes
    }

    /// Write the batch, in one write transaction.
    private func flush() throws(Errno) {
        guard let store, !batch.isEmpty else { return }
        do throws(Errno) {
            try store.write { () throws(Errno) in
                let b = store.backend
                var deleted: [DeletedObject] = []
                for row in batch {
                    switch row {
                    case .node(let a): try b.insertNode(a)
                    case .edge(let id, let parent, let name, let ino, let type): try b.insertEdge(id: id, parent, name, ino, type: type)
                    case .symlink(let ino, let target): try b.putSymlinkTarget(ino, target)
                    case .xattr(let ino, let name, let value): try b.putXattr(ino, name, value)
                    case .inline(let ino, let data, let crc): try b.putInlineRow(ino, data, crc: crc)
                    case .block(let ino, let block): try b.putBlock(ino, block)
                    case .pack(let p): try b.insertPack(p)
                    case .deleted(let d): deleted.append(d)
                    }
                }
                if !deleted.isEmpty { try b.recordDeletedObjects(deleted) }
            }
        } catch {
            failure = HilbertError(error, "\(options.source): writing the rows before line \(r.line) into the new volume: \(store.lastError?.message ?? "\(error)")")
            throw error
        }
        batch.removeAll(keepingCapacity: true)
        batchBytes = 0
    }

    private func tick() {
        guard let progress, pacer.due(entries: r.entry) else { return }
        var c = counts
        c.bytes = r.offset
        progress(c)
    }

    // MARK: the end

    private func readEnd() throws(Errno) {
        r.section = "\"end\""
        try r.skipWhitespace()
        let crc = r.crcSoFar()
        try r.expectKey("end")
        var f = try DumpFields(try r.readValue(), r, what: "the end of the dump")
        let expected = [counts.nodes, counts.edges, counts.symlinks, counts.xattrs, counts.inline, counts.blocks, counts.packs, counts.deletedObjects]
        for (name, n) in zip(DumpFormat.sections, expected) where name != "packs" || dumpVersion >= 2 {
            let recorded = try f.uint(name)
            if recorded != UInt64(n) { throw r.fail("\"\(name)\" holds \(n) entries, the end of the dump says \(recorded)") }
        }
        // Absent: the dump was edited by hand (its crc32c member removed), not checked.
        if f.has("crc32c") {
            let recorded = UInt32(try f.uint("crc32c", max: UInt64(UInt32.max)))
            if recorded != crc {
                throw r.fail("the dump's CRC-32C is \(crc), its end records \(recorded): it was changed or damaged after it was written")
            }
        }
        try f.finish()
        try r.expect(0x7D, "'}', the end of the dump")
        try r.expectEnd()
    }

    /// What only the whole dump shows: every inode but the root has a name, every symlink a target.
    private func checkWhole() throws(Errno) {
        if let ino = map.first(where: { ino, t in ino != rootIno && t & InoMap.named == 0 }) {
            failure = HilbertError(.invalid, "\(options.source): inode \(ino) is in no directory (no entry names it)")
            throw Errno.invalid
        }
        if let ino = map.first(where: { _, t in t & 7 == InoMap.symlink && t & InoMap.target == 0 }) {
            failure = HilbertError(.invalid, "\(options.source): symlink inode \(ino) has no target")
            throw Errno.invalid
        }
    }

    /// The counters against the rows; mismatches refuse the dump, or with `recount` are
    /// replaced by what the rows say.
    private func settleCounters() throws(Errno) -> [(name: String, dumped: Int64, counted: Int64)] {
        let counted: [(String, UInt64)] = [("inodes", UInt64(counts.nodes)), ("used_bytes", usedBytes),
                                          ("stored_bytes", storedBytes), ("objects", objects)]
        var off: [(name: String, dumped: Int64, counted: Int64)] = []
        for (name, n) in counted where counter(name) != Int64(bitPattern: n) {
            off.append((name, counter(name), Int64(bitPattern: n)))
        }
        if off.isEmpty { return [] }
        if !options.recount {
            let list = off.map { "\($0.name) \($0.dumped) recorded, \($0.counted) counted" }.joined(separator: "; ")
            failure = HilbertError(.invalid, "\(options.source): the dump's counters do not match its rows (\(list)): it is not a consistent snapshot, or the dumped volume's counters were off; 'hilbert load --recount' writes the counted values")
            throw Errno.invalid
        }
        for o in off {
            if let i = counters.firstIndex(where: { $0.name == o.name }) { counters[i].value = o.counted }
        }
        return off
    }

    /// The last transaction: the counters, then the settings that make the volume usable.
    private func finish() throws(Errno) {
        guard let store else { return }
        do throws(Errno) {
            try store.write { () throws(Errno) in
                let b = store.backend
                for c in counters { try b.setCounter(c.name, c.value) }
                try b.bulkLoadFinished()
                for (k, v) in MetaStore.settingRows(format) { try b.putSetting(k, v) }
                try b.deleteSetting(MetaStore.loadingSetting)
            }
        } catch {
            failure = HilbertError(error, "finishing the new volume: \(store.lastError?.message ?? "\(error)")")
            throw error
        }
        store.close()
    }
}
