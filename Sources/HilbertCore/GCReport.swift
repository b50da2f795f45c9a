/// Settings of one garbage collection run.
public struct GCOptions: Sendable {
    /// Delete leaked objects and finish pending deletions (otherwise: report only).
    public var delete = false
    /// Also delete keys under chunks/ that are not object keys of this volume, and objects
    /// with ids at or above next_object (with `delete`; the grace period still applies).
    public var deleteForeign = false
    /// Objects modified less than this many seconds ago are never deleted.
    public var graceSeconds: Int64 = 3600
    /// A commit's upload (hl_upload) silent for this long, or whose process is gone on this
    /// node, is abandoned: its objects are leaked, its rows forgotten. Also the age at which a
    /// directory store's `.tmp/` leftover counts as a killed put's. Longer than one batch of
    /// block uploads can take, retries included.
    public var uploadSilenceSeconds: Int64 = 3600
    /// The current time in seconds since the epoch (nil: the clock; tests set it).
    public var now: Int64?
    /// Keys per `delete(keys:)` call.
    public var batchSize = 1000
    /// Rows per page when reading pending deletions.
    public var pageSize = 10_000
    /// A progress line every this many objects or seconds.
    public var progressObjects = 100_000
    public var progressSeconds = 5
    public init() {}
}

/// A number of objects and their bytes.
public struct ObjectTally: Equatable, Sendable, CustomStringConvertible {
    public var count = 0
    public var bytes: UInt64 = 0
    public init() {}
    mutating func add(_ size: Int) {
        count += 1
        bytes += UInt64(max(size, 0))
    }
    public var description: String { "\(count) objects, \(bytes) bytes" }
}

/// How gc classified an object that is not simply referenced.
public enum GCClass: String, Sendable {
    /// No metadata references it, older than the grace period: garbage.
    case leaked
    /// Unreferenced but modified within the grace period (or of unknown age): kept.
    case recent
    /// Allocated to a commit still uploading (hl_upload): kept whatever the grace.
    case uploading
    /// Id at or above next_object: not allocated by this volume. Kept unless deleteForeign.
    case beyondCounter = "beyond-counter"
    /// Under chunks/ but not an object key. Kept unless deleteForeign.
    case foreign
    /// Referenced by the metadata but not in the listing (written after it, or lost).
    case missing
}

/// What a run found and did.
public struct GCReport: Equatable, Sendable {
    /// Everything under chunks/.
    public var listed = ObjectTally()
    public var referenced = ObjectTally()
    public var leaked = ObjectTally()
    public var recent = ObjectTally()
    /// Objects of commits still uploading (hl_upload): never deleted, whatever the grace.
    public var uploading = ObjectTally()
    /// With delete: abandoned uploads forgotten, and leftovers of killed puts removed.
    public var abandonedUploads = 0
    public var staleTemporaries = ObjectTally()
    public var beyondCounter = ObjectTally()
    public var foreign = ObjectTally()
    /// Listed objects that hl_delobj says to delete.
    public var pendingListed = ObjectTally()
    /// hl_delobj rows, and those among them whose object is still referenced (left alone).
    public var pendingRows = 0
    public var pendingReferenced = 0
    /// Referenced ids not found in the listing.
    public var missing = 0
    /// hl_staging rows (not gc's business: `hilbert flush` commits them).
    public var staging = 0
    public var nextObject: UInt64 = 0
    /// With delete: objects deleted, and hl_delobj rows forgotten after deleting their objects.
    public var deleted = ObjectTally()
    public var forgotten = 0
    /// Why deleting stopped early (the run is safe to repeat).
    public var error: String?
    public init() {}
}
