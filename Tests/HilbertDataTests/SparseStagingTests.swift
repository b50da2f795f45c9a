import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

/// Sparse staging files (docs/FORMAT.md, "Sparse staging files"), against a reference model:
/// random writes, appends, truncates and reads through two writers of one staging file (two
/// processes of a node), each followed now and then by a commit (storeFile keeping the blocks
/// never brought in) whose result must equal the model, byte for byte, and upload no block that
/// was not brought in.
@Suite struct SparseStagingTests {
    static let blockSize = 16 << 10

    /// A file committed in `store`: its bytes and blocks.
    static func commit(_ bytes: [UInt8], store: ObjectStore, next: inout UInt64) throws -> [BlockRef] {
        var id = next
        let r = try storeBytes(bytes, blockSize: blockSize, codec: .none, previous: [], store: store,
                               allocateIDs: { (n: Int) throws(Errno) -> UInt64 in id += UInt64(n); return id - UInt64(n) })
        next = id
        return r.blocks
    }

    static func readAll(_ blocks: [BlockRef], size: Int64, store: ObjectStore, dir: String) throws -> [UInt8] {
        let fd = try Sys.open(dir + "/check", O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { Sys.close(fd) }
        try fetchFile(blocks: blocks, size: size, blockSize: blockSize, store: store, into: fd)
        return try Sys.preadBytes(fd, count: Int(size) + 1, offset: 0)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func randomOperationsMatchTheModel(_ seed: UInt64) throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        var rng = SeededRandom(seed: seed)
        var nextID: UInt64 = 1
        var model = randomBytes(Self.blockSize * 9 + 321, seed: seed)
        var blocks = try Self.commit(model, store: store, next: &nextID)
        var version: UInt64 = 1

        for round in 0..<6 {
            // A writer opens the committed file: a hole of its size and the map.
            let path = dir.path + "/staging-\(round)"
            let seedFD = try Sys.open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
            let a = try SparseStaging.create(stagingPath: path, fd: seedFD, baseVersion: version, size: Int64(model.count),
                                             blockSize: Self.blockSize, blocks: blocks, store: store)
            Sys.close(seedFD)
            let fdA = try Sys.open(path, O_RDWR)
            let fdB = try Sys.open(path, O_RDWR)
            let b = try #require(try SparseStaging.open(stagingPath: path, fd: fdB, blocks: blocks, store: store))
            #expect(b.inode == a.inode && b.untouched.count == a.untouched.count)
            let baseBlocks = a.baseBlocks
            for _ in 0..<40 {
                let (s, fd) = rng.next() % 2 == 0 ? (a, fdA) : (b, fdB)
                let size = model.count
                switch rng.next() % 5 {
                case 0, 1:   // write somewhere (past the end too, often just past it)
                    let off = rng.next() % 3 == 0 ? size + Int(rng.next() % 4096) : Int(rng.next() % UInt64(size + Self.blockSize))
                    let len = 1 + Int(rng.next() % UInt64(2 * Self.blockSize))
                    let bytes = randomBytes(len, seed: rng.next())
                    try s.prepare(fd: fd, offset: Int64(off), length: Int64(len))
                    try Sys.pwriteAll(fd, bytes, Int64(off))
                    if off + len > model.count { model += [UInt8](repeating: 0, count: off + len - model.count) }
                    model.replaceSubrange(off..<(off + len), with: bytes)
                case 2:      // append
                    let bytes = randomBytes(1 + Int(rng.next() % 3000), seed: rng.next())
                    try s.prepareAppend()
                    try Sys.pwriteAll(fd, bytes, Int64(model.count))
                    model += bytes
                case 3:      // truncate, down or up
                    let new = Int(rng.next() % UInt64(size + Self.blockSize))
                    try s.prepareTruncate(fd: fd, size: Int64(new))
                    try Sys.ftruncate(fd, Int64(new))
                    if new < model.count { model.removeSubrange(new...) } else { model += [UInt8](repeating: 0, count: new - model.count) }
                default:     // read
                    let off = Int(rng.next() % UInt64(size + 10))
                    let len = 1 + Int(rng.next() % UInt64(Self.blockSize * 2))
                    try s.prepare(fd: fd, offset: Int64(off), length: Int64(len))
                    let got = try Sys.preadBytes(fd, count: len, offset: Int64(off))
                    #expect(got == Array(model[min(off, model.count)..<min(off + len, model.count)]), "read \(off)+\(len)")
                }
            }
            // Commit: blocks never brought in are taken as they are, without reading or uploading.
            let untouched = a.untouched
            #expect(untouched == b.untouched)
            store.resetCounters()
            var id = nextID
            let r = try storeFile(fd: fdA, size: Int64(model.count), blockSize: Self.blockSize, codec: .none, previous: blocks,
                                  keep: untouched, store: store,
                                  allocateIDs: { (n: Int) throws(Errno) -> UInt64 in id += UInt64(n); return id - UInt64(n) })
            nextID = id
            #expect(r.newObjects.count <= baseBlocks + model.count / Self.blockSize + 1 - untouched.count)
            #expect(store.getCount == 0, "a commit reads the staging file, not the store")
            for i in untouched { #expect(r.blocks.contains(where: { $0.index == UInt32(i) && blocks.contains($0) })) }
            blocks = r.blocks
            version += 1
            #expect(try Self.readAll(blocks, size: Int64(model.count), store: store, dir: dir.path) == model, "round \(round)")
            Sys.close(fdA); Sys.close(fdB)
            a.removeMap()
        }
    }

    @Test func bringingInWritesThroughItsOwnDescriptorNotAnAppender() throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        var next: UInt64 = 1
        let base = randomBytes(Self.blockSize * 3 + 10, seed: 5)
        let blocks = try Self.commit(base, store: store, next: &next)
        let path = dir.path + "/staging"
        let fd = try Sys.open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        let s = try SparseStaging.create(stagingPath: path, fd: fd, baseVersion: 1, size: Int64(base.count),
                                         blockSize: Self.blockSize, blocks: blocks, store: store)
        Sys.close(fd)
        let appender = try Sys.open(path, O_WRONLY | O_APPEND)
        defer { Sys.close(appender) }
        try s.prepareAppend()
        #expect(s.untouched == [0, 1, 2], "only the last block is brought in for an appender")
        try Sys.pwriteAll(appender, Array("tail".utf8), 0)   // O_APPEND: at the end whatever the offset
        try s.prepareWhole(fd: appender)
        #expect(s.isWhole)
        let reader = try Sys.open(path, O_RDONLY)
        defer { Sys.close(reader) }
        #expect(try Sys.preadBytes(reader, count: base.count + 10, offset: 0) == base + Array("tail".utf8))
    }
}

extension SparseStagingTests {
    /// Bytes written past the base's end but inside its last block belong to that block.
    @Test func aWritePastTheEndInsideTheLastBlockBringsItIn() throws {
        let dir = TempDir()
        let store = FaultyStore(wrapping: LocalDirectoryStore(root: dir.path + "/store", syncWrites: false))
        var next: UInt64 = 1
        let base = randomBytes(Self.blockSize * 2 + 100, seed: 8)
        let blocks = try Self.commit(base, store: store, next: &next)
        let path = dir.path + "/staging"
        let fd = try Sys.open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        defer { Sys.close(fd) }
        let s = try SparseStaging.create(stagingPath: path, fd: fd, baseVersion: 1, size: Int64(base.count),
                                         blockSize: Self.blockSize, blocks: blocks, store: store)
        try s.prepare(fd: fd, offset: Int64(base.count + 50), length: 10)
        try Sys.pwriteAll(fd, [UInt8](repeating: 9, count: 10), Int64(base.count + 50))
        #expect(s.untouched == [0, 1])
        var id = next
        let r = try storeFile(fd: fd, size: Int64(base.count + 60), blockSize: Self.blockSize, codec: .none, previous: blocks,
                              keep: s.untouched, store: store,
                              allocateIDs: { (n: Int) throws(Errno) -> UInt64 in id += UInt64(n); return id - UInt64(n) })
        let want = base + [UInt8](repeating: 0, count: 50) + [UInt8](repeating: 9, count: 10)
        #expect(try Self.readAll(r.blocks, size: Int64(want.count), store: store, dir: dir.path) == want)
    }
}

/// Deterministic randomness for the model tests (splitmix64).
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
