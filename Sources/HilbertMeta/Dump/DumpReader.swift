import CHilbertSys
import HilbertSupport

/// One JSON value of a dump record (records are small: a node, an entry, a row).
enum DumpValue {
    case number(negative: Bool, magnitude: UInt64)
    case string([UInt8])
    case array([DumpValue])
    case object([(key: String, value: DumpValue)])
    case bool(Bool)
    case null

    var kind: String {
        switch self {
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// A streaming JSON reader for `hilbert load`: reads its source through a 1 MiB buffer, knows
/// the line and byte offset of every error, and keeps the CRC-32C of the bytes it consumed
/// (the dump's trailer carries the writer's). Strict JSON (RFC 8259), with integers only.
/// Every failure is explained in `failure` ("NAME: line L, byte B (where): what").
final class DumpReader {
    private let source: (UnsafeMutableRawBufferPointer) throws(Errno) -> Int
    let name: String
    private var buf: [UInt8]
    private var pos = 0
    private var end = 0
    private var base: UInt64 = 0
    private var eof = false
    private var crc: UInt32 = 0
    private var crcPos = 0
    private(set) var line = 1
    /// Where the reader is, for messages: the section (or part of the header) and the entry
    /// of the section (1-based; 0: none) — `in "edges", entry 12`.
    var section = ""
    var entry = 0
    private(set) var failure: HilbertError?

    init(name: String, bufferSize: Int = 1 << 20, _ source: @escaping (UnsafeMutableRawBufferPointer) throws(Errno) -> Int) {
        self.name = name
        self.source = source
        buf = [UInt8](repeating: 0, count: max(16, bufferSize))
    }

    /// Byte offset of the next byte (0-based).
    var offset: UInt64 { base + UInt64(pos) }

    /// Record an explanation at the current place and return the errno to throw.
    func fail(_ message: String) -> Errno {
        if failure == nil {
            let place = entry > 0 ? "in \"\(section)\", entry \(entry)" : section
            failure = HilbertError(.invalid, "\(name): line \(line), byte \(offset)\(place.isEmpty ? "" : " (\(place))"): \(message)")
        }
        return .invalid
    }

    // MARK: bytes

    private func fill() throws(Errno) -> Bool {
        if eof { return false }
        if end > crcPos { buf.withUnsafeBytes { crc = hl_crc32c(crc, $0.baseAddress! + crcPos, end - crcPos) } }
        base += UInt64(end)
        pos = 0; end = 0; crcPos = 0
        var n = 0
        var failed: Errno?
        buf.withUnsafeMutableBytes { (b: UnsafeMutableRawBufferPointer) in
            do throws(Errno) { n = try source(b) } catch { failed = error }
        }
        if let failed {
            if failure == nil { failure = HilbertError(failed, "\(name): cannot read at byte \(offset): \(failed)") }
            throw failed
        }
        if n <= 0 { eof = true; return false }
        end = n
        return true
    }

    /// The next byte without consuming it; nil at the end of the input.
    @inline(__always) func peek() throws(Errno) -> UInt8? {
        if pos == end, try !fill() { return nil }
        return buf[pos]
    }

    @inline(__always) private func take() { pos += 1 }

    /// The CRC-32C of every byte before the current position.
    func crcSoFar() -> UInt32 {
        if pos > crcPos { buf.withUnsafeBytes { crc = hl_crc32c(crc, $0.baseAddress! + crcPos, pos - crcPos) } }
        crcPos = pos
        return crc
    }

    func skipWhitespace() throws(Errno) {
        while let c = try peek() {
            switch c {
            case 0x20, 0x09, 0x0D: take()
            case 0x0A: take(); line += 1
            default: return
            }
        }
    }

    func describe(_ c: UInt8?) -> String {
        guard let c else { return "the end of the file (the dump is truncated)" }
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x\(String(c, radix: 16))"
    }

    /// Skip whitespace, then consume `c` (`what` names it in the message when it is not there).
    func expect(_ c: UInt8, _ what: String) throws(Errno) {
        try skipWhitespace()
        let got = try peek()
        if got != c { throw fail("expected \(what), found \(describe(got))") }
        take()
    }

    /// Skip whitespace, then consume `c` if it is next.
    func consume(_ c: UInt8) throws(Errno) -> Bool {
        try skipWhitespace()
        if try peek() == c { take(); return true }
        return false
    }

    /// The end of the input, after optional whitespace.
    func expectEnd() throws(Errno) {
        try skipWhitespace()
        if let c = try peek() { throw fail("unexpected \(describe(c)) after the end of the dump") }
    }

    /// `"key":` with exactly this key.
    func expectKey(_ key: String) throws(Errno) {
        try skipWhitespace()
        guard try peek() == 0x22 else { throw fail("expected the member \"\(key)\", found \(describe(try peek()))") }
        take()
        let got = try readString()
        if got != Array(key.utf8) {
            throw fail("expected the member \"\(key)\", found \"\(String(decoding: got, as: UTF8.self))\"")
        }
        try expect(0x3A, "':' after \"\(key)\"")
    }

    // MARK: values

    static let maxDepth = 16

    /// The next value (after whitespace).
    func readValue(depth: Int = 0) throws(Errno) -> DumpValue {
        if depth > DumpReader.maxDepth { throw fail("values nested too deeply") }
        try skipWhitespace()
        guard let c = try peek() else { throw fail("expected a value, found \(describe(nil))") }
        switch c {
        case 0x22:
            take()
            return .string(try readString())
        case 0x2D, 0x30...0x39:
            return try readNumber()
        case 0x7B:
            take()
            var fields: [(key: String, value: DumpValue)] = []
            if try consume(0x7D) { return .object(fields) }
            repeat {
                try expect(0x22, "a member name")
                let key = String(decoding: try readString(), as: UTF8.self)
                if fields.contains(where: { $0.key == key }) { throw fail("the member \"\(key)\" appears twice") }
                try expect(0x3A, "':'")
                fields.append((key, try readValue(depth: depth + 1)))
            } while try consume(0x2C)
            try expect(0x7D, "',' or '}'")
            return .object(fields)
        case 0x5B:
            take()
            var items: [DumpValue] = []
            if try consume(0x5D) { return .array(items) }
            repeat { items.append(try readValue(depth: depth + 1)) } while try consume(0x2C)
            try expect(0x5D, "',' or ']'")
            return .array(items)
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        default:
            throw fail("expected a value, found \(describe(c))")
        }
    }

    private func literal(_ word: String) throws(Errno) {
        for w in word.utf8 {
            let c = try peek()
            if c != w { throw fail("expected a value, found \(describe(c))") }
            take()
        }
    }

    /// An integer (JSON number without fraction or exponent).
    private func readNumber() throws(Errno) -> DumpValue {
        var negative = false
        if try peek() == 0x2D { negative = true; take() }
        guard let first = try peek(), first >= 0x30 && first <= 0x39 else { throw fail("expected a digit, found \(describe(try peek()))") }
        take()
        var v = UInt64(first - 0x30)
        while let c = try peek(), c >= 0x30 && c <= 0x39 {
            if first == 0x30 { throw fail("a number with a leading zero") }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            if o1 || o2 { throw fail("a number too large (more than 64 bits)") }
            v = s
            take()
        }
        if let c = try peek(), c == 0x2E || c == 0x65 || c == 0x45 { throw fail("expected an integer, found a fraction or an exponent") }
        if negative && v == 0 { return .number(negative: false, magnitude: 0) }
        return .number(negative: negative, magnitude: v)
    }

    /// The rest of a string whose opening quote was consumed: its bytes, unescaped, which must
    /// be valid UTF-8.
    func readString() throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            if pos == end, try !fill() { throw fail("a string runs to \(describe(nil))") }
            var i = pos
            while i < end {
                let c = buf[i]
                if c == 0x22 || c == 0x5C || c < 0x20 { break }
                i += 1
            }
            if i > pos { out.append(contentsOf: buf[pos..<i]); pos = i }
            if pos == end { continue }
            let c = buf[pos]
            if c == 0x22 { take(); break }
            if c < 0x20 { throw fail("a control character (byte 0x\(String(c, radix: 16))) inside a string: it must be escaped") }
            take()   // backslash
            guard let e = try peek() else { throw fail("a string runs to \(describe(nil))") }
            take()
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    guard try peek() == 0x5C else { throw fail("a \\u escape of a lone high surrogate") }
                    take()
                    guard try peek() == 0x75 else { throw fail("a \\u escape of a lone high surrogate") }
                    take()
                    let low = try hex4()
                    guard low >= 0xDC00 && low <= 0xDFFF else { throw fail("a \\u escape of a lone high surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                    throw fail("a \\u escape of a lone low surrogate")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                throw fail("an unknown escape \\\(describe(e)) in a string")
            }
        }
        if !DumpJSON.isValidUTF8(out) {
            throw fail("a string that is not valid UTF-8 (byte strings that are not UTF-8 are written as {\"base64\": \"…\"})")
        }
        return out
    }

    private func hex4() throws(Errno) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = try peek() else { throw fail("a \\u escape runs to \(describe(nil))") }
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("a \\u escape with \(describe(c)), not a hex digit")
            }
            v = v << 4 | d
            take()
        }
        return v
    }
}

/// The members of one record, taken by name with their types checked; `finish` refuses
/// members that were not taken (unknown fields).
struct DumpFields {
    let fields: [(key: String, value: DumpValue)]
    let reader: DumpReader
    private var taken: [String] = []

    init(_ value: DumpValue, _ reader: DumpReader, what: String) throws(Errno) {
        guard case .object(let f) = value else { throw reader.fail("expected \(what) (an object), found \(value.kind)") }
        fields = f
        self.reader = reader
    }

    private mutating func value(_ key: String) throws(Errno) -> DumpValue {
        guard let v = fields.first(where: { $0.key == key })?.value else { throw reader.fail("the member \"\(key)\" is missing") }
        taken.append(key)
        return v
    }

    func has(_ key: String) -> Bool { fields.contains { $0.key == key } }

    mutating func uint(_ key: String, max: UInt64 = .max) throws(Errno) -> UInt64 {
        let v = try value(key)
        guard case .number(let neg, let m) = v, !neg else {
            throw reader.fail("\"\(key)\": expected an integer ≥ 0, found \(v.kind == "a number" ? "a negative number" : v.kind)")
        }
        if m > max { throw reader.fail("\"\(key)\": \(m) is out of range (at most \(max))") }
        return m
    }

    mutating func int(_ key: String) throws(Errno) -> Int64 {
        try DumpFields.int(try value(key), key, reader)
    }

    static func int(_ v: DumpValue, _ key: String, _ reader: DumpReader) throws(Errno) -> Int64 {
        guard case .number(let neg, let m) = v else { throw reader.fail("\"\(key)\": expected an integer, found \(v.kind)") }
        if neg {
            if m > UInt64(Int64.max) + 1 { throw reader.fail("\"\(key)\": out of range (64-bit signed)") }
            return m == UInt64(Int64.max) + 1 ? Int64.min : -Int64(m)
        }
        if m > UInt64(Int64.max) { throw reader.fail("\"\(key)\": out of range (64-bit signed)") }
        return Int64(m)
    }

    mutating func string(_ key: String) throws(Errno) -> String {
        let v = try value(key)
        guard case .string(let b) = v else { throw reader.fail("\"\(key)\": expected a string, found \(v.kind)") }
        return String(decoding: b, as: UTF8.self)
    }

    /// A byte string: a JSON string, or {"base64": "…"}.
    mutating func bytes(_ key: String) throws(Errno) -> [UInt8] {
        let v = try value(key)
        switch v {
        case .string(let b): return b
        case .object(let f) where f.count == 1 && f[0].key == "base64":
            guard case .string(let text) = f[0].value, let b = DumpJSON.decodeBase64(text) else {
                throw reader.fail("\"\(key)\": {\"base64\": …} does not hold valid base64")
            }
            return b
        default:
            throw reader.fail("\"\(key)\": expected a string or {\"base64\": \"…\"}, found \(v.kind)")
        }
    }

    /// Base64 text (inline content).
    mutating func base64(_ key: String) throws(Errno) -> [UInt8] {
        let v = try value(key)
        guard case .string(let text) = v, let b = DumpJSON.decodeBase64(text) else {
            throw reader.fail("\"\(key)\": expected a base64 string")
        }
        return b
    }

    /// [seconds, nanoseconds].
    mutating func time(_ key: String) throws(Errno) -> Timespec {
        let v = try value(key)
        guard case .array(let a) = v, a.count == 2 else {
            throw reader.fail("\"\(key)\": expected [seconds, nanoseconds], found \(v.kind)")
        }
        let s = try DumpFields.int(a[0], key, reader)
        let ns = try DumpFields.int(a[1], key, reader)
        if ns < 0 || ns >= 1_000_000_000 { throw reader.fail("\"\(key)\": nanoseconds \(ns) out of range") }
        return Timespec(sec: s, nsec: UInt32(ns))
    }

    mutating func object(_ key: String) throws(Errno) -> [(key: String, value: DumpValue)] {
        let v = try value(key)
        guard case .object(let f) = v else { throw reader.fail("\"\(key)\": expected an object, found \(v.kind)") }
        return f
    }

    /// Every member was taken: no unknown ones.
    func finish() throws(Errno) {
        guard let unknown = fields.first(where: { !taken.contains($0.key) }) else { return }
        throw reader.fail("unknown member \"\(unknown.key)\"")
    }
}
