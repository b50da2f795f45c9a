import Testing
@testable import HilbertS3

@Suite struct RetryTests {
    @Test func statuses() {
        for s in [200, 204, 206, 304] { #expect(classifyS3(status: s, errorCode: nil) == .success, "\(s)") }
        for s in [500, 502, 504, 408] { #expect(classifyS3(status: s, errorCode: nil) == .retry(throttled: false), "\(s)") }
        #expect(classifyS3(status: 429, errorCode: nil) == .retry(throttled: true))
        #expect(classifyS3(status: 503, errorCode: nil) == .retry(throttled: true))
        #expect(classifyS3(status: 503, errorCode: "SlowDown") == .retry(throttled: true))
        #expect(classifyS3(status: 503, errorCode: "ServiceUnavailable") == .retry(throttled: false))
        for s in [301, 307, 400, 401, 403, 404, 405, 409, 412, 416, 501] {
            #expect(classifyS3(status: s, errorCode: nil) == .fail, "\(s)")
        }
    }

    @Test func errorCodes() {
        #expect(classifyS3(status: 500, errorCode: "InternalError") == .retry(throttled: false))
        #expect(classifyS3(status: 400, errorCode: "RequestTimeout") == .retry(throttled: false))
        #expect(classifyS3(status: 400, errorCode: "Throttling") == .retry(throttled: true))
        #expect(classifyS3(status: 400, errorCode: "ThrottlingException") == .retry(throttled: true))
        #expect(classifyS3(status: 403, errorCode: "RequestTimeTooSkewed") == .fail)
        #expect(classifyS3(status: 403, errorCode: "SignatureDoesNotMatch") == .fail)
        #expect(classifyS3(status: 404, errorCode: "NoSuchKey") == .fail)
        // A 200 whose body is an <Error> (CopyObject, CompleteMultipartUpload) is retried.
        #expect(classifyS3(status: 200, errorCode: "InternalError") == .retry(throttled: false))
        #expect(classifyS3(status: 200, errorCode: "AccessDenied") == .retry(throttled: false))
        #expect(classifyS3(status: 200, errorCode: "SlowDown") == .retry(throttled: true))
        #expect(classifyS3(status: 200, errorCode: "") == .success)
    }

    @Test func transport() {
        #expect([TransportFailure.connect, .reset, .timeout, .truncated, .other].map(\.retryable) == [true, true, true, true, false])
    }

    @Test func backoff() {
        let b = Backoff(maxAttempts: 5)
        #expect(b.base == 0.05 && b.throttleBase == 1.0 && b.cap == 20 && b.maxAttempts == 5)
        #expect(b.delay(attempt: 1, throttled: false, retryAfter: nil, random: 0.5) == 0.025)
        #expect(b.delay(attempt: 3, throttled: false, retryAfter: nil, random: 0.5) == 0.1)
        #expect(b.delay(attempt: 1, throttled: true, retryAfter: nil, random: 0.5) == 0.5)
        #expect(b.delay(attempt: 4, throttled: true, retryAfter: nil, random: 0.5) == 4)
        #expect(b.delay(attempt: 10, throttled: true, retryAfter: nil, random: 0.5) == 10)      // 512 capped at 20
        #expect(b.delay(attempt: 100, throttled: false, retryAfter: nil, random: 0.99) == 0.99 * 20)
        #expect(b.delay(attempt: 2, throttled: false, retryAfter: nil, random: 0) == 0)
        // Retry-After raises the delay, never past the cap; a smaller one changes nothing.
        #expect(b.delay(attempt: 1, throttled: false, retryAfter: 3, random: 0.5) == 3)
        #expect(b.delay(attempt: 1, throttled: false, retryAfter: 120, random: 0.5) == 20)
        #expect(b.delay(attempt: 4, throttled: true, retryAfter: 1, random: 0.5) == 4)
    }

    @Test func retryAfter() {
        #expect(parseRetryAfter("120", now: 0) == 120)
        #expect(parseRetryAfter(" 0 ", now: 0) == 0)
        #expect(parseRetryAfter("Fri, 24 May 2013 00:00:30 GMT", now: 1_369_353_600) == 30)
        #expect(parseRetryAfter("Fri, 24 May 2013 00:00:00 GMT", now: 1_369_353_700) == 0)
        #expect(parseRetryAfter("-5", now: 0) == nil)
        #expect(parseRetryAfter("soon", now: 0) == nil)
        #expect(parseRetryAfter("", now: 0) == nil)
    }
}
