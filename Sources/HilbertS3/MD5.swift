/// MD5 (RFC 1321), for Content-MD5 (required by DeleteObjects) and ETag checks only.
public struct MD5: BlockDigest, Sendable {
    var h0: UInt32 = 0x67452301, h1: UInt32 = 0xefcdab89, h2: UInt32 = 0x98badcfe, h3: UInt32 = 0x10325476
    var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    var pendingCount = 0
    var totalBytes: UInt64 = 0
    static var lengthBigEndian: Bool { false }

    public init() {}
    public mutating func update(_ p: UnsafeRawBufferPointer) { absorb(p) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { absorb($0) } }
    /// The 16-byte digest; the hasher is spent afterwards.
    public mutating func finish() -> [UInt8] { finishDigest() }
    public static func hash(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { oneShot($0) } }
    public static func hash(_ p: UnsafeRawBufferPointer) -> [UInt8] { oneShot(p) }

    var stateWords: [UInt32] { [h0, h1, h2, h3] }

    /// floor(abs(sin(i + 1)) * 2^32), RFC 1321 section 3.4.
    static let t: [UInt32] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
        0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
        0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
        0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
        0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
        0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
        0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
    ]

    @inline(__always) static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &<< n) | (x &>> (32 &- n)) }

    mutating func compress(_ p: UnsafeRawPointer, blocks: Int) {
        var a0 = h0, b0 = h1, c0 = h2, d0 = h3
        Self.t.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            var block = p
            for _ in 0..<blocks {
                @inline(__always) func x(_ i: Int) -> UInt32 {
                    block.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self).littleEndian
                }
                var a = a0, b = b0, c = c0, d = d0
                // Four steps per pass, roles rotated by argument order; constant shifts.
                var i = 0
                while i < 16 {
                    a = b &+ Self.rotl(a &+ (d ^ (b & (c ^ d))) &+ x(i) &+ t[i], 7)
                    d = a &+ Self.rotl(d &+ (c ^ (a & (b ^ c))) &+ x(i &+ 1) &+ t[i &+ 1], 12)
                    c = d &+ Self.rotl(c &+ (b ^ (d & (a ^ b))) &+ x(i &+ 2) &+ t[i &+ 2], 17)
                    b = c &+ Self.rotl(b &+ (a ^ (c & (d ^ a))) &+ x(i &+ 3) &+ t[i &+ 3], 22)
                    i &+= 4
                }
                while i < 32 {
                    a = b &+ Self.rotl(a &+ (c ^ (d & (b ^ c))) &+ x((5 &* i &+ 1) & 15) &+ t[i], 5)
                    d = a &+ Self.rotl(d &+ (b ^ (c & (a ^ b))) &+ x((5 &* i &+ 6) & 15) &+ t[i &+ 1], 9)
                    c = d &+ Self.rotl(c &+ (a ^ (b & (d ^ a))) &+ x((5 &* i &+ 11) & 15) &+ t[i &+ 2], 14)
                    b = c &+ Self.rotl(b &+ (d ^ (a & (c ^ d))) &+ x((5 &* i &+ 16) & 15) &+ t[i &+ 3], 20)
                    i &+= 4
                }
                while i < 48 {
                    a = b &+ Self.rotl(a &+ (b ^ c ^ d) &+ x((3 &* i &+ 5) & 15) &+ t[i], 4)
                    d = a &+ Self.rotl(d &+ (a ^ b ^ c) &+ x((3 &* i &+ 8) & 15) &+ t[i &+ 1], 11)
                    c = d &+ Self.rotl(c &+ (d ^ a ^ b) &+ x((3 &* i &+ 11) & 15) &+ t[i &+ 2], 16)
                    b = c &+ Self.rotl(b &+ (c ^ d ^ a) &+ x((3 &* i &+ 14) & 15) &+ t[i &+ 3], 23)
                    i &+= 4
                }
                while i < 64 {
                    a = b &+ Self.rotl(a &+ (c ^ (b | ~d)) &+ x((7 &* i) & 15) &+ t[i], 6)
                    d = a &+ Self.rotl(d &+ (b ^ (a | ~c)) &+ x((7 &* i &+ 7) & 15) &+ t[i &+ 1], 10)
                    c = d &+ Self.rotl(c &+ (a ^ (d | ~b)) &+ x((7 &* i &+ 14) & 15) &+ t[i &+ 2], 15)
                    b = c &+ Self.rotl(b &+ (d ^ (c | ~a)) &+ x((7 &* i &+ 21) & 15) &+ t[i &+ 3], 21)
                    i &+= 4
                }
                a0 &+= a; b0 &+= b; c0 &+= c; d0 &+= d
                block += 64
            }
        }
        h0 = a0; h1 = b0; h2 = c0; h3 = d0
    }
}
