import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

/// `hilbert dump` / `hilbert load`: the JSON encoding of byte strings, the reader's strictness,
/// and dump → load → dump round trips (docs/FORMAT.md, "Dump format").
@Suite struct DumpTests {
    // MARK: helpers

    static func dumpBytes(_ s: MetaStore, _ options: DumpOptions = DumpOptions()) throws -> [UInt8] {
        var out: [UInt8] = []
        _ = try s.dump(options: options, to: { (b: UnsafeRawBufferPointer) throws(Errno) in out.append(contentsOf: b) })
        return out
    }

    /// Load `bytes`, handed to the loader `chunk` bytes at a time.
    @discardableResult
    static func load(_ bytes: [UInt8], into path: String, options: LoadOptions = LoadOptions(), chunk: Int = 4093) throws -> LoadResult {
        try load(bytes, into: .sqlite(path: path), options: options, chunk: chunk)
    }

    static func load(_ bytes: [UInt8], into url: MetaURL, options: LoadOptions = LoadOptions(), chunk: Int = 4093) throws -> LoadResult {
        var pos = 0
        return try MetaStore.load(into: url, options: options, from: { (b: UnsafeMutableRawBufferPointer) throws(Errno) -> Int in
            let n = min(chunk, b.count, bytes.count - pos)
            b.copyBytes(from: bytes[pos..<(pos + n)])
            pos += n
            return n
        })
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// `{"v":<bytes encoded>}` read back through the reader.
    static func roundTrip(_ bytes: [UInt8], chunk: Int = 1) throws -> (json: String, back: [UInt8]) {
        var doc = Array(#"{"v":"#.utf8)
        DumpJSON.appendBytes(bytes, to: &doc)
        doc.append(0x7D)
        var pos = 0
        let r = DumpReader(name: "t", bufferSize: 16) { (b: UnsafeMutableRawBufferPointer) throws(Errno) -> Int in
            let n = min(chunk, b.count, doc.count - pos)
            b.copyBytes(from: doc[pos..<(pos + n)])
            pos += n
            return n
        }
        var f = try DumpFields(try r.readValue(), r, what: "a test object")
        let back = try f.bytes("v")
        try f.finish()
        try r.expectEnd()
        return (text(doc), back)
    }

    static func parse(_ json: String) -> (DumpValue?, String?) {
        let doc = Array(json.utf8)
        var pos = 0
        let r = DumpReader(name: "t") { (b: UnsafeMutableRawBufferPointer) throws(Errno) -> Int in
            let n = min(b.count, doc.count - pos)
            b.copyBytes(from: doc[pos..<(pos + n)])
            pos += n
            return n
        }
        do {
            let v = try r.readValue()
            try r.expectEnd()
            return (v, nil)
        } catch {
            return (nil, r.failure?.message ?? "\(error)")
        }
    }

    // MARK: byte strings

    @Test func byteStringsAsJSON() throws {
        let cases: [([UInt8], String)] = [
            (b("plain name.txt"), #"{"v":"plain name.txt"}"#),
            (b("quote\" back\\slash /"), #"{"v":"quote\" back\\slash /"}"#),
            ([0x00, 0x01, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1F, 0x7F], #"{"v":"\u0000\u0001\b\t\n\f\r\u001f\u007f"}"#),
            (b("é 𝄞 😀 ✓"), "{\"v\":\"é 𝄞 😀 ✓\"}"),
            ([], #"{"v":""}"#),
            ([0xFF], #"{"v":{"base64":"/w=="}}"#),
            ([0x66, 0x80, 0x6F], #"{"v":{"base64":"ZoBv"}}"#),               // a lone continuation byte
            ([0xC0, 0x80], #"{"v":{"base64":"wIA="}}"#),                     // overlong NUL
            ([0xED, 0xA0, 0x80], #"{"v":{"base64":"7aCA"}}"#),               // a surrogate
            ([0xF0, 0x9F, 0x98], #"{"v":{"base64":"8J+Y"}}"#),               // a truncated 4-byte sequence
            ([0xF4, 0x90, 0x80, 0x80], #"{"v":{"base64":"9JCAgA=="}}"#),     // above U+10FFFF
            ([0x22, 0x00, 0xFF, 0x5C], #"{"v":{"base64":"IgD/XA=="}}"#),
        ]
        for (bytes, json) in cases {
            let (got, back) = try DumpTests.roundTrip(bytes)
            #expect(got == json)
            #expect(back == bytes, "round trip of \(bytes)")
        }
    }

    /// The validator agrees with the standard library's decoder on random byte strings.
    @Test func utf8ValidationMatchesTheStandardLibrary() throws {
        var rng = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                    0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20000 {
            let n = Int.random(in: 0...6, using: &rng)
            let bytes = (0..<n).map { _ in interesting.randomElement(using: &rng)! }
            let std = Array(String(decoding: bytes, as: UTF8.self).utf8) == bytes
            #expect(DumpJSON.isValidUTF8(bytes) == std, "\(bytes)")
            let (_, back) = try DumpTests.roundTrip(bytes, chunk: 3)
            #expect(back == bytes)
        }
    }

    @Test func jsonStringsAreReadStrictly() {
        #expect(DumpTests.parse(#""\uD834\uDD1E \u00e9""#).0.map { v -> Bool in
            if case .string(let s) = v { return s == b("𝄞 é") }
            return false
        } == true)
        for (bad, why) in [(#""\uD834""#, "lone high surrogate"), (#""\uDD1E""#, "lone low surrogate"),
                           ("\"a\u{1}b\"", "control character"), (#""\x""#, "unknown escape"),
                           ("\"ab", "the end of the file"), ("01", "leading zero"), ("1.5", "an integer"),
                           ("18446744073709551616", "too large"), ("{\"a\":1,\"a\":2}", "appears twice"),
                           ("[1,]", "expected a value"), ("{\"a\":1} x", "after the end")] {
            let (v, message) = DumpTests.parse(bad)
            #expect(v == nil, "\(bad) is refused")
            #expect(message?.contains(why) == true, "\(bad): \(message ?? "")")
        }
        // Raw bytes that are not UTF-8 inside a string.
        let raw: [UInt8] = [0x22, 0x61, 0xFF, 0x22]
        var pos = 0
        let r = DumpReader(name: "t") { (b: UnsafeMutableRawBufferPointer) throws(Errno) -> Int in
            let n = min(b.count, raw.count - pos)
            b.copyBytes(from: raw[pos..<(pos + n)])
            pos += n
            return n
        }
        #expect(throws: Errno.invalid) { _ = try r.readValue() }
        #expect(r.failure?.message.contains("not valid UTF-8") == true)
    }

    @Test func base64() {
        var rng = SystemRandomNumberGenerator()
        for n in 0..<70 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var text: [UInt8] = []
            DumpJSON.appendBase64(bytes, to: &text)
            #expect(text.count == (n + 2) / 3 * 4)
            #expect(DumpJSON.decodeBase64(text) == bytes)
        }
        #expect(DumpJSON.decodeBase64(b("QQ==")) == b("A"))
        for bad in ["QR==", "QUI", "Q===", "QU=I", "QU!=", "=AAA"] {
            #expect(DumpJSON.decodeBase64(b(bad)) == nil, "\(bad)")
        }
    }

    // MARK: round trips

    /// A volume with every kind of row: odd names, hard links, symlinks (one with a target
    /// that is not UTF-8), a FIFO, a device, xattrs with binary values, inline files, blocks
    /// with a hole, an object to delete, times before 1970 and with nanoseconds, and more than
    /// a page of entries.
    static func populate(_ s: MetaStore) throws {
        let d = try s.mkdir(parent: rootIno, name: b("dir with space"), mode: 0o1777, cred: root)
        let names: [[UInt8]] = [b("plain"), b("quote\"back\\slash"), b("new\nline"), [0x66, 0xFF, 0xFE],
                                b("tab\tand\u{7f}del"), b("𝄞 clef é"), [0x01, 0x1F]]
        for (i, n) in names.enumerated() {
            let f = try s.createFile(parent: d.ino, name: n, mode: 0o644, cred: alice, exclusive: true).attr
            try s.commitData(ino: f.ino, size: UInt64(i), inline: [UInt8](repeating: UInt8(i), count: i), blocks: [], cred: alice)
        }
        let big = try s.createFile(parent: rootIno, name: b("big"), mode: 0o755, cred: root, exclusive: true).attr
        let id = try s.allocateObjectIDs(count: 3)
        try s.commitData(ino: big.ino, size: 3 * 4096, inline: nil, blocks: [
            BlockRef(index: 0, objectID: id, rawLength: 4096, storedLength: 100, crc: 7),
            BlockRef(index: 2, objectID: id + 1, rawLength: 4096, storedLength: 200, crc: 8)], cred: root)
        try s.setattr(ino: big.ino, mode: 0o4755, cred: root)
        let gone = try s.createFile(parent: rootIno, name: b("gone"), mode: 0o600, cred: root, exclusive: true).attr
        try s.commitData(ino: gone.ino, size: 10, inline: nil, blocks: [
            BlockRef(index: 0, objectID: id + 2, rawLength: 10, storedLength: 42, crc: 9)], cred: root)
        _ = try s.unlink(parent: rootIno, name: b("gone"), cred: root)
        _ = try s.link(ino: big.ino, newParent: d.ino, newName: b("big link"), cred: root)
        _ = try s.symlink(parent: d.ino, name: b("sym"), target: [0x2E, 0x2E, 0x2F, 0xC0, 0x80], cred: root)
        _ = try s.symlink(parent: rootIno, name: b("up"), target: b("dir with space/plain"), cred: root)
        _ = try s.mknod(parent: rootIno, name: b("fifo"), mode: FileType.fifo.rawValue | 0o600, rdev: 0, cred: root)
        _ = try s.mknod(parent: rootIno, name: b("null"), mode: FileType.charDevice.rawValue | 0o666, rdev: 0x103, cred: root)
        try s.setxattr(big.ino, name: b("user.bin"), value: [0, 0xFF, 0x22, 0x5C], flags: 0, cred: root)
        try s.setxattr(d.ino, name: b("user.text"), value: b("héllo"), flags: 0, cred: root)
        try s.setxattr(d.ino, name: b("user.empty"), value: [], flags: 0, cred: root)
        try s.setattr(ino: big.ino, uid: 1234, gid: 5678, atime: .set(Timespec(sec: -86400, nsec: 1)),
                      mtime: .set(Timespec(sec: 4_102_444_800, nsec: 999_999_999)), cred: root)
        let many = try s.mkdir(parent: rootIno, name: b("many"), mode: 0o755, cred: root)
        try s.withWriteTransaction { () throws(Errno) in
            for i in 0..<2100 {
                let f = try s.createFile(parent: many.ino, name: b("f\(i)"), mode: 0o640, cred: root, exclusive: true).attr
                if i % 3 == 0 { try s.setxattr(f.ino, name: b("user.n"), value: b("\(i)"), flags: 0, cred: root) }
            }
        }
        for i in stride(from: 0, to: 2100, by: 7) { _ = try s.unlink(parent: many.ino, name: b("f\(i)"), cred: root) }
        // An entry moved to another directory keeps its id: listing order is by id.
        try s.rename(parent: many.ino, name: b("f1"), newParent: d.ino, newName: b("moved"), cred: root)
        _ = try s.mkdir(parent: d.ino, name: b("sub"), mode: 0o2750, cred: root)
        // Two files in a pack (and one more that was moved away from it: the pack stays).
        let packID = try s.allocateUploadIDs(count: 1, commit: 0, owner: "")
        var packed: [PackedFile] = []
        for (k, name) in ["packed 1", "packed 2", "packed 3"].enumerated() {
            let f = try s.createFile(parent: d.ino, name: b(name), mode: 0o644, cred: alice, exclusive: true).attr
            try s.commitData(ino: f.ino, size: UInt64(k + 1), inline: [UInt8](repeating: 9, count: k + 1), blocks: [], cred: alice)
            packed.append(PackedFile(ino: f.ino, version: 1, block: BlockRef(index: 0, objectID: packID, rawLength: UInt32(k + 1),
                                                                            storedLength: 33 + UInt32(k), crc: UInt32(k),
                                                                            objectOffset: 8 + 40 * UInt64(k))))
        }
        _ = try s.adoptPack(PackRow(objectID: packID, size: 128, pieces: 3, created: 1_700_000_000), uploadCommit: packID, files: packed)
        _ = try s.unlink(parent: d.ino, name: b("packed 3"), cred: alice)
    }

    @Test func dumpLoadDumpIsByteIdentical() throws {
        try withVolume { s, _ in
            try DumpTests.populate(s)
            let first = try DumpTests.dumpBytes(s)
            let dir = makeTempDir()
            defer { removeTree(dir) }
            let result = try DumpTests.load(first, into: dir + "/meta.db")
            #expect(result.format == s.format)
            #expect(result.counts.bytes == UInt64(first.count))
            #expect(result.counts.edges > 1800 && result.counts.deletedObjects == 1 && result.counts.packs == 1)
            let loaded = try MetaStore.open(path: dir + "/meta.db")
            defer { loaded.close() }
            let second = try DumpTests.dumpBytes(loaded)
            #expect(first == second)
            // The loaded volume answers as the dumped one does.
            #expect(try loaded.usage() == s.usage())
            let big = try s.ino("big")
            #expect(try loaded.getattr(big) == s.getattr(big))
            #expect(try loaded.dataLayout(big).blocks == s.dataLayout(big).blocks)
            #expect(try loaded.getxattr(big, name: b("user.bin"), cred: root) == [0, 0xFF, 0x22, 0x5C])
            guard case .found(_, _, let symAttr) = try s.res("dir with space/sym", follow: false) else { throw Errno.noEntry }
            let sym = symAttr.ino
            #expect(try loaded.readlink(sym) == [0x2E, 0x2E, 0x2F, 0xC0, 0x80])
            let many = try s.ino("many")
            #expect(try loaded.readdir(many, after: 0, limit: 5000) == s.readdir(many, after: 0, limit: 5000))
            let d = try s.ino("dir with space")
            #expect(try loaded.readdir(d, after: 0, limit: 100) == s.readdir(d, after: 0, limit: 100))
            #expect(try loaded.pendingDeletions() == s.pendingDeletions())
            #expect(try loaded.dataLayout(try s.ino("dir with space/𝄞 clef é")).inline == [5, 5, 5, 5, 5])
            let packed = try s.ino("dir with space/packed 2")
            #expect(try loaded.dataLayout(packed).blocks == s.dataLayout(packed).blocks)
            #expect(try loaded.dataLayout(packed).blocks.first?.objectOffset == 48)
            #expect(try loaded.packs() == s.packs())
            // It keeps working: new inodes and entries continue above the loaded ones.
            let f = try loaded.createFile(parent: d, name: b("new"), mode: 0o644, cred: root, exclusive: true).attr
            #expect(f.ino == UInt64(try s.statfsCounters().nextIno))
            #expect(try loaded.readdir(d, after: 0, limit: 100).last?.name == b("new"))
        }
    }

    /// A dump of the release before packs (format 1: no `packs` section, no `obj_off`) loads.
    @Test func formatOneDumpsLoad() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            let id = try s.allocateObjectIDs(count: 1)
            try s.commitData(ino: f.ino, size: 4096, inline: nil,
                             blocks: [BlockRef(index: 0, objectID: id, rawLength: 4096, storedLength: 90, crc: 5)], cred: alice)
            let g = try s.createFile(parent: rootIno, name: b("g"), mode: 0o644, cred: alice, exclusive: true).attr
            try s.commitData(ino: g.ino, size: 2, inline: b("hi"), blocks: [], cred: alice)
            var text = DumpTests.text(try DumpTests.dumpBytes(s))
            guard let crc = text.firstRange(of: ",\"crc32c\":") else { Issue.record("no crc32c"); return }
            text = String(text[..<crc.lowerBound]) + String(text[text[crc.upperBound...].firstIndex(of: "}")!...])
            text = text.replacingFirst("\"hilbert-dump\":2", with: "\"hilbert-dump\":1")
                .replacingFirst("\"packs\":[],", with: "").replacingFirst("\"packs\":[\n],", with: "")
                .replacingFirst(",\"packs\":0", with: "")
            #expect(!text.contains("packs"), "\(text.suffix(300))")
            let dir = makeTempDir()
            defer { removeTree(dir) }
            try DumpTests.load(Array(text.utf8), into: dir + "/v1.db")
            let loaded = try MetaStore.open(path: dir + "/v1.db")
            defer { loaded.close() }
            #expect(try loaded.dataLayout(f.ino).blocks == s.dataLayout(f.ino).blocks)
            #expect(try loaded.dataLayout(g.ino).inline == b("hi"))
            #expect(try loaded.usage() == s.usage())
        }
    }

    @Test func existingVolumeIsRefused() throws {
        try withVolume { s, url in
            let dump = try DumpTests.dumpBytes(s)
            do {
                try DumpTests.load(dump, into: url)
                Issue.record("a load over an existing volume succeeded")
            } catch let e as HilbertError {
                #expect(e.errno == .exists)
                #expect(e.message.contains("already there"))
            }
            #expect(try s.getattr(rootIno).ino == rootIno)
        }
    }

    @Test func stagedDataIsNotDumpedSilently() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("open"), mode: 0o644, cred: root, exclusive: true).attr
            try s.setStaging(ino: f.ino, file: "x.1.2.3", owner: "")
            do {
                _ = try DumpTests.dumpBytes(s)
                Issue.record("a dump with staged data succeeded")
            } catch let e as HilbertError {
                #expect(e.errno == .busy)
                #expect(e.message.contains("/open (inode \(f.ino))") && e.message.contains("hilbert flush"))
            }
            var options = DumpOptions()
            options.ignoreStaging = true
            var out: [UInt8] = []
            let result = try s.dump(options: options, to: { (b: UnsafeRawBufferPointer) throws(Errno) in out.append(contentsOf: b) })
            #expect(result.stagedFiles == 1 && result.stagedExamples == ["/open (inode \(f.ino))"])
            // The loaded volume has no staging rows and nothing marked staged.
            let dir = makeTempDir()
            defer { removeTree(dir) }
            try DumpTests.load(out, into: dir + "/meta.db")
            let loaded = try MetaStore.open(path: dir + "/meta.db")
            defer { loaded.close() }
            #expect(try loaded.stagingCount() == 0 && !loaded.getattr(f.ino).staged)
        }
    }

    /// Every prefix of a dump is refused with its line and byte, and leaves no usable volume.
    @Test func truncatedDumpsAreRefused() throws {
        try withVolume { s, _ in
            _ = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr
            try s.commitData(ino: f.ino, size: 3, inline: b("abc"), blocks: [], cred: root)
            let dump = try DumpTests.dumpBytes(s)
            let dir = makeTempDir()
            defer { removeTree(dir) }
            var cuts = Array(stride(from: 0, to: dump.count - 1, by: max(1, dump.count / 40)))
            cuts += [1, dump.count - 2, dump.count - 3]
            for (i, cut) in cuts.enumerated() {
                let path = dir + "/t\(i).db"
                do {
                    try DumpTests.load(Array(dump[..<cut]), into: path, chunk: 5)
                    Issue.record("a dump cut at byte \(cut) of \(dump.count) was loaded")
                } catch let e as HilbertError {
                    #expect(e.errno == .invalid)
                    #expect(e.message.contains("line ") && e.message.contains("byte "), "cut \(cut): \(e.message)")
                }
                do {
                    _ = try MetaStore.open(path: path).close()
                    Issue.record("the volume of a dump cut at byte \(cut) opens")
                } catch {
                    let why = MetaStore.lastOpenError?.message ?? ""
                    #expect(error as? Errno == .noEntry || why.contains("incomplete volume"), "cut \(cut): \(why)")
                }
            }
            // Without its final newline the document is whole.
            try DumpTests.load(Array(dump.dropLast()), into: dir + "/whole.db")
            try MetaStore.open(path: dir + "/whole.db").close()
        }
    }

    @Test func damagedAndInconsistentDumpsAreRefused() throws {
        try withVolume { s, _ in
            try DumpTests.populate(s)
            let good = DumpTests.text(try DumpTests.dumpBytes(s))
            let dir = makeTempDir()
            defer { removeTree(dir) }
            var n = 0
            func refused(_ text: String, _ why: String, recount: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
                n += 1
                var options = LoadOptions()
                options.recount = recount
                options.source = "case\(n)"
                do {
                    try DumpTests.load(Array(text.utf8), into: dir + "/c\(n).db", options: options)
                    Issue.record("loaded: expected \(why)", sourceLocation: sourceLocation)
                } catch let e as HilbertError {
                    #expect(e.message.contains(why), "\(e.message)", sourceLocation: sourceLocation)
                } catch {
                    Issue.record("\(error)", sourceLocation: sourceLocation)
                }
            }
            func withoutCRC(_ t: String) -> String {
                guard let r = t.firstRange(of: ",\"crc32c\":") else { return t }
                let rest = t[r.upperBound...]
                return String(t[..<r.lowerBound]) + String(rest[rest.firstIndex(of: "}")!...])
            }
            // A changed mode: valid JSON, caught by the checksum.
            refused(good.replacingFirst("\"mode\":33188", with: "\"mode\":33189"), "CRC-32C")
            // Without the checksum, the same change is accepted; other damage is not.
            refused(withoutCRC(good).replacingFirst("\"mode\":16877", with: "\"mode\":0"), "no file type")
            refused(withoutCRC(good).replacingFirst("\"ino\":2,", with: "\"ino\":2,\"extra\":1,"), "unknown member \"extra\"")
            refused(withoutCRC(good).replacingFirst("\"type\":8}", with: "\"type\":4}"), "does not match the mode")
            refused(withoutCRC(good).replacingFirst("\"hilbert-dump\":2", with: "\"hilbert-dump\":3"), "version 3")
            // Blocks in a pack the dump does not list.
            if let open = good.firstRange(of: "\"packs\":["), let close = good[open.upperBound...].firstRange(of: "]") {
                let emptied = String(good[..<open.upperBound]) + String(good[close.lowerBound...])
                refused(withoutCRC(emptied).replacingFirst("\"packs\":1,", with: "\"packs\":0,"), "lists no such pack")
            } else {
                Issue.record("no packs section in the dump")
            }
            refused(good + "x", "after the end of the dump")
            refused("", "the end of the file")
            refused("not json", "the start of a hilbert dump")
            // Counters that do not match the rows: refused, or recounted on request.
            let inodes = try s.usage().inodes
            let off = withoutCRC(good).replacingFirst("\"inodes\":\(inodes)", with: "\"inodes\":\(inodes + 1)")
            refused(off, "inodes \(inodes + 1) recorded, \(inodes) counted")
            var options = LoadOptions()
            options.recount = true
            let result = try DumpTests.load(Array(off.utf8), into: dir + "/recount.db", options: options)
            #expect(result.recounted.count == 1 && result.recounted[0].counted == Int64(inodes))
            let loaded = try MetaStore.open(path: dir + "/recount.db")
            #expect(try loaded.usage().inodes == inodes)
            loaded.close()
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = firstRange(of: target) else { return self }
        return String(self[..<r.lowerBound]) + replacement + String(self[r.upperBound...])
    }
}
