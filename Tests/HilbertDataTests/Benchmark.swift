import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

/// Stores, re-commits unchanged and fetches a file (half random, half text), checks that the
/// re-commit stores nothing and the fetched bytes are the source's, and prints throughput.
/// 16 MiB in the suite; HILBERT_BENCH=<MiB> swift test -c release --filter HilbertDataTests.benchmark
/// for a measurement.
@Test func benchmark() throws {
    let mib = Int(getEnv("HILBERT_BENCH") ?? "") ?? 16
    let dir = TempDir()
    let bs = 4 << 20
    let fd = try Sys.open(dir.path + "/src", O_RDWR | O_CREAT, 0o644)
    defer { Sys.close(fd) }
    let rnd = randomBytes(bs), txt = compressibleBytes(bs)
    for i in 0..<(mib / 4) { try Sys.pwriteAll(fd, i % 2 == 0 ? rnd.map { $0 ^ UInt8(truncatingIfNeeded: i) } : txt, Int64(i * bs)) }
    let size = Int64(mib / 4 * bs)
    let store = LocalDirectoryStore(root: dir.path + "/store", syncWrites: false)
    func now() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 }
    var next: UInt64 = 1
    var t0 = now()
    let r = try storeFile(fd: fd, size: size, blockSize: bs, previous: [], store: store, allocateIDs: { n in defer { next += UInt64(n) }; return next })
    let tStore = now() - t0
    t0 = now()
    let r2 = try storeFile(fd: fd, size: size, blockSize: bs, previous: r.blocks, store: store, allocateIDs: { n in defer { next += UInt64(n) }; return next })
    let tRecommit = now() - t0
    #expect(r2.newObjects.isEmpty)
    let out = try Sys.open(dir.path + "/dst", O_RDWR | O_CREAT, 0o644)
    defer { Sys.close(out) }
    t0 = now()
    try fetchFile(blocks: r.blocks, size: size, blockSize: bs, store: store, into: out)
    let tFetch = now() - t0
    for i in 0..<(mib / 4) {
        let want = try Sys.preadBytes(fd, count: bs, offset: Int64(i * bs)), got = try Sys.preadBytes(out, count: bs, offset: Int64(i * bs))
        #expect(got == want, "block \(i) fetched differs from the source")
    }
    let stored = r.blocks.reduce(0) { $0 + Int($1.storedLength) }
    print("bench \(mib) MiB: store \(Double(mib) / tStore) MiB/s, unchanged recommit \(Double(mib) / tRecommit) MiB/s, fetch \(Double(mib) / tFetch) MiB/s, stored \(stored >> 20) MiB")
}
