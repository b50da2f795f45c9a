import HilbertData
import HilbertSupport

/// The site tier's settings (SiteTier): a directory shared by the nodes of a site
/// (`--site-cache DIR`, HILBERT_SITE_CACHE, `site-cache =` in the config file or the site's)
/// and its size limit (`--site-cache-size`, HILBERT_SITE_CACHE_SIZE, `site-cache-size =`),
/// resolved in View like the node cache's. Unset, there is no site tier: reads go from the
/// node cache to the object store.
public enum SiteCacheSetting {
    public static let variable = "HILBERT_SITE_CACHE"
    public static let sizeVariable = "HILBERT_SITE_CACHE_SIZE"

    /// The site tier of volume `volumeUUID` the environment names (what the engine of every
    /// process reads), or nil.
    public static func fromEnvironment(volumeUUID: String) throws(HilbertError) -> SiteTier? {
        guard let dir = getEnv(variable), !dir.isEmpty else { return nil }
        var size: Int64?
        if let text = getEnv(sizeVariable), !text.isEmpty { size = try CacheLimits.parseSize(text, setting: sizeVariable) }
        return try SiteTier.open(root: dir, volumeUUID: volumeUUID, capacity: size)
    }

    /// `store` read through the site tier the environment names, if any.
    public static func wrap(_ store: ObjectStore, volumeUUID: String) throws(HilbertError) -> ObjectStore {
        guard let tier = try fromEnvironment(volumeUUID: volumeUUID) else { return store }
        return SiteTierStore(store, tier: tier)
    }
}
