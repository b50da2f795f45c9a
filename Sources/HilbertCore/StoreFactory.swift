import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData
import HilbertS3

/// Turns a volume's storage settings into an ObjectStore, and checks a new one at format time.
public enum StoreFactory {
    /// The store a volume's objects live in. Cheap: nothing is contacted or loaded here (an
    /// S3 store loads libcurl and reads credentials on its first request).
    public static func open(_ format: VolumeFormat) throws(HilbertError) -> ObjectStore {
        switch format.storage {
        case "file":
            return LocalDirectoryStore(root: format.bucket)
        case "s3":
            return try openS3(format)
        default:
            throw HilbertError(.notSupported, "storage '\(format.storage)' is not available in this build (file, s3)")
        }
    }

    /// The S3 store of an `s3` volume format.
    static func openS3(_ format: VolumeFormat) throws(HilbertError) -> S3Store {
        let location = try S3Location(url: format.bucket, region: s3Region(format.storageOptions))
        let file = format.storageOptions["credentials"]
        let profile = format.storageOptions["profile"]
        let storageClass = format.storageOptions["storage-class"].flatMap { $0.isEmpty ? nil : $0 }
        return S3Store(location: location, storageClass: storageClass) { () throws(HilbertError) -> S3Credentials in
            try CredentialChain.resolve(file: getEnv("HILBERT_S3_CREDENTIALS").flatMap { $0.isEmpty ? nil : $0 } ?? file,
                                        profile: profile, env: getEnv)
        }
    }

    /// The region: the volume's setting, else the environment/profile (AWS_REGION, …), else
    /// what the bucket URL says (S3Location's default).
    static func s3Region(_ options: [String: String]) -> String? {
        if let r = options["region"], !r.isEmpty { return r }
        return CredentialChain.region(profile: options["profile"], env: getEnv)
    }

    /// Write, read, list and delete a probe object; the error names the step that failed.
    public static func probe(_ store: ObjectStore) throws(HilbertError) {
        let key = "hilbert-probe/\(newUUID())"
        let payload = Array("hilbert format probe \(key)\n".utf8)
        var step = "write"
        do throws(Errno) {
            try store.put(key, payload)
            step = "read"
            guard try store.get(key) == payload else {
                throw DataErrors.fail(.io, "the object read back differs from the one written")
            }
            step = "list"
            guard try store.list(prefix: "hilbert-probe/").contains(where: { $0.key == key }) else {
                throw DataErrors.fail(.io, "the object just written is not listed")
            }
            step = "delete"
            try store.delete(key)
            guard try store.head(key) == nil else { throw DataErrors.fail(.io, "the object is still there after delete") }
        } catch {
            if step != "write" && step != "delete" { try? store.delete(key) }
            let why = DataErrors.last?.message ?? "\(error)"
            throw HilbertError(error, "object store \(store.description): cannot \(step) a probe object: \(why)")
        }
    }

    /// Refuse a store location that already holds a volume's objects (two volumes writing
    /// the same keys would destroy each other's data).
    static func requireEmpty(_ store: S3Store) throws(HilbertError) {
        let found: Bool
        do throws(Errno) {
            found = !(try store.listPage(prefix: "chunks/", continuation: nil, maxKeys: 1).objects.isEmpty)
        } catch {
            throw HilbertError(error, "object store \(store.description): cannot list: \(DataErrors.last?.message ?? "\(error)")")
        }
        if found {
            throw HilbertError(.exists, "object store \(store.description) already holds a volume's objects (chunks/…); give each volume its own bucket or key prefix")
        }
    }
}
