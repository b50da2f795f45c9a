import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

/// Bulk import and export of metadata (`hilbert import`/`export`), on every backend:
/// `importEntries` makes nodes as a writer would (permissions, existing names, owners), all of
/// a batch or none, with its pack and uploads; `exportPage` gives a listing page with what is
/// needed to copy each entry out.
@Suite struct ImportTests {
    static let t1 = Timespec(sec: 1_600_000_000, nsec: 123_456_789)
    static let t2 = Timespec(sec: 1_500_000_000, nsec: 987_654_321)

    static func entry(_ parent: Ino, _ name: String, _ mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) -> ImportEntry {
        ImportEntry(parent: parent, name: b(name), mode: mode, uid: uid, gid: gid, atime: t1, mtime: t2)
    }

    static func file(_ parent: Ino, _ name: String, size: UInt32, block: BlockRef?, uid: UInt32 = 0, gid: UInt32 = 0) -> ImportEntry {
        var e = entry(parent, name, 0o100640, uid: uid, gid: gid)
        e.size = UInt64(size)
        if let block { e.blocks = [block] }
        return e
    }

    static func piece(_ pack: UInt64, _ k: Int, size: UInt32 = 10) -> BlockRef {
        BlockRef(index: 0, objectID: pack, rawLength: size, storedLength: 42 + size, crc: UInt32(k), objectOffset: 8 + 100 * UInt64(k))
    }

    static func created(_ o: ImportOutcome) -> Ino? {
        if case .created(let ino) = o { return ino }
        return nil
    }

    @Test func aBatchMakesItsNodesWithTheirContentPackAndUploads() throws {
        try withVolume { s, _ in
            let id = try s.allocateUploadIDsEach(count: 2, owner: "test")
            #expect(try id.count == 2 && id[1] == id[0] + 1 && s.uploadsInProgress().map { $0.commit } == id)
            let big = try s.allocateUploadIDs(count: 2, commit: 0, owner: "test")
            var dir = ImportTests.entry(rootIno, "d", 0o40750)
            dir.parentExisted = true
            dir.xattrs = [ImportXattr(name: b("user.d"), value: b("dv"))]
            let made = try s.importEntries([dir], pack: nil, uploads: [], cred: root)
            let d = try #require(ImportTests.created(made.outcomes[0]))
            var f1 = ImportTests.file(d, "f1", size: 10, block: ImportTests.piece(id[0], 0))
            f1.xattrs = [ImportXattr(name: b("user.a"), value: b("1")), ImportXattr(name: b("user.b"), value: [0, 255])]
            let f2 = ImportTests.file(d, "f2", size: 10, block: ImportTests.piece(id[0], 1))
            var bigFile = ImportTests.file(d, "big", size: 8192, block: nil)
            bigFile.blocks = [BlockRef(index: 0, objectID: big, rawLength: 4096, storedLength: 100, crc: 1),
                              BlockRef(index: 1, objectID: big + 1, rawLength: 4096, storedLength: 200, crc: 2)]
            let empty = ImportTests.file(d, "empty", size: 0, block: nil)
            var link = ImportTests.entry(d, "sl", 0o120777)
            link.symlinkTarget = b("../nowhere")
            let fifo = ImportTests.entry(d, "fifo", 0o10600)
            let sub = ImportTests.entry(d, "sub", 0o40700)
            let pack = PackRow(objectID: id[0], size: 300, pieces: 2, created: 7)
            let c = try s.importEntries([f1, f2, bigFile, empty, link, fifo, sub], pack: pack, uploads: [id[0], big], cred: root)
            #expect(c.packUsed && c.released.isEmpty)
            let inos = c.outcomes.compactMap(ImportTests.created)
            #expect(inos.count == 7 && Set(inos).count == 7)
            let a = try s.getattr(inos[0])
            #expect(a.mode == 0o100640 && a.size == 10 && a.atime == ImportTests.t1 && a.mtime == ImportTests.t2 && a.nlink == 1 && a.uid == 0)
            #expect(a.ctime > ImportTests.t1 && a.btime == a.ctime)
            #expect(try s.dataLayout(inos[0]).blocks == [ImportTests.piece(id[0], 0)])
            #expect(try s.dataLayout(inos[2]).blocks.count == 2 && s.getattr(inos[2]).size == 8192)
            #expect(try s.listxattr(inos[0]) == [b("user.a"), b("user.b")])
            #expect(try s.getxattr(inos[0], name: b("user.b"), cred: root) == [0, 255])
            #expect(try s.readlink(inos[4]) == b("../nowhere") && s.getattr(inos[4]).size == 10)
            #expect(try s.getattr(inos[5]).mode == 0o10600)
            let subAttr = try s.getattr(inos[6])
            #expect(subAttr.isDirectory && subAttr.nlink == 2 && subAttr.parent == d)
            // The directory the batch went into keeps its times; it counts its subdirectory.
            let dAttr = try s.getattr(d)
            #expect(dAttr.mtime == ImportTests.t2 && dAttr.nlink == 3 && dAttr.mode == 0o40750)
            #expect(try s.listxattr(d) == [b("user.d")])
            #expect(try s.packs() == [pack])
            // The pack's and the big file's uploads are finished; the second pre-registered id is not.
            #expect(try s.uploadsInProgress().map { $0.commit } == [id[1]])
            #expect(try s.usage() == VolumeUsage(inodes: 9, logicalBytes: 8212, storedBytes: 52 + 52 + 300, objects: 3))
            #expect(try s.lookup(parent: d, name: b("f2"))?.ino == inos[1])
        }
    }

    @Test func existingNamesAreKeptOrReplacedButNeverADirectory() throws {
        try withVolume { s, _ in
            let old = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            try s.commitData(ino: old.ino, size: 3, inline: b("old"), blocks: [], cred: alice)
            _ = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: alice)
            var keep = ImportTests.file(rootIno, "f", size: 0, block: nil)
            keep.parentExisted = true
            var dir = ImportTests.entry(rootIno, "d", 0o40755)
            dir.parentExisted = true
            var onDir = ImportTests.file(rootIno, "d", size: 0, block: nil)
            onDir.parentExisted = true
            onDir.replace = true
            var c = try s.importEntries([keep, dir, onDir], pack: nil, uploads: [], cred: alice)
            let d = try #require(try s.lookup(parent: rootIno, name: b("d")))
            #expect(c.outcomes == [.exists(ino: old.ino, isDirectory: false), .exists(ino: d.ino, isDirectory: true),
                                   .exists(ino: d.ino, isDirectory: true)])
            #expect(try s.dataLayout(old.ino).inline == b("old"))
            var replace = keep
            replace.replace = true
            c = try s.importEntries([replace], pack: nil, uploads: [], cred: alice)
            guard case .replaced(let new) = c.outcomes[0] else { Issue.record("not replaced: \(c.outcomes)"); return }
            #expect(try new != old.ino && s.lookup(parent: rootIno, name: b("f"))?.ino == new)
            expectErrno(.noEntry) { _ = try s.getattr(old.ino) }
            #expect(try s.usage().inodes == 3)
            // A file with a writer on it is not replaced.
            try s.setStaging(ino: new, file: "x", owner: "")
            c = try s.importEntries([replace], pack: nil, uploads: [], cred: alice)
            #expect(c.outcomes == [.failed(.busy)])
        }
    }

    @Test func aNameAnotherWriterMadeInADirectoryOfTheImportIsFound() throws {
        try withVolume { s, _ in
            let d = try #require(ImportTests.created(try s.importEntries([ImportTests.entry(rootIno, "d", 0o40755)], pack: nil,
                                                                           uploads: [], cred: root).outcomes[0]))
            // Made by someone else after the import created d (whose names it does not look up).
            let theirs = try s.createFile(parent: d, name: b("b"), mode: 0o644, cred: root, exclusive: true).attr
            let c = try s.importEntries([ImportTests.file(d, "a", size: 0, block: nil), ImportTests.file(d, "b", size: 0, block: nil),
                                         ImportTests.file(d, "c", size: 0, block: nil)], pack: nil, uploads: [], cred: root)
            #expect(ImportTests.created(c.outcomes[0]) != nil && ImportTests.created(c.outcomes[2]) != nil)
            #expect(c.outcomes[1] == .exists(ino: theirs.ino, isDirectory: false))
            #expect(try s.lookup(parent: d, name: b("b"))?.ino == theirs.ino)
        }
    }

    @Test func parentsMustBeWritableDirectoriesThatExist() throws {
        try withVolume { s, _ in
            let ro = try s.mkdir(parent: rootIno, name: b("ro"), mode: 0o555, cred: alice)
            let gone = try s.mkdir(parent: rootIno, name: b("gone"), mode: 0o755, cred: alice)
            _ = try s.rmdir(parent: rootIno, name: b("gone"), cred: alice)
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            let id = try s.allocateUploadIDsEach(count: 1, owner: "t")[0]
            let c = try s.importEntries([ImportTests.file(ro.ino, "a", size: 10, block: ImportTests.piece(id, 0)),
                                         ImportTests.file(gone.ino, "b", size: 10, block: ImportTests.piece(id, 1)),
                                         ImportTests.file(f.ino, "c", size: 10, block: ImportTests.piece(id, 2))],
                                        pack: PackRow(objectID: id, size: 400, pieces: 3, created: 1), uploads: [id], cred: bob)
            #expect(c.outcomes == [.failed(.access), .failed(.noEntry), .failed(.notDirectory)])
            // No entry took the pack: it is not recorded, its upload is finished all the same.
            #expect(try !c.packUsed && s.packs().isEmpty && s.uploadsInProgress().isEmpty && s.usage().objects == 0)
            // Not even its owner writes there (no write permission); anyone writes into the root (0777).
            let mine = try s.importEntries([ImportTests.file(ro.ino, "a", size: 0, block: nil)], pack: nil, uploads: [], cred: alice)
            #expect(mine.outcomes == [.failed(.access)])
            #expect(try s.importEntries([ImportTests.file(rootIno, "g", size: 0, block: nil)], pack: nil, uploads: [], cred: bob)
                .outcomes.compactMap(ImportTests.created).count == 1)
        }
    }

    @Test func ownersAreKeptForRootAndAreTheImportersOtherwise() throws {
        try withVolume { s, _ in
            let carol = Credentials(uid: 1002, gid: 1002, groups: [50])
            let shared = try s.mkdir(parent: rootIno, name: b("shared"), mode: 0o2777, cred: Credentials(uid: 0, gid: 77))
            let entries = [ImportTests.file(rootIno, "own", size: 0, block: nil, uid: 7, gid: 50),
                           ImportTests.file(rootIno, "other", size: 0, block: nil, uid: 7, gid: 60),
                           ImportTests.file(shared.ino, "sgid", size: 0, block: nil, uid: 7, gid: 60)]
            var setgid = ImportTests.file(shared.ino, "setgid", size: 0, block: nil, uid: 7, gid: 60)
            setgid.mode = 0o102755
            let c = try s.importEntries(entries + [setgid], pack: nil, uploads: [], cred: carol)
            let a = try c.outcomes.map { try s.getattr(try #require(ImportTests.created($0))) }
            #expect(a.map { $0.uid } == [1002, 1002, 1002, 1002])
            #expect(a.map { $0.gid } == [50, 1002, 77, 77])
            #expect(a[3].mode == 0o100755)   // S_ISGID of a group that is not carol's goes
            let asRoot = try s.importEntries([ImportTests.file(rootIno, "r", size: 0, block: nil, uid: 7, gid: 60)],
                                             pack: nil, uploads: [], cred: root)
            let r = try s.getattr(try #require(ImportTests.created(asRoot.outcomes[0])))
            #expect(r.uid == 7 && r.gid == 60)
        }
    }

    @Test func linksNameNodesOfEarlierBatches() throws {
        try withVolume { s, _ in
            let c = try s.importEntries([ImportTests.file(rootIno, "a", size: 0, block: nil), ImportTests.entry(rootIno, "d", 0o40755)],
                                        pack: nil, uploads: [], cred: root)
            let a = try #require(ImportTests.created(c.outcomes[0]))
            let d = try #require(ImportTests.created(c.outcomes[1]))
            var l1 = ImportTests.file(d, "b", size: 0, block: nil)
            l1.linkTarget = a
            var l2 = ImportTests.file(rootIno, "c", size: 0, block: nil)
            l2.linkTarget = a
            var toDir = ImportTests.file(rootIno, "e", size: 0, block: nil)
            toDir.linkTarget = d
            let links = try s.importEntries([l1, l2, toDir], pack: nil, uploads: [], cred: root)
            #expect(links.outcomes == [.created(a), .created(a), .failed(.perm)])
            #expect(try s.getattr(a).nlink == 3 && s.lookup(parent: d, name: b("b"))?.ino == a)
            #expect(try s.usage().inodes == 3)
        }
    }

    @Test func aFailedBatchLeavesNothing() throws {
        try withVolume { s, _ in
            let id = try s.allocateUploadIDsEach(count: 1, owner: "t")[0]
            // One name twice in a batch: the backend refuses the second entry, even once every
            // name is looked up.
            let good = ImportTests.file(rootIno, "good", size: 10, block: ImportTests.piece(id, 0))
            let dup = ImportTests.file(rootIno, "dup", size: 10, block: ImportTests.piece(id, 1))
            #expect(throws: Errno.self) {
                _ = try s.importEntries([good, dup, dup], pack: PackRow(objectID: id, size: 400, pieces: 3, created: 1), uploads: [id], cred: root)
            }
            #expect(try s.lookup(parent: rootIno, name: b("good")) == nil)
            #expect(try s.packs().isEmpty && s.uploadsInProgress().map { $0.commit } == [id])
            #expect(try s.usage() == VolumeUsage(inodes: 1, logicalBytes: 0, storedBytes: 0, objects: 0))
        }
    }

    @Test func namesOfAnyBytesGoInAsTheyAre() throws {
        try withVolume { s, _ in
            // Every byte but NUL and '/', one name each (and "." and ".." left out), and a 255-byte name.
            var names = (1...255).filter { $0 != 0x2F && $0 != 0x2E }.map { [UInt8($0), 0x5C, 0x22, 0x7B, 0x2C, 0x7D, UInt8($0)] }
            names.append([UInt8](repeating: 0xFF, count: 255))
            let entries = names.map { n -> ImportEntry in
                var e = ImportTests.file(rootIno, "x", size: 0, block: nil)
                e.name = n
                return e
            }
            let c = try s.importEntries(entries, pack: nil, uploads: [], cred: root)
            #expect(c.outcomes.compactMap(ImportTests.created).count == names.count)
            for (n, o) in zip(names, c.outcomes) { #expect(try s.lookup(parent: rootIno, name: n)?.ino == ImportTests.created(o)) }
        }
    }

    @Test func anExportPageCarriesWhatACopyNeeds() throws {
        try withVolume { s, _ in
            let id = try s.allocateUploadIDsEach(count: 1, owner: "t")[0]
            var entries: [ImportEntry] = []
            for k in 0..<5 {
                var f = ImportTests.file(rootIno, "f\(k)", size: 10, block: ImportTests.piece(id, k))
                if k == 1 { f.xattrs = [ImportXattr(name: b("user.k"), value: b("v"))] }
                entries.append(f)
            }
            var l = ImportTests.entry(rootIno, "l", 0o120777)
            l.symlinkTarget = b("f0")
            entries.append(l)
            var dir = ImportTests.entry(rootIno, "d", 0o40700)
            dir.xattrs = [ImportXattr(name: b("user.z"), value: b("dir"))]
            entries.append(dir)
            _ = try s.importEntries(entries, pack: PackRow(objectID: id, size: 600, pieces: 5, created: 1), uploads: [id], cred: root)
            let small = try s.createFile(parent: rootIno, name: b("inline"), mode: 0o600, cred: root, exclusive: true).attr
            try s.commitData(ino: small.ino, size: 2, inline: b("hi"), blocks: [], cred: root)
            var page = try s.exportPage(rootIno, after: 0, limit: 3, cred: root)
            var all = page.entries
            while let next = page.next {
                page = try s.exportPage(rootIno, after: next, limit: 3, cred: root)
                all += page.entries
            }
            #expect(page.entries.count == 2)   // 8 entries: the third page is not full, and says so
            #expect(all.map { String(decoding: $0.name, as: UTF8.self) } == ["f0", "f1", "f2", "f3", "f4", "l", "d", "inline"])
            #expect(all[0].blocks == [ImportTests.piece(id, 0)] && all[0].inline == nil && all[0].xattrs.isEmpty)
            #expect(all[1].xattrs == [ImportXattr(name: b("user.k"), value: b("v"))])
            #expect(all[5].symlinkTarget == b("f0") && all[5].attr.isSymlink)
            #expect(all[6].attr.isDirectory && all[6].xattrs == [ImportXattr(name: b("user.z"), value: b("dir"))])
            #expect(all[7].inline == b("hi") && all[7].blocks.isEmpty)
            #expect(all[0].attr.mtime == ImportTests.t2 && all[0].attr.atime == ImportTests.t1)
            // The directory must be readable and searchable.
            let d = all[6].attr.ino
            expectErrno(.access) { _ = try s.exportPage(d, after: 0, limit: 10, cred: alice) }
            expectErrno(.notDirectory) { _ = try s.exportPage(all[0].attr.ino, after: 0, limit: 10, cred: root) }
        }
    }
}
