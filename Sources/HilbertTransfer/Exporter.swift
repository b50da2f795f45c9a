import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

public struct ExportOptions: Sendable {
    /// Replace existing host files (never directories) instead of keeping them.
    public var force = false
    /// Threads writing the host tree.
    public var threads = 2
    /// Entries read from the metadata at a time.
    public var pageEntries = 1000
    public init() {}
}

/// A directory of the volume and the host directory it goes into.
final class ExportDirectory: @unchecked Sendable {
    let ino: Ino
    /// The volume path as the user named it (messages).
    let source: [UInt8]
    /// The host directory.
    let path: [UInt8]
    init(ino: Ino, source: [UInt8], path: [UInt8]) { self.ino = ino; self.source = source; self.path = path }
}

enum ExportJob {
    /// A page of a directory's entries, after `cookie`.
    case page(ExportDirectory, after: UInt64)
    /// SRC itself when it is not a directory, as `name` in host directory `dir`.
    case single(ExportDirectory, ExportedEntry)
}

/// `hilbert export SRC DEST`: copies a tree of a volume out to a host directory in parallel,
/// with the fidelity of `hilbert import` (modes, owners when root, times, symlinks, hard
/// links, `user.` attributes, FIFOs and sockets; devices when root). Files are read as last
/// committed (a writer's uncommitted bytes are its node's). Threads take pages of directory
/// listings (each page read in one metadata transaction with its entries' content rows), so
/// one big directory is written by all of them; small files in packs are read through the
/// process's pack cache (a pack is fetched whole once its files are read one after the
/// other). Directories get their mode and times after their content, hard links are made
/// at the end.
public final class Exporter: Transfer, @unchecked Sendable {
    let meta: MetaStore
    let store: ObjectStore
    let options: ExportOptions
    let cred: Credentials
    public var onMessage: (String) -> Void = { _ in }
    /// Asked before each job: true stops the export as `interrupt` does.
    public var stopRequested: () -> Bool = { false }

    let queue = JobQueue<ExportJob>()
    let packs: PackReader
    let counters = TransferCounters()
    private let state = Lock()
    /// Files with several names: where the first name was written (nil: it failed).
    private var firstNames: [Ino: (dir: [UInt8], name: [UInt8])?] = [:]
    private var deferred: [(dir: ExportDirectory, entry: ExportedEntry)] = []
    /// Directories made by the export: their mode and times, set at the end.
    private var made: [(path: [UInt8], attr: Attr)] = []
    private var interrupted = false
    private var failure: String?

    public init(meta: MetaStore, store: ObjectStore, options: ExportOptions = ExportOptions(),
                cred: Credentials = .effective()) {
        self.meta = meta
        self.store = store
        self.options = options
        self.cred = cred
        packs = PackReader(store: store)
    }

    public var progress: TransferReport { counters.snapshot }

    public func interrupt() {
        state.withLock { interrupted = true }
        queue.stop()
    }

    /// Export `source` (a path of the volume, `sourcePath` as the user named it) to the host
    /// path `destination`: a directory's content goes into the directory `destination`
    /// (created when missing, merged into when it exists); anything else becomes the file
    /// `destination`.
    public func run(source: [UInt8], sourcePath: String, destination: String,
                    tickSeconds: Double = 0.5, tick: () -> Void = {}) throws(HilbertError) -> TransferReport {
        let found: Resolution
        do {
            found = try meta.resolve(from: rootIno, path: source, followLast: true, cred: cred, mountPrefix: [])
        } catch {
            throw HilbertError(error, "export: \(sourcePath): \(explain(error, meta))")
        }
        guard case .found(let parent, _, let a) = found else {
            throw HilbertError(.noEntry, "export: \(sourcePath): no such file or directory in the volume")
        }
        // Exact modes: nothing of the process's umask.
        let oldMask = umask(0)
        defer { umask(oldMask) }
        let dest = Array(destination.utf8)
        if a.isDirectory {
            try startDirectory(a, sourcePath, dest)
        } else {
            var e: ExportedEntry
            do throws(Errno) {
                e = try singleEntry(a)
            } catch {
                throw HilbertError(error, "export: \(sourcePath): \(explain(error, meta))")
            }
            e.name = basename(dest)
            queue.push(.single(ExportDirectory(ino: parent, source: Array(sourcePath.utf8), path: dirname(dest)), e))
        }
        let done = Monitor()
        var running = max(1, options.threads)
        let walkers = WorkerThreads.start(running) { _ in
            ExportWalker(self).work()
            done.lock(); running -= 1; done.broadcast(); done.unlock()
        }
        if walkers.count == 0 { fatalError("export: cannot start threads") }
        waitTicking(done, until: { running == 0 }, seconds: tickSeconds, tick: tick)
        walkers.join()
        linkDeferredNames()
        setDirectoryAttributes()
        var report = counters.snapshot
        report.walkDone = true
        report.stopped = state.withLock { interrupted || failure != nil }
        if let failure = state.withLock({ failure }) {
            throw HilbertError(.io, "export: \(failure)")
        }
        return report
    }

    /// SRC when it is not a directory, with its content and attributes.
    private func singleEntry(_ a: Attr) throws(Errno) -> ExportedEntry {
        var e = ExportedEntry(name: [], attr: a, cookie: 0)
        if a.isRegular {
            let layout = try meta.dataLayout(a.ino)
            e.attr = layout.attr
            e.inline = layout.inline
            e.blocks = layout.blocks
        } else if a.isSymlink {
            e.symlinkTarget = try meta.readlink(a.ino)
        }
        if a.isRegular || a.isDirectory {
            for n in try meta.listxattr(a.ino) {
                e.xattrs.append(ImportXattr(name: n, value: try meta.getxattr(a.ino, name: n, cred: cred)))
            }
        }
        return e
    }

    private func startDirectory(_ a: Attr, _ sourcePath: String, _ dest: [UInt8]) throws(HilbertError) {
        let existing = try? Sys.stat(display(dest))
        if let st = existing {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw HilbertError(.notDirectory, "export: \(display(dest)) exists and is not a directory")
            }
        } else {
            do throws(Errno) {
                let parent = try Host.openDirectory(dirname(dest), followLast: true)
                defer { Glibc.close(parent) }
                try Host.mkdir(parent, basename(dest), 0o700)
                if cred.uid == 0 { try Host.chown(parent, basename(dest), a.uid, a.gid) }
                let xattrs = try meta.listxattr(a.ino)
                if !xattrs.isEmpty {
                    let fd = try Host.openat(parent, basename(dest), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                    defer { Glibc.close(fd) }
                    for n in xattrs { try Host.setXattr(fd, n, try meta.getxattr(a.ino, name: n, cred: cred)) }
                }
            } catch {
                throw HilbertError(error, "export: cannot create \(display(dest)): \(error)")
            }
            counters.update { $0.directories += 1 }
            noteMade(dest, a)
        }
        queue.push(.page(ExportDirectory(ino: a.ino, source: Array(sourcePath.utf8), path: dest), after: 0))
    }

    // MARK: shared state of the walkers

    /// The first of a file's names to be met is written; the others are linked to it at the
    /// end. True for the first.
    func claimFirstName(_ ino: Ino) -> Bool {
        state.withLock {
            if firstNames[ino] != nil { return false }
            firstNames[ino] = .some(nil)
            return true
        }
    }

    func wroteFirstName(_ ino: Ino, _ dir: [UInt8], _ name: [UInt8]) { state.withLock { firstNames[ino] = .some((dir, name)) } }

    func deferLink(_ dir: ExportDirectory, _ e: ExportedEntry) { state.withLock { deferred.append((dir, e)) } }

    func noteMade(_ path: [UInt8], _ a: Attr) { state.withLock { made.append((path, a)) } }

    func fail(_ why: String) {
        state.withLock { if failure == nil { failure = why } }
        queue.stop()
    }

    func report(_ what: String, skipped: Bool = false) {
        counters.update { if skipped { $0.skipped += 1 } else { $0.errors += 1 } }
        onMessage("export: " + what)
    }

    // MARK: the end

    private func linkDeferredNames() {
        for (dir, e) in state.withLock({ deferred }) {
            let target = join(dir.path, e.name)
            guard let first = state.withLock({ firstNames[e.attr.ino] }), let (fromDir, fromName) = first else {
                report("\(display(target)): not linked, its other name was not exported")
                continue
            }
            do throws(Errno) {
                let from = try Host.openDirectory(fromDir, followLast: true)
                defer { Glibc.close(from) }
                let to = try Host.openDirectory(dir.path, followLast: true)
                defer { Glibc.close(to) }
                do throws(Errno) {
                    try Host.link(from, fromName, to, e.name)
                } catch where error == .exists {
                    guard try ExportWalker.makeRoom(to, e.name, force: options.force) else {
                        counters.update { $0.existed += 1 }
                        continue
                    }
                    try Host.link(from, fromName, to, e.name)
                    counters.update { $0.replaced += 1 }
                }
                counters.update { $0.hardLinks += 1 }
            } catch {
                report("cannot link \(display(target)): \(error)")
            }
        }
    }

    /// The directories the export made get their mode and times, deepest first (a parent's
    /// mode might not let its children be reached).
    private func setDirectoryAttributes() {
        let dirs = state.withLock { made }.sorted { $0.path.count > $1.path.count }
        for (path, a) in dirs {
            do throws(Errno) {
                let fd = try Host.openDirectory(path, followLast: true)
                defer { Glibc.close(fd) }
                _ = try sysCall { fchmod(fd, mode_t(a.mode & 0o7777)) }
                try Host.setTimes(fd, atime: a.atime, mtime: a.mtime)
            } catch {
                report("cannot set the mode and times of \(display(path)): \(error)")
            }
        }
    }
}
