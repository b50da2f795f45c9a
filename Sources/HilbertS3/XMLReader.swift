import HilbertSupport

/// An element of a parsed XML document: name without namespace prefix, decoded text, children.
struct XMLElement {
    var name: String
    var text = ""
    var children: [XMLElement] = []

    func child(_ n: String) -> XMLElement? { children.first { $0.name == n } }
    func all(_ n: String) -> [XMLElement] { children.filter { $0.name == n } }
    /// Text of the first child named `n`.
    subscript(_ n: String) -> String? { child(n)?.text }
}

/// A tolerant reader for the small documents S3 sends: skips the declaration, comments,
/// DOCTYPE, processing instructions and attributes; reads CDATA; decodes entities;
/// closes mismatched tags by name. A document cut short (root not closed) is an error.
func parseXML(_ body: [UInt8]) throws(HilbertError) -> XMLElement {
    var stack: [XMLElement] = []
    var root: XMLElement?
    var i = 0
    let n = body.count
    func bad(_ why: String) -> HilbertError { HilbertError(.io, "malformed XML from the object store: \(why)") }
    func find(_ pattern: [UInt8], from: Int) -> Int? {
        var j = from
        while j + pattern.count <= n {
            if body[j] == pattern[0] && Array(body[j..<(j + pattern.count)]) == pattern { return j }
            j += 1
        }
        return nil
    }
    func starts(_ s: String, at j: Int) -> Bool {
        let p = Array(s.utf8)
        return j + p.count <= n && Array(body[j..<(j + p.count)]) == p
    }
    func localName(_ raw: ArraySlice<UInt8>) -> String {
        let name = raw.lastIndex(of: UInt8(ascii: ":")).map { raw[($0 + 1)...] } ?? raw
        return String(decoding: name, as: UTF8.self)
    }
    func close(_ e: XMLElement) {
        if stack.isEmpty { root = root ?? e } else { stack[stack.count - 1].children.append(e) }
    }

    while i < n {
        if body[i] != UInt8(ascii: "<") {
            let end = body[i...].firstIndex(of: UInt8(ascii: "<")) ?? n
            if !stack.isEmpty { stack[stack.count - 1].text += decodeEntities(body[i..<end]) }
            i = end
            continue
        }
        if starts("<!--", at: i) {
            guard let e = find(Array("-->".utf8), from: i + 4) else { throw bad("unterminated comment") }
            i = e + 3
        } else if starts("<![CDATA[", at: i) {
            guard let e = find(Array("]]>".utf8), from: i + 9) else { throw bad("unterminated CDATA") }
            if !stack.isEmpty { stack[stack.count - 1].text += String(decoding: body[(i + 9)..<e], as: UTF8.self) }
            i = e + 3
        } else if starts("<?", at: i) {
            guard let e = find(Array("?>".utf8), from: i + 2) else { throw bad("unterminated processing instruction") }
            i = e + 2
        } else if starts("<!", at: i) {
            guard let e = body[i...].firstIndex(of: UInt8(ascii: ">")) else { throw bad("unterminated declaration") }
            i = e + 1
        } else {
            // A tag: find its '>' outside quoted attribute values.
            var j = i + 1
            var quote: UInt8 = 0
            while j < n {
                let c = body[j]
                if quote != 0 { if c == quote { quote = 0 } } else if c == 0x22 || c == 0x27 { quote = c } else if c == UInt8(ascii: ">") { break }
                j += 1
            }
            guard j < n else { throw bad("unterminated tag") }
            let closing = body[i + 1] == UInt8(ascii: "/")
            let selfClosing = !closing && body[j - 1] == UInt8(ascii: "/")
            var nameStart = closing ? i + 2 : i + 1
            while nameStart < j, isSpace(body[nameStart]) { nameStart += 1 }
            var nameEnd = nameStart
            while nameEnd < j, !isSpace(body[nameEnd]), body[nameEnd] != UInt8(ascii: "/") { nameEnd += 1 }
            let name = localName(body[nameStart..<nameEnd])
            if name.isEmpty { throw bad("a tag without a name") }
            if closing {
                if let k = stack.lastIndex(where: { $0.name == name }) {
                    while stack.count > k { close(stack.removeLast()) }
                }
            } else if selfClosing {
                close(XMLElement(name: name))
            } else {
                stack.append(XMLElement(name: name))
            }
            i = j + 1
        }
    }
    guard stack.isEmpty, let root else {
        throw bad(root == nil && stack.isEmpty ? "no root element" : "the document ends before <\(stack.first?.name ?? "")> is closed")
    }
    return root
}

@inline(__always) private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

/// Predefined and numeric character references decoded; an unknown one is kept as written.
func decodeEntities(_ s: ArraySlice<UInt8>) -> String {
    guard s.contains(UInt8(ascii: "&")) else { return String(decoding: s, as: UTF8.self) }
    var out = [UInt8]()
    out.reserveCapacity(s.count)
    var i = s.startIndex
    while i < s.endIndex {
        let c = s[i]
        guard c == UInt8(ascii: "&"), let semi = s[i...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
            out.append(c)
            i += 1
            continue
        }
        let ref = String(decoding: s[(i + 1)..<semi], as: UTF8.self)
        var scalar: Unicode.Scalar?
        switch ref {
        case "amp": scalar = "&"
        case "lt": scalar = "<"
        case "gt": scalar = ">"
        case "quot": scalar = "\""
        case "apos": scalar = "'"
        default:
            if ref.hasPrefix("#x") || ref.hasPrefix("#X") {
                scalar = UInt32(ref.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
            } else if ref.hasPrefix("#") {
                scalar = UInt32(ref.dropFirst(), radix: 10).flatMap(Unicode.Scalar.init)
            }
        }
        if let scalar {
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
            i = semi + 1
        } else {
            out.append(c)
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Text escaped for an XML element; control characters as numeric references (a raw CR
/// would be normalised away by the receiving parser).
func escapeXML(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default:
            if u.value < 0x20 { out += "&#\(u.value);" } else { out.unicodeScalars.append(u) }
        }
    }
    return out
}
