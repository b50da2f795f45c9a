import ArgumentParser
import HilbertCore
import HilbertSupport

extension Hilbert {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a volume's settings and usage.",
            discussion: """
            Without META-URL: every volume of the mount table (configuration or the default).

            Examples:
              hilbert status
              hilbert status sqlite:///scratch/me/vol/meta.db
            """)

        @Argument(help: "Metadata URL of the volume (default: the mount table).")
        var metaURL: String?

        @OptionGroup var volumes: MountOptions

        func run() throws {
            let (mounted, cacheDir) = try volumes.resolve()
            let table = metaURL.map { [MountSpec(prefix: "(none)", metaURL: $0)] } ?? mounted
            var failed = false
            for m in table {
                do {
                    let v = try Volume.open(m, cacheRoot: cacheDir, createIfDefault: false)
                    let f = v.format
                    let u = try v.meta.usage()
                    print("Volume '\(f.name)' \(f.uuid)")
                    if m.prefix != "(none)" { print("  mounted on:    \(m.prefix)") }
                    print("  metadata:      \(m.metaURL)")
                    print("  object store:  \(f.storage) \(f.bucket)")
                    print("  blocks:        \(f.blockSize) bytes, compression \(f.compression), inline up to \(f.inlineMax) bytes")
                    print("  cache:         \(v.cache.root)")
                    print("  inodes:        \(u.inodes)")
                    print("  logical bytes: \(u.logicalBytes) (\(human(u.logicalBytes)))")
                    print("  stored bytes:  \(u.storedBytes) (\(human(u.storedBytes)))")
                    print("  objects:       \(u.objects)")
                    print("  staging files: \(try v.meta.allStaging().count) (not yet committed)")
                } catch let e as HilbertError {
                    print("\(m.prefix) → \(m.metaURL): \(e.message)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}

func human(_ n: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var i = 0
    while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
    if i == 0 { return "\(n) B" }
    let tenths = Int((v * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[i])"
}
