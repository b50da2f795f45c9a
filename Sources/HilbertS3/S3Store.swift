import Glibc
import CHilbertHTTP
import CHilbertSys
import HilbertSupport
import HilbertData

/// Tunables of an S3 store. Defaults suit a data center link; every field can be set per
/// process from the environment (HILBERT_S3_*), so a job can tighten them without a reformat.
public struct S3Options: Sendable, Equatable {
    /// Transfers in flight per commit or read. 16 reached boto3's 10-thread download of the
    /// same file on the test machine (10 gave 0.7-0.9 of it: a block is 4 MiB, boto3's parts
    /// 8 MiB). Memory: about 8 MiB per transfer while a large file moves.
    public var concurrency = 16
    /// Attempts for one request (the first try included).
    public var attempts = 8
    public var connectTimeoutMs = 5_000
    /// A transfer that moves no byte for this long is abandoned (and retried).
    public var stallTimeoutS = 20
    /// Upper bound on one request, retries not counted (0: none).
    public var requestTimeoutMs = 300_000
    public var backoffBase = 0.05
    public var throttleBase = 1.0
    public var backoffCap = 20.0

    public init() {}

    /// Defaults overridden by HILBERT_S3_CONCURRENCY, _ATTEMPTS, _CONNECT_TIMEOUT_MS,
    /// _STALL_TIMEOUT_S, _REQUEST_TIMEOUT_MS, _BACKOFF_BASE_MS, _BACKOFF_CAP_MS (invalid
    /// values are ignored with a warning: a typo must not stop a job).
    public static func fromEnvironment(_ env: (String) -> String? = getEnv) -> S3Options {
        var o = S3Options()
        func int(_ name: String, _ range: ClosedRange<Int>) -> Int? {
            guard let text = env(name), !text.isEmpty else { return nil }
            guard let v = Int(text), range.contains(v) else {
                Log.error("ignoring \(name)=\(text): not a number in \(range.lowerBound)...\(range.upperBound)")
                return nil
            }
            return v
        }
        if let v = int("HILBERT_S3_CONCURRENCY", 1...64) { o.concurrency = v }
        if let v = int("HILBERT_S3_ATTEMPTS", 1...100) { o.attempts = v }
        if let v = int("HILBERT_S3_CONNECT_TIMEOUT_MS", 1...600_000) { o.connectTimeoutMs = v }
        if let v = int("HILBERT_S3_STALL_TIMEOUT_S", 1...3600) { o.stallTimeoutS = v }
        if let v = int("HILBERT_S3_REQUEST_TIMEOUT_MS", 0...86_400_000) { o.requestTimeoutMs = v }
        if let v = int("HILBERT_S3_BACKOFF_BASE_MS", 0...60_000) { o.backoffBase = Double(v) / 1000; o.throttleBase = max(o.backoffBase, Double(v) / 1000 * 20) }
        if let v = int("HILBERT_S3_BACKOFF_CAP_MS", 0...600_000) { o.backoffCap = Double(v) / 1000 }
        return o
    }
}

/// Objects in an S3-compatible bucket (AWS, SeaweedFS, MinIO, Ceph RGW, …) over libcurl.
///
/// - Requests are signed with SigV4 here (not by curl: Debian 12's curl 7.88 mis-signs
///   several request shapes), with `UNSIGNED-PAYLOAD` plus `Content-MD5` on uploads: the
///   server verifies the body, and the returned ETag is compared with our MD5 as well.
/// - Every request is retried on retryable failures only (5xx, 429, SlowDown,
///   RequestTimeout, connection failures and resets, stalls, truncated bodies), with full
///   jitter backoff and `Retry-After` honoured; then the operation fails with EIO and a
///   precise reason in `DataErrors.last`. Object keys are immutable and never reused, so a
///   retried PUT can only store the same bytes again.
/// - libcurl is loaded on the first request, credentials are resolved on the first request:
///   a process that never moves data pays for neither.
public final class S3Store: ObjectStore, @unchecked Sendable {
    public let location: S3Location
    public let options: S3Options
    private let resolveCredentials: () throws(HilbertError) -> S3Credentials
    private let lock = Lock()
    private var signer: SigV4Signer?
    private var idle: [UnsafeMutableRawPointer] = []
    /// The storage class new objects are put in (`x-amz-storage-class`); nil: the bucket's
    /// default (STANDARD).
    public let storageClass: String?

    public init(location: S3Location, options: S3Options = .fromEnvironment(), storageClass: String? = nil,
                credentials: @escaping () throws(HilbertError) -> S3Credentials) {
        self.location = location
        self.options = options
        self.storageClass = storageClass
        self.resolveCredentials = credentials
    }

    public var description: String { location.display }
    public var concurrency: Int { options.concurrency }

    // MARK: ObjectStore

    public func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) {
        try validateKey(key)
        var md5 = MD5()
        md5.update(data)
        let digest = md5.finish()
        var headers = [("Content-Type", "application/octet-stream"), ("Content-MD5", base64Encode(digest))]
        if let storageClass { headers.append(("x-amz-storage-class", storageClass)) }
        let r = try send(S3Request(method: "PUT", key: key, headers: headers, body: data, payloadHash: unsignedPayload),
                         verify: { r in
            // A plain ETag is the MD5 of what the server stored (not with SSE-KMS/SSE-C).
            let etag = r.etag.lowercased()
            if etag.utf8.count == 32 && !etag.contains("-") && etag != hexLower(digest) {
                return "the server stored different bytes (ETag \(etag), MD5 sent \(hexLower(digest)))"
            }
            return nil
        })
        if r.status != 200 { throw fail(.io, "PUT", key, r) }
    }

    public func get(_ key: String) throws(Errno) -> [UInt8] {
        try validateKey(key)
        let r = try send(S3Request(method: "GET", key: key))
        if r.status == 404 { throw Errno.noEntry }
        if r.status != 200 { throw fail(.io, "GET", key, r) }
        return r.body
    }

    public func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try validateKey(key)
        var rq = S3Request(method: "GET", key: key)
        rq.out = buffer
        let r = try send(rq)
        if r.overflow { throw Errno.range }
        if r.status == 404 { throw Errno.noEntry }
        if r.status != 200 { throw fail(.io, "GET", key, r) }
        return r.bodyLength
    }

    public func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        try validateKey(key)
        guard offset >= 0, length >= 0 else { throw Errno.invalid }
        if length == 0 {
            guard try head(key) != nil else { throw Errno.noEntry }
            return []
        }
        let r = try send(S3Request(method: "GET", key: key, headers: [("Range", "bytes=\(offset)-\(offset + length - 1)")]))
        switch r.status {
        case 206: return r.body
        case 200: // a server that ignores Range sends the whole object
            let lo = min(offset, r.body.count), hi = min(r.body.count, lo + length)
            return Array(r.body[lo..<hi])
        case 416: return []
        case 404: throw Errno.noEntry
        default: throw fail(.io, "GET (range)", key, r)
        }
    }

    public func delete(_ key: String) throws(Errno) {
        try validateKey(key)
        let r = try send(S3Request(method: "DELETE", key: key))
        if r.status != 204 && r.status != 200 && r.status != 404 { throw fail(.io, "DELETE", key, r) }
    }

    /// DeleteObjects in batches of 1000 (the API's limit), Quiet mode: only failures are listed.
    public func delete(keys: [String]) throws(Errno) {
        for k in keys { try validateKey(k) }
        var start = 0
        while start < keys.count {
            let batch = Array(keys[start..<min(keys.count, start + 1000)])
            start += batch.count
            let body = deleteObjectsBody(keys: batch.map { location.keyPrefix + $0 }, quiet: true)
            var md5 = MD5()
            md5.update(body)
            let md5Header = base64Encode(md5.finish())
            let sent = body.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> Result<S3Response, Errno> in
                do throws(Errno) {
                    return .success(try send(S3Request(method: "POST", key: nil, query: [("delete", "")],
                                                       headers: [("Content-Type", "application/xml"), ("Content-MD5", md5Header)],
                                                       body: b, payloadHash: hexLower(SHA256.hash(b)))))
                } catch { return .failure(error) }
            }
            let r = try sent.get()
            if r.status != 200 { throw fail(.io, "DeleteObjects", batch[0], r) }
            let failures: [(key: String, code: String, message: String)]
            do { failures = try parseDeleteResult(r.body) } catch {
                throw DataErrors.fail(.io, "S3 DeleteObjects on \(location.display): unreadable reply: \(error.message)")
            }
            let real = failures.filter { $0.code != "NoSuchKey" }
            if let f = real.first {
                throw DataErrors.fail(.io, "S3 DeleteObjects on \(location.display): \(real.count) of \(batch.count) keys failed, e.g. \(f.key): \(f.code) \(f.message)")
            }
        }
    }

    public func head(_ key: String) throws(Errno) -> Int? {
        try validateKey(key)
        let r = try send(S3Request(method: "HEAD", key: key))
        if r.status == 404 { return nil }
        if r.status != 200 { throw fail(.io, "HEAD", key, r) }
        return max(0, Int(r.contentLength))
    }

    /// The object's storage class (STANDARD when the server names none); nil when it is missing.
    public var hasStorageClasses: Bool { true }

    public func storageClass(_ key: String) throws(Errno) -> (name: String, size: Int)? {
        try validateKey(key)
        let r = try send(S3Request(method: "HEAD", key: key))
        if r.status == 404 { return nil }
        if r.status != 200 { throw fail(.io, "HEAD", key, r) }
        return (r.storageClass.isEmpty ? "STANDARD" : r.storageClass, max(0, Int(r.contentLength)))
    }

    /// Move an object to storage class `name` where it is: a server-side copy onto its own
    /// key (CopyObject with x-amz-storage-class), which replaces it atomically with the same
    /// bytes, so readers never see a gap and the metadata keeps pointing at it.
    public func changeStorageClass(_ key: String, to name: String) throws(Errno) {
        try validateKey(key)
        let source = "/" + location.bucket + "/" + s3Encode(location.keyPrefix + key, keepSlash: true)
        let headers = [("x-amz-copy-source", source), ("x-amz-storage-class", name),
                       ("x-amz-metadata-directive", "REPLACE"), ("Content-Type", "application/octet-stream")]
        let r = try send(S3Request(method: "PUT", key: key, headers: headers), verify: { r in
            // CopyObject may fail after its 200 has been sent: the error is then in the body.
            guard let e = parseErrorBody(r.body) else { return nil }
            return "CopyObject failed after its 200: \(e.code) \(e.message)"
        })
        if r.status != 200 { throw fail(.io, "CopyObject (storage class \(name))", key, r) }
    }

    public func list(prefix: String) throws(Errno) -> [ObjectInfo] {
        var out: [ObjectInfo] = []
        try listPages(prefix: prefix) { (page: [ObjectInfo]) throws(Errno) in out += page }
        out.sort { $0.key < $1.key }   // S3-compatibles differ in listing order
        return out
    }

    public func listPages(prefix: String, _ body: ([ObjectInfo]) throws(Errno) -> Void) throws(Errno) {
        var token: String?
        repeat {
            let page = try listPage(prefix: prefix, continuation: token, maxKeys: 1000)
            try body(page.objects)
            token = page.next
        } while token != nil
    }

    /// One ListObjectsV2 page of keys under `prefix` (relative to the store's key prefix).
    public func listPage(prefix: String, continuation: String?, maxKeys: Int) throws(Errno) -> (objects: [ObjectInfo], next: String?) {
        var query = [("list-type", "2"), ("prefix", location.keyPrefix + prefix), ("max-keys", String(maxKeys))]
        if let continuation { query.append(("continuation-token", continuation)) }
        let r = try send(S3Request(method: "GET", key: nil, query: query))
        if r.status != 200 { throw fail(.io, "ListObjectsV2", prefix, r) }
        let page: ListPage
        do { page = try parseListObjectsV2(r.body) } catch {
            throw DataErrors.fail(.io, "S3 ListObjectsV2 on \(location.display): unreadable reply: \(error.message)")
        }
        let cut = location.keyPrefix.utf8.count
        let objects = page.objects.compactMap { o -> ObjectInfo? in
            guard o.key.hasPrefix(location.keyPrefix) else { return nil }
            return ObjectInfo(key: String(o.key.utf8.dropFirst(cut))!, size: o.size, modified: o.modified)
        }
        if page.isTruncated && page.nextToken == nil {
            throw DataErrors.fail(.io, "S3 ListObjectsV2 on \(location.display): truncated listing without a continuation token")
        }
        return (objects, page.isTruncated ? page.nextToken : nil)
    }

    /// The child of a fork: pooled handles talk on the parent's connections; close their
    /// sockets here (the parent keeps its own) and start over.
    public func afterForkInChild() {
        lock.reinitialize()
        for h in idle { hl_http_abandon(h) }
        idle.removeAll()
    }

    // MARK: requests

    /// The URL of `key` for messages.
    func displayKey(_ key: String) -> String {
        let base = location.display
        return base.hasSuffix("/") ? base + key : base + "/" + key
    }

    private func fail(_ errno: Errno, _ op: String, _ key: String, _ r: S3Response) -> Errno {
        if r.errorCode == "InvalidObjectState" {
            // An archived object (GLACIER, DEEP_ARCHIVE, archive tiers): readable once restored.
            return DataErrors.fail(errno, "S3 \(op) \(displayKey(key)): the object is archived (\(r.summary)); restore it first "
                + "(aws s3api restore-object --bucket \(location.bucket) --key \(location.keyPrefix + key) --restore-request Days=7), "
                + "then 'hilbert tier PATH --class STANDARD' moves the tree back for good")
        }
        return DataErrors.fail(errno, "S3 \(op) \(displayKey(key)): \(r.summary)")
    }

    /// Send with retries. Returns the final response (any HTTP status the caller handles:
    /// 2xx, 3xx, 404, 416, non-retryable 4xx); throws EIO when retries ran out or the
    /// transport failed for good, ERANGE-free overflow is reported in the response.
    /// `verify` may reject a 2xx response (the reason makes it retryable).
    func send(_ rq: S3Request, verify: ((S3Response) -> String?)? = nil) throws(Errno) -> S3Response {
        var signer = try currentSigner()
        var refreshed = false
        var backoff = Backoff(maxAttempts: options.attempts)
        backoff.base = options.backoffBase
        backoff.throttleBase = options.throttleBase
        backoff.cap = options.backoffCap
        let started = hl_monotonic_ns()
        var attempt = 1
        var rng = SystemRandomNumberGenerator()
        while true {
            let r = try withHandle { (h: UnsafeMutableRawPointer) throws(Errno) -> S3Response in
                try perform(rq, signer: signer, handle: h)
            }
            var decision: RetryDecision
            var why = r.summary
            if let failure = r.transport {
                decision = failure.retryable ? .retry(throttled: false) : .fail
            } else if r.overflow {
                return r
            } else {
                decision = classifyS3(status: r.status, errorCode: r.errorCode)
                if case .success = decision, (200..<300).contains(r.status), let verify, let problem = verify(r) {
                    decision = .retry(throttled: false)
                    why = problem
                }
            }
            // Temporary credentials (STS session tokens) expire during long jobs: read them
            // again (a credential helper may have rewritten the file or profile) and retry once.
            if case .fail = decision, !refreshed, let code = r.errorCode, expiredCredentialCodes.contains(code) {
                refreshed = true
                lock.withLock { self.signer = nil }
                signer = try currentSigner()
                continue
            }
            switch decision {
            case .success, .fail:
                if r.transport != nil {
                    throw DataErrors.fail(.io, "S3 \(rq.method) \(displayKey(rq.key ?? "")): \(why)")
                }
                return r
            case .retry(let throttled):
                if attempt >= options.attempts {
                    let secs = Double(hl_monotonic_ns() - started) / 1e9
                    throw DataErrors.fail(.io, "S3 \(rq.method) \(displayKey(rq.key ?? "")): \(why) (gave up after \(attempt) attempts in \(formatSeconds(secs)))")
                }
                let retryAfter = r.retryAfter.isEmpty ? nil : parseRetryAfter(r.retryAfter, now: Int64(time(nil)))
                // The server's Retry-After is honoured even above our own backoff cap (up
                // to two minutes): it knows when it will take requests again.
                let jitter = backoff.delay(attempt: attempt, throttled: throttled, retryAfter: nil,
                                           random: Double.random(in: 0..<1, using: &rng))
                let delay = max(jitter, min(retryAfter ?? 0, 120))
                Log.debug("S3 \(rq.method) \(rq.key ?? ""): \(why); retry \(attempt) in \(formatSeconds(delay))")
                sleepSeconds(delay)
                attempt += 1
            }
        }
    }

    private func currentSigner() throws(Errno) -> SigV4Signer {
        if let s = lock.withLock({ signer }) { return s }
        var message = [CChar](repeating: 0, count: 512)
        if hl_http_load(&message, message.count) != 0 {
            throw DataErrors.fail(.io, String(cString: message))
        }
        let credentials: S3Credentials
        do { credentials = try resolveCredentials() } catch {
            throw DataErrors.fail(.io, "S3 \(location.display): \(error.message)")
        }
        let s = SigV4Signer(credentials: credentials, region: location.region)
        lock.withLock { signer = s }
        return s
    }

    /// A handle of this process (inherited ones are abandoned: their connections are the
    /// parent's), returned to the pool afterwards.
    private func withHandle<T>(_ body: (UnsafeMutableRawPointer) throws(Errno) -> T) throws(Errno) -> T {
        var h: UnsafeMutableRawPointer? = lock.withLock {
            while let c = idle.popLast() {
                if hl_http_owned(c) != 0 { return c }
                hl_http_abandon(c)
            }
            return nil
        }
        if h == nil { h = hl_http_new() }
        guard let handle = h else { throw DataErrors.fail(.noMemory, "S3: cannot create a libcurl handle") }
        defer {
            let extra: UnsafeMutableRawPointer? = lock.withLock {
                if idle.count < options.concurrency * 2 { idle.append(handle); return nil }
                return handle
            }
            if let extra { hl_http_free(extra) }
        }
        return try body(handle)
    }

    private func perform(_ rq: S3Request, signer: SigV4Signer, handle: UnsafeMutableRawPointer) throws(Errno) -> S3Response {
        let path = location.path(forKey: rq.key)
        let query = SigV4Signer.canonicalQuery(rq.query)
        // Host is sent explicitly so curl cannot write it differently from what was signed.
        let signed = signer.sign(method: rq.method, host: location.hostHeader, canonicalPath: path, query: rq.query,
                                 headers: rq.headers, payloadHash: rq.payloadHash,
                                 date: AmzDate(epochSeconds: Int64(time(nil))))
        let headers = [("Host", location.hostHeader)] + rq.headers + signed
        let url = location.endpoint + path + (query.isEmpty ? "" : "?" + query)
        let lines = headers.map { "\($0.0): \($0.1)" }
        var cLines = lines.map { strdup($0) }
        defer { for p in cLines { free(p) } }
        var response = hl_http_response()
        let code: Int32 = url.withCString { cURL in
            rq.method.withCString { cMethod in
                cLines.withUnsafeMutableBufferPointer { lp in
                    lp.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: lp.count) { hp in
                        var req = hl_http_request()
                        req.method = cMethod
                        req.url = cURL
                        req.headers = UnsafePointer(hp)
                        req.nheaders = Int32(lp.count)
                        req.body = rq.body?.baseAddress
                        req.body_len = rq.body?.count ?? 0
                        req.out = rq.out?.baseAddress
                        req.out_cap = rq.out?.count ?? 0
                        req.connect_timeout_ms = options.connectTimeoutMs
                        req.stall_timeout_s = options.stallTimeoutS
                        req.total_timeout_ms = options.requestTimeoutMs
                        return hl_http_perform(handle, &req, &response)
                    }
                }
            }
        }
        defer { hl_http_free_body(&response) }
        return S3Response(code: code, raw: &response, out: rq.out)
    }
}

/// Error codes that mean "your (temporary) credentials are no longer valid".
let expiredCredentialCodes: Set<String> = ["ExpiredToken", "TokenRefreshRequired", "InvalidToken", "RequestExpired"]

/// SHA-256 of the empty string: the payload hash of bodiless requests.
let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
let unsignedPayload = "UNSIGNED-PAYLOAD"

struct S3Request {
    var method: String
    var key: String?
    var query: [(String, String)] = []
    var headers: [(String, String)] = []
    var body: UnsafeRawBufferPointer?
    var payloadHash = emptyPayloadHash
    var out: UnsafeMutableRawBufferPointer?

    init(method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
         body: UnsafeRawBufferPointer? = nil, payloadHash: String = emptyPayloadHash) {
        self.method = method; self.key = key; self.query = query; self.headers = headers
        self.body = body; self.payloadHash = payloadHash
    }
}

/// What came back: an HTTP response, or a transport failure.
struct S3Response {
    var status: Int
    var transport: TransportFailure?
    var transportMessage = ""
    var body: [UInt8] = []          // when no caller buffer was given (and error documents)
    var bodyLength = 0
    var overflow = false
    var contentLength: Int64 = -1
    var etag = ""
    var storageClass = ""
    var retryAfter = ""
    var requestID = ""
    var errorCode: String?
    var errorMessage = ""

    init(code: Int32, raw r: inout hl_http_response, out: UnsafeMutableRawBufferPointer?) {
        status = Int(r.status)
        bodyLength = Int(r.body_len)
        overflow = r.overflow != 0
        contentLength = r.content_length
        etag = cString(&r.etag).trimmingQuotes
        storageClass = cString(&r.storage_class)
        retryAfter = cString(&r.retry_after)
        requestID = cString(&r.request_id)
        if let g = r.grown {
            body = Array(UnsafeBufferPointer(start: g, count: bodyLength))
        } else if let out, !(200..<300).contains(status), bodyLength > 0 {
            body = Array(UnsafeRawBufferPointer(rebasing: out[0..<min(bodyLength, out.count)]))
        }
        if code != 0 && !overflow {
            transport = transportFailure(code)
            transportMessage = "\(cString(&r.error)) (curl error \(code)\(r.os_errno != 0 ? ", \(Errno(r.os_errno))" : ""))"
        } else if !(200..<300).contains(status), let e = parseErrorBody(body) {
            errorCode = e.code
            errorMessage = e.message
        }
    }

    /// One line for messages: "503 SlowDown: Please reduce your request rate (request id …)".
    var summary: String {
        if transport != nil { return transportMessage }
        var s = "HTTP \(status)"
        if let errorCode { s += " \(errorCode)" }
        if !errorMessage.isEmpty { s += ": \(errorMessage)" }
        if !requestID.isEmpty { s += " (request id \(requestID))" }
        return s
    }
}

private func transportFailure(_ code: Int32) -> TransportFailure {
    switch Int(code) {
    case HL_CURLE_COULDNT_CONNECT, HL_CURLE_COULDNT_RESOLVE_HOST, HL_CURLE_SSL_CONNECT_ERROR:
        return .connect
    case HL_CURLE_SEND_ERROR, HL_CURLE_RECV_ERROR, HL_CURLE_GOT_NOTHING:
        return .reset
    case HL_CURLE_OPERATION_TIMEDOUT: return .timeout
    case HL_CURLE_PARTIAL_FILE: return .truncated
    default: return .other
    }
}

private func cString<T>(_ tuple: inout T) -> String {
    withUnsafeBytes(of: &tuple) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let n = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<n]), as: UTF8.self)
    }
}

extension String {
    var trimmingQuotes: String {
        var s = Substring(self)
        if s.hasPrefix("\"") { s.removeFirst() }
        if s.hasSuffix("\"") { s.removeLast() }
        return String(s)
    }
}

func sleepSeconds(_ s: Double) {
    guard s > 0 else { return }
    var left = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
    var rest = timespec()
    hl_gate_pause()
    while nanosleep(&left, &rest) != 0 && errno == EINTR { left = rest }
    hl_gate_resume()
}

func formatSeconds(_ s: Double) -> String {
    if s < 1 { return "\(Int(s * 1000)) ms" }
    return "\(Double(Int(s * 10)) / 10) s"
}
