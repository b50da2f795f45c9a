import HilbertSupport

/// Whole-volume walks and bulk loading (`hilbert dump`, `hilbert load`): MetaBackend's last
/// group. Every walk is one range scan of a primary key (row values use the key's index).
extension SQLiteBackend {
    func nodes(afterIno: Ino, limit: Int) throws(Errno) -> [Attr] {
        let s = try conn.prepare("SELECT \(SQLiteBackend.nodeColumns) FROM hl_node WHERE ino>?1 ORDER BY ino LIMIT ?2")
        defer { s.reset() }
        s.bind(1, afterIno)
        s.bind(2, limit)
        var out: [Attr] = []
        while try s.step() { out.append(SQLiteBackend.readAttr(s)) }
        return out
    }

    func allEdges(afterID: Int64, limit: Int) throws(Errno) -> [(id: Int64, parent: Ino, name: [UInt8], ino: Ino, type: UInt8)] {
        let s = try conn.prepare("SELECT id, parent, name, ino, type FROM hl_edge WHERE id>?1 ORDER BY id LIMIT ?2")
        defer { s.reset() }
        s.bind(1, afterID)
        s.bind(2, limit)
        var out: [(id: Int64, parent: Ino, name: [UInt8], ino: Ino, type: UInt8)] = []
        while try s.step() {
            out.append((s.int64(0), s.uint64(1), s.blob(2), s.uint64(3), UInt8(truncatingIfNeeded: s.int64(4))))
        }
        return out
    }

    func symlinkRows(afterIno: Ino, limit: Int) throws(Errno) -> [(ino: Ino, target: [UInt8])] {
        let s = try conn.prepare("SELECT ino, target FROM hl_symlink WHERE ino>?1 ORDER BY ino LIMIT ?2")
        defer { s.reset() }
        s.bind(1, afterIno)
        s.bind(2, limit)
        var out: [(ino: Ino, target: [UInt8])] = []
        while try s.step() { out.append((s.uint64(0), s.blob(1))) }
        return out
    }

    func xattrRows(afterIno: Ino, afterName: [UInt8], limit: Int) throws(Errno) -> [(ino: Ino, name: [UInt8], value: [UInt8])] {
        // Names are stored as blobs: compared with memcmp, as the protocol says.
        let s = try conn.prepare("SELECT ino, name, value FROM hl_xattr WHERE (ino, name) > (?1, ?2) ORDER BY ino, name LIMIT ?3")
        defer { s.reset() }
        s.bind(1, afterIno)
        s.bind(2, blob: afterName)
        s.bind(3, limit)
        var out: [(ino: Ino, name: [UInt8], value: [UInt8])] = []
        while try s.step() { out.append((s.uint64(0), s.blob(1), s.blob(2))) }
        return out
    }

    func inlineRows(afterIno: Ino, limit: Int) throws(Errno) -> [(ino: Ino, data: [UInt8], crc: UInt32?)] {
        let s = try conn.prepare("SELECT ino, data, crc FROM hl_inline WHERE ino>?1 ORDER BY ino LIMIT ?2")
        defer { s.reset() }
        s.bind(1, afterIno)
        s.bind(2, limit)
        var out: [(ino: Ino, data: [UInt8], crc: UInt32?)] = []
        while try s.step() { out.append((s.uint64(0), s.blob(1), s.isNull(2) ? nil : s.uint32(2))) }
        return out
    }

    func blockRows(afterIno: Ino, afterIndex: UInt32, limit: Int) throws(Errno) -> [(ino: Ino, block: BlockRef)] {
        let s = try conn.prepare("""
            SELECT ino, indx, object_id, raw_len, stored_len, crc, obj_off FROM hl_block
            WHERE (ino, indx) > (?1, ?2) ORDER BY ino, indx LIMIT ?3
            """)
        defer { s.reset() }
        s.bind(1, afterIno)
        s.bind(2, afterIndex)
        s.bind(3, limit)
        var out: [(ino: Ino, block: BlockRef)] = []
        while try s.step() {
            out.append((s.uint64(0), BlockRef(index: s.uint32(1), objectID: s.uint64(2), rawLength: s.uint32(3),
                                              storedLength: s.uint32(4), crc: s.uint32(5), objectOffset: s.uint64(6))))
        }
        return out
    }

    func insertEdge(id: Int64, _ parent: Ino, _ name: [UInt8], _ ino: Ino, type: UInt8) throws(Errno) {
        noteUnknownChanges()
        let s = try conn.prepare("INSERT INTO hl_edge(id, parent, name, ino, type) VALUES(?1, ?2, ?3, ?4, ?5)")
        s.bind(1, id); s.bind(2, parent); s.bind(3, blob: name); s.bind(4, ino); s.bind(5, Int64(type))
        try s.run()
    }

    func setCounter(_ name: String, _ value: Int64) throws(Errno) {
        noteUnknownChanges()
        let s = try conn.prepare("INSERT OR REPLACE INTO hl_counter(name, value) VALUES(?1, ?2)")
        s.bind(1, text: name); s.bind(2, value)
        try s.run()
    }

    func putSetting(_ name: String, _ value: String) throws(Errno) {
        let s = try conn.prepare("INSERT OR REPLACE INTO hl_setting(name, value) VALUES(?1, ?2)")
        s.bind(1, text: name); s.bind(2, text: value)
        try s.run()
    }

    func deleteSetting(_ name: String) throws(Errno) {
        let s = try conn.prepare("DELETE FROM hl_setting WHERE name=?1")
        s.bind(1, text: name)
        try s.run()
    }

    func insertNodes(_ nodes: [Attr]) throws(Errno) {
        for a in nodes { try insertNode(a) }
    }

    func insertEdges(_ edges: [(parent: Ino, name: [UInt8], ino: Ino, type: UInt8)]) throws(Errno) {
        for e in edges { try insertEdge(e.parent, e.name, e.ino, type: e.type) }
    }

    func putBlocks(_ blocks: [(ino: Ino, block: BlockRef)]) throws(Errno) {
        for b in blocks { try putBlock(b.ino, b.block) }
    }

    func deleteInlineRows(_ inos: [Ino]) throws(Errno) {
        for ino in inos { try deleteInlineRow(ino) }
    }

    func inlineRows(of inos: [Ino]) throws(Errno) -> [Ino: (data: [UInt8], crc: UInt32?)] {
        var out: [Ino: (data: [UInt8], crc: UInt32?)] = [:]
        for ino in inos { if let row = try inlineRow(ino) { out[ino] = row } }
        return out
    }

    func blocks(of inos: [Ino]) throws(Errno) -> [Ino: [BlockRef]] {
        var out: [Ino: [BlockRef]] = [:]
        for ino in inos {
            let b = try blocks(ino)
            if !b.isEmpty { out[ino] = b }
        }
        return out
    }

    /// Rowids continue above the largest; nothing to bring forward.
    func bulkLoadFinished() throws(Errno) {}
}
