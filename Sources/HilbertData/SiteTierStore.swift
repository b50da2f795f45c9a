import Glibc
import HilbertSupport

/// The object store seen through a site tier (SiteTier): reads of data objects are served by
/// the tier's copy, or fetched from `inner` once for the whole site and kept there. A ranged
/// read of an object that is not in the tier fetches the whole object into it (objects are at
/// most 64 MiB), so the next node's read of any part of it stays on the site. Writes go to
/// `inner` only (a block enters the tier when some node first reads it); deletes drop the
/// tier's copy too. Everything else is `inner`'s.
public final class SiteTierStore: ObjectStore, @unchecked Sendable {
    public let inner: ObjectStore
    public let tier: SiteTier

    public init(_ inner: ObjectStore, tier: SiteTier) {
        self.inner = inner
        self.tier = tier
    }

    public var description: String { inner.description }
    public var concurrency: Int { inner.concurrency }

    public func put(_ key: String, _ data: UnsafeRawBufferPointer) throws(Errno) { try inner.put(key, data) }

    public func get(_ key: String) throws(Errno) -> [UInt8] {
        guard SiteTier.holds(key) else { return try inner.get(key) }
        return try tier.fill(key) { () throws(Errno) -> [UInt8] in try inner.get(key) }.bytes
    }

    public func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard SiteTier.holds(key) else { return try inner.get(key, into: buffer) }
        if let fd = tier.openCopy(key) {
            defer { Sys.closePrivate(fd) }
            if let st = try? Sys.fstat(fd) {
                guard Int(st.st_size) <= buffer.count else { throw Errno.range }
                if let n = try? Sys.preadFully(fd, buffer.baseAddress!, Int(st.st_size), 0), n == Int(st.st_size) { return n }
            }
        }
        let bytes = try get(key)
        guard bytes.count <= buffer.count else { throw Errno.range }
        if !bytes.isEmpty { bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        return bytes.count
    }

    public func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        guard SiteTier.holds(key) else { return try inner.getRange(key, offset: offset, length: length) }
        if let fd = tier.openCopy(key) {
            defer { Sys.closePrivate(fd) }
            if let bytes = try? Sys.preadBytes(fd, count: length, offset: Int64(offset)) { return bytes }
        }
        let whole = try get(key)
        guard offset < whole.count else { return [] }
        return Array(whole[offset..<min(whole.count, offset + length)])
    }

    public func delete(_ key: String) throws(Errno) {
        try inner.delete(key)
        if SiteTier.holds(key) { tier.drop(key) }
    }

    public func delete(keys: [String]) throws(Errno) {
        try inner.delete(keys: keys)
        for k in keys where SiteTier.holds(k) { tier.drop(k) }
    }

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

    /// Put object `key` into the tier without reading it here (`hilbert warmup --site`); a copy
    /// already there is marked as used. Returns whether it was fetched.
    public func warm(_ key: String) throws(Errno) -> Bool {
        if let fd = tier.openCopy(key) {
            Sys.closePrivate(fd)
            return false
        }
        return try tier.fill(key) { () throws(Errno) -> [UInt8] in try inner.get(key) }.fetched
    }

    public func dropCachedCopy(_ key: String) -> Bool { tier.drop(key) }

    public var siteTierStore: SiteTierStore? { self }
    public var hasStorageClasses: Bool { inner.hasStorageClasses }
    public func storageClass(_ key: String) throws(Errno) -> (name: String, size: Int)? { try inner.storageClass(key) }
    public func changeStorageClass(_ key: String, to name: String) throws(Errno) { try inner.changeStorageClass(key, to: name) }
}
