import ArgumentParser
import Glibc
import HilbertCore
import HilbertData
import HilbertSupport
import HilbertTransfer

extension Hilbert {
    struct Du: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where a tree's data is: this node's cache, the site cache, the store's storage classes.",
            discussion: """
            For every regular file under the PATHs (recursively): how many files and bytes there \
            are, how much of it this node's cache holds (read copies of the current versions) and \
            the site cache (--site-cache, HILBERT_SITE_CACHE), how much is kept in the metadata \
            (small and empty files), and, on an S3 store, the objects the files use per storage \
            class with their stored bytes (one HEAD request per object; a pack counts once, whole, \
            even when other files outside the PATHs share it). Nothing is fetched or changed.

            Examples:
              hilbert du /hilbert/dataset
              hilbert du --site-cache /lustre/scratch/$USER/hilbert-site /hilbert/runs/2026-12
            """)

        @Argument(help: "Paths under a mounted prefix (a directory's whole tree).")
        var paths: [String] = []

        @Option(help: "Files looked at at once (1-256).")
        var threads: Int = 8

        @OptionGroup var volumes: MountOptions

        func run() throws {
            if threads < 1 || threads > 256 { throw CLIError("--threads: between 1 and 256") }
            if paths.isEmpty { throw CLIError("du: no path given (hilbert du PATH…)") }
            var options = WarmupOptions()
            options.threads = threads
            options.mode = .survey
            try walkTrees(paths, what: "du", volumes, options, summary: { v, t in duReport(t, volume: v) })
        }
    }
}

func duReport(_ t: WarmupTally, volume v: Volume) -> String {
    func share(_ part: UInt64) -> String {
        t.files.bytes > 0 ? "\(Int((Double(part) / Double(t.files.bytes) * 100).rounded(.down)))%" : "100%"
    }
    var lines = ["\(t.files.files) files, \(human(t.files.bytes)) in \(t.directories) directories"
                 + (t.errors > 0 ? "; \(t.errors) errors" : "") + (t.stopped ? "; stopped before the end" : "")]
    lines.append("  in the metadata:   \(t.inMetadata) files (small or empty: no object to fetch)")
    lines.append("  node cache:        \(t.inNodeCache.files) files, \(human(t.inNodeCache.bytes)) (\(share(t.inNodeCache.bytes))) in \(v.cache.root)")
    if let tier = v.store.siteTier {
        lines.append("  site cache:        \(t.inSiteTier.files) files, \(human(t.inSiteTier.bytes)) (\(share(t.inSiteTier.bytes))) in \(tier.root)")
    } else {
        lines.append("  site cache:        none (--site-cache, HILBERT_SITE_CACHE)")
    }
    if v.store.hasStorageClasses {
        if t.classes.isEmpty { lines.append("  storage classes:   no objects") }
        for (name, c) in t.classes.sorted(by: { $0.key < $1.key }) {
            lines.append("  storage class \(name): \(c.objects) objects, \(human(c.bytes)) stored")
        }
    } else {
        lines.append("  storage classes:   none (the store \(v.store.description) has none)")
    }
    return lines.joined(separator: "\n")
}
