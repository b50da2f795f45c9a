import Glibc
import CSQLite
import HilbertSupport
import CHilbertSys

/// What hl_delobj holds: `deferred` of the `count` rows are not due yet, the last at `lastDue`.
public struct PendingDeletionTotals: Equatable, Sendable {
    public var count = 0
    public var bytes: UInt64 = 0
    public var deferred = 0
    public var lastDue: Int64 = 0
    public init(count: Int = 0, bytes: UInt64 = 0, deferred: Int = 0, lastDue: Int64 = 0) {
        self.count = count; self.bytes = bytes; self.deferred = deferred; self.lastDue = lastDue
    }
}

/// An object no metadata references any more: delete it from the object store after the
/// transaction that released it committed, then call `forgetDeletions`.
public struct DeletedObject: Equatable, Hashable, Sendable {
    public var objectID: UInt64
    public var storedLength: UInt32
    /// Wall-clock second from which it may be deleted from the store; 0: at once.
    public var due: Int64
    public init(objectID: UInt64, storedLength: UInt32, due: Int64 = 0) {
        self.objectID = objectID
        self.storedLength = storedLength
        self.due = due
    }
    /// May it be deleted from the store at wall-clock second `now`?
    public func isDue(at now: Int64) -> Bool { due <= now }
}

/// What a namespace removal released: objects to delete from the store (already recorded
/// in hl_delobj) and node-local staging files of destroyed inodes (their hl_staging rows
/// are gone; the engine removes the files if they are its own).
public struct Released: Equatable, Sendable {
    public var objects: [DeletedObject] = []
    public var stagingFiles: [String] = []
    /// Inodes destroyed (last link gone).
    public var destroyed: [Ino] = []
    /// The last version of each destroyed regular file (its read copy can go).
    public var lastVersions: [FileVersion] = []
    /// Destroyed socket inodes (their node-local kernel sockets can go).
    public var sockets: [Ino] = []
    public init() {}
    public var isEmpty: Bool { objects.isEmpty && stagingFiles.isEmpty && destroyed.isEmpty }
}

public struct FileVersion: Equatable, Sendable {
    public var ino: Ino
    public var version: UInt64
    public init(ino: Ino, version: UInt64) { self.ino = ino; self.version = version }
}

/// Low-level usage counters for statfs.
public struct StatfsCounters: Equatable, Sendable {
    public var inodes: UInt64
    public var usedBytes: UInt64
    public var storedBytes: UInt64
    public var objects: UInt64
    public var nextIno: UInt64
    public var blockSize: UInt64
}

/// A recursive pthread mutex: the engine may call MetaStore methods from inside
/// `withWriteTransaction` on the same thread.
final class RecursiveLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        mutex = .allocate(capacity: 1)
        Self.initMutex(mutex)
    }
    private static func initMutex(_ m: UnsafeMutablePointer<pthread_mutex_t>) {
        var attr = pthread_mutexattr_t()
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_settype(&attr, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(m, &attr)
        pthread_mutexattr_destroy(&attr)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func reinitialize() { Self.initMutex(mutex) }
    /// Steps out of the fork gate while it waits (forkgate.c).
    @inline(__always) func lock() { hl_gate_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }
}

struct EdgeKey: Hashable {
    var parent: Ino
    var name: [UInt8]
    // One combine of an FNV-1a digest instead of SipHash over every byte: this is the stat
    // hot path.
    func hash(into h: inout Hasher) {
        h.combine(parent)
        h.combine(fnv1a(name))
    }
}

/// A whole path resolution, remembered while the caches are current.
struct ResolveKey: Hashable {
    var base: Ino
    var followLast: Bool
    var path: [UInt8]
    var cred: Credentials
    func hash(into h: inout Hasher) {
        h.combine(base)
        h.combine(fnv1a(path) ^ (followLast ? 1 : 0))
        h.combine(cred.uid)
    }
}

@inline(__always)
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf29ce484222325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
    return h
}

/// The metadata of one volume, as seen by one process. Every mutation is one SQLite
/// transaction (BEGIN IMMEDIATE); reads use one read transaction (consistent snapshot).
/// Many processes share the database file through SQLite's locking; each process opens
/// its own `MetaStore`. Thread-safe (one recursive lock around the connection).
public final class MetaStore: @unchecked Sendable {
    /// The rows and the session (MetaBackend); everything here is backend-neutral.
    let backend: any MetaBackend
    let lock = RecursiveLock()
    public let format: VolumeFormat
    /// Where the metadata lives (for messages).
    public var path: String { backend.location }
    /// How long the objects of a replaced or removed file of several blocks stay in the store
    /// (seconds; `releaseDropped`). 0: deleted right after the commit that released them.
    public var keepReplacedSeconds: Int64 = 0

    // Per-connection caches, valid while the backend's change version is unchanged; bypassed
    // inside write transactions, and after each of this process's own dropped or, where the
    // backend reports the transaction's changes, brought up to date (`afterOwnWrite`).
    var dentryCache: [EdgeKey: Ino] = [:]
    /// Entries a path walk found absent (PathResolver.walkAhead), at the same version.
    var absentCache: Set<EdgeKey> = []
    var attrCache: [Ino: Attr] = [:]
    var linkCache: [Ino: [UInt8]] = [:]
    var resolveCache: [ResolveKey: Resolution] = [:]
    /// Content of inline files met by a directory prefetch or a data-layout read.
    var inlineCache: [Ino: [UInt8]] = [:]
    var inlineCacheBytes = 0
    static let inlineCacheLimit = 32 << 20
    /// Consecutive cache misses in one directory: past a few, the following entries are
    /// prefetched in listing order (metadata read-ahead for stat/open storms).
    var missParent: Ino = 0
    var missStreak = 0
    /// The same for whole-path walks (PathResolver.walkAhead, where lookups are round trips).
    var walkParent: Ino = 0
    var walkStreak = 0
    /// A directory whose last read-ahead was a full batch: its next miss reads ahead at once.
    var readAheadDirectory: Ino = 0
    /// The change epoch and the time when the next page of a listing was asked for ahead.
    var listingAhead: (epoch: UInt64, at: UInt64)?
    /// Where a listing was seen to end (a page shorter than asked for, which filled the caches):
    /// the next page from there is empty without asking while the caches may answer `stat`.
    var listingEnd: (dir: Ino, cookie: UInt64)?
    static let prefetchAfter = 4
    static let prefetchBatch = 256
    /// Entries read ahead at a time: more where each read is a round trip.
    var entryBatch: Int { backend.remoteLookups ? 1024 : MetaStore.prefetchBatch }
    /// The last regular file `resolve` found, and consecutive small-file reads in one
    /// directory: past a few, the following files' bytes are read ahead too.
    var lastFound: (ino: Ino, parent: Ino, name: [UInt8])?
    var inlineMissParent: Ino = 0
    var inlineMissStreak = 0
    var cacheDataVersion: Int64 = -1
    /// The shared change epoch the caches were last validated at, and when (monotonic ns).
    /// Within `epochTrust` of a validation and at an unchanged epoch the caches are used
    /// without asking SQLite; the bound covers a writer that died between its commit and
    /// its bump.
    var epoch: ChangeEpoch
    var cacheEpoch: UInt64 = .max
    var cacheValidatedAt: UInt64 = 0
    static let epochTrust: UInt64 = 1_000_000_000
    /// Set while answering from the caches alone (no transaction): a miss throws `cacheMiss`.
    var cacheOnly = false
    /// With `cacheOnly`: a last path component the caches do not know counts as missing
    /// (PathResolver.lastNameFromCache).
    var unknownLastIsMissing = false
    static let cacheMiss = Errno(-1)
    /// An optimistic transaction found the caches not current (MetaBackend.optimisticTransaction).
    static let conflict = Errno(-2)
    /// What the caches know of the content rows of inodes this process created or committed
    /// (read by optimistic transactions only, whose commit checks them).
    var contentCache: [Ino: (inlineLength: Int?, blocks: [BlockRef], staging: (file: String, owner: String)?)] = [:]
    /// Write transactions start optimistically (from the caches, checked at commit) while the
    /// last ones met no other writer.
    var optimisticWrites = true
    static let cacheLimit = 16384

    /// Why the last `open`/`create` on the calling thread failed (for the CLI and the one
    /// stderr line). Thread-local.
    public static var lastOpenError: HilbertError? {
        get { openErrorSlot.value }
        set { openErrorSlot.value = newValue }
    }
    static let openErrorSlot = ThreadLocal<HilbertError>()

    /// The last write transaction of the calling thread failed but may have committed all the
    /// same (MetaBackend.commitOutcomeUnknown): what it would reference must not be deleted.
    /// Thread-local; read it right after the failed call.
    public var lastWriteMayHaveCommitted: Bool { MetaStore.outcomeUnknownSlot.value ?? false }
    static let outcomeUnknownSlot = ThreadLocal<Bool>()

    /// The explanation of the most recent SQLite failure on this store.
    public var lastError: HilbertError? {
        lock.lock(); defer { lock.unlock() }
        return backend.lastError
    }

    let reserve: SpaceReserve?
    /// This process's batch of inode numbers, [inoNext, inoEnd) (allocateIno).
    var inoNext: Ino = 0
    var inoEnd: Ino = 0

    init(backend: any MetaBackend, format: VolumeFormat) {
        self.backend = backend
        self.format = format
        self.epoch = backend.makeChangeEpoch()
        self.reserve = backend.makeSpaceReserve()
        backend.setWriteEndHandler { [unowned self] end in self.afterOwnWrite(end) }
    }

    /// For metadata on a server: share this node's change epoch with the other processes that
    /// use the volume through `file` (in their common cache directory), so that their changes
    /// show here at once; another node's show within the attribute cache timeout.
    public func shareChangesOnThisNode(through file: String) {
        lock.lock(); defer { lock.unlock() }
        if epoch.available || !backend.sharedBetweenNodes { return }
        epoch = ChangeEpoch(file: file, mode: 0o600)
        cacheEpoch = .max
    }

    /// After each of this process's write transactions: tell this node's other processes (the
    /// change epoch). When nobody else changed the volume between the caches' validation and
    /// this commit (the commit's version is the caches' plus one, and no other process of the
    /// node bumped the epoch), the caches take the transaction's changes and are current as of
    /// the commit; otherwise they all go.
    func afterOwnWrite(_ end: WriteEnd) {
        let previous = cacheEpoch
        let now = epoch.bump()
        optimisticWrites = end.versions.map { $0.before == cacheDataVersion } ?? false
        if let versions = end.versions, let changes = end.changes, previous != .max,
           versions.before == cacheDataVersion, !epoch.available || now == previous &+ 1 {
            apply(changes)
            cacheDataVersion = versions.after
            noteValidated(now)
            return
        }
        clearCaches()
        cacheEpoch = .max
    }

    /// Bring the caches from the version before a transaction of this process to the version
    /// after it. Whole-path answers all go (they are rebuilt from the entries).
    func apply(_ changes: [RowChange]) {
        if !resolveCache.isEmpty { resolveCache.removeAll(keepingCapacity: true) }
        for change in changes {
            switch change {
            case .node(let a):
                attrCache[a.ino] = a
            case .nodeGone(let ino):
                attrCache.removeValue(forKey: ino)
                forgetContent(ino)
                contentCache.removeValue(forKey: ino)
            case .touched(let ino, let delta, let time, let modified):
                if var a = attrCache[ino] {
                    a.nlink = UInt32(truncatingIfNeeded: Int64(a.nlink) + delta)
                    a.ctime = time
                    if modified { a.mtime = time }
                    attrCache[ino] = a
                }
            case .parent(let ino, let parent):
                attrCache[ino]?.parent = parent
            case .staged(let ino, let staged):
                attrCache[ino]?.staged = staged
            case .entry(let parent, let name, let ino):
                let key = EdgeKey(parent: parent, name: name)
                dentryCache[key] = ino
                if !absentCache.isEmpty { absentCache.remove(key) }
            case .entryGone(let parent, let name):
                let key = EdgeKey(parent: parent, name: name)
                dentryCache.removeValue(forKey: key)
                if absentCache.count < 1024 { absentCache.insert(key) }
            case .content(let ino):
                forgetContent(ino)
                contentCache.removeValue(forKey: ino)
            case .newNode(let ino):
                contentCache[ino] = (nil, [], nil)
            case .inlineLength(let ino, let length):
                forgetContent(ino)
                contentCache[ino]?.inlineLength = length
            case .block(let ino, let b):
                if var c = contentCache[ino] {
                    c.blocks.removeAll { $0.index == b.index }
                    c.blocks.append(b)
                    c.blocks.sort { $0.index < $1.index }
                    contentCache[ino] = c
                }
            case .blockGone(let ino, let index):
                contentCache[ino]?.blocks.removeAll { $0.index == index }
            case .stagingRow(let ino, let row):
                contentCache[ino]?.staging = row
            }
        }
        if attrCache.count > MetaStore.cacheLimit || dentryCache.count > MetaStore.cacheLimit { clearCaches() }
    }

    private func forgetContent(_ ino: Ino) {
        linkCache.removeValue(forKey: ino)
        if let data = inlineCache.removeValue(forKey: ino) { inlineCacheBytes -= data.count }
    }

    /// Close the database now (the store is unusable afterwards until reopened lazily).
    public func close() {
        lock.lock(); defer { lock.unlock() }
        backend.close()
    }

    /// In a forked child: re-create the lock and drop (leak) the parent's SQLite handle;
    /// the next call reopens the database.
    /// Forget every cached answer: the next call asks SQLite (used when a cached answer
    /// proved stale, e.g. an inode that a rename just replaced).
    public func dropCaches() {
        lock.lock(); defer { lock.unlock() }
        clearCaches()
        cacheEpoch = .max
        cacheDataVersion = -1
    }

    /// fork: hold the lock across fork(), so that no other thread of the parent is inside
    /// SQLite (and its global mutexes) when the child is created.
    public func beforeFork() {
        lock.lock()
        backend.beforeFork()
    }
    public func afterForkInParent() {
        backend.afterForkInParent()
        lock.unlock()
    }

    public func afterForkInChild() {
        lock.reinitialize()
        backend.abandonAfterFork()
        clearCaches()
        inoNext = 0; inoEnd = 0   // the parent's batch is the parent's
    }

    // MARK: transactions

    /// A read transaction under the lock.
    @inline(__always)
    func read<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
        lock.lock(); defer { lock.unlock() }
        return try backend.transaction(write: false, body)
    }

    /// A write transaction (BEGIN IMMEDIATE) under the lock. Where reads are round trips and
    /// the caches are current as of a known version, it is tried optimistically first: its
    /// reads come from the caches and the commit checks the version (one round trip in all);
    /// when they were not current, it runs again as usual.
    @inline(__always)
    func write<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
        lock.lock(); defer { lock.unlock() }
        let outermost = backend.transactionDepth == 0
        do throws(Errno) {
            if optimisticWrites && backend.remoteLookups && backend.transactionDepth == 0 && cacheEpoch != .max {
                do throws(Errno) {
                    return try backend.optimisticTransaction(version: cacheDataVersion, rows: { [unowned self] read in
                        self.cachedRow(read)
                    }, body)
                } catch where error == MetaStore.conflict {
                    optimisticWrites = false
                    inoNext = 0; inoEnd = 0
                }
            }
            return try backend.transaction(write: true, body)
        } catch {
            inoNext = 0; inoEnd = 0
            if outermost { MetaStore.outcomeUnknownSlot.value = backend.commitOutcomeUnknown ? true : nil }
            throw error
        }
    }

    /// What the caches know of a row, for an optimistic transaction (nil: not known).
    func cachedRow(_ read: RowRead) -> CachedRow? {
        switch read {
        case .node(let ino):
            return attrCache[ino].map { .node($0) }
        case .entry(let parent, let name):
            // An entry the caches do not hold is assumed absent (its insert checks that).
            guard let ino = dentryCache[EdgeKey(parent: parent, name: name)] else { return .entryAbsent }
            guard let a = attrCache[ino] else { return nil }
            return .entry(Edge(id: -1, ino: ino, type: UInt8((a.mode >> 12) & 15), parent: parent, name: name), a)
        case .staging(let ino), .inlineLength(let ino), .blocks(let ino):
            return cachedContent(ino)
        case .entryContent(let parent, let name):
            // What removing the entry takes with it: nothing for one assumed absent, or for a
            // node without content rows.
            guard let ino = dentryCache[EdgeKey(parent: parent, name: name)] else { return .content(inlineLength: nil, blocks: [], staging: nil) }
            if let a = attrCache[ino], !a.isRegular { return .content(inlineLength: nil, blocks: [], staging: nil) }
            return cachedContent(ino)
        case .inlineRow, .changeVersion, .entries, .entriesWithNodes:
            return nil
        }
    }

    private func cachedContent(_ ino: Ino) -> CachedRow? {
        contentCache[ino].map { .content(inlineLength: $0.inlineLength, blocks: $0.blocks, staging: $0.staging) }
    }

    /// `write` for a change that frees space (a removal): when the database's file system is
    /// full, the space reserve is released and the change tried once more (SpaceReserve).
    func writeFreeingSpace<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
        do throws(Errno) {
            return try write(body)
        } catch where error == .noSpace && backend.transactionDepth == 0 && reserve?.release() == true {
            Log.error("metadata \(backend.location): its file system is full; the space reserve was released so that removals can free space")
            return try write(body)
        }
    }

    /// Run `body` in one write transaction (BEGIN IMMEDIATE): MetaStore calls made inside
    /// (on the same thread) join it; a throw rolls everything back.
    public func withWriteTransaction<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
        try write(body)
    }

    // MARK: caches

    /// Growing the caches showed up in cold stat storms, so they are sized once when a storm
    /// starts (a prefetch, or many paths resolved): a short process never maps their ~11 MB.
    func sizeCachesForStorm() {
        if attrCache.capacity >= MetaStore.cacheLimit { return }
        dentryCache.reserveCapacity(MetaStore.cacheLimit)
        attrCache.reserveCapacity(MetaStore.cacheLimit)
        resolveCache.reserveCapacity(MetaStore.cacheLimit)
    }

    func clearCaches() {
        if !dentryCache.isEmpty { dentryCache.removeAll(keepingCapacity: true) }
        if !absentCache.isEmpty { absentCache.removeAll(keepingCapacity: true) }
        if !contentCache.isEmpty { contentCache.removeAll(keepingCapacity: true) }
        if !attrCache.isEmpty { attrCache.removeAll(keepingCapacity: true) }
        if !linkCache.isEmpty { linkCache.removeAll(keepingCapacity: true) }
        if !resolveCache.isEmpty { resolveCache.removeAll(keepingCapacity: true) }
        if !inlineCache.isEmpty { inlineCache.removeAll(keepingCapacity: true) }
        inlineCacheBytes = 0
    }

    func cacheInline(_ ino: Ino, _ data: [UInt8]) {
        if inlineCacheBytes + data.count > MetaStore.inlineCacheLimit {
            inlineCache.removeAll(keepingCapacity: true)
            inlineCacheBytes = 0
        }
        inlineCache[ino] = data
        inlineCacheBytes += data.count
    }

    /// Cache the content of the small files of `dir` from `name` on.
    func prefetchInline(_ dir: Ino, from name: [UInt8]) throws(Errno) {
        try backend.inlineRowsFrom(dir, name: name, limit: MetaStore.prefetchBatch) { ino, data, crc in
            // A row that fails its checksum is not cached: reading it fails, with the reason.
            if crc == nil || InlineChecksum.of(data) == crc { cacheInline(ino, data) }
        }
    }

    /// Cache the entries of `dir` from `name` on with their attributes: one query instead
    /// of one per following lookup. Where the backend reads the change version with them,
    /// caches filled at another version go first. A full batch marks `dir` as one whose next
    /// miss reads ahead at once (`readAheadDirectory`).
    func prefetchEntries(_ dir: Ino, from name: [UInt8]) throws(Errno) {
        sizeCachesForStorm()
        let batch = entryBatch
        if dentryCache.count + batch > MetaStore.cacheLimit { clearCaches() }
        var rows = 0
        try backend.childrenFrom(dir, name: name, limit: batch, version: adoptVersion) { entry, a in
            cacheChild(dir, entry, a)
            rows += 1
        }
        readAheadDirectory = rows == batch ? dir : 0
    }

    /// Rows read at change version `v` are about to fill the caches: those filled at another
    /// version go first (stale, or older than the rows).
    func adoptVersion(_ v: Int64) {
        if v != cacheDataVersion {
            clearCaches()
            cacheDataVersion = v
        }
    }

    /// The entry `name` of `dir` names node `a` (read at `cacheDataVersion`).
    func cacheChild(_ dir: Ino, _ name: [UInt8], _ a: Attr) {
        let key = EdgeKey(parent: dir, name: name)
        dentryCache[key] = a.ino
        if !absentCache.isEmpty { absentCache.remove(key) }
        attrCache[a.ino] = a
    }

    /// Cache a listing page's entries with their nodes (`MetaBackend.edgesWithNodes`), read at
    /// `page.version`, asked for at `time` with the node's change epoch `e`: the caches are
    /// then as current as after a validation then. Caches filled at another version go first.
    /// False when the page was too old to cache.
    @discardableResult
    func cacheListed(_ dir: Ino, _ page: ListedPage, epoch e: UInt64, at time: UInt64) -> Bool {
        // Older than what the caches know (a page asked for ahead, before a newer version was
        // seen): listed, not cached.
        if page.version < cacheDataVersion { return false }
        sizeCachesForStorm()
        adoptVersion(page.version)
        for k in 0..<page.count {
            if let a = page.attrs[k] { cacheChild(dir, page.names[k], a) }
        }
        noteValidated(e, at: time)
        return true
    }

    /// May the caches answer without asking the backend? When no process of this node wrote
    /// since they were validated (the change epoch), for a bounded time: on a volume of one
    /// node `epochTrust` (a writer that died between its commit and its bump); where other
    /// nodes share the metadata, the attribute cache timeout, and only for calls that accept
    /// another node's change showing that late (`fresh` false: stat, not open).
    @inline(__always)
    func cacheTrusted(fresh: Bool) -> Bool {
        let bound: UInt64
        if backend.sharedBetweenNodes {
            if fresh { return false }
            bound = backend.attributeCacheNanoseconds
        } else {
            bound = MetaStore.epochTrust
        }
        guard hl_monotonic_ns() &- cacheValidatedAt < bound else { return false }
        if epoch.available { return epoch.load() == cacheEpoch }
        return backend.sharedBetweenNodes && cacheEpoch != .max
    }

    /// Outside any transaction: true when the caches are current (no other connection
    /// committed since they were filled), so an answer may come from them without BEGIN.
    @inline(__always)
    func cacheCurrent(fresh: Bool = true) throws(Errno) -> Bool {
        if backend.transactionDepth > 0 || attrCache.isEmpty { return false }
        if cacheTrusted(fresh: fresh) { return true }
        let e = epoch.load()
        guard try backend.changeVersion() == cacheDataVersion else { return false }
        noteValidated(e)
        return true
    }

    @inline(__always)
    func noteValidated(_ e: UInt64, at time: UInt64 = hl_monotonic_ns()) {
        cacheEpoch = e
        cacheValidatedAt = time
    }

    /// Try `body` from the caches alone; nil on a miss (then run the transactional path).
    @inline(__always)
    func fromCache<T>(fresh: Bool = true, _ body: () throws(Errno) -> T) throws(Errno) -> T? {
        guard try cacheCurrent(fresh: fresh) else { return nil }
        return try cachedOnly(body)
    }

    /// `body` answered from the caches as they are (not validated); nil on a miss.
    @inline(__always)
    func cachedOnly<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T? {
        cacheOnly = true
        defer { cacheOnly = false }
        do throws(Errno) {
            return try body()
        } catch {
            if error == MetaStore.cacheMiss { return nil }
            throw error
        }
    }

    /// Inside a read transaction: may the caches be used? Drops them when another
    /// connection committed since they were filled. Never inside a write transaction.
    @inline(__always)
    func cacheUsable(fresh: Bool = true) throws(Errno) -> Bool {
        if backend.inWriteTransaction { return false }
        if cacheTrusted(fresh: fresh) { return true }   // nobody wrote since the caches were validated
        let e = epoch.load()
        let v = try backend.changeVersion()
        if v != cacheDataVersion {
            clearCaches()
            cacheDataVersion = v
        } else if attrCache.count > MetaStore.cacheLimit || dentryCache.count > MetaStore.cacheLimit {
            clearCaches()
        }
        noteValidated(e)
        return true
    }

    // MARK: node rows

    /// Rewrite every column of a node row.
    func writeAttr(_ a: Attr) throws(Errno) { try backend.updateNode(a) }

    /// The node row, uncached. ENOENT when it does not exist.
    func loadAttr(_ ino: Ino) throws(Errno) -> Attr {
        guard let a = try backend.node(ino) else { throw Errno.noEntry }
        return a
    }

    /// The node, through the cache when `useCache`.
    @inline(__always)
    func node(_ ino: Ino, useCache: Bool) throws(Errno) -> Attr {
        if useCache, let a = attrCache[ino] { return a }
        if cacheOnly { throw MetaStore.cacheMiss }
        let a = try loadAttr(ino)
        if useCache { attrCache[ino] = a }
        return a
    }

    /// The child named `name` in `dir` (nil when absent), through the cache when `useCache`.
    func child(_ dir: Ino, _ name: [UInt8], useCache: Bool) throws(Errno) -> Attr? {
        if useCache, let ino = dentryCache[EdgeKey(parent: dir, name: name)], let a = attrCache[ino] { return a }
        if useCache && !absentCache.isEmpty && absentCache.contains(EdgeKey(parent: dir, name: name)) { return nil }
        if cacheOnly { throw MetaStore.cacheMiss }
        if useCache {
            if dir == missParent { missStreak += 1 } else { missParent = dir; missStreak = 1 }
            if missStreak >= MetaStore.prefetchAfter {
                missStreak = 0
                try prefetchEntries(dir, from: name)
                if let ino = dentryCache[EdgeKey(parent: dir, name: name)], let a = attrCache[ino] { return a }
            }
        }
        guard let a = try backend.child(dir, name) else { return nil }
        if useCache {
            dentryCache[EdgeKey(parent: dir, name: name)] = a.ino
            attrCache[a.ino] = a
        }
        return a
    }

    /// Symlink target, through the cache when `useCache` (targets never change).
    func linkTarget(_ ino: Ino, useCache: Bool) throws(Errno) -> [UInt8] {
        if useCache, let t = linkCache[ino] { return t }
        if cacheOnly { throw MetaStore.cacheMiss }
        guard let t = try backend.symlinkTarget(ino) else { throw Errno.invalid }
        if useCache { linkCache[ino] = t }
        return t
    }

    // MARK: counters

    /// Usage counters: nothing is read back (on PostgreSQL the change rides with the commit).
    @inline(__always)
    func addCounter(_ name: String, _ delta: Int64) throws(Errno) {
        if delta != 0 { try backend.bumpCounter(name, delta) }
    }

    func counter(_ name: String) throws(Errno) -> Int64 {
        try backend.counterValue(name)
    }

    /// A fresh inode number (never reused). The backend hands this process `inodeBatch`
    /// numbers at a time; numbers of a batch this process does not use are never used (gaps,
    /// not reuse). A batch taken in a transaction that then
    /// failed is dropped (`write`), since the counter may not have moved.
    func allocateIno() throws(Errno) -> Ino {
        if inoNext < inoEnd {
            inoNext += 1
            return inoNext - 1
        }
        let n = backend.inodeBatch
        let end = UInt64(try backend.addToCounter("next_ino", Int64(n)))
        inoNext = end - UInt64(n) + 1
        inoEnd = end
        return end - UInt64(n)
    }
}

extension Timespec {
    /// The current wall-clock time.
    public static func now() -> Timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timespec(sec: Int64(ts.tv_sec), nsec: UInt32(ts.tv_nsec))
    }
}

/// A per-thread optional value (pthread key holding a retained box).
final class ThreadLocal<T>: @unchecked Sendable {
    private final class Box { var v: T; init(_ v: T) { self.v = v } }
    private var key = pthread_key_t()
    init() {
        pthread_key_create(&key) { p in
            if let p { Unmanaged<AnyObject>.fromOpaque(p).release() }
        }
    }
    var value: T? {
        get {
            guard let p = pthread_getspecific(key) else { return nil }
            return (Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as! Box).v
        }
        set {
            if let p = pthread_getspecific(key) {
                Unmanaged<AnyObject>.fromOpaque(p).release()
                pthread_setspecific(key, nil)
            }
            if let v = newValue {
                pthread_setspecific(key, Unmanaged.passRetained(Box(v) as AnyObject).toOpaque())
            }
        }
    }
}
