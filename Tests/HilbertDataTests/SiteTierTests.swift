import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

@Suite struct SiteTierTests {
    static let bs = 64 << 10

    /// A store with one file of `count` blocks, read through a site tier under `dir`.
    static func volume(_ dir: TempDir, blocks count: Int = 3, capacity: Int64? = nil)
        throws -> (store: FaultyStore, tier: SiteTier, blocks: [StoredBlock], content: [UInt8]) {
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        let content = randomBytes(count * bs - 100, seed: 11)
        let ids = IDAllocator()
        let r = try storeBytes(content, blockSize: bs, codec: .none, previous: [], store: store, allocateIDs: { ids.allocate($0) })
        let tier = try SiteTier.open(root: dir.path + "/site", volumeUUID: "vol", capacity: capacity)
        store.resetCounters()
        return (store, tier, r.blocks, content)
    }

    @Test func layoutAndAReadThroughFillsItOnceForEveryNode() throws {
        let dir = TempDir()
        let (store, tier, blocks, content) = try SiteTierTests.volume(dir)
        for sub in ["objects", "tmp"] {
            let st = try Sys.stat(dir.path + "/site/vol/" + sub)
            #expect(st.st_mode & 0o7777 == 0o700)
        }
        // Two nodes: two SiteTierStores over one directory and one store.
        let node1 = SiteTierStore(store, tier: tier)
        let node2 = SiteTierStore(store, tier: try SiteTier.open(root: dir.path + "/site/", volumeUUID: "vol", capacity: nil))
        var read1: [UInt8] = []
        for b in blocks { read1 += try fetchBlock(b, store: node1) }
        #expect(read1 == content)
        #expect(store.getCount == blocks.count)
        for b in blocks {
            #expect(tier.contains(b.key))
            #expect((try Sys.stat(tier.path(b.key))).st_mode & 0o777 == 0o600)
        }
        var read2: [UInt8] = []
        for b in blocks { read2 += try fetchBlock(b, store: node2) }
        #expect(read2 == content)
        #expect(store.getCount == blocks.count)        // node 2 read the site's copies only
        #expect(try Sys.listDirectory(tier.tmpDirectory).isEmpty)
        // Other keys are never kept.
        try node1.put("hilbert-probe/x", [1, 2, 3])
        #expect(try node1.get("hilbert-probe/x") == [1, 2, 3])
        #expect(!tier.contains("hilbert-probe/x"))
        // Deleting through the tier drops its copy.
        try node1.delete(blocks[0].key)
        #expect(!tier.contains(blocks[0].key))
    }

    @Test func aRangedReadOfAMissFetchesTheWholeObjectIntoTheTier() throws {
        let dir = TempDir()
        let (store, tier, blocks, _) = try SiteTierTests.volume(dir, blocks: 1)
        let node = SiteTierStore(store, tier: tier)
        let whole = try store.get(blocks[0].key)
        store.resetCounters()
        #expect(try node.getRange(blocks[0].key, offset: 10, length: 100) == Array(whole[10..<110]))
        #expect(store.getCount == 1)
        #expect(try node.getRange(blocks[0].key, offset: whole.count - 5, length: 100) == Array(whole.suffix(5)))
        #expect(try node.getRange(blocks[0].key, offset: whole.count + 5, length: 100) == [])
        #expect(store.getCount == 1)
    }

    @Test func concurrentFillersFetchOnce() throws {
        let dir = TempDir()
        let (store, tier, blocks, _) = try SiteTierTests.volume(dir, blocks: 1)
        store.delayGets(seconds: 0.2)
        let key = blocks[0].key
        final class Results: @unchecked Sendable { let lock = Lock(); var fetched = 0; var bytes: [[UInt8]] = [] }
        let results = Results()
        // Each thread its own SiteTier: as separate processes (nodes) would be.
        let threads = WorkerThreads.start(8) { _ in
            guard let t = try? SiteTier.open(root: dir.path + "/site", volumeUUID: "vol", capacity: nil),
                  let r = try? t.fill(key, fetch: { () throws(Errno) -> [UInt8] in try store.get(key) }) else { return }
            results.lock.withLock { results.fetched += r.fetched ? 1 : 0; results.bytes.append(r.bytes) }
        }
        threads.join()
        #expect(results.bytes.count == 8)
        #expect(results.fetched == 1)
        #expect(store.getCount == 1)
        #expect(Set(results.bytes).count == 1)
        #expect(tier.read(key) == results.bytes.first)
    }

    @Test func aDeadFillersClaimIsTakenOver() throws {
        let dir = TempDir()
        let (store, tier, blocks, _) = try SiteTierTests.volume(dir, blocks: 1)
        let key = blocks[0].key
        let claim = tier.tmpDirectory + "/\(parseObjectKey(key)!).fill"
        let fd = try Sys.open(claim, O_WRONLY | O_CREAT, 0o600)
        Sys.close(fd)
        try setMtime(claim, seconds: time(nil) - 3600)
        let r = try tier.fill(key) { () throws(Errno) -> [UInt8] in try store.get(key) }
        #expect(r.fetched)
        #expect(tier.contains(key))
        #expect((try? Sys.lstat(claim)) == nil)
        // A live claim is waited for, then the reader fetches itself (bounded wait).
        tier.drop(key)
        let fd2 = try Sys.open(claim, O_WRONLY | O_CREAT, 0o600)
        Sys.close(fd2)
        tier.waitForFillSeconds = 0.3
        let r2 = try tier.fill(key) { () throws(Errno) -> [UInt8] in try store.get(key) }
        #expect(r2.fetched && r2.bytes == r.bytes)
    }

    @Test(arguments: ["flip", "truncate"])
    func aDamagedCopyIsDroppedAndTheStoreRead(_ damage: String) throws {
        let dir = TempDir()
        let (store, tier, blocks, content) = try SiteTierTests.volume(dir, blocks: 2)
        let node = SiteTierStore(store, tier: tier)
        _ = try fetchBlock(blocks[1], store: node)
        let path = tier.path(blocks[1].key)
        if damage == "flip" {
            let fd = try Sys.open(path, O_RDWR)
            try Sys.pwriteAll(fd, [0xFF, 0x00, 0xFF], 200)
            Sys.close(fd)
        } else {
            #expect(Glibc.truncate(path, 100) == 0)
        }
        store.resetCounters()
        #expect(try fetchBlock(blocks[1], store: node) == Array(content[SiteTierTests.bs...]))
        #expect(store.getCount == 1)
        #expect(try fetchBlock(blocks[1], store: node) == Array(content[SiteTierTests.bs...]))   // the copy made again
        #expect(store.getCount == 1)
        // With the store failing too, the read is EIO, never wrong bytes.
        #expect(Glibc.truncate(path, 100) == 0)
        store.failGets(next: 10)
        #expect(throws: Errno.io) { _ = try fetchBlock(blocks[1], store: node) }
        #expect(!tier.contains(blocks[1].key))
    }

    @Test func evictionKeepsTheLimitAndTheRecentlyUsed() throws {
        let dir = TempDir()
        let (store, tier, blocks, _) = try SiteTierTests.volume(dir, blocks: 16, capacity: 8 * Int64(SiteTierTests.bs))
        let node = SiteTierStore(store, tier: tier)
        for b in blocks.prefix(4) { _ = try fetchBlock(b, store: node) }
        // Make the first two the oldest, the next two recently used.
        for (i, b) in blocks.prefix(4).enumerated() { try setMtime(tier.path(b.key), seconds: time(nil) - (i < 2 ? 7200 : 60)) }
        for b in blocks.dropFirst(4) { _ = try fetchBlock(b, store: node) }
        tier.evictIfNeeded()
        let used = tier.usage()
        #expect(used.bytes <= tier.capacityBytes)
        #expect(!tier.contains(blocks[0].key) && !tier.contains(blocks[1].key))
        #expect(tier.contains(blocks[15].key))
        #expect(tier.clear().files == used.files)
        #expect(tier.usage().files == 0)
    }

    @Test func aRootOthersCanWriteIsRefused() throws {
        let dir = TempDir()
        try Sys.mkdir(dir.path + "/open", 0o777)
        #expect(Glibc.chmod(dir.path + "/open", 0o777) == 0)
        #expect(throws: HilbertError.self) { _ = try SiteTier.open(root: dir.path + "/open", volumeUUID: "v", capacity: nil) }
        #expect(throws: HilbertError.self) { _ = try SiteTier.open(root: "relative/dir", volumeUUID: "v", capacity: nil) }
    }
}

private func setMtime(_ path: String, seconds: Int) throws {
    var t = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
    guard utimensat(AT_FDCWD, path, &t, 0) == 0 else { throw Errno.current }
}

@Suite struct PackCopyStoreTests {
    @Test func packCopiesServeReadsAreCountedAndADamagedOneIsDropped() throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        let contents = [randomBytes(5000, seed: 1), randomBytes(3000, seed: 2), randomBytes(7000, seed: 3)]
        let (bytes, blocks) = PackReadTests.packOf(contents, id: 9, codec: .none)
        try PackReadTests.put(store, 9, bytes)
        let cache = try CacheDirectory(root: dir.path + "/cache", volumeUUID: "v", capacityBytes: 64 << 20)
        let node = PackCopyStore(store, cache: cache)
        try cache.installPackCopy(id: 9, bytes)
        #expect(cache.countedBytes() >= Int64(bytes.count))
        #expect(cache.usage().files == 1)
        store.failGets(next: 100)            // the store is gone: the copy serves every block
        for (b, c) in zip(blocks, contents) { #expect(try fetchBlock(b, store: node) == c) }
        #expect(try node.get(objectKey(id: 9)) == bytes)
        // A damaged copy is dropped; with the store back, the block reads from it.
        let fd = try Sys.open(cache.packCopyPath(id: 9), O_RDWR)
        try Sys.pwriteAll(fd, [UInt8](repeating: 0xAA, count: 64), Int64(blocks[1].objectOffset) + 40)
        Sys.close(fd)
        store.failGets(next: 0)
        PackCache.shared.forget(blocks[1], store: node)   // kept in memory by the reads above
        #expect(try fetchBlock(blocks[1], store: node) == contents[1])
        #expect(cache.openPackCopy(id: 9) == nil)
        #expect(cache.countedBytes() == 0)
    }
}
