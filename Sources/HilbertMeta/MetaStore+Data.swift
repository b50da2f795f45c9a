import Glibc
import HilbertSupport

extension MetaStore {
    // MARK: reading

    /// The inline bytes of `ino` (nil: none), their checksum verified.
    func inlineData(_ ino: Ino) throws(Errno) -> [UInt8]? {
        guard let row = try backend.inlineRow(ino) else { return nil }
        try InlineChecksum.verify(row.data, row.crc, ino: ino, database: backend.location)
        return row.data
    }

    /// The length of the inline row of `ino`, nil when there is none (no checksum needed).
    func inlineRowLength(_ ino: Ino) throws(Errno) -> Int? { try backend.inlineRowLength(ino) }

    func loadBlocks(_ ino: Ino) throws(Errno) -> [BlockRef] { try backend.blocks(ino) }

    func putBlock(_ ino: Ino, _ b: BlockRef) throws(Errno) { try backend.putBlock(ino, b) }

    /// Replace (or with nil delete) the inline row, keeping stored_bytes in step.
    func putInline(_ ino: Ino, _ data: [UInt8]?, oldLength: Int) throws(Errno) {
        if let data {
            try backend.putInlineRow(ino, data, crc: InlineChecksum.of(data))
            try addCounter("stored_bytes", Int64(data.count) - Int64(oldLength))
        } else {
            try backend.deleteInlineRow(ino)
            try addCounter("stored_bytes", -Int64(oldLength))
        }
    }

    /// Attributes, inline data and blocks of `ino` from one consistent snapshot. `fresh`
    /// false: the caches may answer within the attribute cache timeout (right after an open
    /// validated them).
    public func dataLayout(_ ino: Ino, fresh: Bool = true) throws(Errno) -> (attr: Attr, inline: [UInt8]?, blocks: [BlockRef]) {
        lock.lock(); defer { lock.unlock() }
        if try cacheCurrent(fresh: fresh), let a = attrCache[ino], a.isRegular {
            if let data = inlineCache[ino] { return (a, data, []) }
            if let found = lastFound, found.ino == ino, a.size <= UInt64(format.inlineMax) {
                if found.parent == inlineMissParent { inlineMissStreak += 1 } else {
                    inlineMissParent = found.parent
                    inlineMissStreak = 1
                }
                if inlineMissStreak >= MetaStore.prefetchAfter {
                    inlineMissStreak = 0
                    try prefetchInline(found.parent, from: found.name)
                    if let data = inlineCache[ino] { return (a, data, []) }
                    // Small files stored elsewhere (in packs): reading ahead inline rows here
                    // found nothing; try again only after many more.
                    inlineMissStreak = -64
                }
            }
            // The attributes are current; a small file needs just its bytes (one statement,
            // no explicit transaction). Block-stored files take the consistent path below.
            if let data = try inlineData(ino) { return (a, data, []) }
        }
        let outermost = backend.transactionDepth == 0
        return try read { () throws(Errno) -> (attr: Attr, inline: [UInt8]?, blocks: [BlockRef]) in
            if outermost { try backend.readTogether([.node(ino), .inlineRow(ino), .blocks(ino)]) }
            let a = try loadAttr(ino)
            if !a.isRegular { throw a.isDirectory ? Errno.isDirectory : Errno.invalid }
            let inl = try inlineData(ino)
            let blocks = inl == nil ? try loadBlocks(ino) : []
            return (a, inl, blocks)
        }
    }

    /// Bytes of `ino` that are stored (inline bytes or the raw length of non-hole blocks):
    /// what st_blocks reports, so sparse files look sparse to du, cp and tar.
    public func allocatedBytes(_ ino: Ino) throws(Errno) -> UInt64 {
        try read { () throws(Errno) -> UInt64 in
            let blocks = try backend.storedBlockBytes(ino)
            if blocks > 0 { return blocks }
            return UInt64(try inlineRowLength(ino) ?? 0)
        }
    }

    // MARK: committing

    /// Inside a write transaction about to check the staging row of `ino` and commit its data
    /// (`commitData`, `clearStaging`): the rows they read, fetched together.
    public func fetchForCommit(_ ino: Ino) throws(Errno) {
        try backend.readTogether([.staging(ino), .node(ino), .inlineLength(ino), .blocks(ino)])
    }

    /// Replace the content description of a regular file atomically: `inline` XOR `blocks`
    /// (blocks must have distinct indices). Objects no longer referenced go to hl_delobj and
    /// are returned (delete them from the store, then `forgetDeletions`) with the new version;
    /// object ids kept at any index stay. Sets size, mtime (default now), ctime (default now;
    /// a given ctime, the time the content last changed, never moves it backwards),
    /// version += 1, clears S_ISUID/S_ISGID when a non-root user wrote, and updates the usage
    /// counters. `unstage`: also forget the file's staging row (`clearStaging`) in the same
    /// write of the node.
    @discardableResult
    public func commitData(ino: Ino, size: UInt64, mtime: Timespec? = nil, ctime: Timespec? = nil,
                           inline: [UInt8]?, blocks: [BlockRef], cred: Credentials,
                           unstage: Bool = false) throws(Errno) -> (released: [DeletedObject], version: UInt64) {
        if inline != nil && !blocks.isEmpty { throw Errno.invalid }
        return try write { () throws(Errno) -> (released: [DeletedObject], version: UInt64) in
            var a = try loadAttr(ino)
            if !a.isRegular { throw a.isDirectory ? Errno.isDirectory : Errno.invalid }
            // Only the old inline length is needed: a damaged old row must not block a rewrite.
            let oldInline = try inlineRowLength(ino)
            let old = oldInline == nil ? try loadBlocks(ino) : []
            var oldByIndex: [UInt32: BlockRef] = [:]
            oldByIndex.reserveCapacity(old.count)
            for b in old { oldByIndex[b.index] = b }
            var seen = Set<UInt32>()
            seen.reserveCapacity(blocks.count)
            for b in blocks where !seen.insert(b.index).inserted { throw Errno.invalid }
            let newPieces = Set(blocks.lazy.filter { $0.objectID != 0 }.map(StoredPiece.init))
            let oldPieces = Set(old.lazy.filter { $0.objectID != 0 }.map(StoredPiece.init))
            // Rows: delete indices gone, write indices new or changed.
            for b in old where !seen.contains(b.index) {
                try backend.deleteBlock(ino, index: b.index)
            }
            var addedObjects: Int64 = 0
            var addedBytes: Int64 = 0
            var counted = Set<StoredPiece>()
            for b in blocks {
                if oldByIndex[b.index] != b { try putBlock(ino, b) }
                if b.objectID != 0 && !oldPieces.contains(StoredPiece(b)) && counted.insert(StoredPiece(b)).inserted {
                    // A pack is counted as an object by the transaction that records it.
                    if !b.isPacked { addedObjects += 1 }
                    addedBytes += Int64(b.storedLength)
                }
            }
            let released = try releaseDropped(old.filter { $0.objectID != 0 && !newPieces.contains(StoredPiece($0)) }, fileBlocks: old.count)
            try addCounter("objects", addedObjects)
            try addCounter("stored_bytes", addedBytes)
            if inline != nil || oldInline != nil {
                try putInline(ino, inline, oldLength: oldInline ?? 0)
            }
            let t = Timespec.now()
            try addCounter("used_bytes", Int64(size) - Int64(a.size))
            a.size = size
            a.mtime = mtime ?? t
            a.ctime = ctime.map { max($0, a.ctime) } ?? t
            a.version += 1
            a.mode = MetaStore.modeAfterWrite(a.mode, cred)
            if unstage {
                try backend.deleteStagingRow(ino)
                a.staged = false
            }
            try writeAttr(a)
            return (released, a.version)
        }
    }

    /// Account for blocks a file no longer has (their rows already deleted or replaced in this
    /// transaction): an object of its own goes to hl_delobj and is returned (to be deleted
    /// from the store after the commit); a block in a pack leaves `stored_bytes`, and its pack
    /// goes to hl_delobj when no block points into it any more (returned when the backend
    /// can tell; else `hilbert flush` or gc deletes it from the store).
    ///
    /// `fileBlocks`: how many blocks the file had. The objects of a file of more than one block
    /// stay in the store `keepReplacedSeconds` after this (docs/FORMAT.md, "Deferred
    /// deletion"): readers that opened the version they belong to fetch its blocks as they read
    /// them, and must find them. A file of one block is read whole at open; packs hold those.
    func releaseDropped(_ dropped: [BlockRef], fileBlocks: Int) throws(Errno) -> [DeletedObject] {
        let due = fileBlocks > 1 && keepReplacedSeconds > 0 ? Timespec.now().sec + keepReplacedSeconds : 0
        var released: [DeletedObject] = []
        var releasedIDs = Set<UInt64>()
        var packs: [UInt64] = []
        var packedBytes: Int64 = 0
        var pieces = Set<StoredPiece>()
        for b in dropped where b.objectID != 0 && pieces.insert(StoredPiece(b)).inserted {
            if b.isPacked {
                packedBytes += Int64(b.storedLength)
                if releasedIDs.insert(b.objectID).inserted { packs.append(b.objectID) }
            } else if releasedIDs.insert(b.objectID).inserted {
                released.append(DeletedObject(objectID: b.objectID, storedLength: b.storedLength, due: due))
            }
        }
        try releaseObjects(released)
        if packedBytes != 0 { try addCounter("stored_bytes", -packedBytes) }
        for id in packs {
            if let gone = try backend.releasePackIfUnreferenced(id) { released.append(gone) }
        }
        return released
    }

    /// The first of `count` fresh object ids (a contiguous range, never handed out again).
    public func allocateObjectIDs(count: Int) throws(Errno) -> UInt64 {
        if count <= 0 { throw Errno.invalid }
        return try write { () throws(Errno) -> UInt64 in
            UInt64(try backend.addToCounter("next_object", Int64(count)) - Int64(count))
        }
    }

    /// `allocateObjectIDs` for a commit whose objects are about to be uploaded: the ids are
    /// registered in hl_upload, in the same transaction, so gc does not take their objects for
    /// leaked before the commit references them. `commit`: 0 for the commit's first batch
    /// (its key is then the first id returned), else that key. Refreshes the commit's other
    /// batches too: gc measures silence per commit, not per batch.
    public func allocateUploadIDs(count: Int, commit: UInt64, owner: String) throws(Errno) -> UInt64 {
        if count <= 0 { throw Errno.invalid }
        return try write { () throws(Errno) -> UInt64 in
            let first = UInt64(try backend.addToCounter("next_object", Int64(count)) - Int64(count))
            let key = commit == 0 ? first : commit
            let now = Timespec.now().sec
            try backend.insertUploadBatch(first: first, count: count, commit: key, owner: owner, touched: now)
            if commit != 0 { try backend.touchUploads(commit: key, touched: now) }
            return first
        }
    }

    /// The upload `commit` is still going on (gc counts one silent for an hour as abandoned).
    public func touchUpload(commit: UInt64) throws(Errno) {
        try write { () throws(Errno) in try backend.touchUploads(commit: commit, touched: Timespec.now().sec) }
    }

    /// The commit `commit` referenced or gave up its objects: its ids are no longer in flight.
    public func finishUpload(commit: UInt64) throws(Errno) {
        try write { () throws(Errno) in try backend.deleteUploads(commit: commit) }
    }

    /// Batches of ids of uploads in progress (or abandoned by a killed commit).
    public func uploadsInProgress() throws(Errno) -> [UploadBatch] {
        try read { () throws(Errno) -> [UploadBatch] in try backend.uploadBatches() }
    }

    // MARK: deletions

    /// Objects released by committed transactions and not yet forgotten (oldest first), with
    /// ids above `after` (to page through them); only those due by wall-clock second `dueBy`
    /// (default: every one).
    public func pendingDeletions(after: UInt64 = 0, limit: Int = 1000, dueBy: Int64 = .max) throws(Errno) -> [DeletedObject] {
        try read { () throws(Errno) -> [DeletedObject] in try backend.deletedObjects(after: after, limit: limit, dueBy: dueBy) }
    }

    /// The objects were deleted from the store: drop them from hl_delobj.
    public func forgetDeletions(_ ids: [UInt64]) throws(Errno) {
        if ids.isEmpty { return }
        try write { () throws(Errno) in try backend.forgetDeletedObjects(ids) }
    }

    // MARK: staging

    /// The node-local staging file recorded for `ino`, if any.
    public func staging(_ ino: Ino) throws(Errno) -> String? {
        try read { () throws(Errno) -> String? in try backend.stagingRow(ino)?.file }
    }

    /// Who registered the staging row of `ino` ('' for rows of older releases); nil: no row.
    public func stagingOwner(_ ino: Ino) throws(Errno) -> String? {
        try read { () throws(Errno) -> String? in try backend.stagingRow(ino)?.owner }
    }

    /// Record a staging file for `ino`, registered by `owner`, and set hl_node.staged = 1.
    public func setStaging(ino: Ino, file: String, owner: String) throws(Errno) {
        try write { () throws(Errno) in
            let a = try loadAttr(ino)
            if !a.isRegular { throw Errno.invalid }
            try backend.putStagingRow(ino, file: file, owner: owner, created: Timespec.now().sec)
            try backend.setStaged(ino, true)
        }
    }

    /// Forget the staging file of `ino` (staged = 0). No error when there is none.
    public func clearStaging(ino: Ino) throws(Errno) {
        try write { () throws(Errno) in
            try backend.deleteStagingRow(ino)
            try backend.setStaged(ino, false)
        }
    }

    /// Every recorded staging file (for recovery after a crash).
    public func allStaging() throws(Errno) -> [(Ino, String)] {
        try read { () throws(Errno) -> [(Ino, String)] in try backend.allStagingRows() }
    }

    // MARK: usage

    public func usage() throws(Errno) -> VolumeUsage {
        let c = try statfsCounters()
        return VolumeUsage(inodes: c.inodes, logicalBytes: c.usedBytes, storedBytes: c.storedBytes, objects: c.objects)
    }

    public func statfsCounters() throws(Errno) -> StatfsCounters {
        try read { () throws(Errno) -> StatfsCounters in
            var c = StatfsCounters(inodes: 0, usedBytes: 0, storedBytes: 0, objects: 0, nextIno: 0,
                                   blockSize: UInt64(format.blockSize))
            for (name, value) in try backend.allCounters() {
                let v = UInt64(bitPattern: max(0, value))
                switch name {
                case "inodes": c.inodes = v
                case "used_bytes": c.usedBytes = v
                case "stored_bytes": c.storedBytes = v
                case "objects": c.objects = v
                case "next_ino": c.nextIno = v
                default: break
                }
            }
            return c
        }
    }
}

/// A block's stored bytes: which object, where in it. Two blocks of one pack are two pieces.
struct StoredPiece: Hashable {
    var objectID: UInt64
    var offset: UInt64
    init(_ b: BlockRef) { objectID = b.objectID; offset = b.objectOffset }
}
