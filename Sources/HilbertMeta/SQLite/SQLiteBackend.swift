import HilbertSupport

/// The SQLite metadata backend: the rows of docs/FORMAT.md in one database file, reached
/// through the caller's `Connection` (and its transaction).
final class SQLiteBackend: MetaBackend {
    let conn: Connection

    /// This write transaction's changes to cached rows (WriteEnd); `changesUnknown` after a
    /// write that does not say (bulk loading) or a nested one that was rolled back.
    private var changes: [RowChange] = []
    private var changesUnknown = false

    init(_ conn: Connection) { self.conn = conn }

    // MARK: the session

    var location: String { conn.path }
    var lastError: HilbertError? { conn.lastError }

    @inline(__always)
    func transaction<T>(write: Bool, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        if conn.depth == 0 {
            if write {
                if !changes.isEmpty { changes.removeAll(keepingCapacity: true) }
                changesUnknown = false
            }
            return try conn.transaction(immediate: write, body)
        }
        if !write { return try conn.transaction(immediate: false, body) }
        do throws(Errno) {
            return try conn.transaction(immediate: true, body)
        } catch {
            changesUnknown = true   // its savepoint was rolled back: the changes list says too much
            throw error
        }
    }

    var transactionDepth: Int { conn.depth }
    /// A local COMMIT either happens or fails (and is rolled back).
    var commitOutcomeUnknown: Bool { false }
    var inWriteTransaction: Bool { conn.inWriteTransaction }
    func changeVersion() throws(Errno) -> Int64 { try conn.dataVersion() }
    /// Every read is a local call: nothing to gather, nothing to save by optimism.
    func readTogether(_ reads: [RowRead]) {}
    func readAhead(_ reads: [RowRead]) {}
    func optimisticTransaction<T>(version: Int64, rows: @escaping (RowRead) -> CachedRow?,
                                  _ body: () throws(Errno) -> T) throws(Errno) -> T {
        try transaction(write: true, body)
    }
    var attributeCacheNanoseconds: UInt64 { 0 }
    /// A committed transaction reports the data version under its write lock as both before and
    /// after (its own commit does not change it for this connection): MetaStore keeps its caches
    /// and applies the changes when that is the version they were validated at.
    func setWriteEndHandler(_ handler: @escaping (WriteEnd) -> Void) {
        conn.readsBeginVersion = true
        conn.onWriteEnd = { [unowned self] committed in
            guard committed, !changesUnknown else { return handler(.unknown) }
            let v = conn.beginVersion
            handler(WriteEnd(versions: (v, v), changes: changes))
        }
    }
    func close() { conn.close() }
    func makeChangeEpoch() -> ChangeEpoch { ChangeEpoch(databasePath: conn.path) }
    func makeSpaceReserve() -> SpaceReserve? { SpaceReserve(databasePath: conn.path) }
    func abandonAfterFork() { conn.abandonAfterFork() }
    func beforeFork() { conn.beforeFork() }
    func afterForkInParent() { conn.afterForkInParent() }
    /// A checkpoint (the WAL copied into the database, both synced) every 64 MiB of WAL
    /// instead of every 4 MiB (SQLite's default, 1,000 pages): a 4,096-file import batch
    /// writes about 2.5 MiB of pages.
    func setBulkWrites(_ on: Bool) {
        try? conn.exec("PRAGMA wal_autocheckpoint=\(on ? 16384 : 1000)")
    }

    // MARK: nodes

    static let nodeColumns = "ino,mode,nlink,uid,gid,rdev,size,atime_s,atime_ns,mtime_s,mtime_ns,ctime_s,ctime_ns,btime_s,btime_ns,parent,version,staged"

    @inline(__always)
    static func readAttr(_ s: Statement, _ o: Int32 = 0) -> Attr {
        Attr(ino: s.uint64(o), mode: s.uint32(o + 1), nlink: s.uint32(o + 2), uid: s.uint32(o + 3), gid: s.uint32(o + 4),
             rdev: s.uint64(o + 5), size: s.uint64(o + 6),
             atime: Timespec(sec: s.int64(o + 7), nsec: s.uint32(o + 8)),
             mtime: Timespec(sec: s.int64(o + 9), nsec: s.uint32(o + 10)),
             ctime: Timespec(sec: s.int64(o + 11), nsec: s.uint32(o + 12)),
             btime: Timespec(sec: s.int64(o + 13), nsec: s.uint32(o + 14)),
             parent: s.uint64(o + 15), version: s.uint64(o + 16), staged: s.int64(o + 17) != 0)
    }

    static func bindAttr(_ s: Statement, _ a: Attr) {
        s.bind(1, a.ino); s.bind(2, a.mode); s.bind(3, a.nlink); s.bind(4, a.uid); s.bind(5, a.gid)
        s.bind(6, a.rdev); s.bind(7, a.size)
        s.bind(8, a.atime.sec); s.bind(9, a.atime.nsec)
        s.bind(10, a.mtime.sec); s.bind(11, a.mtime.nsec)
        s.bind(12, a.ctime.sec); s.bind(13, a.ctime.nsec)
        s.bind(14, a.btime.sec); s.bind(15, a.btime.nsec)
        s.bind(16, a.parent); s.bind(17, a.version); s.bind(18, Int64(a.staged ? 1 : 0))
    }

    func node(_ ino: Ino) throws(Errno) -> Attr? {
        let s = try conn.prepare("SELECT \(SQLiteBackend.nodeColumns) FROM hl_node WHERE ino=?1")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? SQLiteBackend.readAttr(s) : nil
    }

    /// Made once: the statement cache is keyed by the text (an import inserts 50,000 a second).
    private static let insertNodeSQL = "INSERT INTO hl_node(\(nodeColumns)) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"

    func insertNode(_ a: Attr) throws(Errno) {
        changes.append(.node(a))
        changes.append(.newNode(a.ino))
        let s = try conn.prepare(SQLiteBackend.insertNodeSQL)
        SQLiteBackend.bindAttr(s, a)
        try s.run()
    }

    func updateNode(_ a: Attr) throws(Errno) {
        changes.append(.node(a))
        let s = try conn.prepare("""
            UPDATE hl_node SET mode=?2,nlink=?3,uid=?4,gid=?5,rdev=?6,size=?7,atime_s=?8,atime_ns=?9,
            mtime_s=?10,mtime_ns=?11,ctime_s=?12,ctime_ns=?13,btime_s=?14,btime_ns=?15,parent=?16,
            version=?17,staged=?18 WHERE ino=?1
            """)
        SQLiteBackend.bindAttr(s, a)
        try s.run()
    }

    func deleteNode(_ ino: Ino) throws(Errno) {
        changes.append(.nodeGone(ino))
        try run("DELETE FROM hl_node WHERE ino=?1", ino)
    }

    func touchNode(_ ino: Ino, nlinkDelta: Int64, time t: Timespec, modified: Bool) throws(Errno) {
        changes.append(.touched(ino, nlinkDelta: nlinkDelta, time: t, modified: modified))
        let s = try conn.prepare(modified
            ? "UPDATE hl_node SET nlink=nlink+?2, mtime_s=?3, mtime_ns=?4, ctime_s=?3, ctime_ns=?4 WHERE ino=?1"
            : "UPDATE hl_node SET nlink=nlink+?2, ctime_s=?3, ctime_ns=?4 WHERE ino=?1")
        s.bind(1, ino); s.bind(2, nlinkDelta); s.bind(3, t.sec); s.bind(4, t.nsec)
        try s.run()
    }

    func setParent(_ ino: Ino, _ parent: Ino) throws(Errno) {
        changes.append(.parent(ino, parent))
        let s = try conn.prepare("UPDATE hl_node SET parent=?2 WHERE ino=?1")
        s.bind(1, ino); s.bind(2, parent)
        try s.run()
    }

    func parentOf(_ ino: Ino) throws(Errno) -> Ino? {
        let s = try conn.prepare("SELECT parent FROM hl_node WHERE ino=?1")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? s.uint64(0) : nil
    }

    // MARK: edges

    func edge(_ parent: Ino, _ name: [UInt8]) throws(Errno) -> Edge? {
        let s = try conn.prepare("SELECT id, ino, type FROM hl_edge WHERE parent=?1 AND name=?2")
        defer { s.reset() }
        s.bind(1, parent)
        s.bind(2, blob: name)
        guard try s.step() else { return nil }
        return Edge(id: s.int64(0), ino: s.uint64(1), type: UInt8(truncatingIfNeeded: s.int64(2)), parent: parent, name: name)
    }

    func child(_ parent: Ino, _ name: [UInt8]) throws(Errno) -> Attr? {
        let s = try conn.prepare("""
            SELECT n.ino,n.mode,n.nlink,n.uid,n.gid,n.rdev,n.size,n.atime_s,n.atime_ns,n.mtime_s,n.mtime_ns,
            n.ctime_s,n.ctime_ns,n.btime_s,n.btime_ns,n.parent,n.version,n.staged
            FROM hl_edge e JOIN hl_node n ON n.ino = e.ino WHERE e.parent=?1 AND e.name=?2
            """)
        defer { s.reset() }
        s.bind(1, parent)
        s.bind(2, blob: name)
        return try s.step() ? SQLiteBackend.readAttr(s) : nil
    }

    func insertEdge(_ parent: Ino, _ name: [UInt8], _ ino: Ino, type: UInt8) throws(Errno) {
        changes.append(.entry(parent: parent, name: name, ino: ino))
        let s = try conn.prepare("INSERT INTO hl_edge(parent, name, ino, type) VALUES(?1, ?2, ?3, ?4)")
        s.bind(1, parent); s.bind(2, blob: name); s.bind(3, ino); s.bind(4, Int64(type))
        try s.run()
    }

    func deleteEdge(_ edge: Edge) throws(Errno) {
        changes.append(.entryGone(parent: edge.parent, name: edge.name))
        let s = try conn.prepare("DELETE FROM hl_edge WHERE id=?1")
        s.bind(1, edge.id)
        try s.run()
    }

    func setEdgeTarget(_ edge: Edge, _ ino: Ino, type: UInt8) throws(Errno) {
        changes.append(.entry(parent: edge.parent, name: edge.name, ino: ino))
        let s = try conn.prepare("UPDATE hl_edge SET ino=?2, type=?3 WHERE id=?1")
        s.bind(1, edge.id); s.bind(2, ino); s.bind(3, Int64(type))
        try s.run()
    }

    func moveEdge(_ edge: Edge, to parent: Ino, name: [UInt8]) throws(Errno) {
        changes.append(.entryGone(parent: edge.parent, name: edge.name))
        changes.append(.entry(parent: parent, name: name, ino: edge.ino))
        if parent == edge.parent {
            // Within a directory: SQLite rewrites the entry of every index on a column the
            // UPDATE sets, changed or not (hl_edge_list is on parent, id).
            let s = try conn.prepare("UPDATE hl_edge SET name=?2 WHERE id=?1")
            s.bind(1, edge.id); s.bind(2, blob: name)
            try s.run()
            return
        }
        let s = try conn.prepare("UPDATE hl_edge SET parent=?2, name=?3 WHERE id=?1")
        s.bind(1, edge.id); s.bind(2, parent); s.bind(3, blob: name)
        try s.run()
    }

    func hasEdges(_ parent: Ino) throws(Errno) -> Bool {
        let s = try conn.prepare("SELECT 1 FROM hl_edge WHERE parent=?1 LIMIT 1")
        defer { s.reset() }
        s.bind(1, parent)
        return try s.step()
    }

    func edgesWithNodes(_ parent: Ino, afterID: Int64, limit: Int) -> ListedPage? { nil }

    func edges(_ parent: Ino, afterID: Int64, limit: Int) throws(Errno) -> [(id: Int64, name: [UInt8], ino: Ino, type: UInt8)] {
        let s = try conn.prepare("SELECT id, name, ino, type FROM hl_edge WHERE parent=?1 AND id>?2 ORDER BY id LIMIT ?3")
        defer { s.reset() }
        s.bind(1, parent)
        s.bind(2, afterID)
        s.bind(3, Int64(limit))
        var out: [(id: Int64, name: [UInt8], ino: Ino, type: UInt8)] = []
        while try s.step() {
            out.append((s.int64(0), s.blob(1), s.uint64(2), UInt8(truncatingIfNeeded: s.int64(3))))
        }
        return out
    }

    func edgeNaming(_ ino: Ino) throws(Errno) -> (parent: Ino, name: [UInt8])? {
        let s = try conn.prepare("SELECT parent, name FROM hl_edge WHERE ino=?1 LIMIT 1")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? (s.uint64(0), s.blob(1)) : nil
    }

    /// In-process lookups are cheap: the resolver looks up one component at a time.
    var remoteLookups: Bool { false }

    func walk(_ base: Ino, _ names: [[UInt8]]) throws(Errno) -> (version: Int64, nodes: [Attr]) {
        let version = try changeVersion()
        guard var cur = try node(base) else { return (version, []) }
        var nodes = [cur]
        for name in names {
            guard let a = try child(cur.ino, name) else { break }
            nodes.append(a)
            cur = a
        }
        return (version, nodes)
    }

    static let prefetchColumns = "e.name," + nodeColumns.split(separator: ",").map { "n." + $0 }.joined(separator: ",")

    /// The entries of `dir` from `name` on, in listing order: `columns` and `join` select
    /// what is read; `row` takes each result row.
    private func readAhead(_ dir: Ino, from name: [UInt8], limit: Int, columns: String, join: String,
                           row: (Statement) -> Void) throws(Errno) {
        let s = try conn.prepare("""
            SELECT \(columns) FROM hl_edge e \(join)
            WHERE e.parent=?1 AND e.id >= (SELECT id FROM hl_edge WHERE parent=?1 AND name=?2)
            ORDER BY e.id LIMIT ?3
            """)
        defer { s.reset() }
        s.bind(1, dir)
        s.bind(2, blob: name)
        s.bind(3, limit)
        while try s.step() { row(s) }
    }

    /// The caller's transaction or validation covers the version: `version` is not called.
    func childrenFrom(_ parent: Ino, name: [UInt8], limit: Int, version: (Int64) -> Void,
                      _ row: ([UInt8], Attr) -> Void) throws(Errno) {
        try readAhead(parent, from: name, limit: limit, columns: SQLiteBackend.prefetchColumns,
                      join: "JOIN hl_node n ON n.ino = e.ino") { s in row(s.blob(0), SQLiteBackend.readAttr(s, 1)) }
    }

    func inlineRowsFrom(_ parent: Ino, name: [UInt8], limit: Int, _ row: (Ino, [UInt8], UInt32?) -> Void) throws(Errno) {
        try readAhead(parent, from: name, limit: limit, columns: "e.ino, i.data, i.crc",
                      join: "JOIN hl_inline i ON i.ino = e.ino") { s in row(s.uint64(0), s.blob(1), s.isNull(2) ? nil : s.uint32(2)) }
    }

    // MARK: extended attributes

    func xattr(_ ino: Ino, _ name: [UInt8]) throws(Errno) -> [UInt8]? {
        let s = try conn.prepare("SELECT value FROM hl_xattr WHERE ino=?1 AND name=?2")
        defer { s.reset() }
        s.bind(1, ino); s.bind(2, blob: name)
        return try s.step() ? s.blob(0) : nil
    }

    func putXattr(_ ino: Ino, _ name: [UInt8], _ value: [UInt8]) throws(Errno) {
        let s = try conn.prepare("INSERT OR REPLACE INTO hl_xattr(ino, name, value) VALUES(?1, ?2, ?3)")
        s.bind(1, ino); s.bind(2, blob: name); s.bind(3, blob: value)
        try s.run()
    }

    func deleteXattr(_ ino: Ino, _ name: [UInt8]) throws(Errno) -> Bool {
        let s = try conn.prepare("DELETE FROM hl_xattr WHERE ino=?1 AND name=?2 RETURNING 1")
        defer { s.reset() }
        s.bind(1, ino); s.bind(2, blob: name)
        let found = try s.step()
        while try s.step() {}
        return found
    }

    func xattrNames(_ ino: Ino) throws(Errno) -> [[UInt8]] {
        let s = try conn.prepare("SELECT name FROM hl_xattr WHERE ino=?1 ORDER BY name")
        defer { s.reset() }
        s.bind(1, ino)
        var out: [[UInt8]] = []
        while try s.step() { out.append(s.blob(0)) }
        return out
    }

    func deleteXattrs(_ ino: Ino) throws(Errno) {
        try run("DELETE FROM hl_xattr WHERE ino=?1", ino)
    }

    func xattrs(of inos: [Ino]) throws(Errno) -> [(ino: Ino, name: [UInt8], value: [UInt8])] {
        let s = try conn.prepare("SELECT name, value FROM hl_xattr WHERE ino=?1 ORDER BY name")
        var out: [(ino: Ino, name: [UInt8], value: [UInt8])] = []
        for ino in inos.sorted() {
            s.bind(1, ino)
            defer { s.reset() }
            while try s.step() { out.append((ino, s.blob(0), s.blob(1))) }
        }
        return out
    }

    // MARK: symbolic links

    func symlinkTarget(_ ino: Ino) throws(Errno) -> [UInt8]? {
        let s = try conn.prepare("SELECT target FROM hl_symlink WHERE ino=?1")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? s.blob(0) : nil
    }

    func putSymlinkTarget(_ ino: Ino, _ target: [UInt8]) throws(Errno) {
        changes.append(.content(ino))
        let s = try conn.prepare("INSERT INTO hl_symlink(ino, target) VALUES(?1, ?2)")
        s.bind(1, ino); s.bind(2, blob: target)
        try s.run()
    }

    func deleteSymlinkTarget(_ ino: Ino) throws(Errno) {
        changes.append(.content(ino))
        try run("DELETE FROM hl_symlink WHERE ino=?1", ino)
    }

    // MARK: counters

    func addToCounter(_ name: String, _ delta: Int64) throws(Errno) -> Int64 {
        let s = try conn.prepare("UPDATE hl_counter SET value = value + ?2 WHERE name = ?1 RETURNING value")
        defer { s.reset() }
        s.bind(1, text: name)
        s.bind(2, delta)
        guard try s.step() else {
            throw HilbertError.record(conn, .io, "\(conn.path): counter \(name) missing")
        }
        let v = s.int64(0)
        while try s.step() {}
        return v
    }

    /// Nothing read back: a plain UPDATE costs less than one with RETURNING (which SQLite runs
    /// through a table of its results).
    func bumpCounter(_ name: String, _ delta: Int64) throws(Errno) {
        let s = try conn.prepare("UPDATE hl_counter SET value = value + ?2 WHERE name = ?1")
        s.bind(1, text: name)
        s.bind(2, delta)
        try s.run()
        if conn.changes != 1 {
            throw HilbertError.record(conn, .io, "\(conn.path): counter \(name) missing")
        }
    }
    /// 64 numbers per counter update: the update (with RETURNING) was a tenth of a small-file
    /// create's statements; a process leaves the rest of its last batch unused.
    var inodeBatch: Int { 64 }

    func counterValue(_ name: String) throws(Errno) -> Int64 {
        let s = try conn.prepare("SELECT value FROM hl_counter WHERE name=?1")
        defer { s.reset() }
        s.bind(1, text: name)
        return try s.step() ? s.int64(0) : 0
    }

    func allCounters() throws(Errno) -> [(name: String, value: Int64)] {
        let s = try conn.prepare("SELECT name, value FROM hl_counter")
        defer { s.reset() }
        var out: [(name: String, value: Int64)] = []
        while try s.step() { out.append((s.text(0), s.int64(1))) }
        return out
    }

    // MARK: file content

    func inlineRow(_ ino: Ino) throws(Errno) -> (data: [UInt8], crc: UInt32?)? {
        let s = try conn.prepare("SELECT data, crc FROM hl_inline WHERE ino=?1")
        defer { s.reset() }
        s.bind(1, ino)
        guard try s.step() else { return nil }
        return (s.blob(0), s.isNull(1) ? nil : s.uint32(1))
    }

    func inlineRowLength(_ ino: Ino) throws(Errno) -> Int? {
        let s = try conn.prepare("SELECT length(data) FROM hl_inline WHERE ino=?1")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? Int(s.int64(0)) : nil
    }

    func putInlineRow(_ ino: Ino, _ data: [UInt8], crc: UInt32) throws(Errno) {
        changes.append(.inlineLength(ino, data.count))
        let s = try conn.prepare("INSERT OR REPLACE INTO hl_inline(ino, data, crc) VALUES(?1, ?2, ?3)")
        s.bind(1, ino); s.bind(2, blob: data); s.bind(3, crc)
        try s.run()
    }

    func deleteInlineRow(_ ino: Ino) throws(Errno) {
        changes.append(.inlineLength(ino, nil))
        try run("DELETE FROM hl_inline WHERE ino=?1", ino)
    }

    func blocks(_ ino: Ino) throws(Errno) -> [BlockRef] {
        let s = try conn.prepare("SELECT indx, object_id, raw_len, stored_len, crc, obj_off FROM hl_block WHERE ino=?1 ORDER BY indx")
        defer { s.reset() }
        s.bind(1, ino)
        var out: [BlockRef] = []
        while try s.step() {
            out.append(BlockRef(index: s.uint32(0), objectID: s.uint64(1), rawLength: s.uint32(2),
                                storedLength: s.uint32(3), crc: s.uint32(4), objectOffset: s.uint64(5)))
        }
        return out
    }

    func putBlock(_ ino: Ino, _ b: BlockRef) throws(Errno) {
        changes.append(.block(ino, b))
        let s = try conn.prepare("INSERT OR REPLACE INTO hl_block(ino, indx, object_id, raw_len, stored_len, crc, obj_off) VALUES(?1,?2,?3,?4,?5,?6,?7)")
        s.bind(1, ino); s.bind(2, b.index); s.bind(3, b.objectID); s.bind(4, b.rawLength)
        s.bind(5, b.storedLength); s.bind(6, b.crc); s.bind(7, b.objectOffset)
        try s.run()
    }

    func deleteBlock(_ ino: Ino, index: UInt32) throws(Errno) {
        changes.append(.blockGone(ino, index: index))
        let s = try conn.prepare("DELETE FROM hl_block WHERE ino=?1 AND indx=?2")
        s.bind(1, ino); s.bind(2, index)
        try s.run()
    }

    func deleteBlocks(_ ino: Ino) throws(Errno) {
        changes.append(.content(ino))
        try run("DELETE FROM hl_block WHERE ino=?1", ino)
    }

    func storedBlockBytes(_ ino: Ino) throws(Errno) -> UInt64 {
        let s = try conn.prepare("SELECT coalesce(sum(raw_len), 0) FROM hl_block WHERE ino=?1 AND object_id != 0")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? s.uint64(0) : 0
    }

    func forEachReferencedObjectID(_ body: (UInt64) -> Void) throws(Errno) {
        // SQLite sorts (spilling to its temporary files when large); nothing is collected here.
        let s = try conn.prepare("SELECT object_id FROM hl_block WHERE object_id != 0 ORDER BY object_id")
        defer { s.reset() }
        while try s.step() { body(s.uint64(0)) }
    }

    // MARK: packs

    func insertPack(_ p: PackRow) throws(Errno) {
        let s = try conn.prepare("INSERT INTO hl_pack(object_id, size, pieces, created_s) VALUES(?1, ?2, ?3, ?4)")
        s.bind(1, p.objectID); s.bind(2, p.size); s.bind(3, p.pieces); s.bind(4, p.created)
        try s.run()
    }

    func releasePackIfUnreferenced(_ objectID: UInt64) throws(Errno) -> DeletedObject? {
        let refs = try conn.prepare("SELECT 1 FROM hl_block WHERE object_id=?1 AND obj_off <> 0 LIMIT 1")
        refs.bind(1, objectID)
        let referenced = try refs.step()
        refs.reset()
        if referenced { return nil }
        let pack = try conn.prepare("SELECT size FROM hl_pack WHERE object_id=?1")
        pack.bind(1, objectID)
        let size: UInt64? = try pack.step() ? pack.uint64(0) : nil
        pack.reset()
        guard let size else { return nil }
        try run("DELETE FROM hl_pack WHERE object_id=?1", objectID)
        let gone = DeletedObject(objectID: objectID, storedLength: UInt32(clamping: size))
        try recordDeletedObjects([gone])
        _ = try addToCounter("objects", -1)
        return gone
    }

    func packLiveBytes(_ packs: [UInt64]) throws(Errno) -> [UInt64: UInt64] {
        let s = try conn.prepare("SELECT coalesce(sum(stored_len), 0) FROM hl_block WHERE object_id=?1 AND obj_off <> 0")
        var out: [UInt64: UInt64] = [:]
        for id in packs {
            s.bind(1, id)
            out[id] = try s.step() ? s.uint64(0) : 0
            s.reset()
        }
        return out
    }

    func packRows(after: UInt64, limit: Int) throws(Errno) -> [PackRow] {
        let s = try conn.prepare("SELECT object_id, size, pieces, created_s FROM hl_pack WHERE object_id > ?1 ORDER BY object_id LIMIT ?2")
        defer { s.reset() }
        s.bind(1, after)
        s.bind(2, Int64(limit))
        var out: [PackRow] = []
        while try s.step() { out.append(PackRow(objectID: s.uint64(0), size: s.uint64(1), pieces: s.uint64(2), created: s.int64(3))) }
        return out
    }

    // MARK: staging rows

    func stagingRow(_ ino: Ino) throws(Errno) -> (file: String, owner: String)? {
        let s = try conn.prepare("SELECT file, owner FROM hl_staging WHERE ino=?1")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? (s.text(0), s.text(1)) : nil
    }

    func putStagingRow(_ ino: Ino, file: String, owner: String, created: Int64) throws(Errno) {
        changes.append(.stagingRow(ino, (file, owner)))
        let s = try conn.prepare("INSERT OR REPLACE INTO hl_staging(ino, file, created_s, owner) VALUES(?1, ?2, ?3, ?4)")
        s.bind(1, ino); s.bind(2, text: file); s.bind(3, created); s.bind(4, text: owner)
        try s.run()
    }

    func deleteStagingRow(_ ino: Ino) throws(Errno) {
        changes.append(.stagingRow(ino, nil))
        try run("DELETE FROM hl_staging WHERE ino=?1", ino)
    }

    func allStagingRows() throws(Errno) -> [(Ino, String)] {
        let s = try conn.prepare("SELECT ino, file FROM hl_staging ORDER BY ino")
        defer { s.reset() }
        var out: [(Ino, String)] = []
        while try s.step() { out.append((s.uint64(0), s.text(1))) }
        return out
    }

    func stagingRowCount() throws(Errno) -> Int {
        Int(try conn.scalar("SELECT count(*) FROM hl_staging") ?? 0)
    }

    func setStaged(_ ino: Ino, _ staged: Bool) throws(Errno) {
        changes.append(.staged(ino, staged))
        try run(staged ? "UPDATE hl_node SET staged=1 WHERE ino=?1" : "UPDATE hl_node SET staged=0 WHERE ino=?1", ino)
    }

    // MARK: uploads in flight

    func insertUploadBatch(first: UInt64, count: Int, commit: UInt64, owner: String, touched: Int64) throws(Errno) {
        let s = try conn.prepare("INSERT INTO hl_upload(first_id, count, commit_key, owner, touched_s) VALUES(?1, ?2, ?3, ?4, ?5)")
        s.bind(1, first); s.bind(2, Int64(count)); s.bind(3, commit); s.bind(4, text: owner); s.bind(5, touched)
        try s.run()
    }

    func touchUploads(commit: UInt64, touched: Int64) throws(Errno) {
        let s = try conn.prepare("UPDATE hl_upload SET touched_s=?2 WHERE commit_key=?1")
        s.bind(1, commit); s.bind(2, touched)
        try s.run()
    }

    func deleteUploads(commit: UInt64) throws(Errno) {
        try run("DELETE FROM hl_upload WHERE commit_key=?1", commit)
    }

    func uploadBatches() throws(Errno) -> [UploadBatch] {
        let s = try conn.prepare("SELECT first_id, count, commit_key, owner, touched_s FROM hl_upload ORDER BY first_id")
        defer { s.reset() }
        var out: [UploadBatch] = []
        while try s.step() {
            out.append(UploadBatch(firstID: s.uint64(0), count: s.uint64(1), commit: s.uint64(2), owner: s.text(3), touched: s.int64(4)))
        }
        return out
    }

    // MARK: objects to delete

    func recordDeletedObjects(_ objects: [DeletedObject]) throws(Errno) {
        let s = try conn.prepare("INSERT OR REPLACE INTO hl_delobj(object_id, stored_len, due_s) VALUES(?1, ?2, ?3)")
        for o in objects {
            s.bind(1, o.objectID); s.bind(2, o.storedLength); s.bind(3, o.due)
            try s.run()
        }
    }

    func deletedObjects(after: UInt64, limit: Int, dueBy: Int64) throws(Errno) -> [DeletedObject] {
        let s = try conn.prepare("SELECT object_id, stored_len, due_s FROM hl_delobj WHERE object_id > ?2 AND due_s <= ?3 ORDER BY object_id LIMIT ?1")
        defer { s.reset() }
        s.bind(1, Int64(limit))
        s.bind(2, after)
        s.bind(3, dueBy)
        var out: [DeletedObject] = []
        while try s.step() { out.append(DeletedObject(objectID: s.uint64(0), storedLength: s.uint32(1), due: s.int64(2))) }
        return out
    }

    func forgetDeletedObjects(_ ids: [UInt64]) throws(Errno) {
        let s = try conn.prepare("DELETE FROM hl_delobj WHERE object_id=?1")
        for id in ids {
            s.bind(1, id)
            try s.run()
        }
    }

    func deletedObjectTotals(now: Int64) throws(Errno) -> PendingDeletionTotals {
        let s = try conn.prepare("SELECT count(*), coalesce(sum(stored_len), 0), count(*) FILTER (WHERE due_s > ?1), coalesce(max(due_s), 0) FROM hl_delobj")
        defer { s.reset() }
        s.bind(1, now)
        guard try s.step() else { return PendingDeletionTotals() }
        return PendingDeletionTotals(count: Int(s.int64(0)), bytes: s.uint64(1), deferred: Int(s.int64(2)), lastDue: s.int64(3))
    }

    // MARK: cluster locks: none (one node: the node-local kernel locks are the whole story)

    var sharedBetweenNodes: Bool { false }

    /// Bulk loading (SQLiteBackend+Bulk) writes rows the caches cannot follow.
    func noteUnknownChanges() { changesUnknown = true }
    func clusterLockRows(_ ino: Ino) throws(Errno) -> (nowMs: Int64, rows: [ClusterLockRow]) { (0, []) }
    func putClusterLockRows(_ ino: Ino, owner: ClusterLockOwner, kind: ClusterLockKind, _ ranges: [ClusterLockRange],
                            expiresMs: Int64) throws(Errno) {}
    func deleteExpiredClusterLocks(_ ino: Ino, nowMs: Int64) throws(Errno) {}
    func deleteClusterLocks(proc: String, ino: Ino?, handle: Int64?) throws(Errno) {}
    func renewClusterLocks(proc: String, ttlMs: Int64) throws(Errno) -> Int { 0 }

    /// One statement on one row id.
    private func run(_ sql: String, _ id: UInt64) throws(Errno) {
        let s = try conn.prepare(sql)
        s.bind(1, id)
        try s.run()
    }
}
