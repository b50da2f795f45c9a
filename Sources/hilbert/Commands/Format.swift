import ArgumentParser
import HilbertCore
import HilbertMeta

extension Hilbert {
    struct Format: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a volume.",
            discussion: """
            META-URL names the metadata database: sqlite:///abs/path/meta.db (one node; keep it on a \
            local disk, never on NFS/Lustre). File data goes to the object store as compressed blocks.

            --storage s3 keeps the blocks in an S3-compatible bucket. --bucket is its URL:
              path-style       http(s)://HOST[:PORT]/BUCKET[/KEY/PREFIX]  (S3-compatible)
              virtual-hosted   https://BUCKET.s3.REGION.amazonaws.com[/KEY/PREFIX]
              AWS short form   s3://BUCKET[/KEY/PREFIX]                   (with --region)
            A key prefix lets several volumes share a bucket. Credentials are looked up when data \
            moves, in this order: --credentials FILE (or $HILBERT_S3_CREDENTIALS; lines \
            access_key_id = …, secret_access_key = …, session_token = …; mode 0600), the \
            environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the AWS \
            shared credentials and config files (--profile, else $AWS_PROFILE, else default). \
            Only the file's path and the profile name are recorded in the volume, never a secret. \
            format writes, reads, lists and deletes a probe object and says which step failed.

            Examples:
              hilbert format sqlite:///scratch/me/vol/meta.db \\
                  --bucket /scratch/me/vol/objects
              hilbert format sqlite://$HOME/vol.db --bucket $HOME/vol-objects \\
                  --compress none --inline-max 4K
              hilbert format sqlite://$HOME/vol.db --storage s3 \\
                  --bucket http://s3.site.org:9000/lab/vol1
              hilbert format sqlite://$HOME/vol.db --storage s3 \\
                  --bucket s3://lab-data/vol1 --region eu-west-1 --profile lab
            """)

        @Argument(help: "Metadata URL, e.g. sqlite:///abs/path/meta.db")
        var metaURL: String

        @Option(help: "Object store kind: file (a local or shared directory) or s3.")
        var storage: String = "file"

        @Option(help: "Object store location: for file an absolute directory (default: beside the database, 'objects'); for s3 the bucket URL.")
        var bucket: String?

        @Option(help: "S3 region (default: from the bucket URL, $AWS_REGION or the profile, else us-east-1).")
        var region: String?

        @Option(help: "S3 credentials file (mode 0600) to use instead of the AWS environment and files.")
        var credentials: String?

        @Option(help: "AWS profile in the shared credentials/config files.")
        var profile: String?

        @Option(name: .customLong("storage-class"), help: "S3 storage class of new objects, e.g. STANDARD_IA (sent as x-amz-storage-class; default: the bucket's, STANDARD). 'hilbert tier' moves existing ones.")
        var storageClass: String?

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
            if storage == "s3" && bucket == nil { throw CLIError("--storage s3 needs --bucket URL (e.g. http://127.0.0.1:8333/mybucket/vol1)") }
            guard let bucket = bucket ?? url.defaultObjectDirectory else {
                throw CLIError("\(metaURL) keeps no files on this host: give the objects' place with --bucket")
            }
            if storage != "s3" && (region != nil || credentials != nil || profile != nil || storageClass != nil) {
                throw CLIError("--region, --credentials, --profile and --storage-class apply to --storage s3 only")
            }
            if let c = storageClass, !isStorageClassName(c) {
                throw CLIError("--storage-class '\(c)': not a storage class name (upper-case letters, digits and '_', e.g. STANDARD_IA, GLACIER_IR)")
            }
            var options = FormatOptions(metaURL: metaURL, storage: storage, bucket: bucket, name: name,
                                        compression: compress, blockSize: try parseSize(blockSize, "--block-size"),
                                        inlineMax: try parseSize(inlineMax, "--inline-max"))
            if let credentials {
                guard credentials.hasPrefix("/") else { throw CLIError("--credentials must be an absolute path") }
                options.storageOptions["credentials"] = credentials
            }
            if let region { options.storageOptions["region"] = region }
            if let profile { options.storageOptions["profile"] = profile }
            if let storageClass { options.storageOptions["storage-class"] = storageClass }
            do {
                let f = try Volume.formatVolume(options)
                print("Created volume '\(f.name)' (\(f.uuid))")
                print("  metadata: \(metaURL)")
                print("  objects:  \(f.storage) \(f.bucket)")
                for (k, v) in f.storageOptions.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
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

/// S3 storage class names: STANDARD, STANDARD_IA, GLACIER_IR, … (the server says which it has).
func isStorageClassName(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= 40 && s.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
}
