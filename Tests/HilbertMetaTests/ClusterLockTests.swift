import Testing
import HilbertSupport
@testable import HilbertMeta

/// The cluster lock policy (MetaStore+ClusterLocks.swift): fcntl's range arithmetic and the
/// conflict rules. The protocol end to end is t/cluster-locks.t.
@Suite struct ClusterLockTests {
    typealias R = ClusterLockRange
    let end = Int64.max

    @Test func rangesSplitAndMergeAsFcntlDoes() {
        var s = R.apply([], lo: 0, hi: 100, write: true)
        #expect(s == [R(write: true, lo: 0, hi: 100)])
        s = R.apply(s, lo: 40, hi: 60, write: false)           // a read lock inside: split in three
        #expect(s == [R(write: true, lo: 0, hi: 40), R(write: false, lo: 40, hi: 60), R(write: true, lo: 60, hi: 100)])
        s = R.apply(s, lo: 40, hi: 60, write: nil)             // unlock the middle
        #expect(s == [R(write: true, lo: 0, hi: 40), R(write: true, lo: 60, hi: 100)])
        s = R.apply(s, lo: 40, hi: 60, write: true)            // fill it again: one range
        #expect(s == [R(write: true, lo: 0, hi: 100)])
        s = R.apply(s, lo: 50, hi: end, write: false)          // to EOF
        #expect(s == [R(write: true, lo: 0, hi: 50), R(write: false, lo: 50, hi: end)])
        #expect(R.apply(s, lo: 0, hi: end, write: nil).isEmpty)
    }

    func row(_ domain: String, _ kind: ClusterLockKind, _ write: Bool, _ lo: Int64, _ hi: Int64, expires: Int64 = 1000) -> ClusterLockRow {
        ClusterLockRow(owner: ClusterLockOwner(domain: domain, proc: domain + " pid=1", handle: 3), kind: kind,
                       range: R(write: write, lo: lo, hi: hi), expiresMs: expires)
    }

    @Test func conflictRules() {
        let rows = [row("B", .record, true, 10, 20), row("B", .flock, false, 0, end), row("A", .flock, true, 0, end)]
        func c(_ kind: ClusterLockKind, _ write: Bool, _ lo: Int64, _ hi: Int64, now: Int64 = 500) -> Bool {
            MetaStore.conflict(rows, nowMs: now, domain: "A", kind: kind, want: R(write: write, lo: lo, hi: hi)) != nil
        }
        #expect(c(.record, false, 15, 16))                     // overlaps B's write range
        #expect(!c(.record, true, 20, 30))                     // [10,20) and [20,30) do not overlap
        #expect(!c(.record, true, 0, 10))
        #expect(c(.record, true, 0, end))
        #expect(!c(.flock, false, 0, end))                     // read/read: compatible
        #expect(c(.flock, true, 0, end))                       // write against B's read
        #expect(!c(.record, true, 0, end, now: 1001))          // B's rows expired
        // A's own rows never conflict (its node's kernel locks arbitrate them).
        #expect(MetaStore.conflict([row("A", .record, true, 0, end)], nowMs: 0, domain: "A", kind: .record,
                                   want: R(write: true, lo: 0, hi: end)) == nil)
    }
}
