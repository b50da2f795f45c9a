import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData

/// A small file's content as read (or just committed), to go into a pack.
struct PackInput {
    var ino: Ino
    var version: UInt64
    var raw: [UInt8]
}

/// What storing one pack did.
struct PackStored {
    var adoption: PackAdoption
    /// The pack's size; 0 when no file took it (it was deleted again).
    var bytes: Int
    /// Objects of their own the packed files no longer use, deleted from the store.
    var looseObjectsDeleted: Int
}

/// Store `files` (at most `PackBuilder.maxBytes` together: callers see to it) as one pack object, then point them at it in one metadata transaction
/// (`MetaStore.adoptPack`: only files whose version is still the one given). The pack's id is
/// registered as uploading (gc leaves it alone) until that transaction. Objects the files no
/// longer use, and the pack itself when no file took it, are deleted from the store after it.
/// When that transaction fails, the pack is deleted, unless it may have committed all the same
/// (its outcome unknown): then the pack stays registered as uploading, for gc to decide.
/// `owner` identifies the writer for gc, as a staging owner does.
func storePack(_ files: [PackInput], meta: MetaStore, store: ObjectStore, codec: BlockCompression,
               owner: String) throws(Errno) -> PackStored {
    let encodedBound = files.reduce(PackBuilder.magic.count) { $0 + PackBuilder.pieceBound(rawLength: $1.raw.count) }
    assert(encodedBound <= PackBuilder.maxBytes, "storePack: \(encodedBound) bytes, over the pack limit")
    let id = try meta.allocateUploadIDs(count: 1, commit: 0, owner: owner)
    var builder = PackBuilder(compression: codec, capacity: encodedBound)
    let packed = files.map { PackedFile(ino: $0.ino, version: $0.version, block: builder.add($0.raw, objectID: id)) }
    let key = blockObjectKey(id)
    func abandon() {
        try? store.delete(key)
        try? meta.finishUpload(commit: id)
    }
    do throws(Errno) {
        var failure: Errno?
        builder.bytes.withUnsafeBytes { b in
            do throws(Errno) { try store.put(key, b) } catch { failure = error }
        }
        if let failure { throw failure }
        try store.flush()   // stored before the metadata points at it
    } catch {
        abandon()
        throw error
    }
    let adoption: PackAdoption
    do throws(Errno) {
        let pack = PackRow(objectID: id, size: UInt64(builder.bytes.count), pieces: UInt64(builder.pieces),
                           created: Timespec.now().sec)
        adoption = try meta.adoptPack(pack, uploadCommit: id, files: packed)
    } catch {
        if !meta.lastWriteMayHaveCommitted { abandon() }
        throw error
    }
    var released = adoption.released
    if adoption.adopted == 0 && !released.contains(where: { $0.objectID == id }) {
        // Released by the transaction where the backend could not say so (PostgreSQL).
        released.append(DeletedObject(objectID: id, storedLength: UInt32(clamping: builder.bytes.count)))
    }
    let loose = deleteReleased(released, meta: meta, store: store).filter { $0 != id }.count
    return PackStored(adoption: adoption, bytes: adoption.adopted > 0 ? builder.bytes.count : 0, looseObjectsDeleted: loose)
}
