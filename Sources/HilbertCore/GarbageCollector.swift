import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// Finds objects in a volume's store that no metadata references (leaked by crashed
/// commits, failed deletions or foreign writers) and, when asked, deletes them; also
/// finishes the volume's pending deletions (hl_delobj). Works on any `ObjectStore`.
///
/// Safety rules (see docs/FORMAT.md, "Maintenance"):
/// - the store is listed *before* the metadata is read, so an object committed meanwhile is
///   seen as referenced;
/// - an in-flight commit uploads its objects before its transaction references them; their
///   ids are registered in hl_upload first (read after the listing), so they are never
///   deleted, whatever the grace, until the commit is done or abandoned (silent for
///   `uploadSilenceSeconds`, or its process gone on this node);
/// - an object modified within the grace period (or of unknown age) is never deleted;
/// - ids at or above `next_object` (read after the listing) were never handed out by this
///   volume, and keys that are not object keys are not ours: both are only reported, and
///   deleted only with `deleteForeign`;
/// - a pending deletion whose object is still referenced is left alone (and reported).
public final class GarbageCollector {
    public let meta: MetaStore
    public let store: ObjectStore
    public var options: GCOptions
    /// Progress lines for long runs (the CLI sends them to stderr).
    public var progress: (String) -> Void = { _ in }
    /// Every object classified as something other than referenced (for -v).
    public var onObject: (GCClass, String, Int) -> Void = { _, _, _ in }

    public init(meta: MetaStore, store: ObjectStore, options: GCOptions = GCOptions()) {
        self.meta = meta
        self.store = store
        self.options = options
    }

    /// One listed block object, compact (the listing of a large volume is millions of these).
    struct Listed {
        var id: UInt64
        var size: Int
        var modified: Int64
        var referenced = false
        var pending = false
    }

    public func run() throws(HilbertError) -> GCReport {
        var r = GCReport()
        let now = options.now ?? currentTime()
        // 1. The listing first (see the safety rules).
        var (listed, foreign) = try listObjects(&r)
        // 2. Then the metadata: counter, references, pending deletions, staging.
        var missing = Set<UInt64>()
        var keep = Set<UInt64>()
        var uploading: [UploadBatch] = []
        var abandoned = Set<UInt64>()
        do throws(Errno) {
            (uploading, abandoned) = try uploadsInProgress(now)
            r.nextObject = try meta.nextObjectID()
            try markReferenced(&listed, &r, &missing)
            try markPending(&listed, &r, missing, &keep)
            r.staging = try meta.stagingCount()
        } catch {
            throw HilbertError(error, "cannot read the metadata of \(meta.path): \(meta.lastError?.message ?? "\(error)")")
        }
        // An empty listing of a volume with data: the wrong bucket, or a file system that is
        // not mounted. Deleting (and forgetting pending deletions) then would be wrong.
        if options.delete && r.referenced.count == 0 && r.missing > 0 {
            throw HilbertError(.io, "the object store \(store.description) holds none of the \(r.missing) objects the metadata references (wrong location, or not mounted?): nothing deleted")
        }
        // 3. Classify what nothing references.
        var doomed: [(key: String, size: Int)] = []
        let cutoff = now - options.graceSeconds
        func isRecent(_ modified: Int64) -> Bool {
            options.graceSeconds > 0 && (modified == 0 || modified > cutoff)
        }
        for o in listed where !o.referenced && !o.pending {
            let key = objectKey(id: o.id)
            if uploading.contains(where: { $0.contains(o.id) }) {
                r.uploading.add(o.size)
                onObject(.uploading, key, o.size)
            } else if o.id >= r.nextObject {
                r.beyondCounter.add(o.size)
                onObject(.beyondCounter, key, o.size)
                if options.deleteForeign && !isRecent(o.modified) { doomed.append((key, o.size)) }
            } else if isRecent(o.modified) {
                r.recent.add(o.size)
                onObject(.recent, key, o.size)
            } else {
                r.leaked.add(o.size)
                onObject(.leaked, key, o.size)
                if options.delete { doomed.append((key, o.size)) }
            }
        }
        listed = []
        for o in foreign {
            r.foreign.add(o.size)
            onObject(.foreign, o.key, o.size)
            if options.deleteForeign && !isRecent(o.modified) { doomed.append((o.key, o.size)) }
        }
        foreign = []
        // 4. Delete.
        guard options.delete else { return r }
        deleteObjects(doomed, &r)
        if r.error == nil { finishPendingDeletions(keep, &r) }
        if r.error == nil {
            for commit in abandoned where (try? meta.finishUpload(commit: commit)) != nil { r.abandonedUploads += 1 }
            let t = store.removeStaleTemporaries(olderThan: options.uploadSilenceSeconds)
            r.staleTemporaries.count = t.files
            r.staleTemporaries.bytes = UInt64(t.bytes)
        }
        return r
    }

    /// The batches of ids of commits still uploading, and the keys of abandoned commits
    /// (registered on this node by a process that is gone, or elsewhere and silent for
    /// `uploadSilenceSeconds`): their objects are leaked like any other.
    private func uploadsInProgress(_ now: Int64) throws(Errno) -> ([UploadBatch], Set<UInt64>) {
        let batches = try meta.uploadsInProgress()
        var abandoned = Set<UInt64>()
        for b in batches {
            // On this node the process itself tells; elsewhere only silence can.
            if let owner = StagingOwner(record: b.owner), owner.onThisNode {
                if owner.processGone { abandoned.insert(b.commit) }
            } else if now - b.touched >= options.uploadSilenceSeconds {
                abandoned.insert(b.commit)
            }
        }
        return (batches.filter { !abandoned.contains($0.commit) }, abandoned)
    }

    private func listObjects(_ r: inout GCReport) throws(HilbertError) -> ([Listed], [ObjectInfo]) {
        progress("gc: listing \(store.description) chunks/")
        // Page by page: a bucket of many millions of objects is condensed as it is listed.
        var listed: [Listed] = []
        var foreign: [ObjectInfo] = []
        var count = 0
        var nextReport = 100_000
        DataErrors.last = nil
        do throws(Errno) {
            try store.listPages(prefix: "chunks/") { (page: [ObjectInfo]) throws(Errno) in
                for o in page {
                    r.listed.add(o.size)
                    if let id = parseObjectKey(o.key) {
                        listed.append(Listed(id: id, size: o.size, modified: o.modified))
                    } else {
                        foreign.append(o)
                    }
                }
                count += page.count
                if count >= nextReport {
                    progress("gc: \(count) objects listed so far")
                    nextReport += 100_000
                }
            }
        } catch {
            let why = DataErrors.last?.message ?? "\(error)"
            throw HilbertError(error, "cannot list the object store \(store.description): \(why)")
        }
        listed.sort { $0.id < $1.id }
        progress("gc: \(count) objects listed")
        return (listed, foreign)
    }

    /// Merge the ascending referenced ids against the listing sorted by id.
    private func markReferenced(_ listed: inout [Listed], _ r: inout GCReport, _ missing: inout Set<UInt64>) throws(Errno) {
        var i = 0
        var last: UInt64 = 0
        var scanned = 0
        try meta.forEachReferencedObjectID { id in
            if id == last { return }
            last = id
            scanned += 1
            if scanned % options.progressObjects == 0 { progress("gc: \(scanned) references checked") }
            while i < listed.count && listed[i].id < id { i += 1 }
            if i < listed.count && listed[i].id == id {
                listed[i].referenced = true
                r.referenced.add(listed[i].size)
            } else {
                r.missing += 1
                missing.insert(id)
                onObject(.missing, objectKey(id: id), 0)
            }
        }
    }

    /// Mark listed objects pending deletion; `keep` gets the rows whose object is referenced.
    private func markPending(_ listed: inout [Listed], _ r: inout GCReport, _ missing: Set<UInt64>,
                             _ keep: inout Set<UInt64>) throws(Errno) {
        var after: UInt64 = 0
        while true {
            let page = try meta.pendingDeletions(after: after, limit: options.pageSize)
            for d in page {
                r.pendingRows += 1
                if let i = find(listed, d.objectID) {
                    if listed[i].referenced { r.pendingReferenced += 1; keep.insert(d.objectID); continue }
                    listed[i].pending = true
                    r.pendingListed.add(listed[i].size)
                } else if missing.contains(d.objectID) {
                    r.pendingReferenced += 1
                    keep.insert(d.objectID)
                }
            }
            guard let l = page.last, page.count == options.pageSize else { return }
            after = l.objectID
        }
    }

    private func find(_ listed: [Listed], _ id: UInt64) -> Int? {
        var lo = 0, hi = listed.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if listed[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < listed.count && listed[lo].id == id ? lo : nil
    }

    private func deleteObjects(_ doomed: [(key: String, size: Int)], _ r: inout GCReport) {
        var ticker = ProgressTicker(everyObjects: options.progressObjects, everySeconds: options.progressSeconds)
        var start = 0
        while start < doomed.count {
            let batch = doomed[start..<min(doomed.count, start + options.batchSize)]
            do throws(Errno) { try store.delete(keys: batch.map { $0.key }) } catch {
                r.error = "deleting objects from \(store.description) failed: \(error) (\(r.deleted.count) of \(doomed.count) deleted; run gc again)"
                return
            }
            for o in batch { r.deleted.add(o.size) }
            start += batch.count
            if ticker.due(start) { progress("gc: deleted \(start) of \(doomed.count) objects (\(r.deleted.bytes) bytes)") }
        }
    }

    /// Delete the objects of hl_delobj rows (missing objects are success) and forget the rows;
    /// rows whose object the metadata snapshot showed referenced (`keep`) stay.
    private func finishPendingDeletions(_ keep: Set<UInt64>, _ r: inout GCReport) {
        var ticker = ProgressTicker(everyObjects: options.progressObjects, everySeconds: options.progressSeconds)
        var after: UInt64 = 0
        var done = 0
        while true {
            let page: [DeletedObject]
            // Rows not yet due stay (deferred deletion: readers of the version may still fetch them).
            do throws(Errno) { page = try meta.pendingDeletions(after: after, limit: options.batchSize, dueBy: Timespec.now().sec) } catch {
                r.error = "reading pending deletions failed: \(meta.lastError?.message ?? "\(error)")"
                return
            }
            guard let last = page.last else { return }
            after = last.objectID
            let free = page.map { $0.objectID }.filter { !keep.contains($0) }
            do throws(Errno) {
                try store.delete(keys: free.map { objectKey(id: $0) })
            } catch {
                r.error = "deleting pending objects from \(store.description) failed: \(error) (run gc again)"
                return
            }
            do throws(Errno) { try meta.forgetDeletions(free) } catch {
                r.error = "forgetting deleted objects failed: \(meta.lastError?.message ?? "\(error)") (run gc again)"
                return
            }
            r.forgotten += free.count
            done += page.count
            if ticker.due(done) { progress("gc: \(done) pending deletions processed") }
            if page.count < options.batchSize { return }
        }
    }

    private func currentTime() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}

/// Says when a progress line is due: every `everyObjects` objects or `everySeconds` seconds.
struct ProgressTicker {
    let everyObjects: Int
    let everySeconds: Int
    private var lastCount = 0
    private var lastTime = hl_monotonic_ns()

    init(everyObjects: Int, everySeconds: Int) {
        self.everyObjects = max(everyObjects, 1)
        self.everySeconds = everySeconds
    }

    mutating func due(_ count: Int) -> Bool {
        let t = hl_monotonic_ns()
        if count - lastCount >= everyObjects || t &- lastTime >= UInt64(everySeconds) * 1_000_000_000 {
            lastCount = count
            lastTime = t
            return true
        }
        return false
    }
}
