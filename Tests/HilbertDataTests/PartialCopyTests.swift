import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

/// Partial read copies (docs/FORMAT.md, "Partial read copies"): a read fetches the blocks it
/// touches, sequential reads fetch ahead, every block is fetched once per node, a whole copy
/// becomes the ordinary read copy, and a copy larger than its budget evicts blocks behind the
/// reader without a reader ever seeing a byte of a block that was not there.
@Suite struct PartialCopyTests {
    final class Fixture {
        let dir = TempDir()
        let store: FaultyStore
        let cache: CacheDirectory
        let content: [UInt8]
        let blocks: [BlockRef]
        let blockSize = 64 << 10
        var nextID: UInt64 = 1

        init(size: Int, capacity: Int64? = nil) throws {
            store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
            cache = try CacheDirectory(root: dir.path + "/cache", volumeUUID: "vol", capacityBytes: capacity)
            content = randomBytes(size, seed: 11)
            let fd = try Sys.open(dir.path + "/source", O_RDWR | O_CREAT | O_TRUNC, 0o600)
            defer { Sys.close(fd) }
            try Sys.pwriteAll(fd, content, 0)
            var next: UInt64 = 1
            blocks = try storeFile(fd: fd, size: Int64(size), blockSize: blockSize, codec: .none, previous: [], store: store,
                                   allocateIDs: { (n: Int) throws(Errno) -> UInt64 in next += UInt64(n); return next - UInt64(n) }).blocks
        }

        func open() throws -> PartialCopy {
            try PartialCopy.open(cache: cache, ino: 5, version: 1, size: Int64(content.count), blockSize: blockSize,
                                 blocks: blocks, store: store)
        }

        /// What a program's descriptor on the copy reads at `offset`.
        func read(_ c: PartialCopy, _ fd: Int32, _ offset: Int, _ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0xEE, count: count)
            let n = try out.withUnsafeMutableBytes { b in
                var iov = iovec(iov_base: b.baseAddress, iov_len: count)
                return try withUnsafePointer(to: &iov) { p in
                    try c.read(programFD: fd, iov: UnsafeRawPointer(p), iovcnt: 1, length: count, offset: Int64(offset))
                }
            }
            return Array(out.prefix(n))
        }

        func expected(_ offset: Int, _ count: Int) -> [UInt8] {
            Array(content[min(offset, content.count)..<min(offset + count, content.count)])
        }
    }

    static func programFD(_ c: PartialCopy) throws -> Int32 { try Sys.open("/proc/self/fd/\(c.fd)", O_RDONLY) }

    @Test func aReadFetchesOnlyTheBlocksItTouches() throws {
        let f = try Fixture(size: 20 * (64 << 10) + 1234)
        let c = try f.open()
        let fd = try Self.programFD(c)
        defer { Sys.close(fd) }
        f.store.resetCounters()
        #expect(try f.read(c, fd, 5 * f.blockSize + 100, 1000) == f.expected(5 * f.blockSize + 100, 1000))
        #expect(f.store.getCount == 1)
        #expect(try f.read(c, fd, 5 * f.blockSize + 5000, 10) == f.expected(5 * f.blockSize + 5000, 10))
        #expect(f.store.getCount == 1, "a block already there is not fetched again")
        #expect(try f.read(c, fd, 12 * f.blockSize - 10, 20) == f.expected(12 * f.blockSize - 10, 20))
        #expect(f.store.getCount == 3, "a read across a boundary fetches both blocks")
        #expect(try f.read(c, fd, f.content.count - 5, 100) == f.expected(f.content.count - 5, 100))
        #expect(try f.read(c, fd, f.content.count + 10, 100) == [], "past the end: nothing")
        #expect(!c.isComplete)
        let st = try Sys.fstat(c.fd)
        #expect(Int(st.st_blocks) * 512 <= 4 * f.blockSize + 65536, "sparse: \(st.st_blocks * 512) bytes allocated")
    }

    @Test func aSequentialReadCompletesTheCopyFetchingEachBlockOnce() throws {
        let f = try Fixture(size: 30 * (64 << 10) + 77)
        let c = try f.open()
        let fd = try Self.programFD(c)
        defer { Sys.close(fd) }
        f.store.resetCounters()
        var got: [UInt8] = []
        while true {
            let chunk = try f.read(c, fd, got.count, 10_000)
            if chunk.isEmpty { break }
            got += chunk
        }
        #expect(got == f.content)
        #expect(f.store.getCount == 31)
        #expect(c.isComplete)
        let whole = f.cache.readCopyPath(ino: 5, version: 1)
        let st = try Sys.stat(whole)
        #expect(st.st_mode & 0o777 == 0o400 && UInt64(st.st_ino) == c.inode, "the copy is the read copy now")
        #expect(!Sys.exists(whole + ".part") && !Sys.exists(whole + ".part.map"))
        #expect(f.cache.openReadCopy(ino: 5, version: 1) != nil)
    }

    @Test func aSecondReaderJoinsTheCopyOfTheNode() throws {
        let f = try Fixture(size: 8 * (64 << 10))
        let a = try f.open()
        let fa = try Self.programFD(a)
        defer { Sys.close(fa) }
        _ = try f.read(a, fa, 3 * f.blockSize + 1, 100)
        let b = try f.open()
        #expect(b.inode == a.inode && b.device == a.device)
        let fb = try Self.programFD(b)
        defer { Sys.close(fb) }
        f.store.resetCounters()
        #expect(try f.read(b, fb, 3 * f.blockSize, 4096) == f.expected(3 * f.blockSize, 4096))
        #expect(f.store.getCount == 0, "the block another reader fetched is there")
    }

    @Test func aCopyLargerThanItsBudgetEvictsBehindTheReader() throws {
        // Capacity 1 byte: the budget is its floor, four blocks.
        let f = try Fixture(size: 40 * (64 << 10) + 5, capacity: 1)
        let c = try f.open()
        #expect(c.budget == Int64(4 * f.blockSize))
        let fd = try Self.programFD(c)
        defer { Sys.close(fd) }
        var offset = 0
        var most = 0
        while offset < f.content.count {
            #expect(try f.read(c, fd, offset, 16384) == f.expected(offset, 16384))
            offset += 16384
            most = max(most, Int(try Sys.fstat(c.fd).st_blocks) * 512)
        }
        #expect(most <= Int(c.budget) + (c.maxWindow + 2) * f.blockSize, "at most \(most) bytes held")
        // The cache's shared count is what the cache directory holds: blocks punched out of the
        // copy, or the whole copy evicted (unlinked; a capacity of 1 byte), left it.
        let inCache = c.cache.usage().bytes
        #expect(abs(c.cache.countedBytes() - inCache) <= Int64(f.blockSize), "counted \(c.cache.countedBytes()), in the cache \(inCache)")
        #expect(!c.isComplete)
        #expect(throws: Errno.noSpace) { try c.fillAll() }

        // Readers in two threads at random offsets, each evicting what the other reads: every
        // byte they get is the file's (the sequence check of each read).
        final class Failures: @unchecked Sendable { let lock = Lock(); var count = 0; var errors = 0 }
        let failures = Failures()
        let threads = (0..<2).map { t in
            Thread {
                var rng = SystemRandomNumberGenerator()
                for _ in 0..<150 {
                    let off = Int.random(in: 0..<f.content.count, using: &rng)
                    let len = Int.random(in: 1...(3 * f.blockSize), using: &rng)
                    do {
                        if try f.read(c, fd, off, len) != f.expected(off, len) { failures.lock.withLock { failures.count += 1 } }
                    } catch { failures.lock.withLock { failures.errors += 1 } }
                }
                _ = t
            }
        }
        threads.forEach { $0.join() }
        #expect(failures.count == 0, "wrong bytes")
        #expect(failures.errors == 0, "errors")
    }

    @Test func aMissingObjectIsAnIOErrorNamingIt() throws {
        let f = try Fixture(size: 6 * (64 << 10))
        try f.store.delete(objectKey(id: f.blocks[2].objectID))
        let c = try f.open()
        let fd = try Self.programFD(c)
        defer { Sys.close(fd) }
        #expect(try f.read(c, fd, 0, 100) == f.expected(0, 100))
        #expect(throws: Errno.io) { _ = try f.read(c, fd, 2 * f.blockSize + 10, 10) }
        #expect(DataErrors.last?.message.contains("is missing") == true)
        #expect(try f.read(c, fd, 3 * f.blockSize, 10) == f.expected(3 * f.blockSize, 10), "other blocks still read")
    }

    @Test func fillAllMakesTheWholeCopy() throws {
        let f = try Fixture(size: 9 * (64 << 10) + 3)
        let c = try f.open()
        try c.fillAll()
        #expect(c.isComplete)
        let copy = try #require(f.cache.openReadCopy(ino: 5, version: 1))
        defer { Sys.close(copy) }
        #expect(try Sys.preadBytes(copy, count: f.content.count + 10, offset: 0) == f.content)
    }
}

/// A joinable thread for tests.
final class Thread {
    private var tid = pthread_t()
    init(_ body: @escaping () -> Void) {
        final class Box { let run: () -> Void; init(_ r: @escaping () -> Void) { run = r } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&tid, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, box)
    }
    func join() { pthread_join(tid, nil) }
}
