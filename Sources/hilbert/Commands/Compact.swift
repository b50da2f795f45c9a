import ArgumentParser
import CHilbertSys
import HilbertCore
import HilbertData
import HilbertMeta
import HilbertSupport

extension Hilbert {
    struct Compact: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the content of small files into pack objects, online.",
            discussion: """
            Walks PATH (a directory or file of the volume, from its root; default: all of it) and \
            moves the content of small files — inline in the metadata, or in an object of its own \
            — into pack objects of up to --pack-size each (16M at most: the largest pack a reader \
            keeps whole) and --pack-files files, so that a tree of small files costs a few objects \
            and the metadata holds metadata; packs that removed and rewritten files left mostly \
            dead (--rewrite-below) are rewritten too. Safe while the volume is in use: a pack is \
            stored before any file points at it, and a file written meanwhile keeps its new \
            content. Readers see the same bytes throughout. The objects freed are deleted at once; \
            'hilbert gc --delete' finishes what an interruption left. Progress goes to stderr.

            Examples:
              hilbert compact sqlite:///scratch/me/vol/meta.db
              hilbert compact postgres://hpc@db.site.org/hilbert /runs/2026-12 \\
                  --pack-size 8M
            """)

        @Argument(help: "Metadata URL of the volume, e.g. sqlite:///abs/path/meta.db")
        var metaURL: String

        @Argument(help: "A directory or file of the volume, from its root.")
        var path: String = "/"

        @Option(help: "The largest pack to store, 64K to 16M (K, M suffixes).")
        var packSize: String = "16M"

        @Option(help: "Pack files up to this size (K, M suffixes).")
        var maxFileSize: String = "256K"

        @Option(help: "The most files in one pack, 1 to 65536 (each pack is one metadata transaction over its files).")
        var packFiles: Int = 4096

        @Option(help: "Rewrite packs whose live files are less than this percentage of their bytes (0: never).")
        var rewriteBelow: Int = 50

        func run() throws {
            var options = CompactOptions()
            options.packBytes = try parseSize(packSize, "--pack-size")
            options.maxFileBytes = try parseSize(maxFileSize, "--max-file-size")
            if options.packBytes < 64 << 10 || options.packBytes > PackBuilder.maxBytes {
                throw CLIError("--pack-size: between 64K and 16M (the largest pack a reader keeps whole)")
            }
            if options.maxFileBytes < 1 || options.maxFileBytes > 64 << 20 { throw CLIError("--max-file-size: between 1 and 64M") }
            if packFiles < 1 || packFiles > 65536 { throw CLIError("--pack-files: between 1 and 65536") }
            options.packFiles = packFiles
            if rewriteBelow < 0 || rewriteBelow > 100 { throw CLIError("--rewrite-below: a percentage, 0 to 100") }
            options.rewriteBelow = Double(rewriteBelow) / 100
            guard path.hasPrefix("/") else { throw CLIError("compact: '\(path)': a path of the volume starts with '/' (its root)") }
            let meta: MetaStore
            do { meta = try Volume.openMetadata(metaURL) } catch { throw CLIError("compact: \(error.message)") }
            defer { meta.close() }
            let root: Ino
            do {
                let trimmed = path.drop { $0 == "/" }
                if trimmed.isEmpty {
                    root = rootIno
                } else {
                    switch try meta.resolve(from: rootIno, path: Array(trimmed.utf8), followLast: false, cred: .root, mountPrefix: []) {
                    case .found(_, _, let a): root = a.ino
                    default: throw CLIError("compact: \(path): no such file or directory in the volume")
                    }
                }
            } catch let e as CLIError { throw e } catch let e as Errno where e == .noEntry {
                throw CLIError("compact: \(path): no such file or directory in the volume")
            } catch {
                throw CLIError("compact: \(path): \(error)")
            }
            let report: CompactReport
            do {
                let store = try Volume.store(for: meta.format)
                let c = Compactor(meta: meta, store: store, options: options)
                c.progress = { printError($0) }
                report = try c.run(root: root)
            } catch { throw CLIError(error.message) }
            let rate = report.seconds > 0 ? Double(report.packed) / report.seconds : 0
            print("compact: \(report.files) files in \(report.directories) directories; \(report.candidates) small enough, \(report.packed) packed into \(report.packs) packs (\(report.packBytes) bytes), \(report.changed) changed meanwhile and left; \(report.inlineBytesMoved) bytes moved out of the metadata, \(report.looseObjectsReleased) objects of their own deleted, \(report.sparsePacksEmptied) of \(report.sparsePacks) mostly dead packs rewritten; \(seconds(UInt64(report.seconds * 1e9))) (\(Int(rate)) files/s)")
        }
    }
}
