import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

func makeTempDir() -> String {
    var template = Array("/tmp/hilbert-meta-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return String(cString: p!)
}

func removeTree(_ dir: String) {
    if let d = opendir(dir) {
        while let e = readdir(d) {
            let name = withUnsafePointer(to: &e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { unlink(dir + "/" + name) }
        }
        closedir(d)
    }
    rmdir(dir)
}

let testFormat = VolumeFormat(name: "t", uuid: "00000000-0000-0000-0000-000000000001", storage: "file",
                              bucket: "/tmp/none", compression: "none", blockSize: 4096, inlineMax: 64)

/// The conformance suite runs every `withVolume` test on the backend the environment names:
/// `HL_TEST_META_PG=postgres://…` (a server the caller started: Tests/pg/pgserver.sh) puts
/// each test's volume in a fresh schema of that database; without it, SQLite in a temp dir.
let testPostgresURL: String? = getenv("HL_TEST_META_PG").map { String(cString: $0) }

/// The server of the PostgreSQL-only tests (Tests/pg/with-server.sh sets HL_PG_URL in every
/// stage, whatever backend the conformance suite runs on).
let pgServerURL: String? = getenv("HL_PG_URL").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
let noPGServer: Comment = "HL_PG_URL is not set (Tests/pg/pgserver.sh up, source its env file, HL_PG_URL=$PG_URL or $PGB_URL)"

/// A fresh schema named `prefix` + random hex on the PostgreSQL server of the PostgreSQL-only
/// tests (`pgServerURL`): its volume URL, and an admin connection to look at it with; the
/// schema is dropped when `body` returns.
func withPGSchema(_ prefix: String, _ body: (_ url: MetaURL, _ schema: String, _ admin: PGConnection) throws -> Void) throws {
    let base = pgServerURL!
    let schema = prefix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    let url = try MetaURL(base + (base.contains("?") ? "&" : "?") + "schema=" + schema)
    let admin = try PGConnection(conninfo: base, timeoutSeconds: 30)
    defer {
        try? admin.execute("DROP SCHEMA \"\(schema)\" CASCADE")
        admin.close()
    }
    try body(url, schema, admin)
}

/// A fresh volume on the backend under test; removed when `body` returns.
func withVolume(_ body: (MetaStore, MetaURL) throws -> Void) throws {
    guard let base = testPostgresURL else {
        try withSQLiteVolume { store, path in try body(store, .sqlite(path: path)) }
        return
    }
    let schema = "test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    let url = try MetaURL(base + (base.contains("?") ? "&" : "?") + "schema=" + schema)
    let store = try MetaStore.create(url, format: testFormat, rootUID: 0, rootGID: 0, rootMode: 0o777)
    defer {
        store.close()
        if let c = try? PGConnection(conninfo: base, timeoutSeconds: 30) {
            try? c.execute("DROP SCHEMA \"\(schema)\" CASCADE")
            c.close()
        }
    }
    try body(store, url)
}

/// A fresh SQLite volume in a temp dir (tests of SQLite's own files).
func withSQLiteVolume(_ body: (MetaStore, String) throws -> Void) throws {
    let dir = makeTempDir()
    defer { removeTree(dir) }
    let path = dir + "/meta.db"
    let store = try MetaStore.create(path: path, format: testFormat, rootUID: 0, rootGID: 0, rootMode: 0o777)
    try body(store, path)
    store.close()
}

let root = Credentials.root
let alice = Credentials(uid: 1000, gid: 1000)
let bob = Credentials(uid: 1001, gid: 1001)
let prefix = b("/mnt/vol")

extension MetaStore {
    func res(_ p: String, follow: Bool = true, cred: Credentials = .root, base: Ino = rootIno) throws(Errno) -> Resolution {
        try resolve(from: base, path: b(p), followLast: follow, cred: cred, mountPrefix: prefix)
    }
    func ino(_ p: String) throws -> Ino {
        guard case .found(_, _, let a) = try res(p) else { throw Errno.noEntry }
        return a.ino
    }
}

func expectErrno(_ e: Errno, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected \(e), got success", sourceLocation: sourceLocation)
    } catch {
        #expect(error as? Errno == e, sourceLocation: sourceLocation)
    }
}
