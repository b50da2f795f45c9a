import HilbertSupport

/// Whole-volume views of the object references, for maintenance (gc, status). These read a
/// consistent snapshot each; none of them is on an engine hot path.
extension MetaStore {
    /// The next object id to be handed out (`next_object`): every id the volume ever
    /// allocated is below it.
    public func nextObjectID() throws(Errno) -> UInt64 {
        try read { () throws(Errno) -> UInt64 in UInt64(bitPattern: try counter("next_object")) }
    }

    /// Call `body` with every object id hl_block references (holes excluded), in ascending
    /// order, from one read snapshot. Streams: SQLite sorts (spilling to its temporary files
    /// when large), nothing is collected here. An id appears once per referencing row (an
    /// object belongs to one block, so once).
    public func forEachReferencedObjectID(_ body: (UInt64) -> Void) throws(Errno) {
        try read { () throws(Errno) in try backend.forEachReferencedObjectID(body) }
    }

    /// Rows of hl_delobj (objects released but not yet deleted from the store), their stored
    /// bytes, and those whose deletion is deferred (not due yet).
    public func pendingDeletionTotals() throws(Errno) -> PendingDeletionTotals {
        try read { () throws(Errno) -> PendingDeletionTotals in try backend.deletedObjectTotals(now: Timespec.now().sec) }
    }

    /// Rows of hl_staging (node-local files with uncommitted data).
    public func stagingCount() throws(Errno) -> Int {
        try read { () throws(Errno) -> Int in try backend.stagingRowCount() }
    }
}
