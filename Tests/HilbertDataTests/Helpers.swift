import Glibc
import HilbertSupport
@testable import HilbertData

/// A fresh temporary directory, removed by `remove()`.
final class TempDir {
    let path: String
    init() {
        var template = Array("/tmp/hilbert-data-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = String(cString: p!)
    }
    func remove() { removeTree(path) }
    deinit { remove() }
}

func removeTree(_ path: String) {
    guard let st = try? Sys.lstat(path) else { return }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        _ = chmod(path, 0o700)
        for n in (try? Sys.listDirectory(path)) ?? [] { removeTree(path + "/" + n) }
        try? Sys.rmdir(path)
    } else {
        try? Sys.unlink(path)
    }
}

/// Deterministic pseudo-random bytes (xorshift).
func randomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var s = seed | 1
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { b in
        var i = 0
        while i + 8 <= count {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            b.storeBytes(of: s, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < count { s ^= s << 13; s ^= s >> 7; s ^= s << 17; b[i] = UInt8(truncatingIfNeeded: s); i += 1 }
    }
    return out
}

func compressibleBytes(_ count: Int) -> [UInt8] {
    let text = Array("the quick brown fox jumps over the lazy dog; hilbert block \n".utf8)
    var out = [UInt8](); out.reserveCapacity(count)
    var i = 0
    while out.count < count { out.append(text[i % text.count] &+ UInt8(truncatingIfNeeded: (i / 4096) & 3)); i += 1 }
    return out
}

func readAll(fd: Int32) throws(Errno) -> [UInt8] {
    let size = Int(try Sys.fstat(fd).st_size)
    return try Sys.preadBytes(fd, count: size, offset: 0)
}

func readAll(path: String) throws(Errno) -> [UInt8] {
    let fd = try Sys.open(path, O_RDONLY)
    defer { Sys.close(fd) }
    return try readAll(fd: fd)
}

/// Sequential id allocator for storeFile.
final class IDAllocator {
    var next: UInt64 = 1
    var calls = 0
    func allocate(_ n: Int) -> UInt64 {
        calls += 1
        defer { next += UInt64(n) }
        return next
    }
}
