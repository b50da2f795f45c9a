import HilbertData

/// What `hilbert import` and `hilbert export` drive alike: a parallel copy that reports its
/// progress and each failed entry, and stops when asked.
public protocol Transfer: AnyObject {
    /// One line per failed or left-out entry (stderr).
    var onMessage: (String) -> Void { get set }
    /// Asked before each job: true stops the transfer as `interrupt` does (a signal's flag).
    var stopRequested: () -> Bool { get set }
    /// What is done so far (for a progress line; any thread).
    var progress: TransferReport { get }
    /// Stop reading the source; what was read is still committed (SIGINT).
    func interrupt()
}

/// Wait until `done` holds (read with `monitor` locked; whoever makes it true broadcasts),
/// calling `tick` at once, then about every `seconds` and at the end.
func waitTicking(_ monitor: Monitor, until done: () -> Bool, seconds: Double, tick: () -> Void) {
    tick()
    monitor.lock()
    while !done() {
        monitor.wait(nanoseconds: UInt64(seconds * 1e9))
        monitor.unlock()
        tick()
        monitor.lock()
    }
    monitor.unlock()
}
