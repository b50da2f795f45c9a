public enum RetryDecision: Equatable, Sendable {
    case success
    /// `throttled`: the store asked to slow down; back off longer.
    case retry(throttled: Bool)
    case fail
}

/// What to do with an S3 response. `errorCode` is the <Code> of an <Error> body, when
/// there was one; a 2xx with an <Error> body (CopyObject, CompleteMultipartUpload) is a
/// transient failure, so the caller passes its code and gets a retry.
public func classifyS3(status: Int, errorCode: String?) -> RetryDecision {
    if let code = errorCode, !code.isEmpty {
        if code == "SlowDown" || code.hasPrefix("Throttling") { return .retry(throttled: true) }
        if ["InternalError", "ServiceUnavailable", "RequestTimeout"].contains(code) { return .retry(throttled: false) }
        if (200..<300).contains(status) { return .retry(throttled: false) }
    }
    switch status {
    case 200..<300, 304: return .success
    case 429: return .retry(throttled: true)
    // S3 throttles with 503 SlowDown; a HEAD carries no body to say so.
    case 503: return .retry(throttled: errorCode == nil || errorCode == "")
    case 408, 500, 502, 504: return .retry(throttled: false)
    default: return .fail
    }
}

/// A request that got no complete HTTP response.
public enum TransportFailure: Equatable, Sendable {
    case connect, reset, timeout, truncated, other
    public var retryable: Bool { self != .other }
}

/// Exponential backoff with full jitter (the AWS architecture blog's recommendation).
public struct Backoff: Sendable {
    public var base: Double = 0.05
    /// Used instead of `base` after a throttling answer.
    public var throttleBase: Double = 1.0
    public var cap: Double = 20
    public var maxAttempts: Int
    public init(maxAttempts: Int) { self.maxAttempts = maxAttempts }

    /// Seconds to wait before retry number `attempt` (1-based); `random` in 0..<1.
    public func delay(attempt: Int, throttled: Bool, retryAfter: Double?, random: Double) -> Double {
        let exponent = min(max(attempt, 1) - 1, 62)
        let ceiling = min(cap, (throttled ? throttleBase : base) * Double(UInt64(1) << UInt64(exponent)))
        var d = min(max(random, 0), 1) * ceiling
        if let ra = retryAfter, ra > d { d = min(ra, cap) }
        return d
    }
}

/// A Retry-After value: delta-seconds or an HTTP date (relative to `now`, epoch seconds).
public func parseRetryAfter(_ value: String, now: Int64) -> Double? {
    let v = value.drop(while: { $0 == " " || $0 == "\t" })
    let t = String(v.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    if !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isNumber }) { return Double(t) }
    guard let date = parseHTTPDate(t) else { return nil }
    return Double(max(0, date - now))
}
