import Glibc
import CHilbertSys

/// The syscall facade: one function per libc call, all through `hl_sys` (the real-function
/// table), all throwing `Errno`. Engine code never calls an interposable libc symbol directly.
public enum Sys {
    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws(Errno) -> Int32 {
        try sysCall { hl_sys_open(path, flags | O_CLOEXEC, mode) }
    }
    public static func openat(_ dirfd: Int32, _ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws(Errno) -> Int32 {
        try sysCall { hl_sys_openat(dirfd, path, flags | O_CLOEXEC, mode) }
    }
    /// Open an fd that goes straight to the program: `flags` as given (O_CLOEXEC only when
    /// the program asked for it), which saves the fcntl that clearing it again would cost.
    public static func openForProgram(_ path: String, _ flags: Int32) throws(Errno) -> Int32 {
        try sysCall { hl_sys_open(path, flags, 0) }
    }
    /// Open an fd the engine keeps for itself: moved high, CLOEXEC, hidden from the app.
    public static func openPrivate(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws(Errno) -> Int32 {
        try sysCall { hl_sys_open_private(path, flags, mode) }
    }
    public static func close(_ fd: Int32) {
        _ = hl_sys_close(fd)
    }
    public static func closePrivate(_ fd: Int32) {
        hl_sys_note_private(fd, 0)
        _ = hl_sys.close(fd)
    }
    public static func read(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int) throws(Errno) -> Int {
        try sysCall { hl_sys.read(fd, buf, count) }
    }
    public static func pread(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) throws(Errno) -> Int {
        try sysCall { hl_sys.pread64(fd, buf, count, off_t(offset)) }
    }
    public static func pwrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int, _ offset: Int64) throws(Errno) -> Int {
        try sysCall { hl_sys.pwrite64(fd, buf, count, off_t(offset)) }
    }
    /// Write all bytes at `offset` (short writes continued).
    public static func pwriteAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, _ offset: Int64) throws(Errno) {
        var done = 0
        while done < buf.count {
            let n = try pwrite(fd, buf.baseAddress! + done, buf.count - done, offset + Int64(done))
            if n == 0 { throw Errno.io }
            done += n
        }
    }
    public static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], _ offset: Int64) throws(Errno) {
        var failure: Errno?
        bytes.withUnsafeBytes { b in
            do throws(Errno) { try pwriteAll(fd, b, offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }
    /// Read exactly `count` bytes at `offset`, or fewer at end of file.
    public static func preadFully(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) throws(Errno) -> Int {
        var done = 0
        while done < count {
            let n = try pread(fd, buf + done, count - done, offset + Int64(done))
            if n == 0 { break }
            done += n
        }
        return done
    }
    public static func preadBytes(_ fd: Int32, count: Int, offset: Int64) throws(Errno) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var failure: Errno?
        let n = out.withUnsafeMutableBytes { b -> Int in
            do throws(Errno) { return try preadFully(fd, b.baseAddress!, count, offset) } catch { failure = error; return 0 }
        }
        if let failure { throw failure }
        if n < count { out.removeLast(count - n) }
        return out
    }
    public static func fstat(_ fd: Int32) throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        _ = try sysCall { hl_sys.fstat64(fd, &st) }
        return st
    }
    public static func stat(_ path: String) throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        _ = try sysCall { hl_sys.stat64(path, &st) }
        return st
    }
    public static func lstat(_ path: String) throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        _ = try sysCall { hl_sys.lstat64(path, &st) }
        return st
    }
    public static func exists(_ path: String) -> Bool { hl_sys.access(path, F_OK) == 0 }
    public static func access(_ path: String, _ mode: Int32) -> Bool { hl_sys.access(path, mode) == 0 }
    public static func unlink(_ path: String) throws(Errno) { _ = try sysCall { hl_sys.unlink(path) } }
    public static func rmdir(_ path: String) throws(Errno) { _ = try sysCall { hl_sys.rmdir(path) } }
    public static func rename(_ from: String, _ to: String) throws(Errno) { _ = try sysCall { hl_sys.rename(from, to) } }
    public static func link(_ from: String, _ to: String) throws(Errno) { _ = try sysCall { hl_sys.link(from, to) } }
    public static func mkdir(_ path: String, _ mode: mode_t = 0o755) throws(Errno) { _ = try sysCall { hl_sys.mkdir(path, mode) } }
    public static func symlink(_ target: String, _ path: String) throws(Errno) { _ = try sysCall { hl_sys.symlink(target, path) } }
    /// mkdir -p; existing directories are fine.
    public static func mkdirs(_ path: String, _ mode: mode_t = 0o755) throws(Errno) {
        if (try? Sys.stat(path)).map({ ($0.st_mode & S_IFMT) == S_IFDIR }) == true { return }
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            do throws(Errno) { try mkdir(prefix, mode) } catch {
                if error != .exists { throw error }
            }
        }
    }
    public static func ftruncate(_ fd: Int32, _ len: Int64) throws(Errno) { _ = try sysCall { hl_sys.ftruncate64(fd, off_t(len)) } }
    public static func fsync(_ fd: Int32) throws(Errno) { _ = try sysCall { hl_sys.fsync(fd) } }
    public static func fdatasync(_ fd: Int32) throws(Errno) { _ = try sysCall { hl_sys.fdatasync(fd) } }
    public static func flock(_ fd: Int32, _ op: Int32) throws(Errno) { _ = try sysCall { hl_sys.flock(fd, op) } }
    public static func fchmod(_ fd: Int32, _ mode: mode_t) throws(Errno) { _ = try sysCall { hl_sys.fchmod(fd, mode) } }
    public static func futimens(_ fd: Int32, _ times: [timespec]) throws(Errno) {
        _ = try sysCall { times.withUnsafeBufferPointer { hl_sys.futimens(fd, $0.baseAddress) } }
    }
    public static func lseek(_ fd: Int32, _ off: Int64, _ whence: Int32) throws(Errno) -> Int64 {
        Int64(try sysCall { hl_sys.lseek64(fd, off_t(off), whence) })
    }
    public static func memfd(_ name: String, _ flags: UInt32) throws(Errno) -> Int32 {
        try sysCall { hl_sys_memfd(name, flags) }
    }
    public static func statvfs(_ path: String) throws(Errno) -> Glibc.statvfs {
        var s = Glibc.statvfs()
        _ = try sysCall { hl_sys_statvfs(path, &s) }
        return s
    }
    public static func readlink(_ path: String) throws(Errno) -> String {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = try sysCall { hl_sys.readlink(path, &buf, 4096) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    /// Names in a host directory (without "." and "..").
    public static func listDirectory(_ path: String) throws(Errno) -> [String] {
        guard let dir = hl_sys.opendir(path) else { throw Errno.current }
        defer { _ = hl_sys.closedir(dir) }
        var names: [String] = []
        while let raw = hl_sys.readdir64(dir) {
            let ent = raw.assumingMemoryBound(to: dirent.self)
            let name = withUnsafePointer(to: &ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
    public static func write(fd: Int32, _ text: String) {
        var t = text
        t.withUTF8 { b in
            var off = 0
            while off < b.count {
                let n = hl_sys.write(fd, b.baseAddress! + off, b.count - off)
                if n <= 0 { return }
                off += n
            }
        }
    }
}

public func getEnv(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
}
