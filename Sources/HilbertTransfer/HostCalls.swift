import Glibc
import CHilbertHost
import HilbertSupport
import HilbertMeta

/// The host-side calls of `hilbert import` and `export`, which run in the CLI (never under
/// the shim, so libc is called directly). Names are byte strings (any bytes but '/' and NUL);
/// every call takes a directory fd and a name, so trees deeper than PATH_MAX work.
enum Host {
    static let noAtime = hl_host_o_noatime()

    /// `name` as a C string, for the length of `body`.
    @inline(__always)
    static func withName<T>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) throws(Errno) -> T) throws(Errno) -> T {
        var c = name
        c.append(0)
        var out: Result<T, Errno>!
        c.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { p in
                do throws(Errno) { out = .success(try body(p)) } catch { out = .failure(error) }
            }
        }
        return try out.get()
    }

    static func lstat(_ dir: Int32, _ name: [UInt8]) throws(Errno) -> stat {
        var st = stat()
        _ = try withName(name) { (p) throws(Errno) in try sysCall { fstatat(dir, p, &st, AT_SYMLINK_NOFOLLOW) } }
        return st
    }

    static func openat(_ dir: Int32, _ name: [UInt8], _ flags: Int32, _ mode: mode_t = 0) throws(Errno) -> Int32 {
        try withName(name) { (p) throws(Errno) in try sysCall { Glibc.openat(dir, p, flags | O_CLOEXEC, mode) } }
    }

    /// Open the directory at `path` (absolute, or relative to the working directory, as the
    /// user typed it; any length: opened a piece of at most 3,000 bytes at a time). Symlinks in
    /// it are followed, but not its last component unless `followLast`.
    /// Its access time stays as it was when the caller may ask for that (its owner, root).
    static func openDirectory(_ path: [UInt8], followLast: Bool) throws(Errno) -> Int32 {
        do throws(Errno) {
            return try openDirectory(path, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followLast ? 0 : O_NOFOLLOW) | noAtime)
        } catch where error == .perm {
            return try openDirectory(path, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followLast ? 0 : O_NOFOLLOW))
        }
    }

    private static func openDirectory(_ path: [UInt8], flags: Int32) throws(Errno) -> Int32 {
        if path.count < 3000 {
            return try withName(path) { (p) throws(Errno) in try sysCall { Glibc.open(p, flags) } }
        }
        var fd = try sysCall { Glibc.open(path.first == 0x2F ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        var rest = path[...]
        while !rest.isEmpty {
            while rest.first == 0x2F { rest = rest.dropFirst() }
            if rest.isEmpty { break }
            var cut = rest.endIndex
            if rest.count > 3000 {
                cut = rest[..<(rest.startIndex + 3000)].lastIndex(of: 0x2F) ?? rest.endIndex
            }
            let piece = Array(rest[..<cut])
            rest = rest[cut...]
            let last = rest.allSatisfy { $0 == 0x2F }
            let next: Int32
            do throws(Errno) {
                next = try openat(fd, piece, last ? flags : O_RDONLY | O_DIRECTORY)
            } catch {
                Glibc.close(fd)
                throw error
            }
            Glibc.close(fd)
            fd = next
        }
        return fd
    }

    static func readlink(_ dir: Int32, _ name: [UInt8]) throws(Errno) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 4097)
        let n = try withName(name) { (p) throws(Errno) in
            try sysCall { buf.withUnsafeMutableBytes { readlinkat(dir, p, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4097) } }
        }
        if n > 4096 { throw Errno.nameTooLong }
        return Array(buf[0..<n])
    }

    /// The `user.` extended attributes of an open file or directory (others are not
    /// copied). A file system without attributes has none.
    static func userXattrs(_ fd: Int32) throws(Errno) -> [(name: [UInt8], value: [UInt8])] {
        var size = hl_host_flistxattr(fd, nil, 0)
        if size < 0 {
            if errno == ENOTSUP || errno == ENOSYS { return [] }
            throw Errno.current
        }
        if size == 0 { return [] }
        var list = [UInt8](repeating: 0, count: size)
        while true {
            size = list.withUnsafeMutableBytes { hl_host_flistxattr(fd, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
            if size >= 0 { break }
            if errno != ERANGE { throw Errno.current }
            let need = hl_host_flistxattr(fd, nil, 0)
            if need < 0 { throw Errno.current }
            list = [UInt8](repeating: 0, count: need)
        }
        var out: [(name: [UInt8], value: [UInt8])] = []
        for name in list[0..<size].split(separator: 0, omittingEmptySubsequences: true) where name.starts(with: userPrefix) {
            let n = Array(name)
            guard let value = try xattrValue(fd, n) else { continue }   // removed meanwhile
            out.append((n, value))
        }
        return out
    }

    private static let userPrefix: [UInt8] = Array("user.".utf8)

    private static func xattrValue(_ fd: Int32, _ name: [UInt8]) throws(Errno) -> [UInt8]? {
        try withName(name) { (p) throws(Errno) -> [UInt8]? in
            while true {
                let size = hl_host_fgetxattr(fd, p, nil, 0)
                if size < 0 { if errno == ENODATA { return nil }; throw Errno.current }
                var value = [UInt8](repeating: 0, count: size)
                let n = value.withUnsafeMutableBytes { hl_host_fgetxattr(fd, p, $0.baseAddress, $0.count) }
                if n >= 0 { return Array(value[0..<n]) }
                if errno == ENODATA { return nil }
                if errno != ERANGE { throw Errno.current }
            }
        }
    }

    static func setXattr(_ fd: Int32, _ name: [UInt8], _ value: [UInt8]) throws(Errno) {
        _ = try withName(name) { (p) throws(Errno) in
            try sysCall { value.withUnsafeBytes { hl_host_fsetxattr(fd, p, $0.baseAddress, $0.count) } }
        }
    }

    static func mkdir(_ dir: Int32, _ name: [UInt8], _ mode: mode_t) throws(Errno) {
        _ = try withName(name) { (p) throws(Errno) in try sysCall { mkdirat(dir, p, mode) } }
    }

    static func symlink(_ target: [UInt8], _ dir: Int32, _ name: [UInt8]) throws(Errno) {
        _ = try withName(target) { (t) throws(Errno) in
            try withName(name) { (p) throws(Errno) in try sysCall { symlinkat(t, dir, p) } }
        }
    }

    static func link(_ fromDir: Int32, _ from: [UInt8], _ toDir: Int32, _ to: [UInt8]) throws(Errno) {
        _ = try withName(from) { (f) throws(Errno) in
            try withName(to) { (t) throws(Errno) in try sysCall { linkat(fromDir, f, toDir, t, 0) } }
        }
    }

    static func mknod(_ dir: Int32, _ name: [UInt8], _ mode: mode_t, _ rdev: UInt64) throws(Errno) {
        _ = try withName(name) { (p) throws(Errno) in try sysCall { mknodat(dir, p, mode, dev_t(rdev)) } }
    }

    static func unlink(_ dir: Int32, _ name: [UInt8]) throws(Errno) {
        _ = try withName(name) { (p) throws(Errno) in try sysCall { unlinkat(dir, p, 0) } }
    }

    /// Owner and times of a name, without following a symlink.
    static func chown(_ dir: Int32, _ name: [UInt8], _ uid: UInt32, _ gid: UInt32) throws(Errno) {
        _ = try withName(name) { (p) throws(Errno) in try sysCall { fchownat(dir, p, uid, gid, AT_SYMLINK_NOFOLLOW) } }
    }

    static func setTimes(_ dir: Int32, _ name: [UInt8], atime: Timespec, mtime: Timespec) throws(Errno) {
        var ts = [timespec(tv_sec: Int(atime.sec), tv_nsec: Int(atime.nsec)), timespec(tv_sec: Int(mtime.sec), tv_nsec: Int(mtime.nsec))]
        _ = try withName(name) { (p) throws(Errno) in try sysCall { utimensat(dir, p, &ts, AT_SYMLINK_NOFOLLOW) } }
    }

    static func setTimes(_ fd: Int32, atime: Timespec, mtime: Timespec) throws(Errno) {
        let ts = [timespec(tv_sec: Int(atime.sec), tv_nsec: Int(atime.nsec)), timespec(tv_sec: Int(mtime.sec), tv_nsec: Int(mtime.nsec))]
        _ = try sysCall { futimens(fd, ts) }
    }

    /// The names in an open directory (without "." and ".."), in the order the file system
    /// lists them. Takes `fd` over (closed when done).
    static func listNames(_ fd: Int32) throws(Errno) -> [[UInt8]] {
        guard let dir = fdopendir(fd) else {
            let e = Errno.current
            Glibc.close(fd)
            throw e
        }
        defer { closedir(dir) }
        var out: [[UInt8]] = []
        while true {
            errno = 0
            guard let ent = readdir(dir) else {
                if errno != 0 { throw Errno.current }
                return out
            }
            let name = withUnsafePointer(to: &ent.pointee.d_name) { p in
                p.withMemoryRebound(to: UInt8.self, capacity: 256) { c in Array(UnsafeBufferPointer(start: c, count: strlen(UnsafeRawPointer(c).assumingMemoryBound(to: CChar.self)))) }
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            out.append(name)
        }
    }
}

extension Timespec {
    init(_ ts: timespec) { self.init(sec: Int64(ts.tv_sec), nsec: UInt32(ts.tv_nsec)) }
}

/// A host path and a name in it, for messages (bytes that are not UTF-8 shown as U+FFFD).
func display(_ path: [UInt8]) -> String { String(decoding: path, as: UTF8.self) }

func join(_ dir: [UInt8], _ name: [UInt8]) -> [UInt8] {
    if dir.last == 0x2F { return dir + name }
    return dir + [0x2F] + name
}
