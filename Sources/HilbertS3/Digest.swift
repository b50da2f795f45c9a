/// The buffering and padding shared by the 64-byte-block digests (SHA-256, MD5): whole
/// blocks are compressed straight from the caller's memory, only a tail is copied.
protocol BlockDigest {
    /// The partial block (64 bytes, no heap allocation).
    var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) { get set }
    var pendingCount: Int { get set }
    var totalBytes: UInt64 { get set }
    /// The message length (last 8 bytes of the padding) and the digest words are big-endian
    /// (SHA-2) or little-endian (MD5).
    static var lengthBigEndian: Bool { get }
    init()
    mutating func compress(_ p: UnsafeRawPointer, blocks: Int)
    /// The chaining state, in digest order.
    var stateWords: [UInt32] { get }
}

extension BlockDigest {
    /// The digest: the state words in the algorithm's byte order.
    func digestBytes() -> [UInt8] {
        let words = stateWords
        var out = [UInt8](repeating: 0, count: words.count * 4)
        out.withUnsafeMutableBytes { o in
            for (i, v) in words.enumerated() {
                o.storeBytes(of: Self.lengthBigEndian ? v.bigEndian : v.littleEndian, toByteOffset: i * 4, as: UInt32.self)
            }
        }
        return out
    }

    static func oneShot(_ p: UnsafeRawBufferPointer) -> [UInt8] {
        var h = Self()
        h.absorb(p)
        return h.finishDigest()
    }

    mutating func absorb(_ p: UnsafeRawBufferPointer) {
        guard var src = p.baseAddress, p.count > 0 else { return }
        var n = p.count
        totalBytes &+= UInt64(n)
        if pendingCount > 0 {
            let take = min(64 - pendingCount, n)
            let at = pendingCount
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.advanced(by: at).copyMemory(from: src, byteCount: take) }
            pendingCount += take
            src += take
            n -= take
            if pendingCount < 64 { return }
            var block = pending
            withUnsafeBytes(of: &block) { compress($0.baseAddress!, blocks: 1) }
            pendingCount = 0
        }
        let blocks = n >> 6
        if blocks > 0 {
            compress(src, blocks: blocks)
            src += blocks << 6
            n -= blocks << 6
        }
        if n > 0 {
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: src, byteCount: n) }
            pendingCount = n
        }
    }

    mutating func pad() {
        let bits = totalBytes &<< 3
        var tail: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                   UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        // 0x80, zeros, then the 8-byte length, ending on a block boundary (1 or 2 blocks).
        let padLength = (pendingCount < 56 ? 56 : 120) - pendingCount
        withUnsafeMutableBytes(of: &tail) { t in
            t[0] = 0x80
            let len = Self.lengthBigEndian ? bits.bigEndian : bits.littleEndian
            t.storeBytes(of: len, toByteOffset: padLength, as: UInt64.self)
        }
        let saved = totalBytes
        withUnsafeBytes(of: &tail) { absorb(UnsafeRawBufferPointer(rebasing: $0[0..<(padLength + 8)])) }
        totalBytes = saved
    }

    mutating func finishDigest() -> [UInt8] {
        pad()
        return digestBytes()
    }
}

/// HMAC (RFC 2104) over SHA-256.
public func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var k = key.count > 64 ? SHA256.hash(key) : key
    k += [UInt8](repeating: 0, count: 64 - k.count)
    var inner = SHA256()
    inner.update(k.map { $0 ^ 0x36 })
    inner.update(message)
    var outer = SHA256()
    outer.update(k.map { $0 ^ 0x5c })
    outer.update(inner.finish())
    return outer.finish()
}
