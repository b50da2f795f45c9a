import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

@Suite struct ObjectStoreTests {
    @Test func keys() {
        #expect(objectKey(id: 1_234_567) == "chunks/1/1234/1234567")
        #expect(objectKey(id: 5) == "chunks/0/0/5")
        let k = objectKey(id: UInt64.max)
        #expect(parseObjectKey(k) == UInt64.max)
        #expect(parseObjectKey("chunks/0/0/5") == 5)
        for bad in ["chunks/0/0/5_17", "chunks/1/0/5", "chunks/0/1/5", "chunk/0/0/5", "chunks/0/0/05",
                    "chunks/0/0/5/", "chunks/0/0/-5", "chunks/0/0", ""] {
            #expect(parseObjectKey(bad) == nil, "\(bad)")
        }
    }

    func exercise(_ store: ObjectStore) throws {
        let a = randomBytes(10_000, seed: 1)
        #expect(throws: Errno.noEntry) { _ = try store.get("chunks/0/0/1_10000") }
        #expect(try store.head("chunks/0/0/1_10000") == nil)
        try store.put("chunks/0/0/1_10000", a)
        try store.put("chunks/0/0/1_10000", a)                     // idempotent
        try store.put("chunks/0/0/2_0", [])
        try store.put("chunks/0/1/1001_3", [1, 2, 3])
        try store.put("other/x", [9])
        #expect(try store.get("chunks/0/0/1_10000") == a)
        #expect(try store.get("chunks/0/0/2_0") == [])
        #expect(try store.head("chunks/0/0/1_10000") == 10_000)
        #expect(try store.getRange("chunks/0/0/1_10000", offset: 100, length: 50) == Array(a[100..<150]))
        #expect(try store.getRange("chunks/0/0/1_10000", offset: 9990, length: 50) == Array(a[9990...]))
        #expect(try store.getRange("chunks/0/0/1_10000", offset: 20_000, length: 5) == [])
        #expect(try store.getRange("chunks/0/0/1_10000", offset: 5, length: 0) == [])
        #expect(try store.getRange("chunks/0/0/2_0", offset: 0, length: 10) == [])
        var buf = [UInt8](repeating: 0, count: 10_000)
        let n = try buf.withUnsafeMutableBytes { try store.get("chunks/0/0/1_10000", into: $0) }
        #expect(n == 10_000 && buf == a)
        var small = [UInt8](repeating: 0, count: 10)
        #expect(throws: Errno.range) { _ = try small.withUnsafeMutableBytes { try store.get("chunks/0/0/1_10000", into: $0) } }
        let all = try store.list(prefix: "")
        #expect(all.map(\.key) == ["chunks/0/0/1_10000", "chunks/0/0/2_0", "chunks/0/1/1001_3", "other/x"])
        #expect(all.map(\.size) == [10_000, 0, 3, 1])
        #expect(try store.list(prefix: "chunks/0/0/").map(\.key) == ["chunks/0/0/1_10000", "chunks/0/0/2_0"])
        #expect(try store.list(prefix: "chunks/0/0/1").map(\.key) == ["chunks/0/0/1_10000"])
        #expect(try store.list(prefix: "chunks/0/").count == 3)
        #expect(try store.list(prefix: "chunks/9/").isEmpty)
        #expect(try store.list(prefix: "ch").count == 3)
        try store.delete("chunks/0/0/1_10000")
        try store.delete("chunks/0/0/1_10000")                     // missing is success
        #expect(try store.head("chunks/0/0/1_10000") == nil)
        #expect(try store.list(prefix: "chunks/").count == 2)
        for bad in ["", "/abs", "a//b", "a/../b", ".tmp/x", "a/./b"] {
            #expect(throws: Errno.invalid) { try store.put(bad, [1]) }
        }
    }

    @Test func memoryStore() throws { try exercise(MemoryStore()) }

    @Test func localDirectoryStore() throws {
        let dir = TempDir()
        let store = LocalDirectoryStore(root: dir.path + "/objects/", syncWrites: false)
        #expect(store.description == "file://\(dir.path)/objects")
        #expect(try store.list(prefix: "").isEmpty)               // root not created yet
        try exercise(store)
        #expect(try Sys.listDirectory(dir.path + "/objects/.tmp").isEmpty)
        // synced writes work too
        let synced = LocalDirectoryStore(root: dir.path + "/objects")
        try synced.put("chunks/0/0/7_1", [7])
        #expect(try store.get("chunks/0/0/7_1") == [7])
        // an object deleted before the flush needs no sync (found by hilbert objbench)
        try synced.put("chunks/0/0/8_1", [8])
        try synced.delete("chunks/0/0/8_1")
        try synced.flush()
    }

    @Test func failedPutLeavesNothing() throws {
        let dir = TempDir()
        let store = LocalDirectoryStore(root: dir.path, syncWrites: false)
        try store.put("a", [1])
        // "a" is a file, so "a/b" cannot be renamed into place.
        #expect(throws: Errno.notDirectory) { try store.put("a/b", randomBytes(5000)) }
        #expect(try Sys.listDirectory(dir.path + "/.tmp").isEmpty)
        #expect(try store.list(prefix: "").map(\.key) == ["a"])
        // An unwritable temp area: .tmp replaced by a regular file.
        let dir2 = TempDir()
        let fd = try Sys.open(dir2.path + "/.tmp", O_WRONLY | O_CREAT, 0o644)
        Sys.close(fd)
        let store2 = LocalDirectoryStore(root: dir2.path, syncWrites: false)
        #expect(throws: Errno.notDirectory) { try store2.put("chunks/0/0/1_1", [1]) }
        #expect(try store2.list(prefix: "").isEmpty)
    }

    @Test func permissionErrorsSurface() throws {
        guard geteuid() != 0 else { return }          // root bypasses permissions
        let dir = TempDir()
        let store = LocalDirectoryStore(root: dir.path + "/ro", syncWrites: false)
        try Sys.mkdir(dir.path + "/ro", 0o555)
        #expect(throws: Errno.access) { try store.put("chunks/0/0/1_1", [1]) }
    }

    @Test func faultyStore() throws {
        let inner = MemoryStore()
        let f = FaultyStore(wrapping: inner)
        f.failPuts(next: 2, with: .noSpace, after: 1)
        try f.put("k1", [1])
        #expect(throws: Errno.noSpace) { try f.put("k2", [2]) }
        #expect(throws: Errno.noSpace) { try f.put("k2", [2]) }
        try f.put("k2", [2])
        #expect(f.putCount == 2)
        f.failGets(next: 1, with: .access)
        #expect(throws: Errno.access) { _ = try f.get("k1") }
        #expect(try f.get("k1") == [1])
        f.corruptGets(next: 1)
        #expect(try f.get("k2") == [2 ^ 0x10])
        #expect(try f.get("k2") == [2])
        f.dropPuts(next: 1)
        try f.put("k3", [3])
        #expect(try f.head("k3") == nil)
        f.drop("k1")
        #expect(throws: Errno.noEntry) { _ = try f.get("k1") }
        #expect(f.description.hasPrefix("faulty(memory://") && f.description.hasSuffix(")"))
    }
}
