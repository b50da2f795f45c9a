import Glibc
import CHilbertSys
import HilbertSupport

/// One process's session with a PostgreSQL volume: its connection (opened on first use, never
/// used by a fork child) and the transaction the policy layer has open.
///
/// Round trips. A statement whose answer is not needed (a write) is queued and sent with the
/// next statement whose answer is needed, or with the COMMIT, in one pipeline (one network
/// round trip). BEGIN is queued the same way, so a transaction costs one round trip per read
/// that the policy makes plus one for its end.
///
/// Concurrency. A write transaction takes a transaction-scoped advisory lock on the volume
/// first: writers of one volume commit one at a time, as SQLite's writers do, so the policy
/// layer's read-check-write sequences are atomic across processes and nodes, and nothing
/// ever needs a retry. The lock and everything else are transaction-scoped (no session
/// state), so sessions work through PgBouncer in transaction pooling mode. A read
/// transaction is REPEATABLE READ READ ONLY: one snapshot.
///
/// Commit outcome. Each write transaction inserts a random token into `hl_commit` with its
/// changes; when the connection breaks while its COMMIT was in flight, the session reconnects
/// and inserts the token itself (`commit`): already there, the transaction committed; inserted,
/// it did not and now never will (EIO, nothing applied). A retried commit never applies twice.
/// A token is asked about only by the session that made it, and only right after its COMMIT:
/// once the session knows its transaction committed, nothing needs the row. Every
/// `settledTokensBatch`-th write transaction deletes the session's settled tokens with its
/// own changes (in the statement that inserts its token: no round trip or statement of its
/// own), so the table holds at most that many rows per session, not one per transaction for a
/// day (134 bytes per small file created). A DELETE of its own in every commit had cost 4–5 %
/// of a create on PostgreSQL (6 alternating runs).
final class PGSession {
    /// `"schema".hl_`: the prefix of every table name in a statement.
    let t: String
    let display: String
    let timeoutSeconds: Int
    /// Taken first by every write transaction and migration (see above).
    let volumeLock: (sql: String, params: [PGValue])

    /// Connected on first use and again after it broke (between transactions only).
    private let conn: PGConnection
    private(set) var lastError: HilbertError?
    private(set) var depth = 0
    private(set) var inWrite = false
    private var queued: [(sql: String, params: [PGValue])] = []
    /// The server has been sent this transaction's BEGIN.
    private(set) var sentBegin = false
    /// The connection broke during the transaction's first round trip (nothing of it reached
    /// the server's data, and the body has seen no answer): it may simply run again.
    private var lostOnFirstRoundTrip = false
    /// This write transaction queued a change (it then bumps the change counter and commits
    /// with a token).
    private var wrote = false
    /// This write transaction may have changed the volume (any statement but those on lease
    /// rows, `hl_lock`): it bumps the change counter, and the end handler drops the caches.
    private var changed = false
    /// This write transaction used lease rows.
    private var leased = false
    /// Moves whenever what this session's reads would return may have changed under the
    /// rows fetched earlier: a write queued, a transaction begun or ended, a savepoint rolled
    /// back (`PGBackend.readTogether` answers from its rows only at the same generation).
    private(set) var generation = 0
    /// The change version this write transaction's commit set (its bump's RETURNING).
    private var committedVersion: Int64?
    /// Tokens of this session's transactions known to have committed: nothing will ask about
    /// them again. Deleted together by the commit that finds `settledTokensBatch` of them (kept
    /// for the next when that one fails); those a session leaves go with the sweep of day-old
    /// tokens.
    private var settledTokens: [Int64] = []
    static let settledTokensBatch = 16
    /// This write transaction failed with its COMMIT sent and its outcome unknown (`commit`).
    private(set) var commitOutcomeUnknown = false
    /// This write transaction is optimistic (PGBackend.optimisticTransaction): a failed check
    /// of its expectation, or of a name it assumed absent, is `MetaStore.conflict`.
    private var optimistic = false
    private(set) var expectationQueued = false
    /// Reads to send when this read transaction ends, without waiting (PGBackend.readAhead):
    /// the server answers them while the process works; `takeAhead` gets the answers.
    var aheadRequest: [(sql: String, params: [PGValue])]?
    /// Called when a write transaction that may have changed the volume ended, with the change
    /// version before and after its commit when it committed and that is known.
    var onWriteEnd: (((before: Int64, after: Int64)?) -> Void)?

    init(_ url: PGURL) {
        t = "\"\(url.schema)\".hl_"
        display = url.display
        timeoutSeconds = url.timeoutSeconds
        volumeLock = ("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.text("hilbert:" + url.schema)])
        conn = PGConnection(unconnected: url.conninfo, timeoutSeconds: url.timeoutSeconds)
    }

    /// Remember an explanation found by the backend (a damaged volume).
    func setLastError(_ e: HilbertError) { lastError = e }
    /// The session's explanation, or else the connection's own (a call made on it directly).
    var connectionError: HilbertError? { lastError ?? conn.lastError }

    // MARK: the connection

    /// The connection, opened now when there is none (first use, or after a broken one).
    /// A server that cannot be reached (down, restarting, PgBouncer waiting out its
    /// server_login_retry) is tried again with a growing pause until the URL's timeout: a
    /// restart of a few seconds does not fail the job's calls. A refused login (EACCES) or a
    /// malformed URL (EINVAL) fails at once.
    func connection() throws(Errno) -> PGConnection {
        if conn.isConnected { return conn }
        do throws(Errno) {
            try untilTimeout(pauseFirst: true) { () throws(Errno) in
                do throws(Errno) {
                    try conn.reconnect()
                } catch {
                    lastError = conn.lastError ?? HilbertError(error, "metadata server \(display): cannot connect (\(error))")
                    throw error
                }
            } retrying: { error, _ in error == .io }
        } catch {
            report(lastError ?? HilbertError(error, "metadata server \(display): \(error)"))
            throw error
        }
        return conn
    }

    /// Run `body`, and again after a growing pause (20 ms doubling to 1 s; with `pauseFirst`
    /// false the first retry is at once) while `retrying(error, attempt)` says its failure
    /// may pass and the URL's timeout allows one more try.
    private func untilTimeout<T>(pauseFirst: Bool, _ body: () throws(Errno) -> T,
                                 retrying: (Errno, Int) -> Bool) throws(Errno) -> T {
        let started = hl_monotonic_ns()
        let budget = UInt64(timeoutSeconds) * 1_000_000_000
        var pause: UInt64 = 20_000_000
        var attempt = 0
        while true {
            attempt += 1
            do throws(Errno) {
                return try body()
            } catch {
                let wait = pauseFirst || attempt > 1 ? pause : 0
                guard retrying(error, attempt), hl_monotonic_ns() &- started + wait < budget else { throw error }
                if wait > 0 {
                    usleep(useconds_t(wait / 1000))
                    pause = min(pause * 2, 1_000_000_000)
                }
            }
        }
    }

    func close() {
        conn.close()
        depth = 0
        queued = []
    }

    func abandonAfterFork() {
        conn.abandonAfterFork()
        depth = 0
        inWrite = false
        queued = []
        sentBegin = false
    }

    /// The connection is broken (or its state unknown): drop it; the next use reconnects.
    private func dropConnection() { conn.close() }

    /// Errors after which the connection cannot be trusted.
    private static func isConnectionLoss(_ e: Errno, _ state: String?) -> Bool {
        if e == .timedOut { return true }
        if let state { return state.hasPrefix("08") || state.hasPrefix("57P") }
        return e == .io
    }

    private func fail(_ e: Errno, _ c: PGConnection) -> Errno {
        if optimistic, let state = c.lastSQLState, state == "22012" || state == "23505" { return MetaStore.conflict }
        lastError = c.lastError ?? HilbertError(e, "metadata server \(display): \(e)")
        if Self.isConnectionLoss(e, c.lastSQLState) {
            dropConnection()
            report(lastError!)
        }
        return e
    }

    private var lastReport: (message: String, at: UInt64)?

    /// A fault of the server or the network is told on stderr (one hilbert: line), the same
    /// message at most once a second: the call that meets it fails with its errno.
    func report(_ e: HilbertError) {
        let now = hl_monotonic_ns()
        if let last = lastReport, last.message == e.message, now &- last.at < 1_000_000_000 { return }
        lastReport = (e.message, now)
        Log.error(e.message)
    }

    // MARK: statements

    /// A statement whose rows are needed: sent now, with everything queued before it.
    func query(_ sql: String, _ params: [PGValue] = []) throws(Errno) -> PGResult {
        if inWrite { changed = true }
        return try queryLease(sql, params)
    }

    /// `query` for lease rows (`writeLease`): does not make the transaction a change.
    func queryLease(_ sql: String, _ params: [PGValue] = []) throws(Errno) -> PGResult {
        if inWrite && !changed { leased = true }
        return try exchange([(sql, params)])[0]
    }

    /// Reads (statements that change nothing) whose rows are needed, sent together (with
    /// everything queued) in one round trip; their results in order.
    func queryAll(_ reads: [(sql: String, params: [PGValue])]) throws(Errno) -> [PGResult] {
        try exchange(reads)
    }

    private func exchange(_ wanted: [(sql: String, params: [PGValue])]) throws(Errno) -> [PGResult] {
        let c = try connection()
        if Log.debugEnabled { Self.trace(queued.map(\.sql) + wanted.map(\.sql)) }
        if queued.isEmpty && wanted.count == 1 {
            do throws(Errno) { return [try c.query(wanted[0].sql, wanted[0].params)] } catch { throw fail(error, c) }
        }
        let batch = queued + wanted
        queued = []
        let first = depth > 0 && !sentBegin
        if depth > 0 { sentBegin = true }
        do throws(Errno) {
            return Array(try c.pipeline(batch).suffix(wanted.count))
        } catch {
            let e = fail(error, c)
            if first && !conn.isConnected && e != .timedOut { lostOnFirstRoundTrip = true }
            throw e
        }
    }

    /// This write transaction queued a change.
    var changedInTransaction: Bool { wrote || changed }

    /// Statements sent before the ahead reads in their pipeline (the COMMIT) whose answers
    /// `takeAhead` leaves out.
    private var aheadSkip = 0

    /// The answers of the reads sent ahead (`aheadRequest`), once; nil when there are none.
    func takeAhead() -> [PGResult]? { conn.takeAhead().map { Array($0.dropFirst(aheadSkip)) } }
    /// Drop the answers of the reads sent ahead: this process is about to change the volume.
    func forgetAhead() { conn.forgetAhead() }

    /// Send `aheadRequest` (after `first`, a statement still to be sent: the COMMIT), not waited for.
    private func sendAhead(after first: [(sql: String, params: [PGValue])]) -> Bool {
        guard let ahead = aheadRequest, conn.isConnected else { return false }
        aheadRequest = nil
        if Log.debugEnabled { Self.trace((first + ahead).map(\.sql) + ["(not waited for)"]) }
        aheadSkip = first.count
        do throws(Errno) { try conn.sendAhead(first + ahead) } catch { dropConnection() }
        return true
    }

    /// Inside a write transaction, before anything was sent: make it optimistic.
    func beginOptimistic() {
        optimistic = inWrite && depth == 1 && !sentBegin
    }

    /// Queue an optimistic transaction's check (a statement that fails when the rows it read
    /// from the caches are not current): no change of its own.
    func expect(_ sql: String, _ params: [PGValue]) {
        queued.append((sql, params))
        expectationQueued = true
    }

    /// A statement whose answer is not needed: queued inside a transaction (sent with the
    /// next query or the commit), run now outside one.
    func write(_ sql: String, _ params: [PGValue] = []) throws(Errno) {
        if depth == 0 {
            _ = try query(sql, params)
            return
        }
        if inWrite { wrote = true; changed = true }
        generation &+= 1
        queued.append((sql, params))
    }

    /// `write` for rows that are no part of the file system's state (cluster lock leases):
    /// other sessions' caches stay valid, so the change counter is not bumped for them.
    func writeLease(_ sql: String, _ params: [PGValue] = []) throws(Errno) {
        if depth == 0 {
            _ = try queryLease(sql, params)
            return
        }
        if inWrite { wrote = true; leased = true }
        generation &+= 1
        queued.append((sql, params))
    }

    // MARK: transactions

    func transaction<T>(write: Bool, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        if depth > 0 { return try nested(write: write, body) }
        // Run once more on a fresh connection when the connection broke: a read transaction
        // wherever it broke (reads change nothing), a write transaction only when it broke in
        // its first round trip (a pooled server connection that died with a restarted server
        // fails exactly there). A write that broke later is not run again: its commit's
        // outcome is settled in `commit`.
        // A PgBouncer pool can hold many such dead connections, each failing once: the retries
        // go on (with a short pause) until the URL's timeout, as long as each fails this way.
        return try untilTimeout(pauseFirst: false) { () throws(Errno) -> T in
            lostOnFirstRoundTrip = false
            return try outermost(write: write, body)
        } retrying: { error, attempt in
            !conn.isConnected && error != .timedOut && (lostOnFirstRoundTrip || (!write && attempt == 1))
        }
    }

    private func nested<T>(write: Bool, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        if write && !inWrite {
            lastError = HilbertError(.io, "internal: write transaction nested in a read transaction")
            Log.error(lastError!.message)
            throw Errno.io
        }
        if !write {
            depth += 1
            defer { depth -= 1 }
            return try body()
        }
        queued.append(("SAVEPOINT hl_sp", []))
        depth += 1
        do throws(Errno) {
            let r = try body()
            depth -= 1
            queued.append(("RELEASE SAVEPOINT hl_sp", []))
            return r
        } catch {
            depth -= 1
            generation &+= 1
            if conn.isConnected {
                queued.append(("ROLLBACK TO SAVEPOINT hl_sp", []))
                queued.append(("RELEASE SAVEPOINT hl_sp", []))
            }
            throw error
        }
    }

    private func outermost<T>(write: Bool, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        _ = try connection()
        depth = 1
        generation &+= 1
        inWrite = write
        wrote = false
        changed = false
        leased = false
        sentBegin = false
        committedVersion = nil
        commitOutcomeUnknown = false
        optimistic = false
        expectationQueued = false
        aheadRequest = nil
        if write {
            conn.forgetAhead()
            queued = [("BEGIN", []), volumeLock]
        } else {
            queued = [("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [])]
        }
        defer {
            depth = 0
            generation &+= 1
            inWrite = false
            queued = []
            aheadRequest = nil
            if write && changed { onWriteEnd?(committedVersion.map { ($0 - 1, $0) }) }
        }
        let r: T
        do throws(Errno) {
            r = try body()
        } catch {
            rollback()
            throw error
        }
        if !sentBegin && !wrote {
            queued = []      // nothing was asked of the server
            if !write { _ = sendAhead(after: []) }
            return r
        }
        if !write || (!wrote && !changed && !leased) {
            // Nobody waits for the COMMIT of a transaction that changed nothing: it is sent now
            // and its answer read with the next round trip (one round trip less per read).
            queued = []
            if !write && sendAhead(after: [("COMMIT", [])]) { return r }
            if Log.debugEnabled { Self.trace(["COMMIT (not waited for)"]) }
            do throws(Errno) { try conn.sendDetached("COMMIT") } catch { dropConnection() }
            return r
        }
        try commit()
        return r
    }

    /// Send what is queued (one round trip).
    private func flush() throws(Errno) -> [PGResult] {
        let c = try connection()
        if Log.debugEnabled { Self.trace(queued.map(\.sql)) }
        let batch = queued
        queued = []
        do throws(Errno) { return try c.pipeline(batch) } catch { throw fail(error, c) }
    }

    private func rollback() {
        queued = []
        guard sentBegin, conn.isConnected else { return }
        let c = conn
        do throws(Errno) { _ = try c.query("ROLLBACK", []) } catch { _ = fail(error, c) ; dropConnection() }
    }

    /// Commit a write transaction, settling the outcome when the connection breaks meanwhile.
    private func commit() throws(Errno) {
        let token = Int64.random(in: Int64.min...Int64.max)
        var bumpAt: Int?
        if changed {
            bumpAt = queued.count
            queued.append(("UPDATE \(t)counter SET value = value + 1 WHERE name = 'change' RETURNING value", []))
        }
        let deleting = settledTokens.count >= Self.settledTokensBatch
        if deleting {
            let list = "{" + settledTokens.map { String($0) }.joined(separator: ",") + "}"
            queued.append(("WITH settled AS (DELETE FROM \(t)commit WHERE token = ANY($2::bigint[])) INSERT INTO \(t)commit(token) VALUES($1)",
                           [.int(token), .text(list)]))
        } else {
            queued.append(("INSERT INTO \(t)commit(token) VALUES($1)", [.int(token)]))
        }
        // Tokens are only needed while a commit's outcome is being settled: old ones go now
        // and then (about one commit in 256 removes those older than a day).
        if token & 0xff == 0 {
            queued.append(("DELETE FROM \(t)commit WHERE at < now() - interval '1 day'", []))
        }
        queued.append(("COMMIT", []))
        sentBegin = true
        do throws(Errno) {
            let results = try flush()
            if let bumpAt, bumpAt < results.count, results[bumpAt].rowCount == 1 {
                committedVersion = results[bumpAt].int64(0, 0)
            }
            settled(token, deleted: deleting)
        } catch {
            guard !conn.isConnected else {
                // The server answered with an error: nothing was committed.
                rollback()
                throw error
            }
            let why = lastError?.message ?? "\(error)"
            // The connection broke with the COMMIT in flight: ask a new one whether it landed.
            // Its backend may still be working through what it received and commit later
            // than a look-up, so the token is inserted instead: the insert waits for a
            // transaction holding it uncommitted and finds it there if that one committed;
            // once the check's row is in, the transaction's own insert of it fails, so it can
            // never commit after being reported as not applied.
            let applied: Bool
            do throws(Errno) {
                let c = try connection()
                let r = try c.query("INSERT INTO \(t)commit(token) VALUES($1) ON CONFLICT (token) DO NOTHING RETURNING 1",
                                    [.int(token)])
                applied = r.rowCount == 0
            } catch {
                commitOutcomeUnknown = true
                lastError = HilbertError(.io, "metadata server \(display): the connection broke while a change was being committed, and whether it was cannot be checked now (\(why)); it was applied at most once")
                Log.error(lastError!.message)
                throw Errno.io
            }
            if applied {
                settled(token, deleted: deleting)
                return
            }
            lastError = HilbertError(.io, "metadata server \(display): the connection broke while a change was being committed; it was not applied (\(why))")
            Log.error(lastError!.message)
            throw Errno.io
        }
    }

    /// The transaction of `token` committed (and with it the deletion of the settled tokens,
    /// when it carried one).
    private func settled(_ token: Int64, deleted: Bool) {
        if deleted { settledTokens = [] }
        settledTokens.append(token)
    }

    /// A pipeline outside any transaction that is safe to send again (reads, or a first
    /// exchange that changes nothing): resent on a fresh connection, until the URL's timeout,
    /// while the connection breaks before an answer (the dead pooled server connections a
    /// restarted server leaves in PgBouncer).
    func firstExchange(_ batch: [(sql: String, params: [PGValue])]) throws(Errno) -> [PGResult] {
        // A connection that cannot be made has had its own retries (`connection`).
        var unconnected = false
        do throws(Errno) {
            return try untilTimeout(pauseFirst: false) { () throws(Errno) -> [PGResult] in
                let c: PGConnection
                do throws(Errno) { c = try connection() } catch { unconnected = true; throw error }
                return try c.pipeline(batch)
            } retrying: { error, _ in !unconnected && !conn.isConnected && error != .timedOut }
        } catch {
            if let e = conn.lastError { lastError = e }
            throw error
        }
    }

    /// HILBERT_DEBUG: one line per round trip, the statements it carries (no parameters).
    static func trace(_ statements: [String]) {
        Log.debug("pg round trip: " + statements.map { sql in
            let words = sql.split(whereSeparator: { $0 == " " || $0 == "\n" }).prefix(4)
            return words.joined(separator: " ")
        }.joined(separator: " | "))
    }
}
