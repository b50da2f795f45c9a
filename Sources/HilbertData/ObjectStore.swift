import Glibc
import CHilbertSys
import HilbertSupport

/// Where block objects live. Every operation is idempotent: putting the same key twice
/// stores the same bytes, deleting a missing key succeeds. Implementations are shared by
/// all threads of a process.
public protocol ObjectStore: AnyObject, Sendable {
    /// Store `data` under `key`, atomically: readers see the whole object or nothing.
    func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno)
    /// The whole object; ENOENT when missing.
    func get(_ key: String) throws(Errno) -> [UInt8]
    /// Read the whole object into `buffer` and return its size; ENOENT when missing, ERANGE
    /// when the object is larger than the buffer. (Default: `get` then copy.)
    func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int
    /// Bytes [offset, offset+length) clipped to the object; ENOENT when missing.
    func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8]
    /// Remove the object; a missing object is success.
    func delete(_ key: String) throws(Errno)
    /// The object's size, or nil when missing.
    func head(_ key: String) throws(Errno) -> Int?
    /// All objects whose key starts with `prefix`, sorted by key.
    func list(prefix: String) throws(Errno) -> [ObjectInfo]
    /// The same objects as `list`, handed over a page at a time (in the store's listing
    /// order), so a caller that condenses them needs no array of every key at once.
    func listPages(prefix: String, _ body: ([ObjectInfo]) throws(Errno) -> Void) throws(Errno)
    /// Remove many objects (missing ones are success); stores with a batch call use it.
    func delete(keys: [String]) throws(Errno)
    /// Make every object put so far durable (stores that sync per put: nothing to do).
    func flush() throws(Errno)
    /// How many transfers the data pipelines keep in flight against this store: CPU-bound
    /// local stores want one per core, remote stores many more (latency, not CPU, limits them).
    var concurrency: Int { get }
    /// In a child after fork: the parent's other threads are gone (one may have held a lock).
    func afterForkInChild()
    var description: String { get }
    /// Remove what interrupted puts left behind (a directory store's `.tmp/` files) not
    /// modified for `seconds`: (files, bytes) removed. Stores with atomic puts have none.
    func removeStaleTemporaries(olderThan seconds: Int64) -> (files: Int, bytes: Int64)
    /// A reader found the copy it was given of `key` damaged: drop any cached copy (the site
    /// tier's) so that the next read goes to the store. Returns whether there was one.
    func dropCachedCopy(_ key: String) -> Bool
    /// The site tier reads go through, if any.
    var siteTierStore: SiteTierStore? { get }
    /// Whether objects have storage classes (S3) that `storageClass` and `changeStorageClass` see.
    var hasStorageClasses: Bool { get }
    /// The object's storage class and size; nil when it is missing or the store has no classes.
    func storageClass(_ key: String) throws(Errno) -> (name: String, size: Int)?
    /// Move the object to storage class `name` where it is (same key, same bytes).
    func changeStorageClass(_ key: String, to name: String) throws(Errno)
}

/// One listed object. `modified` is seconds since the epoch (0 when the store cannot tell).
public struct ObjectInfo: Equatable, Sendable {
    public var key: String
    public var size: Int
    public var modified: Int64
    public init(key: String, size: Int, modified: Int64 = 0) {
        self.key = key; self.size = size; self.modified = modified
    }
}

extension ObjectStore {
    public func flush() throws(Errno) {}
    public var concurrency: Int { 2 }
    public func listPages(prefix: String, _ body: ([ObjectInfo]) throws(Errno) -> Void) throws(Errno) {
        try body(try list(prefix: prefix))
    }
    public func afterForkInChild() {}
    public func removeStaleTemporaries(olderThan seconds: Int64) -> (files: Int, bytes: Int64) { (0, 0) }
    public func dropCachedCopy(_ key: String) -> Bool { false }
    public var siteTierStore: SiteTierStore? { nil }
    public var siteTier: SiteTier? { siteTierStore?.tier }
    public var hasStorageClasses: Bool { false }
    public func storageClass(_ key: String) throws(Errno) -> (name: String, size: Int)? { nil }
    public func changeStorageClass(_ key: String, to name: String) throws(Errno) {
        throw DataErrors.fail(.notSupported, "store \(description) has no storage classes (an S3 store has)")
    }
    public func delete(keys: [String]) throws(Errno) {
        for k in keys { try delete(k) }
    }

    public func put(_ key: String, _ bytes: [UInt8]) throws(Errno) {
        var failure: Errno?
        bytes.withUnsafeBytes { b in
            do throws(Errno) { try put(key, b) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try copyObject(try get(key), into: buffer)
    }
}

/// `bytes` (a whole object) copied into `buffer`: its size, or ERANGE when it does not fit
/// (what `get(_:into:)` answers).
func copyObject(_ bytes: [UInt8], into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
    guard bytes.count <= buffer.count else { throw Errno.range }
    if !bytes.isEmpty { bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    return bytes.count
}

// MARK: keys

/// Object key of block object `id` holding `rawLength` raw bytes:
/// `chunks/<id / 1_000_000>/<id / 1000>/<id>_<rawLength>`, all decimal without zero padding
/// (e.g. id 1_234_567, 4 MiB → `chunks/1/1234/1234567_4194304`). At most 1000 objects per
/// leaf directory and 1000 leaf directories per top directory.
public func objectKey(id: UInt64) -> String {
    "chunks/\(id / 1_000_000)/\(id / 1000)/\(id)"
}

/// The inverse of `objectKey`; nil for anything that is not exactly such a key.
public func parseObjectKey(_ key: String) -> UInt64? {
    let parts = key.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 4, parts[0] == "chunks", let id = decimal(parts[3]),
          let top = decimal(parts[1]), let mid = decimal(parts[2]),
          top == id / 1_000_000, mid == id / 1000 else { return nil }
    return id
}

/// Canonical decimal (no sign, no leading zeros except "0").
private func decimal(_ s: Substring) -> UInt64? {
    guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
    if s.count > 1 && s.first == "0" { return nil }
    return UInt64(s)
}

/// Keys are relative slash-separated paths of non-empty components other than "." and "..";
/// the first component must not start with "." (reserved for the store's own files).
public func validateKey(_ key: String) throws(Errno) {
    guard !key.isEmpty, key.utf8.count < 1024, !key.utf8.contains(0) else { throw Errno.invalid }
    var first = true
    for c in key.split(separator: "/", omittingEmptySubsequences: false) {
        if c.isEmpty || c == "." || c == ".." { throw Errno.invalid }
        if first && c.hasPrefix(".") { throw Errno.invalid }
        first = false
    }
}

// MARK: local directory

/// Objects as files under `root` (a local or network file system shared by the nodes).
/// `put` writes `root/.tmp/<unique>` then renames it into place, creating directories on
/// demand, so a partial object is never visible. With `syncWrites` (default) the data is
/// fdatasync'ed before the rename (an object referenced by committed metadata survives a
/// crash). Errors (ENOSPC, EACCES, EROFS, EDQUOT, …) surface unchanged.
public final class LocalDirectoryStore: ObjectStore, @unchecked Sendable {
    public let root: String
    public let syncWrites: Bool
    private let pending = Lock()
    nonisolated(unsafe) private var unsynced: [String] = []

    public init(root: String, syncWrites: Bool = true) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        self.syncWrites = syncWrites
    }

    public var description: String { "file://\(root)" }

    func path(_ key: String) -> String { root + "/" + key }
    var tmpDirectory: String { root + "/.tmp" }

    public func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) {
        try validateKey(key)
        let tmp = tmpDirectory + "/\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd: Int32
        do throws(Errno) {
            fd = try Sys.openPrivate(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        } catch where error == .noEntry {
            try Sys.mkdirs(tmpDirectory)
            fd = try Sys.openPrivate(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        }
        do throws(Errno) {
            if data.count > 0 { try Sys.pwriteAll(fd, data, 0) }
            // Durability is batched: writeback starts now, flush() waits for it. One
            // fdatasync per 4 MiB object made large commits disk-latency bound.
            if syncWrites && data.count > 0 { hl_sys_start_writeback(fd) }
            hl_sys_note_private(fd, 0)
            let rc = hl_sys_close_checked(fd)
            if rc != 0 { throw Errno(rc) }
        } catch {
            Sys.closePrivate(fd)
            try? Sys.unlink(tmp)
            throw error
        }
        let final = path(key)
        do throws(Errno) {
            do throws(Errno) {
                try Sys.rename(tmp, final)
            } catch where error == .noEntry {
                try Sys.mkdirs(parentDirectory(final))
                try Sys.rename(tmp, final)
            }
        } catch {
            try? Sys.unlink(tmp)
            throw error
        }
        if syncWrites { pending.withLock { unsynced.append(final) } }
    }

    /// In a child after fork: the parent's threads are gone (one may have held the lock).
    public func afterForkInChild() { pending.reinitialize() }

    /// A put writes `.tmp/<pid>-<random>` and renames it within the call: a file there that
    /// has not changed for `seconds` belongs to a put that was killed.
    public func removeStaleTemporaries(olderThan seconds: Int64) -> (files: Int, bytes: Int64) {
        guard let names = try? Sys.listDirectory(tmpDirectory) else { return (0, 0) }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var removed = (files: 0, bytes: Int64(0))
        for n in names {
            let p = tmpDirectory + "/" + n
            guard let st = try? Sys.lstat(p), st.st_mode & S_IFMT == S_IFREG,
                  Int64(now.tv_sec) - Int64(st.st_mtim.tv_sec) >= seconds else { continue }
            if (try? Sys.unlink(p)) != nil { removed.files += 1; removed.bytes += Int64(st.st_size) }
        }
        return removed
    }

    /// fdatasync every object put since the last flush (their writeback already started).
    /// An object deleted since needs nothing.
    public func flush() throws(Errno) {
        let paths = pending.withLock { () -> [String] in
            defer { unsynced.removeAll(keepingCapacity: true) }
            return unsynced
        }
        for p in paths {
            let fd: Int32
            do throws(Errno) { fd = try Sys.openPrivate(p, O_RDONLY) } catch where error == .noEntry { continue }
            defer { Sys.closePrivate(fd) }
            try Sys.fdatasync(fd)
        }
    }

    public func get(_ key: String) throws(Errno) -> [UInt8] {
        try validateKey(key)
        let fd = try Sys.openPrivate(path(key), O_RDONLY)
        defer { Sys.closePrivate(fd) }
        let size = Int(try Sys.fstat(fd).st_size)
        if size == 0 { return [] }
        var failure: Errno?
        let out = [UInt8](unsafeUninitializedCapacity: size) { b, count in
            do throws(Errno) {
                count = try Sys.preadFully(fd, b.baseAddress!, size, 0)
            } catch { failure = error; count = 0 }
        }
        if let failure { throw failure }
        // Objects are immutable: a size change while reading means someone broke that rule.
        if out.count != size { throw Errno.io }
        return out
    }

    public func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try validateKey(key)
        let fd = try Sys.openPrivate(path(key), O_RDONLY)
        defer { Sys.closePrivate(fd) }
        let size = Int(try Sys.fstat(fd).st_size)
        guard size <= buffer.count else { throw Errno.range }
        if size == 0 { return 0 }
        let n = try Sys.preadFully(fd, buffer.baseAddress!, size, 0)
        if n != size { throw Errno.io }
        return n
    }

    public func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        try validateKey(key)
        guard offset >= 0, length >= 0 else { throw Errno.invalid }
        let fd = try Sys.openPrivate(path(key), O_RDONLY)
        defer { Sys.closePrivate(fd) }
        if length == 0 { return [] }
        return try Sys.preadBytes(fd, count: length, offset: Int64(offset))
    }

    public func delete(_ key: String) throws(Errno) {
        try validateKey(key)
        do throws(Errno) { try Sys.unlink(path(key)) } catch where error == .noEntry {}
    }

    public func head(_ key: String) throws(Errno) -> Int? {
        try validateKey(key)
        do throws(Errno) {
            let st = try Sys.stat(path(key))
            guard (st.st_mode & S_IFMT) == S_IFREG else { return nil }
            return Int(st.st_size)
        } catch where error == .noEntry || error == .notDirectory {
            return nil
        }
    }

    public func list(prefix: String) throws(Errno) -> [ObjectInfo] {
        // Start at the deepest directory the prefix names completely.
        var base = ""
        if let slash = prefix.lastIndex(of: "/") { base = String(prefix[..<slash]) }
        var out: [ObjectInfo] = []
        let start = base.isEmpty ? root : root + "/" + base
        do throws(Errno) {
            try walk(dir: start, rel: base, prefix: prefix, into: &out)
        } catch where error == .noEntry || error == .notDirectory {
            return []
        }
        out.sort { $0.key < $1.key }
        return out
    }

    private func walk(dir: String, rel: String, prefix: String, into out: inout [ObjectInfo]) throws(Errno) {
        for e in try Sys.listDirectoryTyped(dir) {
            if rel.isEmpty && e.name.hasPrefix(".") { continue }      // .tmp and friends
            let key = rel.isEmpty ? e.name : rel + "/" + e.name
            // Prune subtrees that cannot match.
            if !key.hasPrefix(prefix) && !prefix.hasPrefix(key + "/") { continue }
            let full = dir + "/" + e.name
            var type = e.type
            var size = -1
            var modified: Int64 = 0
            if type == UInt8(DT_UNKNOWN) || type == UInt8(DT_REG) {
                guard let st = try? Sys.lstat(full) else { continue }      // raced with a delete
                type = (st.st_mode & S_IFMT) == S_IFDIR ? UInt8(DT_DIR) : (st.st_mode & S_IFMT) == S_IFREG ? UInt8(DT_REG) : UInt8(DT_UNKNOWN)
                size = Int(st.st_size)
                modified = Int64(st.st_mtim.tv_sec)
            }
            if type == UInt8(DT_DIR) {
                do throws(Errno) { try walk(dir: full, rel: key, prefix: prefix, into: &out) } catch where error == .noEntry {}
            } else if type == UInt8(DT_REG) && key.hasPrefix(prefix) {
                out.append(ObjectInfo(key: key, size: size, modified: modified))
            }
        }
    }
}

/// Engine-internal fds are opened with `Sys.openPrivate` (moved above the application's
/// range and hidden from its close/dup2/close_range), so a multi-threaded application can
/// never close or reuse them under us.
///
/// close() whose result matters (NFS reports write errors there): 0 or the errno.
func hl_sys_close_checked(_ fd: Int32) -> Int32 {
    if hl_sys.close(fd) == 0 { return 0 }
    let e = Errno.current.rawValue
    return e == EINTR ? 0 : e
}

func parentDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

// MARK: memory

/// Objects in a dictionary (tests, ephemeral volumes).
public final class MemoryStore: ObjectStore, @unchecked Sendable {
    private let lock = Lock()
    private var objects: [String: [UInt8]] = [:]

    /// Each store its own name (`memory://N`): caches keyed by a store's description
    /// (PackCache) must never take one store's objects for another's.
    private static let numbers = Lock()
    nonisolated(unsafe) private static var last = 0
    public let description: String

    public init() {
        description = MemoryStore.numbers.withLock { MemoryStore.last += 1; return "memory://\(MemoryStore.last)" }
    }
    public var count: Int { lock.withLock { objects.count } }

    public func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) {
        try validateKey(key)
        let bytes = [UInt8](data)
        lock.withLock { objects[key] = bytes }
    }
    public func get(_ key: String) throws(Errno) -> [UInt8] {
        try validateKey(key)
        guard let b = lock.withLock({ objects[key] }) else { throw Errno.noEntry }
        return b
    }
    public func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        guard offset >= 0, length >= 0 else { throw Errno.invalid }
        let b = try get(key)
        let lo = min(offset, b.count), hi = min(b.count, lo + min(length, b.count))
        return Array(b[lo..<hi])
    }
    public func delete(_ key: String) throws(Errno) {
        try validateKey(key)
        _ = lock.withLock { objects.removeValue(forKey: key) }
    }
    public func head(_ key: String) throws(Errno) -> Int? {
        try validateKey(key)
        return lock.withLock { objects[key]?.count }
    }
    public func list(prefix: String) throws(Errno) -> [ObjectInfo] {
        lock.withLock { objects.filter { $0.key.hasPrefix(prefix) }.map { ObjectInfo(key: $0.key, size: $0.value.count) } }
            .sorted { $0.key < $1.key }
    }
}

// MARK: fault injection

/// Wraps a store and injects failures (tests). Counters count calls that reached the
/// wrapped store.
public final class FaultyStore: ObjectStore, @unchecked Sendable {
    public let inner: ObjectStore
    private let lock = Lock()
    private var putFailures: (skip: Int, count: Int, errno: Errno) = (0, 0, .io)
    private var getFailures: (skip: Int, count: Int, errno: Errno) = (0, 0, .io)
    private var corruptGetsLeft = 0
    private var dropPutsLeft = 0
    private var counters = (puts: 0, gets: 0, deletes: 0)
    private var getDelay = 0.0

    public init(wrapping inner: ObjectStore) { self.inner = inner }
    public var description: String { "faulty(\(inner.description))" }

    /// After `after` more successful puts, fail the next `count` puts with `errno`.
    public func failPuts(next count: Int, with errno: Errno = .io, after: Int = 0) {
        lock.withLock { putFailures = (after, count, errno) }
    }
    /// After `after` more successful gets, fail the next `count` gets with `errno`.
    public func failGets(next count: Int, with errno: Errno = .io, after: Int = 0) {
        lock.withLock { getFailures = (after, count, errno) }
    }
    /// Flip one bit in the middle of the data returned by the next `count` gets.
    public func corruptGets(next count: Int) { lock.withLock { corruptGetsLeft = count } }
    /// The next `count` puts report success but store nothing (lost writes).
    public func dropPuts(next count: Int) { lock.withLock { dropPutsLeft = count } }
    /// Every get from now on takes `seconds` longer (a slow store).
    public func delayGets(seconds: Double) { lock.withLock { getDelay = seconds } }
    /// Remove an object behind the caller's back.
    public func drop(_ key: String) { try? inner.delete(key) }

    public var putCount: Int { lock.withLock { counters.puts } }
    public var getCount: Int { lock.withLock { counters.gets } }
    public var deleteCount: Int { lock.withLock { counters.deletes } }
    public func resetCounters() { lock.withLock { counters = (0, 0, 0) } }

    private enum Action { case pass, fail(Errno), drop, corrupt }

    private func decide(put: Bool) -> Action {
        lock.withLock {
            if put {
                if putFailures.count > 0 {
                    if putFailures.skip > 0 { putFailures.skip -= 1 } else { putFailures.count -= 1; return .fail(putFailures.errno) }
                }
                if dropPutsLeft > 0 { dropPutsLeft -= 1; return .drop }
                counters.puts += 1
                return .pass
            } else {
                if getFailures.count > 0 {
                    if getFailures.skip > 0 { getFailures.skip -= 1 } else { getFailures.count -= 1; return .fail(getFailures.errno) }
                }
                counters.gets += 1
                if getDelay > 0 { usleep(UInt32(getDelay * 1e6)) }
                if corruptGetsLeft > 0 { corruptGetsLeft -= 1; return .corrupt }
                return .pass
            }
        }
    }

    public func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) {
        switch decide(put: true) {
        case .fail(let e): throw e
        case .drop: return
        default: try inner.put(key, data)
        }
    }
    public func get(_ key: String) throws(Errno) -> [UInt8] {
        switch decide(put: false) {
        case .fail(let e): throw e
        case .corrupt:
            var b = try inner.get(key)
            if !b.isEmpty { b[b.count / 2] ^= 0x10 }
            return b
        default: return try inner.get(key)
        }
    }
    public func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        switch decide(put: false) {
        case .fail(let e): throw e
        case .corrupt:
            let n = try inner.get(key, into: buffer)
            if n > 0 { buffer[n / 2] ^= 0x10 }
            return n
        default: return try inner.get(key, into: buffer)
        }
    }
    public func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        switch decide(put: false) {
        case .fail(let e): throw e
        case .corrupt:
            var b = try inner.getRange(key, offset: offset, length: length)
            if !b.isEmpty { b[b.count / 2] ^= 0x10 }
            return b
        default: return try inner.getRange(key, offset: offset, length: length)
        }
    }
    public func delete(_ key: String) throws(Errno) {
        lock.withLock { counters.deletes += 1 }
        try inner.delete(key)
    }
    public func head(_ key: String) throws(Errno) -> Int? { try inner.head(key) }
    public func list(prefix: String) throws(Errno) -> [ObjectInfo] { try inner.list(prefix: prefix) }
    public var concurrency: Int { inner.concurrency }
    public func afterForkInChild() { lock.reinitialize(); inner.afterForkInChild() }
    public func removeStaleTemporaries(olderThan seconds: Int64) -> (files: Int, bytes: Int64) {
        inner.removeStaleTemporaries(olderThan: seconds)
    }
}
