import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData

/// One thread of an export: pages of directory listings from the exporter's queue, each
/// entry written into the host tree.
final class ExportWalker {
    let exporter: Exporter
    private var times = StepTimes()
    /// How many files of the page being written each pack holds.
    private var packsShared: [UInt64: Int] = [:]

    init(_ exporter: Exporter) { self.exporter = exporter }

    func work() {
        while let job = exporter.queue.take() {
            times.mark(.waitForJob)
            if exporter.stopRequested() { exporter.interrupt() }
            switch job {
            case .page(let d, let after): page(d, after)
            case .single(let d, let e): single(d, e)
            }
            exporter.queue.finished()
        }
        exporter.counters.spend(times)
    }

    /// Read a page of a directory; the next page goes to the queue before this one is
    /// written, so that another thread writes it meanwhile.
    private func page(_ d: ExportDirectory, _ after: UInt64) {
        let entries: [ExportedEntry]
        let next: UInt64?
        do throws(Errno) {
            (entries, next) = try exporter.meta.exportPage(d.ino, after: after, limit: exporter.options.pageEntries, cred: exporter.cred)
        } catch {
            exporter.report("cannot list \(display(d.source)): \(explain(error, exporter.meta))")
            return
        }
        times.mark(.readMetadata)
        if let next { exporter.queue.push(.page(d, after: next)) }
        if entries.isEmpty { return }
        exporter.counters.update { $0.found += entries.count }
        let fd: Int32
        do throws(Errno) { fd = try Host.openDirectory(d.path, followLast: true) } catch {
            for e in entries { exporter.report("cannot write \(display(join(d.path, e.name))): \(error)") }
            return
        }
        defer { Glibc.close(fd) }
        // Packs two or more files of the page are in are fetched whole (PackReader).
        var inPack: [UInt64: Int] = [:]
        for e in entries { if let b = ExportWalker.packedBlock(e) { inPack[b.objectID, default: 0] += 1 } }
        packsShared = inPack
        for e in entries { entry(d, fd, e) }
        times.mark(.writeFiles)
    }

    private func single(_ d: ExportDirectory, _ e: ExportedEntry) {
        let fd: Int32
        do throws(Errno) { fd = try Host.openDirectory(d.path, followLast: true) } catch {
            exporter.report("cannot write \(display(join(d.path, e.name))): \(error)")
            return
        }
        defer { Glibc.close(fd) }
        entry(d, fd, e)
    }

    // MARK: one entry

    private func entry(_ d: ExportDirectory, _ dfd: Int32, _ e: ExportedEntry) {
        let a = e.attr
        let path = join(d.path, e.name)
        let root = exporter.cred.uid == 0
        if !a.isDirectory && a.nlink > 1 && !exporter.claimFirstName(a.ino) {
            exporter.deferLink(d, e)
            return
        }
        do throws(Errno) {
            switch a.mode & 0o170000 {
            case FileType.directory.rawValue:
                try directory(d, dfd, e, path)
                return
            case FileType.regular.rawValue:
                if !MetaStore.checkAccess(a, R_OK, exporter.cred) { throw Errno.access }
                if let failure = e.failure { throw failure }
                guard try regular(dfd, e) else {
                    // Kept as it was: the other names of the file are linked to it.
                    if a.nlink > 1 { exporter.wroteFirstName(a.ino, d.path, e.name) }
                    return
                }
                exporter.counters.update { $0.files += 1; $0.bytes += a.size }
            case FileType.symlink.rawValue:
                guard let target = e.symlinkTarget else { throw Errno.io }
                guard try create(dfd, e.name, { () throws(Errno) in try Host.symlink(target, dfd, e.name) }) else { return }
                if root { try Host.chown(dfd, e.name, a.uid, a.gid) }
                try Host.setTimes(dfd, e.name, atime: a.atime, mtime: a.mtime)
                exporter.counters.update { $0.symlinks += 1 }
            default:
                let type = a.mode & 0o170000
                let device = type == FileType.charDevice.rawValue || type == FileType.blockDevice.rawValue
                if device && !root {
                    exporter.report("\(display(path)): a device, left out (only root exports devices)", skipped: true)
                    return
                }
                guard try create(dfd, e.name, { () throws(Errno) in
                    try Host.mknod(dfd, e.name, mode_t(a.mode), device ? a.rdev : 0)
                }) else { return }
                if root { try Host.chown(dfd, e.name, a.uid, a.gid) }
                try Host.setTimes(dfd, e.name, atime: a.atime, mtime: a.mtime)
                exporter.counters.update { $0.specials += 1 }
            }
            if a.nlink > 1 { exporter.wroteFirstName(a.ino, d.path, e.name) }
        } catch {
            exporter.report("cannot export \(display(join(d.source, e.name))) to \(display(path)): \(DataErrors.last?.message ?? "\(error)")")
        }
    }

    /// Make a name with `make`; when it exists: kept (false), or with --force replaced when
    /// it is not a directory.
    private func create(_ dfd: Int32, _ name: [UInt8], _ make: () throws(Errno) -> Void) throws(Errno) -> Bool {
        do throws(Errno) {
            try make()
            return true
        } catch where error == .exists {
            guard try ExportWalker.makeRoom(dfd, name, force: exporter.options.force) else {
                exporter.counters.update { $0.existed += 1 }
                return false
            }
            try make()
            exporter.counters.update { $0.replaced += 1 }
            return true
        }
    }

    /// An existing name is in the way: false to keep it; with `force`, a non-directory is
    /// removed (true).
    static func makeRoom(_ dfd: Int32, _ name: [UInt8], force: Bool) throws(Errno) -> Bool {
        if !force { return false }
        let st = try Host.lstat(dfd, name)
        if st.st_mode & S_IFMT == S_IFDIR { throw Errno.isDirectory }
        try Host.unlink(dfd, name)
        return true
    }

    private func directory(_ d: ExportDirectory, _ dfd: Int32, _ e: ExportedEntry, _ path: [UInt8]) throws(Errno) {
        let a = e.attr
        let source = join(d.source, e.name)
        do throws(Errno) {
            try Host.mkdir(dfd, e.name, 0o700)
        } catch where error == .exists {
            // Merged into, as it is.
            guard try Host.lstat(dfd, e.name).st_mode & S_IFMT == S_IFDIR else { throw Errno.notDirectory }
            exporter.queue.push(.page(ExportDirectory(ino: a.ino, source: source, path: path), after: 0))
            return
        }
        if exporter.cred.uid == 0 { try Host.chown(dfd, e.name, a.uid, a.gid) }
        if !e.xattrs.isEmpty {
            let fd = try Host.openat(dfd, e.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            defer { Glibc.close(fd) }
            for x in e.xattrs { try Host.setXattr(fd, x.name, x.value) }
        }
        exporter.counters.update { $0.directories += 1 }
        exporter.noteMade(path, a)
        exporter.queue.push(.page(ExportDirectory(ino: a.ino, source: source, path: path), after: 0))
    }

    /// The block of a small file whose content is one block in a pack.
    static func packedBlock(_ e: ExportedEntry) -> BlockRef? {
        guard e.inline == nil, e.blocks.count == 1, let b = e.blocks.first, b.isPacked, b.index == 0,
              UInt64(b.rawLength) == e.attr.size else { return nil }
        return b
    }

    /// A regular file: created, its content written (holes stay holes), then owner, mode,
    /// attributes and times. False when it existed and was kept.
    private func regular(_ dfd: Int32, _ e: ExportedEntry) throws(Errno) -> Bool {
        let a = e.attr
        DataErrors.last = nil
        var fd: Int32 = -1
        guard try create(dfd, e.name, { () throws(Errno) in
            fd = try Host.openat(dfd, e.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        }) else { return false }
        defer { Glibc.close(fd) }
        let store = exporter.store
        if let inline = e.inline {
            try Sys.pwriteAll(fd, inline, 0)
        } else if let b = ExportWalker.packedBlock(e) {
            try Sys.pwriteAll(fd, try exporter.packs.read(b, whole: packsShared[b.objectID, default: 0] >= 2), 0)
        } else if a.size > 0 {
            try fetchFile(blocks: e.blocks, size: Int64(a.size), blockSize: exporter.meta.format.blockSize, store: store, into: fd)
        }
        if exporter.cred.uid == 0 { _ = try sysCall { fchown(fd, a.uid, a.gid) } }
        _ = try sysCall { fchmod(fd, mode_t(a.mode & 0o7777)) }
        for x in e.xattrs { try Host.setXattr(fd, x.name, x.value) }
        try Host.setTimes(fd, atime: a.atime, mtime: a.mtime)
        return true
    }
}
