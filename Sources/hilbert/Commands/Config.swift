import ArgumentParser
import Glibc
import HilbertCore
import HilbertData
import HilbertMeta
import HilbertSupport

extension Hilbert {
    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which volumes and cache directory programs see here, and where each setting came from.",
            discussion: """
            Each setting comes from the first of: the command line, the environment \
            (HILBERT_MOUNTS, HILBERT_CACHE, HILBERT_CACHE_SIZE, HILBERT_CACHE_FREE, \
            HILBERT_SITE_CACHE, HILBERT_SITE_CACHE_SIZE), your config file ($HILBERT_CONFIG, else \
            ~/.config/hilbert/config), the site's file (INSTALL/etc/hilbert/config), the embedded \
            default (/hilbert on ~/.local/share/hilbert/default, cache ${TMPDIR:-/tmp}/hilbert-$USER). \
            The module, hilbert-launch, hilbert run/shell/env and hilbert-container all resolve \
            the same way.

            --get prints bare values, one line each, in the order asked (for scripts and \
            modulefiles): mounts (PREFIX=URL;...), cache, binds (the existing directories a \
            container needs bound, comma-separated: the cache, created if missing, and each \
            volume's metadata and object directories; the default volume's directory is created), \
            cache-size and cache-free (empty when the embedded default holds), site-cache and \
            site-cache-size (empty when unset: no site tier).

            Examples:
              hilbert config
              hilbert config --get mounts --get cache
              HILBERT_CONFIG=/tmp/test.conf hilbert config
            """)

        @OptionGroup var volumes: MountOptions

        @Option(help: "Print only this value: mounts, cache, binds, cache-size, cache-free, site-cache or site-cache-size (repeatable; an unset one prints an empty line).")
        var get: [String] = []

        func run() throws {
            let v = try volumes.view()
            if get.isEmpty {
                let from = { (s: SettingSource) -> String in
                    switch s {
                    case .userFile: return "config file \(v.userFile)"
                    case .siteFile: return "site default \(v.siteFile ?? "")"
                    default: return s.rawValue
                    }
                }
                for m in v.mounts { print("mount  \(m.prefix) = \(m.metaURL)   (\(from(v.mountsSource)))") }
                print("cache  \(v.cache)   (\(from(v.cacheSource)))")
                print("cache-size  \(v.cacheSize ?? CacheLimits.defaultSizeText)   (\(from(v.cacheSizeSource)))")
                print("cache-free  \(v.cacheFree ?? CacheLimits.defaultFreeText)   (\(from(v.cacheFreeSource)))")
                print("site-cache  \(v.siteCache ?? "none")   (\(from(v.siteCacheSource)))")
                if v.siteCache != nil {
                    print("site-cache-size  \(v.siteCacheSize ?? SiteTier.defaultSizeText)   (\(from(v.siteCacheSizeSource)))")
                }
                print("config file:  \(v.userFile)\(Sys.exists(v.userFile) ? "" : " (none)")")
                if let site = v.siteFile { print("site default: \(site)\(Sys.exists(site) ? "" : " (none)")") }
                return
            }
            for key in get {
                switch key {
                case "mounts": print(Settings.formatMounts(v.mounts))
                case "cache": print(v.cache)
                case "binds": print(try binds(v).joined(separator: ","))
                case "cache-size": print(v.cacheSize ?? "")
                case "cache-free": print(v.cacheFree ?? "")
                case "site-cache": print(v.siteCache ?? "")
                case "site-cache-size": print(v.siteCacheSize ?? "")
                default: throw CLIError("--get \(key): unknown (mounts, cache, binds, cache-size, cache-free, site-cache, site-cache-size)")
                }
            }
        }

        /// The directories a container must see for this view, each once.
        func binds(_ v: View) throws -> [String] {
            do { try CacheDirectory.makeRoot(v.cache) } catch { throw CLIError(error.message) }
            var dirs = [v.cache]
            if let site = v.siteCache {
                do throws(Errno) { try Sys.mkdirs(site, 0o700) } catch {
                    throw CLIError("site cache \(site): cannot create: \(error)")
                }
                if !dirs.contains(site) { dirs.append(site) }
            }
            func add(_ d: String) {
                if Sys.exists(d) && !dirs.contains(where: { d == $0 || d.hasPrefix($0 + "/") }) { dirs.append(d) }
            }
            for m in v.mounts {
                guard let url = try? MetaURL(m.metaURL) else { continue }
                // The embedded default volume is made on first use, possibly inside the
                // container: its directory must exist now to be bound.
                if m.metaURL == Settings.defaultMetaURL { try? Sys.mkdirs(Settings.defaultVolumeDirectory, 0o700) }
                url.hostDirectories.forEach(add)
                // The file store may live outside the metadata directory; a volume that cannot
                // be opened here simply adds nothing (its programs will say why).
                if url.exists != false, let meta = try? MetaStore.open(url) {
                    if meta.format.storage == "file" { add(meta.format.bucket) }
                    meta.close()
                }
            }
            for d in dirs where d.contains(",") {
                throw CLIError("cannot bind \(d) into containers: Apptainer bind lists cannot hold a comma")
            }
            return dirs
        }
    }
}
