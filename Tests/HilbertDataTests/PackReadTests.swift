import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

/// Pack objects (docs/FORMAT.md, "Extents and packs"): a pack is the magic then blocks; a block
/// is read alone (one ranged GET), and a process reading a second block of the same pack takes
/// the whole pack once (PackCache): about one GET per pack for a directory read in order.
@Suite struct PackReadTests {
    static func packOf(_ contents: [[UInt8]], id: UInt64, codec: BlockCompression) -> (bytes: [UInt8], blocks: [BlockRef]) {
        var b = PackBuilder(compression: codec, capacity: 1 << 20)
        let refs = contents.map { b.add($0, objectID: id) }
        return (b.bytes, refs)
    }

    static func put(_ store: ObjectStore, _ id: UInt64, _ bytes: [UInt8]) throws {
        var failure: Errno?
        bytes.withUnsafeBytes { b in
            do throws(Errno) { try store.put(objectKey(id: id), b) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    @Test(arguments: [BlockCompression.none, .zstd])
    func blocksReadBackAndAPackIsFetchedWholeOnce(_ codec: BlockCompression) throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        let contents = [randomBytes(5000, seed: 1), [UInt8](repeating: 7, count: 3000), randomBytes(1, seed: 3), randomBytes(70_000, seed: 4)]
        let (bytes, blocks) = PackReadTests.packOf(contents, id: 42, codec: codec)
        #expect(Array(bytes.prefix(8)) == Array("HLPACK01".utf8))
        #expect(blocks.allSatisfy { $0.isPacked && $0.objectOffset >= 8 && $0.index == 0 })
        #expect(blocks.map { $0.rawLength } == contents.map { UInt32($0.count) })
        #expect(Int(blocks.last!.objectOffset) + Int(blocks.last!.storedLength) == bytes.count)
        try PackReadTests.put(store, 42, bytes)
        store.resetCounters()
        #expect(try fetchBlock(blocks[2], store: store) == contents[2])
        #expect(store.getCount == 1)          // its bytes alone
        #expect(try fetchBlock(blocks[0], store: store) == contents[0])
        #expect(store.getCount == 2)          // a second block of the pack: the whole pack
        #expect(try fetchBlock(blocks[1], store: store) == contents[1])
        #expect(try fetchBlock(blocks[3], store: store) == contents[3])
        #expect(store.getCount == 2)          // the rest from it
    }

    @Test func aDamagedBlockInAPackIsAnErrorNamingIt() throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        let (bytes, blocks) = PackReadTests.packOf([randomBytes(4096, seed: 5), randomBytes(4096, seed: 6)], id: 7, codec: .none)
        try PackReadTests.put(store, 7, bytes)
        store.corruptGets(next: 1)
        #expect(throws: Errno.io) { _ = try fetchBlock(blocks[1], store: store) }
        #expect(DataErrors.last?.message.contains("of pack \(objectKey(id: 7))") == true)
        // A block whose row says more bytes than the pack has.
        var long = blocks[1]
        long.storedLength += 10
        #expect(throws: Errno.io) { _ = try fetchBlock(long, store: store) }
        // Intact, it reads.
        #expect(try fetchBlock(blocks[0], store: store) == randomBytes(4096, seed: 5))
    }
}
