import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// An opened volume: metadata, object store and this node's cache directory.
public final class Volume {
    public let spec: MountSpec
    public let prefixBytes: [UInt8]
    public let meta: MetaStore
    public let format: VolumeFormat
    public let store: ObjectStore
    public let cache: CacheDirectory
    /// Moves the small files this process commits into packs (SmallFilePacker).
    let packer: SmallFilePacker
    /// Hilbert's own st_dev for this volume, derived from the UUID: major 16384-32767 (above
    /// the kernel's 12-bit majors, so cp/find -xdev/du -x never mistake it for a real file
    /// system) and a 20-bit minor, so major() and minor() fit a C int as for real devices
    /// (Python's os.makedev rejects larger ones).
    public let dev: UInt64

    /// glibc's makedev() encoding of a dev_t.
    static func deviceNumber(major: UInt64, minor: UInt64) -> UInt64 {
        ((major & 0xfff) << 8) | ((major & ~0xfff) << 32) | (minor & 0xff) | ((minor & ~0xff) << 12)
    }

    init(spec: MountSpec, meta: MetaStore, cacheRoot: String) throws(HilbertError) {
        self.spec = spec
        self.prefixBytes = Array(spec.prefix.utf8)
        self.meta = meta
        self.format = meta.format
        let cache = try CacheDirectory.open(root: cacheRoot, volumeUUID: format.uuid, limits: try CacheLimits.fromEnvironment())
        self.cache = cache
        self.store = PackCopyStore(try SiteCacheSetting.wrap(try StoreFactory.open(format), volumeUUID: format.uuid), cache: cache)
        meta.shareChangesOnThisNode(through: cache.volumeDirectory + "/change-epoch")
        meta.keepReplacedSeconds = Settings.keepReplacedSeconds
        self.packer = SmallFilePacker(meta: meta, store: store, owner: cache.stagingOwner.record)
        var h: UInt64 = 0xcbf29ce484222325
        for b in format.uuid.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        self.dev = Volume.deviceNumber(major: 0x4000 | ((h >> 20) & 0x3fff), minor: h & 0xfffff)
    }

    /// Open the volume of a mount; the embedded default volume is created on first use.
    public static func open(_ spec: MountSpec, cacheRoot: String, createIfDefault: Bool) throws(HilbertError) -> Volume {
        let url = try MetaURL(spec.metaURL)
        let meta: MetaStore
        do {
            meta = try MetaStore.open(url)
        } catch {
            if error == .noEntry && createIfDefault && spec.metaURL == Settings.defaultMetaURL {
                let dir = Settings.defaultVolumeDirectory
                let options = FormatOptions(metaURL: spec.metaURL, storage: "file", bucket: dir + "/objects",
                                            name: "default")
                _ = try Volume.formatVolume(options)
                do { meta = try MetaStore.open(url) } catch {
                    throw HilbertError(error, "cannot open the new default volume at \(spec.metaURL)")
                }
            } else if error == .noEntry {
                throw HilbertError(error, "no volume at \(spec.metaURL) (mounted on \(spec.prefix)); create it with 'hilbert format \(spec.metaURL)'")
            } else {
                let why = MetaStore.lastOpenError.map { "\($0)" } ?? "\(error)"
                throw HilbertError(error, "cannot open the volume at \(spec.metaURL): \(why)")
            }
        }
        return try Volume(spec: spec, meta: meta, cacheRoot: cacheRoot)
    }
}

public struct FormatOptions: Sendable {
    public var metaURL: String
    public var storage: String = "file"
    public var bucket: String
    public var name: String = "hilbert"
    public var compression: String = "zstd"
    public var blockSize: Int = 4 << 20
    public var inlineMax: Int = 16 << 10
    /// Store settings besides the location (S3: region, credentials file path, profile).
    public var storageOptions: [String: String] = [:]
    public init(metaURL: String, storage: String = "file", bucket: String, name: String = "hilbert",
                compression: String = "zstd", blockSize: Int = 4 << 20, inlineMax: Int = 16 << 10) {
        self.metaURL = metaURL; self.storage = storage; self.bucket = bucket; self.name = name
        self.compression = compression; self.blockSize = blockSize; self.inlineMax = inlineMax
    }
}

extension Volume {
    /// Create a new volume (metadata database + object store directory).
    public static func formatVolume(_ o: FormatOptions) throws(HilbertError) -> VolumeFormat {
        let url = try MetaURL(o.metaURL)
        guard o.storage == "file" || o.storage == "s3" else {
            throw HilbertError(.notSupported, "storage '\(o.storage)' is not available in this build (use --storage file or s3)")
        }
        if o.storage == "file" && !o.bucket.hasPrefix("/") {
            throw HilbertError(.invalid, "--bucket must be an absolute directory for --storage file")
        }
        guard o.compression == "zstd" || o.compression == "none" else {
            throw HilbertError(.invalid, "--compress must be zstd or none")
        }
        guard o.blockSize >= 64 << 10, o.blockSize <= 64 << 20, o.blockSize & (o.blockSize - 1) == 0 else {
            throw HilbertError(.invalid, "--block-size must be a power of two between 64K and 64M")
        }
        guard o.inlineMax >= 0, o.inlineMax <= 1 << 20 else {
            throw HilbertError(.invalid, "--inline-max must be between 0 and 1M")
        }
        var format = VolumeFormat(name: o.name, uuid: newUUID(), storage: o.storage, bucket: o.bucket,
                                  compression: o.compression, blockSize: o.blockSize, inlineMax: o.inlineMax)
        format.storageOptions = o.storageOptions.filter { !$0.value.isEmpty }
        // The store is checked before anything is created: a typo in a bucket URL or missing
        // credentials leave no half-made volume behind.
        if o.storage == "s3" {
            let store = try StoreFactory.openS3(format)
            try StoreFactory.requireEmpty(store)
            try StoreFactory.probe(store)
        }
        for dir in url.hostDirectories + (o.storage == "file" ? [o.bucket] : []) {
            do throws(Errno) { try Sys.mkdirs(dir, 0o700) } catch {
                throw HilbertError(error, "cannot create \(dir): \(error)")
            }
        }
        do throws(Errno) {
            try MetaStore.create(url, format: format, rootUID: geteuid(), rootGID: getegid()).close()
        } catch {
            if error == .exists { throw HilbertError(error, "a volume already exists at \(o.metaURL)") }
            let why = MetaStore.lastOpenError.map { $0.message } ?? "\(error)"
            throw HilbertError(error, "cannot create the volume at \(o.metaURL): \(why)")
        }
        return format
    }
}

/// A random RFC 4122 version 4 UUID from the kernel's random source.
func newUUID() -> String {
    var rng = SystemRandomNumberGenerator()
    var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
    bytes[6] = (bytes[6] & 0x0f) | 0x40
    bytes[8] = (bytes[8] & 0x3f) | 0x80
    let hex = bytes.map { b -> String in
        let s = String(b, radix: 16)
        return s.count == 1 ? "0" + s : s
    }
    return hex[0..<4].joined() + "-" + hex[4..<6].joined() + "-" + hex[6..<8].joined() + "-" +
        hex[8..<10].joined() + "-" + hex[10..<16].joined()
}
