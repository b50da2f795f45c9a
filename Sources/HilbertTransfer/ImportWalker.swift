import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData

/// One thread of an import reading the source: jobs from the importer's queue (a directory's
/// names, then chunks of them), entries into its own batch and pack, full batches to the
/// store stage.
final class ImportWalker {
    static let chunkNames = 256

    let importer: Importer
    private var batch = ImportBatch()
    private var times = StepTimes()
    /// The content of one small file, read whole (one more byte tells that it grew).
    private let buffer: UnsafeMutableRawBufferPointer

    init(_ importer: Importer) {
        self.importer = importer
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: importer.maxPacked + 1, alignment: 64)
    }

    deinit { buffer.deallocate() }

    func work() {
        while let job = importer.queue.take() {
            times.mark(.waitForJob)
            if importer.stopRequested() { importer.interrupt() }
            switch job {
            case .list(let d): list(d)
            case .chunk(let d, let names): chunk(d, names, as: nil)
            case .single(let d, let name, let to):
                importer.counters.update { $0.found += 1 }
                chunk(d, [name], as: to)
            }
            importer.queue.finished()
        }
        seal()
        importer.counters.spend(times)
    }

    // MARK: directories

    /// Read the names of a source directory (and, when its destination existed, that one's
    /// entries) and hand them out in chunks.
    private func list(_ d: ImportDirectory) {
        let names: [[UInt8]]
        do throws(Errno) {
            names = try Host.listNames(try Host.openDirectory(d.path, followLast: d.isRoot))
        } catch {
            importer.report("cannot read the directory \(display(d.path)): \(error)")
            return
        }
        if d.existed {
            do throws(Errno) {
                var cookie: UInt64 = 0
                while true {
                    let page = try importer.meta.readdir(d.ino, after: cookie, limit: 1000)
                    guard let last = page.last else { break }
                    for e in page where e.cookie > 2 { d.existing[e.name] = (e.ino, e.type == UInt8(DT_DIR)) }
                    cookie = last.cookie
                }
            } catch {
                importer.report("cannot list \(display(d.destination)): \(error); \(display(d.path)) left out")
                return
            }
        }
        importer.counters.update { $0.found += names.count }
        times.mark(.listDirectory)
        var start = 0
        while start < names.count {
            let end = min(names.count, start + ImportWalker.chunkNames)
            importer.queue.push(.chunk(d, Array(names[start..<end])))
            start = end
        }
    }

    /// Read a chunk of a directory's entries into the batch; its subdirectories go to the
    /// writer to be created (and read once they are).
    private func chunk(_ d: ImportDirectory, _ names: [[UInt8]], as rename: [UInt8]?) {
        let fd: Int32
        do throws(Errno) {
            fd = try Host.openDirectory(d.path, followLast: d.isRoot || rename != nil)
        } catch {
            for name in names { importer.report("cannot read \(display(join(d.path, name))): \(error)") }
            return
        }
        defer { Glibc.close(fd) }
        var dirs: [DirectoryCreation] = []
        for name in names {
            entry(d, fd, name, as: rename ?? name, &dirs)
            if batch.count >= importer.options.batchEntries || batch.packBytes >= importer.packLimit { seal() }
        }
        if !dirs.isEmpty {
            for _ in dirs { importer.queue.hold() }
            importer.inbox.put(dirs)
        }
    }

    /// Hand the batch to the store stage and start another.
    private func seal() {
        if batch.count == 0 { return }
        times.mark(.encode)
        importer.storeStage.put(batch)
        batch = ImportBatch()
        times.mark(.handOver)
    }

    // MARK: one entry

    private func entry(_ d: ImportDirectory, _ dfd: Int32, _ name: [UInt8], as destName: [UInt8], _ dirs: inout [DirectoryCreation]) {
        let path = join(d.path, name)
        let st: stat
        do throws(Errno) { st = try Host.lstat(dfd, name) } catch {
            importer.report("cannot read \(display(path)): \(error)")
            return
        }
        times.mark(.statEntry)
        let type = st.st_mode & S_IFMT
        var replace = false
        if d.existed, let existing = d.existing[destName] {
            let dest = join(d.destination, destName)
            if type == S_IFDIR {
                if existing.isDirectory {
                    importer.queue.push(.list(ImportDirectory(path: path, ino: existing.ino, destination: dest, existed: true)))
                } else {
                    importer.report("\(display(dest)) exists and is not a directory: \(display(path)) left out")
                }
                return
            }
            if existing.isDirectory {
                importer.report("\(display(dest)) is a directory: \(display(path)) left out")
                return
            }
            if !importer.options.force {
                importer.counters.update { $0.existed += 1 }
                return
            }
            replace = true
        }
        // A pack stays within its size (readers keep packs of up to PackBuilder.maxBytes whole).
        if type == S_IFREG, st.st_size <= importer.maxPacked, batch.pack.map({ !$0.fits(rawLength: Int(st.st_size), limit: importer.packLimit) }) ?? false {
            seal()
        }
        var e = ImportEntry(parent: d.ino, name: destName, mode: UInt32(st.st_mode), uid: st.st_uid, gid: st.st_gid,
                            atime: Timespec(st.st_atim), mtime: Timespec(st.st_mtim))
        e.parentExisted = d.existed
        e.replace = replace
        if type != S_IFDIR && st.st_nlink > 1 {
            let key = HostKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if !importer.claimFirstName(key) {
                importer.deferLink(DeferredLink(dir: d, name: destName, key: key, entry: e))
                return
            }
            batch.linkKeys[batch.count] = key
        }
        switch type {
        case S_IFDIR:
            if let sub = try? Host.openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
                e.xattrs = ((try? Host.userXattrs(sub)) ?? []).map { ImportXattr(name: $0.name, value: $0.value) }
                Glibc.close(sub)
            }
            let finalMode = importer.ownerWritable(&e)
            dirs.append(DirectoryCreation(entry: e, source: d, name: name, finalMode: finalMode))
            return
        case S_IFREG:
            do throws(Errno) { try regular(dfd, name, st, &e) } catch {
                batch.linkKeys[batch.count] = nil
                importer.report("cannot read \(display(path)): \(DataErrors.last?.message ?? "\(error)")")
                return
            }
        case S_IFLNK:
            do throws(Errno) { e.symlinkTarget = try Host.readlink(dfd, name) } catch {
                batch.linkKeys[batch.count] = nil
                importer.report("cannot read the symlink \(display(path)): \(error)")
                return
            }
        case S_IFIFO, S_IFSOCK:
            break
        case S_IFCHR, S_IFBLK:
            if importer.cred.uid != 0 {
                batch.linkKeys[batch.count] = nil
                importer.report("\(display(path)): a device, left out (only root imports devices)", skipped: true)
                return
            }
            e.rdev = UInt64(st.st_rdev)
        default:
            batch.linkKeys[batch.count] = nil
            importer.report("\(display(path)): not a file type a volume holds, left out", skipped: true)
            return
        }
        batch.entries.append(e)
        batch.sources.append((d, name))
    }

    /// A regular file: small content read whole into the pack, big content stored as
    /// blocks now (its upload finished by the batch's commit); its `user.` attributes.
    private func regular(_ dfd: Int32, _ name: [UInt8], _ st: stat, _ e: inout ImportEntry) throws(Errno) {
        // The source's access times stay as they were when the caller may ask for that.
        let noAtime = importer.cred.uid == 0 || importer.cred.uid == st.st_uid
        DataErrors.last = nil
        let fd: Int32
        do throws(Errno) {
            fd = try Host.openat(dfd, name, O_RDONLY | O_NOFOLLOW | (noAtime ? Host.noAtime : 0))
        } catch where error == .perm && noAtime {
            fd = try Host.openat(dfd, name, O_RDONLY | O_NOFOLLOW)
        }
        defer { Glibc.close(fd) }
        let want = Int(st.st_size)
        if want <= importer.maxPacked {
            var n = 0
            while n < buffer.count {
                let r = try sysCall { Glibc.read(fd, buffer.baseAddress! + n, buffer.count - n) }
                if r == 0 { break }
                n += r
                if n == want { break }   // what lstat said: done, without one more read for EOF
            }
            // Growing while being read, it may no longer fit in the pack: stored as blocks then.
            if n <= importer.maxPacked, batch.pack?.fits(rawLength: n, limit: importer.packLimit) ?? true {
                e.size = UInt64(n)
                e.xattrs = try xattrs(fd)
                times.mark(.readFile)
                if n > 0 {
                    if batch.pack == nil {
                        batch.pack = PackBuilder(compression: importer.codec, capacity: importer.packLimit + (1 << 20))
                    }
                    e.blocks = [batch.pack!.add(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), objectID: 0)]
                    batch.packed.append(batch.count)
                }
                times.mark(.encode)
                return
            }
            // Too big for a pack (it grew while being read): stored as blocks.
        }
        let size = Int64(try Sys.fstat(fd).st_size)
        e.xattrs = try xattrs(fd)
        var upload: UInt64 = 0
        let meta = importer.meta, owner = importer.owner
        let stored: (blocks: [StoredBlock], newObjects: [UInt64])
        do throws(Errno) {
            stored = try storeFile(fd: fd, size: size, blockSize: meta.format.blockSize, codec: importer.codec, previous: [],
                                   store: importer.store, allocateIDs: { (n: Int) throws(Errno) -> UInt64 in
                                       let first = try meta.allocateUploadIDs(count: n, commit: upload, owner: owner)
                                       if upload == 0 { upload = first }
                                       return first
                                   })
        } catch {
            if upload != 0 { try? meta.finishUpload(commit: upload) }
            throw error
        }
        times.mark(.storeBigFile)
        e.size = UInt64(size)
        e.blocks = stored.blocks
        if upload != 0 { batch.uploads.append(upload) }
        if !stored.newObjects.isEmpty { batch.ownObjects[batch.count] = stored.newObjects }
    }

    private func xattrs(_ fd: Int32) throws(Errno) -> [ImportXattr] {
        let found = try Host.userXattrs(fd)
        if found.isEmpty { return [] }
        return found.map { ImportXattr(name: $0.name, value: $0.value) }
    }
}
