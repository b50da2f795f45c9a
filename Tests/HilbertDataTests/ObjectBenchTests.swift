import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

@Suite struct ObjectBenchTests {
    func options(threads: Int = 3) -> ObjectBench.Options {
        var o = ObjectBench.Options(threads: threads)
        o.small = 40
        o.large = 3
        o.largeSize = 64 << 10
        o.bigSize = 1 << 20
        return o
    }

    @Test func aGoodStorePassesEveryCheckAndIsLeftClean() throws {
        let store = MemoryStore()
        try store.put("chunks/0/0/1", [1, 2, 3])
        let bench = ObjectBench(store: store, options: options())
        var live = 0
        bench.onCheck = { _ in live += 1 }
        let r = bench.run()
        #expect(r.failed == 0, "\(r.checks.filter { !$0.passed })")
        #expect(r.passed >= 15 && live == r.checks.count)
        #expect(r.checks.last?.name.hasPrefix("clean up objbench/") == true)
        #expect(r.rows.map(\.op) == ["put 4 KiB", "head 4 KiB", "get 4 KiB", "list 40 keys", "put 64 KiB", "get 64 KiB",
                                     "put 1 × 1 MiB", "get 1 × 1 MiB", "delete 44 (batches)"])
        #expect(r.rows[0].count == 40 && r.rows[0].bytes == 40 * 4096)
        #expect(try store.list(prefix: "").map(\.key) == ["chunks/0/0/1"], "only the store's own object is left")
    }

    @Test func localDirectoryStorePasses() throws {
        let dir = TempDir()
        let store = LocalDirectoryStore(root: dir.path)
        let r = ObjectBench(store: store, options: options(threads: 2)).run()
        #expect(r.failed == 0, "\(r.checks.filter { !$0.passed })")
        #expect(try store.list(prefix: "").isEmpty)
    }

    @Test func corruptedReadsFailChecks() throws {
        let store = FaultyStore(wrapping: MemoryStore())
        store.corruptGets(next: 1_000_000)
        let r = ObjectBench(store: store, options: options()).run()
        let failed = r.checks.filter { !$0.passed }.map(\.name)
        #expect(failed.contains("put then get returns the same bytes"))
        #expect(failed.contains("range reads, clipped at the end"))
        #expect(failed.contains("40 small objects read back intact"))
        #expect(!failed.contains { $0.hasPrefix("clean up") })
        #expect(try store.list(prefix: "").isEmpty)
    }

    @Test func failingPutsFailChecksAndStillCleanUp() throws {
        let store = FaultyStore(wrapping: MemoryStore())
        store.failPuts(next: 1_000_000, with: .noSpace, after: 5)
        let r = ObjectBench(store: store, options: options()).run()
        #expect(r.failed > 0)
        #expect(r.checks.contains { !$0.passed && $0.detail.contains("No space") })
        #expect(r.checks.last?.passed == true)
        #expect(try store.list(prefix: "").isEmpty)
    }

    @Test func lostWritesAreNoticed() throws {
        let store = FaultyStore(wrapping: MemoryStore())
        store.dropPuts(next: 1)
        let r = ObjectBench(store: store, options: options()).run()
        #expect(r.checks.first?.passed == false)
    }
}
