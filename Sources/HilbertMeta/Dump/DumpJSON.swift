import CHilbertSys
import HilbertSupport

/// The JSON pieces of a dump (docs/FORMAT.md, "Dump format"). Byte strings (names, symlink
/// targets, xattr names and values) are written as a JSON string when they are valid UTF-8
/// and as `{"base64":"…"}` otherwise, so that readable names stay readable and any byte
/// string round-trips. Inline file content is always base64.
enum DumpJSON {
    // MARK: UTF-8

    /// Whether `b` is well-formed UTF-8 (Unicode table 3-7: no overlong forms, no surrogates,
    /// nothing above U+10FFFF).
    static func isValidUTF8<C: Collection>(_ b: C) -> Bool where C.Element == UInt8 {
        var i = b.startIndex
        @inline(__always) func cont(_ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            guard i != b.endIndex else { return false }
            let c = b[i]
            guard c >= lo && c <= hi else { return false }
            i = b.index(after: i)
            return true
        }
        while i != b.endIndex {
            let c = b[i]
            i = b.index(after: i)
            switch c {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: if !cont() { return false }
            case 0xE0: if !cont(0xA0) || !cont() { return false }
            case 0xE1...0xEC, 0xEE...0xEF: if !cont() || !cont() { return false }
            case 0xED: if !cont(0x80, 0x9F) || !cont() { return false }
            case 0xF0: if !cont(0x90) || !cont() || !cont() { return false }
            case 0xF1...0xF3: if !cont() || !cont() || !cont() { return false }
            case 0xF4: if !cont(0x80, 0x8F) || !cont() || !cont() { return false }
            default: return false
            }
        }
        return true
    }

    // MARK: writing

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// A JSON string of `bytes`, which must be valid UTF-8: `"` and `\` escaped, control
    /// characters (and DEL) as \b \t \n \f \r or \u00XX, everything else verbatim.
    static func appendString<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(0x22)
        for c in bytes {
            switch c {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x08: out.append(0x5C); out.append(0x62)
            case 0x09: out.append(0x5C); out.append(0x74)
            case 0x0A: out.append(0x5C); out.append(0x6E)
            case 0x0C: out.append(0x5C); out.append(0x66)
            case 0x0D: out.append(0x5C); out.append(0x72)
            case 0x00...0x1F, 0x7F:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 15)]])
            default: out.append(c)
            }
        }
        out.append(0x22)
    }

    /// A byte string: a JSON string when valid UTF-8, else `{"base64":"…"}`.
    static func appendBytes(_ bytes: [UInt8], to out: inout [UInt8]) {
        if isValidUTF8(bytes) {
            appendString(bytes, to: &out)
        } else {
            out.append(contentsOf: Array(#"{"base64":""#.utf8))
            appendBase64(bytes, to: &out)
            out.append(contentsOf: [0x22, 0x7D])
        }
    }

    static func appendInt(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 {
            out.append(0x2D)
            appendUInt(v.magnitude, to: &out)
        } else {
            appendUInt(UInt64(v), to: &out)
        }
    }

    static func appendUInt(_ v: UInt64, to out: inout [UInt8]) {
        if v < 10 { out.append(0x30 + UInt8(v)); return }
        let start = out.count
        var x = v
        while x > 0 { out.append(0x30 + UInt8(x % 10)); x /= 10 }
        out[start...].reverse()
    }

    // MARK: base64 (RFC 4648, standard alphabet, padded)

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func appendBase64(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.reserveCapacity(out.count + (bytes.count + 2) / 3 * 4 + 2)
        var i = 0
        let n = bytes.count
        while i + 3 <= n {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(v >> 18)]); out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)]); out.append(alphabet[Int(v & 63)])
            i += 3
        }
        if n - i == 1 {
            let v = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(v >> 18)]); out.append(alphabet[Int(v >> 12 & 63)])
            out.append(0x3D); out.append(0x3D)
        } else if n - i == 2 {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(v >> 18)]); out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)]); out.append(0x3D)
        }
    }

    private static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    /// Strict: the standard alphabet, padded to a multiple of 4, unused bits zero (the one
    /// encoding `appendBase64` writes); nil otherwise.
    static func decodeBase64(_ text: [UInt8]) -> [UInt8]? {
        if text.count % 4 != 0 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var i = 0
        while i < text.count {
            let last = i + 4 == text.count
            let pad = last ? (text[i + 3] == 0x3D ? (text[i + 2] == 0x3D ? 2 : 1) : 0) : 0
            var v: UInt32 = 0
            for k in 0..<4 {
                if k >= 4 - pad { v <<= 6; continue }
                let d = decodeTable[Int(text[i + k])]
                if d == 0xFF { return nil }
                v = v << 6 | UInt32(d)
            }
            out.append(UInt8(v >> 16))
            if pad < 2 { out.append(UInt8(v >> 8 & 0xFF)) } else if v & 0xFFFF != 0 { return nil }
            if pad < 1 { out.append(UInt8(v & 0xFF)) } else if v & 0xFF != 0 { return nil }
            i += 4
        }
        return out
    }
}

/// The output of a dump: a buffer flushed to `sink` every MiB, with the CRC-32C of all bytes
/// so far (the dump's trailer carries it).
final class DumpOutput {
    var buffer: [UInt8] = []
    private let sink: (UnsafeRawBufferPointer) throws(Errno) -> Void
    private(set) var written: UInt64 = 0
    private(set) var crc: UInt32 = 0
    static let flushAt = 1 << 20

    init(_ sink: @escaping (UnsafeRawBufferPointer) throws(Errno) -> Void) {
        self.sink = sink
        buffer.reserveCapacity(DumpOutput.flushAt + 65536)
    }

    @inline(__always) func raw(_ s: StaticString) {
        s.withUTF8Buffer { buffer.append(contentsOf: $0) }
    }

    /// Call after each record: passes the buffer on when it is full.
    @inline(__always) func maybeFlush() throws(Errno) {
        if buffer.count >= DumpOutput.flushAt { try flush() }
    }

    func flush() throws(Errno) {
        if buffer.isEmpty { return }
        var failed: Errno?
        buffer.withUnsafeBytes { (b: UnsafeRawBufferPointer) in
            crc = hl_crc32c(crc, b.baseAddress, b.count)
            do throws(Errno) { try sink(b) } catch { failed = error }
        }
        if let failed { throw failed }
        written += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// The CRC-32C of every byte produced so far (flushes).
    func crcSoFar() throws(Errno) -> UInt32 {
        try flush()
        return crc
    }

    var total: UInt64 { written + UInt64(buffer.count) }
}
