import Glibc
import Testing
import HilbertSupport
import HilbertMeta
import HilbertData
@testable import HilbertCore

/// A store with settable modification times and injectable list/delete failures.
final class TimedStore: ObjectStore, @unchecked Sendable {
    let inner = MemoryStore()
    let lock = Lock()
    var modified: [String: Int64] = [:]
    var defaultModified: Int64 = 0
    var failList: Errno?
    /// delete(keys:) batches that succeed before every further one fails.
    var deleteBatchesLeft = Int.max
    var deletedKeys: [String] = []

    var description: String { "timed://" }
    func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) { try inner.put(key, data) }
    func get(_ key: String) throws(Errno) -> [UInt8] { try inner.get(key) }
    func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        try inner.getRange(key, offset: offset, length: length)
    }
    func delete(_ key: String) throws(Errno) {
        lock.withLock { deletedKeys.append(key) }
        try inner.delete(key)
    }
    func delete(keys: [String]) throws(Errno) {
        let ok = lock.withLock { () -> Bool in
            if deleteBatchesLeft == 0 { return false }
            deleteBatchesLeft -= 1
            return true
        }
        if !ok { throw Errno.io }
        for k in keys { try delete(k) }
    }
    func head(_ key: String) throws(Errno) -> Int? { try inner.head(key) }
    func list(prefix: String) throws(Errno) -> [ObjectInfo] {
        if let failList { throw failList }
        return try inner.list(prefix: prefix).map { o in
            ObjectInfo(key: o.key, size: o.size, modified: lock.withLock { modified[o.key] ?? defaultModified })
        }
    }
    func plant(_ key: String, _ bytes: Int = 10, modified m: Int64? = nil) {
        try! inner.put(key, [UInt8](repeating: 7, count: bytes))
        if let m { lock.withLock { modified[key] = m } }
    }
    func has(_ id: UInt64) -> Bool { (try? inner.head(objectKey(id: id))) != nil }
}

@Suite struct GarbageCollectorTests {
    static let now: Int64 = 1_700_000_000
    static let old = now - 7200

    /// A fresh volume with one file of `blocks` blocks whose objects are in the store.
    final class Fixture {
        let dir: String
        let meta: MetaStore
        let store = TimedStore()
        var file: Ino = 0
        var ids: [UInt64] = []

        init(blocks: Int = 3) throws {
            var t = Array("/tmp/hilbert-gc-XXXXXX".utf8CString)
            dir = String(cString: mkdtemp(&t)!)
            let f = VolumeFormat(name: "gc", uuid: "00000000-0000-0000-0000-00000000000c", storage: "file", bucket: "/nonexistent",
                                 compression: "none", blockSize: 4096, inlineMax: 64)
            meta = try MetaStore.create(path: dir + "/meta.db", format: f, rootUID: 0, rootGID: 0)
            store.defaultModified = GarbageCollectorTests.old
            file = try meta.createFile(parent: rootIno, name: Array("f".utf8), mode: 0o644, cred: .root, exclusive: true).attr.ino
            ids = try write(blocks)
        }

        /// Commit a new version of the file with fresh objects (the old ones go to hl_delobj).
        @discardableResult
        func write(_ blocks: Int) throws -> [UInt64] {
            let first = try meta.allocateObjectIDs(count: blocks)
            let ids = (0..<UInt64(blocks)).map { first + $0 }
            var refs: [BlockRef] = []
            for (i, id) in ids.enumerated() {
                store.plant(objectKey(id: id), 100)
                refs.append(BlockRef(index: UInt32(i), objectID: id, rawLength: 4096, storedLength: 100, crc: 0))
            }
            try meta.commitData(ino: file, size: UInt64(blocks * 4096), inline: nil, blocks: refs, cred: .root)
            return ids
        }

        func gc(delete: Bool = false, foreign: Bool = false, grace: Int64 = 3600,
                _ tune: (inout GCOptions) -> Void = { _ in }) throws -> GCReport {
            var o = GCOptions()
            o.delete = delete
            o.deleteForeign = foreign
            o.graceSeconds = grace
            o.now = GarbageCollectorTests.now
            tune(&o)
            return try GarbageCollector(meta: meta, store: store, options: o).run()
        }

        deinit {
            meta.close()
            for n in ["meta.db", "meta.db-wal", "meta.db-shm", "meta.db-epoch"] { unlink(dir + "/" + n) }
            rmdir(dir)
        }
    }

    @Test func cleanVolumeHasNothingToDo() throws {
        let f = try Fixture()
        let r = try f.gc(delete: true)
        #expect(r.listed.count == 3 && r.referenced.count == 3 && r.referenced.bytes == 300)
        #expect(r.leaked.count == 0 && r.deleted.count == 0 && r.missing == 0 && r.pendingRows == 0)
        #expect(r.nextObject == 4)
        #expect(f.store.deletedKeys.isEmpty)
    }

    @Test func leakedObjectsAreFoundAndOnlyThemDeleted() throws {
        let f = try Fixture()
        let leak = try f.meta.allocateObjectIDs(count: 2)        // a crashed commit: uploaded, never referenced
        f.store.plant(objectKey(id: leak), 50)
        f.store.plant(objectKey(id: leak + 1), 60)
        var seen: [String] = []
        var o = GCOptions()
        o.now = GarbageCollectorTests.now
        let gc = GarbageCollector(meta: f.meta, store: f.store, options: o)
        gc.onObject = { kind, key, _ in if kind == .leaked { seen.append(key) } }
        let r = try gc.run()
        #expect(r.leaked.count == 2 && r.leaked.bytes == 110)
        #expect(seen == [objectKey(id: leak), objectKey(id: leak + 1)])
        #expect(f.store.deletedKeys.isEmpty, "a report deletes nothing")
        let d = try f.gc(delete: true)
        #expect(d.deleted.count == 2 && d.deleted.bytes == 110)
        #expect(!f.store.has(leak) && !f.store.has(leak + 1))
        for id in f.ids { #expect(f.store.has(id), "referenced object \(id) kept") }
        #expect(try f.gc().leaked.count == 0)
    }

    /// A commit uploading on this node (its process alive): its objects are kept whatever the
    /// grace, even silent for longer than the upload bound; once the process is gone they
    /// are leaked, deleted, and the upload forgotten.
    @Test func uploadsInProgressAreKeptUntilTheirProcessIsGone() throws {
        let f = try Fixture()
        let me = StagingOwner.current(cacheRoot: "/c").record
        let first = try f.meta.allocateUploadIDs(count: 2, commit: 0, owner: me)
        f.store.plant(objectKey(id: first), 70)
        let late = Int64(time(nil)) + 10 * 3600
        var r = try f.gc(delete: true, grace: 0) { $0.now = late }
        #expect(r.uploading.count == 1 && r.uploading.bytes == 70)
        #expect(r.deleted.count == 0 && f.store.has(first))
        #expect(r.abandonedUploads == 0)

        let dead = try deadPID()
        let gone = StagingOwner(node: StagingOwner.current(cacheRoot: "/c").node, pid: dead, cacheRoot: "/c").record
        let other = try f.meta.allocateUploadIDs(count: 1, commit: 0, owner: gone)
        f.store.plant(objectKey(id: other), 80)
        r = try f.gc(delete: true, grace: 0) { $0.now = late }
        #expect(r.uploading.count == 1, "the live commit's object is still kept")
        #expect(r.deleted.count == 1 && !f.store.has(other), "the dead commit's object is deleted")
        #expect(r.abandonedUploads == 1)
        #expect(try f.meta.uploadsInProgress().map(\.firstID) == [first])
    }

    /// An upload registered on another node: kept while it shows signs of life (a new batch
    /// within `uploadSilenceSeconds`), abandoned after.
    @Test func uploadsOfOtherNodesAreAbandonedOnlyAfterSilence() throws {
        let f = try Fixture()
        let remote = "node=another-node pid=1 cache=/c"
        let first = try f.meta.allocateUploadIDs(count: 1, commit: 0, owner: remote)
        f.store.plant(objectKey(id: first), 90)
        let now = Int64(time(nil))
        var r = try f.gc(delete: true, grace: 0) { $0.now = now + 60 }
        #expect(r.uploading.count == 1 && f.store.has(first))
        let second = try f.meta.allocateUploadIDs(count: 1, commit: first, owner: remote)   // the same commit's next batch
        #expect(second == first + 1)
        r = try f.gc(delete: true, grace: 0) { $0.now = now + 3000 }
        #expect(r.uploading.count == 1 && f.store.has(first), "a new batch refreshed the whole commit")
        r = try f.gc(delete: true, grace: 0) { $0.now = now + 2 * 3600 }
        #expect(r.deleted.count == 1 && !f.store.has(first) && r.abandonedUploads == 1)
        #expect(try f.meta.uploadsInProgress().isEmpty)
    }

    /// The pid of a child that has exited and been reaped.
    private func deadPID() throws -> Int32 {
        let pid = fork()
        if pid == 0 { _exit(0) }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return pid
    }

    @Test func graceProtectsRecentAndUndatedObjects() throws {
        let f = try Fixture()
        let a = try f.meta.allocateObjectIDs(count: 3)
        f.store.plant(objectKey(id: a), modified: GarbageCollectorTests.now - 60)      // in flight
        f.store.plant(objectKey(id: a + 1), modified: 0)                               // store cannot tell
        f.store.plant(objectKey(id: a + 2), modified: GarbageCollectorTests.now + 600) // clock skew
        var r = try f.gc(delete: true)
        #expect(r.recent.count == 3 && r.leaked.count == 0 && r.deleted.count == 0)
        #expect(f.store.has(a) && f.store.has(a + 1) && f.store.has(a + 2))
        r = try f.gc(delete: true, grace: 30)
        #expect(r.recent.count == 2 && r.deleted.count == 1 && !f.store.has(a))
        r = try f.gc(delete: true, grace: 0)
        #expect(r.deleted.count == 2 && !f.store.has(a + 1) && !f.store.has(a + 2))
    }

    @Test func foreignKeysAndIdsBeyondTheCounterNeedDeleteForeign() throws {
        let f = try Fixture()
        f.store.plant(objectKey(id: 1_000_000_123))
        f.store.plant("chunks/notes.txt")
        f.store.plant("chunks/0/0/5_4096")                       // an older key layout
        f.store.plant("other/x")                                 // outside chunks/: never looked at
        var r = try f.gc(delete: true)
        #expect(r.beyondCounter.count == 1 && r.foreign.count == 2 && r.deleted.count == 0)
        #expect(r.listed.count == 6)
        r = try f.gc(delete: true, foreign: true)
        #expect(r.deleted.count == 3)
        #expect(try f.store.list(prefix: "").map(\.key) == f.ids.map { objectKey(id: $0) } + ["other/x"])
    }

    @Test func pendingDeletionsAreFinishedAndForgotten() throws {
        let f = try Fixture(blocks: 5)
        let first = f.ids
        try f.write(2)                                           // releases 5 objects into hl_delobj
        try f.store.delete(objectKey(id: first[0]))              // one already deleted, row not forgotten
        var r = try f.gc()
        #expect(r.pendingRows == 5 && r.pendingListed.count == 4 && r.leaked.count == 0)
        #expect(try f.meta.pendingDeletionTotals().count == 5, "a report forgets nothing")
        r = try f.gc(delete: true) { $0.batchSize = 2; $0.pageSize = 3 }
        #expect(r.forgotten == 5)
        #expect(try f.meta.pendingDeletionTotals().count == 0)
        for id in first { #expect(!f.store.has(id)) }
        #expect(try f.store.list(prefix: "chunks/").count == 2)
    }

    @Test func missingObjectsAreReported() throws {
        let f = try Fixture()
        try f.store.delete(objectKey(id: f.ids[1]))
        var missing: [String] = []
        var o = GCOptions()
        o.now = GarbageCollectorTests.now
        let gc = GarbageCollector(meta: f.meta, store: f.store, options: o)
        gc.onObject = { kind, key, _ in if kind == .missing { missing.append(key) } }
        let r = try gc.run()
        #expect(r.missing == 1 && missing == [objectKey(id: f.ids[1])])
    }

    @Test func anEmptyStoreUnderAVolumeWithDataIsRefused() throws {
        let f = try Fixture()
        try f.write(1)                                            // three pending deletions
        for k in try f.store.list(prefix: "").map(\.key) { try f.store.delete(k) }
        #expect(try f.gc().missing == 1, "a report still works")
        #expect {
            _ = try f.gc(delete: true)
        } throws: { e in (e as? HilbertError)?.message.contains("wrong location") == true }
        #expect(try f.meta.pendingDeletionTotals().count == 3, "no pending deletion forgotten")
    }

    @Test func aStoreThatCannotListFailsClearlyAndDeletesNothing() throws {
        let f = try Fixture()
        f.store.plant(objectKey(id: try f.meta.allocateObjectIDs(count: 1)))
        f.store.failList = .access
        #expect {
            _ = try f.gc(delete: true)
        } throws: { e in
            guard let h = e as? HilbertError else { return false }
            return h.errno == .access && h.message.contains("cannot list the object store timed://")
        }
        #expect(f.store.deletedKeys.isEmpty)
    }

    @Test func failingDeletesStopAndTheRunCanBeRepeated() throws {
        let f = try Fixture()
        let first = try f.meta.allocateObjectIDs(count: 5)
        for i in 0..<5 { f.store.plant(objectKey(id: first + UInt64(i))) }
        f.store.deleteBatchesLeft = 1
        var r = try f.gc(delete: true) { $0.batchSize = 2 }
        #expect(r.deleted.count == 2)
        #expect(r.error?.contains("failed") == true)
        for id in f.ids { #expect(f.store.has(id)) }
        f.store.deleteBatchesLeft = .max
        r = try f.gc(delete: true) { $0.batchSize = 2 }
        #expect(r.error == nil && r.deleted.count == 3 && r.leaked.count == 3)
        #expect(try f.store.list(prefix: "chunks/").count == 3)
    }

    @Test func manyObjectsAcrossDirectories() throws {
        let f = try Fixture(blocks: 2500)                       // ids 1…2500: three leaf directories
        let leak = try f.meta.allocateObjectIDs(count: 1500)
        for i in stride(from: 0, to: 1500, by: 3) { f.store.plant(objectKey(id: leak + UInt64(i))) }
        var lines = 0
        var o = GCOptions()
        o.now = GarbageCollectorTests.now
        o.delete = true
        o.batchSize = 64
        o.progressObjects = 100
        let gc = GarbageCollector(meta: f.meta, store: f.store, options: o)
        gc.progress = { _ in lines += 1 }
        let r = try gc.run()
        #expect(r.referenced.count == 2500 && r.leaked.count == 500 && r.deleted.count == 500)
        #expect(lines > 5, "progress was reported")
        #expect(try f.store.list(prefix: "chunks/").count == 2500)
    }
}
