import ArgumentParser
import Glibc
import HilbertCore
import HilbertData
import HilbertSupport

extension Hilbert {
    struct Cache: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or empty this node's cache directory.",
            discussion: """
            'status' shows, for each volume with data in the cache directory, its read copies \
            (what reads fetched, evicted least recently used first) and its staging files (data \
            not yet committed: never evicted), then the cache's limits and where each came from. \
            'clear' deletes the read copies (of one volume with --volume); staging files stay, and \
            programs reading a copy keep reading it. With a site tier (--site-cache, \
            HILBERT_SITE_CACHE), 'status' shows it too; 'clear --site' empties it (for every \
            node of the site) instead of the node's cache.

            Examples:
              hilbert cache status
              hilbert cache clear
              hilbert cache clear --volume /hilbert
              hilbert cache status --cache /local/scratch/hilbert-$USER --cache-size 200G
              hilbert cache clear --site --site-cache /lustre/scratch/$USER/hilbert-site
            """,
            subcommands: [Status.self, Clear.self])

        struct Status: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show what the cache holds and its limits.")
            @OptionGroup var selection: CacheSelection

            func run() throws {
                let (view, dirs) = try selection.resolve()
                print("Cache \(view.cache) (\(view.cacheSource.rawValue))")
                if dirs.isEmpty { print("  no volume has data here") }
                for (uuid, label) in dirs {
                    let c = try openCache(view, uuid)
                    let copies = c.usage()
                    let staging = c.stagingUsage()
                    print("  volume \(uuid)\(label.map { " (\($0))" } ?? "")")
                    print("    read copies:   \(copies.files) files, \(CacheLimits.describe(copies.bytes))")
                    print("    staging files: \(staging.files) files, \(CacheLimits.describe(staging.bytes)) (not yet committed; never evicted)")
                }
                let limits = view.cacheLimits
                let fs = fileSystemBytes(view.cache)
                let limit = limits.sizeBytes(fileSystemBytes: fs)
                let floor = CacheLimits.floorBytes(limits.free, fsBytes: fs)
                print("  limit:         \(CacheLimits.describe(limit)) of read copies, all volumes together (\(view.cacheSize.map { "\($0), \(view.cacheSizeSource.rawValue)" } ?? "embedded default: \(CacheLimits.defaultSizeText)"))")
                print("  free floor:    \(CacheLimits.describe(floor)) left free (\(view.cacheFree.map { "\($0), \(view.cacheFreeSource.rawValue)" } ?? "embedded default: \(CacheLimits.defaultFreeText)"))")
                print("  file system:   \(CacheLimits.describe(freeBytes(view.cache))) free of \(CacheLimits.describe(fs))")
                guard let site = view.siteCache else { return }
                print("Site cache \(site) (\(view.siteCacheSource.rawValue))")
                let siteDirs = try selection.siteDirectories(view)
                if siteDirs.isEmpty { print("  no volume has data here") }
                for (uuid, label) in siteDirs {
                    let t = try openSiteTier(view, uuid)
                    let u = t.usage()
                    print("  volume \(uuid)\(label.map { " (\($0))" } ?? ""): \(u.files) objects, \(CacheLimits.describe(u.bytes))")
                }
                let siteFS = fileSystemBytes(site)
                let siteLimit = try view.siteCacheSize.map { try CacheLimits.parseSize($0, setting: "site-cache-size") }
                    ?? SiteTier.defaultCapacity(fileSystemBytes: siteFS)
                print("  limit:         \(CacheLimits.describe(siteLimit)), all volumes together (\(view.siteCacheSize.map { "\($0), \(view.siteCacheSizeSource.rawValue)" } ?? "embedded default: \(SiteTier.defaultSizeText)"))")
                print("  file system:   \(CacheLimits.describe(freeBytes(site))) free of \(CacheLimits.describe(siteFS))")
            }
        }

        struct Clear: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete the read copies (staging files stay), or the site tier's copies.")
            @OptionGroup var selection: CacheSelection
            @Flag(help: "Empty the site tier (--site-cache, HILBERT_SITE_CACHE) instead of this node's cache.")
            var site = false

            func run() throws {
                if site {
                    let view = try selection.volumes.view()
                    guard let root = view.siteCache else {
                        throw CLIError("cache clear --site: no site cache is set (--site-cache DIR, HILBERT_SITE_CACHE, site-cache = in the config file)")
                    }
                    let siteDirs = try selection.siteDirectories(view)
                    var total = (files: 0, bytes: Int64(0))
                    for (uuid, label) in siteDirs {
                        let removed = try openSiteTier(view, uuid).clear()
                        print("volume \(uuid)\(label.map { " (\($0))" } ?? ""): deleted \(removed.files) objects, \(CacheLimits.describe(removed.bytes)) from the site cache")
                        total.files += removed.files
                        total.bytes += removed.bytes
                    }
                    print("cleared \(total.files) objects, \(CacheLimits.describe(total.bytes)), from \(root)")
                    return
                }
                let (view, dirs) = try selection.resolve()
                var files = 0
                var bytes: Int64 = 0
                for (uuid, label) in dirs {
                    let c = try openCache(view, uuid)
                    let removed = c.clearReadCopies()
                    let staging = c.stagingUsage()
                    print("volume \(uuid)\(label.map { " (\($0))" } ?? ""): deleted \(removed.files) read copies, \(CacheLimits.describe(removed.bytes)); \(staging.files) staging files kept")
                    files += removed.files
                    bytes += removed.bytes
                }
                print("cleared \(files) read copies, \(CacheLimits.describe(bytes)), from \(view.cache)")
            }
        }
    }
}

/// The cache directory and volumes `hilbert cache` works on.
struct CacheSelection: ParsableArguments {
    @OptionGroup var volumes: MountOptions
    @Option(help: "Only this volume: a mount prefix, a metadata URL or the volume's UUID.")
    var volume: String?

    /// The view (its cache limits exported, as every command does) and the volume directories.
    func resolve() throws -> (View, [(uuid: String, label: String?)]) {
        let view = try volumes.view()
        view.exportCacheSettings()
        return (view, try volumeDirectories(view, only: volume))
    }

    /// The volume directories of the site tier (`<site>/<uuid>`), as `resolve` finds the node's.
    func siteDirectories(_ view: View) throws -> [(uuid: String, label: String?)] {
        guard let site = view.siteCache else { return [] }
        return try volumeDirectories(view, only: volume, in: site, marker: "objects")
    }
}

/// The volume directories of the cache (`<cache>/<uuid>`), each with the mount prefix it is
/// seen under when a volume of the mount table has that UUID; only the one `only` names.
private func volumeDirectories(_ view: View, only: String?, in root: String? = nil,
                               marker: String = "files") throws -> [(uuid: String, label: String?)] {
    let root = root ?? view.cache
    var labels: [String: String] = [:]
    var wanted: String?
    for m in view.mounts {
        guard let v = try? Volume.open(m, cacheRoot: view.cache, createIfDefault: false) else { continue }
        labels[v.format.uuid] = m.prefix
        if only == m.prefix || only == m.metaURL { wanted = v.format.uuid }
        v.meta.close()
    }
    if let only, wanted == nil, !only.hasPrefix("/"), !only.contains(":") { wanted = only }
    if let only, wanted == nil {
        throw CLIError("--volume \(only): no volume of the mount table is there (give a prefix, a metadata URL or a UUID)")
    }
    guard Sys.exists(root) else { return [] }
    let names: [String]
    do { names = try Sys.listDirectory(root) } catch { throw CLIError("cannot read the cache directory \(root): \(error)") }
    var out: [(String, String?)] = []
    for n in names.sorted() where Sys.exists(root + "/" + n + "/" + marker) {
        if let wanted, n != wanted { continue }
        out.append((n, labels[n]))
    }
    if let wanted, out.isEmpty { print("volume \(wanted): nothing cached in \(root)") }
    return out
}

private func openCache(_ view: View, _ uuid: String) throws -> CacheDirectory {
    do {
        return try CacheDirectory.open(root: view.cache, volumeUUID: uuid, limits: view.cacheLimits)
    } catch {
        throw CLIError(error.message)
    }
}

private func openSiteTier(_ view: View, _ uuid: String) throws -> SiteTier {
    do {
        return try SiteTier.open(root: view.siteCache!, volumeUUID: uuid,
                                 capacity: view.siteCacheSize.flatMap { try? CacheLimits.parseSize($0, setting: "") })
    } catch {
        throw CLIError(error.message)
    }
}

private func fileSystemBytes(_ path: String) -> Int64 {
    guard let vfs = try? Sys.statvfs(path) else { return 0 }
    return Int64(vfs.f_blocks) * Int64(vfs.f_frsize)
}

private func freeBytes(_ path: String) -> Int64 {
    guard let vfs = try? Sys.statvfs(path) else { return 0 }
    return Int64(vfs.f_bavail) * Int64(vfs.f_frsize)
}
