import Glibc
import HilbertSupport

/// The object store seen through a site tier (SiteTier): reads of data objects are served by
/// the tier's copy, or fetched from `inner` once for the whole site and kept there. A ranged
/// read of an object that is not in the tier fetches the whole object into it (objects are at
/// most 64 MiB), so the next node's read of any part of it stays on the site. Writes go to
/// `inner` only (a block enters the tier when some node first reads it); deletes drop the
/// tier's copy too. Everything else is `inner`'s.
public final class SiteTierStore: ForwardingStore, @unchecked Sendable {
    public let tier: SiteTier

    public init(_ inner: ObjectStore, tier: SiteTier) {
        self.tier = tier
        super.init(inner)
    }

    public override func get(_ key: String) throws(Errno) -> [UInt8] {
        guard SiteTier.holds(key) else { return try inner.get(key) }
        return try tier.fill(key) { () throws(Errno) -> [UInt8] in try inner.get(key) }.bytes
    }

    public override func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard SiteTier.holds(key) else { return try inner.get(key, into: buffer) }
        if let fd = tier.openCopy(key) {
            defer { Sys.closePrivate(fd) }
            if let st = try? Sys.fstat(fd) {
                guard Int(st.st_size) <= buffer.count else { throw Errno.range }
                if let n = try? Sys.preadFully(fd, buffer.baseAddress!, Int(st.st_size), 0), n == Int(st.st_size) { return n }
            }
        }
        return try copyObject(try get(key), into: buffer)
    }

    public override func getRange(_ key: String, offset: Int, length: Int) throws(Errno) -> [UInt8] {
        guard SiteTier.holds(key) else { return try inner.getRange(key, offset: offset, length: length) }
        if let fd = tier.openCopy(key) {
            defer { Sys.closePrivate(fd) }
            if let bytes = try? Sys.preadBytes(fd, count: length, offset: Int64(offset)) { return bytes }
        }
        let whole = try get(key)
        guard offset < whole.count else { return [] }
        return Array(whole[offset..<min(whole.count, offset + length)])
    }

    public override func delete(_ key: String) throws(Errno) {
        try inner.delete(key)
        if SiteTier.holds(key) { tier.drop(key) }
    }

    public override func delete(keys: [String]) throws(Errno) {
        try inner.delete(keys: keys)
        for k in keys where SiteTier.holds(k) { tier.drop(k) }
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

    public override func dropCachedCopy(_ key: String) -> Bool { tier.drop(key) }
    public override var siteTierStore: SiteTierStore? { self }
}
