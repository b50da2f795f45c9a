import Glibc

/// Access keys and where they were found. `description` never shows the secret.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?
    /// Where they came from, for messages, e.g. "environment (AWS_ACCESS_KEY_ID)".
    public var source: String
    public init(accessKey: String, secretKey: String, sessionToken: String? = nil, source: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.source = source
    }
    public var description: String { "access key \(accessKey) from \(source)" }
    public var debugDescription: String { description }
}

/// AWS Signature Version 4 for the Authorization header (single-chunk payload).
public struct SigV4Signer: Sendable {
    public let credentials: S3Credentials
    public let region: String
    public let service: String
    private let keyCache = SigningKeyCache()

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Names and values URI-encoded, sorted by encoded name then value, "name=value" joined by '&'.
    public static func canonicalQuery(_ items: [(String, String)]) -> String {
        items.map { (s3Encode($0.0, keepSlash: false), s3Encode($0.1, keepSlash: false)) }
            .sorted { a, b in
                a.0 != b.0 ? a.0.utf8.lexicographicallyPrecedes(b.0.utf8) : a.1.utf8.lexicographicallyPrecedes(b.1.utf8)
            }
            .map { $0.0 + "=" + $0.1 }
            .joined(separator: "&")
    }

    /// The headers the request must add: x-amz-date, x-amz-content-sha256,
    /// x-amz-security-token (with a session token) and Authorization.
    public func sign(method: String, host: String, canonicalPath: String, query: [(String, String)],
                     headers: [(String, String)], payloadHash: String, date: AmzDate) -> [(String, String)] {
        var added = [("x-amz-date", date.stamp), ("x-amz-content-sha256", payloadHash)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        // The caller's own copies of the headers added here would be signed twice.
        let own = headers.filter { !["x-amz-date", "x-amz-content-sha256", "x-amz-security-token"].contains($0.0.lowercased()) }
        let (request, signedHeaders) = Self.canonicalRequest(
            method: method, host: host, canonicalPath: canonicalPath, query: query,
            headers: own + added, payloadHash: payloadHash)
        let scope = "\(date.day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(date.stamp)\n\(scope)\n" + hexLower(SHA256.hash(Array(request.utf8)))
        let signature = hexLower(hmacSHA256(key: signingKey(day: date.day), message: Array(toSign.utf8)))
        added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope),"
                       + "SignedHeaders=\(signedHeaders),Signature=\(signature)"))
        return added
    }

    /// The canonical request and the signed-header list; public so a SignatureDoesNotMatch
    /// can be diagnosed against the CanonicalRequest S3 sends back.
    public static func canonicalRequest(method: String, host: String, canonicalPath: String, query: [(String, String)],
                                        headers: [(String, String)], payloadHash: String) -> (String, String) {
        var byName: [String: String] = ["host": canonicalHeaderValue(host)]
        for (name, value) in headers {
            let n = name.lowercased()
            if n == "host" || n == "authorization" { continue }
            let v = canonicalHeaderValue(value)
            byName[n] = byName[n].map { $0 + "," + v } ?? v
        }
        let names = byName.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!)\n" }.joined()
        let signed = names.joined(separator: ";")
        let request = [method, canonicalPath.isEmpty ? "/" : canonicalPath, canonicalQuery(query),
                       canonicalHeaders, signed, payloadHash].joined(separator: "\n")
        return (request, signed)
    }

    /// Trimmed, with inner runs of spaces and tabs collapsed to one space.
    static func canonicalHeaderValue(_ v: String) -> String {
        var out = [UInt8]()
        var space = false
        for c in v.utf8 {
            if c == 0x20 || c == 0x09 {
                space = !out.isEmpty
            } else {
                if space { out.append(0x20); space = false }
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func signingKey(day: String) -> [UInt8] {
        if let k = keyCache.get(day) { return k }
        var k = hmacSHA256(key: Array(("AWS4" + credentials.secretKey).utf8), message: Array(day.utf8))
        for part in [region, service, "aws4_request"] { k = hmacSHA256(key: k, message: Array(part.utf8)) }
        keyCache.set(day, k)
        return k
    }
}

/// The derived key of one day (4 HMACs saved per request). Only try-lock: a child forked
/// while another thread held the lock derives the key itself instead of deadlocking.
final class SigningKeyCache: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var day = ""
    private var key: [UInt8] = []
    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func get(_ d: String) -> [UInt8]? {
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return day == d ? key : nil
    }
    func set(_ d: String, _ k: [UInt8]) {
        guard pthread_mutex_trylock(mutex) == 0 else { return }
        defer { pthread_mutex_unlock(mutex) }
        day = d
        key = k
    }
}
