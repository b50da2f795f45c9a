import HilbertSupport

/// Whole-volume walks and bulk loading (`hilbert dump`, `hilbert load`) on PostgreSQL: each
/// page is one range scan of a primary key (bytea compares as bytes, as the protocol says).
extension PGBackend {
    func nodes(afterIno: Ino, limit: Int) throws(Errno) -> [Attr] {
        let r = try session.query("SELECT \(PGBackend.nodeColumns) FROM \(t)node WHERE ino>$1 ORDER BY ino LIMIT $2",
                                  [PGBackend.u(afterIno), .int(Int64(limit))])
        return (0..<r.rowCount).map { PGBackend.readAttr(r, $0) }
    }

    func allEdges(afterID: Int64, limit: Int) throws(Errno) -> [(id: Int64, parent: Ino, name: [UInt8], ino: Ino, type: UInt8)] {
        let r = try session.query("SELECT id, parent, name, ino, type FROM \(t)edge WHERE id>$1 ORDER BY id LIMIT $2",
                                  [.int(afterID), .int(Int64(limit))])
        return (0..<r.rowCount).map { k in
            (r.int64(k, 0), UInt64(bitPattern: r.int64(k, 1)), r.bytes(k, 2), UInt64(bitPattern: r.int64(k, 3)),
             UInt8(truncatingIfNeeded: r.int64(k, 4)))
        }
    }

    func symlinkRows(afterIno: Ino, limit: Int) throws(Errno) -> [(ino: Ino, target: [UInt8])] {
        let r = try session.query("SELECT ino, target FROM \(t)symlink WHERE ino>$1 ORDER BY ino LIMIT $2",
                                  [PGBackend.u(afterIno), .int(Int64(limit))])
        return (0..<r.rowCount).map { (UInt64(bitPattern: r.int64($0, 0)), r.bytes($0, 1)) }
    }

    func xattrRows(afterIno: Ino, afterName: [UInt8], limit: Int) throws(Errno) -> [(ino: Ino, name: [UInt8], value: [UInt8])] {
        let r = try session.query("SELECT ino, name, value FROM \(t)xattr WHERE (ino, name) > ($1, $2) ORDER BY ino, name LIMIT $3",
                                  [PGBackend.u(afterIno), .bytes(afterName), .int(Int64(limit))])
        return (0..<r.rowCount).map { (UInt64(bitPattern: r.int64($0, 0)), r.bytes($0, 1), r.bytes($0, 2)) }
    }

    func inlineRows(afterIno: Ino, limit: Int) throws(Errno) -> [(ino: Ino, data: [UInt8], crc: UInt32?)] {
        let r = try session.query("SELECT ino, data, crc FROM \(t)inline WHERE ino>$1 ORDER BY ino LIMIT $2",
                                  [PGBackend.u(afterIno), .int(Int64(limit))])
        return (0..<r.rowCount).map { k in
            (UInt64(bitPattern: r.int64(k, 0)), r.bytes(k, 1), r.isNull(k, 2) ? nil : UInt32(truncatingIfNeeded: r.int64(k, 2)))
        }
    }

    func blockRows(afterIno: Ino, afterIndex: UInt32, limit: Int) throws(Errno) -> [(ino: Ino, block: BlockRef)] {
        let r = try session.query("""
            SELECT ino, indx, object_id, raw_len, stored_len, crc, obj_off FROM \(t)block
            WHERE (ino, indx) > ($1, $2) ORDER BY ino, indx LIMIT $3
            """, [PGBackend.u(afterIno), PGBackend.u(afterIndex), .int(Int64(limit))])
        return (0..<r.rowCount).map { k in
            (UInt64(bitPattern: r.int64(k, 0)),
             BlockRef(index: UInt32(truncatingIfNeeded: r.int64(k, 1)), objectID: UInt64(bitPattern: r.int64(k, 2)),
                      rawLength: UInt32(truncatingIfNeeded: r.int64(k, 3)), storedLength: UInt32(truncatingIfNeeded: r.int64(k, 4)),
                      crc: UInt32(truncatingIfNeeded: r.int64(k, 5)), objectOffset: UInt64(bitPattern: r.int64(k, 6))))
        }
    }

    func insertEdge(id: Int64, _ parent: Ino, _ name: [UInt8], _ ino: Ino, type: UInt8) throws(Errno) {
        changesUnknown = true
        try session.write("INSERT INTO \(t)edge(id, parent, name, ino, type) VALUES($1, $2, $3, $4, $5)",
                          [.int(id), PGBackend.u(parent), .bytes(name), PGBackend.u(ino), .int(Int64(type))])
    }

    func setCounter(_ name: String, _ value: Int64) throws(Errno) {
        changesUnknown = true
        try session.write("""
            INSERT INTO \(t)counter(name, value) VALUES($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value
            """, [.text(name), .int(value)])
    }

    func putSetting(_ name: String, _ value: String) throws(Errno) {
        try session.write("""
            INSERT INTO \(t)setting(name, value) VALUES($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value
            """, [.text(name), .text(value)])
    }

    func deleteSetting(_ name: String) throws(Errno) {
        try session.write("DELETE FROM \(t)setting WHERE name=$1", [.text(name)])
    }

    /// Loaded edges carry their ids: the identity sequence must continue above the largest.
    func bulkLoadFinished() throws(Errno) {
        _ = try session.query("""
            SELECT setval(pg_get_serial_sequence('\(t)edge', 'id'), greatest((SELECT max(id) FROM \(t)edge), 1))
            """)
    }
}
