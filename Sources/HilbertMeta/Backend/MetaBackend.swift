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
}
