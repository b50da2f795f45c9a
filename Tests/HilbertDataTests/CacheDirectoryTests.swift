import Glibc
import Testing
import HilbertSupport
import CHilbertSys
@testable import HilbertData

@Suite struct CacheDirectoryTests {
    @Test func layout() throws {
        let dir = TempDir()
        let cache = try CacheDirectory(root: dir.path + "/cache/", volumeUUID: "vol-1")
        #expect(cache.volumeDirectory == dir.path + "/cache/vol-1")
        for sub in ["staging", "files", "tmp", "shadow"] {
            let st = try Sys.stat(cache.volumeDirectory + "/" + sub)
            #expect((st.st_mode & S_IFMT) == S_IFDIR)
        }
        let shadow = try Sys.stat(cache.shadowDirectory)
        #expect(shadow.st_mode & 0o7777 == 0o555)
        #expect(try Sys.listDirectory(cache.shadowDirectory).isEmpty)
        #expect(try Sys.listDirectory(cache.tmpDirectory).isEmpty)             // probe removed
        #expect(cache.capacityBytes > 0 && cache.capacityBytes <= CacheDirectory.defaultCapacityLimit)
        #expect(cache.readCopyPath(ino: 0x1234, version: 7) == cache.filesDirectory + "/34/4660.7")
        #expect(cache.readCopyPath(ino: 5, version: 1) == cache.filesDirectory + "/05/5.1")
        // reopening an existing cache is fine
        _ = try CacheDirectory(root: dir.path + "/cache", volumeUUID: "vol-1")
        #expect(throws: Errno.invalid) { _ = try CacheDirectory(root: dir.path, volumeUUID: "a/b") }
    }

    @Test func installAndOpen() throws {
        let dir = TempDir()
        let cache = try CacheDirectory(root: dir.path, volumeUUID: "v")
        #expect(cache.openReadCopy(ino: 42, version: 1) == nil)
        let data = randomBytes(100_000)
        let fd = try cache.installReadCopy(ino: 42, version: 1, size: 0) { (w: Int32) throws(Errno) in try Sys.pwriteAll(w, data, 0) }
        #expect(try readAll(fd: fd) == data)
        #expect(hl_fcntl_flags(fd) & O_ACCMODE == O_RDONLY)
        Sys.close(fd)
        let again = try #require(cache.openReadCopy(ino: 42, version: 1))
        #expect(try readAll(fd: again) == data)
        Sys.close(again)
        #expect(cache.openReadCopy(ino: 42, version: 2) == nil)
        // concurrent installer of the same version simply replaces it
        let fd2 = try cache.installReadCopy(ino: 42, version: 1, size: 0) { (w: Int32) throws(Errno) in try Sys.pwriteAll(w, data, 0) }
        Sys.close(fd2)
        let fd3 = try cache.installReadCopy(ino: 42, version: 2, size: 0) { (w: Int32) throws(Errno) in try Sys.pwriteAll(w, [1], 0) }
        Sys.close(fd3)
        let fd4 = try cache.installReadCopy(ino: 42 + 256, version: 2, size: 0) { (w: Int32) throws(Errno) in try Sys.pwriteAll(w, [2], 0) }
        Sys.close(fd4)
        #expect(cache.usage().files == 3)
        cache.removeReadCopies(ino: 42)
        #expect(cache.openReadCopy(ino: 42, version: 1) == nil)
        #expect(cache.openReadCopy(ino: 42, version: 2) == nil)
        #expect(cache.usage().files == 1)                          // ino 298 untouched
        // a failing fill leaves nothing behind
        #expect(throws: Errno.io) {
            _ = try cache.installReadCopy(ino: 7, version: 1, size: 0) { (w: Int32) throws(Errno) in
                try Sys.pwriteAll(w, [1, 2, 3], 0)
                throw Errno.io
            }
        }
        #expect(try Sys.listDirectory(cache.tmpDirectory).isEmpty)
        #expect(cache.openReadCopy(ino: 7, version: 1) == nil)
    }

    @Test func fetchIntoReadCopy() throws {
        let dir = TempDir()
        let cache = try CacheDirectory(root: dir.path + "/c", volumeUUID: "v")
        let store = MemoryStore()
        let content = randomBytes(300_000)
        var next: UInt64 = 1
        let r = try storeBytes(content, blockSize: 65536, previous: [], store: store, allocateIDs: { n in defer { next += UInt64(n) }; return next })
        let fd = try cache.installReadCopy(ino: 9, version: 3, size: 0) { (w: Int32) throws(Errno) in
            try fetchFile(blocks: r.blocks, size: Int64(content.count), blockSize: 65536, store: store, into: w)
        }
        defer { Sys.close(fd) }
        #expect(try readAll(fd: fd) == content)
    }

    @Test func staging() throws {
        let dir = TempDir()
        let cache = try CacheDirectory(root: dir.path, volumeUUID: "v")
        let a = try cache.newStagingFile(ino: 5)
        let b = try cache.newStagingFile(ino: 5)
        #expect(a.path != b.path)
        #expect(a.path.hasPrefix(cache.stagingDirectory + "/5.\(getpid())."))
        let st = try Sys.fstat(a.fd)
        #expect(st.st_mode & 0o777 == 0o600)
        try Sys.pwriteAll(a.fd, [1, 2, 3], 0)
        #expect(try readAll(path: a.path) == [1, 2, 3])
        Sys.close(a.fd); Sys.close(b.fd)
        // eviction never touches staging
        cache.capacityBytes = 0
        cache.evictIfNeeded()
        #expect(try Sys.listDirectory(cache.stagingDirectory).count == 2)
    }

    /// The staging row records the name below staging/, and the file is at staging/ + that
    /// name for every reader (CacheDirectory, and StagingOwner for another cache directory);
    /// a name with a directory in it (docs/FORMAT.md, "Staging names") is found the same way
    /// and its cache id read as the fourth '.'-separated field.
    @Test func stagingNamesAndPaths() throws {
        let dir = TempDir()
        let cache = try CacheDirectory(root: dir.path, volumeUUID: "v")
        let id = try cache.cacheID()
        let made = try cache.newStagingFile(ino: 7)
        Sys.close(made.fd)
        let name = String(made.path.dropFirst(cache.stagingDirectory.count + 1))
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 4 && parts[0] == "7" && parts[1] == "\(getpid())" && parts[2].count == 16 && parts[3] == id)
        #expect(cache.stagingPath(name) == made.path)
        #expect(StagingOwner.current(cacheRoot: dir.path).stagingPath(volumeUUID: "v", name: name) == made.path)
        #expect(cache.ownsStaging(name))
        #expect(!cache.ownsStaging("7.1.0123456789abcdef.fedcba9876543210"))
        #expect(cache.ownsStaging("0.1.abc"))                  // O_TMPFILE names and older builds: no cache id
        let sharded = "0a/" + name
        #expect(cache.stagingPath(sharded) == cache.stagingDirectory + "/0a/" + name)
        #expect(cache.ownsStaging(sharded))
        #expect(!cache.ownsStaging("0a/7.1.0123456789abcdef.fedcba9876543210"))
    }

    @Test func adoptedStagingFileBecomesTheReadCopy() throws {
        let dir = TempDir()
        let cache = try CacheDirectory(root: dir.path, volumeUUID: "v")
        let old = try cache.installReadCopy(ino: 9, version: 3, size: 0) { (w: Int32) throws(Errno) in try Sys.pwriteAll(w, [1], 0) }
        Sys.close(old)
        let staged = try cache.newStagingFile(ino: 9)
        try Sys.pwriteAll(staged.fd, [7, 8, 9], 0)
        Sys.close(staged.fd)
        cache.adoptReadCopy(stagingPath: staged.path, ino: 9, version: 4, bytes: 4096)
        #expect(!Sys.exists(staged.path))
        #expect(cache.openReadCopy(ino: 9, version: 3) == nil)          // the version before is gone
        let fd = try #require(cache.openReadCopy(ino: 9, version: 4, touch: false, cloexec: false))
        #expect(try readAll(fd: fd) == [7, 8, 9])
        #expect(hl_sys_fcntl_int(fd, F_GETFD, 0) & FD_CLOEXEC == 0)
        Sys.close(fd)
        let ce = try #require(cache.openReadCopy(ino: 9, version: 4))
        #expect(hl_sys_fcntl_int(ce, F_GETFD, 0) & FD_CLOEXEC != 0)
        Sys.close(ce)
        // With the file system short of space the staging file is dropped, not kept.
        cache.minFreeRatio = 1.0
        let next = try cache.newStagingFile(ino: 9)
        Sys.close(next.fd)
        cache.adoptReadCopy(stagingPath: next.path, ino: 9, version: 5, bytes: 2 << 20)
        #expect(!Sys.exists(next.path))
        #expect(cache.openReadCopy(ino: 9, version: 5) == nil)
    }

    @Test func evictionIsLRU() throws {
        let dir = TempDir()
        let cache = try CacheDirectory(root: dir.path, volumeUUID: "v", capacityBytes: 1 << 40, minFreeRatio: 0)
        let mib = 1 << 20
        let data = randomBytes(mib)
        for ino in UInt64(1)...5 {
            let fd = try cache.installReadCopy(ino: ino, version: 1, size: 0) { (w: Int32) throws(Errno) in try Sys.pwriteAll(w, data, 0) }
            Sys.close(fd)
        }
        // Give the copies distinct, known ages: ino 1 oldest … ino 5 newest; then use ino 1.
        for ino in UInt64(1)...5 {
            let fd = try Sys.open(cache.readCopyPath(ino: ino, version: 1), O_RDONLY)
            let t = timespec(tv_sec: 1_000_000 + Int(ino) * 10, tv_nsec: 0)
            try Sys.futimens(fd, [t, t])
            Sys.close(fd)
        }
        if let fd = cache.openReadCopy(ino: 1, version: 1) { Sys.close(fd) }
        let before = cache.usage()
        #expect(before.files == 5 && before.bytes >= Int64(5 * mib))
        #expect(cache.evictIfNeeded() == (0, 0))                       // under capacity
        cache.capacityBytes = Int64(3 * mib) + Int64(mib / 2)
        let removed = cache.evictIfNeeded()
        #expect(removed.files == 2)
        #expect(cache.openReadCopy(ino: 2, version: 1) == nil)
        #expect(cache.openReadCopy(ino: 3, version: 1) == nil)
        for ino in [UInt64(1), 4, 5] {
            let fd = try #require(cache.openReadCopy(ino: ino, version: 1))
            Sys.close(fd)
        }
        #expect(cache.usage().bytes <= cache.capacityBytes)
        // installs trigger eviction after evictEveryBytes (file times are coarse: re-age the others)
        for ino in [UInt64(1), 4, 5] {
            let fd = try Sys.open(cache.readCopyPath(ino: ino, version: 1), O_RDONLY)
            let t = timespec(tv_sec: 2_000_000 + Int(ino), tv_nsec: 0)
            try Sys.futimens(fd, [t, t])
            Sys.close(fd)
        }
        cache.evictEveryBytes = 1
        cache.capacityBytes = Int64(mib) + Int64(mib / 2)
        let fd = try cache.installReadCopy(ino: 6, version: 1, size: 0) { (w: Int32) throws(Errno) in try Sys.pwriteAll(w, data, 0) }
        Sys.close(fd)
        #expect(cache.usage().files == 1)
        #expect(cache.openReadCopy(ino: 6, version: 1).map { Sys.close($0); return true } == true)
        // an impossible free-space target evicts everything evictable
        cache.capacityBytes = 1 << 40
        cache.minFreeRatio = 1.0
        cache.evictIfNeeded()
        #expect(cache.usage().files == 0)
    }

    /// Two processes' caches on one directory share the count of read copies' bytes: what
    /// one installs the other sees, and an install that passes the capacity evicts the least
    /// recently used copies whoever installed them. A full scan sets the count to what is there.
    @Test func sharedCountKeepsTheLimit() throws {
        let dir = TempDir()
        let a = try CacheDirectory(root: dir.path, volumeUUID: "v", capacityBytes: 4 << 20, minFreeRatio: 0)
        let b = try CacheDirectory(root: dir.path, volumeUUID: "v", capacityBytes: 4 << 20, minFreeRatio: 0)
        let mib = randomBytes(1 << 20)
        for ino in UInt64(1)...10 {
            let c = ino % 2 == 0 ? a : b
            let fd = try c.installReadCopy(ino: ino, version: 1, size: Int64(mib.count)) { (w: Int32) throws(Errno) in
                try Sys.pwriteAll(w, mib, 0)
            }
            Sys.close(fd)
            #expect(a.usage().bytes <= (4 << 20) + (64 << 10), "after \(ino) installs")
        }
        #expect(a.countedBytes() == b.countedBytes())
        #expect(abs(a.countedBytes() - a.usage().bytes) < 64 << 10)
        #expect(b.openReadCopy(ino: 10, version: 1, touch: false) != nil)    // the newest stay
        #expect(a.openReadCopy(ino: 1, version: 1, touch: false) == nil)     // the oldest went
        a.removeReadCopies(ino: 10)
        #expect(abs(b.countedBytes() - b.usage().bytes) < 64 << 10)
        #expect(a.clearReadCopies().files > 0)
        #expect(a.usage().files == 0 && b.countedBytes() == 0)
        // A count that drifted (a killed installer's reservation) is set right by a scan.
        b.reserve(-(1 << 30))
        _ = b.evictIfNeeded()
        #expect(a.countedBytes() == 0)
    }

    @Test func unusableRoot() throws {
        let dir = TempDir()
        let file = dir.path + "/plain"
        let fd = try Sys.open(file, O_WRONLY | O_CREAT, 0o644)
        Sys.close(fd)
        // A root below a regular file: ENOTDIR, with an explanation.
        #expect(throws: Errno.notDirectory) { _ = try CacheDirectory(root: file + "/cache", volumeUUID: "v") }
        #expect(DataErrors.last?.message.contains(file) == true)
        #expect(throws: Errno.notDirectory) { _ = try CacheDirectory(root: file, volumeUUID: "v") }
        do {
            _ = try CacheDirectory.open(root: file + "/x", volumeUUID: "v")
            Issue.record("expected an error")
        } catch {
            #expect(error.errno == .notDirectory)
            #expect(error.message.hasPrefix("cache directory "))
        }
        if geteuid() != 0 {
            let locked = dir.path + "/locked"
            try Sys.mkdir(locked, 0)
            #expect(throws: Errno.access) { _ = try CacheDirectory(root: locked + "/cache", volumeUUID: "v") }
            #expect(throws: Errno.access) { _ = try CacheDirectory(root: locked, volumeUUID: "v") }
        }
    }
}

func hl_fcntl_flags(_ fd: Int32) -> Int32 { fcntl(fd, F_GETFL) }
