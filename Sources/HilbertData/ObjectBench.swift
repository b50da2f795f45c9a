import Glibc
import CHilbertSys
import HilbertSupport

/// `hilbert objbench`: checks that a store keeps the `ObjectStore` contract, then times its
/// operations. Everything happens under a fresh `objbench/<random>/` prefix that is removed
/// at the end, also after failures.
public final class ObjectBench {
    public struct Options: Sendable {
        public var threads: Int
        /// Small objects (`smallSize` bytes each) to put, head, get and list.
        public var small = 1000
        public var smallSize = 4096
        /// Large objects (`largeSize` bytes each).
        public var large = 16
        public var largeSize = 4 << 20
        /// One object of this size (0: skip).
        public var bigSize = 64 << 20
        public init(threads: Int) { self.threads = max(threads, 1) }
    }

    /// One timed operation: `count` calls moving `bytes` in `seconds`.
    public struct Row: Equatable, Sendable {
        public var op: String
        public var count: Int
        public var bytes: Int
        public var seconds: Double
    }

    public struct Result: Sendable {
        public var prefix: String
        public var checks: [BenchCheck] = []
        public var rows: [Row] = []
        public var passed: Int { checks.filter { $0.passed }.count }
        public var failed: Int { checks.count - passed }
    }

    public let store: ObjectStore
    public let options: Options
    public let prefix: String
    /// Called as each check finishes and each row is measured (for live output).
    public var onCheck: (BenchCheck) -> Void = { _ in }
    public var onRow: (Row) -> Void = { _ in }

    public init(store: ObjectStore, options: Options, prefix: String? = nil) {
        self.store = store
        self.options = options
        var hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        while hex.count < 16 { hex = "0" + hex }
        self.prefix = prefix ?? "objbench/\(hex)/"
    }

    public func run() -> Result {
        var result = Result(prefix: prefix)
        guard freshPrefix(&result) else { return result }
        exercise(&result)
        cleanUp(&result)
        return result
    }

    private func freshPrefix(_ result: inout Result) -> Bool {
        do {
            let existing = try store.list(prefix: prefix)
            if existing.isEmpty { return true }
            let c = BenchCheck(name: "fresh prefix \(prefix)", passed: false, detail: "\(existing.count) objects already there")
            result.checks.append(c)
            onCheck(c)
        } catch {
            let c = BenchCheck(name: "list \(prefix)", passed: false, detail: "\(error)")
            result.checks.append(c)
            onCheck(c)
        }
        return false
    }

    /// The checks and timings (the caller cleans up, whatever happened here).
    private func exercise(_ result: inout Result) {
        func record(_ c: BenchCheck) { result.checks.append(c); onCheck(c) }
        func record(_ r: Row) { result.rows.append(r); onRow(r) }
        func fail(_ name: String, _ e: Error) { record(BenchCheck(name: name, passed: false, detail: "\(e)")) }

        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        ObjectStoreChecks(store: store, prefix: prefix, now: Int64(ts.tv_sec)).run { record($0) }

        let o = options
        let store = self.store, prefix = self.prefix
        let small = pattern(o.smallSize, seed: 3)
        let smallKey = { (i: Int) in self.prefix + "small/\(i)" }
        do {
            record(try timed("put \(sizeName(o.smallSize))", o.small, o.small * o.smallSize) { i throws(Errno) in try store.put(smallKey(i), small) })
            record(try timed("head \(sizeName(o.smallSize))", o.small, 0) { i throws(Errno) in
                if try store.head(smallKey(i)) != small.count { throw Errno.io }
            })
            var corrupt = 0
            let lock = Lock()
            record(try timed("get \(sizeName(o.smallSize))", o.small, o.small * o.smallSize) { i throws(Errno) in
                if try store.get(smallKey(i)) != small { lock.withLock { corrupt += 1 } }
            })
            record(BenchCheck(name: "\(o.small) small objects read back intact", passed: corrupt == 0,
                              detail: corrupt == 0 ? "" : "\(corrupt) differed"))
            var listed = 0
            record(try timed("list \(o.small) keys", 1, 0) { _ throws(Errno) in listed = try store.list(prefix: prefix + "small/").count })
            record(BenchCheck(name: "list finds the \(o.small) small objects", passed: listed == o.small,
                              detail: listed == o.small ? "" : "listed \(listed)"))
        } catch {
            fail("small objects", error)
        }

        let large = pattern(o.largeSize, seed: 4)
        let largeKey = { (i: Int) in self.prefix + "large/\(i)" }
        do {
            record(try timed("put \(sizeName(o.largeSize))", o.large, o.large * o.largeSize) { i throws(Errno) in try store.put(largeKey(i), large) })
            var corrupt = 0
            let lock = Lock()
            record(try timed("get \(sizeName(o.largeSize))", o.large, o.large * o.largeSize) { i throws(Errno) in
                if try store.get(largeKey(i)) != large { lock.withLock { corrupt += 1 } }
            })
            record(BenchCheck(name: "\(o.large) large objects read back intact", passed: corrupt == 0,
                              detail: corrupt == 0 ? "" : "\(corrupt) differed"))
        } catch {
            fail("large objects", error)
        }

        if o.bigSize > 0 {
            let big = pattern(o.bigSize, seed: 5)
            let key = prefix + "big"
            do throws(Errno) {
                record(try timed("put 1 × \(sizeName(o.bigSize))", 1, o.bigSize, threads: 1) { _ throws(Errno) in try store.put(key, big) })
                var same = false
                record(try timed("get 1 × \(sizeName(o.bigSize))", 1, o.bigSize, threads: 1) { _ throws(Errno) in same = try store.get(key) == big })
                record(BenchCheck(name: "a \(sizeName(o.bigSize)) object reads back intact", passed: same, detail: same ? "" : "bytes differ"))
            } catch where error == .fileTooBig || error == .notSupported {
                record(BenchCheck(name: "a \(sizeName(o.bigSize)) object (not supported by this store: \(error))", passed: true, detail: ""))
            } catch {
                fail("a \(sizeName(o.bigSize)) object", error)
            }
        }

        do {
            let keys = try store.list(prefix: prefix).map { $0.key }
            let batch = 1000
            let batches = (keys.count + batch - 1) / batch
            record(try timed("delete \(keys.count) (batches)", keys.count, 0, calls: batches) { i throws(Errno) in
                try store.delete(keys: Array(keys[(i * batch)..<min(keys.count, (i + 1) * batch)]))
            })
        } catch {
            fail("batch delete", error)
        }
    }

    /// Remove everything under the prefix and check that nothing is left.
    private func cleanUp(_ result: inout Result) {
        var left = -1
        var why = ""
        for _ in 0..<3 where left != 0 {
            do {
                let keys = try store.list(prefix: prefix).map { $0.key }
                if !keys.isEmpty { try store.delete(keys: keys) }
                left = try store.list(prefix: prefix).count
                why = "\(left) objects left"
            } catch {
                why = "\(error)"
            }
        }
        let c = BenchCheck(name: "clean up \(prefix)", passed: left == 0, detail: left == 0 ? "" : why)
        result.checks.append(c)
        onCheck(c)
    }

    /// Run `body(0..<count)` (or `calls` of them) on the worker threads; the first error wins.
    private func timed(_ op: String, _ count: Int, _ bytes: Int, threads: Int? = nil, calls: Int? = nil,
                       _ body: @escaping (Int) throws(Errno) -> Void) throws(Errno) -> Row {
        let n = calls ?? count
        let lock = Lock()
        var next = 0
        var failure: Errno?
        let start = hl_monotonic_ns()
        let workers = WorkerThreads.start(min(threads ?? options.threads, max(n, 1))) { _ in
            while true {
                let i: Int? = lock.withLock {
                    if failure != nil || next >= n { return nil }
                    next += 1
                    return next - 1
                }
                guard let i else { return }
                do throws(Errno) { try body(i) } catch { lock.withLock { if failure == nil { failure = error } } }
            }
        }
        if workers.count == 0 { throw Errno.again }
        workers.join()
        let seconds = Double(hl_monotonic_ns() &- start) / 1e9
        if let failure { throw failure }
        return Row(op: op, count: count, bytes: bytes, seconds: seconds)
    }
}

/// 4096 → "4 KiB", 4 MiB → "4 MiB" (exact multiples only; else bytes).
func sizeName(_ n: Int) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
    if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
    return "\(n) B"
}
