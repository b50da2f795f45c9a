import ArgumentParser
import Glibc
import HilbertCore
import HilbertData
import HilbertSupport
import HilbertTransfer

extension Hilbert {
    struct Tier: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a tree's objects to another S3 storage class.",
            discussion: """
            Every object the regular files under the PATHs use is moved to storage class CLASS \
            (e.g. STANDARD_IA for data read rarely, GLACIER_IR, or STANDARD to bring it back) by a \
            server-side copy onto its own key: the object is replaced atomically with the same bytes \
            in the new class, so the metadata keeps pointing at it and readers never see a gap. \
            Objects already in the class are left alone; a pack moves whole, with any other files \
            in it. Objects in an archive class (GLACIER, DEEP_ARCHIVE) cannot be read until they are \
            restored (reads fail with EIO and a line saying so), and cannot be copied before that \
            either. 'hilbert du' shows the classes. New objects go to the volume's class \
            ('hilbert format --storage-class', default STANDARD). On a versioned bucket the \
            previous versions stay (and are billed) until a lifecycle rule removes them.

            Examples:
              hilbert tier /hilbert/runs/2025 --class STANDARD_IA
              hilbert tier /hilbert/runs/2025 --class STANDARD
            """)

        @Argument(help: "Paths under a mounted prefix (a directory's whole tree).")
        var paths: [String] = []

        @Option(name: .customLong("class"), help: "The storage class to move to (the server says which it has).")
        var storageClass: String

        @Option(help: "Objects moved at once (1-256).")
        var threads: Int = 8

        @OptionGroup var volumes: MountOptions

        func run() throws {
            if threads < 1 || threads > 256 { throw CLIError("--threads: between 1 and 256") }
            if paths.isEmpty { throw CLIError("tier: no path given (hilbert tier PATH… --class CLASS)") }
            guard isStorageClassName(storageClass) else {
                throw CLIError("--class '\(storageClass)': not a storage class name (upper-case letters, digits and '_', e.g. STANDARD_IA)")
            }
            var options = WarmupOptions()
            options.threads = threads
            options.mode = .tier(storageClass)
            try walkTrees(paths, what: "tier", volumes, options, refuse: { v in
                if !v.store.hasStorageClasses {
                    throw CLIError("tier: the store \(v.store.description) has no storage classes (an S3 store has)")
                }
            }, summary: { _, t in
                "tier: \(t.moved.objects) objects (\(human(t.moved.bytes))) moved to \(storageClass), "
                    + "\(t.alreadyThere.objects) (\(human(t.alreadyThere.bytes))) were in it already; \(t.files.files) files, "
                    + "\(t.inMetadata) of them in the metadata, \(t.directories) directories, \(t.errors) errors "
                    + "in \(seconds(UInt64(t.seconds * 1e9)))\(t.stopped ? "; stopped before the end" : "")"
            })
        }
    }
}
