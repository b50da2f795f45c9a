import ArgumentParser
import HilbertCore

extension Hilbert {
    struct Format: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a volume.",
            discussion: """
            META-URL names the metadata database: sqlite:///abs/path/meta.db (one node; keep it on a
            local disk, never on NFS/Lustre). File data goes to the object store as compressed blocks.

            Examples:
              hilbert format sqlite:///scratch/me/vol/meta.db --bucket /scratch/me/vol/objects
              hilbert format sqlite://$HOME/vol.db --bucket $HOME/vol-objects --compress none --inline-max 4K
            """)

        @Argument(help: "Metadata URL, e.g. sqlite:///abs/path/meta.db")
        var metaURL: String

        @Option(help: "Object store kind: file (a local or shared directory).")
        var storage: String = "file"

        @Option(help: "Object store location; for --storage file an absolute directory (default: beside the database, 'objects').")
        var bucket: String?

        @Option(help: "Block compression: zstd or none.")
        var compress: String = "zstd"

        @Option(help: "Block size (power of two, 64K…64M; suffixes K, M).")
        var blockSize: String = "4M"

        @Option(help: "Files up to this size are stored inside the metadata (0 disables; suffixes K, M).")
        var inlineMax: String = "16K"

        @Option(help: "Volume name shown by 'hilbert status'.")
        var name: String = "hilbert"

        func run() throws {
            let url: MetaURL
            do { url = try MetaURL(metaURL) } catch { throw CLIError(error.message) }
            let dbPath = url.sqlitePath
            let defaultBucket = String(dbPath[..<(dbPath.lastIndex(of: "/")!)]) + "/objects"
            let options = FormatOptions(metaURL: metaURL, storage: storage, bucket: bucket ?? defaultBucket, name: name,
                                        compression: compress, blockSize: try parseSize(blockSize, "--block-size"),
                                        inlineMax: try parseSize(inlineMax, "--inline-max"))
            do {
                let f = try Volume.formatVolume(options)
                print("Created volume '\(f.name)' (\(f.uuid))")
                print("  metadata: \(metaURL)")
                print("  objects:  \(f.storage) \(f.bucket)")
                print("  blocks:   \(f.blockSize) bytes, \(f.compression); inline up to \(f.inlineMax) bytes")
                print("Use it:     hilbert run --mount /hilbert=\(metaURL) -- bash")
            } catch {
                throw CLIError(error.message)
            }
        }
    }
}

func parseSize(_ text: String, _ option: String) throws -> Int {
    var digits = text
    var mult = 1
    if let last = digits.last?.uppercased() {
        switch last {
        case "K": mult = 1 << 10; digits.removeLast()
        case "M": mult = 1 << 20; digits.removeLast()
        case "G": mult = 1 << 30; digits.removeLast()
        default: break
        }
    }
    guard let n = Int(digits), n >= 0 else { throw CLIError("\(option): '\(text)' is not a size (e.g. 4M, 16K, 0)") }
    return n * mult
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
