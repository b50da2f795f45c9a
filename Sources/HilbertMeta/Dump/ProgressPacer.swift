import CHilbertSys

/// When dump and load report progress: looked at every 1024 entries, told at most once a
/// second.
struct ProgressPacer {
    private var last = hl_monotonic_ns()

    mutating func due(entries: Int) -> Bool {
        guard entries & 1023 == 0 else { return false }
        let now = hl_monotonic_ns()
        guard now &- last >= 1_000_000_000 else { return false }
        last = now
        return true
    }
}
