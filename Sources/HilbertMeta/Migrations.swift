import HilbertSupport

/// The metadata schema, applied as numbered migrations recorded in `PRAGMA user_version`
/// (migration N sets user_version = N, in the same transaction as its DDL).
///
/// Schema (v1). All integers are SQLite INTEGER (64-bit, unsigned values stored by bit pattern):
///
/// - `hl_setting(name TEXT PRIMARY KEY, value TEXT)`: the VolumeFormat, one row per field:
///   `name`, `uuid`, `storage`, `bucket`, `compression`, `block_size`, `inline_max`,
///   `format_version`, and `storage.<option>` rows for store settings (S3: `storage.region`,
///   `storage.credentials` — the path of a credentials file, never its content —,
///   `storage.profile`).
/// - `hl_node(ino INTEGER PRIMARY KEY, mode, nlink, uid, gid, rdev, size, atime_s, atime_ns,
///   mtime_s, mtime_ns, ctime_s, ctime_ns, btime_s, btime_ns, parent, version, staged)`:
///   one row per inode. `mode` = S_IFMT type bits | permission bits. `parent` is the physical
///   parent for directories (the root, ino 1, is its own parent) and 0 for everything else.
///   `version` is bumped by each data commit; `staged` = 1 while a node-local staging file
///   may hold newer data than the blocks (see hl_staging). Directory nlink = 2 + subdirs.
/// - `hl_edge(id INTEGER PRIMARY KEY, parent, name BLOB, ino, type, UNIQUE(parent,name))`:
///   directory entries. `type` is the DT_* value (= (mode >> 12) & 15). Listings are ordered
///   by `id` (index `hl_edge_list(parent,id)`); readdir cookie = id + 2 ("." = 1, ".." = 2).
///   Index `hl_edge_ino(ino)` finds the entry of a directory (path reconstruction).
/// - `hl_symlink(ino INTEGER PRIMARY KEY, target BLOB)`: symlink targets (raw bytes).
/// - `hl_inline(ino INTEGER PRIMARY KEY, data BLOB, crc INTEGER)`: the content of small
///   regular files (a file has either an hl_inline row or hl_block rows, never both); `crc`
///   (v3) is the CRC-32C of `data`, verified on every read (filled for older rows by the
///   migration).
/// - `hl_block(ino, indx, object_id, raw_len, stored_len, crc, PRIMARY KEY(ino,indx))`:
///   the blocks (extents) of a file's current version; block `indx` covers bytes
///   [indx*block_size, indx*block_size+raw_len); object_id 0 is a hole. crc = CRC-32C of
///   the raw bytes. `obj_off` (v5): where the block's `stored_len` encoded bytes start in
///   the object; 0 for an object that is this block alone (it belongs to this (ino, indx); a
///   new version may keep it at the same index), else the object is a pack (`hl_pack`, v5)
///   holding blocks of many files.
/// - `hl_xattr(ino, name BLOB, value BLOB, PRIMARY KEY(ino,name))`: extended attributes
///   (only the `user.` namespace; names stored with the prefix).
/// - `hl_staging(ino INTEGER PRIMARY KEY, file TEXT, created_s, owner TEXT)`: node-local
///   staging files of the engine (name of the file holding not yet committed data). `owner`
///   (v2): who registered it, `node=<boot id>/<pid ns>/<mnt ns> pid=<pid> cache=<cache root>`
///   (StagingOwner);
///   '' for rows of v1.
/// - `hl_upload(first_id INTEGER PRIMARY KEY, count, commit_key, owner TEXT, touched_s)` (v4):
///   object ids handed to a commit whose uploads are in progress (`count` ids from `first_id`),
///   so that gc leaves their objects alone whatever its grace. `commit_key` groups the batches
///   of one commit (the first id of its first batch); every new batch refreshes `touched_s` of
///   all of them; the commit's own transaction deletes them. `owner` as in hl_staging.
/// - `hl_delobj(object_id INTEGER PRIMARY KEY, stored_len, due_s)`: objects no metadata
///   references any more; the data layer deletes them from the store once `due_s` (v6, wall
///   seconds; 0 = at once) has passed and then forgets them (durable: a crash neither loses
///   nor leaks objects).
/// - `hl_counter(name TEXT PRIMARY KEY, value)`: `next_ino` (next inode number to hand out,
///   never reused), `next_object` (next object id, never reused), `used_bytes` (sum of the
///   logical sizes of regular files), `stored_bytes` (sum of stored_len of the blocks
///   referenced plus inline bytes: a pack counts for its live blocks), `inodes` (live nodes),
///   `objects` (referenced objects, holes excluded: a pack once).
/// - `hl_pack(object_id INTEGER PRIMARY KEY, size, pieces, created_s)` (v5): each pack object,
///   its size in bytes and how many blocks it was written with; deleted (the object going to
///   hl_delobj) by the transaction that removes the last block pointing into it.
enum Migrations {
    struct Migration {
        let version: Int64
        let name: String
        let sql: String
        /// Runs after `sql`, in the same transaction (data the SQL cannot compute).
        var backfill: ((Connection) throws(Errno) -> Void)? = nil
    }

    static let v1_initial = Migration(version: 1, name: "v1_initial", sql: """
        CREATE TABLE hl_setting(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE hl_node(
            ino INTEGER PRIMARY KEY,
            mode INTEGER NOT NULL,
            nlink INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            gid INTEGER NOT NULL,
            rdev INTEGER NOT NULL DEFAULT 0,
            size INTEGER NOT NULL DEFAULT 0,
            atime_s INTEGER NOT NULL, atime_ns INTEGER NOT NULL,
            mtime_s INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
            ctime_s INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
            btime_s INTEGER NOT NULL, btime_ns INTEGER NOT NULL,
            parent INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 0,
            staged INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE hl_edge(
            id INTEGER PRIMARY KEY,
            parent INTEGER NOT NULL,
            name BLOB NOT NULL,
            ino INTEGER NOT NULL,
            type INTEGER NOT NULL,
            UNIQUE(parent, name));
        CREATE INDEX hl_edge_list ON hl_edge(parent, id);
        CREATE INDEX hl_edge_ino ON hl_edge(ino);
        CREATE TABLE hl_symlink(ino INTEGER PRIMARY KEY, target BLOB NOT NULL);
        CREATE TABLE hl_inline(ino INTEGER PRIMARY KEY, data BLOB NOT NULL);
        CREATE TABLE hl_block(
            ino INTEGER NOT NULL,
            indx INTEGER NOT NULL,
            object_id INTEGER NOT NULL,
            raw_len INTEGER NOT NULL,
            stored_len INTEGER NOT NULL,
            crc INTEGER NOT NULL,
            PRIMARY KEY(ino, indx)) WITHOUT ROWID;
        CREATE TABLE hl_xattr(ino INTEGER NOT NULL, name BLOB NOT NULL, value BLOB NOT NULL,
            PRIMARY KEY(ino, name)) WITHOUT ROWID;
        CREATE TABLE hl_staging(ino INTEGER PRIMARY KEY, file TEXT NOT NULL, created_s INTEGER NOT NULL);
        CREATE TABLE hl_delobj(object_id INTEGER PRIMARY KEY, stored_len INTEGER NOT NULL);
        CREATE TABLE hl_counter(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO hl_counter(name, value) VALUES
            ('next_ino', 2), ('next_object', 1), ('used_bytes', 0), ('stored_bytes', 0),
            ('inodes', 0), ('objects', 0);
        """)

    /// v2: who registered a staging row, so that an abandoned one can be resolved.
    static let v2_staging_owner = Migration(version: 2, name: "v2_staging_owner", sql: """
        ALTER TABLE hl_staging ADD COLUMN owner TEXT NOT NULL DEFAULT '';
        """)
    /// v3: a checksum for inline data, computed for the rows already there.
    static let v3_inline_crc = Migration(version: 3, name: "v3_inline_crc", sql: """
        ALTER TABLE hl_inline ADD COLUMN crc INTEGER;
        """, backfill: { (conn: Connection) throws(Errno) in
            let rows = try conn.prepare("SELECT ino, data FROM hl_inline")
            let update = try conn.prepare("UPDATE hl_inline SET crc=?2 WHERE ino=?1")
            defer { rows.reset() }
            while try rows.step() {
                update.bind(1, rows.uint64(0))
                update.bind(2, InlineChecksum.of(rows.blob(1)))
                try update.run()
            }
        })
    /// v4: uploads in progress, visible to gc.
    static let v4_uploads = Migration(version: 4, name: "v4_uploads", sql: """
        CREATE TABLE hl_upload(first_id INTEGER PRIMARY KEY, count INTEGER NOT NULL,
            commit_key INTEGER NOT NULL, owner TEXT NOT NULL, touched_s INTEGER NOT NULL);
        CREATE INDEX hl_upload_commit ON hl_upload(commit_key);
        """)
    /// v5: extents and packs (docs/FORMAT.md, "Extents and packs"). `obj_off`: where a
    /// block's encoded bytes start in its object (0: the object is this block's alone; a
    /// block in a pack is never at 0, the pack's header is). `hl_pack`: one row per pack
    /// object; the partial index finds whether any block still points into a pack.
    static let v5_extents = Migration(version: 5, name: "v5_extents", sql: """
        ALTER TABLE hl_block ADD COLUMN obj_off INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX hl_block_packed ON hl_block(object_id) WHERE obj_off <> 0;
        CREATE TABLE hl_pack(object_id INTEGER PRIMARY KEY, size INTEGER NOT NULL, pieces INTEGER NOT NULL,
            created_s INTEGER NOT NULL);
        """)
    /// Deferred deletion (docs/FORMAT.md, "Deferred deletion"): the wall-clock second from which
    /// a released object may be deleted from the store (0, and every row of older volumes: at once).
    static let v6_deferred_deletion = Migration(version: 6, name: "v6_deferred_deletion", sql: """
        ALTER TABLE hl_delobj ADD COLUMN due_s INTEGER NOT NULL DEFAULT 0;
        """)
    static let all: [Migration] = [v1_initial, v2_staging_owner, v3_inline_crc, v4_uploads, v5_extents, v6_deferred_deletion]
    static var latest: Int64 { all.last!.version }

    /// The database is at this code's schema version (a read; call inside a transaction).
    static func isCurrent(_ conn: Connection) throws(Errno) -> Bool {
        try conn.scalar("PRAGMA user_version") == latest
    }

    /// Apply every migration newer than the database's user_version, each in its own
    /// write transaction. A database newer than this code is refused (EIO, explained).
    /// `fresh`: the database is being created (an unversioned database is only accepted then).
    static func apply(_ conn: Connection, fresh: Bool) throws(Errno) {
        let current = try conn.transaction(immediate: false) { () throws(Errno) in try conn.scalar("PRAGMA user_version") ?? 0 }
        if current == 0 && !fresh {
            throw HilbertError.record(conn, .io, "\(conn.path) is not a Hilbert metadata database (no Hilbert schema)")
        }
        if current > latest {
            throw HilbertError.record(conn, .io, "\(conn.path): metadata schema v\(current) is newer than this Hilbert (v\(latest))")
        }
        for m in all where m.version > current {
            try conn.transaction(immediate: true) { () throws(Errno) in
                // Re-check under the write lock: another process may have migrated meanwhile.
                let now = try conn.scalar("PRAGMA user_version") ?? 0
                if now >= m.version { return }
                try conn.exec(m.sql)
                try m.backfill?(conn)
                try conn.exec("PRAGMA user_version = \(m.version)")
            }
        }
    }
}

extension HilbertError {
    /// Remember an explanation on the connection and return the errno to throw.
    static func record(_ conn: Connection?, _ e: Errno, _ message: String) -> Errno {
        if let conn { conn.lastError = HilbertError(e, message) } else { MetaStore.lastOpenError = HilbertError(e, message) }
        return e
    }
}
