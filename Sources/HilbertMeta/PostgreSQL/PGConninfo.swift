/// Connection strings as users write them, seen only to keep their passwords out of
/// messages: libpq parses them (PGConnection passes them on as is).
///
/// Two forms (libpq's): a URI, `postgres[ql]://[user[:password]@][host][:port][,…][/db][?k=v&…]`,
/// and key=value pairs, `host=h port=5432 password='it''s' dbname=x` (values optionally single
/// quoted, backslash escapes).

/// The conninfo with every password replaced by `***`: the URI's user-info password, a
/// `password` or `sslpassword` query parameter or key. Everything else is kept as written.
public func redactedConninfo(_ s: String) -> String {
    let b = Array(s.utf8)
    var out = [UInt8]()
    out.reserveCapacity(b.count)
    for piece in conninfoPieces(b) {
        switch piece {
        case .keep(let r): out.append(contentsOf: b[r])
        case .password: out.append(contentsOf: Array("***".utf8))
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// The passwords written in a conninfo, as written and decoded (percent-decoding for a URI,
/// quotes and escapes for key=value): what must never appear in a message.
func conninfoPasswords(_ s: String) -> [String] {
    let b = Array(s.utf8)
    var found: [String] = []
    let uri = isURI(b)
    for piece in conninfoPieces(b) {
        guard case .password(let r) = piece, !r.isEmpty else { continue }
        let raw = Array(b[r])
        found.append(String(decoding: raw, as: UTF8.self))
        let decoded = uri ? percentDecoded(raw) : unquoted(raw)
        if decoded != raw, !decoded.isEmpty { found.append(String(decoding: decoded, as: UTF8.self)) }
    }
    return found
}

/// Replace every occurrence of each secret in `text` by `***`.
func scrubbed(_ text: String, _ secrets: [String]) -> String {
    var t = Array(text.utf8)
    for secret in secrets {
        let s = Array(secret.utf8)
        guard !s.isEmpty, s.count <= t.count else { continue }
        var out = [UInt8]()
        out.reserveCapacity(t.count)
        var i = 0
        var changed = false
        while i < t.count {
            if i + s.count <= t.count, t[i] == s[0], t[i ..< i + s.count].elementsEqual(s) {
                out.append(contentsOf: Array("***".utf8))
                i += s.count
                changed = true
            } else {
                out.append(t[i])
                i += 1
            }
        }
        if changed { t = out }
    }
    return String(decoding: t, as: UTF8.self)
}

// MARK: - the pieces of a conninfo

private enum ConninfoPiece {
    case keep(Range<Int>)
    case password(Range<Int>)
}

private func isURI(_ b: [UInt8]) -> Bool {
    b.starts(with: Array("postgres://".utf8)) || b.starts(with: Array("postgresql://".utf8))
}

private func conninfoPieces(_ b: [UInt8]) -> [ConninfoPiece] {
    isURI(b) ? uriPieces(b) : keywordPieces(b)
}

private let at = UInt8(ascii: "@"), colon = UInt8(ascii: ":"), slash = UInt8(ascii: "/")
private let question = UInt8(ascii: "?"), amp = UInt8(ascii: "&"), equals = UInt8(ascii: "=")
private let quote = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")

private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0d) }

/// A URI: the user-info password, then each `password` query parameter. The user info ends at
/// the last '@' before the first '/' or '?' that follows the first '@' (so a password holding
/// a raw '/', '?' or '@', which libpq would misread, is still hidden whole).
private func uriPieces(_ b: [UInt8]) -> [ConninfoPiece] {
    var pieces: [ConninfoPiece] = []
    let start = b.starts(with: Array("postgresql://".utf8)) ? 13 : 11
    var kept = 0
    var queryFrom = start
    if let firstAt = b[start...].firstIndex(of: at) {
        let stop = b[(firstAt + 1)...].firstIndex(where: { $0 == slash || $0 == question }) ?? b.count
        let userEnd = b[firstAt ..< stop].lastIndex(of: at)!
        if let c = b[start ..< userEnd].firstIndex(of: colon) {
            pieces.append(.keep(kept ..< c + 1))
            pieces.append(.password(c + 1 ..< userEnd))
            kept = userEnd
        }
        queryFrom = userEnd + 1
    }
    if let q = b[queryFrom...].firstIndex(of: question) {
        var i = q + 1
        while i < b.count {
            let end = b[i...].firstIndex(of: amp) ?? b.count
            if let eq = b[i ..< end].firstIndex(of: equals),
               isSecretKey(percentDecoded(Array(b[i ..< eq]))) {
                pieces.append(.keep(kept ..< eq + 1))
                pieces.append(.password(eq + 1 ..< end))
                kept = end
            }
            i = end + 1
        }
    }
    pieces.append(.keep(kept ..< b.count))
    return pieces
}

/// The keys whose values are secrets: the password and the client key's passphrase.
private func isSecretKey(_ key: [UInt8]) -> Bool {
    key == Array("password".utf8) || key == Array("sslpassword".utf8)
}

/// key=value pairs: the value of each `password` key (quoted or not).
private func keywordPieces(_ b: [UInt8]) -> [ConninfoPiece] {
    var pieces: [ConninfoPiece] = []
    var kept = 0
    var i = 0
    while i < b.count {
        while i < b.count, isSpace(b[i]) { i += 1 }
        let keyStart = i
        while i < b.count, b[i] != equals, !isSpace(b[i]) { i += 1 }
        let key = b[keyStart ..< i]
        while i < b.count, isSpace(b[i]) { i += 1 }
        guard i < b.count, b[i] == equals else { break }   // malformed: libpq says so
        i += 1
        while i < b.count, isSpace(b[i]) { i += 1 }
        let valueStart = i
        if i < b.count, b[i] == quote {
            i += 1
            while i < b.count, b[i] != quote {
                if b[i] == backslash { i += 1 }
                i += 1
            }
            i = min(i + 1, b.count)
        } else {
            while i < b.count, !isSpace(b[i]) {
                if b[i] == backslash { i += 1 }
                i += 1
            }
            i = min(i, b.count)
        }
        if isSecretKey(Array(key)) {
            pieces.append(.keep(kept ..< valueStart))
            pieces.append(.password(valueStart ..< i))
            kept = i
        }
    }
    pieces.append(.keep(kept ..< b.count))
    return pieces
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0") ... UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a") ... UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A") ... UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

private func percentDecoded(_ b: [UInt8]) -> [UInt8] {
    var out = [UInt8]()
    var i = 0
    while i < b.count {
        if b[i] == UInt8(ascii: "%"), i + 2 < b.count,
           let h = hexValue(b[i + 1]), let l = hexValue(b[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return out
}

private func unquoted(_ b: [UInt8]) -> [UInt8] {
    var v = b[...]
    if v.first == quote { v = v.dropFirst(); if v.last == quote { v = v.dropLast() } }
    var out = [UInt8]()
    var i = v.startIndex
    while i < v.endIndex {
        if v[i] == backslash, i + 1 < v.endIndex { i += 1 }
        out.append(v[i])
        i += 1
    }
    return out
}
