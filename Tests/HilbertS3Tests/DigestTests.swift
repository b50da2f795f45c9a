import Testing
@testable import HilbertS3

@Suite struct DigestTests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256Vectors(_ input: String, _ expected: String) {
        #expect(hexLower(SHA256.hash(bytes(input))) == expected)
    }

    @Test func sha256MillionA() {
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(chunk) }
        #expect(hexLower(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
    ])
    func md5Vectors(_ input: String, _ expected: String) {
        #expect(hexLower(MD5.hash(bytes(input))) == expected)
    }

    @Test func md5MillionA() {
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(hexLower(a.withUnsafeBytes { MD5.hash($0) }) == "7707d6ae4e027c70eea2a935c2296f21")
    }

    /// RFC 4231 test cases 1-4, 6 and 7 (case 5 truncates the output).
    @Test func hmacRFC4231() {
        let cases: [([UInt8], [UInt8], String)] = [
            ([UInt8](repeating: 0x0b, count: 20), bytes("Hi There"),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (bytes("Jefe"), bytes("what do ya want for nothing?"),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (Array(1...25), [UInt8](repeating: 0xcd, count: 50),
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            ([UInt8](repeating: 0xaa, count: 131), bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            ([UInt8](repeating: 0xaa, count: 131),
             bytes("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ]
        for (key, message, expected) in cases {
            #expect(hexLower(hmacSHA256(key: key, message: message)) == expected)
        }
    }

    /// Every length around the padding boundaries, fed in random pieces, equals one-shot hashing.
    @Test func randomSplitsMatchOneShot() {
        var rng = XorShift(seed: 42)
        for length in Array(0...200) + [1000, 4095, 4096, 65_537] {
            let data = rng.bytes(length)
            var sha = SHA256(), md5 = MD5()
            var at = 0
            while at < length {
                let piece = min(length - at, rng.below(130))
                data[at..<(at + piece)].withUnsafeBytes { sha.update($0); md5.update($0) }
                at += piece
            }
            #expect(sha.finish() == SHA256.hash(data), "SHA-256 length \(length)")
            #expect(md5.finish() == MD5.hash(data), "MD5 length \(length)")
        }
    }

    /// Known digests of a length that needs a second padding block (56..63 bytes in the last block).
    @Test func paddingIntoSecondBlock() {
        let s = String(repeating: "x", count: 60)
        #expect(hexLower(SHA256.hash(bytes(s))) == "42f2d97335669f86846b721a8aa58551a46564eaf6977e3b4836d4645e3e3ed2")
        #expect(hexLower(MD5.hash(bytes(s))) == "1198000c11968f9368e02d6da57ec147")
    }

    @Test func hexAndBase64() {
        #expect(hexLower([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        let cases = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (input, expected) in cases { #expect(base64Encode(bytes(input)) == expected) }
        #expect(base64Encode([0xfb, 0xff, 0xbf]) == "+/+/")
    }

    /// Throughput over 4 MiB blocks, printed (not asserted: the machine is shared). Runs for
    /// about half a second per digest, so a debug build stays quick.
    @Test func throughput() {
        let block = XorShift(seed: 7).bytesFast(4 << 20)
        for (name, run) in [("SHA256", { block.withUnsafeBytes { _ = SHA256.hash($0) } }),
                            ("MD5", { block.withUnsafeBytes { _ = MD5.hash($0) } })] as [(String, () -> Void)] {
            run()
            var rounds = 0
            let t0 = monotonicSeconds()
            var seconds = 0.0
            repeat {
                run()
                rounds += 1
                seconds = monotonicSeconds() - t0
            } while seconds < 0.5
            print("\(name): \(Int(Double(rounds * 4) / seconds)) MiB/s over 4 MiB blocks (\(rounds) blocks)")
        }
    }
}

extension XorShift {
    func bytesFast(_ count: Int) -> [UInt8] {
        var r = self
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { b in
            var i = 0
            while i + 8 <= count { b.storeBytes(of: r.next(), toByteOffset: i, as: UInt64.self); i += 8 }
        }
        return out
    }
}
