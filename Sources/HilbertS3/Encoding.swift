private let hexDigitsLower = Array("0123456789abcdef".utf8)
private let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

public func hexLower(_ b: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity(b.count * 2)
    for v in b {
        out.append(hexDigitsLower[Int(v >> 4)])
        out.append(hexDigitsLower[Int(v & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Standard base64 (RFC 4648 section 4) with '=' padding.
public func base64Encode(_ b: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity((b.count + 2) / 3 * 4)
    var i = 0
    while i < b.count {
        let n = min(3, b.count - i)
        let v = UInt32(b[i]) << 16 | (n > 1 ? UInt32(b[i + 1]) << 8 : 0) | (n > 2 ? UInt32(b[i + 2]) : 0)
        out.append(base64Alphabet[Int(v >> 18 & 63)])
        out.append(base64Alphabet[Int(v >> 12 & 63)])
        out.append(n > 1 ? base64Alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
        out.append(n > 2 ? base64Alphabet[Int(v & 63)] : UInt8(ascii: "="))
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}
