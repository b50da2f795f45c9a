import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

/// Write-behind (docs/FORMAT.md, "write-behind"): blocks stored while a staging file is written
/// are candidates that a commit takes only where the file still holds their bytes.
@Suite struct WriteBehindFileTests {
    static let blockSize = 16 << 10

    final class IDs {
        var next: UInt64 = 100
        var calls: [(count: Int, key: UInt64)] = []
        func allocate(_ n: Int, _ key: UInt64) throws(Errno) -> UInt64 {
            calls.append((n, key))
            next += UInt64(n)
            return next - UInt64(n)
        }
    }

    static func staging(_ dir: TempDir, _ bytes: [UInt8]) throws -> (path: String, fd: Int32, file: WriteBehindFile) {
        let path = dir.path + "/staging"
        let fd = try Sys.open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        try Sys.pwriteAll(fd, bytes, 0)
        let st = try Sys.fstat(fd)
        let file = WriteBehindFile(path: path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), blockSize: blockSize, committed: [])
        return (path, fd, file)
    }

    static func content(_ blocks: [StoredBlock], size: Int, store: ObjectStore, dir: TempDir) throws -> [UInt8] {
        let fd = try Sys.open(dir.path + "/check", O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { Sys.close(fd) }
        try fetchFile(blocks: blocks, size: Int64(size), blockSize: blockSize, store: store, into: fd)
        return try Sys.preadBytes(fd, count: size + 1, offset: 0)
    }

    @Test func storedBlocksAreTakenOnlyWhereTheFileStillHoldsThem() throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        var bytes = randomBytes(Self.blockSize * 6 + 100, seed: 7)
        let (_, fd, file) = try Self.staging(dir, bytes)
        defer { Sys.close(fd) }
        let ids = IDs()

        // Whole blocks with a whole block after them: 0…4 (block 5 is the last whole one).
        let due = file.due(size: Int64(bytes.count), limit: 10)
        #expect(due == [0, 1, 2, 3, 4])
        #expect(file.due(size: Int64(bytes.count), limit: 10).isEmpty, "in flight: not handed out twice")
        for i in due { file.store(i, into: store, codec: .none, level: 1, allocate: ids.allocate) }
        #expect(store.putCount == 5)
        #expect(ids.calls.count == 1 && ids.calls[0].key == 0, "one batch of ids under a new key")
        #expect(file.due(size: Int64(bytes.count), limit: 10).isEmpty, "stored blocks are settled")

        // Block 1 changes after it was stored (a write the engine never heard of), and the file
        // is cut inside block 4.
        let patch = randomBytes(10, seed: 8)
        try Sys.pwriteAll(fd, patch, Int64(Self.blockSize + 50))
        bytes.replaceSubrange(Self.blockSize + 50 ..< Self.blockSize + 60, with: patch)
        let cut = Self.blockSize * 4 + 7
        try Sys.ftruncate(fd, Int64(cut))
        bytes.removeLast(bytes.count - cut)

        let early = file.seal()
        #expect(early.blocks.map { $0.index } == [0, 1, 2, 3, 4])
        #expect(early.keys == [100], "the key is the first id of the first batch")
        store.resetCounters()
        let r = try storeFile(fd: fd, size: Int64(cut), blockSize: Self.blockSize, codec: .none, previous: [], early: early.blocks,
                              store: store, allocateIDs: { (n: Int) throws(Errno) -> UInt64 in try ids.allocate(n, 0) })
        #expect(store.putCount == 2, "block 1 (changed) and block 4 (cut) are stored again")
        let taken = Set(r.blocks.map { $0.objectID })
        let kept = early.blocks.filter { taken.contains($0.objectID) }.map { $0.index }
        #expect(kept == [0, 2, 3])
        #expect(try Self.content(r.blocks, size: cut, store: store, dir: dir) == bytes)
    }

    @Test func holesZerosAndCommittedBlocksAreNotStored() throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        let bs = Self.blockSize
        var bytes = randomBytes(bs * 2, seed: 3)                      // blocks 0, 1: data
        bytes += [UInt8](repeating: 0, count: bs)                     // block 2: written zeros
        let (_, fd, file) = try Self.staging(dir, bytes)
        defer { Sys.close(fd) }
        try Sys.ftruncate(fd, Int64(bs * 6))                          // blocks 3…5: a hole
        try Sys.pwriteAll(fd, randomBytes(bs, seed: 4), Int64(bs * 6)) // block 6: data
        try Sys.ftruncate(fd, Int64(bs * 8))
        // Block 1 equals the committed version's block 1.
        var id: UInt64 = 1
        let committed = try storeBytes(bytes, blockSize: bs, codec: .none, previous: [], store: store,
                                       allocateIDs: { (n: Int) throws(Errno) -> UInt64 in id += UInt64(n); return id - UInt64(n) })
        file.reopen(committed: committed.blocks.filter { $0.index == 1 })
        store.resetCounters()
        let due = file.due(size: Int64(bs * 8), limit: 10)
        #expect(due == [0, 1, 2, 6], "holes are skipped")
        let ids = IDs()
        for i in due { file.store(i, into: store, codec: .none, level: 1, allocate: ids.allocate) }
        #expect(store.putCount == 2, "blocks 0 and 6: block 1 equals the committed block, block 2 is zeros")
        #expect(file.seal().blocks.map { $0.index } == [0, 6])
    }

    @Test func aFailedPutStoresNothingAndPauses() throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        let (_, fd, file) = try Self.staging(dir, randomBytes(Self.blockSize * 4, seed: 5))
        defer { Sys.close(fd) }
        store.failPuts(next: 1)
        let ids = IDs()
        let due = file.due(size: Int64(Self.blockSize * 4), limit: 1)
        #expect(due == [0])
        file.store(0, into: store, codec: .none, level: 1, allocate: ids.allocate)
        #expect(file.due(size: Int64(Self.blockSize * 4), limit: 10).isEmpty, "paused after a failure")
        #expect(file.seal().blocks.isEmpty)
        #expect(try store.list(prefix: "").isEmpty, "nothing left in the store")
    }
}
