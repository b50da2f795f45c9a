import Glibc
import HilbertSupport

/// The object store as a node sees it with its pack copies (CacheDirectory.installPackCopy):
/// whole and ranged reads of a pack this node keeps are served from the copy; everything else,
/// and packs not kept, go to `inner` (the site tier, then the store). Small files in packs are
/// read this way (fetchBlock, PackCache, PackReader), so after `hilbert warmup` they are read
/// without the store and without a read copy per file.
public final class PackCopyStore: ObjectStore, @unchecked Sendable {
    public let inner: ObjectStore
    public let cache: CacheDirectory

    public init(_ inner: ObjectStore, cache: CacheDirectory) {
        self.inner = inner
        self.cache = cache
    }

    public var description: String { inner.description }
    public var concurrency: Int { inner.concurrency }

    private func copy(_ key: String) -> Int32? {
        guard let id = parseObjectKey(key) else { return nil }
        return cache.openPackCopy(id: id)
    }

    public func get(_ key: String) throws(Errno) -> [UInt8] {
        if let fd = copy(key) {
            defer { Sys.closePrivate(fd) }
            if let st = try? Sys.fstat(fd), let bytes = try? Sys.preadBytes(fd, count: Int(st.st_size), offset: 0) { return bytes }
        }
        return try inner.get(key)
    }

    public func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        if let fd = copy(key) {
            defer { Sys.closePrivate(fd) }
            if let bytes = try? Sys.preadBytes(fd, count: length, offset: Int64(offset)) { return bytes }
        }
        return try inner.getRange(key, offset: offset, length: length)
    }

    /// Whole blocks (not packs) are read this way: straight to `inner`.
    public func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try inner.get(key, into: buffer)
    }

    public func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) { try inner.put(key, data) }
    public func delete(_ key: String) throws(Errno) { try inner.delete(key) }
    public func delete(keys: [String]) throws(Errno) { try inner.delete(keys: keys) }
    public func head(_ key: String) throws(Errno) -> Int? { try inner.head(key) }
    public func list(prefix: String) throws(Errno) -> [ObjectInfo] { try inner.list(prefix: prefix) }
    public func listPages(prefix: String, _ body: ([ObjectInfo]) throws(Errno) -> Void) throws(Errno) {
        try inner.listPages(prefix: prefix, body)
    }
    public func flush() throws(Errno) { try inner.flush() }
    public func afterForkInChild() { inner.afterForkInChild() }
    public func removeStaleTemporaries(olderThan seconds: Int64) -> (files: Int, bytes: Int64) {
        inner.removeStaleTemporaries(olderThan: seconds)
    }

    /// A damaged copy (of this node's, or the site's) is dropped.
    public func dropCachedCopy(_ key: String) -> Bool {
        var dropped = false
        if let id = parseObjectKey(key), (try? Sys.lstat(cache.packCopyPath(id: id))) != nil {
            cache.removePackCopy(id: id)
            dropped = true
        }
        return inner.dropCachedCopy(key) || dropped
    }

    public var siteTierStore: SiteTierStore? { inner.siteTierStore }
    public var hasStorageClasses: Bool { inner.hasStorageClasses }
    public func storageClass(_ key: String) throws(Errno) -> (name: String, size: Int)? { try inner.storageClass(key) }
    public func changeStorageClass(_ key: String, to name: String) throws(Errno) { try inner.changeStorageClass(key, to: name) }
}
