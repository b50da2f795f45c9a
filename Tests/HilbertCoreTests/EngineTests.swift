import Glibc
import Testing
import HilbertSupport
import HilbertMeta
@testable import HilbertCore

/// The VFS layer in-process (no shim): real fds, staging, commits, reads back.
@Suite(.serialized) struct EngineTests {
    static let root: String = {
        var t = Array("/tmp/hilbert-core-XXXXXX".utf8CString)
        return String(cString: mkdtemp(&t)!)
    }()
    static let engine: Engine = {
        let url = "sqlite://\(root)/meta.db"
        _ = try! Volume.formatVolume(FormatOptions(metaURL: url, bucket: root + "/objects", inlineMax: 1024))
        setenv("HILBERT_CACHE", root + "/cache", 1)
        let e = Engine()
        try! e.start(mountsText: "/t=\(url)")
        return e
    }()

    func loc(_ path: String) -> Location { Location(mount: 0, dir: 0, path: Array(path.utf8)) }

    func write(_ path: String, _ bytes: [UInt8], flags: Int32 = O_WRONLY | O_CREAT | O_TRUNC) throws {
        let e = EngineTests.engine
        let (fd, file) = try e.open(loc(path), flags: flags, mode: 0o644)
        #expect(file.kind == .write)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        _ = try e.release(fd: fd, file: file)
    }

    func read(_ path: String) throws -> [UInt8] {
        let (fd, file) = try EngineTests.engine.open(loc(path), flags: O_RDONLY, mode: 0)
        #expect(file.kind == .read)
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    @Test func smallFilesAreInlineAndRoundTrip() throws {
        try write("/small", Array("hello".utf8))
        #expect(try read("/small") == Array("hello".utf8))
        let st = try EngineTests.engine.stat(loc("/small"), noFollow: false)
        #expect(st.attr.size == 5)
        #expect(st.attr.isRegular)
    }

    @Test func largeFilesGoToBlocksAndRoundTrip() throws {
        var data = [UInt8](repeating: 0, count: 3 << 20)
        for i in data.indices { data[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        try write("/large", data)
        #expect(try read("/large") == data)
        let v = try EngineTests.engine.volume(0)
        #expect(try v.meta.dataLayout(try v.meta.resolveIno("/large")).blocks.count == 1)
    }

    @Test func appendKeepsEarlierBytes() throws {
        try write("/log", Array("a\n".utf8))
        try write("/log", Array("b\n".utf8), flags: O_WRONLY | O_APPEND)
        #expect(try read("/log") == Array("a\nb\n".utf8))
    }

    @Test func exclusiveCreateFailsOnExistingName() throws {
        try write("/excl", [1])
        #expect(throws: Errno.exists) {
            _ = try EngineTests.engine.open(loc("/excl"), flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        }
    }

    @Test func namespaceOperations() throws {
        let e = EngineTests.engine
        try e.mkdir(loc("/d"), mode: 0o755)
        try write("/d/f", [7, 7])
        try e.rename(loc("/d/f"), loc("/d/g"), flags: 0)
        #expect(try read("/d/g") == [7, 7])
        #expect(throws: Errno.noEntry) { _ = try e.stat(loc("/d/f"), noFollow: false) }
        try e.symlink(target: Array("g".utf8), loc("/d/l"))
        #expect(try e.readlink(loc("/d/l")) == Array("g".utf8))
        #expect(try read("/d/l") == [7, 7])
        #expect(throws: Errno.notEmpty) { try e.unlink(loc("/d"), removeDirectory: true) }
        #expect(try e.realpath(loc("/d/l")) == Array("/d/g".utf8))
    }

    @Test func dotDotAboveTheRootRedirectsToTheHost() throws {
        #expect(throws: Errno.redirect) { _ = try EngineTests.engine.stat(loc("/../etc"), noFollow: false) }
    }

    /// A settler that opened a staging file just before another process committed and retired
    /// it must not commit that old content again over newer versions.
    @Test func aStaleSettlerCommitsNothing() throws {
        let e = EngineTests.engine
        let v = try e.volume(0)
        let (fd, file) = try e.open(loc("/race"), flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        _ = Array("0\n".utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let name = try #require(try v.meta.staging(file.ino))
        let staleFD = try Sys.open(v.cache.stagingPath(name), O_RDONLY)   // opened before the commit
        defer { Sys.close(staleFD) }
        _ = try e.release(fd: fd, file: file)                              // commits and retires it
        try settled(v, file.ino)
        try write("/race", Array("1\n".utf8), flags: O_WRONLY | O_APPEND)
        try settled(v, file.ino)
        let before = try v.meta.getattr(file.ino)
        #expect(throws: Errno.stale) {
            try e.commit(v, ino: file.ino, stagingFD: staleFD, staged: name, retire: true)
        }
        #expect(try v.meta.getattr(file.ino).version == before.version)
        #expect(try read("/race") == Array("0\n1\n".utf8))
        // The committed content is kept as the read copy of its version.
        let copy = try #require(v.cache.openReadCopy(ino: file.ino, version: before.version))
        Sys.close(copy)
    }

    /// Wait until `ino` has no staging file left. A release finds the staging file busy while a
    /// child forked meanwhile by another suite of this process still holds the writer's
    /// descriptor, and with it the flock (as any forked child holding a writer would): the
    /// commit then waits for the next settle.
    func settled(_ v: Volume, _ ino: Ino) throws {
        for _ in 0..<500 {
            if try v.meta.staging(ino) == nil { return }
            _ = EngineTests.engine.settle(v, ino)
            usleep(10_000)
        }
        Issue.record("inode \(ino) still has a staging file after 5 s")
    }

    @Test func aKilledWriterIsCommittedByTheNextAccess() throws {
        let e = EngineTests.engine
        let (fd, _) = try e.open(loc("/orphan"), flags: O_WRONLY | O_CREAT, mode: 0o644)
        _ = Array("kept".utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)   // as if the writer died: no release
        #expect(try read("/orphan") == Array("kept".utf8))
    }
}

extension MetaStore {
    func resolveIno(_ path: String) throws -> Ino {
        guard case .found(_, _, let a) = try resolve(from: rootIno, path: Array(path.utf8), followLast: true,
                                                     cred: .root, mountPrefix: Array("/t".utf8)) else { throw Errno.noEntry }
        return a.ino
    }
}
