import HilbertSupport

/// An object store that hands every call to `inner`: the base of the stores that put a cache
/// in front of another (SiteTierStore, PackCopyStore), which override what they serve.
public class ForwardingStore: ObjectStore, @unchecked Sendable {
    public let inner: ObjectStore

    public init(_ inner: ObjectStore) { self.inner = inner }

    public var description: String { inner.description }
    public var concurrency: Int { inner.concurrency }
    public func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) { try inner.put(key, data) }
    public func get(_ key: String) throws(Errno) -> [UInt8] { try inner.get(key) }
    public func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try inner.get(key, into: buffer)
    }
    public func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        try inner.getRange(key, offset: offset, length: length)
    }
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
    public func dropCachedCopy(_ key: String) -> Bool { inner.dropCachedCopy(key) }
    public var siteTierStore: SiteTierStore? { inner.siteTierStore }
    public var hasStorageClasses: Bool { inner.hasStorageClasses }
    public func storageClass(_ key: String) throws(Errno) -> (name: String, size: Int)? { try inner.storageClass(key) }
    public func changeStorageClass(_ key: String, to name: String) throws(Errno) { try inner.changeStorageClass(key, to: name) }
}
