import Glibc
import HilbertSupport
import CHilbertSys

/// rename(2) flags.
public let RENAME_NOREPLACE_: UInt32 = 1
public let RENAME_EXCHANGE_: UInt32 = 2

let maxLinks: UInt32 = 65000

extension MetaStore {
    // MARK: lookups

    /// The attributes of the entry `name` in `parent`, nil when absent (no permission check).
    public func lookup(parent: Ino, name: [UInt8]) throws(Errno) -> Attr? {
        lock.lock(); defer { lock.unlock() }
        if let a = try fromCache({ () throws(Errno) -> Attr? in try child(parent, name, useCache: true) }) { return a }
        return try backend.transaction(write: false) { () throws(Errno) in
            let useCache = try cacheUsable()
            return try child(parent, name, useCache: useCache)
        }
    }

    /// A symlink's target. EINVAL when `ino` is not a symlink.
    public func readlink(_ ino: Ino, fresh: Bool = true) throws(Errno) -> [UInt8] {
        try read { () throws(Errno) in
            let useCache = try cacheUsable(fresh: fresh)
            let a = try node(ino, useCache: useCache)
            if !a.isSymlink { throw Errno.invalid }
            return try linkTarget(ino, useCache: useCache)
        }
    }

    // MARK: helpers for mutations (inside a write transaction)

    /// The parent directory for a new entry: exists, is a directory, w+x for `cred`.
    func writableDir(_ parent: Ino, _ cred: Credentials) throws(Errno) -> Attr {
        let p = try loadAttr(parent)
        if !p.isDirectory { throw Errno.notDirectory }
        try MetaStore.require(p, W_OK | X_OK, cred)
        return p
    }

    func edge(_ parent: Ino, _ name: [UInt8]) throws(Errno) -> Edge? { try backend.edge(parent, name) }

    func insertEdge(_ parent: Ino, _ name: [UInt8], _ ino: Ino, mode: UInt32) throws(Errno) {
        try backend.insertEdge(parent, name, ino, type: UInt8((mode >> 12) & 15))
    }

    func deleteEdge(_ e: Edge) throws(Errno) { try backend.deleteEdge(e) }

    /// nlink += delta, mtime = ctime = now (a directory whose entries changed).
    func touchDir(_ ino: Ino, nlinkDelta: Int64, _ t: Timespec) throws(Errno) {
        try backend.touchNode(ino, nlinkDelta: nlinkDelta, time: t, modified: true)
    }

    /// nlink += delta, ctime = now.
    func touchNode(_ ino: Ino, nlinkDelta: Int64, _ t: Timespec) throws(Errno) {
        try backend.touchNode(ino, nlinkDelta: nlinkDelta, time: t, modified: false)
    }

    func setParentPointer(_ ino: Ino, _ parent: Ino) throws(Errno) { try backend.setParent(ino, parent) }

    func isEmptyDir(_ ino: Ino) throws(Errno) -> Bool { try !backend.hasEdges(ino) }

    /// Create a node and its entry. Handles ownership (setgid directories) and counters.
    func makeNode(parent p: Attr, name: [UInt8], mode rawMode: UInt32, rdev: UInt64, cred: Credentials,
                  symlinkTarget: [UInt8]? = nil, staged: Bool = false) throws(Errno) -> Attr {
        let t = Timespec.now()
        let ino = try allocateIno()
        var mode = rawMode
        var gid = cred.gid
        let isDir = mode & 0o170000 == FileType.directory.rawValue
        if p.mode & S_ISGID_ != 0 {
            gid = p.gid
            if isDir {
                mode |= S_ISGID_
            } else if mode & S_ISGID_ != 0 && mode & S_IXGRP_ != 0 && cred.uid != 0 && !cred.inGroup(gid) {
                mode &= ~S_ISGID_
            }
        }
        let a = Attr(ino: ino, mode: mode, nlink: isDir ? 2 : 1, uid: cred.uid, gid: gid, rdev: rdev,
                     size: UInt64(symlinkTarget?.count ?? 0), atime: t, mtime: t, ctime: t, btime: t,
                     parent: isDir ? p.ino : 0, version: 0, staged: staged)
        try backend.insertNode(a)
        try insertEdge(p.ino, name, ino, mode: mode)
        if let target = symlinkTarget { try backend.putSymlinkTarget(ino, target) }
        try touchDir(p.ino, nlinkDelta: isDir ? 1 : 0, t)
        try addCounter("inodes", 1)
        return a
    }

    // MARK: creation

    /// Create a regular file (O_CREAT). Returns the existing file with created == false when
    /// the name exists and !exclusive; EEXIST when it exists and exclusive. With `staging`, a
    /// new file is registered with that staging file (`setStaging`) in the same transaction.
    public func createFile(parent: Ino, name: [UInt8], mode: UInt32, cred: Credentials, exclusive: Bool,
                           staging: (file: String, owner: String)? = nil) throws(Errno) -> (attr: Attr, created: Bool) {
        try MetaStore.validateName(name)
        return try write { () throws(Errno) -> (attr: Attr, created: Bool) in
            try backend.readTogether([.node(parent), .entry(parent, name)])
            let p = try loadAttr(parent)
            if !p.isDirectory { throw Errno.notDirectory }
            try MetaStore.require(p, X_OK, cred)
            if let e = try edge(parent, name) {
                if exclusive { throw Errno.exists }
                return (try loadAttr(e.ino), false)
            }
            try MetaStore.require(p, W_OK, cred)
            var m = mode & 0o7777
            m |= FileType.regular.rawValue
            // A file created to be written is inserted staged: on PostgreSQL every UPDATE of a
            // row is one more version of it, which the next reader steps through.
            let a = try makeNode(parent: p, name: name, mode: m, rdev: 0, cred: cred, staged: staging != nil)
            if let staging {
                try backend.putStagingRow(a.ino, file: staging.file, owner: staging.owner, created: a.ctime.sec)
            }
            return (a, true)
        }
    }

    public func mkdir(parent: Ino, name: [UInt8], mode: UInt32, cred: Credentials) throws(Errno) -> Attr {
        try MetaStore.validateName(name)
        return try write { () throws(Errno) -> Attr in
            try backend.readTogether([.node(parent), .entry(parent, name)])
            let p = try writableDir(parent, cred)
            if try edge(parent, name) != nil { throw Errno.exists }
            if p.nlink >= maxLinks { throw Errno.tooManyLinks }
            return try makeNode(parent: p, name: name, mode: FileType.directory.rawValue | (mode & 0o7777), rdev: 0, cred: cred)
        }
    }

    /// FIFOs, sockets, regular files and (root only, else EPERM) devices.
    public func mknod(parent: Ino, name: [UInt8], mode: UInt32, rdev: UInt64, cred: Credentials) throws(Errno) -> Attr {
        try MetaStore.validateName(name)
        var type = mode & 0o170000
        if type == 0 { type = FileType.regular.rawValue }
        switch FileType(rawValue: type) {
        case .regular?, .fifo?, .socket?: break
        case .charDevice?, .blockDevice?: if cred.uid != 0 { throw Errno.perm }
        case .directory?: throw Errno.perm
        default: throw Errno.invalid
        }
        let isDevice = type == FileType.charDevice.rawValue || type == FileType.blockDevice.rawValue
        return try write { () throws(Errno) -> Attr in
            try backend.readTogether([.node(parent), .entry(parent, name)])
            let p = try writableDir(parent, cred)
            if try edge(parent, name) != nil { throw Errno.exists }
            return try makeNode(parent: p, name: name, mode: type | (mode & 0o7777), rdev: isDevice ? rdev : 0, cred: cred)
        }
    }

    public func symlink(parent: Ino, name: [UInt8], target: [UInt8], cred: Credentials) throws(Errno) -> Attr {
        try MetaStore.validateName(name)
        if target.isEmpty { throw Errno.noEntry }
        if target.count > 4095 { throw Errno.nameTooLong }
        return try write { () throws(Errno) -> Attr in
            try backend.readTogether([.node(parent), .entry(parent, name)])
            let p = try writableDir(parent, cred)
            if try edge(parent, name) != nil { throw Errno.exists }
            return try makeNode(parent: p, name: name, mode: FileType.symlink.rawValue | 0o777, rdev: 0, cred: cred,
                                symlinkTarget: target)
        }
    }

    /// A new hard link. EPERM for directories, EMLINK beyond 65000 links.
    public func link(ino: Ino, newParent: Ino, newName: [UInt8], cred: Credentials) throws(Errno) -> Attr {
        try MetaStore.validateName(newName)
        return try write { () throws(Errno) -> Attr in
            try backend.readTogether([.node(ino), .node(newParent), .entry(newParent, newName)])
            var a = try loadAttr(ino)
            // Linux's order: the new name is looked up first (EEXIST), then write permission on
            // its directory, then the source's type.
            let p = try loadAttr(newParent)
            if !p.isDirectory { throw Errno.notDirectory }
            try MetaStore.require(p, X_OK, cred)
            if try edge(newParent, newName) != nil { throw Errno.exists }
            try MetaStore.require(p, W_OK, cred)
            if a.isDirectory { throw Errno.perm }
            if a.nlink >= maxLinks { throw Errno.tooManyLinks }
            let t = Timespec.now()
            try insertEdge(p.ino, newName, ino, mode: a.mode)
            try touchNode(ino, nlinkDelta: 1, t)
            try touchDir(p.ino, nlinkDelta: 0, t)
            a.nlink += 1
            a.ctime = t
            return a
        }
    }

    // MARK: removal

    /// Remove a non-directory entry. EISDIR for directories. Returns what the removal
    /// released (objects recorded in hl_delobj, to delete after this call).
    @discardableResult
    public func unlink(parent: Ino, name: [UInt8], cred: Credentials) throws(Errno) -> Released {
        if name.count > 255 { throw Errno.nameTooLong }
        return try writeFreeingSpace { () throws(Errno) -> Released in
            try backend.readTogether([.node(parent), .entry(parent, name), .entryContent(parent, name)])
            let p = try writableDir(parent, cred)
            guard let e = try edge(parent, name) else { throw Errno.noEntry }
            let victim = try loadAttr(e.ino)
            if victim.isDirectory { throw Errno.isDirectory }
            if !MetaStore.stickyAllows(dir: p, victim: victim, cred) { throw Errno.perm }
            let doomed = try doomed(victim)
            var released = Released()
            let t = Timespec.now()
            try deleteEdge(e)
            try touchDir(p.ino, nlinkDelta: 0, t)
            try dropLink(victim, doomed, t, &released)
            return released
        }
    }

    public func rmdir(parent: Ino, name: [UInt8], cred: Credentials) throws(Errno) -> Released {
        if name.count > 255 { throw Errno.nameTooLong }
        if name == [0x2e] { throw Errno.invalid }
        if name == [0x2e, 0x2e] { throw Errno.notEmpty }
        return try writeFreeingSpace { () throws(Errno) -> Released in
            try backend.readTogether([.node(parent), .entry(parent, name)])
            let p = try writableDir(parent, cred)
            guard let e = try edge(parent, name) else { throw Errno.noEntry }
            let victim = try loadAttr(e.ino)
            if !victim.isDirectory { throw Errno.notDirectory }
            if victim.ino == rootIno { throw Errno.busy }
            if !MetaStore.stickyAllows(dir: p, victim: victim, cred) { throw Errno.perm }
            if try !isEmptyDir(victim.ino) { throw Errno.notEmpty }
            var released = Released()
            let t = Timespec.now()
            try deleteEdge(e)
            try touchDir(p.ino, nlinkDelta: -1, t)
            try destroy(victim, Doomed(), &released)
            return released
        }
    }

    /// What destroying a node removes besides its row, read before the removal writes anything
    /// (so that a backend answers it from rows fetched with the entry: `RowRead.entryContent`).
    struct Doomed {
        var blocks: [BlockRef] = []
        var inlineLength = 0
        var stagingFile: String?
    }

    /// The rows that go with `a` if this removal drops its last name; nil when it does not.
    func doomed(_ a: Attr) throws(Errno) -> Doomed? {
        guard a.nlink <= 1 || a.isDirectory else { return nil }
        guard a.isRegular else { return Doomed() }
        return Doomed(blocks: try backend.blocks(a.ino), inlineLength: try inlineLength(a.ino),
                      stagingFile: try backend.stagingRow(a.ino)?.file)
    }

    /// One name of `a` went away: nlink -= 1, destroy when it was the last (`doomed(a)`).
    func dropLink(_ a: Attr, _ doomed: Doomed?, _ t: Timespec, _ released: inout Released) throws(Errno) {
        if let doomed {
            try destroy(a, doomed, &released)
        } else {
            try touchNode(a.ino, nlinkDelta: -1, t)
        }
    }

    /// Delete a node and everything hanging off it; its objects go to hl_delobj.
    func destroy(_ a: Attr, _ doomed: Doomed, _ released: inout Released) throws(Errno) {
        let ino = a.ino
        if a.isRegular {
            let blocks = doomed.blocks
            let inl = doomed.inlineLength
            if let file = doomed.stagingFile { released.stagingFiles.append(file) }
            try backend.deleteBlocks(ino)
            released.objects.append(contentsOf: try releaseDropped(blocks, fileBlocks: blocks.count))
            try backend.deleteInlineRow(ino)
            try addCounter("used_bytes", -Int64(a.size))
            try addCounter("stored_bytes", -Int64(inl))
            try backend.deleteStagingRow(ino)
            released.lastVersions.append(FileVersion(ino: ino, version: a.version))
        } else if a.isSymlink {
            try backend.deleteSymlinkTarget(ino)
        } else if a.type == .socket {
            released.sockets.append(ino)
        }
        try backend.deleteXattrs(ino)
        try backend.deleteNode(ino)
        try addCounter("inodes", -1)
        released.destroyed.append(ino)
    }

    /// Record objects as unreferenced (hl_delobj) and update the counters.
    func releaseObjects(_ objs: [DeletedObject]) throws(Errno) {
        if objs.isEmpty { return }
        try backend.recordDeletedObjects(objs)
        let bytes = objs.reduce(Int64(0)) { $0 + Int64($1.storedLength) }
        try addCounter("objects", -Int64(objs.count))
        try addCounter("stored_bytes", -bytes)
    }

    func inlineLength(_ ino: Ino) throws(Errno) -> Int { try inlineRowLength(ino) ?? 0 }

    // MARK: rename

    /// rename(2)/renameat2: RENAME_NOREPLACE (EEXIST when the target exists) and
    /// RENAME_EXCHANGE (both must exist). Replaces an existing target atomically.
    @discardableResult
    public func rename(parent: Ino, name: [UInt8], newParent: Ino, newName: [UInt8], flags: UInt32 = 0,
                       cred: Credentials) throws(Errno) -> Released {
        if flags & ~(RENAME_NOREPLACE_ | RENAME_EXCHANGE_) != 0 { throw Errno.invalid }
        if flags == RENAME_NOREPLACE_ | RENAME_EXCHANGE_ { throw Errno.invalid }
        if name.count > 255 || newName.count > 255 { throw Errno.nameTooLong }
        for n in [name, newName] where n == [0x2e] || n == [0x2e, 0x2e] || n.isEmpty {
            throw n.isEmpty ? Errno.noEntry : Errno.busy
        }
        try MetaStore.validateName(newName)
        return try write { () throws(Errno) -> Released in
            try backend.readTogether([.node(parent), .node(newParent), .entry(parent, name), .entry(newParent, newName),
                                      .entryContent(newParent, newName)])
            guard let se = try edge(parent, name) else { throw Errno.noEntry }
            let src = try loadAttr(se.ino)
            let de = try edge(newParent, newName)
            let dst = try de.map { (e) throws(Errno) in try loadAttr(e.ino) }
            // Linux checks these before permissions and file types: RENAME_NOREPLACE onto an
            // existing name (even the source itself), then a target directory that is the
            // source's parent or above it ("not empty": it would contain itself).
            if dst != nil && flags & RENAME_NOREPLACE_ != 0 { throw Errno.exists }
            if let dst, dst.isDirectory, dst.ino != src.ino, flags & RENAME_EXCHANGE_ == 0,
               try isAncestor(dst.ino, of: parent) { throw Errno.notEmpty }
            let sp = try writableDir(parent, cred)
            let dp = newParent == parent ? sp : try writableDir(newParent, cred)
            if !MetaStore.stickyAllows(dir: sp, victim: src, cred) { throw Errno.perm }
            let t = Timespec.now()
            var released = Released()

            if flags & RENAME_EXCHANGE_ != 0 {
                guard let de, let dst else { throw Errno.noEntry }
                if !MetaStore.stickyAllows(dir: dp, victim: dst, cred) { throw Errno.perm }
                if parent == newParent && name == newName { return released }
                if parent != newParent {
                    if src.isDirectory { try checkNotAncestor(src.ino, of: newParent) }
                    if dst.isDirectory { try checkNotAncestor(dst.ino, of: parent) }
                    if src.isDirectory && cred.uid != 0 { try MetaStore.require(src, W_OK, cred) }
                    if dst.isDirectory && cred.uid != 0 { try MetaStore.require(dst, W_OK, cred) }
                }
                try setEdgeTarget(se, dst.ino, dst.mode)
                try setEdgeTarget(de, src.ino, src.mode)
                if parent != newParent {
                    if src.isDirectory { try setParentPointer(src.ino, newParent) }
                    if dst.isDirectory { try setParentPointer(dst.ino, parent) }
                    let delta: Int64 = (src.isDirectory ? 1 : 0) - (dst.isDirectory ? 1 : 0)
                    try touchDir(parent, nlinkDelta: -delta, t)
                    try touchDir(newParent, nlinkDelta: delta, t)
                } else {
                    try touchDir(parent, nlinkDelta: 0, t)
                }
                try touchNode(src.ino, nlinkDelta: 0, t)
                try touchNode(dst.ino, nlinkDelta: 0, t)
                return released
            }

            if let dst, dst.ino == src.ino { return released }   // same file: nothing to do
            if src.isDirectory && parent != newParent {
                try checkNotAncestor(src.ino, of: newParent)
                if cred.uid != 0 { try MetaStore.require(src, W_OK, cred) }
            }
            if let de, let dst {
                if src.isDirectory && !dst.isDirectory { throw Errno.notDirectory }
                if !src.isDirectory && dst.isDirectory { throw Errno.isDirectory }
                if dst.isDirectory {
                    if dst.ino == rootIno { throw Errno.busy }
                    if try !isEmptyDir(dst.ino) { throw Errno.notEmpty }
                }
                if !MetaStore.stickyAllows(dir: dp, victim: dst, cred) { throw Errno.perm }
                let doomed = try doomed(dst)
                try deleteEdge(de)
                if dst.isDirectory {
                    try touchDir(newParent, nlinkDelta: -1, t)
                    try destroy(dst, Doomed(), &released)
                } else {
                    try dropLink(dst, doomed, t, &released)
                }
            } else if src.isDirectory && parent != newParent && dp.nlink >= maxLinks {
                throw Errno.tooManyLinks
            }
            try backend.moveEdge(se, to: newParent, name: newName)
            if src.isDirectory && parent != newParent {
                try setParentPointer(src.ino, newParent)
                try touchDir(parent, nlinkDelta: -1, t)
                try touchDir(newParent, nlinkDelta: 1, t)
            } else {
                try touchDir(parent, nlinkDelta: 0, t)
                if parent != newParent { try touchDir(newParent, nlinkDelta: 0, t) }
            }
            try touchNode(src.ino, nlinkDelta: 0, t)
            return released
        }
    }

    func setEdgeTarget(_ e: Edge, _ ino: Ino, _ mode: UInt32) throws(Errno) {
        try backend.setEdgeTarget(e, ino, type: UInt8((mode >> 12) & 15))
    }

    /// EINVAL when directory `dir` is `ino` or one of its ancestors (a move into its own subtree).
    func checkNotAncestor(_ dir: Ino, of ino: Ino) throws(Errno) {
        if try isAncestor(dir, of: ino) { throw Errno.invalid }
    }

    /// Whether directory `dir` is `ino` or one of its ancestors (the one walk up the tree).
    func isAncestor(_ dir: Ino, of ino: Ino) throws(Errno) -> Bool {
        var cur = ino
        var steps = 0
        while true {
            if cur == dir { return true }
            if cur == rootIno { return false }
            guard let next = try backend.parentOf(cur) else { throw Errno.noEntry }
            if next == cur || next == 0 { return false }
            cur = next
            steps += 1
            if steps > 100_000 { throw Errno.loop }
        }
    }

    // MARK: listing

    /// Entries after `cookie` (0 = from the start): "." (cookie 1), ".." (cookie 2), then the
    /// entries in creation order with cookie = edge id + 2. Stable under concurrent changes.
    public func readdir(_ dir: Ino, after cookie: UInt64, limit: Int) throws(Errno) -> [DirEntry] {
        if limit <= 0 { return [] }
        let afterID = Int64(cookie > 2 ? cookie - 2 : 0)
        // Entries past "." and ".." that fit (none when the caller has room for "." only).
        let page = max(0, limit - (cookie == 0 ? 2 : cookie == 1 ? 1 : 0))
        // The page after the end of a listing just read: POSIX leaves it unspecified whether a
        // stream shows entries added since opendir/rewinddir, and a stat may show another
        // node's change as late (the attribute cache timeout), so no round trip asks again.
        if atListingEnd(dir, cookie) { return [] }
        return try read { () throws(Errno) -> [DirEntry] in
            // Where lookups are round trips, a page brings its entries' nodes while the caches
            // have room for them: the stat of each entry that usually follows a listing (ls -l,
            // du, rsync, find -newer) is then answered from the caches.
            let withNodes = page > 0 && backend.remoteLookups && dentryCache.count + page <= MetaStore.cacheLimit
            // The caches a page fills are current as of when it was asked for at most: for a
            // page asked for ahead (and taken now, or maybe much later), when that was.
            var asked: (epoch: UInt64, at: UInt64)?
            if withNodes {
                asked = (min(epoch.load(), listingAhead?.epoch ?? .max), min(hl_monotonic_ns(), listingAhead?.at ?? .max))
            }
            listingAhead = nil
            listingEnd = nil
            try backend.readTogether(page == 0 ? [.node(dir)]
                                     : [.node(dir), withNodes ? .entriesWithNodes(dir, afterID: afterID, limit: page)
                                                              : .entries(dir, afterID: afterID, limit: page)])
            let d = try loadAttr(dir)
            if !d.isDirectory { throw Errno.notDirectory }
            var out: [DirEntry] = []
            out.reserveCapacity(min(limit, 256))
            if cookie == 0 { out.append(DirEntry(name: [0x2e], ino: dir, type: UInt8(DT_DIR), cookie: 1)) }
            if cookie <= 1 && out.count < limit {
                out.append(DirEntry(name: [0x2e, 0x2e], ino: d.parent == 0 ? dir : d.parent, type: UInt8(DT_DIR), cookie: 2))
            }
            if out.count >= limit { return out }
            if let asked, let listed = try backend.edgesWithNodes(dir, afterID: afterID, limit: limit - out.count) {
                let cached = cacheListed(dir, listed, epoch: asked.epoch, at: asked.at)
                out.reserveCapacity(out.count + listed.count)
                for k in 0..<listed.count {
                    out.append(DirEntry(name: listed.names[k], ino: listed.inos[k], type: listed.types[k],
                                        cookie: UInt64(listed.ids[k]) + 2))
                }
                if listed.atEnd {
                    // The end: nothing to ask for ahead.
                    if cached { listingEnd = (dir, out.last?.cookie ?? cookie) }
                    return out
                }
                // The server looks the next page up while the caller works through this one
                // (a listing is read to its end far more often than not).
                if let lastID = listed.ids.last {
                    listingAhead = (epoch.load(), hl_monotonic_ns())
                    backend.readAhead([.node(dir), .entriesWithNodes(dir, afterID: lastID, limit: page)])
                }
                return out
            }
            for e in try backend.edges(dir, afterID: afterID, limit: limit - out.count) {
                out.append(DirEntry(name: e.name, ino: e.ino, type: e.type, cookie: UInt64(e.id) + 2))
            }
            return out
        }
    }

    private func atListingEnd(_ dir: Ino, _ cookie: UInt64) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard let end = listingEnd, end.dir == dir, end.cookie == cookie, cookie > 0,
              backend.transactionDepth == 0 else { return false }
        return cacheTrusted(fresh: false)
    }

    /// The absolute path of a directory inside the volume ("/" for the root). ENOENT when
    /// it was removed.
    public func path(of dir: Ino) throws(Errno) -> [UInt8] {
        try read { () throws(Errno) -> [UInt8] in
            var parts: [[UInt8]] = []
            var cur = dir
            while cur != rootIno {
                guard let e = try backend.edgeNaming(cur) else { throw Errno.noEntry }
                parts.append(e.name)
                cur = e.parent
                if parts.count > 100_000 { throw Errno.loop }
            }
            if parts.isEmpty {
                _ = try loadAttr(rootIno)
                return [0x2f]
            }
            var out: [UInt8] = []
            for part in parts.reversed() {
                out.append(0x2f)
                out.append(contentsOf: part)
            }
            return out
        }
    }
}
