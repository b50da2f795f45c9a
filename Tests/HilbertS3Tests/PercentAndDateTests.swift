import Testing
@testable import HilbertS3

@Suite struct PercentTests {
    @Test func unreservedKept() {
        let unreserved = "ABCXYZabcxyz0189-._~"
        #expect(s3Encode(unreserved, keepSlash: false) == unreserved)
    }

    @Test func reservedAndUTF8Encoded() {
        #expect(s3Encode("a b+c=d&e/f", keepSlash: false) == "a%20b%2Bc%3Dd%26e%2Ff")
        #expect(s3Encode("a b+c=d&e/f", keepSlash: true) == "a%20b%2Bc%3Dd%26e/f")
        #expect(s3Encode("test$file.text", keepSlash: true) == "test%24file.text")
        #expect(s3Encode("é€", keepSlash: false) == "%C3%A9%E2%82%AC")
        #expect(s3Encode("%*!'()", keepSlash: false) == "%25%2A%21%27%28%29")
        #expect(s3Encode("\u{0}\n", keepSlash: false) == "%00%0A")
        #expect(s3Encode("", keepSlash: true) == "")
    }
}

@Suite struct AmzDateTests {
    @Test(arguments: [
        (Int64(0), "19700101T000000Z"),
        (-1, "19691231T235959Z"),
        (1_369_353_600, "20130524T000000Z"),
        (951_782_400, "20000229T000000Z"),
        (951_868_799, "20000229T235959Z"),
        (4_102_444_800, "21000101T000000Z"),
        (253_402_300_799, "99991231T235959Z"),
        (-62_135_596_800, "00010101T000000Z"),
    ])
    func stamps(_ t: Int64, _ stamp: String) {
        let d = AmzDate(epochSeconds: t)
        #expect(d.stamp == stamp)
        #expect(d.day == String(stamp.prefix(8)))
    }

    /// Every day for 800 years round-trips through the civil calendar.
    @Test func civilRoundTrip() {
        var previous = civilFromDays(-146_097)
        for days in Int64(-146_096)...Int64(146_097) {
            let c = civilFromDays(days)
            #expect(daysFromCivil(c.0, c.1, c.2) == days)
            let next = c.2 == 1 ? (c.1 == 1 ? previous.0 + 1 == c.0 : previous.1 + 1 == c.1) : previous.2 + 1 == c.2
            if !next { Issue.record("day \(days): \(previous) then \(c)") }
            previous = c
        }
    }

    @Test func httpDates() {
        #expect(parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(parseHTTPDate("Fri, 24 May 2013 00:00:00 GMT") == 1_369_353_600)
        #expect(parseHTTPDate("2009-10-12T17:50:30.000Z") == 1_255_369_830)
        #expect(parseHTTPDate("2009-10-12T17:50:30Z") == 1_255_369_830)
        #expect(parseHTTPDate("2024-02-29T23:59:59.123456Z") == 1_709_251_199)
        #expect(parseHTTPDate("1969-12-31T23:59:59.000Z") == -1)
    }

    @Test(arguments: ["", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
                      "2023-02-29T00:00:00Z", "2009-10-12T17:50:30", "2009-10-12T17:50:30.Z", "2009-10-12 17:50:30Z",
                      "2009-13-12T17:50:30Z", "2009-10-12T24:00:00Z", "Sun, 06 Nov 1994 08:49:37 GMT "])
    func badDates(_ s: String) {
        #expect(parseHTTPDate(s) == nil)
    }
}
