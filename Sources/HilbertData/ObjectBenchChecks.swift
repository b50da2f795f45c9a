import HilbertSupport

/// One functional check of `hilbert objbench`.
public struct BenchCheck: Equatable, Sendable {
    public var name: String
    public var passed: Bool
    /// Why it failed (empty when it passed).
    public var detail: String
}

/// Thrown by a check that saw the store misbehave.
struct CheckFailure: Error {
    let detail: String
    init(_ d: String) { detail = d }
}

/// The correctness checks: every `ObjectStore` operation against the contract in its
/// documentation, under `prefix` (which must be empty and is left for the caller to clean).
struct ObjectStoreChecks {
    let store: ObjectStore
    let prefix: String
    let now: Int64

    func run(_ report: (BenchCheck) -> Void) {
        let a = pattern(1000, seed: 1)
        let b = pattern(3000, seed: 2)
        let k = prefix + "check/"
        func check(_ name: String, _ body: () throws -> Void) {
            do {
                try body()
                report(BenchCheck(name: name, passed: true, detail: ""))
            } catch let f as CheckFailure {
                report(BenchCheck(name: name, passed: false, detail: f.detail))
            } catch {
                report(BenchCheck(name: name, passed: false, detail: "\(error)"))
            }
        }
        check("put then get returns the same bytes") {
            try store.put(k + "a", a)
            try expect(try store.get(k + "a") == a, "get returned different bytes")
        }
        check("head returns the size") {
            try expect(try store.head(k + "a") == a.count, "head returned \(String(describing: try store.head(k + "a"))), expected \(a.count)")
        }
        check("get into a buffer; a too small buffer is ERANGE") {
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = try buf.withUnsafeMutableBytes { p throws(Errno) in try store.get(k + "a", into: p) }
            try expect(n == a.count && Array(buf[0..<n]) == a, "get(into:) returned different bytes")
            var small = [UInt8](repeating: 0, count: 10)
            do {
                _ = try small.withUnsafeMutableBytes { p throws(Errno) in try store.get(k + "a", into: p) }
                throw CheckFailure("no error for a 10-byte buffer")
            } catch let e as Errno where e == .range {}
        }
        check("range reads, clipped at the end") {
            try expect(try store.getRange(k + "a", offset: 100, length: 200) == Array(a[100..<300]), "bytes 100..<300 differ")
            try expect(try store.getRange(k + "a", offset: 900, length: 500) == Array(a[900...]), "a range past the end is not clipped")
            try expect(try store.getRange(k + "a", offset: 0, length: 0).isEmpty, "a zero-length range is not empty")
        }
        check("missing objects: get is ENOENT, head is nil") {
            do {
                _ = try store.get(k + "missing")
                throw CheckFailure("get of a missing object succeeded")
            } catch let e as Errno where e == .noEntry {}
            try expect(try store.head(k + "missing") == nil, "head of a missing object is not nil")
        }
        check("put replaces an object") {
            try store.put(k + "b", a)
            try store.put(k + "b", b)
            try expect(try store.get(k + "b") == b, "get after the second put returned the old bytes")
        }
        check("empty objects") {
            try store.put(k + "empty", [UInt8]())
            try expect(try store.head(k + "empty") == 0, "head of an empty object is not 0")
            try expect(try store.get(k + "empty").isEmpty, "get of an empty object is not empty")
        }
        check("list returns the keys sorted, with sizes and plausible times") {
            try store.put(k + "sub/c", b)
            let got = try store.list(prefix: k)
            let want = [(k + "a", a.count), (k + "b", b.count), (k + "empty", 0), (k + "sub/c", b.count)]
            try expect(got.map { $0.key } == want.map { $0.0 }, "listed \(got.map { $0.key })")
            try expect(got.map { $0.size } == want.map { $0.1 }, "sizes \(got.map { $0.size })")
            for o in got where o.modified != 0 && abs(o.modified - now) > 86400 {
                throw CheckFailure("\(o.key) modified \(o.modified), now is \(now) (clock skew over a day?)")
            }
        }
        check("list by a partial name") {
            let got = try store.list(prefix: k + "e").map { $0.key }
            try expect(got == [k + "empty"], "prefix \(k)e listed \(got)")
            try expect(try store.list(prefix: k + "zzz").isEmpty, "a prefix nothing has listed something")
        }
        check("delete; deleting a missing object succeeds") {
            try store.delete(k + "b")
            try expect(try store.head(k + "b") == nil, "head after delete is not nil")
            try store.delete(k + "b")
        }
        check("batch delete") {
            try store.delete(keys: [k + "a", k + "empty", k + "sub/c", k + "never-existed"])
            let left = try store.list(prefix: k).map { $0.key }
            try expect(left.isEmpty, "left after the batch delete: \(left)")
        }
        check("flush") { try store.flush() }
    }

    private func expect(_ condition: Bool, _ why: @autoclosure () throws -> String) throws {
        if !condition { throw CheckFailure(try why()) }
    }
}

/// Deterministic, incompressible-looking bytes.
func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed &* 0x9e3779b97f4a7c15 | 1
    return (0..<count).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}
