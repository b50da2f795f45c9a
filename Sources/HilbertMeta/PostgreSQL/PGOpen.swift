import Glibc
import HilbertSupport

/// Creating and opening a volume whose metadata is a schema in a PostgreSQL database.
extension MetaStore {
    /// Format a new volume in the URL's schema. EEXIST when the schema is there already.
    static func create(postgres url: PGURL, format: VolumeFormat, rootUID: UInt32, rootGID: UInt32,
                       rootMode: UInt32) throws(Errno) -> MetaStore {
        let session = try createSchema(url) { t in
            var rows: [(sql: String, params: [PGValue])] = settingRows(format).map {
                ("INSERT INTO \(t)setting(name, value) VALUES($1, $2)", [.text($0.0), .text($0.1)])
            }
            let now = Timespec.now()
            let root = Attr(ino: rootIno, mode: FileType.directory.rawValue | (rootMode & 0o7777), nlink: 2,
                            uid: rootUID, gid: rootGID, rdev: 0, size: 0, atime: now, mtime: now, ctime: now, btime: now,
                            parent: rootIno, version: 0, staged: false)
            rows.append(("INSERT INTO \(t)node(\(PGBackend.nodeColumns)) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
                         PGBackend.attrParams(root)))
            rows.append(("UPDATE \(t)counter SET value = 1 WHERE name = 'inodes'", []))
            return rows
        }
        return MetaStore(backend: PGBackend(session, attributeCacheNanoseconds: url.attributeCacheNanoseconds), format: format)
    }

    /// A new volume for `hilbert load`: the schema and the `loading` marker only (MetaURL).
    static func createForLoad(postgres url: PGURL, format: VolumeFormat, source: String) throws(Errno) -> MetaStore {
        let session = try createSchema(url) { t in
            [("INSERT INTO \(t)setting(name, value) VALUES($1, $2)", [.text(loadingSetting), .text(source)])]
        }
        return MetaStore(backend: PGBackend(session, attributeCacheNanoseconds: url.attributeCacheNanoseconds), format: format)
    }

    /// Create the URL's schema with the tables of every migration and the rows `fill` gives,
    /// in one transaction (PostgreSQL's DDL is transactional: all of it appears, or none).
    private static func createSchema(_ url: PGURL, _ fill: (String) -> [(sql: String, params: [PGValue])]) throws(Errno) -> PGSession {
        lastOpenError = nil
        let session = PGSession(url)
        do throws(Errno) {
            let c = try session.connection()
            let t = session.t
            do throws(Errno) {
                try c.execute("BEGIN; CREATE SCHEMA \"\(url.schema)\"; "
                    + "CREATE TABLE \(t)migration(version bigint PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now());")
            } catch {
                try? c.execute("ROLLBACK")
                if c.lastSQLState == "42P06" {
                    lastOpenError = HilbertError(.exists, "\(url.display): the schema already exists (a volume is there, or something else); choose another with ?schema=NAME")
                    throw Errno.exists
                }
                throw error
            }
            do throws(Errno) {
                for m in PGSchema.all { try c.execute(PGSchema.script(m, prefix: t)) }
                _ = try c.pipeline(fill(t) + [("COMMIT", [])])
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
        } catch {
            if lastOpenError == nil {
                lastOpenError = session.connectionError.map { HilbertError(error, $0.message) }
                    ?? HilbertError(error, "cannot create a volume at \(url.display): \(error)")
            }
            session.close()
            throw error
        }
        return session
    }

    /// Open the volume in the URL's schema. ENOENT when there is none; EIO (explained) when
    /// its schema is newer than this Hilbert or damaged.
    static func open(postgres url: PGURL) throws(Errno) -> MetaStore {
        lastOpenError = nil
        let session = PGSession(url)
        do throws(Errno) {
            let c = try session.connection()
            let t = session.t
            // One round trip: the schema version and the settings.
            let rs: [PGResult]
            do throws(Errno) {
                let ask: [(sql: String, params: [PGValue])] = [("SELECT coalesce(max(version), 0)::bigint FROM \(t)migration", []),
                                                                ("SELECT name, value FROM \(t)setting", [])]
                rs = try session.firstExchange(ask)
            } catch {
                if c.lastSQLState == "42P01" || c.lastSQLState == "3F000" {
                    lastOpenError = HilbertError(.noEntry, "\(url.display): no Hilbert volume there (hilbert format creates one)")
                    throw Errno.noEntry
                }
                throw error
            }
            let version = rs[0].int64(0, 0)
            if version > PGSchema.latest {
                lastOpenError = HilbertError(.io, "\(url.display): metadata schema v\(version) is newer than this Hilbert (v\(PGSchema.latest))")
                throw Errno.io
            }
            if version < PGSchema.latest { try migrate(session, from: version) }
            var settings: [String: String] = [:]
            for k in 0..<rs[1].rowCount { settings[rs[1].text(k, 0)] = rs[1].text(k, 1) }
            let format: VolumeFormat
            do throws(HilbertError) {
                format = try MetaStore.format(fromSettings: settings, location: url.display)
            } catch {
                lastOpenError = error
                throw error.errno
            }
            return MetaStore(backend: PGBackend(session, attributeCacheNanoseconds: url.attributeCacheNanoseconds), format: format)
        } catch {
            if lastOpenError == nil {
                lastOpenError = session.connectionError.map { HilbertError(error, $0.message) }
                    ?? HilbertError(error, "cannot open \(url.display): \(error)")
            }
            session.close()
            throw error
        }
    }

    /// Apply the migrations the volume lacks (past `version`), each in its own transaction under
    /// the volume's write lock (another process may be migrating at the same time: it re-checks).
    private static func migrate(_ session: PGSession, from version: Int64) throws(Errno) {
        let c = try session.connection()
        let t = session.t
        for m in PGSchema.all where m.version > version {
            do throws(Errno) {
                let r = try c.pipeline([("BEGIN", []), session.volumeLock,
                                        ("SELECT count(*) FROM \(t)migration WHERE version = $1", [.int(m.version)])])
                if r[2].int64(0, 0) > 0 {
                    try c.execute("COMMIT")
                    continue
                }
                try c.execute(PGSchema.script(m, prefix: t) + "\nCOMMIT;")
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
        }
    }
}
