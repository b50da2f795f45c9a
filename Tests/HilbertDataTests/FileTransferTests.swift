import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

/// Write `content` to a new file, leaving holes where `holes` says (ranges of zeros not written).
func makeFile(_ path: String, _ content: [UInt8], holes: [Range<Int>] = []) throws -> Int32 {
    let fd = try Sys.open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
    try Sys.ftruncate(fd, Int64(content.count))
    var pos = 0
    for h in holes.sorted(by: { $0.lowerBound < $1.lowerBound }) + [content.count..<content.count] {
        if h.lowerBound > pos { try Sys.pwriteAll(fd, Array(content[pos..<h.lowerBound]), Int64(pos)) }
        pos = max(pos, h.upperBound)
    }
    return fd
}

@Suite struct FileTransferTests {
    let bs = 64 * 1024

    /// 7 blocks: 0 data, 1 hole, 2 data, 3 hole (sparse), 4 compressible, 5 explicit zeros, 6 odd tail.
    func sparseContent() -> (bytes: [UInt8], holes: [Range<Int>]) {
        var c = [UInt8](repeating: 0, count: 6 * bs + 1234)
        c.replaceSubrange(0..<bs, with: randomBytes(bs, seed: 11))
        c.replaceSubrange(2 * bs..<3 * bs - 100, with: randomBytes(bs - 100, seed: 12))   // last 100 bytes zero
        c.replaceSubrange(4 * bs..<5 * bs, with: compressibleBytes(bs))
        c.replaceSubrange(6 * bs..<6 * bs + 1234, with: randomBytes(1234, seed: 13))
        return (c, [bs..<2 * bs, 3 * bs..<4 * bs])
    }

    @Test func sparseRoundTrip() throws {
        let dir = TempDir()
        let store = LocalDirectoryStore(root: dir.path + "/store", syncWrites: false)
        let (content, holes) = sparseContent()
        let fd = try makeFile(dir.path + "/src", content, holes: holes)
        defer { Sys.close(fd) }
        let ids = IDAllocator()
        let r = try storeFile(fd: fd, size: Int64(content.count), blockSize: bs, previous: [], store: store,
                              allocateIDs: { ids.allocate($0) })
        #expect(r.blocks.map(\.index) == [0, 2, 4, 6])
        #expect(r.blocks.map(\.rawLength) == [UInt32(bs), UInt32(bs), UInt32(bs), 1234])
        #expect(r.newObjects.count == 4)
        #expect(Set(r.newObjects) == Set(r.blocks.map(\.objectID)))
        #expect(r.blocks[2].storedLength < UInt32(bs / 4))        // compressed
        #expect(try store.list(prefix: "chunks/").count == 4)
        for b in r.blocks { #expect(try store.head(b.key) == Int(b.storedLength)) }

        let out = try Sys.open(dir.path + "/dst", O_RDWR | O_CREAT, 0o644)
        defer { Sys.close(out) }
        try Sys.pwriteAll(out, randomBytes(10 * bs), 0)   // stale content must disappear
        try fetchFile(blocks: r.blocks, size: Int64(content.count), blockSize: bs, store: store, into: out)
        #expect(try readAll(fd: out) == content)
        let st = try Sys.fstat(out)
        #expect(Int(st.st_blocks) * 512 < content.count)             // holes stayed sparse

        // storeBytes gives the same block list shape, fetchBlock decodes single blocks
        let r2 = try storeBytes(content, blockSize: bs, previous: [], store: MemoryStore(), allocateIDs: { ids.allocate($0) })
        #expect(r2.blocks.map(\.crc) == r.blocks.map(\.crc))
        let tail = Array(content[(6 * bs)...])
        #expect(try fetchBlock(r.blocks[3], store: store) == tail)
    }

    @Test func edgeSizes() throws {
        let dir = TempDir()
        let store = MemoryStore()
        let ids = IDAllocator()
        for size in [0, 1, bs - 1, bs, bs + 1, 3 * bs] {
            let content = randomBytes(size, seed: UInt64(size) + 3)
            let fd = try makeFile(dir.path + "/f\(size)", content)
            let r = try storeFile(fd: fd, size: Int64(size), blockSize: bs, previous: [], store: store, allocateIDs: { ids.allocate($0) })
            Sys.close(fd)
            #expect(r.blocks.count == (size + bs - 1) / bs)
            let out = try Sys.open(dir.path + "/o\(size)", O_RDWR | O_CREAT, 0o644)
            try fetchFile(blocks: r.blocks, size: Int64(size), blockSize: bs, store: store, into: out)
            #expect(try readAll(fd: out) == content)
            Sys.close(out)
        }
        // size beyond the file's end reads as zeros (a hole)
        let fd = try makeFile(dir.path + "/short", [1, 2, 3])
        defer { Sys.close(fd) }
        let r = try storeFile(fd: fd, size: Int64(3 * bs), blockSize: bs, previous: [], store: store, allocateIDs: { ids.allocate($0) })
        #expect(r.blocks.map(\.index) == [0] && r.blocks[0].rawLength == UInt32(bs))
        #expect(throws: Errno.invalid) {
            _ = try storeFile(fd: fd, size: 3, blockSize: 0, previous: [], store: store, allocateIDs: { ids.allocate($0) })
        }
    }

    @Test func blockReuseOnAppendAndEdit() throws {
        let dir = TempDir()
        let counting = FaultyStore(wrapping: MemoryStore())
        let ids = IDAllocator()
        var content = randomBytes(5 * bs + 100, seed: 5)
        var fd = try makeFile(dir.path + "/f", content)
        let first = try storeFile(fd: fd, size: Int64(content.count), blockSize: bs, previous: [], store: counting,
                                  allocateIDs: { ids.allocate($0) })
        Sys.close(fd)
        #expect(counting.putCount == 6)
        counting.resetCounters()

        // Append 1.5 blocks: the old tail block (5) changes, one new block (6).
        content += randomBytes(bs + bs / 2, seed: 6)
        fd = try makeFile(dir.path + "/f", content)
        let second = try storeFile(fd: fd, size: Int64(content.count), blockSize: bs, previous: first.blocks, store: counting,
                                   allocateIDs: { ids.allocate($0) })
        #expect(counting.putCount == 2)
        #expect(second.newObjects.count == 2)
        #expect(second.blocks.map(\.index) == [0, 1, 2, 3, 4, 5, 6])
        #expect(Array(second.blocks[0..<5]) == Array(first.blocks[0..<5]))
        counting.resetCounters()

        // Edit one byte in block 2: one upload.
        try Sys.pwriteAll(fd, [content[2 * bs + 7] ^ 0xFF], Int64(2 * bs + 7))
        content[2 * bs + 7] ^= 0xFF
        let third = try storeFile(fd: fd, size: Int64(content.count), blockSize: bs, previous: second.blocks, store: counting,
                                  allocateIDs: { ids.allocate($0) })
        Sys.close(fd)
        #expect(counting.putCount == 1)
        #expect(third.newObjects == [third.blocks[2].objectID])
        #expect(third.blocks[2].objectID != second.blocks[2].objectID)

        let out = try Sys.open(dir.path + "/o", O_RDWR | O_CREAT, 0o644)
        defer { Sys.close(out) }
        try fetchFile(blocks: third.blocks, size: Int64(content.count), blockSize: bs, store: counting, into: out)
        #expect(try readAll(fd: out) == content)
    }

    @Test(arguments: [1, 2, 5, 19])
    func putFailureCleansUp(_ failAfter: Int) throws {
        let dir = TempDir()
        let local = LocalDirectoryStore(root: dir.path + "/store", syncWrites: false)
        let faulty = FaultyStore(wrapping: local)
        faulty.failPuts(next: 1, with: .noSpace, after: failAfter)
        let content = randomBytes(20 * bs + 5, seed: 9)
        let fd = try makeFile(dir.path + "/f", content)
        defer { Sys.close(fd) }
        let ids = IDAllocator()
        #expect(throws: Errno.noSpace) {
            _ = try storeFile(fd: fd, size: Int64(content.count), blockSize: bs, previous: [], store: faulty,
                              allocateIDs: { ids.allocate($0) })
        }
        #expect(DataErrors.last?.errno == .noSpace)
        #expect(try local.list(prefix: "").isEmpty)
        #expect(try Sys.listDirectory(dir.path + "/store/.tmp").isEmpty)
    }

    @Test func allocatorFailurePropagates() throws {
        let dir = TempDir()
        let store = MemoryStore()
        let content = randomBytes(40 * bs, seed: 10)
        let fd = try makeFile(dir.path + "/f", content)
        defer { Sys.close(fd) }
        var calls = 0
        #expect(throws: Errno.busy) {
            _ = try storeFile(fd: fd, size: Int64(content.count), blockSize: bs, previous: [], store: store,
                              allocateIDs: { (n: Int) throws(Errno) -> UInt64 in
                                  calls += 1
                                  if calls == 2 { throw Errno.busy }
                                  return UInt64(calls * 1000)
                              })
        }
        #expect(store.count == 0)
    }

    @Test func readFailurePropagates() throws {
        let store = MemoryStore()
        #expect(throws: Errno.badFD) {
            _ = try storeFile(fd: -1, size: Int64(10 * bs), blockSize: bs, previous: [], store: store, allocateIDs: { _ in 1 })
        }
    }

    @Test func fetchMissingOrCorruptIsEIO() throws {
        let dir = TempDir()
        let inner = MemoryStore()
        let faulty = FaultyStore(wrapping: inner)
        let content = randomBytes(8 * bs, seed: 21)
        let ids = IDAllocator()
        let r = try storeBytes(content, blockSize: bs, previous: [], store: faulty, allocateIDs: { ids.allocate($0) })
        let out = try Sys.open(dir.path + "/o", O_RDWR | O_CREAT, 0o644)
        defer { Sys.close(out) }

        faulty.drop(r.blocks[5].key)
        #expect(throws: Errno.io) {
            try fetchFile(blocks: r.blocks, size: Int64(content.count), blockSize: bs, store: faulty, into: out)
        }
        #expect(DataErrors.last?.message.contains("missing") == true)
        try inner.put(r.blocks[5].key, BlockCodec.encode(raw: Array(content[5 * bs..<6 * bs])))

        faulty.corruptGets(next: 1)
        #expect(throws: Errno.io) {
            try fetchFile(blocks: r.blocks, size: Int64(content.count), blockSize: bs, store: faulty, into: out)
        }
        // Object replaced by another valid block: CRC/length expectations catch it.
        try inner.put(r.blocks[3].key, BlockCodec.encode(raw: Array(content[4 * bs..<5 * bs])))
        #expect(throws: Errno.io) { _ = try fetchBlock(r.blocks[3], store: faulty) }
        try inner.put(r.blocks[3].key, BlockCodec.encode(raw: Array(content[3 * bs..<4 * bs])))

        faulty.failGets(next: 1, with: .access, after: 2)
        #expect(throws: Errno.access) {
            try fetchFile(blocks: r.blocks, size: Int64(content.count), blockSize: bs, store: faulty, into: out)
        }
        // Block lists that do not fit the size are refused.
        #expect(throws: Errno.io) {
            try fetchFile(blocks: r.blocks, size: Int64(content.count - 1), blockSize: bs, store: faulty, into: out)
        }
        try fetchFile(blocks: r.blocks, size: Int64(content.count), blockSize: bs, store: faulty, into: out)
        #expect(try readAll(fd: out) == content)
    }

    @Test func largeFilePipeline() throws {
        // 48 MiB in 4 MiB blocks, mixed compressible/random, through the threaded paths.
        let dir = TempDir()
        let store = LocalDirectoryStore(root: dir.path + "/store", syncWrites: false)
        let big = 4 << 20
        var content = [UInt8](); content.reserveCapacity(12 * big)
        for i in 0..<12 { content += i % 2 == 0 ? randomBytes(big, seed: UInt64(i) + 100) : compressibleBytes(big) }
        let fd = try makeFile(dir.path + "/f", content)
        defer { Sys.close(fd) }
        let ids = IDAllocator()
        let r = try storeFile(fd: fd, size: Int64(content.count), blockSize: big, previous: [], store: store,
                              allocateIDs: { ids.allocate($0) })
        #expect(r.blocks.count == 12)
        let out = try Sys.open(dir.path + "/o", O_RDWR | O_CREAT, 0o644)
        defer { Sys.close(out) }
        try fetchFile(blocks: r.blocks, size: Int64(content.count), blockSize: big, store: store, into: out)
        #expect(try readAll(fd: out) == content)
    }
}
