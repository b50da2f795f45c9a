import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

@Suite struct PerformanceTests {
    /// resolve + getattr of a path three levels deep; prints the cost per call. Loose bound
    /// so debug builds pass; release builds should show a few microseconds.
    @Test func resolveStatStorm() throws {
        try withVolume { s, _ in
            let a = try s.mkdir(parent: rootIno, name: b("a"), mode: 0o755, cred: root)
            let bb = try s.mkdir(parent: a.ino, name: b("b"), mode: 0o755, cred: root)
            let c = try s.mkdir(parent: bb.ino, name: b("c"), mode: 0o755, cred: root)
            _ = try s.createFile(parent: c.ino, name: b("file.txt"), mode: 0o644, cred: root, exclusive: true)
            let path = b("/a/b/c/file.txt")
            let n = 20_000
            let t0 = monotonicNanos()
            for _ in 0..<n {
                guard case .found(_, _, let attr) = try s.resolve(from: rootIno, path: path, followLast: true,
                                                                  cred: alice, mountPrefix: prefix) else {
                    Issue.record("not found"); return
                }
                _ = try s.getattr(attr.ino)
            }
            let per = Double(monotonicNanos() - t0) / Double(n) / 1000
            print("resolve+getattr (3 levels): \(per) µs/op")
            #expect(per < 1000)
            let f = try s.ino("/a/b/c/file.txt")
            var t1 = monotonicNanos()
            for _ in 0..<n { _ = try s.getattr(f) }
            print("getattr (cached): \(Double(monotonicNanos() - t1) / Double(n) / 1000) µs/op")
            t1 = monotonicNanos()
            for _ in 0..<n { _ = try s.resolve(from: rootIno, path: path, followLast: true, cred: alice, mountPrefix: prefix) }
            print("resolve only: \(Double(monotonicNanos() - t1) / Double(n) / 1000) µs/op")
            t1 = monotonicNanos()
            for _ in 0..<n { _ = try s.backend.changeVersion() }
            print("data_version: \(Double(monotonicNanos() - t1) / Double(n) / 1000) µs/op")
        }
    }
}
