import Glibc
import CSQLite
import CSQLiteWAL
import HilbertSupport

/// A single SQLite connection with a statement cache. Not thread-safe by itself: `MetaStore`
/// serialises every call with its lock (the handle is opened with SQLITE_OPEN_NOMUTEX).
///
/// Every SQLite result code becomes an `Errno` in exactly one place, `error(_:_:)`:
/// BUSY/LOCKED (after the busy timeout) → EAGAIN, FULL → ENOSPC, CORRUPT/NOTADB → EIO,
/// CANTOPEN → ENOENT or EACCES, CONSTRAINT → EEXIST, READONLY → EROFS, NOMEM → ENOMEM,
/// IOERR → EIO (ENOSPC when the OS said so), TOOBIG → EFBIG. The human explanation of the
/// last error is kept in `lastError`.
public final class Connection {
    public let path: String
    let create: Bool
    private(set) var db: OpaquePointer?
    private var statements: [String: Statement] = [:]
    /// Transaction nesting depth (0: autocommit).
    private(set) var depth = 0
    private(set) var inWriteTransaction = false
    /// Explanation of the most recent failure.
    public internal(set) var lastError: HilbertError?
    /// Called after every write transaction ends, with whether it committed (e.g. to bring
    /// caches up to date or drop them).
    var onWriteEnd: ((Bool) -> Void)?
    /// With `readsBeginVersion`: `PRAGMA data_version` read right after the current (or last)
    /// write transaction's BEGIN IMMEDIATE, so under the write lock: the version any other
    /// connection's last commit left, which this transaction's own commit does not change.
    var readsBeginVersion = false
    private(set) var beginVersion: Int64 = 0
    /// Outermost transactions begun (read and write): what a call cost, for tests.
    private(set) var transactionsBegun = 0
    public static let busyTimeoutMillis: Int32 = 10_000
    /// Frames in the WAL after this connection's last commit (the WAL hook), and after the
    /// last write transaction (for tests).
    fileprivate var walFrames: Int32 = 0
    private(set) var framesAfterLastWrite: Int32 = 0
    /// This database's checkpoints (made on the first commit that asks for one).
    private(set) var checkpointer: Checkpointer?

    public init(path: String, create: Bool) throws(Errno) {
        self.path = path
        self.create = create
        try open()
    }

    deinit {
        close()
    }

    private func open() throws(Errno) {
        var handle: OpaquePointer?
        var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        if create { flags |= SQLITE_OPEN_CREATE }
        let rc = sqlite3_open_v2(path, &handle, flags, hl_sqlite_wal_vfs())
        if rc != SQLITE_OK {
            let e: Errno
            if let handle {
                db = handle
                e = error(rc, "open")
                sqlite3_close_v2(handle)
                db = nil
            } else {
                e = .noMemory
            }
            throw e
        }
        guard let handle else { throw Errno.noMemory }
        db = handle
        let rc2 = Connection.configure(handle)
        if rc2 != SQLITE_OK {
            let e = error(rc2, "setting up the connection")
            close()
            throw e
        }
        // Checkpoints are the Checkpointer's (SQLite's automatic one would run inside the
        // commit that crosses its threshold, with its syncs): the hook only counts frames.
        sqlite3_wal_hook(handle, { context, _, _, frames in
            Unmanaged<Connection>.fromOpaque(context!).takeUnretainedValue().walFrames = frames
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// What every connection to a volume database is set up with: extended result codes, the
    /// busy timeout, and the pragmas (durability: SEMANTICS.md).
    static func configure(_ handle: OpaquePointer) -> Int32 {
        sqlite3_extended_result_codes(handle, 1)
        // SQLite's own waits (1, 2, 5, 10… 100 ms): a handler that slept 20 µs to 1 ms let
        // processes writing at once take turns at every transaction, and each turn found its
        // page cache out of date: 4 processes creating small files spent a third more CPU per
        // file and made fewer files in all (measured on 2 cores).
        sqlite3_busy_timeout(handle, busyTimeoutMillis)
        // One call; journal_mode after a pragma that loads the schema: as the first
        // statement it cost every process ~0.06 ms more (measured, not explained).
        return sqlite3_exec(handle, "PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY",
                            nil, nil, nil)
    }

    /// Close the handle (finalising statements). Safe to call twice.
    public func close() {
        for (_, s) in statements { s.finalize() }
        statements.removeAll()
        if let db { sqlite3_close_v2(db) }
        db = nil
        depth = 0
        inWriteTransaction = false
    }

    /// In a forked child: forget the parent's handle without closing it (closing would touch
    /// locks and the WAL the parent still uses). The next call reopens lazily.
    public func abandonAfterFork() {
        checkpointer?.afterForkInChild()
        // Leak the statements and the handle on purpose.
        for (_, s) in statements { _ = Unmanaged.passRetained(s) }
        statements = [:]
        db = nil
        depth = 0
        inWriteTransaction = false
    }

    @inline(__always) func handle() throws(Errno) -> OpaquePointer {
        if let db { return db }
        try open()
        return db!
    }

    // MARK: errors

    /// Map a SQLite result code to an errno (the only place doing so) and remember why.
    func error(_ rc: Int32, _ context: String) -> Errno {
        let primary = rc & 0xff
        let sysErr = db.map { sqlite3_system_errno($0) } ?? 0
        let detail = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
        let e: Errno
        var message = "metadata \(path): \(detail) [\(context)]"
        switch primary {
        case SQLITE_BUSY, SQLITE_LOCKED: e = .again
        case SQLITE_FULL: e = .noSpace
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            e = .io
            message = "\(path) is not a Hilbert metadata database or is corrupt (\(detail))"
        case SQLITE_CANTOPEN:
            e = (sysErr == EACCES || sysErr == EPERM) ? .access : (sysErr == EISDIR ? .isDirectory : .noEntry)
        case SQLITE_CONSTRAINT: e = .exists
        case SQLITE_READONLY: e = .readOnly
        case SQLITE_NOMEM: e = .noMemory
        case SQLITE_PERM, SQLITE_AUTH: e = .access
        case SQLITE_TOOBIG: e = .fileTooBig
        case SQLITE_INTERRUPT: e = .interrupted
        case SQLITE_IOERR:
            e = sysErr == ENOSPC ? .noSpace : (sysErr == EDQUOT ? .quota : .io)
        default: e = .io
        }
        lastError = HilbertError(e, message)
        if primary == SQLITE_CORRUPT || (primary == SQLITE_IOERR && e == .io) {
            Log.debug(message)
        }
        return e
    }

    // MARK: statements

    /// A cached prepared statement for `sql` (prepared once per connection).
    @inline(__always)
    public func prepare(_ sql: String) throws(Errno) -> Statement {
        if let s = statements[sql] { return s }
        return try prepareSlow(sql)
    }

    private func prepareSlow(_ sql: String) throws(Errno) -> Statement {
        let db = try handle()
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, sql) }
        let s = Statement(handle: stmt, connection: self, sql: sql)
        statements[sql] = s
        return s
    }

    /// Run one or more statements without results (not cached).
    public func exec(_ sql: String) throws(Errno) {
        let db = try handle()
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc, sql) }
    }

    public var lastInsertRowID: Int64 { db.map { sqlite3_last_insert_rowid($0) } ?? 0 }
    public var changes: Int { db.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// `PRAGMA data_version`: changes when another connection committed.
    public func dataVersion() throws(Errno) -> Int64 {
        let s = try prepare("PRAGMA data_version")
        defer { s.reset() }
        return try s.step() ? s.int64(0) : 0
    }

    /// A single Int64 from a query (nil when there is no row).
    public func scalar(_ sql: String) throws(Errno) -> Int64? {
        let s = try prepare(sql)
        defer { s.reset() }
        return try s.step() ? s.int64(0) : nil
    }

    // MARK: transactions

    /// Run `body` in a transaction. `immediate` takes the write lock up front (BEGIN IMMEDIATE)
    /// so that concurrent writers queue on the busy timeout instead of failing mid-way.
    /// Nested calls use savepoints; a write nested in a read transaction is refused (EIO),
    /// because SQLite cannot upgrade a read snapshot safely.
    public func transaction<T>(immediate: Bool, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        if depth > 0 {
            if immediate && !inWriteTransaction {
                lastError = HilbertError(.io, "internal: write transaction nested in a read transaction")
                Log.error(lastError!.message)
                throw Errno.io
            }
            if !immediate {
                depth += 1
                defer { depth -= 1 }
                return try body()
            }
            try stepOnce("SAVEPOINT hl_sp")
            depth += 1
            do throws(Errno) {
                let r = try body()
                depth -= 1
                try stepOnce("RELEASE hl_sp")
                return r
            } catch {
                depth -= 1
                try? stepOnce("ROLLBACK TO hl_sp")
                try? stepOnce("RELEASE hl_sp")
                throw error
            }
        }
        try stepOnce(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        transactionsBegun &+= 1
        depth = 1
        inWriteTransaction = immediate
        var committed = false
        defer {
            if immediate {
                onWriteEnd?(committed)
                checkpointIfDue()
            }
        }
        do throws(Errno) {
            if immediate && readsBeginVersion { beginVersion = try dataVersion() }
            let r = try body()
            do throws(Errno) {
                try stepOnce("COMMIT")
                committed = true
            } catch {
                try? stepOnce("ROLLBACK")
                depth = 0
                inWriteTransaction = false
                throw error
            }
            depth = 0
            inWriteTransaction = false
            return r
        } catch {
            if depth > 0 {
                if let db, sqlite3_get_autocommit(db) == 0 { try? stepOnce("ROLLBACK") }
                depth = 0
                inWriteTransaction = false
            }
            throw error
        }
    }

    /// After a write transaction: the checkpointer decides whether the WAL needs one.
    private func checkpointIfDue() {
        let frames = walFrames
        walFrames = 0
        framesAfterLastWrite = frames
        guard frames >= Checkpointer.frames, let db else { return }
        if checkpointer == nil { checkpointer = Checkpointer(path: path) }
        checkpointer!.committed(frames: frames, on: db)
    }

    /// Fork: the checkpoint thread must be outside SQLite (see Checkpointer).
    func beforeFork() { checkpointer?.beforeFork() }
    func afterForkInParent() { checkpointer?.afterForkInParent() }

    @inline(__always) private func stepOnce(_ sql: String) throws(Errno) {
        let s = try prepare(sql)
        defer { sqlite3_reset(s.handle) }
        _ = try s.step()
    }
}
