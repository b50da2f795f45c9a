/// A UTC time as SigV4 writes it: `stamp` (x-amz-date) and `day` (the credential scope).
public struct AmzDate: Sendable, Equatable {
    public let epochSeconds: Int64
    public let year: Int, month: Int, dayOfMonth: Int, hour: Int, minute: Int, second: Int

    public init(epochSeconds: Int64) {
        self.epochSeconds = epochSeconds
        let days = floorDiv(epochSeconds, 86_400)
        let secs = Int(epochSeconds - days * 86_400)
        (year, month, dayOfMonth) = civilFromDays(days)
        hour = secs / 3600
        minute = secs / 60 % 60
        second = secs % 60
    }

    /// YYYYMMDD'T'HHMMSS'Z'
    public var stamp: String { day + "T" + pad2(hour) + pad2(minute) + pad2(second) + "Z" }
    /// YYYYMMDD
    public var day: String { pad(year, 4) + pad2(month) + pad2(dayOfMonth) }
}

private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
private func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}
private func pad2(_ v: Int) -> String { pad(v, 2) }

/// Proleptic Gregorian date of a day count since 1970-01-01, computed in 400-year eras
/// (146097 days each) with years starting in March so the leap day falls last.
func civilFromDays(_ z0: Int64) -> (Int, Int, Int) {
    let z = z0 + 719_468
    let era = floorDiv(z, 146_097)
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    return (Int(y), Int(m), Int(d))
}

/// The inverse of `civilFromDays`.
func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
    let y = Int64(m <= 2 ? y0 - 1 : y0)
    let era = floorDiv(y, 400)
    let yoe = y - era * 400
    let mp = Int64(m > 2 ? m - 3 : m + 9)
    let doy = (153 * mp + 2) / 5 + Int64(d) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

private let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/// Epoch seconds of an RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", Last-Modified,
/// Date, Retry-After) or an ISO 8601 UTC time ("2009-10-12T17:50:30.000Z", S3 LastModified).
public func parseHTTPDate(_ s: String) -> Int64? {
    let b = Array(s.utf8)
    func num(_ from: Int, _ count: Int) -> Int? {
        guard from >= 0, from + count <= b.count else { return nil }
        var v = 0
        for c in b[from..<(from + count)] {
            guard c >= 48, c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        return v
    }
    func lit(_ at: Int, _ text: String) -> Bool {
        let t = Array(text.utf8)
        return at + t.count <= b.count && Array(b[at..<(at + t.count)]) == t
    }
    func make(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ sec: Int) -> Int64? {
        guard (1...12).contains(mo), d >= 1, d <= daysIn(mo, y), h < 24, mi < 60, sec <= 60 else { return nil }
        return daysFromCivil(y, mo, d) * 86_400 + Int64(h * 3600 + mi * 60 + sec)
    }
    // ISO 8601: YYYY-MM-DDTHH:MM:SS[.fraction]Z
    if let y = num(0, 4), lit(4, "-"), let mo = num(5, 2), lit(7, "-"), let d = num(8, 2),
       b.count > 10, b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
       let h = num(11, 2), lit(13, ":"), let mi = num(14, 2), lit(16, ":"), let sec = num(17, 2) {
        var i = 19
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            if i == start { return nil }
        }
        guard i == b.count - 1, b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") else { return nil }
        return make(y, mo, d, h, mi, sec)
    }
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    guard b.count == 29, lit(3, ", "), lit(7, " "), lit(11, " "), lit(16, " "), lit(19, ":"), lit(22, ":"),
          lit(25, " GMT"),
          let d = num(5, 2), let y = num(12, 4), let h = num(17, 2), let mi = num(20, 2), let sec = num(23, 2),
          let mo = monthNames.firstIndex(where: { lit(8, $0) })
    else { return nil }
    return make(y, mo + 1, d, h, mi, sec)
}

private func daysIn(_ month: Int, _ year: Int) -> Int {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}
