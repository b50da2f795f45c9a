import HilbertSupport

/// The SQLite metadata backend: the rows of docs/FORMAT.md in one database file, reached
/// through the caller's `Connection` (and its transaction).
final class SQLiteBackend: MetaBackend {
    let conn: Connection

    init(_ conn: Connection) { self.conn = conn }

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
        let s = try conn.prepare("DELETE FROM hl_xattr WHERE ino=?1")
        s.bind(1, ino)
        try s.run()
    }
}
