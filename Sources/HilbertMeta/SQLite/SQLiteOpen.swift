import Glibc
import HilbertSupport

/// Creating and opening a volume whose metadata is an SQLite database file (the checks of
/// the file and its directory, the migrations, the settings rows).
extension MetaStore {
    // MARK: opening

    /// Format a new volume database at `path`. EEXIST when a volume (or any file) is there.
    public static func create(path: String, format: VolumeFormat, rootUID: UInt32, rootGID: UInt32,
                              rootMode: UInt32 = 0o755) throws(Errno) -> MetaStore {
        let conn = try createDatabase(path: path) { (conn: Connection) throws(Errno) in
            let rows = SQLiteBackend(conn)
            for (k, v) in settingRows(format) { try rows.putSetting(k, v) }
            let t = Timespec.now()
            let root = Attr(ino: rootIno, mode: FileType.directory.rawValue | (rootMode & 0o7777), nlink: 2,
                            uid: rootUID, gid: rootGID, rdev: 0, size: 0, atime: t, mtime: t, ctime: t, btime: t,
                            parent: rootIno, version: 0, staged: false)
            try rows.insertNode(root)
            _ = try rows.addToCounter("inodes", 1)
        }
        return MetaStore(backend: SQLiteBackend(conn), format: format)
    }

    /// A new volume database for `hilbert load`: the schema and, of the settings, only the
    /// `loading` marker (`open` refuses the volume until the load's last transaction writes
    /// the settings), no root node. EEXIST when a volume (or any file) is there.
    static func createForLoad(path: String, format: VolumeFormat, source: String) throws(Errno) -> MetaStore {
        let conn = try createDatabase(path: path) { (conn: Connection) throws(Errno) in
            try SQLiteBackend(conn).putSetting(loadingSetting, source)
        }
        return MetaStore(backend: SQLiteBackend(conn), format: format)
    }

    /// Create the database file (0600), apply the migrations, then run `fill` in one write
    /// transaction on the empty schema.
    private static func createDatabase(path: String, _ fill: (Connection) throws(Errno) -> Void) throws(Errno) -> Connection {
        lastOpenError = nil
        if Sys.exists(path) {
            lastOpenError = HilbertError(.exists, "\(path) already exists")
            throw Errno.exists
        }
        do throws(Errno) {
            // 0600: the database holds the content of small files. SQLite gives its -wal and
            // -shm files the database's mode, and so does the -epoch file (ChangeEpoch).
            // Sharing a volume between users is the administrator's choice (README).
            let fd = try Sys.open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
            Sys.close(fd)
            let conn = try Connection(path: path, create: true)
            try Migrations.apply(conn, fresh: true)
            try conn.transaction(immediate: true) { () throws(Errno) in
                if try conn.scalar("SELECT count(*) FROM hl_setting") ?? 0 > 0 {
                    throw HilbertError.record(conn, .exists, "\(path) already holds a Hilbert volume")
                }
                try fill(conn)
            }
            return conn
        } catch {
            if lastOpenError == nil { lastOpenError = HilbertError(error, "cannot create \(path): \(error)") }
            throw error
        }
    }

    /// Open an existing volume database. ENOENT when missing; EIO (explained in
    /// `lastOpenError`) when the file is not a Hilbert database or is corrupt.
    public static func open(path: String) throws(Errno) -> MetaStore {
        lastOpenError = nil
        do throws(Errno) { _ = try Sys.stat(path) } catch {
            if error == .noEntry || error == .notDirectory {
                lastOpenError = HilbertError(.noEntry, "\(path): no such volume database")
                throw Errno.noEntry
            }
            lastOpenError = HilbertError(error, error == .access ? unreachableReason(path) : "\(path): \(error)")
            throw error
        }
        // The metadata is written by every process that changes the volume, and SQLite's WAL
        // files are made beside it: both need write access.
        let dir = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
        if !Sys.access(path, R_OK | W_OK) || !Sys.access(dir, W_OK | X_OK) {
            let what = !Sys.access(path, R_OK) ? "\(path) is not readable by you" :
                !Sys.access(path, W_OK) ? "\(path) is read-only for you" : "its directory \(dir) is not writable by you"
            lastOpenError = HilbertError(.access, "permission denied: \(what) (uid \(geteuid())); using a volume needs read and write access to its metadata database and that directory (SQLite's WAL files)")
            throw Errno.access
        }
        var connection: Connection?
        do throws(Errno) {
            // An empty file would silently become an empty database: refuse it untouched.
            if let st = try? Sys.stat(path), st.st_size == 0 {
                throw HilbertError.record(nil, .io, "\(path) is empty, not a Hilbert metadata database")
            }
            let conn = try Connection(path: path, create: false)
            connection = conn
            // At the current schema (every open but the first after an upgrade), one read
            // transaction gives the version and the settings.
            let current = try conn.transaction(immediate: false) { () throws(Errno) -> VolumeFormat? in
                try Migrations.isCurrent(conn) ? try readFormat(conn) : nil
            }
            if let current { return MetaStore(backend: SQLiteBackend(conn), format: current) }
            try Migrations.apply(conn, fresh: false)
            let format = try conn.transaction(immediate: false) { () throws(Errno) in try readFormat(conn) }
            return MetaStore(backend: SQLiteBackend(conn), format: format)
        } catch {
            var e = error
            if e != .noEntry && e != .access && e != .again && e != .noMemory && e != .noSpace { e = .io }
            if let c = connection, let le = c.lastError {
                lastOpenError = HilbertError(e, le.message)
            } else if lastOpenError == nil {
                lastOpenError = HilbertError(e, "\(path) is not a Hilbert metadata database or is corrupt (\(error))")
            }
            throw e
        }
    }

    /// Why `path` cannot be reached (EACCES): the first directory on the way that is not
    /// searchable by the caller.
    private static func unreachableReason(_ path: String) -> String {
        var prefix = ""
        for part in path.split(separator: "/").dropLast() {
            prefix += "/" + part
            if !Sys.access(prefix, X_OK) {
                return "permission denied: \(path) cannot be reached: the directory \(prefix) is not searchable by you (uid \(geteuid()))"
            }
        }
        return "permission denied: \(path) cannot be reached"
    }

    static func readFormat(_ conn: Connection) throws(Errno) -> VolumeFormat {
        let s = try conn.prepare("SELECT name, value FROM hl_setting")
        defer { s.reset() }
        var d: [String: String] = [:]
        while try s.step() { d[s.text(0)] = s.text(1) }
        do throws(HilbertError) {
            return try format(fromSettings: d, location: conn.path)
        } catch {
            throw HilbertError.record(conn, error.errno, error.message)
        }
    }
}
