import Glibc
import HilbertSupport

/// The object store as a node sees it with its pack copies (CacheDirectory.installPackCopy):
/// whole and ranged reads of a pack this node keeps are served from the copy; everything else,
/// and packs not kept, go to `inner` (the site tier, then the store). Small files in packs are
/// read this way (fetchBlock, PackCache, PackReader), so after `hilbert warmup` they are read
/// without the store and without a read copy per file. Whole blocks (`get(_:into:)`) go to
/// `inner` straight away.
public final class PackCopyStore: ForwardingStore, @unchecked Sendable {
    public let cache: CacheDirectory

    public init(_ inner: ObjectStore, cache: CacheDirectory) {
        self.cache = cache
        super.init(inner)
    }

    private func copy(_ key: String) -> Int32? {
        guard let id = parseObjectKey(key) else { return nil }
        return cache.openPackCopy(id: id)
    }

    public override func get(_ key: String) throws(Errno) -> [UInt8] {
        if let fd = copy(key) {
            defer { Sys.closePrivate(fd) }
            if let st = try? Sys.fstat(fd), let bytes = try? Sys.preadBytes(fd, count: Int(st.st_size), offset: 0) { return bytes }
        }
        return try inner.get(key)
    }

    public override func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        if let fd = copy(key) {
            defer { Sys.closePrivate(fd) }
            if let bytes = try? Sys.preadBytes(fd, count: length, offset: Int64(offset)) { return bytes }
        }
        return try inner.getRange(key, offset: offset, length: length)
    }

    /// A damaged copy (of this node's, or the site's) is dropped.
    public override func dropCachedCopy(_ key: String) -> Bool {
        var dropped = false
        if let id = parseObjectKey(key), (try? Sys.lstat(cache.packCopyPath(id: id))) != nil {
            cache.removePackCopy(id: id)
            dropped = true
        }
        return inner.dropCachedCopy(key) || dropped
    }
}
