import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// What stat returns: the metadata attributes plus the identity fields the kernel would add.
public struct StatResult {
    public var attr: Attr
    public var dev: UInt64
    public var blocks: UInt64
    public var blksize: UInt32
}

extension Engine {
    /// Resolve a location. `path == nil` designates inode `dir` itself. `fresh` false, for
    /// calls that only look (stat, access, readlink, xattrs): another node's change may show
    /// up to the attribute cache timeout late; everything else sees the server's state now.
    /// `creating`: see MetaStore.resolve.
    func resolve(_ v: Volume, _ loc: Location, followLast: Bool, cred: Credentials, fresh: Bool = true,
                 creating: Bool = false, changing: Bool = false, checkedByWrite: Bool = false) throws(Errno) -> Resolution {
        guard let path = loc.path else {
            let attr = try v.meta.getattr(loc.dir, fresh: fresh)
            return .found(parent: 0, name: [], attr: attr)
        }
        if path.isEmpty { throw Errno.noEntry }
        if path.count >= 4096 { throw Errno.nameTooLong }
        return try v.meta.resolve(from: loc.dir == 0 ? rootIno : loc.dir, path: path, followLast: followLast,
                                  cred: cred, mountPrefix: v.prefixBytes, fresh: fresh, creating: creating,
                                  changing: changing, checkedByWrite: checkedByWrite)
    }

    /// Resolve to an existing object or throw (ENOENT / redirect).
    func existing(_ v: Volume, _ loc: Location, follow: Bool, cred: Credentials,
                  fresh: Bool = true) throws(Errno) -> (parent: Ino, name: [UInt8], attr: Attr) {
        switch try resolve(v, loc, followLast: follow, cred: cred, fresh: fresh) {
        case .found(let p, let n, let a): return (p, n, a)
        case .missing: throw Errno.noEntry
        case .redirect(let host): throw redirect(to: host)
        }
    }

    func statResult(_ v: Volume, _ attr: Attr, allocated: UInt64? = nil) -> StatResult {
        var a = attr
        // Directories look like a small ext4 directory (du, ls -l and tar expect a size).
        if a.isDirectory { a.size = 4096 }
        var bytes = allocated ?? a.size
        // Block-stored files may have holes: count what is stored (st_blocks as on a local
        // file system, so du, cp --sparse and tar --sparse see them).
        if allocated == nil && a.isRegular && a.size > UInt64(v.format.inlineMax) && !a.staged {
            bytes = min(a.size, (try? v.meta.allocatedBytes(a.ino)) ?? a.size)
        }
        return StatResult(attr: a, dev: v.dev, blocks: (bytes + 511) / 512, blksize: UInt32(min(v.format.blockSize, 1 << 20)))
    }

    public func stat(_ loc: Location, noFollow: Bool) throws(Errno) -> StatResult {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        var attr = try existing(v, loc, follow: !noFollow, cred: cred, fresh: false).attr
        if attr.staged { attr = try liveAttributes(v, attr) }
        return statResult(v, attr)
    }

    public func access(_ loc: Location, mode: Int32, effective: Bool, noFollow: Bool) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = effective ? Credentials.effective() : Credentials.real()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred, fresh: false).attr
        if mode == F_OK { return }
        if !MetaStore.checkAccess(attr, mode & (R_OK | W_OK | X_OK), cred) { throw Errno.access }
    }

    /// Resolve the location of something about to be created: returns its parent and name.
    func creationTarget(_ v: Volume, _ loc: Location, cred: Credentials, allowDirectorySlash: Bool) throws(Errno) -> (parent: Ino, name: [UInt8]) {
        switch try resolve(v, loc, followLast: false, cred: cred, creating: true) {
        case .found: throw Errno.exists
        case .missing(let p, let n, let mustBeDir):
            if mustBeDir && !allowDirectorySlash { throw Errno.noEntry }
            return (p, n)
        case .redirect(let host): throw redirect(to: host)
        }
    }

    public func mkdir(_ loc: Location, mode: UInt32) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let (p, n) = try creationTarget(v, loc, cred: cred, allowDirectorySlash: true)
        _ = try v.meta.mkdir(parent: p, name: n, mode: (mode & 0o7777) & ~umask, cred: cred)
    }

    public func mknod(_ loc: Location, mode: UInt32, rdev: UInt64) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let (p, n) = try creationTarget(v, loc, cred: cred, allowDirectorySlash: false)
        var type = mode & 0o170000
        if type == 0 { type = FileType.regular.rawValue }
        let perm = (mode & 0o7777) & ~umask
        if type == FileType.regular.rawValue {
            _ = try v.meta.createFile(parent: p, name: n, mode: type | perm, cred: cred, exclusive: true)
        } else if type == FileType.directory.rawValue {
            throw Errno.invalid
        } else {
            _ = try v.meta.mknod(parent: p, name: n, mode: type | perm, rdev: rdev, cred: cred)
        }
    }

    /// bind/connect of an AF_UNIX socket at `loc`: the socket inode lives in the metadata, the
    /// kernel socket behind it in the node's cache directory (`sock/<ino>`), so processes of
    /// one node meet as on a local file system (like FIFOs).
    public func socketPath(_ loc: Location, create: Bool, mode: UInt32) throws(Errno) -> String {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let ino: Ino
        if create {
            do throws(Errno) {
                let (p, n) = try creationTarget(v, loc, cred: cred, allowDirectorySlash: false)
                ino = try v.meta.mknod(parent: p, name: n, mode: FileType.socket.rawValue | ((mode & 0o777) & ~umask),
                                       rdev: 0, cred: cred).ino
            } catch where error == .exists {
                throw Errno(EADDRINUSE)   // bind(2) on an existing name
            }
        } else {
            let attr = try existing(v, loc, follow: true, cred: cred).attr
            if attr.type != .socket { throw Errno(ECONNREFUSED) }
            if !MetaStore.checkAccess(attr, W_OK, cred) { throw Errno.access }
            ino = attr.ino
        }
        let dir = v.cache.volumeDirectory + "/sock"
        if !Sys.exists(dir) { try v.cache.ensureSubdirectory("sock") }
        return dir + "/\(ino)"
    }

    public func symlink(target: [UInt8], _ loc: Location) throws(Errno) {
        if target.isEmpty { throw Errno.noEntry }
        if target.count >= 4096 { throw Errno.nameTooLong }
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let (p, n) = try creationTarget(v, loc, cred: cred, allowDirectorySlash: false)
        _ = try v.meta.symlink(parent: p, name: n, target: target, cred: cred)
    }

    public func unlink(_ loc: Location, removeDirectory: Bool) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        // rmdir("x/.") is EINVAL and rmdir("x/..") ENOTEMPTY, whatever they resolve to.
        switch lastComponent(loc.path) {
        case [0x2e]: throw removeDirectory ? Errno.invalid : Errno.isDirectory
        case [0x2e, 0x2e]: throw removeDirectory ? Errno.notEmpty : Errno.isDirectory
        default: break
        }
        // The removal's transaction looks the name up itself: a directory the caches know will
        // do (MetaStore.resolve, `changing`), except where a trailing slash asks for more. Where
        // lookups are round trips, a name unknown to the caches is left to it too (`plain`).
        let noSlash = loc.path?.last != 0x2f
        let plain = noSlash && v.meta.sharedBetweenNodes
        let p: Ino, n: [UInt8]
        switch try resolve(v, loc, followLast: false, cred: cred, changing: noSlash) {
        case .found(let parent, let name, let attr):
            if parent == 0 { throw removeDirectory ? Errno.busy : Errno.isDirectory }   // the mount root
            // Where the answer may come from the caches, the transaction checks the type.
            if !plain && removeDirectory && !attr.isDirectory { throw Errno.notDirectory }
            if !plain && !removeDirectory && attr.isDirectory { throw Errno.isDirectory }
            (p, n) = (parent, name)
        case .missing(let parent, let name, _):
            if !plain { throw Errno.noEntry }
            (p, n) = (parent, name)   // unknown to the caches: the transaction finds out
        case .redirect(let host):
            throw redirect(to: host)
        }
        let released = removeDirectory ? try v.meta.rmdir(parent: p, name: n, cred: cred)
                                        : try v.meta.unlink(parent: p, name: n, cred: cred)
        cleanUp(v, released)
    }

    public func rename(_ from: Location, _ to: Location, flags: UInt32) throws(Errno) {
        if from.mount != to.mount { throw Errno.crossDevice }
        let dots: Set<[UInt8]> = [[0x2e], [0x2e, 0x2e]]
        if dots.contains(lastComponent(from.path)) || dots.contains(lastComponent(to.path)) {
            throw Errno.busy   // Linux: rename of "." or ".." is EBUSY
        }
        let v = try volume(from.mount)
        let cred = Credentials.effective()
        // Linux resolves both parent directories before it looks the source up: an unusable
        // destination path (ENOTDIR, ENOENT in the middle) wins over a missing source.
        // The transaction looks both names up itself: directories the caches know will do
        // (MetaStore.resolve, `changing`), except where a trailing slash asks for more. Where
        // lookups are round trips, a source unknown to the caches is left to it too (`plain`).
        let noSlash = from.path?.last != 0x2f && to.path?.last != 0x2f
        let plain = noSlash && v.meta.sharedBetweenNodes
        let source = try resolve(v, from, followLast: false, cred: cred, changing: noSlash)
        let target = try resolve(v, to, followLast: false, cred: cred, changing: noSlash, checkedByWrite: noSlash)
        let (sp, sn): (Ino, [UInt8])
        var sattr: Attr?
        switch source {
        case .found(let p, let n, let a): (sp, sn, sattr) = (p, n, a)
        case .missing(let p, let n, _):
            if !plain { throw Errno.noEntry }
            (sp, sn) = (p, n)   // unknown to the caches: the transaction finds out
        case .redirect: throw Errno.crossDevice
        }
        if sp == 0 { throw Errno.busy }
        let dp: Ino, dn: [UInt8]
        switch target {
        case .found(let p, let n, _):
            if p == 0 { throw Errno.busy }
            dp = p; dn = n
        case .missing(let p, let n, let mustBeDir):
            if mustBeDir && sattr?.isDirectory == false { throw Errno.notDirectory }
            dp = p; dn = n
        case .redirect: throw Errno.crossDevice
        }
        cleanUp(v, try v.meta.rename(parent: sp, name: sn, newParent: dp, newName: dn, flags: flags, cred: cred))
    }

    public func link(_ from: Location, _ to: Location, follow: Bool) throws(Errno) {
        if from.mount != to.mount { throw Errno.crossDevice }
        let v = try volume(from.mount)
        let cred = Credentials.effective()
        let src: Attr
        do {
            src = try existing(v, from, follow: follow, cred: cred).attr
        } catch {
            if error == .redirect { throw Errno.crossDevice }
            throw error
        }
        let (p, n): (Ino, [UInt8])
        do {
            (p, n) = try creationTarget(v, to, cred: cred, allowDirectorySlash: false)
        } catch {
            if error == .redirect { throw Errno.crossDevice }
            throw error
        }
        _ = try v.meta.link(ino: src.ino, newParent: p, newName: n, cred: cred)
    }

    public func readlink(_ loc: Location) throws(Errno) -> [UInt8] {
        let v = try volume(loc.mount)
        let attr = try existing(v, loc, follow: false, cred: Credentials.effective(), fresh: false).attr
        if !attr.isSymlink { throw Errno.invalid }
        return try v.meta.readlink(attr.ino, fresh: false)
    }

    public func chmod(_ loc: Location, mode: UInt32, noFollow: Bool) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred).attr
        if attr.isSymlink { throw Errno.notSupported }
        try v.meta.setattr(ino: attr.ino, mode: mode & 0o7777, cred: cred)
    }

    public func chown(_ loc: Location, uid: UInt32?, gid: UInt32?, noFollow: Bool) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred).attr
        try v.meta.setattr(ino: attr.ino, uid: uid, gid: gid, cred: cred)
    }

    /// nil leaves a time unchanged (UTIME_OMIT).
    public func utimens(_ loc: Location, atime: TimeChange?, mtime: TimeChange?, noFollow: Bool) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred).attr
        if atime == nil && mtime == nil { return }
        let updated = try v.meta.setattr(ino: attr.ino, atime: atime, mtime: mtime, cred: cred)
        if attr.staged { syncStagingTimes(v, updated) }
    }

    public func truncate(_ loc: Location, length: Int64) throws(Errno) {
        if length < 0 { throw Errno.invalid }
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: true, cred: cred).attr
        if attr.isDirectory { throw Errno.isDirectory }
        if !attr.isRegular { throw Errno.invalid }
        if !MetaStore.checkAccess(attr, W_OK, cred) { throw Errno.access }
        let (fd, file) = try openForWrite(v, attr, flags: O_WRONLY, cred: cred)
        do {
            if file.kind == .sparseWrite { _ = try prepareWrite(fd: fd, file: file, .truncate(size: length)) }
            try Sys.ftruncate(fd, length)
        } catch {
            Sys.close(fd)
            throw error
        }
        _ = try release(fd: fd, file: file)
    }

    public func statfs(_ loc: Location) throws(Errno) -> StatfsResult {
        let v = try volume(loc.mount)
        _ = try existing(v, loc, follow: true, cred: Credentials.effective())
        let usage = try v.meta.usage()
        let host = try? Sys.statvfs(v.format.bucket)
        let bsize: UInt64 = 4096
        let used = (usage.storedBytes + bsize - 1) / bsize
        var total: UInt64 = 1 << 40 / bsize
        var free: UInt64 = total - min(total, used)
        var avail = free
        if let h = host {
            let frsize = UInt64(h.f_frsize)
            free = UInt64(h.f_bfree) * frsize / bsize
            avail = UInt64(h.f_bavail) * frsize / bsize
            total = used + free
        }
        let files: UInt64 = 1 << 32
        return StatfsResult(type: 0x4842_4c54, bsize: bsize, blocks: total, bfree: free, bavail: avail,
                            files: files, ffree: files - min(files, usage.inodes), fsid: v.dev, namemax: 255)
    }

    public func getxattr(_ loc: Location, name: [UInt8], noFollow: Bool) throws(Errno) -> [UInt8] {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred, fresh: false).attr
        return try v.meta.getxattr(attr.ino, name: name, cred: cred)
    }

    public func setxattr(_ loc: Location, name: [UInt8], value: [UInt8], flags: Int32, noFollow: Bool) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred).attr
        try v.meta.setxattr(attr.ino, name: name, value: value, flags: flags, cred: cred)
    }

    public func listxattr(_ loc: Location, noFollow: Bool) throws(Errno) -> [[UInt8]] {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred, fresh: false).attr
        return try v.meta.listxattr(attr.ino)
    }

    public func removexattr(_ loc: Location, name: [UInt8], noFollow: Bool) throws(Errno) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: !noFollow, cred: cred).attr
        try v.meta.removexattr(attr.ino, name: name, cred: cred)
    }

    public func readdir(mount: Int, dir: Ino, after cookie: UInt64, limit: Int) throws(Errno) -> [DirEntry] {
        let v = try volume(mount)
        return try v.meta.readdir(dir == 0 ? rootIno : dir, after: cookie, limit: limit)
    }

    /// chdir: the directory's inode (search permission checked) and a placeholder fd.
    public func chdir(_ loc: Location) throws(Errno) -> (fd: Int32, ino: Ino) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let attr = try existing(v, loc, follow: true, cred: cred).attr
        if !attr.isDirectory { throw Errno.notDirectory }
        if !MetaStore.checkAccess(attr, X_OK, cred) { throw Errno.access }
        let fd = try Sys.open(v.cache.shadowPath, Int32(HL_O_PATH) | O_DIRECTORY)
        return (fd, attr.ino)
    }

    public func getpath(mount: Int, ino: Ino) throws(Errno) -> [UInt8] {
        let v = try volume(mount)
        return try v.meta.path(of: ino == 0 ? rootIno : ino)
    }

    public func realpath(_ loc: Location) throws(Errno) -> [UInt8] {
        let v = try volume(loc.mount)
        let (parent, name, attr) = try existing(v, loc, follow: true, cred: Credentials.effective())
        if parent == 0 { return [0x2f] }
        if attr.isDirectory { return try v.meta.path(of: attr.ino) }
        var p = try v.meta.path(of: parent)
        if p != [0x2f] { p.append(0x2f) }
        p.append(contentsOf: name)
        return p
    }

    /// After a namespace change: delete unreferenced objects, retire the staging files and
    /// read copies of destroyed inodes.
    func cleanUp(_ v: Volume, _ r: Released) {
        deleteObjects(v, r.objects)
        for f in r.stagingFiles { removeStagingFile(v, f) }
        // The last version's copy is removed by name (one unlink; inline files have no other);
        // files with objects may have older versions cached too: scan for those.
        for f in r.lastVersions { try? Sys.unlink(v.cache.readCopyPath(ino: f.ino, version: f.version)) }
        for ino in r.sockets { try? Sys.unlink(v.cache.volumeDirectory + "/sock/\(ino)") }
        if !r.objects.isEmpty { for ino in r.destroyed { v.cache.removeReadCopies(ino: ino) } }
    }

    func deleteObjects(_ v: Volume, _ objects: [DeletedObject]) {
        deleteReleased(objects, meta: v.meta, store: v.store)
    }
}

/// Delete objects the metadata released (hl_delobj) from the store, then forget those that
/// went; one that could not be deleted keeps its row for the next flush or gc, and so does one
/// not yet due (deferred deletion: `hilbert flush` and gc delete it later). Returns the ids
/// deleted.
@discardableResult
public func deleteReleased(_ objects: [DeletedObject], meta: MetaStore, store: ObjectStore) -> [UInt64] {
    if objects.isEmpty { return [] }
    var done: [UInt64] = []
    let now = Timespec.now().sec
    for o in objects where o.isDue(at: now) {
        do throws(Errno) {
            try store.delete(blockObjectKey(o.objectID))
            done.append(o.objectID)
        } catch {
            Log.debug("deleting object \(o.objectID) failed: \(error); left for gc")
        }
    }
    try? meta.forgetDeletions(done)
    return done
}

public struct StatfsResult {
    public var type: UInt64, bsize: UInt64, blocks: UInt64, bfree: UInt64, bavail: UInt64
    public var files: UInt64, ffree: UInt64, fsid: UInt64, namemax: UInt64
}

extension CacheDirectory {
    var shadowPath: String { shadowDirectory }
    /// An empty file standing in for O_PATH descriptors of non-directories.
    var placeholderFilePath: String {
        let p = volumeDirectory + "/placeholder"
        if !Sys.exists(p), let fd = try? Sys.open(p, O_WRONLY | O_CREAT, 0o400) { Sys.close(fd) }
        return p
    }
}

/// The last component of a path ([] for none, e.g. "/" or an fd-relative location).
func lastComponent(_ path: [UInt8]?) -> [UInt8] {
    guard var p = path?[...] else { return [] }
    while p.last == 0x2f { p.removeLast() }
    if let slash = p.lastIndex(of: 0x2f) { return Array(p[(slash + 1)...]) }
    return Array(p)
}

/// The store key of a block object (see docs/FORMAT.md).
func blockObjectKey(_ id: UInt64) -> String { objectKey(id: id) }
