import Glibc
import CHilbertPQ
import CHilbertSys
import HilbertSupport

/// A statement parameter. `bytes` travels in binary format as bytea; the others as text,
/// their type inferred by the server from the statement (`.text` cannot hold a NUL byte:
/// PostgreSQL text cannot either).
enum PGValue: Equatable {
    case null
    case int(Int64)
    case text(String)
    case bytes([UInt8])
}

/// A fully read result, read in place: it holds libpq's PGresult, cleared when the last copy
/// of this value goes. (Copying the cells out cost a zeroed buffer as large as the result for
/// every statement: a listing page of 1,024 entries with their nodes faulted in ~200 KiB of
/// fresh pages each time, a fifth of a fresh process's `ls -l` of 10,000 entries.) Values are
/// in text format; `bytes` decodes a bytea column's text form.
struct PGResult {
    private final class Held {
        let result: OpaquePointer?
        init(_ result: OpaquePointer?) { self.result = result }
        deinit { if let result { hl_pq_clear(result) } }
    }
    private let held: Held
    /// `held.result`, read without going through the box (kept alive by `held`).
    private let result: OpaquePointer?
    let rowCount: Int
    let columnCount: Int
    /// PQcmdTuples: rows inserted, updated, deleted, selected… (0 when the command says none).
    let affectedRows: Int

    init() {
        held = Held(nil)
        result = nil
        rowCount = 0
        columnCount = 0
        affectedRows = 0
    }

    /// Takes `r` over: it is cleared with this value.
    init(taking r: OpaquePointer) {
        held = Held(r)
        result = r
        rowCount = Int(hl_pq_ntuples(r))
        columnCount = Int(hl_pq_nfields(r))
        affectedRows = hl_pq_cmd_tuples(r).flatMap { Int(String(cString: $0)) } ?? 0
    }

    @inline(__always) private func check(_ row: Int, _ col: Int) {
        precondition(row >= 0 && row < rowCount && col >= 0 && col < columnCount, "PGResult: no cell (\(row), \(col))")
    }

    /// The cell's bytes, good while `held` lives (the caller's `self`).
    @inline(__always) private func raw(_ row: Int, _ col: Int) -> UnsafeBufferPointer<UInt8> {
        check(row, col)
        let r = result!
        let n = Int(hl_pq_getlength(r, Int32(row), Int32(col)))
        guard n > 0, let p = hl_pq_getvalue(r, Int32(row), Int32(col)) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: n)
    }

    func isNull(_ row: Int, _ col: Int) -> Bool {
        check(row, col)
        return withExtendedLifetime(held) { hl_pq_getisnull(result!, Int32(row), Int32(col)) != 0 }
    }

    /// An integer column (text format); also a boolean's t/f as 1/0. 0 for NULL or non-numbers.
    func int64(_ row: Int, _ col: Int) -> Int64 {
        withExtendedLifetime(held) { PGResult.parseInt64(raw(row, col)) }
    }

    /// The integers of a text column of space-separated integers, into `out` (at most its
    /// count); how many there were (0 for NULL or ''), or -1 when a word is not an integer
    /// (an empty one included) or there are more.
    func int64s(_ row: Int, _ col: Int, into out: UnsafeMutableBufferPointer<Int64>) -> Int {
        withExtendedLifetime(held) {
            let v = raw(row, col)
            if v.isEmpty { return 0 }
            var n = 0
            var start = v.startIndex
            while true {
                var end = start
                while end < v.endIndex && v[end] != UInt8(ascii: " ") { end += 1 }
                let word = UnsafeBufferPointer(rebasing: v[start..<end])
                guard n < out.count, !word.isEmpty, let x = PGResult.parseInt64Exactly(word) else { return -1 }
                out[n] = x
                n += 1
                if end == v.endIndex { return n }
                start = end + 1
            }
        }
    }

    private static func parseInt64Exactly(_ v: UnsafeBufferPointer<UInt8>) -> Int64? {
        let x = parseInt64(v)
        if x != 0 { return x }
        return v.count == 1 && v[v.startIndex] == UInt8(ascii: "0") ? 0 : nil
    }

    private static func parseInt64(_ v: UnsafeBufferPointer<UInt8>) -> Int64 {
        guard let first = v.first else { return 0 }
        if v.count == 1 && first == UInt8(ascii: "t") { return 1 }
        var i = v.startIndex
        let negative = first == UInt8(ascii: "-")
        if negative || first == UInt8(ascii: "+") { i += 1 }
        var n: Int64 = 0
        while i < v.endIndex {
            let d = v[i] &- UInt8(ascii: "0")
            guard d < 10 else { return 0 }
            // Accumulated negatively so that Int64.min parses.
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(Int64(d))
            if o1 || o2 { return 0 }
            n = s
            i += 1
        }
        if negative { return n }
        let (p, o) = Int64(0).subtractingReportingOverflow(n)
        return o ? 0 : p
    }

    func text(_ row: Int, _ col: Int) -> String {
        withExtendedLifetime(held) { String(decoding: raw(row, col), as: UTF8.self) }
    }

    /// A bytea column: its hex text form (`\x…`, PostgreSQL's default) or the older escape form.
    func bytes(_ row: Int, _ col: Int) -> [UInt8] {
        withExtendedLifetime(held) { PGResult.decodeBytea(raw(row, col)) }
    }

    private static func decodeBytea(_ v: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        if v.count >= 2, v[v.startIndex] == UInt8(ascii: "\\"), v[v.startIndex + 1] == UInt8(ascii: "x") {
            var out = [UInt8]()
            out.reserveCapacity((v.count - 2) / 2)
            var i = v.startIndex + 2
            while i + 1 < v.endIndex {
                guard let h = hexNibble(v[i]), let l = hexNibble(v[i + 1]) else { break }
                out.append(h << 4 | l)
                i += 2
            }
            return out
        }
        // bytea_output = escape: \\ for a backslash, \ooo (octal) for other non-printables.
        var out = [UInt8]()
        out.reserveCapacity(v.count)
        var i = v.startIndex
        while i < v.endIndex {
            if v[i] == UInt8(ascii: "\\") {
                if i + 1 < v.endIndex, v[i + 1] == UInt8(ascii: "\\") {
                    out.append(UInt8(ascii: "\\"))
                    i += 2
                    continue
                }
                if i + 3 < v.endIndex {
                    let a = v[i + 1] &- 48, b = v[i + 2] &- 48, c = v[i + 3] &- 48
                    if a < 4, b < 8, c < 8 {
                        out.append(a << 6 | b << 3 | c)
                        i += 4
                        continue
                    }
                }
            }
            out.append(v[i])
            i += 1
        }
        return out
    }
}

@inline(__always) private func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 48 ... 57: return c - 48
    case 97 ... 102: return c - 87
    case 65 ... 70: return c - 55
    default: return nil
    }
}

/// One connection to a PostgreSQL server (or PgBouncer in transaction pooling mode) through
/// libpq, loaded on first use. Not thread-safe: the caller serialises calls.
///
/// Every call waits at most `timeoutSeconds` for the server (poll() on libpq's socket, the
/// connection made with PQconnectStart/PQconnectPoll): a server that stops answering gives
/// ETIMEDOUT and a closed connection, never a hang. A connection that timed out or broke
/// stays closed (calls throw EIO "not connected") until the caller calls `reconnect()`: it
/// is never reopened behind the caller's back, which could split a transaction.
///
/// Only unnamed statements and no session state: all of it works through PgBouncer's
/// transaction pooling. A pipeline is sent with one Sync, so it runs as one implicit
/// transaction (when it has no BEGIN of its own) and costs one round trip.
///
/// Errors: SQLSTATE 28P01/28000/42501 → EACCES, 53100 → ENOSPC, 40001/40P01 → EAGAIN (retry
/// the transaction), 23505 → EEXIST, 57014 → ETIMEDOUT, any other → EIO; a server that cannot
/// be reached → EIO; no answer in time → ETIMEDOUT. `lastError` says why, naming the server
/// (host:port/db), never a password.
final class PGConnection {
    /// As the caller gave it: passed to libpq, never shown.
    private let conninfo: String
    let timeoutSeconds: Int
    /// The server for messages: "host:port/db" (the host libpq connected to), or the redacted
    /// conninfo before libpq has parsed it.
    private(set) var server: String
    private let secrets: [String]
    private var conn: OpaquePointer?
    private var owner: pid_t = 0
    /// libpq's socket, announced as the engine's own while connected (below).
    private var ownedSocket: Int32 = -1
    private var downReason = "never connected"
    /// Explanation of the most recent failure (never reset by a success).
    private(set) var lastError: HilbertError?
    /// The SQLSTATE of the most recent failure, nil when it had none (timeout, unreachable…).
    private(set) var lastSQLState: String?
    /// Network round trips so far: one per query, pipeline and execute; a connect counts the
    /// TCP handshake and each exchange (SSL/GSS negotiation, startup, authentication steps).
    private(set) var roundTrips: UInt64 = 0

    /// `conninfo`: a postgres:// or postgresql:// URI or a key=value string, passed to libpq as
    /// is (sslmode, PGPASSFILE/~/.pgpass, PGPASSWORD, PGSERVICE, host lists all apply).
    /// application_name is "hilbert" unless the conninfo sets one; client_encoding UTF8
    /// likewise. `timeoutSeconds` <= 0: no limit.
    convenience init(conninfo: String, timeoutSeconds: Int) throws(Errno) {
        self.init(unconnected: conninfo, timeoutSeconds: timeoutSeconds)
        try connect()
    }

    /// A connection, or why not: the explanation of a failed connect (which `init` loses
    /// with the instance).
    static func connect(conninfo: String, timeoutSeconds: Int) throws(HilbertError) -> PGConnection {
        let c = PGConnection(unconnected: conninfo, timeoutSeconds: timeoutSeconds)
        do {
            try c.connect()
        } catch {
            throw c.lastError ?? HilbertError(error, "metadata server \(c.server): cannot connect")
        }
        return c
    }

    /// Not connected yet: `reconnect()` connects.
    init(unconnected conninfo: String, timeoutSeconds: Int) {
        self.conninfo = conninfo
        self.timeoutSeconds = timeoutSeconds
        self.secrets = conninfoPasswords(conninfo)
        self.server = redactedConninfo(conninfo)
    }

    deinit { close() }

    var isConnected: Bool { conn != nil && owner == getpid() }

    /// Inside a transaction block (BEGIN … not yet ended), or in a failed one: a reconnect
    /// now would lose it.
    var inTransaction: Bool {
        guard let c = conn, owner == getpid() else { return false }
        let s = hl_pq_transaction_status(c)
        return s == Int32(HL_PQ_TRANS_INTRANS) || s == Int32(HL_PQ_TRANS_INERROR)
    }

    /// Close (if open) and connect again. The caller decides when: a transaction that was
    /// open is gone.
    func reconnect() throws(Errno) { try connect() }

    /// PQfinish (in the process that opened the connection). Safe to call twice.
    func close() {
        if conn != nil { downReason = "closed" }
        drop()
    }

    /// In a forked child: forget the parent's connection without a word on its socket (no
    /// PQfinish, whose Terminate message would end the parent's session): close this
    /// process's copy of the socket and leak libpq's state. `reconnect()` opens a new one.
    func abandonAfterFork() {
        if let c = conn, ownedSocket >= 0, hl_pq_socket(c) == ownedSocket {
            Sys.closePrivate(ownedSocket)
        }
        // The PGconn (and any TLS state) stays allocated on purpose.
        conn = nil
        detached = 0
        aheadSQL = []
        aheadResults = nil
        ownedSocket = -1
        downReason = "inherited through fork"
    }

    // MARK: statements

    /// One statement with parameters ($1, $2 …): extended protocol, unnamed statement. Without
    /// parameters, the simple protocol: one Query message instead of Parse, Bind, Describe,
    /// Execute and Sync, which PgBouncer and the server handle measurably faster (0.148 against
    /// 0.178 ms a statement through PgBouncer here), and the steady-state open is exactly such
    /// a statement (the change version). Both answer in text, so the result reads the same.
    func query(_ sql: String, _ params: [PGValue]) throws(Errno) -> PGResult {
        let c = try connected()
        let deadline = deadline()
        let sent = params.isEmpty ? hl_pq_send_query(c, sql) : withParams(params) { n, types, values, lengths, formats in
            hl_pq_send_query_params(c, sql, n, types, values, lengths, formats, 0)
        }
        if sent != 1 { throw sendFailed(c, sql) }
        roundTrips += 1
        try flushAll(c, deadline)
        return try collect(c, deadline, sql)
    }

    /// Several statements, each with its parameters, sent together and answered in one round
    /// trip (pipeline mode, one Sync at the end); results in order. The first failing
    /// statement's error is thrown (the server skips the rest). Without a BEGIN of their own
    /// the statements form one implicit transaction, rolled back as a whole on failure; a
    /// pipeline that opened a transaction block (BEGIN …) and failed in it is rolled back
    /// here (one more round trip), so the connection is idle again. A transaction the caller
    /// opened before the pipeline is left to the caller.
    func pipeline(_ statements: [(sql: String, params: [PGValue])]) throws(Errno) -> [PGResult] {
        if statements.isEmpty { return [] }
        let c = try connected()
        let deadline = deadline()
        let before = hl_pq_transaction_status(c)
        try sendPipeline(c, statements, deadline)
        return try receivePipeline(c, statements.map(\.sql), before, deadline)
    }

    private func sendPipeline(_ c: OpaquePointer, _ statements: [(sql: String, params: [PGValue])],
                              _ deadline: UInt64) throws(Errno) {
        if hl_pq_enter_pipeline_mode(c) != 1 { throw sendFailed(c, "pipeline mode") }
        for st in statements {
            let sent = withParams(st.params) { n, types, values, lengths, formats in
                hl_pq_send_query_params(c, st.sql, n, types, values, lengths, formats, 0)
            }
            if sent != 1 { throw sendFailed(c, st.sql, drop: true) }
        }
        if hl_pq_pipeline_sync(c) != 1 { throw sendFailed(c, "pipeline sync", drop: true) }
        roundTrips += 1
        try flushAll(c, deadline)
    }

    /// The answers of a pipeline `sendPipeline` sent; `before`: the transaction status before it.
    private func receivePipeline(_ c: OpaquePointer, _ statements: [String], _ before: Int32,
                                 _ deadline: UInt64) throws(Errno) -> [PGResult] {
        var results: [PGResult] = []
        results.reserveCapacity(statements.count)
        var failure: Errno?
        for sql in statements {
            var answered = false
            while let r = try nextResult(c, deadline) {
                let status = hl_pq_result_status(r)
                if !answered && PGConnection.succeeded(status) {
                    results.append(PGResult(taking: r))
                    answered = true
                    continue
                }
                defer { hl_pq_clear(r) }
                switch Int(status) {
                case Int(HL_PQ_COMMAND_OK), Int(HL_PQ_TUPLES_OK), Int(HL_PQ_EMPTY_QUERY):
                    answered = true
                case Int(HL_PQ_PIPELINE_ABORTED):
                    answered = true
                case Int(HL_PQ_FATAL_ERROR):
                    if failure == nil { failure = serverError(r, sql) }
                    answered = true
                default:
                    throw unexpected(c, status, sql)
                }
            }
            if !answered {   // the connection broke: libpq has no result for this statement
                if let failure { drop(); downReason = "the connection was lost"; throw failure }
                throw broken(c, "pipeline")
            }
        }
        // The Sync's own result, then the pipeline ends.
        guard let sync = try nextResult(c, deadline) else {
            if let failure { drop(); downReason = "the connection was lost"; throw failure }
            throw broken(c, "pipeline sync")
        }
        let syncStatus = hl_pq_result_status(sync)
        hl_pq_clear(sync)
        if syncStatus != Int32(HL_PQ_PIPELINE_SYNC) {
            if let failure, hl_pq_status(c) == Int32(HL_PQ_CONNECTION_BAD) { drop(); throw failure }
            throw unexpected(c, syncStatus, "pipeline sync")
        }
        if hl_pq_exit_pipeline_mode(c) != 1 { throw sendFailed(c, "pipeline end", drop: true) }
        if let failure {
            if before == Int32(HL_PQ_TRANS_IDLE), hl_pq_transaction_status(c) == Int32(HL_PQ_TRANS_INERROR) {
                let why = (lastError, lastSQLState)
                _ = try? execute("ROLLBACK")
                (lastError, lastSQLState) = why
            }
            throw failure
        }
        return results
    }

    // MARK: a pipeline sent ahead

    /// The statements of the pipeline `sendAhead` sent, whose answers are not read yet.
    private var aheadSQL: [String] = []
    /// Their answers once read (before anything else is sent); nil when they failed.
    private var aheadResults: [PGResult]?
    /// `forgetAhead`: the answers are read and dropped.
    private var aheadForgotten = false

    /// Send reads whose answers will probably be wanted soon (the next page of a listing) and
    /// do not wait: the server works on them while the process does something else. The
    /// answers are read by `takeAhead`, or before anything else is sent and kept for it.
    func sendAhead(_ statements: [(sql: String, params: [PGValue])]) throws(Errno) {
        let c = try connected()
        aheadResults = nil
        aheadForgotten = false
        try sendPipeline(c, statements, deadline())
        aheadSQL = statements.map(\.sql)
    }

    /// The answers of the pipeline sent ahead, in order (waiting for them if they have not
    /// arrived); nil when none was sent, it failed, or it was forgotten. Taken once.
    func takeAhead() -> [PGResult]? {
        if !aheadSQL.isEmpty, let c = conn, owner == getpid() { settleAhead(c) }
        defer { aheadResults = nil }
        return aheadResults
    }

    /// What was sent ahead no longer answers anyone's question (this process changed the
    /// volume since): its answers are dropped.
    func forgetAhead() {
        aheadResults = nil
        aheadForgotten = !aheadSQL.isEmpty
    }

    private func settleAhead(_ c: OpaquePointer) {
        let statements = aheadSQL
        aheadSQL = []
        // A failure drops a broken connection itself; a server error loses only these reads.
        let results = try? receivePipeline(c, statements, Int32(HL_PQ_TRANS_IDLE), deadline())
        aheadResults = aheadForgotten ? nil : results
        aheadForgotten = false
    }

    /// A script of statements without parameters (simple protocol: DDL, a migration).
    /// Statements sent by `sendDetached` whose answers are not read yet.
    private var detached = 0

    /// Send a statement nobody waits for (the COMMIT of a read-only transaction): it leaves
    /// now, so the server (and PgBouncer) end the transaction at once; its answer, which has
    /// long arrived by then, is read before the next statement is sent. A server error in it
    /// is dropped (nothing of a read-only transaction is lost); a broken connection shows at
    /// the next call.
    func sendDetached(_ sql: String) throws(Errno) {
        let c = try connected()
        if hl_pq_send_query(c, sql) != 1 { throw sendFailed(c, sql) }
        try flushAll(c, deadline())
        detached += 1
    }

    private func settleDetached(_ c: OpaquePointer) throws(Errno) {
        let deadline = deadline()
        while detached > 0 {
            while let r = try nextResult(c, deadline) { hl_pq_clear(r) }
            detached -= 1
        }
        if hl_pq_status(c) == Int32(HL_PQ_CONNECTION_BAD) { throw broken(c, "receiving") }
    }

    func execute(_ script: String) throws(Errno) {
        let c = try connected()
        let deadline = deadline()
        if hl_pq_send_query(c, script) != 1 { throw sendFailed(c, script) }
        roundTrips += 1
        try flushAll(c, deadline)
        _ = try collect(c, deadline, script)
    }

    // MARK: connecting

    private func connect() throws(Errno) {
        drop()
        var message = [CChar](repeating: 0, count: 512)
        if hl_pq_load(&message, message.count) != 0 {
            throw fail(.io, String(cString: message), sqlState: nil)
        }
        let deadline = deadline()
        guard let c = hl_pq_connect_start(conninfo) else {
            throw fail(.noMemory, "metadata server \(server): cannot start a connection (out of memory)", sqlState: nil)
        }
        conn = c
        owner = getpid()
        describeServer(c)
        // As libpq's documentation says: start as if PQconnectPoll had asked for writing.
        var state = Int32(HL_PQ_POLLING_WRITING)
        if hl_pq_status(c) == Int32(HL_PQ_CONNECTION_BAD) { state = Int32(HL_PQ_POLLING_FAILED) }
        // Round trips: the first wait on each socket (the TCP handshake, or the first exchange
        // when connect() completed at once), then each wait for an answer after libpq sent
        // something (SSL/GSS negotiation, startup, each authentication step). libpq may wait
        // more often (an answer in pieces); without TCP_INFO (a Unix socket) each read wait counts.
        var socket: Int32 = -1
        var sent: Int64 = 0
        while state != Int32(HL_PQ_POLLING_OK) {
            let reading = state == Int32(HL_PQ_POLLING_READING)
            guard reading || state == Int32(HL_PQ_POLLING_WRITING) else { throw connectFailed(c) }
            let nowSent = Int64(hl_pq_bytes_sent(c))
            if hl_pq_socket(c) != socket {
                socket = hl_pq_socket(c)
                roundTrips += 1
            } else if reading && (nowSent < 0 || nowSent > sent) {
                roundTrips += 1
            }
            sent = nowSent
            _ = try waitSocket(c, Int16(reading ? POLLIN : POLLOUT), deadline, "while connecting")
            state = hl_pq_connect_poll(c)
            describeServer(c)
        }
        _ = hl_pq_set_error_verbosity(c, Int32(HL_PQ_ERRORS_DEFAULT))
        if hl_pq_set_nonblocking(c, 1) != 0 {
            let e = fail(.io, "metadata server \(server): cannot make the connection non-blocking: \(libpqMessage(c))", sqlState: nil)
            drop()
            throw e
        }
        // libpq opens its socket itself, so it cannot be moved above the program's fds like
        // libcurl's (CHilbertHTTP); it is announced as the engine's, so that the program's
        // close, dup2 or close_range cannot take it (or write into it), until drop().
        ownedSocket = hl_pq_socket(c)
        if ownedSocket >= 0 { hl_sys_note_private(ownedSocket, 1) }
        downReason = "closed"
    }

    /// "host:port/db" as libpq has it (no password in any of the three).
    private func describeServer(_ c: OpaquePointer) {
        let host = hl_pq_host(c).map { String(cString: $0) } ?? ""
        guard !host.isEmpty else { return }
        let port = hl_pq_port(c).map { String(cString: $0) } ?? ""
        let db = hl_pq_db(c).map { String(cString: $0) } ?? ""
        server = scrubbed(host + (port.isEmpty ? "" : ":" + port) + "/" + db, secrets)
    }

    /// A failed connection attempt: why, from libpq's message (verbose: it carries the
    /// server's SQLSTATE, the only place libpq reports one for a failed connection).
    private func connectFailed(_ c: OpaquePointer) -> Errno {
        let (text, sqlState) = splitVerbose(hl_pq_error_message(c).map { String(cString: $0) } ?? "")
        let parsed = !(hl_pq_host(c).map { String(cString: $0) } ?? "").isEmpty
        drop()
        downReason = "the connection failed"
        // PgBouncer (1.18) reports a failed login as 08P01 "SASL authentication failed" or
        // "password authentication failed"; libpq's "fe_sendauth: no password supplied" has none.
        let login = firstRange(of: "authentication failed", in: text) != nil
            || firstRange(of: "no password supplied", in: text) != nil
        if let sqlState {
            var e = PGConnection.errno(forSQLState: sqlState)
            if login { e = .access }
            let what = e == .access ? "refused the login" : "refused the connection"
            return fail(e, "metadata server \(server) \(what): \(text)", sqlState: sqlState)
        }
        if login {
            return fail(.access, "metadata server \(server) refused the login: \(text)", sqlState: nil)
        }
        if !parsed {   // libpq rejected the conninfo before trying any host
            return fail(.invalid, "metadata connection string \(server) is not valid: \(text)", sqlState: nil)
        }
        let network = firstRange(of: "connection to server", in: text) != nil
            || firstRange(of: "could not translate host name", in: text) != nil
        return fail(.io, "metadata server \(server) \(network ? "unreachable" : "cannot be used"): \(text)", sqlState: nil)
    }

    /// The text of a verbose libpq message without its LOCATION lines and the SQLSTATE
    /// ("FATAL:  28P01:  password …"), and that SQLSTATE.
    private func splitVerbose(_ message: String) -> (String, String?) {
        var kept: [Substring] = []
        var sqlState: String?
        for line in message.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("LOCATION:") { continue }
            var l = line
            if sqlState == nil, let r = sqlStateRange(l) {
                sqlState = String(l[r])
                l = l[..<r.lowerBound] + l[l.index(r.upperBound, offsetBy: 2)...]
            }
            kept.append(l)
        }
        return (oneLine(kept.joined(separator: " ")), sqlState)
    }

    /// The range of "XXXXX" in ":  XXXXX: " (severity, two spaces, five SQLSTATE characters:
    /// "FATAL:  28P01: password authentication failed …").
    private func sqlStateRange(_ line: Substring) -> Range<Substring.Index>? {
        let u = Array(line.utf8)
        var i = 0
        while i + 10 <= u.count {
            if u[i] == 58, u[i + 1] == 32, u[i + 2] == 32, u[i + 8] == 58, u[i + 9] == 32,
               u[(i + 3) ..< (i + 8)].allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) }) {
                let start = line.utf8.index(line.startIndex, offsetBy: i + 3)
                return start ..< line.utf8.index(start, offsetBy: 5)
            }
            i += 1
        }
        return nil
    }

    // MARK: the exchange

    private func connected() throws(Errno) -> OpaquePointer {
        if let c = conn {
            if owner == getpid() {
                if detached > 0 { try settleDetached(c) }
                if !aheadSQL.isEmpty {
                    settleAhead(c)
                    if conn == nil { throw fail(.io, "metadata server \(server): \(downReason)", sqlState: nil) }
                }
                return c
            }
            abandonAfterFork()   // inherited, never used in this process
        }
        throw fail(.io, "metadata server \(server): not connected (\(downReason)); reconnect to continue", sqlState: nil)
    }

    private func deadline() -> UInt64 {
        timeoutSeconds > 0 ? hl_monotonic_ns() &+ UInt64(timeoutSeconds) * 1_000_000_000 : .max
    }

    /// Wait until libpq's socket is ready for `events`; past the deadline the connection is
    /// closed and ETIMEDOUT thrown.
    private func waitSocket(_ c: OpaquePointer, _ events: Int16, _ deadline: UInt64, _ what: String) throws(Errno) -> Int16 {
        let fd = hl_pq_socket(c)
        if fd < 0 { throw broken(c, what) }
        while true {
            var ms: Int32 = -1
            if deadline != .max {
                let now = hl_monotonic_ns()
                if now >= deadline { throw timedOut(what) }
                ms = Int32(min((deadline - now + 999_999) / 1_000_000, UInt64(Int32.max)))
            }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = Glibc.poll(&p, 1, ms)
            if r > 0 { return p.revents }
            if r < 0 {
                let e = Glibc.errno
                if e != EINTR && e != EAGAIN {
                    throw fail(.io, "metadata server \(server): poll: \(Errno(e))", sqlState: nil, drop: true)
                }
            }
        }
    }

    /// Send everything libpq has buffered (reading meanwhile, so that neither side blocks).
    private func flushAll(_ c: OpaquePointer, _ deadline: UInt64) throws(Errno) {
        while true {
            let r = hl_pq_flush(c)
            if r == 0 { return }
            if r < 0 { throw broken(c, "sending") }
            let ev = try waitSocket(c, Int16(POLLIN | POLLOUT), deadline, "while sending")
            if ev & Int16(POLLIN) != 0, hl_pq_consume_input(c) == 0 { throw broken(c, "receiving") }
        }
    }

    /// The next result (nil: the current statement's results are all read), waiting for it.
    private func nextResult(_ c: OpaquePointer, _ deadline: UInt64) throws(Errno) -> OpaquePointer? {
        while hl_pq_is_busy(c) != 0 {
            _ = try waitSocket(c, Int16(POLLIN), deadline, "waiting for the answer")
            if hl_pq_consume_input(c) == 0 { throw broken(c, "receiving") }
        }
        return hl_pq_get_result(c)
    }

    /// A statement's result that answers it (rows, a command's tag, or an empty query).
    private static func succeeded(_ status: Int32) -> Bool {
        status == Int32(HL_PQ_COMMAND_OK) || status == Int32(HL_PQ_TUPLES_OK) || status == Int32(HL_PQ_EMPTY_QUERY)
    }

    /// Read every result of what was sent: the last successful one, or the first error.
    private func collect(_ c: OpaquePointer, _ deadline: UInt64, _ sql: String) throws(Errno) -> PGResult {
        var result: PGResult?
        var failure: Errno?
        while let r = try nextResult(c, deadline) {
            let status = hl_pq_result_status(r)
            if failure == nil && PGConnection.succeeded(status) {
                result = PGResult(taking: r)
                continue
            }
            defer { hl_pq_clear(r) }
            switch Int(status) {
            case Int(HL_PQ_COMMAND_OK), Int(HL_PQ_TUPLES_OK), Int(HL_PQ_EMPTY_QUERY):
                break
            case Int(HL_PQ_FATAL_ERROR):
                if failure == nil { failure = serverError(r, sql) }
            default:
                throw unexpected(c, status, sql)
            }
        }
        if hl_pq_status(c) == Int32(HL_PQ_CONNECTION_BAD) {
            if let failure { drop(); downReason = "the server closed the connection"; throw failure }
            throw broken(c, "receiving")
        }
        if let failure { throw failure }
        return result ?? PGResult()
    }

    // MARK: errors

    static func errno(forSQLState s: String) -> Errno {
        switch s {
        case "28P01", "28000", "42501": return .access
        case "53100": return .noSpace
        case "40001", "40P01": return .again
        case "23505": return .exists
        case "57014": return Errno(ETIMEDOUT)
        default: return .io
        }
    }

    /// An error the server reported for a statement.
    private func serverError(_ r: OpaquePointer, _ sql: String) -> Errno {
        func field(_ f: Int32) -> String? {
            hl_pq_result_error_field(r, f).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let sqlState = field(Int32(HL_PQ_DIAG_SQLSTATE))
        var text = field(Int32(HL_PQ_DIAG_MESSAGE_PRIMARY)) ?? "error"
        if let detail = field(Int32(HL_PQ_DIAG_MESSAGE_DETAIL)) { text += ": " + detail }
        let e = sqlState.map { PGConnection.errno(forSQLState: $0) } ?? .io
        return fail(e, "metadata server \(server): \(oneLine(text)) (SQLSTATE \(sqlState ?? "none")) [\(snippet(sql))]",
                    sqlState: sqlState)
    }

    private func sendFailed(_ c: OpaquePointer, _ sql: String, drop dropIt: Bool = false) -> Errno {
        if hl_pq_status(c) == Int32(HL_PQ_CONNECTION_BAD) { return broken(c, "sending") }
        return fail(.io, "metadata server \(server): cannot send [\(snippet(sql))]: \(libpqMessage(c))",
                    sqlState: nil, drop: dropIt)
    }

    /// A result kind this layer does not handle (COPY): the connection cannot go on.
    private func unexpected(_ c: OpaquePointer, _ status: Int32, _ sql: String) -> Errno {
        fail(.io, "metadata server \(server): unexpected result (status \(status)) [\(snippet(sql))]: \(libpqMessage(c))",
             sqlState: nil, drop: true)
    }

    private func broken(_ c: OpaquePointer, _ what: String) -> Errno {
        let why = libpqMessage(c)
        let e = fail(.io, "metadata server \(server): connection lost (\(what)): \(why.isEmpty ? "closed" : why)",
                     sqlState: nil, drop: true)
        downReason = "the connection was lost"
        return e
    }

    private func timedOut(_ what: String) -> Errno {
        let e = fail(Errno(ETIMEDOUT), "metadata server \(server) did not answer within \(timeoutSeconds) s (\(what)); the connection is closed",
                     sqlState: nil, drop: true)
        downReason = "it timed out"
        return e
    }

    /// Remember why (passwords scrubbed) and return the errno.
    private func fail(_ e: Errno, _ message: String, sqlState: String?, drop dropIt: Bool = false) -> Errno {
        lastError = HilbertError(e, scrubbed(message, secrets))
        lastSQLState = sqlState
        if dropIt { drop() }
        return e
    }

    private func libpqMessage(_ c: OpaquePointer) -> String {
        oneLine(hl_pq_error_message(c).map { String(cString: $0) } ?? "")
    }

    /// Close the connection (PQfinish; abandon it in a forked child). libpq may have closed
    /// its socket already (a lost connection): the number is withdrawn all the same, which
    /// every call does as soon as it sees the connection broken.
    private func drop() {
        detached = 0
        aheadSQL = []
        aheadResults = nil
        guard let c = conn else { return }
        if owner != getpid() { abandonAfterFork(); return }
        conn = nil
        if ownedSocket >= 0 { hl_sys_note_private(ownedSocket, 0) }
        ownedSocket = -1
        hl_pq_finish(c)
    }
}

/// libpq's messages span lines (and tabs): one line for ours.
private func oneLine(_ s: String) -> String {
    var out = ""
    var space = false
    for ch in s.unicodeScalars {
        if ch == "\n" || ch == "\t" || ch == "\r" || ch == " " {
            space = true
        } else {
            if space && !out.isEmpty { out.append(" ") }
            space = false
            out.unicodeScalars.append(ch)
        }
    }
    return out
}

private func snippet(_ sql: String) -> String {
    let flat = oneLine(sql)
    guard flat.utf8.count > 120 else { return flat }
    return String(flat.prefix(117)) + "..."
}

/// The parameters as libpq wants them, valid during `body`: text for .int/.text (NUL
/// terminated), binary bytea (OID 17) for .bytes, a NULL pointer for .null.
private func withParams<R>(_ params: [PGValue],
                           _ body: (Int32, [UInt32], [UnsafePointer<CChar>?], [Int32], [Int32]) -> R) -> R {
    if params.isEmpty { return body(0, [], [], [], []) }
    var buffer: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int32] = []
    var formats: [Int32] = []
    var types: [UInt32] = []
    offsets.reserveCapacity(params.count)
    for p in params {
        switch p {
        case .null:
            offsets.append(-1); lengths.append(0); formats.append(0); types.append(0)
        case .int(let v):
            offsets.append(buffer.count); lengths.append(0); formats.append(0); types.append(0)
            buffer.append(contentsOf: String(v).utf8)
            buffer.append(0)
        case .text(let s):
            offsets.append(buffer.count); lengths.append(0); formats.append(0); types.append(0)
            buffer.append(contentsOf: s.utf8)
            buffer.append(0)
        case .bytes(let b):
            offsets.append(buffer.count); lengths.append(Int32(b.count)); formats.append(1); types.append(17)
            buffer.append(contentsOf: b)
        }
    }
    buffer.append(0)   // never empty: an empty bytea needs a non-NULL pointer
    return buffer.withUnsafeBufferPointer { buf in
        let base = UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self)
        let values = offsets.map { $0 < 0 ? nil : base + $0 }
        return body(Int32(params.count), types, values, lengths, formats)
    }
}
