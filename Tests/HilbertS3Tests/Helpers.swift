import Glibc
import HilbertSupport

/// A fresh temporary directory; `remove()` (deferred by the test, which also keeps it
/// alive to the end) deletes it with its files and one level of subdirectories.
final class TempDir {
    let path: String
    init() {
        var template = Array("/tmp/hilbert-s3-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = String(cString: p!)
    }
    func remove() { Self.removeTree(path) }
    static func removeTree(_ p: String) {
        for n in (try? Sys.listDirectory(p)) ?? [] {
            if (try? Sys.unlink(p + "/" + n)) == nil { removeTree(p + "/" + n) }
        }
        try? Sys.rmdir(p)
    }
    /// Write `text` to `name` with `mode`; returns the full path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let p = path + "/" + name
        let fd = try Sys.open(p, O_WRONLY | O_CREAT | O_TRUNC, mode)
        defer { Sys.close(fd) }
        try Sys.pwriteAll(fd, Array(text.utf8), 0)
        try Sys.fchmod(fd, mode)
        return p
    }
}

/// Deterministic pseudo-random numbers (xorshift64).
struct XorShift {
    var s: UInt64
    init(seed: UInt64) { s = seed | 1 }
    mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
