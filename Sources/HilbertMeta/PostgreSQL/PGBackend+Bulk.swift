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
        // Block 0 of a node follows every block of a smaller ino and precedes its own others:
        // past (afterIno, afterIndex), a node's block 0 comes only from a greater ino.
        let r = try session.query("""
            SELECT ino, indx, object_id, raw_len, stored_len, crc, obj_off FROM (
                (SELECT ino, 0 AS indx, b0_object AS object_id, b0_raw AS raw_len, b0_stored AS stored_len, b0_crc AS crc,
                    b0_off AS obj_off FROM \(t)node WHERE ino > $1 AND b0_object IS NOT NULL ORDER BY ino LIMIT $3)
                UNION ALL
                (SELECT ino, indx, object_id, raw_len, stored_len, crc, obj_off FROM \(t)extent
                    WHERE (ino, indx) > ($1, $2) ORDER BY ino, indx LIMIT $3)) b
            ORDER BY ino, indx LIMIT $3
            """, [PGBackend.u(afterIno), PGBackend.s32(afterIndex), .int(Int64(limit))])
        return (0..<r.rowCount).map { k in (UInt64(bitPattern: r.int64(k, 0)), PGBackend.blockRef(r, k, 1)) }
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

    func insertNodes(_ nodes: [Attr]) throws(Errno) {
        if nodes.isEmpty { return }
        changesUnknown = true
        let columns: [(Attr) -> Int64] = [
            { Int64(bitPattern: $0.ino) }, { PGBackend.int32Bits($0.mode) }, { PGBackend.int32Bits($0.nlink) }, { PGBackend.int32Bits($0.uid) }, { PGBackend.int32Bits($0.gid) },
            { Int64(bitPattern: $0.rdev) }, { Int64(bitPattern: $0.size) }, { $0.atime.sec }, { PGBackend.int32Bits($0.atime.nsec) },
            { $0.mtime.sec }, { PGBackend.int32Bits($0.mtime.nsec) }, { $0.ctime.sec }, { PGBackend.int32Bits($0.ctime.nsec) }, { $0.btime.sec },
            { PGBackend.int32Bits($0.btime.nsec) }, { Int64(bitPattern: $0.parent) }, { Int64(bitPattern: $0.version) }, { $0.staged ? 1 : 0 },
        ]
        let arrays = (1...columns.count).map { "$\($0)::bigint[]" }.joined(separator: ",")
        try session.write("INSERT INTO \(t)node(\(PGBackend.nodeColumns)) SELECT * FROM unnest(\(arrays))",
                          columns.map { column in PGBackend.bigintArray(nodes.lazy.map(column)) })
    }

    func insertEdges(_ edges: [(parent: Ino, name: [UInt8], ino: Ino, type: UInt8)]) throws(Errno) {
        if edges.isEmpty { return }
        changesUnknown = true
        try session.write("""
            INSERT INTO \(t)edge(parent, name, ino, type) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::bigint[])
            """, [PGBackend.bigintArray(edges.lazy.map { Int64(bitPattern: $0.parent) }), PGBackend.byteaArray(edges.lazy.map { $0.name }),
                  PGBackend.bigintArray(edges.lazy.map { Int64(bitPattern: $0.ino) }), PGBackend.bigintArray(edges.lazy.map { Int64($0.type) })])
    }

    func putBlocks(_ blocks: [(ino: Ino, block: BlockRef)]) throws(Errno) {
        if blocks.isEmpty { return }
        for b in blocks { changes.append(.block(b.ino, b.block)) }
        func columns(_ bs: [(ino: Ino, block: BlockRef)]) -> [PGValue] {
            [PGBackend.bigintArray(bs.lazy.map { Int64(bitPattern: $0.ino) }), PGBackend.bigintArray(bs.lazy.map { PGBackend.int32Bits($0.block.index) }),
             PGBackend.bigintArray(bs.lazy.map { Int64(bitPattern: $0.block.objectID) }),
             PGBackend.bigintArray(bs.lazy.map { PGBackend.int32Bits($0.block.rawLength) }),
             PGBackend.bigintArray(bs.lazy.map { PGBackend.int32Bits($0.block.storedLength) }),
             PGBackend.bigintArray(bs.lazy.map { PGBackend.int32Bits($0.block.crc) }),
             PGBackend.bigintArray(bs.lazy.map { Int64(bitPattern: $0.block.objectOffset) })]
        }
        // Blocks 0 into their node rows (v6), the others into hl_extent.
        let first = blocks.filter { $0.block.index == 0 }
        let others = blocks.filter { $0.block.index != 0 }
        if !first.isEmpty {
            try session.write("""
                UPDATE \(t)node n SET b0_object = u.object_id, b0_raw = u.raw_len, b0_stored = u.stored_len, b0_crc = u.crc,
                    b0_off = u.obj_off
                FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
                    AS u(ino, indx, object_id, raw_len, stored_len, crc, obj_off)
                WHERE n.ino = u.ino
                """, columns(first))
        }
        if !others.isEmpty {
            try session.write("""
                INSERT INTO \(t)extent(ino, indx, object_id, raw_len, stored_len, crc, obj_off)
                SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
                ON CONFLICT (ino, indx) DO UPDATE SET object_id = EXCLUDED.object_id, raw_len = EXCLUDED.raw_len,
                stored_len = EXCLUDED.stored_len, crc = EXCLUDED.crc, obj_off = EXCLUDED.obj_off
                """, columns(others))
        }
    }

    /// An unsigned 32-bit value as the `integer` column holds it (bit pattern).
    @inline(__always) static func int32Bits(_ v: UInt32) -> Int64 { Int64(Int32(bitPattern: v)) }

    func deleteInlineRows(_ inos: [Ino]) throws(Errno) {
        if inos.isEmpty { return }
        for ino in inos { changes.append(.inlineLength(ino, nil)) }
        try session.write("DELETE FROM \(t)inline WHERE ino = ANY($1::bigint[])",
                          [PGBackend.bigintArray(inos.lazy.map { Int64(bitPattern: $0) })])
    }

    func inlineRows(of inos: [Ino]) throws(Errno) -> [Ino: (data: [UInt8], crc: UInt32?)] {
        if inos.isEmpty { return [:] }
        let r = try session.query("SELECT ino, data, crc FROM \(t)inline WHERE ino = ANY($1::bigint[])",
                                  [PGBackend.bigintArray(inos.lazy.map { Int64(bitPattern: $0) })])
        var out: [Ino: (data: [UInt8], crc: UInt32?)] = [:]
        for k in 0..<r.rowCount {
            out[UInt64(bitPattern: r.int64(k, 0))] = (r.bytes(k, 1), r.isNull(k, 2) ? nil : UInt32(truncatingIfNeeded: r.int64(k, 2)))
        }
        return out
    }

    func blocks(of inos: [Ino]) throws(Errno) -> [Ino: [BlockRef]] {
        if inos.isEmpty { return [:] }
        let r = try session.query("""
            SELECT i.ino, b.indx, b.object_id, b.raw_len, b.stored_len, b.crc, b.obj_off
            FROM (SELECT DISTINCT unnest($1::bigint[]) AS ino) i CROSS JOIN LATERAL \(t)blocks(i.ino) b ORDER BY i.ino, b.indx
            """, [PGBackend.bigintArray(inos.lazy.map { Int64(bitPattern: $0) })])
        var out: [Ino: [BlockRef]] = [:]
        for k in 0..<r.rowCount {
            out[UInt64(bitPattern: r.int64(k, 0)), default: []].append(PGBackend.blockRef(r, k, 1))
        }
        return out
    }

    /// A `bigint[]` parameter in text form: {1,2,3}.
    static func bigintArray<S: Sequence>(_ values: S) -> PGValue where S.Element == Int64 {
        var out: [UInt8] = [0x7B]
        for v in values {
            if out.count > 1 { out.append(0x2C) }
            out += String(v).utf8
        }
        out.append(0x7D)
        return .text(String(decoding: out, as: UTF8.self))
    }

    /// A `bytea[]` parameter in text form: each element in hex, quoted, its backslash
    /// escaped ({"\\x6869",…}).
    static func byteaArray<S: Sequence>(_ values: S) -> PGValue where S.Element == [UInt8] {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [0x7B]
        for v in values {
            if out.count > 1 { out.append(0x2C) }
            out += [0x22, 0x5C, 0x5C, 0x78]
            for b in v {
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
            out.append(0x22)
        }
        out.append(0x7D)
        return .text(String(decoding: out, as: UTF8.self))
    }

    /// Loaded edges carry their ids: the identity sequence must continue above the largest.
    func bulkLoadFinished() throws(Errno) {
        _ = try session.query("""
            SELECT setval(pg_get_serial_sequence('\(t)edge', 'id'), greatest((SELECT max(id) FROM \(t)edge), 1))
            """)
    }
}
