import HilbertData

/// The jobs of a tree walk, for a pool of threads that add more as they go (a directory's
/// listing adds its chunks and subdirectories): the walk is over when no job is queued, none
/// is running and nothing else holds it open (`hold`: work that will add jobs later, such as
/// directories waiting to be created). Last in, first out: depth first, which keeps the
/// queue short.
final class JobQueue<Job>: @unchecked Sendable {
    private let monitor = Monitor()
    private var jobs: [Job] = []
    private var outstanding = 0
    private var stopped = false

    func push(_ job: Job) {
        monitor.lock()
        jobs.append(job)
        outstanding += 1
        monitor.broadcast()
        monitor.unlock()
    }

    /// Keep the walk open until `release`.
    func hold() {
        monitor.lock(); outstanding += 1; monitor.unlock()
    }

    func release() { finished() }

    /// The next job; nil when the walk is over or stopped. A job taken counts until `finished`.
    func take() -> Job? {
        monitor.lock()
        defer { monitor.unlock() }
        while jobs.isEmpty && outstanding > 0 && !stopped { monitor.wait() }
        if stopped || jobs.isEmpty { return nil }
        return jobs.removeLast()
    }

    func finished() {
        monitor.lock()
        outstanding -= 1
        if outstanding == 0 { monitor.broadcast() }
        monitor.unlock()
    }

    /// No more jobs are handed out (those queued are dropped).
    func stop() {
        monitor.lock()
        stopped = true
        jobs.removeAll()
        monitor.broadcast()
        monitor.unlock()
    }
}

/// A bounded queue between two stages of a pipeline: `put` waits while it is full, `take`
/// while it is empty and open; after `close`, `take` returns what is left, then nil.
final class Channel<T>: @unchecked Sendable {
    private let monitor = Monitor()
    private var items: [T] = []
    private var closed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func put(_ item: T) {
        monitor.lock()
        while items.count >= capacity && !closed { monitor.wait() }
        items.append(item)
        monitor.broadcast()
        monitor.unlock()
    }

    func take() -> T? {
        monitor.lock()
        defer { monitor.unlock() }
        while items.isEmpty && !closed { monitor.wait() }
        if items.isEmpty { return nil }
        monitor.broadcast()
        return items.removeFirst()
    }

    /// Everything queued now (at least one, waiting for it), at most `max`; empty when closed and drained.
    func takeAll(max: Int) -> [T] {
        monitor.lock()
        defer { monitor.unlock() }
        while items.isEmpty && !closed { monitor.wait() }
        let n = min(max, items.count)
        let out = Array(items[0..<n])
        items.removeFirst(n)
        monitor.broadcast()
        return out
    }

    func close() {
        monitor.lock()
        closed = true
        monitor.broadcast()
        monitor.unlock()
    }
}
