import HilbertSupport

/// A file whose content was just written into a pack (`MetaStore.adoptPack`): its inode, the
/// version whose content was read, and the block that now holds that content.
public struct PackedFile: Equatable, Sendable {
    public var ino: Ino
    public var version: UInt64
    public var block: BlockRef
    public init(ino: Ino, version: UInt64, block: BlockRef) {
        self.ino = ino; self.version = version; self.block = block
    }
}

/// What `adoptPack` did: files now in the pack, files that changed since they were read (left
/// as they are), and the objects of their own the adopted files no longer use (delete them
/// from the store, then `forgetDeletions`).
public struct PackAdoption: Equatable, Sendable {
    public var adopted = 0
    public var changed = 0
    public var released: [DeletedObject] = []
    public var inlineBytesMoved: UInt64 = 0
}

extension MetaStore {
    /// Point files at their blocks in a pack just stored, in one write transaction. A file
    /// whose version is still the one read (every change of content bumps it), with no writer
    /// on it (`staged`), gets `block` as its only block: its inline row is deleted or the
    /// object of its own released. Its times stay: to the file system nothing happened. Its
    /// version stays too when its bytes were inline (read copies, named by version, stay
    /// valid on every node); it goes up by one when its own object is released, so that a
    /// reader that read the old layout and finds that object gone reads the new one. The pack is recorded (`hl_pack`, counted in `objects`) and released at
    /// once when no file took a block of it. `uploadCommit`: the commit key of the pack's id
    /// (`allocateUploadIDs`), whose record goes in the same transaction.
    public func adoptPack(_ pack: PackRow, uploadCommit: UInt64, files: [PackedFile]) throws(Errno) -> PackAdoption {
        for f in files where !f.block.isPacked || f.block.objectID != pack.objectID || f.block.index != 0 {
            throw Errno.invalid
        }
        return try write { () throws(Errno) -> PackAdoption in
            var out = PackAdoption()
            // Every row first, read together (one round trip where reads are round trips):
            // rows read ahead go stale at the transaction's first write.
            try backend.readTogether(files.flatMap { [RowRead.node($0.ino), .inlineLength($0.ino), .blocks($0.ino)] })
            var taken: [(file: PackedFile, attr: Attr, inlineLength: Int?, old: [BlockRef])] = []
            var inos = Set<Ino>()
            for f in files {
                guard inos.insert(f.ino).inserted, let a = try backend.node(f.ino), a.isRegular, a.version == f.version,
                      !a.staged, a.size == UInt64(f.block.rawLength) else {
                    out.changed += 1
                    continue
                }
                let inlineLength = try inlineRowLength(f.ino)
                taken.append((f, a, inlineLength, inlineLength == nil ? try loadBlocks(f.ino) : []))
            }
            try backend.insertPack(pack)
            try addCounter("objects", 1)
            let inlined = taken.filter { $0.inlineLength != nil }
            try backend.deleteInlineRows(inlined.map { $0.file.ino })
            out.inlineBytesMoved = UInt64(inlined.reduce(0) { $0 + $1.inlineLength! })
            try backend.putBlocks(taken.map { ($0.file.ino, $0.file.block) })
            for t in taken where t.inlineLength == nil {
                for b in t.old where b.index != 0 { try backend.deleteBlock(t.file.ino, index: b.index) }
                out.released += try releaseDropped(t.old, fileBlocks: t.old.count)
                // Its own object goes (deleted after this commit): a reader holding the old
                // layout must see that it moved and read it again.
                var a = t.attr
                a.version += 1
                try writeAttr(a)
            }
            out.adopted = taken.count
            try addCounter("stored_bytes", taken.reduce(0) { $0 + Int64($1.file.block.storedLength) } - Int64(out.inlineBytesMoved))
            if out.adopted == 0, let gone = try backend.releasePackIfUnreferenced(pack.objectID) { out.released.append(gone) }
            try backend.deleteUploads(commit: uploadCommit)
            return out
        }
    }

    /// Packs whose blocks still in use are less than `share` of their bytes (removed and
    /// rewritten files left the rest dead), with those live bytes: what compaction rewrites.
    public func sparsePacks(below share: Double) throws(Errno) -> [UInt64: (size: UInt64, live: UInt64)] {
        var out: [UInt64: (size: UInt64, live: UInt64)] = [:]
        var after: UInt64 = 0
        while true {
            let page = try packs(after: after, limit: 1000)
            if page.isEmpty { break }
            let live = try packLiveBytes(page.map { $0.objectID })
            for p in page {
                let l = live[p.objectID] ?? 0
                if Double(l) < share * Double(p.size) { out[p.objectID] = (p.size, l) }
            }
            after = page.last!.objectID
        }
        return out
    }

    /// The stored bytes of the blocks still pointing into each of `packs` (0: none; the pack
    /// is gone, or going).
    public func packLiveBytes(_ packs: [UInt64]) throws(Errno) -> [UInt64: UInt64] {
        var out: [UInt64: UInt64] = [:]
        for start in stride(from: 0, to: packs.count, by: 1000) {
            let page = Array(packs[start..<min(packs.count, start + 1000)])
            let live = try read { () throws(Errno) -> [UInt64: UInt64] in try backend.packLiveBytes(page) }
            out.merge(live) { a, _ in a }
        }
        return out
    }

    /// Every pack, a page at a time (ascending ids after `after`).
    public func packs(after: UInt64 = 0, limit: Int = 1000) throws(Errno) -> [PackRow] {
        try read { () throws(Errno) -> [PackRow] in try backend.packRows(after: after, limit: limit) }
    }
}
