import HilbertSupport

/// What a metadata backend provides: rows stored and found, inside the transaction the policy
/// layer (`MetaStore`) has opened. Every rule — permissions, flags, limits, times, link counts —
/// is checked once, in `MetaStore`; a backend decides nothing. The groups move here one at a
/// time (docs/dev/metadata-backends.md); those not yet here are still SQL in `MetaStore`.
protocol MetaBackend: AnyObject {
    // MARK: extended attributes

    /// The value of `name` on `ino`, nil when it has none.
    func xattr(_ ino: Ino, _ name: [UInt8]) throws(Errno) -> [UInt8]?
    /// Create or replace.
    func putXattr(_ ino: Ino, _ name: [UInt8], _ value: [UInt8]) throws(Errno)
    /// Remove; false when there was none.
    func deleteXattr(_ ino: Ino, _ name: [UInt8]) throws(Errno) -> Bool
    /// The names on `ino`, in byte order.
    func xattrNames(_ ino: Ino) throws(Errno) -> [[UInt8]]
    /// Remove all of them (the node is being destroyed).
    func deleteXattrs(_ ino: Ino) throws(Errno)

    // MARK: symbolic links

    /// The target of symlink `ino`, nil when it has none.
    func symlinkTarget(_ ino: Ino) throws(Errno) -> [UInt8]?
    func putSymlinkTarget(_ ino: Ino, _ target: [UInt8]) throws(Errno)
    func deleteSymlinkTarget(_ ino: Ino) throws(Errno)

    // MARK: counters (inodes, bytes, next inode and object numbers)

    /// Add `delta` to the counter `name` and return its new value; EIO when there is no such
    /// counter (a damaged volume).
    func addToCounter(_ name: String, _ delta: Int64) throws(Errno) -> Int64
    /// The counter's value (0 when absent).
    func counterValue(_ name: String) throws(Errno) -> Int64
    /// Every counter.
    func allCounters() throws(Errno) -> [(name: String, value: Int64)]
}
