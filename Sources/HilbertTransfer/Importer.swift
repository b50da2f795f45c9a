import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData
import HilbertCore

/// `hilbert import SRC DEST`: copies a host tree into a volume in parallel, writing the
/// content of small files straight into pack objects and big files as blocks, and the
/// metadata in large transactions, with modes, owners (when root), times, symlinks, hard
/// links and `user.` attributes.
///
/// The pipeline: `threads` walkers (ImportWalker) read the source — a directory's names,
/// then chunks of them in parallel: lstat, the content of small files encoded into the
/// walker's pack, big files stored as blocks right away — and hand full batches to the
/// store stage, which stores each pack (registered as an upload, so gc leaves it alone) and
/// makes it durable; the writer commits each batch in one metadata transaction
/// (`MetaStore.importEntries`). A subdirectory is created by the writer before any walker
/// reads it, so every batch's directories exist. Killed at any point, the volume holds
/// every file of the committed batches whole, and no other; `hilbert gc` deletes the
/// objects of batches that were stored and never committed. Names with a second link
/// are linked at the end, and directories that had to be made owner-writable get their mode.
public final class Importer: Transfer, @unchecked Sendable {
    let meta: MetaStore
    let store: ObjectStore
    let options: ImportOptions
    let cred: Credentials
    let codec: BlockCompression
    let maxPacked: Int
    /// The largest pack it stores: `packBytes`, at most `PackBuilder.maxBytes`.
    let packLimit: Int
    let owner: String
    /// One line per failed or left-out entry (stderr).
    public var onMessage: (String) -> Void = { _ in }
    /// Asked before each job: true stops the import as `interrupt` does (a signal's flag).
    public var stopRequested: () -> Bool = { false }

    let queue = JobQueue<ImportJob>()
    let storeStage = Channel<ImportBatch>(capacity: 2)
    let inbox = WriterInbox()
    let counters = TransferCounters()
    private let state = Lock()
    private var links: [HostKey: Ino?] = [:]
    private var deferred: [DeferredLink] = []
    private var finalModes: [(ino: Ino, mode: UInt32, path: [UInt8])] = []
    private var failure: String?
    private var interrupted = false
    private var walkersLeft = 0
    /// Object ids for packs, registered as uploads ahead: the writer tops them up after its
    /// commits (where it holds the metadata anyway), so that storing a pack seldom waits for
    /// a commit to end.
    private var packIDs: [UInt64] = []
    private let finished = Monitor()
    private var pipelineDone = false

    public init(meta: MetaStore, store: ObjectStore, options: ImportOptions = ImportOptions(),
                cred: Credentials = .effective()) {
        self.meta = meta
        self.store = store
        self.options = options
        self.cred = cred
        codec = meta.format.compression == "zstd" ? .zstd : .none
        packLimit = min(options.packBytes, PackBuilder.maxBytes)
        maxPacked = max(0, min(options.maxPackedFileBytes, meta.format.blockSize, packLimit - PackBuilder.magic.count - BlockCodec.headerSize))
        owner = StagingOwner.current(cacheRoot: "(hilbert import)").record
    }

    /// What is done so far (for a progress line; any thread).
    public var progress: TransferReport { counters.snapshot }

    /// Stop reading the source; what was read is still committed (SIGINT).
    public func interrupt() {
        state.withLock { interrupted = true }
        queue.stop()
    }

    /// Import `source` (a host path) as `destination` of the volume (`destinationPath`, as the
    /// user named it, for messages): a directory's content goes into the directory
    /// `destination` (created when missing, merged into when it exists); anything else
    /// becomes the entry `destination`. `tick` is called about every `tickSeconds` while it runs.
    public func run(source: String, destination: [UInt8], destinationPath: String,
                    tickSeconds: Double = 0.5, tick: () -> Void = {}) throws(HilbertError) -> TransferReport {
        let src = Array(source.utf8)
        let st: stat
        do throws(Errno) { st = try Sys.stat(source) } catch {
            throw HilbertError(error, "import: \(source): \(error)")
        }
        let dest: Resolution
        do {
            dest = try meta.resolve(from: rootIno, path: destination, followLast: true, cred: cred, mountPrefix: [])
        } catch {
            throw HilbertError(error, "import: \(destinationPath): \(explain(error, meta))")
        }
        try start(src, st, dest, destinationPath)
        meta.bulkImport(true)
        defer { meta.bulkImport(false) }
        let n = max(1, options.threads)
        walkersLeft = n
        // Each stage closes the next one's input when it ends: the last walker the store
        // stage's, the store stage the writer's.
        let walkers = WorkerThreads.start(n) { _ in
            ImportWalker(self).work()
            if self.state.withLock({ () -> Bool in self.walkersLeft -= 1; return self.walkersLeft == 0 }) { self.storeStage.close() }
        }
        let storing = WorkerThreads.start(1) { _ in self.storePacks(); self.inbox.close() }
        let writing = WorkerThreads.start(1) { _ in
            self.commitBatches()
            self.finished.lock(); self.pipelineDone = true; self.finished.broadcast(); self.finished.unlock()
        }
        if walkers.count < n || storing.count == 0 || writing.count == 0 {
            // Without all of its threads the pipeline cannot end: nothing was started but threads.
            fatalError("import: cannot start threads")
        }
        waitTicking(finished, until: { pipelineDone }, seconds: tickSeconds, tick: tick)
        walkers.join()
        storing.join()
        writing.join()
        linkDeferredNames()
        setFinalModes()
        for id in state.withLock({ packIDs }) { try? meta.finishUpload(commit: id) }
        var report = counters.snapshot
        report.stopped = state.withLock { interrupted || failure != nil }
        report.walkDone = true
        if let failure = state.withLock({ failure }) {
            throw HilbertError(.io, "import: \(failure); the \(report.files + report.directories + report.symlinks + report.specials + report.hardLinks) entries committed before are complete, the rest absent: run the same import again to finish it (existing files are kept)")
        }
        return report
    }

    // MARK: the start: DEST

    private func start(_ src: [UInt8], _ st: stat, _ dest: Resolution, _ destPath: String) throws(HilbertError) {
        let isDir = st.st_mode & S_IFMT == S_IFDIR
        switch dest {
        case .redirect:
            throw HilbertError(.crossDevice, "import: \(destPath) leads out of the volume (a symlink): name a path inside it")
        case .found(_, _, let a) where isDir:
            guard a.isDirectory else { throw HilbertError(.notDirectory, "import: \(destPath) exists and is not a directory") }
            queue.push(.list(ImportDirectory(path: src, ino: a.ino, destination: Array(destPath.utf8), existed: true, isRoot: true)))
        case .missing(let parent, let name, _) where isDir:
            var e = ImportEntry(parent: parent, name: name, mode: UInt32(st.st_mode), uid: st.st_uid, gid: st.st_gid,
                                atime: Timespec(st.st_atim), mtime: Timespec(st.st_mtim))
            e.parentExisted = true
            if let fd = try? Host.openDirectory(src, followLast: true) {
                e.xattrs = ((try? Host.userXattrs(fd)) ?? []).map { ImportXattr(name: $0.name, value: $0.value) }
                Glibc.close(fd)
            }
            let finalMode = ownerWritable(&e)
            let outcome: ImportOutcome
            do {
                outcome = try meta.importEntries([e], pack: nil, uploads: [], cred: cred).outcomes[0]
            } catch {
                throw HilbertError(error, "import: cannot create \(destPath): \(explain(error, meta))")
            }
            switch outcome {
            case .created(let ino):
                counters.update { $0.directories += 1 }
                if let finalMode { finalModes.append((ino, finalMode, Array(destPath.utf8))) }
                queue.push(.list(ImportDirectory(path: src, ino: ino, destination: Array(destPath.utf8), existed: false, isRoot: true)))
            case .exists(let ino, true):
                queue.push(.list(ImportDirectory(path: src, ino: ino, destination: Array(destPath.utf8), existed: true, isRoot: true)))
            case .exists:
                throw HilbertError(.notDirectory, "import: \(destPath) exists and is not a directory")
            case .failed(let e):
                throw HilbertError(e, "import: cannot create \(destPath): \(e)")
            case .replaced:
                break
            }
        case .found(let parentIno, let name, let a):
            // SRC is not a directory: DEST names the new entry.
            if a.isDirectory {
                throw HilbertError(.isDirectory, "import: \(destPath) is a directory; name the file to create (e.g. \(destPath)/\(display(basename(src))))")
            }
            let dir = ImportDirectory(path: dirname(src), ino: parentIno, destination: Array(destPath.utf8), existed: true)
            dir.existing[name] = (a.ino, false)
            queue.push(.single(dir, name: basename(src), as: name))
        case .missing(let parent, let name, _):
            let dir = ImportDirectory(path: dirname(src), ino: parent, destination: Array(destPath.utf8), existed: true)
            queue.push(.single(dir, name: basename(src), as: name))
        }
    }

    /// A directory is created owner-writable and searchable (as `cp -a` makes it) when its
    /// mode is not, so that its entries can be made; it gets its mode at the end. Root needs
    /// no such detour. Returns the mode to set then.
    func ownerWritable(_ e: inout ImportEntry) -> UInt32? {
        if cred.uid == 0 || e.mode & 0o300 == 0o300 { return nil }
        let final = e.mode & 0o7777
        e.mode |= 0o700
        return final
    }

    // MARK: shared state of the walkers

    /// The first of a file's names to be met carries its content; the others are linked to it
    /// at the end. True for the first.
    func claimFirstName(_ key: HostKey) -> Bool {
        state.withLock {
            if links[key] != nil { return false }
            links[key] = .some(nil)
            return true
        }
    }

    func deferLink(_ link: DeferredLink) { state.withLock { deferred.append(link) } }

    func noteFinalMode(_ ino: Ino, _ mode: UInt32, _ path: [UInt8]) { state.withLock { finalModes.append((ino, mode, path)) } }

    /// Stop everything: the metadata or the store failed (the pipeline discards what is in
    /// flight; what was committed stays).
    func fail(_ why: String) {
        state.withLock { if failure == nil { failure = why } }
        queue.stop()
    }

    var failed: Bool { state.withLock { failure != nil } }

    /// One entry failed or was left out: a line on stderr, counted.
    func report(_ what: String, skipped: Bool = false) {
        counters.update { if skipped { $0.skipped += 1 } else { $0.errors += 1 } }
        onMessage("import: " + what)
    }

    // MARK: the store stage

    /// Store each batch's pack (an upload until its commit) and make it durable with the big
    /// files' blocks, a few batches per flush; then hand them to the writer.
    private func storePacks() {
        var times = StepTimes()
        defer { counters.spend(times) }
        while true {
            let batches = storeStage.takeAll(max: 4)
            times.mark(.waitForBatches)
            if batches.isEmpty { break }
            var flush = false
            for b in batches where !b.failed && !failed {
                if let pack = b.pack, pack.pieces > 0 {
                    do throws(Errno) {
                        try storePack(b, pack)
                    } catch {
                        b.failed = true
                        fail("storing a pack of \(pack.pieces) files: \(DataErrors.last?.message ?? explain(error, meta))")
                    }
                    flush = true
                }
                b.pack = nil
                if !b.ownObjects.isEmpty { flush = true }
            }
            times.mark(.storePack)
            if flush && !failed {
                do throws(Errno) { try store.flush() } catch {
                    fail("storing objects: \(DataErrors.last?.message ?? "\(error)")")
                }
            }
            times.mark(.flushStore)
            for b in batches { inbox.put(b) }
            times.mark(.waitForWriter)
        }
    }

    private func nextPackID() throws(Errno) -> UInt64 {
        if let id = state.withLock({ packIDs.popLast() }) { return id }
        var ids = try meta.allocateUploadIDsEach(count: 8, owner: owner)
        let id = ids.removeFirst()
        state.withLock { packIDs += ids }
        return id
    }

    /// After a commit: ids for the packs to come.
    private func topUpPackIDs() {
        if state.withLock({ packIDs.count }) >= 4 { return }
        if let ids = try? meta.allocateUploadIDsEach(count: 8, owner: owner) { state.withLock { packIDs += ids } }
    }

    private func storePack(_ b: ImportBatch, _ pack: PackBuilder) throws(Errno) {
        let id = try nextPackID()
        b.uploads.append(id)
        for k in b.packed { b.entries[k].blocks[0].objectID = id }
        var failure: Errno?
        pack.bytes.withUnsafeBytes { bytes in
            do throws(Errno) { try store.put(objectKey(id: id), bytes) } catch { failure = error }
        }
        if let failure { throw failure }
        b.packRow = PackRow(objectID: id, size: UInt64(pack.bytes.count), pieces: UInt64(pack.pieces), created: Timespec.now().sec)
    }

    // MARK: the writer

    private func commitBatches() {
        var times = StepTimes()
        defer { counters.spend(times) }
        while let work = inbox.next() {
            times.mark(.waitForWork)
            switch work {
            case .directories(let dirs): createDirectories(dirs); times.mark(.createDirectories)
            case .batch(let b): commit(b); topUpPackIDs(); times.mark(.commitBatch)
            }
        }
    }

    /// Create the directories walkers found, then hand them out to be read.
    private func createDirectories(_ dirs: [DirectoryCreation]) {
        defer { for _ in dirs { queue.release() } }
        if failed || state.withLock({ interrupted }) { return }
        let commit: ImportCommit
        do throws(Errno) {
            commit = try meta.importEntries(dirs.map { $0.entry }, pack: nil, uploads: [], cred: cred)
        } catch {
            fail("creating \(dirs.count) directories: \(explain(error, meta))")
            return
        }
        var created = 0
        for (d, outcome) in zip(dirs, commit.outcomes) {
            let path = join(d.source.path, d.name)
            let dest = join(d.source.destination, d.name)
            switch outcome {
            case .created(let ino), .replaced(let ino):
                created += 1
                if let mode = d.finalMode { noteFinalMode(ino, mode, dest) }
                queue.push(.list(ImportDirectory(path: path, ino: ino, destination: dest, existed: false)))
            case .exists(let ino, true):
                queue.push(.list(ImportDirectory(path: path, ino: ino, destination: dest, existed: true)))
            case .exists:
                report("\(display(dest)) exists and is not a directory: \(display(path)) left out")
            case .failed(let e):
                report("cannot create \(display(dest)): \(e)")
            }
        }
        counters.update { $0.directories += created }
    }

    /// Commit a batch of entries; what it did goes into the counters.
    private func commit(_ b: ImportBatch) {
        if b.failed || failed {
            discard(b)
            return
        }
        let commit: ImportCommit
        do throws(Errno) {
            commit = try meta.importEntries(b.entries, pack: b.packRow, uploads: b.uploads, cred: cred)
        } catch {
            fail("committing \(b.count) entries: \(explain(error, meta))")
            discard(b)
            return
        }
        if let row = b.packRow, !commit.packUsed { try? store.delete(objectKey(id: row.objectID)) }
        deleteReleased(commit.released, meta: meta, store: store)
        var r = TransferReport()
        var firstNames: [(HostKey, Ino?)] = []
        for (k, outcome) in commit.outcomes.enumerated() {
            let e = b.entries[k]
            switch outcome {
            case .created(let ino), .replaced(let ino):
                if case .replaced = outcome { r.replaced += 1 }
                if e.linkTarget != nil { r.hardLinks += 1 } else { count(e, &r) }
                if let key = b.linkKeys[k] { firstNames.append((key, ino)) }
            case .exists(_, let isDirectory):
                dropOwnObjects(b, k)
                if let key = b.linkKeys[k] { firstNames.append((key, nil)) }
                if isDirectory {
                    r.errors += 1
                    onMessage("import: \(display(join(b.sources[k].dir.destination, e.name))) is a directory: \(display(join(b.sources[k].dir.path, b.sources[k].name))) left out")
                } else {
                    r.existed += 1
                }
            case .failed(let error):
                dropOwnObjects(b, k)
                if let key = b.linkKeys[k] { firstNames.append((key, nil)) }
                r.errors += 1
                onMessage("import: cannot create \(display(join(b.sources[k].dir.destination, e.name))): \(error)")
            }
        }
        if !firstNames.isEmpty { state.withLock { for (key, ino) in firstNames { links[key] = .some(ino) } } }
        counters.update {
            $0.files += r.files; $0.symlinks += r.symlinks; $0.specials += r.specials; $0.hardLinks += r.hardLinks
            $0.bytes += r.bytes; $0.existed += r.existed; $0.replaced += r.replaced; $0.errors += r.errors
        }
    }

    private func count(_ e: ImportEntry, _ r: inout TransferReport) {
        switch e.mode & 0o170000 {
        case FileType.regular.rawValue: r.files += 1; r.bytes += e.size
        case FileType.symlink.rawValue: r.symlinks += 1
        case FileType.directory.rawValue: r.directories += 1
        default: r.specials += 1
        }
    }

    /// An entry not taken: its objects of its own go (its bytes in the pack stay dead).
    private func dropOwnObjects(_ b: ImportBatch, _ k: Int) {
        for id in b.ownObjects[k] ?? [] { try? store.delete(objectKey(id: id)) }
    }

    /// A batch that will not be committed: its objects go, its uploads are finished.
    private func discard(_ b: ImportBatch) {
        if let row = b.packRow { try? store.delete(objectKey(id: row.objectID)) }
        for ids in b.ownObjects.values { for id in ids { try? store.delete(objectKey(id: id)) } }
        for u in b.uploads { try? meta.finishUpload(commit: u) }
    }

    // MARK: the end

    /// The other names of files with several, linked to the first one now that it is in.
    private func linkDeferredNames() {
        let all = state.withLock { deferred }
        var start = 0
        while start < all.count {
            let chunk = Array(all[start..<min(all.count, start + options.batchEntries)])
            start += chunk.count
            var entries: [ImportEntry] = []
            var named: [DeferredLink] = []
            for l in chunk {
                guard let first = state.withLock({ links[l.key] }), let ino = first else {
                    report("\(display(join(l.dir.path, l.name))): not linked, its other name was not imported")
                    continue
                }
                var e = l.entry
                e.linkTarget = ino
                entries.append(e)
                named.append(l)
            }
            if entries.isEmpty { continue }
            let commit: ImportCommit
            do throws(Errno) {
                commit = try meta.importEntries(entries, pack: nil, uploads: [], cred: cred)
            } catch {
                fail("linking \(entries.count) names: \(explain(error, meta))")
                return
            }
            deleteReleased(commit.released, meta: meta, store: store)
            for (l, outcome) in zip(named, commit.outcomes) {
                switch outcome {
                case .created: counters.update { $0.hardLinks += 1 }
                case .replaced: counters.update { $0.hardLinks += 1; $0.replaced += 1 }
                case .exists(_, let isDir):
                    if isDir { report("\(display(join(l.dir.destination, l.name))) is a directory: \(display(join(l.dir.path, l.name))) left out") } else {
                        counters.update { $0.existed += 1 }
                    }
                case .failed(let e): report("cannot link \(display(join(l.dir.destination, l.name))): \(e)")
                }
            }
        }
    }

    /// Directories created owner-writable get their own mode.
    private func setFinalModes() {
        for m in state.withLock({ finalModes }) {
            do throws(Errno) { _ = try meta.setattr(ino: m.ino, mode: m.mode, cred: cred) } catch {
                report("cannot set the mode of \(display(m.path)): \(error)")
            }
        }
    }
}

/// What the writer is given: directories to create (first: walkers wait for them), and
/// batches to commit (at most two waiting: the store stage waits meanwhile).
final class WriterInbox: @unchecked Sendable {
    enum Work {
        case directories([DirectoryCreation])
        case batch(ImportBatch)
    }

    private let monitor = Monitor()
    private var directories: [DirectoryCreation] = []
    private var batches: [ImportBatch] = []
    private var closed = false

    func put(_ dirs: [DirectoryCreation]) {
        monitor.lock(); directories += dirs; monitor.broadcast(); monitor.unlock()
    }

    func put(_ batch: ImportBatch) {
        monitor.lock()
        while batches.count >= 2 { monitor.wait() }
        batches.append(batch)
        monitor.broadcast()
        monitor.unlock()
    }

    func close() {
        monitor.lock(); closed = true; monitor.broadcast(); monitor.unlock()
    }

    /// The next work; nil once closed and empty.
    func next() -> Work? {
        monitor.lock()
        defer { monitor.unlock() }
        while directories.isEmpty && batches.isEmpty && !closed { monitor.wait() }
        if !directories.isEmpty {
            let n = min(directories.count, 4096)
            let out = Array(directories[0..<n])
            directories.removeFirst(n)
            return .directories(out)
        }
        if batches.isEmpty { return nil }
        monitor.broadcast()
        return .batch(batches.removeFirst())
    }
}

func basename(_ path: [UInt8]) -> [UInt8] {
    var p = path[...]
    while p.count > 1 && p.last == 0x2F { p = p.dropLast() }
    if let slash = p.lastIndex(of: 0x2F) { return Array(p[(slash + 1)...]) }
    return Array(p)
}

func dirname(_ path: [UInt8]) -> [UInt8] {
    var p = path[...]
    while p.count > 1 && p.last == 0x2F { p = p.dropLast() }
    guard let slash = p.lastIndex(of: 0x2F) else { return Array(".".utf8) }
    return slash == p.startIndex ? [0x2F] : Array(p[..<slash])
}
