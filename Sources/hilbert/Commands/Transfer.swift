import ArgumentParser
import CHilbertSys
import Glibc
import HilbertCore
import HilbertMeta
import HilbertSupport
import HilbertTransfer

extension Hilbert {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Copy a host directory tree into a volume, in parallel.",
            discussion: """
            The content of SRC goes into DEST, a path under a mounted prefix (as 'hilbert run' \
            mounts them: --mount, $HILBERT_MOUNTS, the config file, or /hilbert on the default \
            volume). DEST is created when missing (its parent must exist) and merged into when \
            it is a directory; a SRC that is not a directory becomes the file DEST. Modes, \
            times (to the nanosecond), symlinks (as they are, dangling too), hard links within \
            SRC, FIFOs, sockets and user.* extended attributes are kept; owners when run as \
            root (otherwise the files are yours, with their group when you are in it); \
            devices only as root (otherwise left out, said once each). Directories are read \
            in parallel (--threads); small files go straight into pack objects, big ones are \
            stored as blocks, and the metadata is written in large transactions.

            A name that exists in DEST is kept (counted as existed); --force replaces files \
            (never directories). A file that cannot be read or created is said on one line of \
            stderr and the import goes on; the exit status is then 1. Safe with the volume in \
            use. Interrupted (Ctrl-C stops reading and commits what was read; a kill at any \
            point), the volume holds each file whole or not at all: the same import run again \
            finishes the job, and 'hilbert gc' deletes objects stored for files that were \
            never committed. Progress goes to stderr (a line updated in place on a terminal), \
            the summary to stdout.

            Examples:
              hilbert import ~/dataset /hilbert/dataset
              hilbert import --mount /data=sqlite:///scratch/me/vol/meta.db \\
                  /project/inputs /data/inputs
            """)

        @Argument(help: "The host directory (or file) to copy.")
        var source: String

        @Argument(help: "Where it goes: a path under a mounted prefix, e.g. /hilbert/dataset.")
        var destination: String

        @Flag(help: "Replace existing files (never directories) instead of keeping them.")
        var force = false

        @Option(help: "Threads reading the source.")
        var threads: Int = 2

        @Flag(name: .shortAndLong, help: "Also say where the time went, by stage.")
        var verbose = false

        @OptionGroup var volumes: MountOptions

        func run() throws {
            if threads < 1 || threads > 64 { throw CLIError("--threads: between 1 and 64") }
            let (v, inner) = try locateMounted(destination, what: "import", volumes)
            var options = ImportOptions()
            options.force = force
            options.threads = threads
            let importer = Importer(meta: v.meta, store: v.store, options: options)
            try runTransfer("import", importer, verbose: verbose) { tick throws(HilbertError) in
                try importer.run(source: source, destination: inner, destinationPath: destination, tick: tick)
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Copy a tree of a volume out to a host directory, in parallel.",
            discussion: """
            The content of SRC, a path under a mounted prefix (as for 'hilbert import'), goes \
            into the host directory DEST, created when missing (its parent must exist) and \
            merged into when it exists; a SRC that is not a directory becomes the file DEST. \
            The same things are kept as by 'hilbert import': modes, times, symlinks, hard \
            links within SRC, FIFOs, sockets, user.* extended attributes, owners and devices \
            when run as root. Files are exported as last committed. Existing names are kept \
            (--force replaces files, never directories); errors are said one per line on \
            stderr and the export goes on (exit status 1). Directories get their mode and \
            times once their content is written.

            Examples:
              hilbert export /hilbert/results ~/results
              hilbert export --mount /data=sqlite:///scratch/me/vol/meta.db \\
                  /data/run-17 /project/run-17
            """)

        @Argument(help: "What to copy: a path under a mounted prefix, e.g. /hilbert/results.")
        var source: String

        @Argument(help: "The host directory (or file) it goes to.")
        var destination: String

        @Flag(help: "Replace existing host files (never directories) instead of keeping them.")
        var force = false

        @Option(help: "Threads writing the host tree.")
        var threads: Int = 2

        @Flag(name: .shortAndLong, help: "Also say where the time went, by stage.")
        var verbose = false

        @OptionGroup var volumes: MountOptions

        func run() throws {
            if threads < 1 || threads > 64 { throw CLIError("--threads: between 1 and 64") }
            let (v, inner) = try locateMounted(source, what: "export", volumes)
            var options = ExportOptions()
            options.force = force
            options.threads = threads
            let exporter = Exporter(meta: v.meta, store: v.store, options: options)
            try runTransfer("export", exporter, verbose: verbose) { tick throws(HilbertError) in
                try exporter.run(source: inner, sourcePath: source, destination: destination, tick: tick)
            }
        }
    }
}

/// The volume mounted where `path` is (the longest prefix that holds it), opened as `hilbert
/// run` would (the default volume is created on first use), and the path inside it.
func locateMounted(_ path: String, what: String, _ volumes: MountOptions) throws -> (Volume, [UInt8]) {
    let (table, cacheDir) = try volumes.resolve()
    guard path.hasPrefix("/") else {
        throw CLIError("\(what): '\(path)': name a path of a volume by its mounted prefix, e.g. \(table.first?.prefix ?? "/hilbert")/data")
    }
    var bytes = Array(path.utf8)
    while bytes.count > 1 && bytes.last == 0x2F { bytes.removeLast() }
    var best: MountSpec?
    for m in table {
        let p = Array(m.prefix.utf8)
        if bytes == p || (bytes.count > p.count && bytes.starts(with: p) && bytes[p.count] == 0x2F) {
            if best == nil || p.count > best!.prefix.utf8.count { best = m }
        }
    }
    guard let spec = best else {
        throw CLIError("\(what): \(path) is under no mounted prefix (\(table.map { $0.prefix }.joined(separator: ", ")); 'hilbert config' shows the mounts, --mount adds one)")
    }
    var inner = Array(bytes.dropFirst(spec.prefix.utf8.count))
    if inner.isEmpty { inner = [0x2F] }
    let v: Volume
    do { v = try Volume.open(spec, cacheRoot: cacheDir, createIfDefault: true) } catch {
        throw CLIError("\(what): \(error.message)")
    }
    return (v, inner)
}

/// Run an import or export (`start` runs it, calling the tick it is given while it works) with
/// its progress on stderr, Ctrl-C as a request to stop, the summary on stdout and the exit
/// status: 130 when stopped before the end, 1 when an entry failed.
func runTransfer(_ what: String, _ transfer: some Transfer, verbose: Bool,
                 _ start: (_ tick: () -> Void) throws(HilbertError) -> TransferReport) throws {
    let display = TransferDisplay(what)
    transfer.onMessage = { display.message($0) }
    let stop = InterruptFlag()
    transfer.stopRequested = { stop.raised }
    let report: TransferReport
    do {
        report = try start {
            if stop.raised { transfer.interrupt() }
            display.show(transfer.progress)
        }
    } catch {
        display.clear()
        throw CLIError(error.message)
    }
    display.clear()
    print(summary(what, report))
    if verbose { printTimings(report) }
    if report.stopped { throw ExitCode(130) }
    if report.errors > 0 { throw ExitCode(1) }
}

/// The summary line of an import or export.
func summary(_ what: String, _ r: TransferReport) -> String {
    let rate = r.seconds > 0 ? Double(r.done) / r.seconds : 0
    let byteRate = r.seconds > 0 ? UInt64(Double(r.bytes) / r.seconds) : 0
    return "\(what): \(r.files) files (\(human(r.bytes))), \(r.directories) directories, \(r.symlinks) symlinks, \(r.hardLinks) hard links, \(r.specials) special files in \(seconds(UInt64(r.seconds * 1e9))) (\(Int(rate)) entries/s, \(human(byteRate))/s); \(r.existed) existed and were kept, \(r.replaced) replaced, \(r.skipped) skipped, \(r.errors) errors" + (r.stopped ? "; stopped before the end" : "")
}

/// Where the time of a transfer went (stderr).
func printTimings(_ r: TransferReport) {
    fflush(stdout)
    for t in r.timings {
        let pad = String(repeating: " ", count: max(0, 44 - t.step.count))
        printError("  \(t.step):\(pad)\(seconds(UInt64(t.seconds * 1e9)))")
    }
}

/// The progress of an import or export on stderr: on a terminal one line rewritten in place
/// (twice a second), elsewhere a line every ten seconds; messages (one per failed entry) in
/// between.
final class TransferDisplay: @unchecked Sendable {
    let what: String
    let tty = isatty(2) != 0
    private let lock = Lock()
    private var shown = false
    private var lastPlain: UInt64 = hl_monotonic_ns()

    init(_ what: String) { self.what = what }

    func show(_ r: TransferReport) {
        if !tty {
            let now = hl_monotonic_ns()
            if now &- lastPlain < 10_000_000_000 { return }
            lastPlain = now
        }
        let rate = r.seconds > 0 ? Double(r.done) / r.seconds : 0
        var line = "\(what): \(r.done) of \(r.found)+ entries, \(human(r.bytes)), \(Int(rate)) entries/s"
        // Directories are listed as they are reached: what is left is at least what was found.
        if rate > 0, r.found > r.done, Double(r.found - r.done) / rate >= 1 { line += ", ≥ \(Int(Double(r.found - r.done) / rate)) s left" }
        if r.errors > 0 { line += ", \(r.errors) errors" }
        lock.withLock {
            if tty { printErrorRaw("\r\u{1b}[K" + line); shown = true } else { printError(line) }
        }
    }

    func message(_ text: String) {
        lock.withLock {
            if shown { printErrorRaw("\r\u{1b}[K"); shown = false }
            printError(text)
        }
    }

    func clear() {
        lock.withLock {
            if shown { printErrorRaw("\r\u{1b}[K") }
            shown = false
        }
    }
}

/// SIGINT, once: asks the transfer to stop and commit what it read; a second one kills.
final class InterruptFlag: @unchecked Sendable {
    nonisolated(unsafe) static var raised: sig_atomic_t = 0

    init() {
        signal(SIGINT) { _ in
            InterruptFlag.raised = 1
            signal(SIGINT, SIG_DFL)
        }
    }

    var raised: Bool { InterruptFlag.raised != 0 }
}
