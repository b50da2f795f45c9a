import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

@Suite struct DataTests {
    @Test func commitDataAndDeletions() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o6755, cred: alice, exclusive: true).attr
            // Inline first.
            try s.commitData(ino: f.ino, size: 5, inline: b("hello"), blocks: [], cred: alice)
            var l = try s.dataLayout(f.ino)
            #expect(l.inline == b("hello") && l.blocks.isEmpty && l.attr.size == 5 && l.attr.version == 1)
            #expect(l.attr.mode & 0o7777 == 0o0755)   // suid/sgid cleared by a non-root write
            var u = try s.usage()
            #expect(u.logicalBytes == 5 && u.storedBytes == 5 && u.objects == 0)
            // Then blocks.
            let first = try s.allocateObjectIDs(count: 3)
            #expect(try s.allocateObjectIDs(count: 1) == first + 3)
            let b0 = BlockRef(index: 0, objectID: first, rawLength: 4096, storedLength: 100, crc: 1)
            let b1 = BlockRef(index: 1, objectID: first + 1, rawLength: 10, storedLength: 10, crc: 2)
            var del = try s.commitData(ino: f.ino, size: 4106, inline: nil, blocks: [b0, b1], cred: alice).released
            #expect(del.isEmpty)
            l = try s.dataLayout(f.ino)
            #expect(l.inline == nil && l.blocks == [b0, b1] && l.attr.version == 2)
            u = try s.usage()
            #expect(u.logicalBytes == 4106 && u.storedBytes == 110 && u.objects == 2)
            // New version: block 0 reused, block 1 replaced.
            let b1n = BlockRef(index: 1, objectID: first + 2, rawLength: 20, storedLength: 20, crc: 3)
            del = try s.commitData(ino: f.ino, size: 4116, mtime: Timespec(sec: 42, nsec: 0), inline: nil, blocks: [b0, b1n], cred: alice).released
            #expect(del == [DeletedObject(objectID: first + 1, storedLength: 10)])
            l = try s.dataLayout(f.ino)
            #expect(l.blocks == [b0, b1n] && l.attr.mtime == Timespec(sec: 42, nsec: 0))
            #expect(try s.pendingDeletions(limit: 10) == del)
            try s.forgetDeletions([first + 1])
            #expect(try s.pendingDeletions(limit: 10).isEmpty)
            #expect(throws: Errno.invalid) { try s.commitData(ino: f.ino, size: 1, inline: b("x"), blocks: [b0], cred: alice) }
            // Unlink releases the remaining objects durably.
            let rel = try s.unlink(parent: rootIno, name: b("f"), cred: alice)
            #expect(Set(rel.objects.map { $0.objectID }) == [first, first + 2])
            #expect(Set(try s.pendingDeletions().map { $0.objectID }) == [first, first + 2])
            u = try s.usage()
            #expect(u.logicalBytes == 0 && u.storedBytes == 0 && u.objects == 0 && u.inodes == 1)
        }
    }

    /// The objects of a file of several blocks stay `keepReplacedSeconds` after a commit or an
    /// unlink released them (readers of that version fetch blocks as they read); those of a
    /// one-block file, and packs, are due at once.
    @Test func deferredDeletion() throws {
        try withVolume { s, _ in
            s.keepReplacedSeconds = 3600
            let f = try s.createFile(parent: rootIno, name: b("big"), mode: 0o644, cred: alice, exclusive: true).attr
            let id = try s.allocateObjectIDs(count: 5)
            let v1 = [BlockRef(index: 0, objectID: id, rawLength: 4096, storedLength: 50, crc: 1),
                      BlockRef(index: 1, objectID: id + 1, rawLength: 4096, storedLength: 50, crc: 2)]
            try s.commitData(ino: f.ino, size: 8192, inline: nil, blocks: v1, cred: alice)
            let before = Timespec.now().sec
            let v2 = [v1[0], BlockRef(index: 1, objectID: id + 2, rawLength: 4096, storedLength: 50, crc: 3)]
            let rel = try s.commitData(ino: f.ino, size: 8192, inline: nil, blocks: v2, cred: alice).released
            #expect(rel.map { $0.objectID } == [id + 1])
            #expect(rel.allSatisfy { $0.due >= before + 3600 && !$0.isDue(at: before) })
            #expect(try s.pendingDeletions(dueBy: Timespec.now().sec).isEmpty)
            #expect(try s.pendingDeletions().map { $0.objectID } == [id + 1])
            #expect(try s.pendingDeletions(dueBy: before + 3601 + 60).map { $0.objectID } == [id + 1])
            // A one-block file's object is due at once.
            let g = try s.createFile(parent: rootIno, name: b("small"), mode: 0o644, cred: alice, exclusive: true).attr
            try s.commitData(ino: g.ino, size: 10, inline: nil, blocks: [BlockRef(index: 0, objectID: id + 3, rawLength: 10, storedLength: 10, crc: 4)], cred: alice)
            let relSmall = try s.commitData(ino: g.ino, size: 2, inline: b("hi"), blocks: [], cred: alice).released
            #expect(relSmall == [DeletedObject(objectID: id + 3, storedLength: 10, due: 0)])
            // Unlinking the big file defers its remaining objects too.
            let gone = try s.unlink(parent: rootIno, name: b("big"), cred: alice)
            #expect(Set(gone.objects.map { $0.objectID }) == [id, id + 2] && gone.objects.allSatisfy { $0.due > before })
            #expect(try s.pendingDeletions(dueBy: Timespec.now().sec).map { $0.objectID } == [id + 3])
            s.keepReplacedSeconds = 0
        }
    }

    @Test func truncateAtMetadataLevel() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            try s.commitData(ino: f.ino, size: 5, inline: b("hello"), blocks: [], cred: alice)
            var r = try s.truncate(ino: f.ino, size: 2, cred: alice)
            #expect(!r.needsData && r.attr.size == 2)
            #expect(try s.dataLayout(f.ino).inline == b("he"))
            r = try s.truncate(ino: f.ino, size: 4, cred: alice)
            #expect(try s.dataLayout(f.ino).inline == b("he\0\0"))
            r = try s.truncate(ino: f.ino, size: 100_000, cred: alice)
            #expect(r.needsData && r.attr.size == 4)
            #expect(throws: Errno.access) { _ = try s.truncate(ino: f.ino, size: 0, cred: bob) }
            let id = try s.allocateObjectIDs(count: 2)
            try s.commitData(ino: f.ino, size: 8192, inline: nil, blocks: [
                BlockRef(index: 0, objectID: id, rawLength: 4096, storedLength: 50, crc: 0),
                BlockRef(index: 1, objectID: id + 1, rawLength: 4096, storedLength: 60, crc: 0)], cred: alice)
            #expect(try s.dataLayout(f.ino).inline == nil)
            r = try s.truncate(ino: f.ino, size: 5000, cred: alice)
            #expect(r.needsData)
            r = try s.truncate(ino: f.ino, size: 4096, cred: alice)
            #expect(!r.needsData && r.released == [DeletedObject(objectID: id + 1, storedLength: 60)] && r.attr.size == 4096)
            #expect(try s.usage().storedBytes == 50)
        }
    }

    @Test func staging() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            #expect(try s.staging(f.ino) == nil)
            try s.setStaging(ino: f.ino, file: "/var/tmp/stage/1", owner: "")
            #expect(try s.staging(f.ino) == "/var/tmp/stage/1")
            #expect(try s.getattr(f.ino).staged)
            #expect(try s.allStaging().map { $0.1 } == ["/var/tmp/stage/1"])
            try s.clearStaging(ino: f.ino)
            #expect(try !s.getattr(f.ino).staged)
            // Combined check-and-set in one write transaction; a throw rolls back.
            do throws(Errno) {
                try s.withWriteTransaction { () throws(Errno) in
                    if try s.staging(f.ino) == nil { try s.setStaging(ino: f.ino, file: "/x", owner: "") }
                    throw Errno.again
                }
            } catch { #expect(error == .again) }
            #expect(try s.staging(f.ino) == nil)
            try s.withWriteTransaction { () throws(Errno) in
                if try s.staging(f.ino) == nil { try s.setStaging(ino: f.ino, file: "/y", owner: "") }
            }
            #expect(try s.staging(f.ino) == "/y")
            let rel = try s.unlink(parent: rootIno, name: b("f"), cred: alice)
            #expect(rel.stagingFiles == ["/y"])
            #expect(try s.allStaging().isEmpty)
        }
    }
}
