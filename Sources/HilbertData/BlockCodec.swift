import Glibc
import CZstd
import CHilbertSys
import HilbertSupport

/// How a block's payload is stored.
public enum BlockCompression: UInt8, Sendable {
    case none = 0
    case zstd = 1
}

/// The block format. Every object is one block: a 32-byte header, then the payload.
///
///     off size field (little endian)
///       0   4  magic "HLB1"
///       4   1  format version (1)
///       5   1  codec (0 none, 1 zstd)
///       6   2  flags (0)
///       8   4  raw length
///      12   4  payload length
///      16   4  CRC-32C of the raw bytes
///      20   4  CRC-32C of the payload
///      24   4  reserved (0)
///      28   4  CRC-32C of bytes 0..<28
///
/// Errors: decoding throws only `Errno.io`; the precise reason (bad magic, header CRC,
/// truncated payload, …) is recorded in `DataErrors.last` on the calling thread.
public enum BlockCodec {
    public static let headerSize = 32
    public static let magic: (UInt8, UInt8, UInt8, UInt8) = (0x48, 0x4C, 0x42, 0x31)   // "HLB1"
    public static let formatVersion: UInt8 = 1
    public static let defaultLevel: Int32 = 1

    public struct Header: Equatable, Sendable {
        public var codec: BlockCompression
        public var flags: UInt16
        public var rawLength: UInt32
        public var payloadLength: UInt32
        public var rawCRC: UInt32
        public var payloadCRC: UInt32
    }

    /// Blocks from this size are compressed and decompressed out of the fork gate
    /// (forkgate.c): milliseconds of pure C work a fork need not wait for. Smaller ones take
    /// less than stepping out and back in would be worth. Every caller encodes right before it
    /// PUTs the block and decodes right after it GETs it, holding the same locks it holds
    /// across the S3 request, which steps out already (hl_http_perform): a fork can find such
    /// a thread out of the gate with no lock it could not find it with before.
    static let outOfGateBytes = 256 << 10

    /// Largest object `encode` can produce for `rawLength` bytes (size the output buffer).
    public static func maxEncodedSize(rawLength: Int) -> Int {
        headerSize + max(rawLength, Int(ZSTD_compressBound(rawLength)))
    }

    // MARK: encode

    /// Encode `raw` into `out` (at least `maxEncodedSize(rawLength: raw.count)` bytes) and
    /// return the object size. zstd output that does not shrink the data is stored raw.
    public static func encode(raw: UnsafeRawBufferPointer, codec: BlockCompression = .zstd, level: Int32 = defaultLevel,
                              into out: UnsafeMutableRawBufferPointer, rawCRC: UInt32? = nil) -> Int {
        precondition(out.count >= maxEncodedSize(rawLength: raw.count), "BlockCodec.encode: output buffer too small")
        precondition(raw.count <= Int(UInt32.max), "BlockCodec.encode: block too large")
        let dst = out.baseAddress!
        let src = raw.baseAddress
        let n = raw.count
        let crc = rawCRC ?? hl_crc32c(0, src, n)
        var used = BlockCompression.none
        var payloadLength = n
        if codec == .zstd && n > 0 {
            let st = ThreadState.current
            if let cctx = st.cctx {
                // Only accept output strictly smaller than the input: cap the destination so
                // zstd gives up early on incompressible data.
                let steppedOut = n >= outOfGateBytes && hl_gate_pause() == 1
                let r = ZSTD_compressCCtx(cctx, dst + headerSize, n - 1 > 0 ? n - 1 : 0, src, n, level)
                if steppedOut { hl_gate_resume() }
                if ZSTD_isError(r) == 0 && r < n {
                    used = .zstd
                    payloadLength = r
                }
            }
        }
        if used == .none && n > 0 { (dst + headerSize).copyMemory(from: src!, byteCount: n) }
        let payloadCRC = used == .none ? crc : hl_crc32c(0, dst + headerSize, payloadLength)
        writeHeader(dst, Header(codec: used, flags: 0, rawLength: UInt32(n), payloadLength: UInt32(payloadLength),
                                rawCRC: crc, payloadCRC: payloadCRC))
        return headerSize + payloadLength
    }

    /// Encode into a fresh array (convenience; the commit path uses the buffer variant).
    public static func encode(raw: [UInt8], codec: BlockCompression = .zstd, level: Int32 = defaultLevel) -> [UInt8] {
        let cap = maxEncodedSize(rawLength: raw.count)
        return raw.withUnsafeBytes { r in
            [UInt8](unsafeUninitializedCapacity: cap) { b, count in
                count = encode(raw: r, codec: codec, level: level, into: UnsafeMutableRawBufferPointer(b))
            }
        }
    }

    static func writeHeader(_ p: UnsafeMutableRawPointer, _ h: Header) {
        p.storeBytes(of: magic.0, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: magic.1, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: magic.2, toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: magic.3, toByteOffset: 3, as: UInt8.self)
        p.storeBytes(of: formatVersion, toByteOffset: 4, as: UInt8.self)
        p.storeBytes(of: h.codec.rawValue, toByteOffset: 5, as: UInt8.self)
        p.storeBytes(of: h.flags.littleEndian, toByteOffset: 6, as: UInt16.self)
        p.storeBytes(of: h.rawLength.littleEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: h.payloadLength.littleEndian, toByteOffset: 12, as: UInt32.self)
        p.storeBytes(of: h.rawCRC.littleEndian, toByteOffset: 16, as: UInt32.self)
        p.storeBytes(of: h.payloadCRC.littleEndian, toByteOffset: 20, as: UInt32.self)
        p.storeBytes(of: UInt32(0), toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: hl_crc32c(0, p, 28).littleEndian, toByteOffset: 28, as: UInt32.self)
    }

    // MARK: decode

    /// Parse and verify the header (magic, version, header CRC, flags, codec, lengths).
    public static func parseHeader(_ object: UnsafeRawBufferPointer) throws(Errno) -> Header {
        guard object.count >= headerSize, let p = object.baseAddress else {
            throw DataErrors.fail(.io, "block: object truncated (\(object.count) bytes, header needs \(headerSize))")
        }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        guard p.load(fromByteOffset: 0, as: UInt8.self) == magic.0, p.load(fromByteOffset: 1, as: UInt8.self) == magic.1,
              p.load(fromByteOffset: 2, as: UInt8.self) == magic.2, p.load(fromByteOffset: 3, as: UInt8.self) == magic.3 else {
            throw DataErrors.fail(.io, "block: bad magic (not an HLB1 object)")
        }
        let stored = u32(28)
        let computed = hl_crc32c(0, p, 28)
        guard stored == computed else {
            throw DataErrors.fail(.io, "block: header checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))")
        }
        let version = p.load(fromByteOffset: 4, as: UInt8.self)
        guard version == formatVersion else { throw DataErrors.fail(.io, "block: unsupported format version \(version)") }
        guard let codec = BlockCompression(rawValue: p.load(fromByteOffset: 5, as: UInt8.self)) else {
            throw DataErrors.fail(.io, "block: unknown codec \(p.load(fromByteOffset: 5, as: UInt8.self))")
        }
        let flags = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        guard flags == 0 else { throw DataErrors.fail(.io, "block: unknown flags \(flags)") }
        let h = Header(codec: codec, flags: flags, rawLength: u32(8), payloadLength: u32(12), rawCRC: u32(16), payloadCRC: u32(20))
        if codec == .none && h.payloadLength != h.rawLength {
            throw DataErrors.fail(.io, "block: uncompressed payload length \(h.payloadLength) != raw length \(h.rawLength)")
        }
        return h
    }

    /// Decode `object` into `out` (at least the raw length) and return the raw length.
    /// Verifies magic, header CRC, payload length and CRC, decompression, raw length (and
    /// `expectedRawLength`) and raw CRC (and `expectedCRC`). Any mismatch: EIO.
    public static func decode(_ object: UnsafeRawBufferPointer, expectedRawLength: UInt32? = nil, expectedCRC: UInt32? = nil,
                              into out: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try decodeView(object, expectedRawLength: expectedRawLength, expectedCRC: expectedCRC, into: out, copyStored: true).count
    }

    /// `decode` returning where the raw bytes are: in `out`, or (when `copyStored` is false
    /// and the block is stored uncompressed) the verified payload inside `object` itself.
    static func decodeView(_ object: UnsafeRawBufferPointer, expectedRawLength: UInt32?, expectedCRC: UInt32?,
                           into out: UnsafeMutableRawBufferPointer, copyStored: Bool) throws(Errno) -> UnsafeRawBufferPointer {
        let h = try parseHeader(object)
        if let e = expectedRawLength, e != h.rawLength {
            throw DataErrors.fail(.io, "block: raw length \(h.rawLength) != expected \(e)")
        }
        if let e = expectedCRC, e != h.rawCRC {
            throw DataErrors.fail(.io, "block: raw checksum \(hex(h.rawCRC)) != expected \(hex(e))")
        }
        let payloadLength = Int(h.payloadLength)
        let available = object.count - headerSize
        guard available == payloadLength else {
            throw DataErrors.fail(.io, available < payloadLength
                ? "block: payload truncated (\(available) of \(payloadLength) bytes)"
                : "block: \(available - payloadLength) trailing bytes after payload")
        }
        let rawLength = Int(h.rawLength)
        guard out.count >= rawLength else {
            throw DataErrors.fail(.io, "block: raw length \(rawLength) exceeds buffer (\(out.count))")
        }
        let payload = object.baseAddress! + headerSize
        let pcrc = hl_crc32c(0, payload, payloadLength)
        guard pcrc == h.payloadCRC else {
            throw DataErrors.fail(.io, "block: payload checksum mismatch (stored \(hex(h.payloadCRC)), computed \(hex(pcrc)))")
        }
        let dst = out.baseAddress
        switch h.codec {
        case .none:
            // payload CRC == raw CRC for stored blocks; still compare the header's two fields
            guard h.rawCRC == pcrc else {
                throw DataErrors.fail(.io, "block: raw checksum mismatch (stored \(hex(h.rawCRC)), computed \(hex(pcrc)))")
            }
            if !copyStored { return UnsafeRawBufferPointer(start: payload, count: rawLength) }
            if rawLength > 0 { dst!.copyMemory(from: payload, byteCount: rawLength) }
            return UnsafeRawBufferPointer(start: dst, count: rawLength)
        case .zstd:
            guard let dctx = ThreadState.current.dctx else { throw DataErrors.fail(.noMemory, "block: cannot allocate zstd context") }
            let steppedOut = rawLength >= outOfGateBytes && hl_gate_pause() == 1
            let r = ZSTD_decompressDCtx(dctx, dst, rawLength, payload, payloadLength)
            if steppedOut { hl_gate_resume() }
            if ZSTD_isError(r) != 0 {
                let name = ZSTD_getErrorName(r).map { String(cString: $0) } ?? "unknown"
                throw DataErrors.fail(.io, "block: zstd decompression failed: \(name)")
            }
            guard r == rawLength else {
                throw DataErrors.fail(.io, "block: decompressed \(r) bytes, header says \(rawLength)")
            }
            let rcrc = hl_crc32c(0, dst, rawLength)
            guard rcrc == h.rawCRC else {
                throw DataErrors.fail(.io, "block: raw checksum mismatch (stored \(hex(h.rawCRC)), computed \(hex(rcrc)))")
            }
            return UnsafeRawBufferPointer(start: dst, count: rawLength)
        }
    }

    /// Decode into a fresh array (convenience).
    public static func decode(_ object: [UInt8], expectedRawLength: UInt32? = nil, expectedCRC: UInt32? = nil) throws(Errno) -> [UInt8] {
        var failure: Errno?
        let out = object.withUnsafeBytes { o -> [UInt8] in
            do throws(Errno) {
                let h = try parseHeader(o)
                if let e = expectedRawLength, e != h.rawLength {
                    throw DataErrors.fail(.io, "block: raw length \(h.rawLength) != expected \(e)")
                }
                let n = Int(h.rawLength)
                // Refuse absurd lengths before allocating.
                guard n <= 1 << 30 else { throw DataErrors.fail(.io, "block: raw length \(n) too large") }
                return try [UInt8](unsafeUninitializedCapacity: n) { (b, count) throws(Errno) in
                    count = 0
                    count = try decode(o, expectedRawLength: expectedRawLength, expectedCRC: expectedCRC,
                                       into: UnsafeMutableRawBufferPointer(b))
                }
            } catch {
                failure = error
                return []
            }
        }
        if let failure { throw failure }
        return out
    }

    static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - s.count) + s
    }
}

/// CRC-32C of a byte range.
@inline(__always)
public func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 { hl_crc32c(0, bytes.baseAddress, bytes.count) }
public func crc32c(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { crc32c($0) } }
