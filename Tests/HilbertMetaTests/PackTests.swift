import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

/// Extents and packs (docs/FORMAT.md, "Extents and packs"), on every backend: blocks of many
/// files in one object, recorded once (`hl_pack`), released when the last block pointing
/// into it goes, whichever way it goes; files that changed after they were read for packing
/// keep their new content.
@Suite struct PackTests {
    /// Small files `names` in the root, each with inline content of `k + 1` bytes.
    static func smallFiles(_ s: MetaStore, _ names: [String]) throws -> [Attr] {
        try names.enumerated().map { k, name in
            let f = try s.createFile(parent: rootIno, name: b(name), mode: 0o644, cred: alice, exclusive: true).attr
            try s.commitData(ino: f.ino, size: UInt64(k + 1), inline: [UInt8](repeating: UInt8(k), count: k + 1), blocks: [], cred: alice)
            return try s.getattr(f.ino)
        }
    }

    static func piece(_ pack: UInt64, _ k: Int) -> BlockRef {
        BlockRef(index: 0, objectID: pack, rawLength: UInt32(k + 1), storedLength: 40 + UInt32(k), crc: UInt32(100 + k),
                 objectOffset: 8 + 100 * UInt64(k))
    }

    /// Pack `files` (as read: their current versions) into a new pack; the adoption and the id.
    static func pack(_ s: MetaStore, _ files: [Attr]) throws -> (PackAdoption, UInt64) {
        let id = try s.allocateUploadIDs(count: 1, commit: 0, owner: "test")
        let packed = files.enumerated().map { k, a in PackedFile(ino: a.ino, version: a.version, block: piece(id, k)) }
        let adoption = try s.adoptPack(PackRow(objectID: id, size: 8 + 100 * UInt64(files.count), pieces: UInt64(files.count),
                                               created: 1), uploadCommit: id, files: packed)
        return (adoption, id)
    }

    @Test func adoptedFilesPointIntoThePackAndLeaveTheMetadata() throws {
        try withVolume { s, _ in
            let files = try PackTests.smallFiles(s, ["a", "b", "c"])
            #expect(try s.usage() == VolumeUsage(inodes: 4, logicalBytes: 6, storedBytes: 6, objects: 0))
            let (adoption, id) = try PackTests.pack(s, files)
            #expect(adoption.adopted == 3 && adoption.changed == 0 && adoption.released.isEmpty && adoption.inlineBytesMoved == 6)
            for (k, f) in files.enumerated() {
                let l = try s.dataLayout(f.ino)
                #expect(l.inline == nil && l.blocks == [PackTests.piece(id, k)])
                // The same file to everyone: size, times and (inline before) version kept.
                #expect(l.attr.size == f.size && l.attr.mtime == f.mtime && l.attr.ctime == f.ctime && l.attr.version == f.version)
            }
            #expect(try s.packs() == [PackRow(objectID: id, size: 308, pieces: 3, created: 1)])
            #expect(try s.usage() == VolumeUsage(inodes: 4, logicalBytes: 6, storedBytes: 40 + 41 + 42, objects: 1))
            #expect(try s.uploadsInProgress().isEmpty)
        }
    }

    @Test func aPackGoesWithItsLastBlockWhicheverWayItGoes() throws {
        try withVolume { s, _ in
            let files = try PackTests.smallFiles(s, ["a", "b", "c", "d"])
            let (_, id) = try PackTests.pack(s, files)
            // Removed, rewritten inline, truncated to zero: the pack stays while any block is in it.
            _ = try s.unlink(parent: rootIno, name: b("a"), cred: alice)
            try s.commitData(ino: files[1].ino, size: 2, inline: b("hi"), blocks: [], cred: alice)
            _ = try s.truncate(ino: files[2].ino, size: 0, cred: alice)
            #expect(try s.packs().map { $0.objectID } == [id])
            #expect(try s.pendingDeletions().isEmpty)
            #expect(try s.usage().objects == 1 && s.usage().storedBytes == 2 + 43)
            // A hard link keeps the last block alive; its last name takes the pack with it.
            _ = try s.link(ino: files[3].ino, newParent: rootIno, newName: b("d2"), cred: alice)
            _ = try s.unlink(parent: rootIno, name: b("d"), cred: alice)
            #expect(try s.packs().count == 1)
            let rel = try s.unlink(parent: rootIno, name: b("d2"), cred: alice)
            #expect(try s.packs().isEmpty)
            #expect(try s.pendingDeletions().map { $0.objectID } == [id])
            #expect(try s.pendingDeletions().first?.storedLength == 408)
            // A backend that can tell says so at once (its caller deletes the object).
            #expect(rel.objects.isEmpty || rel.objects == [DeletedObject(objectID: id, storedLength: 408)])
            #expect(try s.usage() == VolumeUsage(inodes: 3, logicalBytes: 2, storedBytes: 2, objects: 0))
        }
    }

    @Test func mostlyDeadPacksAreFound() throws {
        try withVolume { s, _ in
            let files = try PackTests.smallFiles(s, ["a", "b", "c", "d"])
            let (_, id) = try PackTests.pack(s, files)
            #expect(try s.sparsePacks(below: 0.4).isEmpty)              // 40+41+42+43 of 408 bytes: 41 % live
            #expect(try s.sparsePacks(below: 0.5).keys.sorted() == [id])
            _ = try s.unlink(parent: rootIno, name: b("a"), cred: alice)
            _ = try s.unlink(parent: rootIno, name: b("b"), cred: alice)
            #expect(try s.packLiveBytes([id, id + 1000]) == [id: 85, id + 1000: 0])
            let sparse = try s.sparsePacks(below: 0.5)
            #expect(sparse.count == 1 && sparse[id]?.size == 408 && sparse[id]?.live == 85)
            #expect(try s.sparsePacks(below: 0.1).isEmpty)
        }
    }

    @Test func replacingAPackedBlockWithAnObjectOfItsOwn() throws {
        try withVolume { s, _ in
            let files = try PackTests.smallFiles(s, ["a"])
            let (_, id) = try PackTests.pack(s, files)
            let own = try s.allocateObjectIDs(count: 1)
            let r = try s.commitData(ino: files[0].ino, size: 4096, inline: nil,
                                     blocks: [BlockRef(index: 0, objectID: own, rawLength: 4096, storedLength: 77, crc: 1)], cred: alice)
            #expect(r.released.isEmpty || r.released == [DeletedObject(objectID: id, storedLength: 108)])
            #expect(try s.packs().isEmpty && s.pendingDeletions().map { $0.objectID } == [id])
            #expect(try s.usage() == VolumeUsage(inodes: 2, logicalBytes: 4096, storedBytes: 77, objects: 1))
        }
    }

    @Test func aFileLeavingItsOwnObjectGetsANewVersion() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            let own = try s.allocateObjectIDs(count: 1)
            try s.commitData(ino: f.ino, size: 1, inline: nil,
                             blocks: [BlockRef(index: 0, objectID: own, rawLength: 1, storedLength: 33, crc: 1)], cred: alice)
            let before = try s.getattr(f.ino)
            let (adoption, id) = try PackTests.pack(s, [before])
            #expect(adoption.adopted == 1 && adoption.released == [DeletedObject(objectID: own, storedLength: 33)])
            let after = try s.getattr(f.ino)
            #expect(after.version == before.version + 1 && after.mtime == before.mtime && after.ctime == before.ctime)
            #expect(try s.dataLayout(f.ino).blocks == [PackTests.piece(id, 0)])
            #expect(try s.usage() == VolumeUsage(inodes: 2, logicalBytes: 1, storedBytes: 40, objects: 1))
        }
    }

    @Test func filesChangedAfterTheyWereReadKeepTheirContent() throws {
        try withVolume { s, _ in
            let files = try PackTests.smallFiles(s, ["a", "b", "c"])
            try s.commitData(ino: files[0].ino, size: 3, inline: b("new"), blocks: [], cred: alice)   // rewritten
            _ = try s.unlink(parent: rootIno, name: b("b"), cred: alice)                           // removed
            try s.setStaging(ino: files[2].ino, file: "x", owner: "")                               // being written
            let (adoption, id) = try PackTests.pack(s, files)
            #expect(adoption.adopted == 0 && adoption.changed == 3)
            #expect(try s.dataLayout(files[0].ino).inline == b("new"))
            #expect(try s.packs().isEmpty)
            // Nobody took the pack: it is to be deleted, and counted nowhere.
            #expect(try s.pendingDeletions().map { $0.objectID } == [id])
            #expect(try s.usage().objects == 0)
            #expect(try s.uploadsInProgress().isEmpty)
        }
    }

    @Test func badAdoptionsAreRefused() throws {
        try withVolume { s, _ in
            let files = try PackTests.smallFiles(s, ["a"])
            let id = try s.allocateUploadIDs(count: 1, commit: 0, owner: "test")
            var own = PackTests.piece(id, 0)
            own.objectOffset = 0
            for bad in [own, PackTests.piece(id + 1, 0), { var p = PackTests.piece(id, 0); p.index = 1; return p }()] {
                #expect(throws: Errno.invalid) {
                    _ = try s.adoptPack(PackRow(objectID: id, size: 100, pieces: 1, created: 1), uploadCommit: id,
                                        files: [PackedFile(ino: files[0].ino, version: files[0].version, block: bad)])
                }
            }
            #expect(try s.packs().isEmpty && s.dataLayout(files[0].ino).inline == [0])
        }
    }
}
