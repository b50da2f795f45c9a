import Testing
import Glibc
import HilbertSupport
@testable import HilbertMeta

/// A PostgreSQL volume written by an earlier release opens: the migrations it lacks are applied
/// by the first process that opens it; a volume newer than the code is refused.
@Suite(.serialized) struct PGMigrationTests {
    @Test(.enabled(if: pgServerURL != nil, noPGServer)) func earlierSchemasAreMigrated() throws {
        try withPGSchema("test_mig_") { url, schema, admin in try migrate(url, schema, admin) }
    }

    /// The v5 layout again: the node table with bigint columns, every block in `hl_block`.
    private func undoCompactRows(_ admin: PGConnection, _ t: String) throws {
        let exists = try admin.query("SELECT to_regclass($1) IS NOT NULL", [.text(t + "extent")]).int64(0, 0)
        guard exists == 1 else { return }
        func unsigned(_ c: String) -> String { "(\(c)::bigint & 4294967295)" }
        try admin.execute("""
            CREATE TABLE \(t)node_v5(ino bigint PRIMARY KEY, mode bigint NOT NULL, nlink bigint NOT NULL, uid bigint NOT NULL,
                gid bigint NOT NULL, rdev bigint NOT NULL DEFAULT 0, size bigint NOT NULL DEFAULT 0,
                atime_s bigint NOT NULL, atime_ns bigint NOT NULL, mtime_s bigint NOT NULL, mtime_ns bigint NOT NULL,
                ctime_s bigint NOT NULL, ctime_ns bigint NOT NULL, btime_s bigint NOT NULL, btime_ns bigint NOT NULL,
                parent bigint NOT NULL DEFAULT 0, version bigint NOT NULL DEFAULT 0, staged bigint NOT NULL DEFAULT 0);
            INSERT INTO \(t)node_v5 SELECT ino, \(unsigned("mode")), \(unsigned("nlink")), \(unsigned("uid")), \(unsigned("gid")),
                rdev, size, atime_s, atime_ns, mtime_s, mtime_ns, ctime_s, ctime_ns, btime_s, btime_ns, parent, version, staged
                FROM \(t)node;
            CREATE TABLE \(t)block(ino bigint NOT NULL, indx bigint NOT NULL, object_id bigint NOT NULL, raw_len bigint NOT NULL,
                stored_len bigint NOT NULL, crc bigint NOT NULL, obj_off bigint NOT NULL DEFAULT 0, PRIMARY KEY(ino, indx));
            CREATE INDEX ON \(t)block(object_id) WHERE object_id <> 0;
            INSERT INTO \(t)block SELECT ino, 0, b0_object, b0_raw, b0_stored, \(unsigned("b0_crc")), b0_off
                FROM \(t)node WHERE b0_object IS NOT NULL;
            INSERT INTO \(t)block SELECT ino, indx, object_id, raw_len, stored_len, \(unsigned("crc")), obj_off FROM \(t)extent;
            DROP TABLE \(t)extent;
            DROP FUNCTION \(t)blocks(bigint);
            DROP TABLE \(t)node CASCADE;
            ALTER TABLE \(t)node_v5 RENAME TO hl_node;
            ALTER INDEX \(t)node_v5_pkey RENAME TO hl_node_pkey;
            """ + PGSchema.v3_walk.sql.replacingAll("§", with: t))
    }

    private func migrate(_ url: MetaURL, _ schema: String, _ admin: PGConnection) throws {
        let store = try MetaStore.create(url, format: testFormat, rootUID: 0, rootGID: 0, rootMode: 0o777)
        let dir = try store.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
        let e = try store.mkdir(parent: dir.ino, name: b("e"), mode: 0o700, cred: root)
        let f = try store.createFile(parent: dir.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr
        let id = try store.allocateObjectIDs(count: 2)
        // CRCs and an owner above 2^31: v6 keeps 32-bit values in integer columns by bit pattern.
        let blocks = [BlockRef(index: 0, objectID: id, rawLength: 4096, storedLength: 100, crc: 0xfedc_ba98),
                      BlockRef(index: 3, objectID: id + 1, rawLength: 10, storedLength: 42, crc: 2)]
        try store.commitData(ino: f.ino, size: 3 * 4096 + 10, inline: nil, blocks: blocks, cred: root)
        _ = try store.setattr(ino: f.ino, uid: 4_000_000_000, gid: 3_000_000_000, cred: root)
        let g = try store.createFile(parent: dir.ino, name: b("g"), mode: 0o600, cred: root, exclusive: true).attr
        let gBlocks = [BlockRef(index: 1, objectID: id, rawLength: 7, storedLength: 30, crc: 0x8000_0000)]
        try store.commitData(ino: g.ino, size: 4096 + 7, inline: nil, blocks: gBlocks, cred: root)
        store.close()
        let t = "\"\(schema)\".hl_"
        #expect(try admin.query("SELECT max(version) FROM \(t)migration", []).int64(0, 0) == PGSchema.latest)

        // Back to each earlier release's schema, by undoing the later migrations (v6 compacted
        // the node rows and moved block 0 into them, v5 added deferred deletion's due time, v4
        // extents' offsets and packs, v3 the walk function, v2 the lock table; a new migration
        // adds its undo here).
        for version in stride(from: PGSchema.latest - 1, through: 1, by: -1) {
            if version < 6 { try undoCompactRows(admin, t) }
            if version < 5 { try admin.execute("ALTER TABLE \(t)delobj DROP COLUMN IF EXISTS due_s") }
            if version < 4 {
                try admin.execute("DROP TABLE IF EXISTS \(t)pack")
                try admin.execute("ALTER TABLE \(t)block DROP COLUMN IF EXISTS obj_off")
            }
            if version < 3 { try admin.execute("DROP FUNCTION IF EXISTS \(t)walk(bigint, bytea[])") }
            if version < 2 { try admin.execute("DROP TABLE IF EXISTS \(t)lock") }
            try admin.execute("DELETE FROM \(t)migration WHERE version > \(version)")

            let reopened = try MetaStore.open(url)
            #expect(try reopened.ino("/d/e") == e.ino)
            #expect(try reopened.dataLayout(f.ino).blocks == blocks, "from v\(version)")
            #expect(try reopened.dataLayout(g.ino).blocks == gBlocks, "from v\(version)")
            let owner = try reopened.getattr(f.ino)
            #expect(owner.uid == 4_000_000_000 && owner.gid == 3_000_000_000 && owner.mode & 0o7777 == 0o644, "from v\(version)")
            #expect(try reopened.packs().isEmpty)
            expectErrno(.noEntry) { _ = try reopened.ino("/d/missing") }
            reopened.close()
            let r = try admin.query("SELECT count(*), max(version) FROM \(t)migration", [])
            #expect(r.int64(0, 0) == PGSchema.latest && r.int64(0, 1) == PGSchema.latest, "from v\(version)")
            #expect(try admin.query("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'hl_walk'", [.text(schema)]).int64(0, 0) == 1)
        }

        // The migrated rows: block 0 in the node row, the others in hl_extent, nothing else.
        #expect(try admin.query("SELECT count(*) FROM \(t)node WHERE b0_object IS NOT NULL", []).int64(0, 0) == 1)
        #expect(try admin.query("SELECT count(*) FROM \(t)extent", []).int64(0, 0) == 2)
        #expect(try admin.query("SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'hl_block'", [.text(schema)]).int64(0, 0) == 0)

        // A schema newer than this code: refused, untouched.
        try admin.execute("INSERT INTO \(t)migration(version, name) VALUES (\(PGSchema.latest + 1), 'from_the_future')")
        expectErrno(.io) { _ = try MetaStore.open(url) }
        #expect(try admin.query("SELECT max(version) FROM \(t)migration", []).int64(0, 0) == PGSchema.latest + 1)
    }
}
