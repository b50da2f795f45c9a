import ArgumentParser
import Glibc
import HilbertCore
import HilbertData
import HilbertSupport
import HilbertTransfer

extension Hilbert {
    struct Warmup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch files into this node's cache before a job reads them.",
            discussion: """
            Every regular file under the PATHs (recursively) is fetched from the object store into \
            the node's cache directory, in parallel; files already there are kept and marked as \
            recently used. A job that then reads them talks to the store for none of them. Run it \
            in a Slurm prolog or at the top of a batch script (it uses the same mounts and cache \
            as 'hilbert run' and the module); tasks of a job array that warm the same paths on \
            one node fetch each file once. What a warm-up brings in (or finds) is kept ahead of \
            other cached data until --keep-for has passed (default: until the Slurm job ends, else \
            24 hours): eviction takes it only after every other read copy. --check says how much of the paths is cached, without \
            fetching; --evict drops them from the cache. With --site, the same is done for the \
            site cache shared by the site's nodes (--site-cache): a file's objects are fetched into \
            it once, for every node. Progress goes to stderr, the summary to \
            stdout; the exit status is 1 when a file failed.

            Examples:
              hilbert warmup /hilbert/dataset
              hilbert warmup --file-list inputs.txt --threads 16
              hilbert warmup --check /hilbert/dataset
              hilbert warmup --evict /hilbert/dataset/old
              hilbert warmup --cache-size 200G /hilbert/checkpoints/latest
              hilbert warmup --site --site-cache /lustre/scratch/$USER/hilbert-site /hilbert/dataset
            """)

        @Argument(help: "Paths under a mounted prefix (a directory's whole tree).")
        var paths: [String] = []

        @Option(name: .customLong("file-list"), help: "A file naming one path per line ('-': standard input).")
        var fileList: String?

        @Option(help: "Files fetched at once (1-256).")
        var threads: Int = 8

        @Flag(help: "Only report how much of the paths is in the cache.")
        var check = false

        @Flag(help: "Drop the paths' files from the cache.")
        var evict = false

        @Flag(help: "Fill (--check, --evict) the site cache (--site-cache, HILBERT_SITE_CACHE) instead of this node's: every node of the site then reads the files from there.")
        var site = false

        @Option(name: .customLong("keep-for"), help: "Keep the warmed files ahead of other cached data this long, e.g. 6h (0: no; default: until the Slurm job ends, else 24h).")
        var keepFor: String?

        @OptionGroup var volumes: MountOptions

        func run() throws {
            if threads < 1 || threads > 256 { throw CLIError("--threads: between 1 and 256") }
            if check && evict { throw CLIError("--check and --evict: one or the other") }
            var all = paths
            if let list = fileList { all += try readList(list) }
            if all.isEmpty { throw CLIError("warmup: no path given (hilbert warmup PATH… or --file-list FILE)") }
            let what = check ? "check" : evict ? "evict" : "warmup"
            var options = WarmupOptions()
            options.threads = threads
            options.mode = check ? .check : evict ? .evict : .fill
            options.site = site
            if !check && !evict && !site { options.keepUntil = try KeepFor.until(keepFor) }
            try walkTrees(all, what: what, volumes, options, refuse: { v in
                if site && v.store.siteTier == nil {
                    throw CLIError("warmup --site: no site cache is set (--site-cache DIR, HILBERT_SITE_CACHE, or site-cache = in the config file)")
                }
            }, summary: { v, t in warmupSummary(what, t, cache: site ? v.store.siteTier!.root : v.cache.root) })
        }

        func readList(_ path: String) throws -> [String] {
            let f: UnsafeMutablePointer<FILE>? = path == "-" ? stdin : fopen(path, "r")
            guard let f else { throw CLIError("--file-list \(path): cannot read it: \(Errno.current)") }
            defer { if path != "-" { fclose(f) } }
            var out: [String] = []
            var line: UnsafeMutablePointer<CChar>?
            var cap = 0
            defer { free(line) }
            while getline(&line, &cap, f) > 0 {
                let s = String(cString: line!).trimmingSpaces
                if !s.isEmpty && !s.hasPrefix("#") { out.append(s) }
            }
            return out
        }
    }
}

func warmupSummary(_ what: String, _ t: WarmupTally, cache: String) -> String {
    let secs = max(t.seconds, 1e-6)
    let took = "in \(seconds(UInt64(t.seconds * 1e9)))"
    let stopped = t.stopped ? "; stopped before the end" : ""
    switch what {
    case "check":
        let files = t.cached.files + t.absent.files
        let bytes = t.cached.bytes + t.absent.bytes
        let share = bytes > 0 ? Int((Double(t.cached.bytes) / Double(bytes) * 100).rounded(.down)) : 100
        return "check: \(t.cached.files) of \(files) files cached in \(cache) (\(human(t.cached.bytes)) of \(human(bytes)), \(share)%); "
            + "\(t.absent.files) not cached (\(human(t.absent.bytes))); \(t.inMetadata) without data to fetch (in the metadata or empty), "
            + "\(t.directories) directories, \(t.errors) errors \(took)\(stopped)"
    case "evict":
        return "evict: \(t.evicted.files) files (\(human(t.evicted.bytes))) dropped from \(cache); \(t.absent.files) were not cached; "
            + "\(t.directories) directories, \(t.errors) errors \(took)\(stopped)"
    default:
        let files = t.fetched.files + t.cached.files
        return "warmup: \(t.fetched.files) files (\(human(t.fetched.bytes))) fetched into \(cache), \(t.cached.files) files (\(human(t.cached.bytes))) "
            + "were cached already, \(t.inMetadata) without data to fetch (in the metadata or empty), \(t.tooLarge.files) left out "
            + "(larger than the cache), \(t.directories) directories, \(t.errors) errors \(took) "
            + "(\(Int(Double(files) / secs)) files/s, \(human(UInt64(Double(t.fetched.bytes) / secs)))/s fetched)\(stopped)"
    }
}

/// Walk the trees of `paths` (grouped by volume, one walk per volume) with a Warmer in
/// `options`' mode, its progress on stderr, Ctrl-C as a request to stop. `refuse` may throw
/// before a volume's walk (the volume cannot do what was asked); `summary` is printed on stdout
/// after it. Exit status 130 when stopped, 1 when a file failed.
func walkTrees(_ paths: [String], what: String, _ volumes: MountOptions, _ options: WarmupOptions,
               refuse: (Volume) throws -> Void = { _ in }, summary: (Volume, WarmupTally) -> String) throws {
    var byVolume: [(Volume, [(inner: [UInt8], shown: String)])] = []
    for p in paths {
        let (v, inner) = try locateMounted(p, what: what, volumes)
        if let i = byVolume.firstIndex(where: { $0.0.format.uuid == v.format.uuid }) {
            byVolume[i].1.append((inner, p))
            v.meta.close()
        } else {
            byVolume.append((v, [(inner, p)]))
        }
    }
    var failed = false
    var stopped = false
    for (v, list) in byVolume {
        try refuse(v)
        let warmer = Warmer(meta: v.meta, store: v.store, cache: v.cache, blockSize: v.format.blockSize, options: options)
        let display = TransferDisplay(what)
        warmer.onMessage = { display.message($0) }
        let stop = InterruptFlag()
        warmer.stopRequested = { stop.raised }
        let result = Result { () throws(HilbertError) -> WarmupTally in
            try warmer.run(list) {
                if stop.raised { warmer.interrupt() }
                display.show(warmer.progress)
            }
        }
        display.clear()
        guard case .success(let t) = result else {
            if case .failure(let e) = result { throw CLIError(e.message) }
            throw ExitCode(1)
        }
        print(summary(v, t))
        failed = failed || t.errors > 0
        stopped = stopped || t.stopped
    }
    if stopped { throw ExitCode(130) }
    if failed { throw ExitCode(1) }
}
