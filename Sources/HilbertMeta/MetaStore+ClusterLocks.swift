import HilbertSupport

// Cluster locks: the policy (SEMANTICS.md, "Locks between nodes"; docs/FORMAT.md, "hl_lock").
//
// On a volume shared between nodes, a lock the shim took on the node-local lock file is also
// recorded here, as a lease, so that it excludes the processes of other nodes. Processes of
// one node (one lock domain: the node and its cache directory) are arbitrated by the kernel
// locks of that node alone, so rows of the same domain never conflict here: only one process
// of a node competes in the cluster for an exclusive lock. Conflict rules, as on Linux:
// flock locks and record locks (POSIX and OFD, one family) do not interact; two read locks
// are compatible; record locks conflict only where their byte ranges overlap; flock locks
// cover the whole file. A row whose lease expired (server clock) counts as gone.

/// Which family a lock belongs to (flock and fcntl record locks do not interact on Linux).
public enum ClusterLockKind: Int64, Sendable {
    case flock = 1
    /// POSIX (process-owned) and OFD (description-owned) record locks.
    case record = 2
}

/// A locked byte range [lo, hi) of one owner; `hi == Int64.max`: to the end of the file
/// (and past it). flock locks are [0, Int64.max).
public struct ClusterLockRange: Equatable, Sendable {
    public var write: Bool
    public var lo: Int64
    public var hi: Int64
    public init(write: Bool, lo: Int64, hi: Int64) { self.write = write; self.lo = lo; self.hi = hi }

    public static let wholeFile: (lo: Int64, hi: Int64) = (0, Int64.max)

    public func overlaps(_ lo: Int64, _ hi: Int64) -> Bool { self.lo < hi && lo < self.hi }

    /// The ranges `set` (one owner's, disjoint) after locking [lo, hi) for `write` (nil:
    /// unlocking it): the part of every range inside [lo, hi) is replaced, as fcntl does.
    /// Adjacent ranges of one type are merged.
    public static func apply(_ set: [ClusterLockRange], lo: Int64, hi: Int64, write: Bool?) -> [ClusterLockRange] {
        var out: [ClusterLockRange] = []
        for r in set {
            if !r.overlaps(lo, hi) { out.append(r); continue }
            if r.lo < lo { out.append(ClusterLockRange(write: r.write, lo: r.lo, hi: lo)) }
            if r.hi > hi { out.append(ClusterLockRange(write: r.write, lo: hi, hi: r.hi)) }
        }
        if let write { out.append(ClusterLockRange(write: write, lo: lo, hi: hi)) }
        out.sort { $0.lo < $1.lo }
        var merged: [ClusterLockRange] = []
        for r in out {
            if let last = merged.last, last.write == r.write, last.hi == r.lo {
                merged[merged.count - 1].hi = r.hi
            } else {
                merged.append(r)
            }
        }
        return merged
    }
}

/// Who holds a row: the lock domain (a node's cache directory: processes of one domain are
/// arbitrated by that node's kernel locks), the process (renews and releases its rows), and
/// the process's lock descriptor (an open file description for flock/OFD locks, the
/// process's per-inode record-lock descriptor for POSIX locks).
public struct ClusterLockOwner: Hashable, Sendable {
    public var domain: String
    public var proc: String
    public var handle: Int64
    public init(domain: String, proc: String, handle: Int64) { self.domain = domain; self.proc = proc; self.handle = handle }
}

/// One stored row.
public struct ClusterLockRow: Sendable {
    public var owner: ClusterLockOwner
    public var kind: ClusterLockKind
    public var range: ClusterLockRange
    public var expiresMs: Int64
}

/// A lock of another node that conflicts with a request (F_GETLK reports it).
public struct ClusterLockConflict: Equatable, Sendable {
    public var range: ClusterLockRange
}

extension MetaStore {
    /// Whether this volume's locks must be recorded in the metadata (PostgreSQL: several
    /// nodes share it). False for SQLite, which then never sees a lock call.
    public var sharedBetweenNodes: Bool { backend.sharedBetweenNodes }

    /// The first live row of another domain that conflicts with `want` of `kind`.
    static func conflict(_ rows: [ClusterLockRow], nowMs: Int64, domain: String, kind: ClusterLockKind,
                         want: ClusterLockRange) -> ClusterLockConflict? {
        for r in rows where r.kind == kind && r.owner.domain != domain && r.expiresMs >= nowMs {
            if (r.range.write || want.write) && r.range.overlaps(want.lo, want.hi) {
                return ClusterLockConflict(range: r.range)
            }
        }
        return nil
    }

    /// A conflicting lock of another node, looked up in a read transaction (no write lock:
    /// waiters poll with this, so they do not queue behind the volume's writers).
    public func clusterLockConflict(_ ino: Ino, domain: String, kind: ClusterLockKind,
                                    want: ClusterLockRange) throws(Errno) -> ClusterLockConflict? {
        try read { () throws(Errno) -> ClusterLockConflict? in
            let (now, rows) = try backend.clusterLockRows(ino)
            return MetaStore.conflict(rows, nowMs: now, domain: domain, kind: kind, want: want)
        }
    }

    /// Take `want` for `owner`: in one write transaction (writers of a volume commit one at a
    /// time, so the check and the insert are atomic across nodes), the conflicting lock of
    /// another node when there is one (nothing changes); else the owner's rows of `kind` on
    /// `ino` become `ranges` (its ranges with `want` applied), leased for `ttlMs`, and the
    /// expired rows of `ino` go.
    public func clusterLockTake(_ ino: Ino, owner: ClusterLockOwner, kind: ClusterLockKind, want: ClusterLockRange,
                                ranges: [ClusterLockRange], ttlMs: Int64) throws(Errno) -> ClusterLockConflict? {
        try write { () throws(Errno) -> ClusterLockConflict? in
            let (now, rows) = try backend.clusterLockRows(ino)
            if let c = MetaStore.conflict(rows, nowMs: now, domain: owner.domain, kind: kind, want: want) { return c }
            if rows.contains(where: { $0.expiresMs < now }) { try backend.deleteExpiredClusterLocks(ino, nowMs: now) }
            try backend.putClusterLockRows(ino, owner: owner, kind: kind, ranges, expiresMs: now + ttlMs)
            return nil
        }
    }

    /// The owner's rows of `kind` on `ino` become `ranges` without a check (an unlock, or a
    /// downgrade); none: they go.
    public func clusterLockSet(_ ino: Ino, owner: ClusterLockOwner, kind: ClusterLockKind, ranges: [ClusterLockRange],
                               ttlMs: Int64) throws(Errno) {
        if ranges.isEmpty {
            // One statement: no transaction, no write lock.
            lock.lock(); defer { lock.unlock() }
            try backend.putClusterLockRows(ino, owner: owner, kind: kind, [], expiresMs: 0)
            return
        }
        try write { () throws(Errno) in
            let (now, _) = try backend.clusterLockRows(ino)
            try backend.putClusterLockRows(ino, owner: owner, kind: kind, ranges, expiresMs: now + ttlMs)
        }
    }

    /// Delete the rows of process `proc`: all, or those on `ino` with `handle`.
    public func clusterLockRelease(proc: String, ino: Ino? = nil, handle: Int64? = nil) throws(Errno) {
        lock.lock(); defer { lock.unlock() }
        try backend.deleteClusterLocks(proc: proc, ino: ino, handle: handle)
    }

    /// Extend the leases of every row of `proc` to `ttlMs` from now; how many it has.
    public func clusterLockRenew(proc: String, ttlMs: Int64) throws(Errno) -> Int {
        lock.lock(); defer { lock.unlock() }
        return try backend.renewClusterLocks(proc: proc, ttlMs: ttlMs)
    }
}
