import HilbertSupport
import HilbertMeta
import HilbertData

/// Opening a volume's parts without the engine (no cache directory, nothing created), for
/// maintenance commands (gc, objbench, status).
extension Volume {
    /// The metadata of an existing volume.
    public static func openMetadata(_ metaURL: String) throws(HilbertError) -> MetaStore {
        let url = try MetaURL(metaURL)
        do {
            return try MetaStore.open(path: url.sqlitePath)
        } catch {
            if error == .noEntry { throw HilbertError(error, "no volume at \(metaURL)") }
            let why = MetaStore.lastOpenError.map { $0.message } ?? "\(error)"
            throw HilbertError(error, "cannot open the volume at \(metaURL): \(why)")
        }
    }

    /// The object store a volume format names (the same `openStore` the engine uses).
    public static func store(for format: VolumeFormat) throws(HilbertError) -> ObjectStore {
        try openStore(format)
    }

    /// A store named by URL: `file:///abs/dir` or `/abs/dir` is a local directory store;
    /// `SCHEME://REST` is storage SCHEME with bucket REST, as `hilbert format --storage SCHEME
    /// --bucket REST` would record it (whatever `openStore` supports).
    public static func store(url: String) throws(HilbertError) -> ObjectStore {
        var storage = "file"
        var bucket = url
        if url.hasPrefix("file://") {
            bucket = String(url.dropFirst("file://".count))
        } else if let r = url.firstRange(of: "://") {
            storage = String(url[..<r.lowerBound])
            bucket = String(url[r.upperBound...])
        }
        if storage == "file" {
            guard bucket.hasPrefix("/") else {
                throw HilbertError(.invalid, "'\(url)': a directory store must be an absolute path (file:///abs/dir or /abs/dir)")
            }
            guard Sys.exists(bucket) else { throw HilbertError(.noEntry, "'\(url)': no such directory") }
        }
        let format = VolumeFormat(name: "", uuid: "", storage: storage, bucket: bucket, compression: "none",
                                  blockSize: 4 << 20, inlineMax: 0)
        return try openStore(format)
    }
}
