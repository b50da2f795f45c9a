import ArgumentParser
import HilbertCore
import HilbertData
import HilbertSupport

extension Hilbert {
    struct ObjBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "objbench",
            abstract: "Check that an object store works (put/get/head/range/list/delete) and time it.",
            discussion: """
            Works under a fresh objbench/<random>/ prefix, removed at the end (also after a \
            failure). Prints one line per check (ok/FAIL), a table of timings (op, count, bytes, \
            seconds, ops/s, MB/s with MB = 10^6 bytes) and 'objbench: N checks passed, N failed'; \
            exits 1 when a check failed.

            Examples:
              hilbert objbench sqlite:///scratch/me/vol/meta.db
              hilbert objbench --store file:///scratch/me/objects --threads 8 --small 5000
            """)

        @Argument(help: "Metadata URL of a volume whose object store to test.")
        var metaURL: String?

        @Option(help: "Test this store instead of a volume's: file:///abs/dir, /abs/dir, or an S3 bucket URL (http(s)://host/bucket/prefix, s3://bucket; AWS_* credentials).")
        var store: String?

        @Option(help: "Concurrent transfers (default: what the store asks for).")
        var threads: Int?

        @Option(help: "Number of small (4 KiB) objects.")
        var small: Int = 1000

        @Option(help: "Number of large (4 MiB) objects.")
        var large: Int = 16

        @Option(help: "Size of the one big object (suffixes K, M, G; 0 skips it).")
        var big: String = "64M"

        func validate() throws {
            if (metaURL == nil) == (store == nil) { throw ValidationError("give either META-URL or --store URL") }
            if small < 1 || large < 1 { throw ValidationError("--small and --large must be at least 1") }
            if let t = threads, t < 1 || t > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        }

        func run() throws {
            let s: ObjectStore
            do { s = try openStore() } catch { throw CLIError("objbench: \(error.message)") }
            var o = ObjectBench.Options(threads: threads ?? s.concurrency)
            o.small = small
            o.large = large
            o.bigSize = try parseSize(big, "--big")
            let bench = ObjectBench(store: s, options: o)
            print("objbench: store \(s.description), prefix \(bench.prefix), \(o.threads) threads")
            bench.onCheck = { c in print((c.passed ? "ok   " : "FAIL ") + c.name + (c.passed ? "" : ": " + c.detail)) }
            let result = bench.run()
            printTable(result.rows)
            print("objbench: \(result.passed) checks passed, \(result.failed) failed")
            if result.failed > 0 { throw ExitCode(1) }
        }

        func openStore() throws(HilbertError) -> ObjectStore {
            if let url = store { return try Volume.store(url: url) }
            let meta = try Volume.openMetadata(metaURL!)
            defer { meta.close() }
            return try Volume.store(for: meta.format)
        }

        func printTable(_ rows: [ObjectBench.Row]) {
            func cell(_ s: String, _ width: Int, left: Bool = false) -> String {
                let pad = String(repeating: " ", count: max(0, width - s.count))
                return left ? s + pad : pad + s
            }
            print(cell("op", 26, left: true) + cell("count", 8) + cell("bytes", 14) + cell("seconds", 10) + cell("ops/s", 12) + cell("MB/s", 10))
            for r in rows {
                let t = max(r.seconds, 1e-9)
                print(cell(r.op, 26, left: true) + cell("\(r.count)", 8) + cell("\(r.bytes)", 14) + cell(fixed(r.seconds, 3), 10)
                      + cell(fixed(Double(r.count) / t, 1), 12) + cell(r.bytes == 0 ? "-" : fixed(Double(r.bytes) / t / 1e6, 1), 10))
            }
        }
    }
}

/// `v` with `places` decimals (no Foundation).
func fixed(_ v: Double, _ places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let n = Int64((v * scale).rounded())
    let whole = n / Int64(scale), frac = n % Int64(scale)
    if places == 0 { return "\(whole)" }
    var f = String(frac)
    while f.count < places { f = "0" + f }
    return "\(whole).\(f)"
}
