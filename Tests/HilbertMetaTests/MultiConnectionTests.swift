import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}

@Suite struct MultiConnectionTests {
    @Test func twoStoresSeeEachOther() throws {
        try withVolume { s1, url in
            let s2 = try MetaStore.open(url)
            #expect(s2.format == testFormat)
            let d = try s1.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            // Warm s2's cache, then change things through s1.
            guard case .found(_, _, let a) = try s2.res("/d") else { Issue.record("s2 sees d"); return }
            #expect(a.ino == d.ino)
            #expect(try s2.getattr(d.ino).nlink == 2)
            _ = try s1.mkdir(parent: d.ino, name: b("e"), mode: 0o755, cred: root)
            #expect(try s2.getattr(d.ino).nlink == 3)
            try s1.rename(parent: rootIno, name: b("d"), newParent: rootIno, newName: b("d2"), cred: root)
            #expect(try s2.res("/d") == .missing(parent: rootIno, name: b("d"), mustBeDirectory: false))
            guard case .found(_, _, let e) = try s2.res("/d2/e") else { Issue.record("s2 sees d2/e"); return }
            _ = try s2.rmdir(parent: d.ino, name: b("e"), cred: root)
            #expect(throws: Errno.noEntry) { _ = try s1.getattr(e.ino) }
            #expect(try s1.res("/d2/e") == .missing(parent: d.ino, name: b("e"), mustBeDirectory: false))
            s2.close()
        }
    }

    @Test func exclusiveCreateRace() throws {
        try withVolume { s0, url in
            let n = 4
            let rounds = 20
            let stores = try (0..<n).map { _ in try MetaStore.open(url) }
            let wins = Box([Int](repeating: 0, count: rounds))
            let errors = Box([Errno]())
            let lock = Lock()
            var threads: [pthread_t] = []
            for i in 0..<n {
                let store = stores[i]
                let work = {
                    for r in 0..<rounds {
                        do throws(Errno) {
                            let res = try store.createFile(parent: rootIno, name: b("race\(r)"), mode: 0o644, cred: root, exclusive: true)
                            if res.created { lock.withLock { wins.value[r] += 1 } }
                        } catch {
                            if error != .exists { lock.withLock { errors.value.append(error) } }
                        }
                    }
                }
                let ctx = Unmanaged.passRetained(Box(work)).toOpaque()
                var t = pthread_t()
                pthread_create(&t, nil, { p in
                    let box = Unmanaged<Box<() -> Void>>.fromOpaque(p!).takeRetainedValue()
                    box.value()
                    return nil
                }, ctx)
                threads.append(t)
            }
            for t in threads { pthread_join(t, nil) }
            #expect(errors.value.isEmpty)
            #expect(wins.value == [Int](repeating: 1, count: rounds))
            #expect(try s0.usage().inodes == UInt64(1 + rounds))
            for s in stores { s.close() }
        }
    }

    @Test func corruptFileIsExplained() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let path = dir + "/bad.db"
        let fd = open(path, O_CREAT | O_WRONLY, 0o644)
        let junk = [UInt8](repeating: 0x41, count: 8192)
        _ = junk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(throws: Errno.io) { _ = try MetaStore.open(path: path) }
        let msg = MetaStore.lastOpenError?.message ?? ""
        #expect(msg.contains("not a Hilbert metadata database"))
        #expect(throws: Errno.noEntry) { _ = try MetaStore.open(path: dir + "/missing.db") }
        // An empty file is refused and left untouched.
        let empty = dir + "/empty.db"
        close(open(empty, O_CREAT | O_WRONLY, 0o644))
        #expect(throws: Errno.io) { _ = try MetaStore.open(path: empty) }
        var st = stat()
        #expect(stat(empty, &st) == 0 && st.st_size == 0)
        // create never overwrites an existing file.
        #expect(throws: Errno.exists) { _ = try MetaStore.create(path: path, format: testFormat, rootUID: 0, rootGID: 0) }
    }

    @Test func foreignSQLiteDatabaseIsRefused() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let path = dir + "/foreign.db"
        let c = try Connection(path: path, create: true)
        try c.exec("CREATE TABLE t(x)")
        c.close()
        #expect(throws: Errno.io) { _ = try MetaStore.open(path: path) }
        #expect(MetaStore.lastOpenError?.message.contains("not a Hilbert metadata database") == true)
    }

    @Test func createRefusesExistingVolume() throws {
        try withVolume { _, url in
            #expect(throws: Errno.exists) { _ = try MetaStore.create(url, format: testFormat, rootUID: 0, rootGID: 0) }
        }
    }
}

@Suite struct SystemCallTests {
    @Test func sqliteWorksThroughSys() throws {
        #expect(SQLiteSystemCalls.routeThroughSys())
        try withSQLiteVolume { s, path in
            _ = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            let s2 = try MetaStore.open(path: path)
            #expect(try s2.lookup(parent: rootIno, name: b("d")) != nil)
            s2.close()
        }
    }
}
