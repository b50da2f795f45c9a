import Testing
import Glibc
import HilbertSupport
@testable import HilbertMeta

/// Commit tokens (PGSession, docs/FORMAT.md "hl_commit") are only kept while a commit's outcome
/// may be asked about: a session's tokens do not pile up with its transactions (it deletes them
/// in batches of `PGSession.settledTokensBatch`).
@Suite(.serialized) struct PGCommitTokenTests {
    @Test(.enabled(if: pgServerURL != nil, noPGServer)) func aSessionKeepsOnlyItsLastTokens() throws {
        try withPGSchema("test_tok_") { url, schema, admin in try sessions(url, schema, admin) }
    }

    private func sessions(_ url: MetaURL, _ schema: String, _ admin: PGConnection) throws {
        let store = try MetaStore.create(url, format: testFormat, rootUID: 0, rootGID: 0, rootMode: 0o777)
        defer { store.close() }
        let count = "SELECT count(*) FROM \"\(schema)\".hl_commit"
        let before = try admin.query(count, []).int64(0, 0) ?? -1
        for i in 0..<50 {
            _ = try store.mkdir(parent: rootIno, name: b("d\(i)"), mode: 0o755, cred: root)
        }
        let batch = Int64(PGSession.settledTokensBatch)
        let after = try admin.query(count, []).int64(0, 0) ?? -1
        #expect(after >= 1 && after <= before + batch, "\(before) tokens before 50 write transactions, \(after) after")
        // A second session deletes only its own.
        let other = try MetaStore.open(url)
        defer { other.close() }
        for i in 0..<40 { _ = try other.mkdir(parent: rootIno, name: b("e\(i)"), mode: 0o755, cred: root) }
        _ = try store.mkdir(parent: rootIno, name: b("last"), mode: 0o755, cred: root)
        let both = try admin.query(count, []).int64(0, 0) ?? -1
        #expect(both >= 2 && both <= before + 2 * batch, "\(both) tokens with two sessions")
        // Every directory is there: the transactions that deleted tokens also made their own.
        #expect(try admin.query("SELECT count(*) FROM \"\(schema)\".hl_edge", []).int64(0, 0) == 91)
    }
}
