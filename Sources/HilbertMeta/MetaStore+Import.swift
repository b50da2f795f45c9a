import Glibc
import HilbertSupport

/// A node `importEntries` creates, with its directory entry — or, with `linkTarget`, one more
/// name for a node an earlier batch created (a hard link).
public struct ImportEntry: Sendable {
    public var parent: Ino
    public var name: [UInt8]
    /// File type and permission bits.
    public var mode: UInt32
    /// Kept as given for root; for anyone else the policy decides (`importOwner`).
    public var uid: UInt32
    public var gid: UInt32
    public var rdev: UInt64 = 0
    public var size: UInt64 = 0
    public var atime: Timespec
    public var mtime: Timespec
    /// A regular file's content: its blocks (a block in a pack, or blocks of their own;
    /// a missing index is a hole). None: empty, or all holes.
    public var blocks: [BlockRef] = []
    public var symlinkTarget: [UInt8]?
    /// `user.` attributes only.
    public var xattrs: [ImportXattr] = []
    /// The parent existed before the import: others may have made this name there (it is
    /// looked up first), and the parent's mtime moves as with any new entry. A directory the
    /// import made keeps the times it was given.
    public var parentExisted = false
    /// An existing non-directory of this name is replaced (`--force`); otherwise it is kept.
    public var replace = false
    /// Not a new node: a new name for this one.
    public var linkTarget: Ino?

    public init(parent: Ino, name: [UInt8], mode: UInt32, uid: UInt32, gid: UInt32, atime: Timespec, mtime: Timespec) {
        self.parent = parent; self.name = name; self.mode = mode; self.uid = uid; self.gid = gid
        self.atime = atime; self.mtime = mtime
    }

    var isDirectory: Bool { mode & 0o170000 == FileType.directory.rawValue }
}

public struct ImportXattr: Equatable, Sendable {
    public var name: [UInt8]
    public var value: [UInt8]
    public init(name: [UInt8], value: [UInt8]) { self.name = name; self.value = value }
}

/// What became of one `ImportEntry`.
public enum ImportOutcome: Equatable, Sendable {
    /// Created (or, for a link, named) as inode `ino`.
    case created(Ino)
    /// An existing non-directory was replaced by inode `ino`.
    case replaced(Ino)
    /// The name exists and was kept: a directory (merged into by the caller), or anything
    /// without `replace`.
    case exists(ino: Ino, isDirectory: Bool)
    case failed(Errno)
}

public struct ImportCommit: Sendable {
    public var outcomes: [ImportOutcome] = []
    /// Objects replaced files no longer use: delete them from the store, then `forgetDeletions`.
    public var released: [DeletedObject] = []
    /// Whether any entry took a block of the pack; when none did, the pack was not recorded
    /// (delete it from the store).
    public var packUsed = false
}

extension MetaStore {
    /// Create a batch of imported nodes (`hilbert import`) in one write transaction, with
    /// their entries, content rows (blocks already stored: `pack` and objects of their own)
    /// and `user.` attributes, as a writer would: each parent must exist, be a directory and
    /// be writable by `cred`; a name that exists is kept (a directory is reported to be merged
    /// into), or replaced with `replace` unless it is a directory or has a writer (EBUSY).
    /// Times are the given ones; ctime and btime are now. The pack (if any entry took a block
    /// of it) is recorded, and `uploads` (commit keys from `allocateUploadIDs`) are finished
    /// in the same transaction: every entry is there with all of its content, or absent.
    /// Names are looked up only in parents that existed before (`parentExisted`); when one
    /// turns out to exist elsewhere (another writer made it in a directory of the import), the
    /// batch is run again looking every name up.
    public func importEntries(_ entries: [ImportEntry], pack: PackRow?, uploads: [UInt64],
                              cred: Credentials) throws(Errno) -> ImportCommit {
        do throws(Errno) {
            return try importOnce(entries, pack: pack, uploads: uploads, cred: cred, lookUpAll: false)
        } catch where error == .exists {
            return try importOnce(entries, pack: pack, uploads: uploads, cred: cred, lookUpAll: true)
        }
    }

    /// What the read half of an import batch decided for one entry.
    private enum ImportPlan {
        case insert
        case replace(Edge, Attr, Doomed?)
        case done(ImportOutcome)
    }

    private func importOnce(_ entries: [ImportEntry], pack: PackRow?, uploads: [UInt64], cred: Credentials,
                            lookUpAll: Bool) throws(Errno) -> ImportCommit {
        try write { () throws(Errno) -> ImportCommit in
            // Every read first: where reads are round trips they come in one, and they answer
            // only until the transaction writes.
            var parents: [Ino] = []
            var seenParents = Set<Ino>()
            var reads: [RowRead] = []
            for e in entries {
                if seenParents.insert(e.parent).inserted { parents.append(e.parent); reads.append(.node(e.parent)) }
                if let target = e.linkTarget { reads.append(.node(target)) }
                if lookUpAll || e.parentExisted {
                    reads.append(.entry(e.parent, e.name))
                    if e.replace { reads.append(.entryContent(e.parent, e.name)) }
                }
            }
            try backend.readTogether(reads)
            var parentAttr: [Ino: Attr] = [:]
            var parentError: [Ino: Errno] = [:]
            for p in parents {
                do throws(Errno) {
                    guard let a = try backend.node(p) else { throw Errno.noEntry }
                    if !a.isDirectory { throw Errno.notDirectory }
                    try MetaStore.require(a, W_OK | X_OK, cred)
                    parentAttr[p] = a
                } catch {
                    parentError[p] = error
                }
            }
            var plans: [ImportPlan] = []
            plans.reserveCapacity(entries.count)
            var linked: [Ino: Attr] = [:]
            for e in entries {
                guard let p = parentAttr[e.parent] else { plans.append(.done(.failed(parentError[e.parent] ?? .noEntry))); continue }
                do throws(Errno) { try MetaStore.validateName(e.name) } catch { plans.append(.done(.failed(error))); continue }
                if let target = e.linkTarget {
                    var known = linked[target]
                    if known == nil { known = try backend.node(target) }
                    guard var t = known, t.nlink > 0 else { plans.append(.done(.failed(.noEntry))); continue }
                    if t.isDirectory { plans.append(.done(.failed(.perm))); continue }
                    if t.nlink >= maxLinks { plans.append(.done(.failed(.tooManyLinks))); continue }
                    t.nlink += 1
                    linked[target] = t
                }
                guard lookUpAll || e.parentExisted, let edge = try edge(e.parent, e.name) else { plans.append(.insert); continue }
                guard let existing = try backend.node(edge.ino) else { plans.append(.done(.failed(.io))); continue }
                if !e.replace || existing.isDirectory || e.isDirectory {
                    plans.append(.done(.exists(ino: existing.ino, isDirectory: existing.isDirectory)))
                } else if existing.staged {
                    plans.append(.done(.failed(.busy)))
                } else if !MetaStore.stickyAllows(dir: p, victim: existing, cred) {
                    plans.append(.done(.failed(.perm)))
                } else {
                    plans.append(.replace(edge, existing, try doomed(existing)))
                }
            }

            var out = ImportCommit()
            out.outcomes.reserveCapacity(entries.count)
            let newNodes = zip(entries, plans).reduce(0) { n, ep in
                if case .done = ep.1 { return n }
                return ep.0.linkTarget == nil ? n + 1 : n
            }
            var nextIno = newNodes > 0 ? try allocateInos(newNodes) : 0
            let now = Timespec.now()
            var released = Released()
            var newDirs: [Ino: Int64] = [:]
            var touched = Set<Ino>()
            var inodes: Int64 = 0, usedBytes: Int64 = 0, storedBytes: Int64 = 0, objects: Int64 = 0
            // The batch's rows of the three big tables go in a statement each (after every
            // replaced entry is gone: a name is unique in its directory).
            var nodes: [Attr] = [], edges: [(parent: Ino, name: [UInt8], ino: Ino, type: UInt8)] = []
            var blocks: [(ino: Ino, block: BlockRef)] = []
            nodes.reserveCapacity(newNodes)
            edges.reserveCapacity(entries.count)
            for k in entries.indices {
                let plan = plans[k]
                switch plan {
                case .done(let outcome):
                    out.outcomes.append(outcome)
                    continue
                case .replace(let edge, let existing, let doomed):
                    try deleteEdge(edge)
                    try dropLink(existing, doomed, now, &released)
                case .insert:
                    break
                }
                let ino: Ino
                let e = entries[k]
                let p = parentAttr[e.parent]!
                if let target = e.linkTarget {
                    ino = target
                    edges.append((e.parent, e.name, target, UInt8((linked[target]!.mode >> 12) & 15)))
                    try touchNode(target, nlinkDelta: 1, now)
                } else {
                    ino = nextIno
                    nextIno += 1
                    let a = importedAttr(e, ino: ino, parent: p, cred: cred, now: now)
                    nodes.append(a)
                    edges.append((e.parent, e.name, ino, UInt8((a.mode >> 12) & 15)))
                    if let target = e.symlinkTarget { try backend.putSymlinkTarget(ino, target) }
                    for b in e.blocks {
                        blocks.append((ino, b))
                        storedBytes += Int64(b.storedLength)
                        if b.objectID != 0 && !b.isPacked { objects += 1 }
                        if b.isPacked && b.objectID == pack?.objectID { out.packUsed = true }
                    }
                    for x in e.xattrs { try backend.putXattr(ino, x.name, x.value) }
                    inodes += 1
                    if a.isRegular { usedBytes += Int64(a.size) }
                    if a.isDirectory { newDirs[e.parent, default: 0] += 1 }
                }
                if e.parentExisted { touched.insert(e.parent) }
                if case .replace = plan { out.outcomes.append(.replaced(ino)) } else { out.outcomes.append(.created(ino)) }
            }
            try backend.insertNodes(nodes)
            try backend.insertEdges(edges)
            try backend.putBlocks(blocks)
            for p in parents where touched.contains(p) || newDirs[p] != nil {
                try backend.touchNode(p, nlinkDelta: newDirs[p] ?? 0, time: now, modified: touched.contains(p))
            }
            if let pack, out.packUsed {
                try backend.insertPack(pack)
                objects += 1
            }
            for commit in uploads { try backend.deleteUploads(commit: commit) }
            try addCounter("inodes", inodes)
            try addCounter("used_bytes", usedBytes)
            try addCounter("stored_bytes", storedBytes)
            try addCounter("objects", objects)
            out.released = released.objects
            return out
        }
    }

    /// The node row of an imported entry: its mode, times and size as given; ctime and btime
    /// now. Root keeps the owner given. Anyone else owns what they import; the group is the
    /// given one when they are in it (as `cp -a` keeps it), else the parent's when it is
    /// set-group-ID, else their own, and a file whose group is not theirs loses S_ISGID (as
    /// chmod would clear it).
    func importedAttr(_ e: ImportEntry, ino: Ino, parent p: Attr, cred: Credentials, now: Timespec) -> Attr {
        var mode = e.mode
        var uid = e.uid, gid = e.gid
        if cred.uid != 0 {
            uid = cred.uid
            if !cred.inGroup(gid) { gid = p.mode & S_ISGID_ != 0 ? p.gid : cred.gid }
            if !e.isDirectory && mode & S_ISGID_ != 0 && !cred.inGroup(gid) { mode &= ~S_ISGID_ }
        }
        let isDir = e.isDirectory
        return Attr(ino: ino, mode: mode, nlink: isDir ? 2 : 1, uid: uid, gid: gid, rdev: e.rdev,
                    size: e.symlinkTarget.map { UInt64($0.count) } ?? e.size,
                    atime: e.atime, mtime: e.mtime, ctime: now, btime: now,
                    parent: isDir ? p.ino : 0, version: 0, staged: false)
    }

    /// Large import transactions follow one another until called with false
    /// (`MetaBackend.setBulkWrites`).
    public func bulkImport(_ on: Bool) {
        lock.lock(); defer { lock.unlock() }
        backend.setBulkWrites(on)
    }

    /// `count` fresh object ids, each registered as the upload of a commit of its own (keyed
    /// by the id, as `allocateUploadIDs(count: 1, commit: 0, …)` would), in one transaction:
    /// ids handed out ahead, one per object stored later, each finished by the commit that
    /// references its object.
    public func allocateUploadIDsEach(count: Int, owner: String) throws(Errno) -> [UInt64] {
        if count <= 0 { throw Errno.invalid }
        return try write { () throws(Errno) -> [UInt64] in
            let first = UInt64(try backend.addToCounter("next_object", Int64(count)) - Int64(count))
            let now = Timespec.now().sec
            for id in first..<(first + UInt64(count)) {
                try backend.insertUploadBatch(first: id, count: 1, commit: id, owner: owner, touched: now)
            }
            return Array(first..<(first + UInt64(count)))
        }
    }

    /// `count` fresh inode numbers, consecutive: the first (inside a write transaction).
    func allocateInos(_ count: Int) throws(Errno) -> Ino {
        let end = UInt64(try backend.addToCounter("next_ino", Int64(count)))
        return end - UInt64(count)
    }
}
