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

    private func migrate(_ url: MetaURL, _ schema: String, _ admin: PGConnection) throws {
        let store = try MetaStore.create(url, format: testFormat, rootUID: 0, rootGID: 0, rootMode: 0o777)
        let dir = try store.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
        let e = try store.mkdir(parent: dir.ino, name: b("e"), mode: 0o700, cred: root)
        let f = try store.createFile(parent: dir.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr
        let id = try store.allocateObjectIDs(count: 2)
        let blocks = [BlockRef(index: 0, objectID: id, rawLength: 4096, storedLength: 100, crc: 1),
                      BlockRef(index: 3, objectID: id + 1, rawLength: 10, storedLength: 42, crc: 2)]
        try store.commitData(ino: f.ino, size: 3 * 4096 + 10, inline: nil, blocks: blocks, cred: root)
        store.close()
        let t = "\"\(schema)\".hl_"
        #expect(try admin.query("SELECT max(version) FROM \(t)migration", []).int64(0, 0) == PGSchema.latest)

        // Back to each earlier release's schema, by undoing the later migrations (v5 added
        // deferred deletion's due time, v4 extents' offsets and packs, v3 the walk function, v2
        // the lock table; a new migration adds its undo here).
        for version in stride(from: PGSchema.latest - 1, through: 1, by: -1) {
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
            #expect(try reopened.dataLayout(f.ino).blocks == blocks)
            #expect(try reopened.packs().isEmpty)
            expectErrno(.noEntry) { _ = try reopened.ino("/d/missing") }
            reopened.close()
            let r = try admin.query("SELECT count(*), max(version) FROM \(t)migration", [])
            #expect(r.int64(0, 0) == PGSchema.latest && r.int64(0, 1) == PGSchema.latest, "from v\(version)")
            #expect(try admin.query("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'hl_walk'", [.text(schema)]).int64(0, 0) == 1)
        }

        // A schema newer than this code: refused, untouched.
        try admin.execute("INSERT INTO \(t)migration(version, name) VALUES (\(PGSchema.latest + 1), 'from_the_future')")
        expectErrno(.io) { _ = try MetaStore.open(url) }
        #expect(try admin.query("SELECT max(version) FROM \(t)migration", []).int64(0, 0) == PGSchema.latest + 1)
    }
}
