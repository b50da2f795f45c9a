private let hexDigitsUpper = Array("0123456789ABCDEF".utf8)

/// Percent-encoding as SigV4 wants it (URI-encode): RFC 3986 unreserved characters kept,
/// every other UTF-8 byte as %XX with upper-case hex; '/' kept only when `keepSlash`.
public func s3Encode(_ s: String, keepSlash: Bool) -> String {
    var out = [UInt8]()
    out.reserveCapacity(s.utf8.count)
    for c in s.utf8 {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(c)
        case UInt8(ascii: "/") where keepSlash:
            out.append(c)
        default:
            out.append(UInt8(ascii: "%"))
            out.append(hexDigitsUpper[Int(c >> 4)])
            out.append(hexDigitsUpper[Int(c & 15)])
        }
    }
    return String(decoding: out, as: UTF8.self)
}
