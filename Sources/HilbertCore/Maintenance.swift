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
            return try MetaStore.open(url)
        } catch {
            if error == .noEntry { throw HilbertError(error, "no volume at \(metaURL)") }
            let why = MetaStore.lastOpenError.map { $0.message } ?? "\(error)"
            throw HilbertError(error, "cannot open the volume at \(metaURL): \(why)")
        }
    }

    /// The object store a volume format names (the same factory the engine uses).
    public static func store(for format: VolumeFormat) throws(HilbertError) -> ObjectStore {
        try StoreFactory.open(format)
    }

    /// A store named by URL: `file:///abs/dir` or `/abs/dir` is a local directory store;
    /// `http://`, `https://` and `s3://` URLs are S3 buckets, as `hilbert format --storage s3
    /// --bucket URL` would record them (credentials and region from the environment).
    public static func store(url: String) throws(HilbertError) -> ObjectStore {
        var storage = "file"
        var bucket = url
        if url.hasPrefix("file://") {
            bucket = String(url.dropFirst("file://".count))
        } else if url.hasPrefix("http://") || url.hasPrefix("https://") || url.hasPrefix("s3://") {
            storage = "s3"
        } else if firstRange(of: "://", in: url) != nil {
            throw HilbertError(.invalid, "'\(url)': not a store URL (a directory, file:///dir, http(s)://host/bucket or s3://bucket)")
        }
        if storage == "file" {
            guard bucket.hasPrefix("/") else {
                throw HilbertError(.invalid, "'\(url)': a directory store must be an absolute path (file:///abs/dir or /abs/dir)")
            }
            guard Sys.exists(bucket) else { throw HilbertError(.noEntry, "'\(url)': no such directory") }
        }
        let format = VolumeFormat(name: "", uuid: "", storage: storage, bucket: bucket, compression: "none",
                                  blockSize: 4 << 20, inlineMax: 0)
        return try StoreFactory.open(format)
    }
}
