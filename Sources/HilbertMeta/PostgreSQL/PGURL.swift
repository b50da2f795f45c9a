import HilbertSupport

/// A `postgres://` META-URL: libpq's URI (https://www.postgresql.org/docs/15/libpq-connect.html:
/// host lists, `sslmode` and the other parameters, passwords from PGPASSFILE/~/.pgpass or
/// PGPASSWORD, PGSERVICE) plus two parameters of Hilbert's own, taken out before libpq sees
/// the rest:
/// - `schema=NAME`: the volume's schema (default `hilbert`); one database holds many volumes,
///   one schema each. NAME: a lower-case letter or `_`, then up to 62 of `a-z 0-9 _`.
/// - `timeout=SECONDS`: how long any one exchange with the server may take before the call
///   fails with ETIMEDOUT (default 30; 1–3600).
/// - `attr_cache=SECONDS`: the attribute cache timeout (default 1, as JuiceFS's; 0–3600,
///   fractions allowed): how long `stat` and the like may answer from what this process
///   last validated with the server, so that another node's change may show that much later
///   (SEMANTICS.md, "Between nodes"). `open` always asks (close-to-open).
/// A password in the URL is refused: it would show in `ps`, in job scripts and in the
/// environment every process of a job inherits.
struct PGURL: Equatable, Sendable {
    var conninfo: String
    var schema: String
    var timeoutSeconds: Int
    var attributeCacheNanoseconds: UInt64

    static let defaultSchema = "hilbert"
    static let defaultTimeout = 30
    static let defaultAttributeCache: UInt64 = 1_000_000_000

    init(_ text: String) throws(HilbertError) {
        guard let scheme = firstRange(of: "://", in: text) else { throw HilbertError(.invalid, "'\(text)' is not a postgres:// URL") }
        let rest = text[scheme.upperBound...]
        let (main, query) = rest.firstIndex(of: "?").map { (rest[..<$0], rest[rest.index(after: $0)...]) } ?? (rest, "")
        let authority = main.firstIndex(of: "/").map { main[..<$0] } ?? main
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
            throw HilbertError(.invalid, "\(PGURL.redacted(text)): a password in the META-URL would show in ps and in every job's environment; put it in ~/.pgpass (or the file PGPASSFILE names) or in PGPASSWORD")
        }
        var schema = PGURL.defaultSchema
        var timeout = PGURL.defaultTimeout
        var attributeCache = PGURL.defaultAttributeCache
        var kept: [Substring] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let key = pair.firstIndex(of: "=").map { pair[..<$0] } ?? pair
            let value = pair.firstIndex(of: "=").map { String(pair[pair.index(after: $0)...]) } ?? ""
            switch key {
            case "schema":
                guard PGURL.validSchema(value) else {
                    throw HilbertError(.invalid, "\(PGURL.redacted(text)): schema '\(value)' is not a valid volume schema name (a lower-case letter or _, then up to 62 of a-z 0-9 _)")
                }
                schema = value
            case "timeout":
                guard let n = Int(value), (1...3600).contains(n) else {
                    throw HilbertError(.invalid, "\(PGURL.redacted(text)): timeout must be a number of seconds from 1 to 3600")
                }
                timeout = n
            case "attr_cache":
                guard let seconds = PGURL.seconds(value), seconds <= 3600 * 1_000_000_000 else {
                    throw HilbertError(.invalid, "\(PGURL.redacted(text)): attr_cache must be a number of seconds from 0 to 3600 (fractions allowed, e.g. 0.5)")
                }
                attributeCache = seconds
            case "password", "sslpassword":
                throw HilbertError(.invalid, "\(PGURL.redacted(text)): a password in the META-URL would show in ps and in every job's environment; put it in ~/.pgpass (or the file PGPASSFILE names) or in PGPASSWORD")
            default:
                kept.append(pair)
            }
        }
        var info = String(text[..<scheme.upperBound]) + String(main)
        if !kept.isEmpty { info += "?" + kept.joined(separator: "&") }
        conninfo = info
        self.schema = schema
        timeoutSeconds = timeout
        attributeCacheNanoseconds = attributeCache
    }

    /// "2", "0.5", ".25": nanoseconds; nil for anything else (no sign, no exponent).
    static func seconds(_ s: String) -> UInt64? {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard !s.isEmpty, s != ".", parts.allSatisfy({ $0.utf8.allSatisfy { (48...57).contains($0) } }),
              parts[0].count <= 4 else { return nil }
        var ns = UInt64(parts[0].isEmpty ? "0" : String(parts[0]))! * 1_000_000_000
        if parts.count == 2 {
            var scale: UInt64 = 100_000_000
            for d in parts[1].utf8.prefix(9) {
                ns += UInt64(d - 48) * scale
                scale /= 10
            }
        }
        return ns
    }

    static func validSchema(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let first = u.first, u.count <= 63, first == UInt8(ascii: "_") || (97...122).contains(first) else { return false }
        return u.allSatisfy { $0 == UInt8(ascii: "_") || (97...122).contains($0) || (48...57).contains($0) }
    }

    /// What messages show: the URL without any password, and the schema.
    var display: String { "\(PGURL.redacted(conninfo)) (schema \(schema))" }

    static func redacted(_ s: String) -> String { redactedConninfo(s) }
}
