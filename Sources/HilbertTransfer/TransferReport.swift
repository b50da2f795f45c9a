import CHilbertSys
import HilbertSupport
import HilbertMeta

/// What an import or export did (`hilbert import`/`export`'s summary), or has done so far
/// (its progress line).
public struct TransferReport: Sendable {
    /// Regular files copied (a file with several names once; see `hardLinks`).
    public var files = 0
    public var directories = 0
    public var symlinks = 0
    /// FIFOs, sockets and (as root) devices.
    public var specials = 0
    /// Names beyond the first of files with several (made as links to it).
    public var hardLinks = 0
    /// Content bytes of the files copied.
    public var bytes: UInt64 = 0
    /// Names that existed at the destination and were kept (--force replaces files).
    public var existed = 0
    public var replaced = 0
    /// Left out on purpose (devices when not root), each said once on stderr.
    public var skipped = 0
    /// Failed, each said on one line of stderr.
    public var errors = 0
    /// Entries found in the source so far (the walk may not be done: see `walkDone`).
    public var found = 0
    public var walkDone = false
    /// Stopped before the end (interrupted, or a failure of the metadata or the store).
    public var stopped = false
    public var seconds = 0.0
    /// Where the time went, by stage and step (seconds summed over that stage's threads):
    /// what `--verbose` prints, to tell what limits a run.
    public var timings: [(step: String, seconds: Double)] = []

    public init() {}

    /// Entries done, whatever became of them.
    public var done: Int { files + directories + symlinks + specials + hardLinks + existed + skipped + errors }
}

/// The counters a transfer's threads update, read by the progress display.
final class TransferCounters: @unchecked Sendable {
    private let lock = Lock()
    private var report = TransferReport()
    private let start = hl_monotonic_ns()
    private var spent = [UInt64](repeating: 0, count: Step.allCases.count)

    func update(_ body: (inout TransferReport) -> Void) { lock.withLock { body(&report) } }

    /// Add the time a thread spent by step (its own tally, added when it ends).
    func spend(_ tally: StepTimes) {
        lock.withLock { for k in spent.indices { spent[k] += tally.ns[k] } }
    }

    var snapshot: TransferReport {
        var r = lock.withLock { report }
        r.seconds = Double(hl_monotonic_ns() &- start) / 1e9
        r.timings = lock.withLock {
            Step.allCases.filter { spent[$0.rawValue] > 0 }.map { ($0.name, Double(spent[$0.rawValue]) / 1e9) }
        }
        return r
    }
}

/// The steps of a transfer's threads, timed (`--verbose`).
enum Step: Int, CaseIterable {
    case waitForJob, listDirectory, statEntry, readFile, encode, storeBigFile, handOver
    case storePack, flushStore, waitForWriter, waitForBatches
    case commitBatch, createDirectories, waitForWork
    case readMetadata, writeFiles

    var name: String {
        switch self {
        case .waitForJob: return "walkers: waiting for a job"
        case .listDirectory: return "walkers: listing directories"
        case .statEntry: return "walkers: lstat"
        case .readFile: return "walkers: opening and reading files"
        case .encode: return "walkers: compressing into packs"
        case .storeBigFile: return "walkers: storing big files"
        case .handOver: return "walkers: waiting for the store stage"
        case .storePack: return "store: writing packs"
        case .flushStore: return "store: making them durable"
        case .waitForWriter: return "store: waiting for the writer"
        case .waitForBatches: return "store: waiting for batches"
        case .commitBatch: return "writer: committing batches"
        case .createDirectories: return "writer: creating directories"
        case .waitForWork: return "writer: waiting for work"
        case .readMetadata: return "walkers: reading the metadata"
        case .writeFiles: return "walkers: writing files"
        }
    }
}

/// One thread's time by step.
struct StepTimes {
    fileprivate(set) var ns = [UInt64](repeating: 0, count: Step.allCases.count)
    private var last = hl_monotonic_ns()

    /// The time since the previous mark goes to `step`.
    @inline(__always)
    mutating func mark(_ step: Step) {
        let now = hl_monotonic_ns()
        ns[step.rawValue] &+= now &- last
        last = now
    }
}

/// Why a metadata call failed: the backend's explanation for its own failures (a database
/// or server error), the errno for a refusal of the file system's rules (permissions, names).
func explain(_ error: Errno, _ meta: MetaStore) -> String {
    switch error {
    case .io, .again, .noSpace, .quota, .timedOut, .readOnly, .noMemory: return meta.lastError?.message ?? "\(error)"
    default: return "\(error)"
    }
}
