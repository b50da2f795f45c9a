import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

@Suite struct BlockCodecTests {
    @Test(arguments: [0, 1, 31, 4096, 65_537])
    func roundTripRandom(_ n: Int) throws {
        let raw = randomBytes(n, seed: UInt64(n) + 7)
        let obj = BlockCodec.encode(raw: raw)
        #expect(obj.count == BlockCodec.headerSize + n)          // incompressible: stored raw
        let h = try obj.withUnsafeBytes { b throws(Errno) in try BlockCodec.parseHeader(b) }
        #expect(h.codec == .none)
        #expect(h.rawLength == UInt32(n))
        #expect(h.rawCRC == crc32c(raw))
        #expect(try BlockCodec.decode(obj, expectedRawLength: UInt32(n), expectedCRC: crc32c(raw)) == raw)
    }

    @Test func roundTrip4MiBRandomAndIntoBuffer() throws {
        let raw = randomBytes(4 << 20)
        let obj = BlockCodec.encode(raw: raw)
        #expect(try BlockCodec.decode(obj) == raw)
        var out = [UInt8](repeating: 0xAA, count: 4 << 20)
        let n = try obj.withUnsafeBytes { o in
            try out.withUnsafeMutableBytes { b in try BlockCodec.decode(o, expectedCRC: crc32c(raw), into: b) }
        }
        #expect(n == raw.count)
        #expect(out == raw)
    }

    @Test func compressible() throws {
        let raw = compressibleBytes(4 << 20)
        let obj = BlockCodec.encode(raw: raw)
        #expect(obj.count < raw.count / 10)
        let h = try obj.withUnsafeBytes { b throws(Errno) in try BlockCodec.parseHeader(b) }
        #expect(h.codec == .zstd)
        #expect(try BlockCodec.decode(obj, expectedRawLength: UInt32(raw.count), expectedCRC: crc32c(raw)) == raw)
        // codec none on request
        let plain = BlockCodec.encode(raw: raw, codec: .none)
        #expect(plain.count == raw.count + 32)
        #expect(try BlockCodec.decode(plain) == raw)
        // zeros compress extremely well
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        #expect(try BlockCodec.decode(BlockCodec.encode(raw: zeros, level: 3)) == zeros)
    }

    @Test func headerLayout() {
        let raw = Array("hello".utf8)
        let obj = BlockCodec.encode(raw: raw, codec: .none)
        #expect(Array(obj[0..<4]) == Array("HLB1".utf8))
        #expect(obj[4] == 1 && obj[5] == 0 && obj[6] == 0 && obj[7] == 0)
        #expect(Array(obj[8..<12]) == [5, 0, 0, 0])
        #expect(Array(obj[12..<16]) == [5, 0, 0, 0])
        #expect(Array(obj[24..<28]) == [0, 0, 0, 0])
        let crc = crc32c(raw)
        #expect(Array(obj[16..<20]) == [UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)])
        #expect(Array(obj[32...]) == raw)
        // CRC-32C check value
        #expect(crc32c(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test(arguments: [BlockCompression.none, .zstd])
    func everyBitFlipDetected(_ codec: BlockCompression) {
        let raw = compressibleBytes(3000)
        let obj = BlockCodec.encode(raw: raw, codec: codec)
        // every header bit, and a spread of payload bits
        var positions = Array(0..<(32 * 8))
        var p = 32 * 8
        while p < obj.count * 8 { positions.append(p); p += 37 }
        var undetected: [Int] = []
        for bit in positions {
            var bad = obj
            bad[bit / 8] ^= UInt8(1 << (bit % 8))
            do {
                _ = try BlockCodec.decode(bad)
                undetected.append(bit)
            } catch {
                if error != .io { undetected.append(bit) }
            }
        }
        #expect(undetected.isEmpty, "undetected flips at bits \(undetected)")
    }

    @Test func truncationAndTrailingBytesDetected() {
        let raw = compressibleBytes(10_000)
        for codec in [BlockCompression.none, .zstd] {
            let obj = BlockCodec.encode(raw: raw, codec: codec)
            for cut in [0, 1, 4, 27, 31, 32, 33, obj.count / 2, obj.count - 1] {
                #expect(throws: Errno.io) { _ = try BlockCodec.decode(Array(obj[0..<cut])) }
            }
            #expect(throws: Errno.io) { _ = try BlockCodec.decode(obj + [0]) }
        }
    }

    @Test func wrongMagicAndExpectations() {
        let raw = randomBytes(100)
        var obj = BlockCodec.encode(raw: raw)
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(obj, expectedRawLength: 99) }
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(obj, expectedCRC: crc32c(raw) ^ 1) }
        obj[0] = UInt8(ascii: "X")
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(obj) }
        #expect(DataErrors.last?.message.contains("magic") == true)
        #expect(DataErrors.last?.errno == .io)
    }

    @Test func forgedHeaderWithValidCRCStillCaught() {
        // A header rewritten consistently (valid header CRC) but lying about lengths/CRCs.
        let raw = compressibleBytes(5000)
        let obj = BlockCodec.encode(raw: raw)
        func forge(_ mutate: (inout BlockCodec.Header) -> Void) -> [UInt8] {
            var o = obj
            var h = try! o.withUnsafeBytes { b throws(Errno) in try BlockCodec.parseHeader(b) }
            mutate(&h)
            o.withUnsafeMutableBytes { BlockCodec.writeHeader($0.baseAddress!, h) }
            return o
        }
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(forge { $0.rawLength += 1 }) }
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(forge { $0.rawLength -= 1 }) }
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(forge { $0.rawCRC ^= 1 }) }
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(forge { $0.payloadLength -= 1 }) }
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(forge { $0.codec = .none }) }
        #expect(throws: Errno.io) { _ = try BlockCodec.decode(forge { $0.flags = 1 }) }
    }

    @Test func contextsArePerThreadAndReused() {
        // Many encodes/decodes from several threads must agree.
        let inputs = (0..<8).map { compressibleBytes(100_000 + $0 * 1000) }
        final class Box: @unchecked Sendable { let lock = Lock(); var ok = [Bool](repeating: false, count: 4) }
        let box = Box()
        let t = WorkerThreads.start(4) { i in
            var good = true
            for _ in 0..<20 {
                for inp in inputs {
                    let o = BlockCodec.encode(raw: inp)
                    if (try? BlockCodec.decode(o)) != inp { good = false }
                }
            }
            box.lock.withLock { box.ok[i] = good }
        }
        t.join()
        #expect(t.count == 4)
        #expect(box.ok == [true, true, true, true])
    }
}
