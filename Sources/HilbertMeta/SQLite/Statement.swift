import CSQLite
import HilbertSupport

/// A prepared statement owned (and cached) by a `Connection`. Not thread-safe: the owner
/// serialises access. Usage: bind, `step()` until false, `reset()` (use `defer`).
public final class Statement {
    @usableFromInline let handle: OpaquePointer
    unowned let connection: Connection
    let sql: String

    init(handle: OpaquePointer, connection: Connection, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    func finalize() { sqlite3_finalize(handle) }

    // MARK: binding (1-based indices, like SQLite)

    @inline(__always) public func bind(_ i: Int32, _ v: Int64) {
        sqlite3_bind_int64(handle, i, v)
    }
    @inline(__always) public func bind(_ i: Int32, _ v: UInt64) {
        sqlite3_bind_int64(handle, i, Int64(bitPattern: v))
    }
    @inline(__always) public func bind(_ i: Int32, _ v: Int) {
        sqlite3_bind_int64(handle, i, Int64(v))
    }
    @inline(__always) public func bind(_ i: Int32, _ v: UInt32) {
        sqlite3_bind_int64(handle, i, Int64(v))
    }
    /// A blob; an empty array binds a zero-length blob (never NULL).
    @inline(__always) public func bind(_ i: Int32, blob: [UInt8]) {
        _ = blob.withUnsafeBytes { b in
            if b.count == 0 {
                sqlite3_bind_zeroblob(handle, i, 0)
            } else {
                sqlite3_bind_blob(handle, i, b.baseAddress, Int32(b.count), csqlite_transient())
            }
        }
    }
    @inline(__always) public func bind(_ i: Int32, blob: ArraySlice<UInt8>) {
        _ = blob.withUnsafeBytes { b in
            if b.count == 0 {
                sqlite3_bind_zeroblob(handle, i, 0)
            } else {
                sqlite3_bind_blob(handle, i, b.baseAddress, Int32(b.count), csqlite_transient())
            }
        }
    }
    public func bind(_ i: Int32, text: String) {
        _ = sqlite3_bind_text(handle, i, text, -1, csqlite_transient())
    }
    public func bindNull(_ i: Int32) { sqlite3_bind_null(handle, i) }

    // MARK: stepping

    /// True when a row is available, false when done. Errors are mapped by the connection.
    @inline(__always) public func step() throws(Errno) -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.error(rc, sql)
    }
    /// Execute a statement that returns no rows of interest.
    @inline(__always) public func run() throws(Errno) {
        defer { reset() }
        while try step() {}
    }
    @inline(__always) public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    // MARK: columns (0-based)

    @inline(__always) public func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(handle, c) }
    @inline(__always) public func uint64(_ c: Int32) -> UInt64 { UInt64(bitPattern: sqlite3_column_int64(handle, c)) }
    @inline(__always) public func uint32(_ c: Int32) -> UInt32 { UInt32(truncatingIfNeeded: sqlite3_column_int64(handle, c)) }
    @inline(__always) public func isNull(_ c: Int32) -> Bool { sqlite3_column_type(handle, c) == SQLITE_NULL }
    public func blob(_ c: Int32) -> [UInt8] {
        let p = sqlite3_column_blob(handle, c)
        let n = Int(sqlite3_column_bytes(handle, c))
        guard let p, n > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
    public func text(_ c: Int32) -> String {
        guard let p = sqlite3_column_text(handle, c) else { return "" }
        let n = Int(sqlite3_column_bytes(handle, c))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
}
