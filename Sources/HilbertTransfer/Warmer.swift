import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

public enum WarmupMode: Sendable, Equatable {
    /// Fetch what is not in the node's cache.
    case fill
    /// Only say how much is there.
    case check
    /// Drop it from the node's cache.
    case evict
    /// Only measure where the data is (`hilbert du`): node cache, site tier, storage classes.
    case survey
    /// Move the files' objects to this storage class (`hilbert tier`).
    case tier(String)
}

public struct WarmupOptions: Sendable {
    public var mode = WarmupMode.fill
    /// Threads fetching (each fetch of a big file also fetches its blocks in parallel).
    public var threads = 8
    /// Entries read from the metadata at a time.
    public var pageEntries = 1000
    /// Copies filled or found are kept until this time (seconds since the epoch) before any
    /// other read copy is evicted (CacheDirectory.keep); nil: plain least-recently-used.
    public var keepUntil: Int?
    /// Fill (check, evict) the site tier's copies of the files' objects instead of the node's
    /// read copies (the store must read through a site tier: SiteTierStore).
    public var site = false
    public init() {}
}

/// What a warm-up found and did, per kind of file.
public struct WarmupTally: Sendable {
    public var fetched = (files: 0, bytes: UInt64(0))
    /// Already in the cache (fill, check).
    public var cached = (files: 0, bytes: UInt64(0))
    /// Not in the cache (check).
    public var absent = (files: 0, bytes: UInt64(0))
    public var evicted = (files: 0, bytes: UInt64(0))
    /// Empty files and files whose bytes are in the metadata: nothing to fetch.
    public var inMetadata = 0
    /// Larger than the cache may hold: left out.
    public var tooLarge = (files: 0, bytes: UInt64(0))
    public var errors = 0
    public var directories = 0
    /// survey: every regular file, and how much of it is where; per storage class the distinct
    /// objects and their stored bytes (a pack counted once, with all its bytes).
    public var files = (files: 0, bytes: UInt64(0))
    public var inNodeCache = (files: 0, bytes: UInt64(0))
    public var inSiteTier = (files: 0, bytes: UInt64(0))
    public var classes: [String: (objects: Int, bytes: UInt64)] = [:]
    /// tier: objects moved to the class, and objects that were in it already.
    public var moved = (objects: 0, bytes: UInt64(0))
    public var alreadyThere = (objects: 0, bytes: UInt64(0))
    public var seconds = 0.0
    public var stopped = false
}

enum WarmJob {
    case page(dir: Ino, shown: [UInt8], after: UInt64)
    case file(ExportedEntry, shown: [UInt8])
}

/// `hilbert warmup PATH…`: puts the committed content of every regular file under the paths
/// into this node's cache directory as read copies (CacheDirectory), in parallel, so that a job
/// that reads them afterwards talks to the object store for none of them (it reads the copies
/// even when the store cannot be reached). Directory listings are taken a page at a time by a
/// pool of threads, as `hilbert export` does; small files in a pack that two or more files of a
/// page share are cut out of one GET of the whole pack (PackReader). A file already cached is
/// marked as recently used (warmed data is the last to be evicted) and not fetched again.
///
/// Warmers that run at once on one node (the tasks of a job array, each warming the same
/// paths) fetch each file once: a warmer takes an exclusive `flock` on
/// `tmp/<ino>.<version>.warm` (files up to 1 MiB: on `tmp/warm-<ino % 256>`, kept; a pack
/// copy: `tmp/pack-<id>.warm`) before fetching, and one that finds it taken waits for it, then
/// finds the copy in place (if its holder died, the lock is released and the waiter fetches).
public final class Warmer: Transfer, @unchecked Sendable {
    let meta: MetaStore
    let store: ObjectStore
    let cache: CacheDirectory
    let blockSize: Int
    let options: WarmupOptions
    let cred: Credentials
    public var onMessage: (String) -> Void = { _ in }
    public var stopRequested: () -> Bool = { false }

    private let queue = JobQueue<WarmJob>()
    private let packs: PackReader
    let lock = Lock()
    var tally = WarmupTally()
    private var found = 0
    private var interrupted = false
    private let started = hl_monotonic_ns()
    /// Site mode: the objects this run has handled already (packs hold many files), and those
    /// of them it fetched (fill) or dropped (evict).
    var objectsSeen = Set<UInt64>()
    private var objectsDone = Set<UInt64>()
    /// Packs this warmer fetched whole into the node's pack copies.
    private var packsFetched = Set<UInt64>()
    /// Packs this run dropped from the node (evict).
    private var packsEvicted = Set<UInt64>()

    public init(meta: MetaStore, store: ObjectStore, cache: CacheDirectory, blockSize: Int,
                options: WarmupOptions = WarmupOptions(), cred: Credentials = .effective()) {
        self.meta = meta
        self.store = store
        self.cache = cache
        self.blockSize = blockSize
        self.options = options
        self.cred = cred
        packs = PackReader(store: store)
    }

    public var progress: TransferReport {
        lock.withLock {
            var r = TransferReport()
            r.found = found
            r.files = max(tally.fetched.files + tally.cached.files + tally.absent.files + tally.evicted.files + tally.inMetadata,
                          tally.files.files)
            r.skipped = tally.tooLarge.files
            r.errors = tally.errors
            r.directories = tally.directories
            r.bytes = tally.fetched.bytes + tally.cached.bytes + tally.evicted.bytes + tally.absent.bytes
            r.seconds = Double(hl_monotonic_ns() &- started) / 1e9
            return r
        }
    }

    public func interrupt() {
        lock.withLock { interrupted = true }
        queue.stop()
    }

    /// Warm (check, evict) each of `paths` (paths inside the volume, `shown` as the user named
    /// them): a directory's whole tree, a file itself. Symbolic links are not followed below
    /// the paths. A path that does not exist is an error of the run; entries that fail are
    /// reported one by one (`onMessage`) and counted.
    public func run(_ paths: [(inner: [UInt8], shown: String)], tickSeconds: Double = 0.5,
                    tick: () -> Void = {}) throws(HilbertError) -> WarmupTally {
        for (inner, shown) in paths {
            let found: Resolution
            do {
                found = try meta.resolve(from: rootIno, path: inner, followLast: true, cred: cred, mountPrefix: [])
            } catch {
                throw HilbertError(error, "warmup: \(shown): \(explain(error, meta))")
            }
            guard case .found(_, _, let a) = found else {
                throw HilbertError(.noEntry, "warmup: \(shown): no such file or directory in the volume")
            }
            if a.isDirectory {
                lock.withLock { tally.directories += 1 }
                queue.push(.page(dir: a.ino, shown: Array(shown.utf8), after: 0))
            } else if a.isRegular {
                do throws(Errno) {
                    let layout = try meta.dataLayout(a.ino)
                    var e = ExportedEntry(name: [], attr: layout.attr, cookie: 0)
                    e.inline = layout.inline
                    e.blocks = layout.blocks
                    lock.withLock { self.found += 1 }
                    queue.push(.file(e, shown: Array(shown.utf8)))
                } catch {
                    throw HilbertError(error, "warmup: \(shown): \(explain(error, meta))")
                }
            } else {
                throw HilbertError(.invalid, "warmup: \(shown) is neither a directory nor a regular file")
            }
        }
        let done = Monitor()
        var running = max(1, options.threads)
        let threads = WorkerThreads.start(running) { _ in
            self.work()
            done.lock(); running -= 1; done.broadcast(); done.unlock()
        }
        if threads.count == 0 { fatalError("warmup: cannot start threads") }
        waitTicking(done, until: { running == 0 }, seconds: tickSeconds, tick: tick)
        threads.join()
        lock.lock()
        var t = tally
        t.stopped = interrupted
        lock.unlock()
        t.seconds = Double(hl_monotonic_ns() &- started) / 1e9
        return t
    }

    private func work() {
        while let job = queue.take() {
            if stopRequested() { interrupt() }
            switch job {
            case .page(let dir, let shown, let after): page(dir, shown, after)
            case .file(let e, let shown): file(e, shown, packShared: false)
            }
            queue.finished()
        }
    }

    private func page(_ dir: Ino, _ shown: [UInt8], _ after: UInt64) {
        let entries: [ExportedEntry]
        let next: UInt64?
        do throws(Errno) {
            (entries, next) = try meta.exportPage(dir, after: after, limit: options.pageEntries, cred: cred, extras: false)
        } catch {
            fail("cannot list \(display(shown)): \(explain(error, meta))")
            return
        }
        if let next { queue.push(.page(dir: dir, shown: shown, after: next)) }
        lock.withLock { found += entries.count }
        var inPack: [UInt64: Int] = [:]
        for e in entries {
            if e.blocks.count == 1, let b = e.blocks.first, b.isPacked { inPack[b.objectID, default: 0] += 1 }
        }
        for e in entries {
            let path = join(shown, e.name)
            if e.attr.isDirectory {
                lock.withLock { tally.directories += 1 }
                queue.push(.page(dir: e.attr.ino, shown: path, after: 0))
            } else if e.attr.isRegular {
                let shared = e.blocks.count == 1 && e.blocks[0].isPacked && inPack[e.blocks[0].objectID, default: 0] > 1
                file(e, path, packShared: shared)
            } else {
                lock.withLock { tally.inMetadata += 1 }   // symlinks and the like: metadata only
            }
        }
    }

    private func file(_ e: ExportedEntry, _ shown: [UInt8], packShared: Bool) {
        let a = e.attr
        if e.failure != nil {
            fail("\(display(shown)): \(explain(e.failure!, meta))")
            return
        }
        switch options.mode {
        case .survey:
            survey(e, shown)
            return
        case .tier(let name):
            tier(e, shown, to: name)
            return
        default: break
        }
        if a.size == 0 || e.inline != nil {
            lock.withLock { tally.inMetadata += 1 }
            return
        }
        let size = a.size
        if options.site {
            siteFile(e, shown)
            return
        }
        switch options.mode {
        case .evict:
            var had = cache.openReadCopy(ino: a.ino, version: a.version, touch: false).map { Sys.close($0); return true } ?? false
            cache.removeReadCopies(ino: a.ino)
            if let id = packID(e) {
                // The pack copy goes with all of its files; each of them counts as dropped.
                lock.withLock {
                    if packsEvicted.contains(id) { had = true } else if hasPackCopy(id) {
                        cache.removePackCopy(id: id)
                        packsEvicted.insert(id)
                        had = true
                    }
                }
            }
            lock.withLock {
                if had { tally.evicted.files += 1; tally.evicted.bytes += size } else { tally.absent.files += 1 }
            }
        case .check:
            if let fd = cache.openReadCopy(ino: a.ino, version: a.version, touch: false) {
                Sys.close(fd)
                lock.withLock { tally.cached.files += 1; tally.cached.bytes += size }
            } else if let id = packID(e), hasPackCopy(id) {
                lock.withLock { tally.cached.files += 1; tally.cached.bytes += size }
            } else {
                lock.withLock { tally.absent.files += 1; tally.absent.bytes += size }
            }
        case .fill:
            if Int64(size) > cache.capacityBytes {
                onMessage("warmup: \(display(shown)): \(size >> 20) MiB is more than the cache may hold (\(cache.capacityBytes >> 20) MiB: --cache-size); left out")
                lock.withLock { tally.tooLarge.files += 1; tally.tooLarge.bytes += size }
                return
            }
            do throws(Errno) {
                let fetched = try fill(e, packShared: packShared)
                lock.withLock {
                    if fetched { tally.fetched.files += 1; tally.fetched.bytes += size } else { tally.cached.files += 1; tally.cached.bytes += size }
                }
            } catch {
                fail("\(display(shown)): \(DataErrors.last?.message ?? "\(error)")")
            }
        case .survey, .tier: break
        }
    }

    /// Make the read copy of `e`'s version; false when it was there already (or another
    /// warmer made it while this one waited).
    private func fill(_ e: ExportedEntry, packShared: Bool) throws(Errno) -> Bool {
        let a = e.attr
        if let fd = cache.openReadCopy(ino: a.ino, version: a.version, touch: true) {
            kept(fd)
            return false
        }
        if packShared, let id = packID(e) { return try fillPack(id) }
        // The claim: a file's own lock file, or for small files one of 256 lock files the
        // node's warmers share by inode (kept: no create and unlink per small file; two small
        // files of one stripe are fetched one after the other).
        let small = a.size <= 1 << 20
        let claim = cache.tmpDirectory + (small ? "/warm-\(a.ino % 256)" : "/\(a.ino).\(a.version).warm")
        let lockFD = try Sys.openPrivate(claim, O_RDWR | O_CREAT, 0o600)
        defer { Sys.closePrivate(lockFD) }
        if flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            _ = flock(lockFD, LOCK_EX)   // another warmer is fetching it: wait for it
        }
        if let fd = cache.openReadCopy(ino: a.ino, version: a.version, touch: true) {
            kept(fd)
            return false
        }
        let fd: Int32
        if e.blocks.count == 1, let b = e.blocks.first, b.isPacked, b.index == 0 {
            let bytes = try packs.read(b, whole: packShared)
            fd = try cache.installReadCopy(ino: a.ino, version: a.version, size: Int64(bytes.count)) { (out: Int32) throws(Errno) in
                try Sys.pwriteAll(out, bytes, 0)
            }
        } else {
            fd = try cache.installReadCopy(ino: a.ino, version: a.version, size: Int64(a.size)) { (out: Int32) throws(Errno) in
                try fetchFile(blocks: e.blocks, size: Int64(a.size), blockSize: blockSize, store: store, into: out)
            }
        }
        kept(fd)
        if !small { try? Sys.unlink(claim) }
        return true
    }

    /// Mark the copy open on `fd` to be kept until `options.keepUntil` (if set), and close it.
    func kept(_ fd: Int32) {
        if let until = options.keepUntil { cache.keep(fd, until: until) }
        Sys.close(fd)
    }

    /// `file` for the site tier: each of the file's objects (its blocks, or the pack it is in)
    /// is put into (looked up in, dropped from) the tier once per run. A file counts as fetched
    /// when one of its objects was.
    private func siteFile(_ e: ExportedEntry, _ shown: [UInt8]) {
        guard let site = store.siteTierStore else {
            fail("\(display(shown)): no site cache is set (--site-cache DIR, HILBERT_SITE_CACHE)")
            return
        }
        let size = e.attr.size
        if options.mode == .fill && Int64(size) > site.tier.capacityBytes {
            onMessage("warmup: \(display(shown)): \(size >> 20) MiB is more than the site cache may hold (\(site.tier.capacityBytes >> 20) MiB: --site-cache-size); left out")
            lock.withLock { tally.tooLarge.files += 1; tally.tooLarge.bytes += size }
            return
        }
        var ids: [UInt64] = []
        for b in e.blocks where !ids.contains(b.objectID) { ids.append(b.objectID) }
        var fetched = false, present = true
        do throws(Errno) {
            for id in ids {
                let key = objectKey(id: id)
                switch options.mode {
                case .fill:
                    // An object of several files (a pack) is warmed once; each of its files
                    // counts as fetched when this run fetched it.
                    if lock.withLock({ !objectsSeen.insert(id).inserted }) {
                        if lock.withLock({ objectsDone.contains(id) }) { fetched = true }
                        continue
                    }
                    if try site.warm(key) {
                        fetched = true
                        lock.withLock { _ = objectsDone.insert(id) }
                    }
                case .check:
                    if !site.tier.contains(key) { present = false }
                case .evict:
                    if site.tier.drop(key) {
                        lock.withLock { _ = objectsDone.insert(id) }
                    } else if !lock.withLock({ objectsDone.contains(id) }) {
                        present = false
                    }
                case .survey, .tier: break
                }
            }
        } catch {
            fail("\(display(shown)): \(DataErrors.last?.message ?? "\(error)")")
            return
        }
        lock.withLock {
            switch options.mode {
            case .fill:
                if fetched { tally.fetched.files += 1; tally.fetched.bytes += size } else { tally.cached.files += 1; tally.cached.bytes += size }
            case .check:
                if present { tally.cached.files += 1; tally.cached.bytes += size } else { tally.absent.files += 1; tally.absent.bytes += size }
            case .evict:
                if present { tally.evicted.files += 1; tally.evicted.bytes += size } else { tally.absent.files += 1 }
            case .survey, .tier: break
            }
        }
    }

    /// The pack a small file is in (its one block), or nil.
    func packID(_ e: ExportedEntry) -> UInt64? {
        guard e.blocks.count == 1, let b = e.blocks.first, b.isPacked, b.index == 0 else { return nil }
        return b.objectID
    }

    func hasPackCopy(_ id: UInt64, keep: Bool = false) -> Bool {
        guard let fd = cache.openPackCopy(id: id) else { return false }
        if keep, let until = options.keepUntil { cache.keep(fd, until: until) }
        Sys.closePrivate(fd)
        return true
    }

    /// A small file whose pack other files of its listing page share: the pack is kept whole
    /// on the node (one file for all of them: CacheDirectory.installPackCopy), once, under the
    /// same kind of claim as a file's. The file counts as fetched when this warmer fetched its
    /// pack.
    private func fillPack(_ id: UInt64) throws(Errno) -> Bool {
        if hasPackCopy(id, keep: true) { return lock.withLock { packsFetched.contains(id) } }
        let claim = cache.tmpDirectory + "/pack-\(id).warm"
        let lockFD = try Sys.openPrivate(claim, O_RDWR | O_CREAT, 0o600)
        defer { Sys.closePrivate(lockFD) }
        if flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            _ = flock(lockFD, LOCK_EX)   // another warmer is fetching it: wait for it
        }
        if hasPackCopy(id, keep: true) { return lock.withLock { packsFetched.contains(id) } }
        let bytes = try store.get(objectKey(id: id))
        // Counted as this warmer's before it is visible, so that its other threads that find
        // the copy count their files as fetched too.
        lock.withLock { _ = packsFetched.insert(id) }
        do throws(Errno) { try cache.installPackCopy(id: id, bytes) } catch {
            lock.withLock { _ = packsFetched.remove(id) }
            throw error
        }
        _ = hasPackCopy(id, keep: true)
        try? Sys.unlink(claim)
        return true
    }

    func fail(_ what: String) {
        lock.withLock { tally.errors += 1 }
        onMessage("warmup: " + what)
    }
}
