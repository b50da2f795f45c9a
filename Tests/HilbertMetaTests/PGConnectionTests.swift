import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

// PGConnection against a real server: set HL_PG_URL (Tests/pg/pgserver.sh up prints an env
// file; source it, then HL_PG_URL=$PG_URL for PostgreSQL itself or $PGB_URL for PgBouncer in
// transaction pooling mode; PGPASSFILE from the same file). Without it those tests are
// skipped; the conninfo tests need no server and always run.

private let pgURL = pgServerURL
private let noServer = noPGServer
private let repoRoot: String = {
    var p = #filePath
    for _ in 0 ..< 3 { p = String(p[..<(p.lastIndex(of: "/") ?? p.startIndex)]) }
    return p
}()

/// "127.0.0.1:5432" of a postgres://user@host:port/db URL.
private func hostPort(_ url: String) -> (String, Int) {
    let afterAt = url[url.index(after: url.lastIndex(of: "@")!)...]
    let hp = afterAt[..<(afterAt.firstIndex(of: "/") ?? afterAt.endIndex)]
    let colon = hp.lastIndex(of: ":")!
    return (String(hp[..<colon]), Int(hp[hp.index(after: colon)...])!)
}

/// The URL with host:port replaced (same user, database, parameters).
private func url(_ url: String, port: Int, host: String = "127.0.0.1") -> String {
    let at = url.index(after: url.lastIndex(of: "@")!)
    let rest = url[at...]
    let slash = rest.firstIndex(of: "/") ?? rest.endIndex
    return String(url[..<at]) + "\(host):\(port)" + String(rest[slash...])
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func show(_ c: PGConnection) {
    if getenv("HL_PG_SHOW") != nil { print("lastError: \(c.lastError.map { "\($0)" } ?? "none") sqlstate \(c.lastSQLState ?? "none")") }
}

private func expectPG(_ e: Errno, _ c: PGConnection, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(e), got success", sourceLocation: sourceLocation)
    } catch {
        show(c)
        #expect(error as? Errno == e, "\(c.lastError.map { "\($0)" } ?? "no lastError")", sourceLocation: sourceLocation)
    }
}

/// A listening TCP socket on 127.0.0.1 that never accepts: the kernel completes the
/// handshake, nobody ever answers.
private func silentListener() -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    a.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    listen(fd, 16)
    _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: a.sin_port)))
}

/// A port nothing listens on.
private func closedPort() -> Int {
    let (fd, port) = silentListener()
    close(fd)
    return port
}

/// Tests/pg/tcpproxy.py in front of the server, with its control port.
private final class Proxy {
    let pid: pid_t
    let port: Int
    let controlPort: Int
    private let dir: String

    init(upstream: (String, Int)) throws {
        dir = makeTempDir()
        let portFile = dir + "/ports"
        let args = ["python3", repoRoot + "/Tests/pg/tcpproxy.py", "--upstream", "\(upstream.0):\(upstream.1)",
                    "--port-file", portFile, "--idle-exit", "60"]
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, "python3", nil, nil, &cargs, environ)
        guard rc == 0 else { throw Errno(rc) }
        pid = child
        var text = ""
        for _ in 0 ..< 200 {
            if let f = fopen(portFile, "r") {
                var buf = [CChar](repeating: 0, count: 64)
                while fgets(&buf, 64, f) != nil { text += String(cString: buf) }
                fclose(f)
                break
            }
            usleep(25_000)
        }
        let lines = text.split(separator: "\n")
        guard lines.count == 2, let p = Int(lines[0]), let c = Int(lines[1]) else { throw Errno.io }
        port = p
        controlPort = c
    }

    /// One control command, its one-line answer.
    @discardableResult
    func control(_ command: String) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = UInt16(controlPort).bigEndian
        let len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        guard ok == 0 else { return "error: connect" }
        let line = Array((command + "\n").utf8)
        _ = line.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var answer = [UInt8]()
        var c: UInt8 = 0
        while recv(fd, &c, 1, 0) == 1, c != 10 { answer.append(c) }
        return String(decoding: answer, as: UTF8.self)
    }

    /// The "turns" counter: client data following server data (request/response exchanges).
    func turns() -> Int {
        let s = control("stats")
        guard let r = firstRange(of: "\"turns\": ", in: s) else { return -1 }
        return Int(s[r.upperBound...].prefix(while: { $0.isNumber })) ?? -1
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        removeTree(dir)
    }
}

/// A table of this test process's own, dropped by `body`'s end.
private func withTable(_ c: PGConnection, _ body: (String) throws -> Void) throws {
    let name = "hl_pgtest_\(getpid())_\(UInt32.random(in: 0 ... UInt32.max))"
    try c.execute("CREATE TABLE \(name) (id bigint PRIMARY KEY, name text, data bytea)")
    defer { try? c.execute("DROP TABLE IF EXISTS \(name)") }
    try body(name)
}

@Suite(.serialized) struct PGConnectionTests {
    // MARK: no server needed

    @Test func redaction() {
        #expect(redactedConninfo("postgres://u:secret@h/db") == "postgres://u:***@h/db")
        #expect(redactedConninfo("postgresql://u:secret@h:5432/db?sslmode=require") == "postgresql://u:***@h:5432/db?sslmode=require")
        #expect(redactedConninfo("postgres://u@h/db") == "postgres://u@h/db")
        #expect(redactedConninfo("postgres://h/db") == "postgres://h/db")
        #expect(redactedConninfo("postgres://u:@h/db") == "postgres://u:***@h/db")
        #expect(redactedConninfo("postgres://u:p%40ss%2Fw@h1:5432,h2:5433/db") == "postgres://u:***@h1:5432,h2:5433/db")
        // Raw '@', '/', '?' in a password (which libpq itself would misread) are hidden whole.
        #expect(redactedConninfo("postgres://u:p@ss@h/db") == "postgres://u:***@h/db")
        #expect(redactedConninfo("postgres://u:p/ss@h/db") == "postgres://u:***@h/db")
        #expect(redactedConninfo("postgres://u:p?ss@h/db") == "postgres://u:***@h/db")
        #expect(redactedConninfo("postgres://u@h/db?password=secret&sslmode=disable") == "postgres://u@h/db?password=***&sslmode=disable")
        #expect(redactedConninfo("postgres:///db?host=/run/pg&password=secret") == "postgres:///db?host=/run/pg&password=***")
        #expect(redactedConninfo("postgres://h/db?pass%77ord=secret") == "postgres://h/db?pass%77ord=***")
        #expect(redactedConninfo("postgres://u:a@h/db?password=b") == "postgres://u:***@h/db?password=***")
        #expect(redactedConninfo("host=h user=u password=secret dbname=d") == "host=h user=u password=*** dbname=d")
        #expect(redactedConninfo("host=h password = 'it\\'s x' dbname=d") == "host=h password = *** dbname=d")
        #expect(redactedConninfo("password=se\\ cret host=h") == "password=*** host=h")
        #expect(redactedConninfo("host=h dbname=d") == "host=h dbname=d")
        #expect(redactedConninfo("") == "")
        #expect(redactedConninfo("service=meta passfile=/home/u/.pgpass") == "service=meta passfile=/home/u/.pgpass")
    }

    @Test func passwordsAreScrubbed() {
        let secrets = conninfoPasswords("postgres://u:p%25zz@h/db?password=two")
        #expect(secrets.contains("p%25zz") && secrets.contains("p%zz") && secrets.contains("two"))
        #expect(scrubbed("invalid percent-encoded token: \"p%25zz\"", secrets) == "invalid percent-encoded token: \"***\"")
        #expect(conninfoPasswords("password='a b\\'c' host=h") == ["'a b\\'c'", "a b'c"])
    }

    @Test func invalidConninfoNamesNoPassword() {
        // libpq echoes a malformed percent-encoding, here in the password.
        let secret = "Sx%zzSecret"
        do {
            let c = try PGConnection(conninfo: "postgres://u:\(secret)@127.0.0.1:1/db", timeoutSeconds: 2)
            Issue.record("connected: \(c.server)")
        } catch {
            #expect(error == .invalid || error == .io)
        }
        // The error is kept by the failed instance only; build one that reports it.
        let probe = PGProbe(conninfo: "postgres://u:\(secret)@127.0.0.1:1/db")
        #expect(probe.message != nil)
        #expect(firstRange(of: "Secret", in: probe.message ?? "") == nil, "\(probe.message ?? "")")
    }

    // MARK: a server

    @Test(.enabled(if: pgURL != nil, noServer)) func valuesRoundTrip() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        let all = (0 ... 255).map { UInt8($0) }
        let r = try c.query("SELECT $1::bigint, $2::bigint, $3::text, $4::bytea, $5::bytea, $6::text, $7::text IS NULL, length($4::bytea)",
                            [.int(Int64.min), .int(Int64.max), .text("héllo 'wörld' \\ \u{1F600}"), .bytes(all), .bytes([]),
                             .null, .null])
        #expect(r.rowCount == 1 && r.columnCount == 8)
        #expect(r.int64(0, 0) == Int64.min)
        #expect(r.int64(0, 1) == Int64.max)
        #expect(r.text(0, 2) == "héllo 'wörld' \\ \u{1F600}")
        #expect(r.bytes(0, 3) == all)
        #expect(r.bytes(0, 4) == [])
        #expect(!r.isNull(0, 4))
        #expect(r.isNull(0, 5) && r.text(0, 5) == "" && r.int64(0, 5) == 0)
        #expect(r.int64(0, 6) == 1)          // boolean t
        #expect(r.int64(0, 7) == 256)
        // Through a table too (bytea parameter inferred from the column, not a cast).
        try withTable(c) { t in
            let ins = try c.query("INSERT INTO \(t) (id, name, data) VALUES ($1, $2, $3), ($4, $5, $6)",
                                  [.int(1), .text("a"), .bytes(all), .int(2), .null, .bytes([])])
            #expect(ins.affectedRows == 2 && ins.rowCount == 0)
            let sel = try c.query("SELECT id, name, data FROM \(t) ORDER BY id", [])
            #expect(sel.rowCount == 2)
            #expect(sel.int64(0, 0) == 1 && sel.text(0, 1) == "a" && sel.bytes(0, 2) == all)
            #expect(sel.int64(1, 0) == 2 && sel.isNull(1, 1) && sel.bytes(1, 2) == [] && !sel.isNull(1, 2))
            #expect(sel.affectedRows == 2)
            let upd = try c.query("UPDATE \(t) SET name = $1 WHERE id > $2", [.text("z"), .int(0)])
            #expect(upd.affectedRows == 2)
            let none = try c.query("SELECT id FROM \(t) WHERE id = $1", [.int(99)])
            #expect(none.rowCount == 0)
        }
        // bytea's old escape output decodes too.
        try c.execute("SET bytea_output = 'escape'")
        if try c.query("SHOW bytea_output", []).text(0, 0) == "escape" {   // not kept through PgBouncer
            #expect(try c.query("SELECT $1::bytea", [.bytes(all)]).bytes(0, 0) == all)
        }
        try c.execute("RESET bytea_output")
        // encode(…, 'escape') (listing pages' names) decodes to the same bytes, whatever they are.
        for value in [all, Array(all.reversed()), b("\\x41"), b("\\101"), b("\\"), [0x5c, 0x78]] {
            #expect(try c.query("SELECT encode($1::bytea, 'escape')", [.bytes(value)]).bytes(0, 0) == value)
        }
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func spaceSeparatedIntegers() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        let r = try c.query("""
            SELECT concat_ws(' ', $1::bigint, $2::bigint, 0, -1, 42), NULL::text, '', '1 x', '1 2 3 4', '1  2', '1 2 ', '-'
            """, [.int(Int64.min), .int(Int64.max)])
        try withUnsafeTemporaryAllocation(of: Int64.self, capacity: 5) { f in
            #expect(r.int64s(0, 0, into: f) == 5)
            #expect(Array(f) == [Int64.min, Int64.max, 0, -1, 42])
            #expect(r.int64s(0, 1, into: f) == 0)       // NULL
            #expect(r.int64s(0, 2, into: f) == 0)
            #expect(r.int64s(0, 3, into: f) == -1)      // not a number
            #expect(r.int64s(0, 5, into: f) == -1)      // an empty word
            #expect(r.int64s(0, 6, into: f) == -1)
            #expect(r.int64s(0, 7, into: f) == -1)
            let three = UnsafeMutableBufferPointer(rebasing: f[0..<3])
            #expect(r.int64s(0, 4, into: three) == -1)  // more than there is room for
        }
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func applicationName() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        #expect(try c.query("SELECT current_setting('application_name')", []).text(0, 0) == "hilbert")
        let sep = firstRange(of: "?", in: pgURL!) == nil ? "?" : "&"
        let d = try PGConnection(conninfo: pgURL! + sep + "application_name=mine", timeoutSeconds: 10)
        #expect(try d.query("SELECT current_setting('application_name')", []).text(0, 0) == "mine")
        #expect(try c.query("SHOW client_encoding", []).text(0, 0) == "UTF8")
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func pipelineInOneRoundTrip() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        try withTable(c) { t in
            let before = c.roundTrips
            let rs = try c.pipeline([
                ("BEGIN", []),
                ("INSERT INTO \(t) (id, name, data) VALUES ($1, $2, $3)", [.int(7), .text("seven"), .bytes([0, 7, 255])]),
                ("SELECT name, data FROM \(t) WHERE id = $1", [.int(7)]),
                ("COMMIT", []),
            ])
            #expect(c.roundTrips - before == 1)
            #expect(rs.count == 4)
            #expect(rs[1].affectedRows == 1)
            #expect(rs[2].rowCount == 1 && rs[2].text(0, 0) == "seven" && rs[2].bytes(0, 1) == [0, 7, 255])
            #expect(!c.inTransaction)
            // Committed: another connection sees it.
            let other = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
            #expect(try other.query("SELECT count(*) FROM \(t)", []).int64(0, 0) == 1)
            #expect(try c.pipeline([]).isEmpty && c.roundTrips - before == 1)
            // Many statements, still one round trip.
            let many = try c.pipeline((0 ..< 200).map { i in ("SELECT $1::bigint * 2", [PGValue.int(Int64(i))]) })
            #expect(many.count == 200 && many[199].int64(0, 0) == 398 && c.roundTrips - before == 2)
        }
    }

    /// Megabytes each way in one pipeline: sending while the answers arrive, no deadlock.
    @Test(.enabled(if: pgURL != nil, noServer)) func bigPipeline() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 30)
        let blob = (0 ..< 65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let n = 300
        let rs = try c.pipeline((0 ..< n).map { i in ("SELECT $1::bytea, $2::bigint", [PGValue.bytes(blob), .int(Int64(i))]) })
        #expect(rs.count == n)
        #expect(rs.allSatisfy { $0.bytes(0, 0) == blob })
        #expect(rs[n - 1].int64(0, 1) == Int64(n - 1))
        let r = try c.query("SELECT $1::bytea", [.bytes(blob + blob + blob)])
        #expect(r.bytes(0, 0).count == 3 * blob.count)
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func failingPipeline() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        try withTable(c) { t in
            _ = try c.query("INSERT INTO \(t) (id) VALUES (1)", [])
            // In a transaction block of the pipeline's own: thrown, rolled back, idle again.
            expectPG(.exists, c) {
                _ = try c.pipeline([
                    ("BEGIN", []),
                    ("INSERT INTO \(t) (id) VALUES ($1)", [.int(2)]),
                    ("INSERT INTO \(t) (id) VALUES ($1)", [.int(1)]),
                    ("INSERT INTO \(t) (id) VALUES ($1)", [.int(3)]),
                    ("COMMIT", []),
                ])
            }
            #expect(c.lastSQLState == "23505")
            #expect(firstRange(of: "duplicate key", in: c.lastError?.message ?? "") != nil, "\(String(describing: c.lastError))")
            #expect(!c.inTransaction)
            #expect(try c.query("SELECT count(*) FROM \(t)", []).int64(0, 0) == 1)
            // Without BEGIN: one implicit transaction, all of it undone.
            expectPG(.exists, c) {
                _ = try c.pipeline([
                    ("INSERT INTO \(t) (id) VALUES ($1)", [.int(4)]),
                    ("INSERT INTO \(t) (id) VALUES ($1)", [.int(1)]),
                    ("SELECT 1", []),
                ])
            }
            #expect(try c.query("SELECT count(*) FROM \(t)", []).int64(0, 0) == 1)
            // A syntax error in the middle.
            expectPG(.io, c) { _ = try c.pipeline([("SELECT 1", []), ("SELEC 2", []), ("SELECT 3", [])]) }
            #expect(c.lastSQLState == "42601")
            #expect(try c.query("SELECT 5", []).int64(0, 0) == 5)
        }
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func sqlStates() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        try withTable(c) { t in
            _ = try c.query("INSERT INTO \(t) (id) VALUES ($1)", [.int(1)])
            expectPG(.exists, c) { _ = try c.query("INSERT INTO \(t) (id) VALUES ($1)", [.int(1)]) }
            #expect(c.lastSQLState == "23505")
            #expect(c.isConnected)
        }
        let cases: [(String, Errno)] = [("40001", .again), ("40P01", .again), ("53100", .noSpace), ("42501", .access),
                                        ("57014", Errno(ETIMEDOUT)), ("28P01", .access), ("22012", .io)]
        for (state, e) in cases {
            expectPG(e, c) { try c.execute("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '\(state)'; END $$") }
            #expect(c.lastSQLState == state)
        }
        // A real query_canceled: statement_timeout (SET LOCAL: no session state for PgBouncer).
        expectPG(Errno(ETIMEDOUT), c) {
            _ = try c.pipeline([("BEGIN", []), ("SET LOCAL statement_timeout = '50ms'", []), ("SELECT pg_sleep(5)", []), ("COMMIT", [])])
        }
        #expect(c.lastSQLState == "57014")
        #expect(try c.query("SELECT 1", []).int64(0, 0) == 1)
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func executeScript() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        let t = "hl_pgtest_script_\(getpid())"
        let before = c.roundTrips
        try c.execute("CREATE TABLE \(t) (a int); CREATE INDEX ON \(t) (a); INSERT INTO \(t) VALUES (1), (2); CREATE TABLE IF NOT EXISTS \(t) (a int)")
        #expect(c.roundTrips - before == 1)
        #expect(try c.query("SELECT sum(a) FROM \(t)", []).int64(0, 0) == 3)
        expectPG(.io, c) { try c.execute("INSERT INTO \(t) VALUES (3); SELECT * FROM no_such_table_hl; INSERT INTO \(t) VALUES (4)") }
        #expect(c.lastSQLState == "42P01")
        #expect(try c.query("SELECT sum(a) FROM \(t)", []).int64(0, 0) == 3)   // the script was one transaction
        try c.execute("DROP TABLE \(t)")
        try c.execute("")
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func roundTripCounts() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        #expect(c.roundTrips >= 2)   // at least the TCP handshake and the startup exchange
        let start = c.roundTrips
        _ = try c.query("SELECT 1", [])
        _ = try c.query("SELECT $1::int", [.int(2)])
        #expect(c.roundTrips - start == 2)
        _ = try c.pipeline([("SELECT 1", []), ("SELECT 2", [])])
        #expect(c.roundTrips - start == 3)
        try c.execute("SELECT 1; SELECT 2")
        #expect(c.roundTrips - start == 4)
        expectPG(.io, c) { _ = try c.query("SELEC", []) }
        #expect(c.roundTrips - start == 5)
    }

    /// The network's view (the proxy counts request/response turns): a pipeline is one.
    @Test(.enabled(if: pgURL != nil, noServer)) func proxyCountsOneTurnPerPipeline() throws {
        let proxy = try Proxy(upstream: hostPort(pgURL!))
        let c = try PGConnection(conninfo: url(pgURL!, port: proxy.port), timeoutSeconds: 10)
        let connectTurns = proxy.turns()
        if getenv("HL_PG_SHOW") != nil { print("connect: \(c.roundTrips) round trips counted, \(connectTurns) turns seen by the proxy") }
        // The proxy sees the exchanges; the count adds the TCP handshake (when connect() did
        // not complete at once).
        #expect(connectTurns >= 2 && (c.roundTrips == UInt64(connectTurns) || c.roundTrips == UInt64(connectTurns) + 1),
                "proxy \(connectTurns), counted \(c.roundTrips)")
        proxy.control("zero")
        _ = try c.pipeline([("BEGIN", []), ("SELECT $1::bigint", [.int(1)]), ("SELECT 2", []), ("COMMIT", [])])
        #expect(proxy.turns() == 1)
        _ = try c.query("SELECT 1", [])
        #expect(proxy.turns() == 2)
        try c.execute("SELECT 1; SELECT 2")
        #expect(proxy.turns() == 3)
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func wrongPassword() throws {
        let secret = "WrongSecret4711"
        let u = pgURL!
        let withPassword = u.replacingFirst("@", with: ":\(secret)@")
        for conninfo in [withPassword, u + (firstRange(of: "?", in: u) == nil ? "?" : "&") + "password=\(secret)"] {
            let probe = PGProbe(conninfo: conninfo, timeoutSeconds: 10)
            #expect(probe.errno == .access, "\(probe.message ?? "connected")")
            #expect(probe.message != nil && firstRange(of: secret, in: probe.message!) == nil, "\(probe.message ?? "")")
            #expect(firstRange(of: "authentication failed", in: probe.message ?? "") != nil, "\(probe.message ?? "")")
        }
        let (host, port) = hostPort(u)
        let kv = "host=\(host) port=\(port) user=hilbert dbname=hilbert password='\(secret)'"
        let probe = PGProbe(conninfo: kv, timeoutSeconds: 10)
        #expect(probe.errno == .access && firstRange(of: secret, in: probe.message ?? secret) == nil, "\(probe.message ?? "")")
        #expect(probe.sqlState == nil || probe.sqlState == "28P01" || probe.sqlState == "08P01")
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func unreachable() {
        let probe = PGProbe(conninfo: url(pgURL!, port: closedPort()), timeoutSeconds: 10)
        #expect(probe.errno == .io)
        #expect(probe.seconds < 2)
        let m = probe.message ?? ""
        #expect(firstRange(of: "unreachable", in: m) != nil && firstRange(of: "127.0.0.1:", in: m) != nil, "\(m)")
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func silentServerTimesOut() {
        let (fd, port) = silentListener()
        defer { close(fd) }
        let probe = PGProbe(conninfo: url(pgURL!, port: port), timeoutSeconds: 2)
        let took = probe.seconds
        #expect(probe.errno == Errno(ETIMEDOUT), "\(probe.message ?? "")")
        #expect(took >= 1.9 && took < 3, "\(took) s")
        #expect(firstRange(of: "did not answer within 2 s", in: probe.message ?? "") != nil, "\(probe.message ?? "")")
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func hungAndCutConnections() throws {
        let proxy = try Proxy(upstream: hostPort(pgURL!))
        let c = try PGConnection(conninfo: url(pgURL!, port: proxy.port), timeoutSeconds: 2)
        #expect(try c.query("SELECT 1", []).int64(0, 0) == 1)
        #expect(proxy.control("hang on") == "ok")
        let start = monotonicSeconds()
        expectPG(Errno(ETIMEDOUT), c) { _ = try c.query("SELECT 2", []) }
        #expect(monotonicSeconds() - start < 3)
        #expect(!c.isConnected)
        expectPG(.io, c) { _ = try c.query("SELECT 3", []) }
        #expect(firstRange(of: "not connected", in: c.lastError?.message ?? "") != nil, "\(String(describing: c.lastError))")
        // The pipeline times out the same way.
        proxy.control("hang off")
        try c.reconnect()
        #expect(try c.query("SELECT 4", []).int64(0, 0) == 4)
        proxy.control("hang on")
        expectPG(Errno(ETIMEDOUT), c) { _ = try c.pipeline([("SELECT 5", []), ("SELECT 6", [])]) }
        proxy.control("hang off")
        // Reconnecting through a hung server times out too.
        proxy.control("hang on")
        expectPG(Errno(ETIMEDOUT), c) { try c.reconnect() }
        proxy.control("hang off")
        // A cut connection: EIO, closed, reconnect works.
        try c.reconnect()
        #expect(try c.query("SELECT 7", []).int64(0, 0) == 7)
        proxy.control("cut")
        expectPG(.io, c) { _ = try c.query("SELECT 8", []) }
        #expect(!c.isConnected)
        #expect(firstRange(of: "connection lost", in: c.lastError?.message ?? "") != nil, "\(String(describing: c.lastError))")
        try c.reconnect()
        #expect(try c.query("SELECT 9", []).int64(0, 0) == 9)
        // A refused reconnect.
        proxy.control("refuse on")
        c.close()
        expectPG(.io, c) { try c.reconnect() }
    }

    @Test(.enabled(if: pgURL != nil, noServer)) func forkedChildLeavesTheParentsConnection() throws {
        let c = try PGConnection(conninfo: pgURL!, timeoutSeconds: 10)
        let backend = try c.query("SELECT pg_backend_pid()", []).int64(0, 0)
        let url = pgURL!
        let pid = fork()
        if pid == 0 {
            c.abandonAfterFork()
            var code: Int32 = 1
            if let own = try? PGConnection(conninfo: url, timeoutSeconds: 10),
               let r = try? own.query("SELECT $1::int + 1", [.int(41)]), r.int64(0, 0) == 42 {
                own.close()
                code = 0
            }
            // The parent's connection object is unusable here, and says so.
            if (try? c.query("SELECT 1", [])) != nil { code = 2 }
            _exit(code)
        }
        #expect(pid > 0)
        var status: Int32 = 0
        var waited = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            waited += 1
            if waited > 400 { kill(pid, SIGKILL); waitpid(pid, &status, 0); Issue.record("the child hung"); break }
            usleep(50_000)
        }
        #expect(status == 0, "child exit status \(status)")
        #expect(try c.query("SELECT 2", []).int64(0, 0) == 2)
        if pgURL == getenv("PG_URL").map({ String(cString: $0) }) {
            // Directly connected: still the same server session.
            #expect(try c.query("SELECT pg_backend_pid()", []).int64(0, 0) == backend)
        }
    }
}

/// A connection attempt's outcome.
private struct PGProbe {
    var errno: Errno?
    var message: String?
    var sqlState: String?
    var seconds: Double = 0
    init(conninfo: String, timeoutSeconds: Int = 2) {
        let c = PGConnection(unconnected: conninfo, timeoutSeconds: timeoutSeconds)
        let start = monotonicSeconds()
        do {
            try c.reconnect()
            c.close()
        } catch {
            seconds = monotonicSeconds() - start
            if getenv("HL_PG_SHOW") != nil { print("probe: \(c.lastError.map { "\($0)" } ?? "?") sqlstate \(c.lastSQLState ?? "none")") }
            errno = error
            message = c.lastError?.message
            sqlState = c.lastSQLState
            // The static form carries the same explanation.
            do {
                _ = try PGConnection.connect(conninfo: conninfo, timeoutSeconds: timeoutSeconds)
            } catch {
                #expect(error.errno == errno)
            }
        }
    }
}

private extension String {
    func replacingFirst(_ s: Character, with r: String) -> String {
        guard let i = firstIndex(of: s) else { return self }
        return String(self[..<i]) + r + String(self[index(after: i)...])
    }
}
