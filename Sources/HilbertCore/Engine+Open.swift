import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// What the shim records for an fd the engine handed out (hl_file).
public struct OpenFile: Equatable {
    public enum Kind: UInt32 { case read = 1, write = 2, directory = 3, path = 4, tmpfile = 5, partial = 6, sparseWrite = 7 }
    public var mount: Int
    public var kind: Kind
    public var ino: Ino
    public init(mount: Int, kind: Kind, ino: Ino) {
        self.mount = mount; self.kind = kind; self.ino = ino
    }
}

// Data plane (DESIGN.md decision 2): every virtual file handed to a program is a real fd.
// Readers get an immutable local copy (a memfd for inline files, a read copy in the cache
// directory otherwise); writers share this node's staging file of the inode, each holding
// flock(LOCK_SH) on its open file description. A commit happens when flock(LOCK_EX|LOCK_NB)
// on a fresh descriptor succeeds (no writer left anywhere on the node), on fsync and at exit.
extension Engine {
    public func open(_ loc: Location, flags: Int32, mode: UInt32) throws(Errno) -> (fd: Int32, file: OpenFile) {
        // open(2) is atomic: when the inode we resolved vanished before we could read it (a
        // rename replaced it, an unlink removed it), resolve again instead of failing.
        var attempt = 0
        while true {
            do throws(Errno) {
                return try openOnce(loc, flags: flags, mode: mode)
            } catch {
                attempt += 1
                if error != .stale { throw error }
                if attempt >= 8 { throw Errno.noEntry }
                if let v = try? volume(loc.mount) { v.meta.dropCaches() }
            }
        }
    }

    private func openOnce(_ loc: Location, flags: Int32, mode: UInt32) throws(Errno) -> (fd: Int32, file: OpenFile) {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let acc = flags & O_ACCMODE
        let create = flags & O_CREAT != 0
        let exclusive = create && flags & O_EXCL != 0
        let isPath = flags & Int32(HL_O_PATH) != 0
        if flags & Int32(HL_O_TMPFILE) == Int32(HL_O_TMPFILE) && !isPath {
            return try openTmpfile(v, loc, flags: flags, mode: mode, cred: cred)
        }
        if acc == O_ACCMODE && !isPath && create { throw Errno.invalid }
        let follow = flags & O_NOFOLLOW == 0 && !exclusive
        var attr: Attr
        let creatingToWrite = create && acc != O_RDONLY && !isPath
        // A directory opened to be listed is found through the caches within the attribute
        // cache timeout, as the directories a create or an unlink changes are: its listing's
        // pages are read from the server, which is what keeps listings close-to-open.
        let listing = flags & O_DIRECTORY != 0 && acc == O_RDONLY && !create && !isPath
        switch try resolve(v, loc, followLast: follow, cred: cred, fresh: !listing, creating: creatingToWrite,
                           checkedByWrite: creatingToWrite) {
        case .redirect(let host):
            throw redirect(to: host)
        case .missing(let parent, let name, let mustBeDir):
            if !create { throw Errno.noEntry }
            if mustBeDir || flags & O_DIRECTORY != 0 { throw mustBeDir ? Errno.isDirectory : Errno.invalid }
            let perm = (mode & 0o7777) & ~umask
            let fileMode = FileType.regular.rawValue | perm
            if acc != O_RDONLY && !isPath {
                let made = try createForWrite(v, parent: parent, name: name, mode: fileMode, flags: flags,
                                              cred: cred, exclusive: exclusive)
                if let opened = made.opened { return opened }
                attr = made.attr   // it existed (no O_EXCL): open it like any existing file
                // A symlink to follow: the caches did not know the name (MetaStore.resolve,
                // `creating`), so resolve again from the server.
                if attr.isSymlink && follow { throw Errno.stale }
                break
            }
            let made = try v.meta.createFile(parent: parent, name: name, mode: fileMode,
                                             cred: cred, exclusive: exclusive)
            attr = made.attr
            if made.created {
                // A new file: writers get a fresh staging file; permission was granted by creating.
                if isPath { return try placeholder(v, attr, flags: flags) }
                if acc == O_RDONLY { return try emptyReadCopy(v, attr, flags: flags) }
                // No O_TRUNC here: a concurrent writer may already have joined the new file.
                return try openForWrite(v, attr, flags: flags, cred: cred, newFile: true)
            }
        case .found(_, _, let a):
            if exclusive { throw Errno.exists }
            attr = a
        }
        do throws(Errno) {
            return try openResolved(v, loc, attr, flags: flags, cred: cred)
        } catch {
            throw error == .noEntry ? Errno.stale : error   // the inode vanished meanwhile
        }
    }

    private func openResolved(_ v: Volume, _ loc: Location, _ attr: Attr, flags: Int32, cred: Credentials) throws(Errno) -> (fd: Int32, file: OpenFile) {
        let acc = flags & O_ACCMODE
        let create = flags & O_CREAT != 0
        let isPath = flags & Int32(HL_O_PATH) != 0
        if flags & O_DIRECTORY != 0 && !attr.isDirectory { throw Errno.notDirectory }
        if isPath { return try placeholder(v, attr, flags: flags) }
        if attr.isSymlink { throw Errno.loop }                     // O_NOFOLLOW on a symlink
        if attr.isDirectory {
            if acc != O_RDONLY || create { throw Errno.isDirectory }
            if !MetaStore.checkAccess(attr, R_OK, cred) { throw Errno.access }
            let fd = try Sys.open(v.cache.shadowPath, O_RDONLY | O_DIRECTORY | (flags & O_CLOEXEC))
            return (fd, OpenFile(mount: loc.mount, kind: .directory, ino: attr.ino))
        }
        if attr.type == .fifo { return try openFIFO(v, attr, flags: flags, cred: cred) }
        if !attr.isRegular { throw Errno.noDeviceOrAddress }
        if acc == O_ACCMODE {
            // Linux's "no access" mode (ioctl-only descriptors): needs read and write
            // permission; the descriptor neither reads nor writes, like a placeholder.
            if !MetaStore.checkAccess(attr, R_OK | W_OK, cred) { throw Errno.access }
            return try placeholder(v, attr, flags: flags)
        }
        var want: Int32 = 0
        if acc == O_RDONLY || acc == O_RDWR { want |= R_OK }
        if acc == O_WRONLY || acc == O_RDWR || flags & O_TRUNC != 0 { want |= W_OK }
        if !MetaStore.checkAccess(attr, want, cred) { throw Errno.access }
        if acc == O_RDONLY && flags & O_TRUNC == 0 {
            return try openForRead(v, attr, flags: flags)
        }
        return try openForWrite(v, attr, flags: flags, cred: cred)
    }

    /// Create a new file and register a fresh staging file for it in one transaction (the
    /// small-file create path: one metadata transaction instead of two). `opened` is nil when
    /// the name already existed and O_EXCL was not given.
    private func createForWrite(_ v: Volume, parent: Ino, name: [UInt8], mode: UInt32, flags: Int32,
                                cred: Credentials, exclusive: Bool) throws(Errno) -> (opened: (fd: Int32, file: OpenFile)?, attr: Attr) {
        // The program's descriptor is the one that creates the file: it is empty, nothing to seed.
        let (path, fd) = try v.cache.newStagingFile(ino: 0, access: writeFlags(flags))
        let stagedName = String(path[path.index(after: path.lastIndex(of: "/")!)...])
        var attr: Attr
        do throws(Errno) {
            try Sys.flock(fd, LOCK_SH)
            let made = try v.meta.createFile(parent: parent, name: name, mode: mode, cred: cred, exclusive: exclusive,
                                             staging: (stagedName, v.cache.stagingOwner.record))
            attr = made.attr
            guard made.created else {
                Sys.close(fd)
                try? Sys.unlink(path)
                return (nil, attr)
            }
            // The staging file's mtime is the file's: unchanged at commit means nothing written.
            try Sys.futimens(fd, [timespec(tv_sec: Int(attr.atime.sec), tv_nsec: Int(attr.atime.nsec)),
                                  timespec(tv_sec: Int(attr.mtime.sec), tv_nsec: Int(attr.mtime.nsec))])
        } catch {
            Sys.close(fd)
            try? Sys.unlink(path)
            throw error
        }
        noteStaging(attr.ino, stagedName)
        return ((handOut(fd, flags), OpenFile(mount: mountIndex(v), kind: .write, ino: attr.ino)), attr)
    }

    /// A FIFO is node-local: every process of the node opening it gets the same kernel FIFO,
    /// kept in the cache directory under the inode number.
    private func openFIFO(_ v: Volume, _ attr: Attr, flags: Int32, cred: Credentials) throws(Errno) -> (fd: Int32, file: OpenFile) {
        let acc = flags & O_ACCMODE
        var want: Int32 = 0
        if acc == O_RDONLY || acc == O_RDWR { want |= R_OK }
        if acc == O_WRONLY || acc == O_RDWR { want |= W_OK }
        if !MetaStore.checkAccess(attr, want, cred) { throw Errno.access }
        let path = v.cache.volumeDirectory + "/fifo/\(attr.ino)"
        if !Sys.exists(path) {
            try v.cache.ensureSubdirectory("fifo")
            if mkfifo(path, 0o600) != 0 && Errno.current != .exists { throw Errno.current }
        }
        // Opening a FIFO blocks until the other end opens, like on a local file system; the
        // engine lock is not held here.
        let fd = try Sys.open(path, flags & (O_ACCMODE | O_NONBLOCK))
        return (handOut(fd, flags), OpenFile(mount: mountIndex(v), kind: .read, ino: attr.ino))
    }

    private func placeholder(_ v: Volume, _ attr: Attr, flags: Int32) throws(Errno) -> (fd: Int32, file: OpenFile) {
        let path = attr.isDirectory ? v.cache.shadowPath : v.cache.placeholderFilePath
        let fd = try Sys.open(path, Int32(HL_O_PATH) | (flags & O_CLOEXEC) | (attr.isDirectory ? O_DIRECTORY : 0))
        return (fd, OpenFile(mount: mountIndex(v), kind: .path, ino: attr.ino))
    }

    func mountIndex(_ v: Volume) -> Int {
        mounts.firstIndex(of: v.spec) ?? 0
    }

    // MARK: readers

    /// `whole`: never a partial copy (the caller reads the fd with calls the shim does not see).
    func openForRead(_ v: Volume, _ attrIn: Attr, flags: Int32, whole: Bool = false) throws(Errno) -> (fd: Int32, file: OpenFile) {
        let file = OpenFile(mount: mountIndex(v), kind: .read, ino: attrIn.ino)
        let keep = flags & O_CLOEXEC
        if attrIn.staged {
            settle(v, attrIn.ino)
            if let staged = try v.meta.staging(attrIn.ino) {
                // A writer is live on this node: read its bytes, as a local file system would.
                if let fd = try? Sys.open(v.cache.stagingPath(staged), O_RDONLY) {
                    // A sparse staging file is read whole: its reads are not the shim's to follow.
                    do throws(Errno) {
                        if let s = try sparseStaging(v, ino: attrIn.ino, name: staged, fd: fd) {
                            let wfd = try Sys.open(v.cache.stagingPath(staged), O_WRONLY)
                            defer { Sys.close(wfd) }
                            try s.prepareWhole(fd: wfd)
                        }
                    } catch {
                        Sys.close(fd)
                        throw error
                    }
                    return (handOut(fd, keep), file)
                }
            }
        }
        // The common case first: a read copy of the version we resolved (the metadata caches
        // are current as of the shared change epoch). Small copies are not marked as used:
        // they are cheap to make again from inline data.
        var triedVersion: UInt64?
        if !attrIn.staged, attrIn.size > 0 {
            if let fd = v.cache.openReadCopy(ino: attrIn.ino, version: attrIn.version,
                                             touch: attrIn.size > UInt64(v.format.inlineMax), cloexec: keep != 0) {
                return (fd, file)
            }
            triedVersion = attrIn.version
        }
        var lastError = Errno.io
        DataErrors.last = nil
        for attempt in 0..<4 {
            // The open that resolved `attrIn` has just asked the server (close-to-open): the
            // first try may answer from what that validated.
            let (attr, inline, blocks) = try v.meta.dataLayout(attrIn.ino, fresh: attempt > 0)
            do throws(Errno) {
                if let inline {
                    return (try memoryCopy(inline, flags: keep), file)
                }
                if attr.size == 0 { return (try memoryCopy([], flags: keep), file) }
                if blocks.count == 1, let b = blocks.first, b.isPacked, b.index == 0 {
                    // A small file in a pack: its one block read into memory as inline bytes
                    // are (a read copy in the cache directory costs more than the read).
                    return (try memoryCopy(try fetchBlock(b, store: v.store), flags: keep), file)
                }
                if attr.version != triedVersion, let fd = v.cache.openReadCopy(ino: attr.ino, version: attr.version) {
                    return (handOut(fd, keep), file)
                }
                if !whole && Engine.partialReads && attr.size > UInt64(v.format.blockSize) {
                    // Larger than a block: fetched as it is read (PartialCopy).
                    let fd = try openPartial(v, attr, blocks, flags: keep)
                    return (fd, OpenFile(mount: file.mount, kind: .partial, ino: attr.ino))
                }
                let fetch = { (out: Int32) throws(Errno) in
                    try fetchFile(blocks: blocks, size: Int64(attr.size),
                                  blockSize: v.format.blockSize, store: v.store, into: out)
                }
                do throws(Errno) {
                    let fd = try v.cache.installReadCopy(ino: attr.ino, version: attr.version, size: Int64(attr.size), fill: fetch)
                    return (handOut(fd, keep), file)
                } catch where error == .noSpace && Int64(attr.size) <= memoryCopyLimit() {
                    // Larger than the cache can hold: a copy in memory instead (until reads
                    // are block-level), when it fits comfortably.
                    return (try memoryCopy(size: Int64(attr.size), flags: keep, fill: fetch), file)
                }
            } catch {
                // A commit may have replaced the version (and deleted its objects) meanwhile.
                lastError = error
                let now = try v.meta.getattr(attrIn.ino)
                if now.version == attr.version { break }
            }
        }
        let why = DataErrors.last.map { $0.message } ?? "\(lastError)"
        Log.error("cannot read \(v.spec.prefix) inode \(attrIn.ino): \(why)")
        throw lastError
    }

    /// An immutable in-memory copy: a memfd, reopened read-only so the fd's access mode is
    /// what the program asked for (writes fail with EBADF as on a read-only fd).
    func memoryCopy(_ bytes: [UInt8], flags: Int32) throws(Errno) -> Int32 {
        let fd = bytes.withUnsafeBytes { hl_sys_memory_copy($0.baseAddress, $0.count) }
        if fd < 0 { throw Errno(-fd) }
        return handOut(fd, flags)
    }

    /// A memfd filled by `fill`, handed out read-only like `memoryCopy(_:flags:)`.
    func memoryCopy(size: Int64, flags: Int32, fill: (Int32) throws(Errno) -> Void) throws(Errno) -> Int32 {
        let mfd = try Sys.memfd("hilbert", 1 /* MFD_CLOEXEC */)
        defer { Sys.close(mfd) }
        try fill(mfd)
        let fd = try Sys.open("/proc/self/fd/\(mfd)", O_RDONLY)
        return handOut(fd, flags)
    }

    /// The largest file copied into memory when the cache cannot hold it: a quarter of the
    /// memory available now (HILBERT_MEMORY_COPY_MAX, bytes, overrides).
    func memoryCopyLimit() -> Int64 {
        if let s = getEnv("HILBERT_MEMORY_COPY_MAX"), let n = Int64(s) { return n }
        return Int64(sysconf(Int32(_SC_AVPHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE))) / 4
    }

    func emptyReadCopy(_ v: Volume, _ attr: Attr, flags: Int32) throws(Errno) -> (fd: Int32, file: OpenFile) {
        (try memoryCopy([], flags: flags & O_CLOEXEC), OpenFile(mount: mountIndex(v), kind: .read, ino: attr.ino))
    }

    // MARK: writers

    func openForWrite(_ v: Volume, _ attr: Attr, flags: Int32, cred: Credentials, newFile: Bool = false) throws(Errno) -> (fd: Int32, file: OpenFile) {
        let file = OpenFile(mount: mountIndex(v), kind: .write, ino: attr.ino)
        let appFlags = writeFlags(flags)
        let truncate = flags & O_TRUNC != 0
        for attempt in 0..<200 {
            // Join the node's staging file when there is one (the node row says whether one may
            // exist; claimStaging double-checks under the write lock).
            let known = attempt == 0 && !attr.staged ? stagingHint(attr.ino) : try v.meta.staging(attr.ino)
            if let staged = known {
                let path = v.cache.stagingPath(staged)
                if !v.cache.ownsStaging(staged) {
                    // Another cache directory's: wait for it (within this loop's bound, about
                    // 2 s, then EBUSY) unless its owner is provably gone.
                    if try resolveForeignStaging(v, attr.ino, staged) { continue }
                    backoff(attempt)
                    continue
                }
                if let fd = try? Sys.open(path, appFlags) {
                    if (try? Sys.flock(fd, LOCK_SH | LOCK_NB)) != nil {
                        // Still the registered staging file? (A settle may have retired it.)
                        if try v.meta.staging(attr.ino) == staged {
                            let sparse = try sparseStaging(v, ino: attr.ino, name: staged, fd: fd)
                            if truncate {
                                try sparse?.prepareTruncate(fd: fd, size: 0)
                                try truncateStaging(fd)
                            }
                            if let sparse, flags & O_APPEND != 0 { try sparse.prepareAppend() }
                            let kind: OpenFile.Kind = sparse.map { $0.isWhole } == false ? .sparseWrite : .write
                            return (handOut(fd, flags), OpenFile(mount: file.mount, kind: kind, ino: attr.ino))
                        }
                    }
                    Sys.close(fd)
                }
                backoff(attempt)
                continue
            }
            // Otherwise make one, seeded with the committed content unless truncating.
            let (path, seedFD) = try v.cache.newStagingFile(ino: attr.ino)
            let name = String(path[path.index(after: path.lastIndex(of: "/")!)...])
            var ok = false
            var sparse: SparseStaging?
            defer {
                Sys.close(seedFD)
                if !ok {
                    try? Sys.unlink(path)
                    sparse?.removeMap()
                }
            }
            // The version the staging file starts from; the claim fails if a commit replaced
            // it meanwhile (else that commit's data would be lost), and we start over. A file of
            // several blocks is not copied: its blocks are brought in when used (SparseStaging).
            let current: Attr
            if truncate {
                current = attr
            } else if let (base, s) = try startSparse(v, attr, path: path, fd: seedFD) {
                current = base
                sparse = s
            } else {
                current = try seed(v, attr, into: seedFD)
            }
            let base: Timespec = truncate && current.size > 0 && !newFile ? Timespec.now : current.mtime
            try Sys.futimens(seedFD, [timespec(tv_sec: Int(current.atime.sec), tv_nsec: Int(current.atime.nsec)),
                                      timespec(tv_sec: Int(base.sec), tv_nsec: Int(base.nsec))])
            let fd = try Sys.open(path, appFlags)
            do throws(Errno) {
                try Sys.flock(fd, LOCK_SH)
                if try claimStaging(v, attr.ino, name, basedOn: truncate ? nil : current.version) {
                    if let sparse, flags & O_APPEND != 0 { try sparse.prepareAppend() }
                    ok = true
                    noteStaging(attr.ino, name)
                    return (handOut(fd, flags), OpenFile(mount: file.mount, kind: sparse == nil ? .write : .sparseWrite, ino: attr.ino))
                }
            } catch {
                Sys.close(fd)
                throw error
            }
            Sys.close(fd)   // someone registered theirs first: join it
        }
        throw Errno.busy
    }

    private func truncateStaging(_ fd: Int32) throws(Errno) {
        let st = try Sys.fstat(fd)
        if st.st_size > 0 { try Sys.ftruncate(fd, 0) }
    }

    private func backoff(_ attempt: Int) {
        var ts = timespec(tv_sec: 0, tv_nsec: min(50_000_000, 100_000 * (attempt + 1)))
        nanosleep(&ts, nil)
    }

    /// Copy the committed content of a file into a fresh staging file.
    /// Returns the attributes of the version copied.
    private func seed(_ v: Volume, _ attr: Attr, into fd: Int32) throws(Errno) -> Attr {
        let (current, inline, blocks) = try v.meta.dataLayout(attr.ino)
        if let inline {
            try Sys.pwriteAll(fd, inline, 0)
            return current
        }
        if current.size == 0 { return current }
        if let copy = v.cache.openReadCopy(ino: current.ino, version: current.version) {
            defer { Sys.close(copy) }
            try copyFile(from: copy, to: fd, size: Int64(current.size))
            return current
        }
        try fetchFile(blocks: blocks, size: Int64(current.size),
                      blockSize: v.format.blockSize, store: v.store, into: fd)
        return current
    }

    // MARK: commits

    /// The program closed a write fd: close it, then commit when no writer is left.
    public func release(fd: Int32, file: OpenFile) throws(Errno) -> Int32 {
        // This process's map of a sparse staging file goes with the descriptor (a dup still
        // open finds it again by name): writing many big files must not pile up descriptors.
        if let st = try? Sys.fstat(fd) { SparseStagings.shared.forget(st) }
        Sys.close(fd)
        let v = try volume(file.mount)
        return settle(v, file.ino)
    }

    /// fsync/fdatasync: commit the staging file's current content now.
    public func fsync(fd: Int32, file: OpenFile) throws(Errno) {
        let v = try volume(file.mount)
        guard let staged = try v.meta.staging(file.ino) else { return }
        let rfd = try Sys.open(v.cache.stagingPath(staged), O_RDONLY)
        defer { Sys.close(rfd) }
        try commit(v, ino: file.ino, stagingFD: rfd, staged: staged, retire: false)
    }

    /// Try to commit and retire the node's staging file of `ino`. Returns 0 or -errno of a
    /// failed commit (the staging file then stays and a later settle retries).
    @discardableResult
    func settle(_ v: Volume, _ ino: Ino) -> Int32 {
        var staged = stagingHint(ino)
        do throws(Errno) {
            if staged == nil { staged = try v.meta.staging(ino) }
        } catch {
            return -error.rawValue
        }
        guard let staged else { return 0 }
        if case .failed(let e) = settle(v, ino, staged) { return -e.rawValue }
        return 0
    }

    enum SettleOutcome { case gone, busy, elsewhere, committed, failed(Errno) }

    /// Commit and retire staging file `staged` of `ino` if no writer holds it any more.
    func settle(_ v: Volume, _ ino: Ino, _ staged: String) -> SettleOutcome {
        do throws(Errno) {
            let fd: Int32
            do throws(Errno) {
                fd = try Sys.open(v.cache.stagingPath(staged), O_RDONLY)
            } catch {
                // Gone (retired by another process, or a row without its file): forget the
                // row — unless the file belongs to another cache directory, whose bytes
                // would be lost (that one commits it).
                if error == .noEntry && !v.cache.ownsStaging(staged) {
                    return try resolveForeignStaging(v, ino, staged) ? .gone : .elsewhere
                }
                if error == .noEntry { try retireStaging(v, ino, staged) }
                forgetStaging(ino)
                return .gone
            }
            defer { Sys.close(fd) }
            do throws(Errno) {
                try Sys.flock(fd, LOCK_EX | LOCK_NB)
            } catch {
                return .busy   // a writer is still there
            }
            do throws(Errno) {
                try commit(v, ino: ino, stagingFD: fd, staged: staged, retire: true)
            } catch where error == .stale {
                forgetStaging(ino)   // another process committed and retired it first
                return .gone
            }
            forgetStaging(ino)
            return .committed
        } catch {
            let why = DataErrors.last.map { $0.message } ?? "\(error)"
            Log.error("commit of \(v.spec.prefix) inode \(ino) failed: \(why); the data stays in \(v.cache.stagingPath(staged)) and is retried")
            return .failed(error)
        }
    }

    /// The staging row of `ino` names `staged`, a file of another cache directory. Its owner
    /// is provably gone only when it registered the row on this node (StagingOwner): then its
    /// process and directory can be looked at. If the file is still there and no writer holds
    /// it, it is committed from there, as the next toucher in its own cache would (the user's
    /// bytes are kept); if the file is gone and so is the process, the bytes were lost with
    /// the directory (a job's TMPDIR wiped): the row is dropped, the file keeps its last
    /// committed version, and the loss is reported once (by the process that drops the row).
    /// Returns whether the row was resolved. Owners on other nodes, or alive, are waited for.
    func resolveForeignStaging(_ v: Volume, _ ino: Ino, _ staged: String) throws(Errno) -> Bool {
        guard let record = try v.meta.stagingOwner(ino), let owner = StagingOwner(record: record),
              owner.onThisNode else { return false }
        let path = owner.stagingPath(volumeUUID: v.format.uuid, name: staged)
        let fd: Int32
        do throws(Errno) {
            fd = try Sys.open(path, O_RDONLY)
        } catch where error == .noEntry {
            guard owner.processGone else { return false }   // it may hold the file open
            let dropped = try v.meta.withWriteTransaction { () throws(Errno) -> Bool in
                guard try v.meta.staging(ino) == staged else { return false }
                try v.meta.clearStaging(ino: ino)
                return true
            }
            if dropped {
                Log.error("\(v.spec.prefix) inode \(ino): uncommitted data staged in \(owner.cacheRoot) by process \(owner.pid), which is gone with that directory, is lost; the file keeps its last committed version")
            }
            forgetStaging(ino)
            return true
        } catch {
            return false   // another user's cache, or unreadable: cannot tell
        }
        defer { Sys.close(fd) }
        guard (try? Sys.flock(fd, LOCK_EX | LOCK_NB)) != nil else { return false }   // a writer is there
        do throws(Errno) {
            try commit(v, ino: ino, stagingFD: fd, staged: staged, retire: true)
        } catch where error == .stale {
            // committed and retired by someone else meanwhile
        }
        try? Sys.unlink(path)
        forgetStaging(ino)
        return true
    }

    /// Register `name` as the staging file of `ino` unless another process registered one.
    func claimStaging(_ v: Volume, _ ino: Ino, _ name: String, basedOn version: UInt64? = nil) throws(Errno) -> Bool {
        try v.meta.withWriteTransaction { () throws(Errno) -> Bool in
            if try v.meta.staging(ino) != nil { return false }
            if let version, try v.meta.getattr(ino).version != version { return false }
            try v.meta.setStaging(ino: ino, file: name, owner: v.cache.stagingOwner.record)
            return true
        }
    }

    /// Forget the staging row of `ino` if it still names `name`.
    func retireStaging(_ v: Volume, _ ino: Ino, _ name: String) throws(Errno) {
        try v.meta.withWriteTransaction { () throws(Errno) in
            if try v.meta.staging(ino) == name { try v.meta.clearStaging(ino: ino) }
        }
    }

    /// Inside a write transaction: is `name` still the registered staging file of `ino`? A
    /// settler may hold an fd on a staging file that another process already committed and
    /// retired (it opened the path just before); committing that content again would undo
    /// every commit made since, so it is refused with ESTALE.
    private func requireRegistered(_ v: Volume, _ ino: Ino, _ name: String) throws(Errno) {
        if try v.meta.staging(ino) != name { throw Errno.stale }
    }

    /// Commit the content of staging file `staged` (open as `fd`) as the file's new version;
    /// with `retire`, also forget the staging row and keep the file as the read copy.
    /// ESTALE: `staged` is no longer the registered staging file (nothing was changed).
    func commit(_ v: Volume, ino: Ino, stagingFD fd: Int32, staged: String, retire: Bool) throws(Errno) {
        let cred = Credentials.effective()
        let st = try Sys.fstat(fd)
        let size = Int64(st.st_size)
        let mtime = Timespec(st.st_mtim)
        // The kernel moved the staging file's ctime with every write: the content changed then,
        // not now (a later commit would leave ctime after mtime, unlike a local file system).
        let ctime = Timespec(st.st_ctim)
        var version: UInt64?
        if !retire, let known = committedState(staged), known.size == st.st_size, known.mtime == mtime,
           known.ctime == ctime, (try? v.meta.getattr(ino))?.version == known.version {
            // An fsync with nothing written since this process's last commit of the file.
            version = known.version
        } else if size <= Int64(v.format.inlineMax) {
            do throws(Errno) {
                // Small content: everything in one transaction, whose reads (the node, the staging
                // row, the old content) are fetched together where they are round trips.
                let bytes = try Sys.preadBytes(fd, count: Int(size), offset: 0)
                let done = try v.meta.withWriteTransaction { () throws(Errno) -> (released: [DeletedObject], version: UInt64, changed: Bool) in
                    try v.meta.fetchForCommit(ino)
                    let attr = try v.meta.getattr(ino)
                    try requireRegistered(v, ino, staged)
                    var d: (released: [DeletedObject], version: UInt64, changed: Bool) = ([], attr.version, false)
                    if try stagingDiffers(v, ino, fd, staged, st, from: attr) {
                        let c = try v.meta.commitData(ino: ino, size: UInt64(size), mtime: mtime, ctime: ctime, inline: bytes,
                                                      blocks: [], cred: cred, unstage: retire)
                        d = (c.released, c.version, true)
                    } else if retire {
                        try v.meta.clearStaging(ino: ino)
                    }
                    return d
                }
                version = done.version
                deleteObjects(v, done.released)
                if done.changed { v.packer.committed(ino: ino, version: done.version, bytes: bytes) }
            } catch where error == .noEntry {
                version = nil
            }
        } else {
            version = try commitBlocks(v, ino: ino, fd: fd, st, staged: staged, retire: retire, cred: cred)
        }
        guard let version else {
            // The file was removed meanwhile: nothing to keep.
            if retire {
                try? retireStaging(v, ino, staged)
                removeStagingFile(v, staged)
            }
            return
        }
        // A retired staging file holds exactly the committed version (no writer is left, and
        // flock(LOCK_EX) also fails while a MAP_SHARED mapping of it exists): keep it as that
        // version's read copy.
        if retire {
            forgetCommittedState(staged)
            // A sparse staging file holds only the blocks brought in: not a read copy then.
            if let s = try? sparseStaging(v, ino: ino, name: staged, fd: fd), !s.isWhole {
                removeStagingFile(v, staged)
            } else {
                v.cache.adoptReadCopy(stagingPath: v.cache.stagingPath(staged), ino: ino, version: version,
                                      bytes: Int64(st.st_blocks) * 512)
                try? Sys.unlink(SparseStaging.mapPath(v.cache.stagingPath(staged)))
                SparseStagings.shared.forget(st)
            }
        } else {
            rememberCommittedState(staged, fd, st, version)
        }
    }

    /// `commit` of content larger than inline: the blocks are uploaded first, then referenced
    /// in one transaction. Returns the version now committed; nil when the file was removed.
    private func commitBlocks(_ v: Volume, ino: Ino, fd: Int32, _ st: stat, staged: String, retire: Bool,
                              cred: Credentials) throws(Errno) -> UInt64? {
        let size = Int64(st.st_size)
        let mtime = Timespec(st.st_mtim)
        let ctime = Timespec(st.st_ctim)
        typealias Committed = (released: [DeletedObject], version: UInt64)
        let attr: Attr
        do throws(Errno) {
            attr = try v.meta.getattr(ino)
        } catch where error == .noEntry {
            return nil
        }
        guard try stagingDiffers(v, ino, fd, staged, st, from: attr) else {
            if retire {
                try v.meta.withWriteTransaction { () throws(Errno) in
                    try v.meta.fetchForCommit(ino)
                    try requireRegistered(v, ino, staged)
                    try v.meta.clearStaging(ino: ino)
                }
            }
            return attr.version
        }
        let previous = try v.meta.dataLayout(ino).blocks
        let codec: BlockCompression = v.format.compression == "zstd" ? .zstd : .none
        // The ids are registered as uploading (hl_upload) until the commit's transaction
        // references the objects: gc never takes them for leaked meanwhile.
        var upload: UInt64 = 0
        let owner = v.cache.stagingOwner.record
        let stored: (blocks: [StoredBlock], newObjects: [UInt64])
        do throws(Errno) {
            // A sparse staging file's blocks never brought in are the committed ones, unread.
            let keep = try sparseStaging(v, ino: ino, name: staged, fd: fd)?.untouched ?? []
            stored = try storeFile(fd: fd, size: size, blockSize: v.format.blockSize, codec: codec,
                                   previous: previous, keep: keep, store: v.store,
                                   allocateIDs: { (n: Int) throws(Errno) -> UInt64 in
                                       let first = try v.meta.allocateUploadIDs(count: n, commit: upload, owner: owner)
                                       if upload == 0 { upload = first }
                                       return first
                                   })
        } catch {
            if upload != 0 { try? v.meta.finishUpload(commit: upload) }
            throw error
        }
        // On failure the new objects are deleted, unless the transaction may have committed
        // (its outcome unknown): then they stay registered as uploading, and gc deletes them
        // once the upload is abandoned if nothing references them.
        func abandon() {
            for id in stored.newObjects { try? v.store.delete(blockObjectKey(id)) }
            if upload != 0 { try? v.meta.finishUpload(commit: upload) }
        }
        do throws(Errno) {
            try v.store.flush()   // objects durable before metadata points at them
        } catch {
            abandon()
            throw error
        }
        let done: Committed
        do throws(Errno) {
            done = try v.meta.withWriteTransaction { () throws(Errno) -> Committed in
                try v.meta.fetchForCommit(ino)
                try requireRegistered(v, ino, staged)
                let d = try v.meta.commitData(ino: ino, size: UInt64(size), mtime: mtime, ctime: ctime, inline: nil,
                                              blocks: stored.blocks, cred: cred, unstage: retire)
                if upload != 0 { try v.meta.finishUpload(commit: upload) }
                return d
            }
        } catch {
            if !v.meta.lastWriteMayHaveCommitted { abandon() }
            throw error
        }
        deleteObjects(v, done.released)
        return done.version
    }

    /// After a commit that leaves the staging file in use (fsync): remember its size, mtime
    /// and ctime as those of `version`, if they identify that content. They do when the
    /// file's ctime is still the one read before the commit and the kernel's coarse clock,
    /// which stamps writes, has moved past it: any later write, truncate or time change
    /// then gives a later ctime. (Within the same tick it might not, so nothing is kept.)
    private func rememberCommittedState(_ staged: String, _ fd: Int32, _ before: stat, _ version: UInt64) {
        guard let now = try? Sys.fstat(fd), Timespec(now.st_ctim) == Timespec(before.st_ctim),
              now.st_size == before.st_size else { return }
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &clock)
        guard Timespec(clock) > Timespec(before.st_ctim) else { return }
        noteCommittedState(staged, CommittedState(size: before.st_size, mtime: Timespec(before.st_mtim),
                                                  ctime: Timespec(before.st_ctim), version: version))
    }

    /// Whether the staging file holds anything the committed version does not. A size or an
    /// mtime that differs proves it. Equal ones prove nothing: a program may set the mtime
    /// (`cp -p`, `os.utime` while a writer has the file open, which also sets the staging
    /// file's), and a write within one clock tick of a commit leaves the mtime as it was. Then
    /// the content itself is compared with the committed version (inline bytes, or each
    /// block's length and CRC-32C), so whether data is committed never depends on timestamps.
    /// A commit made by this process that left the staging file in use (fsync) may have
    /// remembered (`rememberCommittedState`) a size, mtime and ctime that identify the
    /// content it committed: equal ones now spare the comparison (a close after fsync).
    private func stagingDiffers(_ v: Volume, _ ino: Ino, _ fd: Int32, _ staged: String, _ st: stat, from attr: Attr) throws(Errno) -> Bool {
        let size = Int64(st.st_size), mtime = Timespec(st.st_mtim)
        if UInt64(size) != attr.size || mtime != attr.mtime { return true }
        if let known = committedState(staged), known.version == attr.version, known.size == st.st_size,
           known.mtime == mtime, known.ctime == Timespec(st.st_ctim) { return false }
        let (_, inline, blocks) = try v.meta.dataLayout(ino)
        if let inline { return try Sys.preadBytes(fd, count: Int(size), offset: 0) != inline }
        return try !contentMatches(fd: fd, size: size, blockSize: v.format.blockSize, blocks: blocks)
    }

    /// Size, mtime and ctime of a file whose staging file may be ahead of the metadata.
    func liveAttributes(_ v: Volume, _ attr: Attr) throws(Errno) -> Attr {
        settle(v, attr.ino)
        guard let staged = try v.meta.staging(attr.ino) else { return try v.meta.getattr(attr.ino) }
        var a = try v.meta.getattr(attr.ino)
        if let st = try? Sys.stat(v.cache.stagingPath(staged)) { a.takeStaging(st) }
        return a
    }

    func syncStagingTimes(_ v: Volume, _ attr: Attr) {
        guard let staged = try? v.meta.staging(attr.ino) else { return }
        guard let fd = try? Sys.open(v.cache.stagingPath(staged), O_WRONLY) else { return }
        defer { Sys.close(fd) }
        try? Sys.futimens(fd, [timespec(tv_sec: Int(attr.atime.sec), tv_nsec: Int(attr.atime.nsec)),
                               timespec(tv_sec: Int(attr.mtime.sec), tv_nsec: Int(attr.mtime.nsec))])
    }

    // MARK: fd identity, exit, exec

    public func fstat(fd: Int32, file: OpenFile) throws(Errno) -> StatResult {
        let v = try volume(file.mount)
        if file.kind == .tmpfile { return try tmpfileStat(v, fd: fd) }
        var attr: Attr
        do throws(Errno) {
            attr = try v.meta.getattr(file.ino, fresh: false)
        } catch {
            guard error == .noEntry, let st = try? Sys.fstat(fd) else { throw error }
            // Unlinked while open: the descriptor still works, as on a local file system.
            attr = Attr(ino: file.ino, mode: st.st_mode, nlink: 0, uid: st.st_uid, gid: st.st_gid, rdev: 0,
                        size: UInt64(st.st_size), atime: Timespec(st.st_atim), mtime: Timespec(st.st_mtim),
                        ctime: Timespec(st.st_ctim), btime: Timespec(st.st_mtim), parent: 0, version: 0, staged: false)
            return statResult(v, attr, allocated: UInt64(st.st_blocks) * 512)
        }
        if file.kind == .read || file.kind == .partial || file.kind == .write, let st = try? Sys.fstat(fd) {
            if file.kind == .write { attr.takeStaging(st) } else { attr.size = UInt64(st.st_size) }
        }
        return statResult(v, attr)
    }

    /// Process exit: commit what this process wrote (its fds close right after).
    public func stop(writeFiles: [(fd: Int32, file: OpenFile)]) {
        var seen = Set<Ino>()
        for (fd, file) in writeFiles where file.kind == .write {
            if !seen.insert(file.ino).inserted { continue }
            do { try fsync(fd: fd, file: file) } catch {
                Log.error("commit at exit of inode \(file.ino) failed: \(error); the data stays in the staging area")
            }
        }
        if SmallFilePacker.pendingInProcess > 0 {
            for v in openedVolumes() { v.packer.flush() }
        }
    }

    /// An engine-private descriptor on the node-local lock file of an inode (the shim takes
    /// the program's flock/fcntl/lockf locks there).
    public func lockFile(mount: Int, ino: Ino) throws(Errno) -> Int32 {
        let v = try volume(mount)
        let dir = v.cache.volumeDirectory + "/locks"
        do throws(Errno) {
            return try Sys.openPrivate(dir + "/\(ino)", O_RDWR | O_CREAT, 0o600)
        } catch where error == .noEntry {
            try v.cache.ensureSubdirectory("locks")
            return try Sys.openPrivate(dir + "/\(ino)", O_RDWR | O_CREAT, 0o600)
        }
    }

    /// A real local file holding the current content (for execve and dlopen).
    public func materialize(_ loc: Location, forExec: Bool) throws(Errno) -> String {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        var attr = try existing(v, loc, follow: true, cred: cred).attr
        if attr.isDirectory { throw Errno.access }
        if !attr.isRegular { throw Errno.access }
        if forExec && (!MetaStore.checkAccess(attr, X_OK, cred) || attr.mode & 0o111 == 0) { throw Errno.access }
        if !forExec && !MetaStore.checkAccess(attr, R_OK, cred) { throw Errno.access }
        if attr.staged { settle(v, attr.ino); attr = try v.meta.getattr(attr.ino) }
        let (fd, _) = try openForRead(v, attr, flags: 0, whole: true)
        defer { Sys.close(fd) }
        let path = v.cache.readCopyPath(ino: attr.ino, version: attr.version)
        if !Sys.exists(path) {
            // Inline or staged content: put a copy into the cache.
            let copy = try v.cache.installReadCopy(ino: attr.ino, version: attr.version, size: Int64(attr.size)) { (out: Int32) throws(Errno) in
                try copyFile(from: fd, to: out, size: Int64(attr.size))
            }
            Sys.close(copy)
        }
        // Read copies are the user's own (the cache is per user): executable for exec/dlopen.
        if let pfd = try? Sys.open(path, O_RDONLY) {
            try? Sys.fchmod(pfd, 0o500)
            Sys.close(pfd)
        }
        return path
    }
}

extension Errno {
    static let noDeviceOrAddress = Errno(ENXIO)
}

/// The flags a program's write descriptor on a staging file gets (Sys.open adds O_CLOEXEC;
/// handOut() clears it again unless the program asked for it).
func writeFlags(_ flags: Int32) -> Int32 {
    flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC)
}

/// Make an fd the engine opened (always O_CLOEXEC) carry the program's FD_CLOEXEC choice.
func handOut(_ fd: Int32, _ flags: Int32) -> Int32 {
    if flags & O_CLOEXEC == 0 { _ = hl_sys_fcntl_int(fd, F_SETFD, 0) }
    return fd
}


extension Timespec {
    init(_ ts: timespec) { self.init(sec: Int64(ts.tv_sec), nsec: UInt32(ts.tv_nsec)) }

    static var now: Timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timespec(sec: Int64(ts.tv_sec), nsec: UInt32(ts.tv_nsec))
    }
}

/// Copy `size` bytes between two real fds into an empty `dst`, keeping the holes of `src`
/// (SEEK_DATA/SEEK_HOLE; a file system without them makes the whole file one data range).
func copyFile(from src: Int32, to dst: Int32, size: Int64) throws(Errno) {
    try Sys.ftruncate(dst, size)
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    var offset: Int64 = 0
    while offset < size {
        var start: Int64 = 0, end: Int64 = size
        do throws(Errno) {
            start = try Sys.lseek(src, offset, Int32(HL_SEEK_DATA))
            end = min(size, try Sys.lseek(src, start, Int32(HL_SEEK_HOLE)))
        } catch where error == .noDeviceOrAddress {
            break                       // only a hole is left
        } catch {
            if offset != 0 { throw error }
            (start, end) = (0, size)    // no SEEK_DATA here: copy everything
        }
        if start >= size { break }
        try copyRange(from: src, to: dst, start, end, &buf)
        offset = end
    }
}

private func copyRange(from src: Int32, to dst: Int32, _ start: Int64, _ end: Int64, _ buf: inout [UInt8]) throws(Errno) {
    var offset = start
    while offset < end {
        let want = Int(min(Int64(buf.count), end - offset))
        var failure: Errno?
        let n = buf.withUnsafeMutableBytes { b -> Int in
            do throws(Errno) { return try Sys.preadFully(src, b.baseAddress!, want, offset) } catch { failure = error; return 0 }
        }
        if let failure { throw failure }
        if n == 0 { break }
        buf.withUnsafeBytes { b in
            do throws(Errno) { try Sys.pwriteAll(dst, UnsafeRawBufferPointer(rebasing: b[0..<n]), offset) } catch { failure = error }
        }
        if let failure { throw failure }
        offset += Int64(n)
    }
}

extension Engine {
    /// Commit every staging file of the volume that no process writes any more, and delete
    /// objects whose deletion an earlier process could not finish (hilbert flush / run).
    public static func flush(_ v: Volume) -> (committed: Int, busy: Int, elsewhere: Int, failed: Int) {
        var result = (committed: 0, busy: 0, elsewhere: 0, failed: 0)
        let engine = Engine.shared
        for (ino, name) in (try? v.meta.allStaging()) ?? [] {
            switch engine.settle(v, ino, name) {
            case .gone: break
            case .busy: result.busy += 1
            case .elsewhere: result.elsewhere += 1
            case .committed: result.committed += 1
            case .failed: result.failed += 1
            }
        }
        if let pending = try? v.meta.pendingDeletions(limit: 10_000, dueBy: Timespec.now().sec), !pending.isEmpty {
            engine.deleteObjects(v, pending)
        }
        return result
    }
}

extension Attr {
    /// The live size, mtime and ctime of a file from its staging file (`st`), which is ahead of
    /// the metadata while writers have it open; ctime never moves backwards.
    mutating func takeStaging(_ st: stat) {
        size = UInt64(st.st_size)
        mtime = Timespec(st.st_mtim)
        ctime = max(ctime, Timespec(st.st_ctim))
    }
}
