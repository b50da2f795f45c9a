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
        try run("DELETE FROM hl_xattr WHERE ino=?1", ino)
    }

    // MARK: symbolic links

    func symlinkTarget(_ ino: Ino) throws(Errno) -> [UInt8]? {
        let s = try conn.prepare("SELECT target FROM hl_symlink WHERE ino=?1")
        defer { s.reset() }
        s.bind(1, ino)
        return try s.step() ? s.blob(0) : nil
    }

    func putSymlinkTarget(_ ino: Ino, _ target: [UInt8]) throws(Errno) {
        let s = try conn.prepare("INSERT INTO hl_symlink(ino, target) VALUES(?1, ?2)")
        s.bind(1, ino); s.bind(2, blob: target)
        try s.run()
    }

    func deleteSymlinkTarget(_ ino: Ino) throws(Errno) {
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

    /// One statement on one row id.
    private func run(_ sql: String, _ id: UInt64) throws(Errno) {
        let s = try conn.prepare(sql)
        s.bind(1, id)
        try s.run()
    }
}
