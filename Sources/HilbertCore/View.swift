import Glibc
import HilbertSupport

/// Where a setting came from, highest precedence first.
public enum SettingSource: String, Sendable {
    case commandLine = "command line"
    case environment = "environment"
    case userFile = "config file"
    case siteFile = "site default"
    case embedded = "embedded default"
}

/// What a program sees: the mount table, the cache directory and its limits (CacheLimits), each
/// with its source.
///
/// Every entry point resolves it here, once, and hands the result on in the environment
/// (HILBERT_MOUNTS, HILBERT_CACHE): `hilbert run`/`shell`/`env`/`flush`/`status`/`doctor`
/// directly; the modulefiles and the container helper through `hilbert config --get`;
/// `hilbert-launch` through `hilbert run`. So a batch step, an srun step, a container and
/// `hilbert run` in one session see the same volumes through the same cache. The shim and the
/// engine read only the environment, once per process, and fall back to the embedded default,
/// which this resolution also ends in.
///
/// Each setting is taken from the first place that sets it:
///   1. the command line (`--mount PREFIX=URL`, repeatable; `--cache DIR`; `--cache-size`,
///      `--cache-free`; `--site-cache DIR`, `--site-cache-size`)
///   2. the environment (HILBERT_MOUNTS="PREFIX=URL;...", HILBERT_CACHE, HILBERT_CACHE_SIZE,
///      HILBERT_CACHE_FREE, HILBERT_SITE_CACHE, HILBERT_SITE_CACHE_SIZE)
///   3. the user's config file: $HILBERT_CONFIG, else ${XDG_CONFIG_HOME:-$HOME/.config}/hilbert/config
///   4. the site's config file: INSTALL/etc/hilbert/config (beside the install's bin/ and lib/)
///   5. the embedded default: /hilbert on ${XDG_DATA_HOME:-$HOME/.local/share}/hilbert/default
///      (created on first use), cache ${TMPDIR:-/tmp}/hilbert-$USER
/// Mounts are taken as a whole table from one place (never merged across places).
public struct View: Sendable, Equatable {
    public var mounts: [MountSpec]
    public var mountsSource: SettingSource
    public var cache: String
    public var cacheSource: SettingSource
    /// The cache's limits as given (nil: the embedded default), checked, and where each came from.
    public var cacheSize: String?
    public var cacheSizeSource = SettingSource.embedded
    public var cacheFree: String?
    public var cacheFreeSource = SettingSource.embedded
    /// The site tier (SiteCacheSetting) and its limit, nil when unset.
    public var siteCache: String?
    public var siteCacheSource = SettingSource.embedded
    public var siteCacheSize: String?
    public var siteCacheSizeSource = SettingSource.embedded
    /// The files consulted (whether or not they exist), for `hilbert config`.
    public var userFile: String
    public var siteFile: String?

    public static func resolve(mountArguments: [String], cacheArgument: String?,
                               cacheSizeArgument: String? = nil, cacheFreeArgument: String? = nil,
                               siteCacheArgument: String? = nil, siteCacheSizeArgument: String? = nil,
                               siteFile: String?) throws(HilbertError) -> View {
        let userPath = Settings.configFilePath
        let explicitUserFile = getEnv("HILBERT_CONFIG").map { !$0.isEmpty } ?? false
        var files: [(SettingSource, ConfigFile)]?
        func loadFiles() throws(HilbertError) -> [(SettingSource, ConfigFile)] {
            if let files { return files }
            var found: [(SettingSource, ConfigFile)] = []
            if let f = try ConfigFile.load(userPath) {
                found.append((.userFile, f))
            } else if explicitUserFile {
                throw HilbertError(.noEntry, "HILBERT_CONFIG names \(userPath), which does not exist")
            }
            if let site = siteFile, let f = try ConfigFile.load(site) { found.append((.siteFile, f)) }
            files = found
            return found
        }

        var mounts = [MountSpec(prefix: Settings.defaultPrefix, metaURL: Settings.defaultMetaURL)]
        var mountsSource = SettingSource.embedded
        if !mountArguments.isEmpty {
            mounts = try Settings.parseMounts(mountArguments.joined(separator: ";"))
            mountsSource = .commandLine
        } else if let env = getEnv("HILBERT_MOUNTS"), !env.isEmpty {
            mounts = try Settings.parseMounts(env)
            mountsSource = .environment
        } else if let (source, file) = try loadFiles().first(where: { !$0.1.mounts.isEmpty }) {
            mounts = file.mounts
            mountsSource = source
        }
        guard !mounts.isEmpty else { throw HilbertError(.invalid, "the mount table is empty") }
        var seen = Set<String>()
        for m in mounts where !seen.insert(m.prefix).inserted {
            throw HilbertError(.invalid, "the prefix \(m.prefix) is mounted twice (\(mountsSource.rawValue))")
        }

        // A single setting from the first place that sets it (nil: none does).
        func pick(_ argument: String?, _ variable: String, _ inFile: (ConfigFile) -> String?)
            throws(HilbertError) -> (value: String, source: SettingSource)? {
            if let a = argument, !a.isEmpty { return (a, .commandLine) }
            if let e = getEnv(variable), !e.isEmpty { return (e, .environment) }
            if let (source, file) = try loadFiles().first(where: { inFile($0.1) != nil }) { return (inFile(file)!, source) }
            return nil
        }

        let (cache, cacheSource) = try pick(cacheArgument, "HILBERT_CACHE", { $0.cache })
            ?? (Settings.defaultCacheDirectory, .embedded)
        guard cache.hasPrefix("/") else {
            throw HilbertError(.invalid, "the cache directory must be an absolute path, not '\(cache)' (\(cacheSource.rawValue))")
        }
        var view = View(mounts: mounts, mountsSource: mountsSource, cache: cache, cacheSource: cacheSource,
                        userFile: userPath, siteFile: siteFile)
        // Each limit is checked where it was given, the message naming it (a config file's
        // values were checked when it was read).
        if let (size, source) = try pick(cacheSizeArgument, CacheLimits.sizeVariable, { $0.cacheSize }) {
            if source == .commandLine || source == .environment {
                _ = try CacheLimits.parseSize(size, setting: source == .commandLine ? "--cache-size" : CacheLimits.sizeVariable)
            }
            (view.cacheSize, view.cacheSizeSource) = (size, source)
        }
        if let (free, source) = try pick(cacheFreeArgument, CacheLimits.freeVariable, { $0.cacheFree }) {
            if source == .commandLine || source == .environment {
                _ = try CacheLimits.parseFree(free, setting: source == .commandLine ? "--cache-free" : CacheLimits.freeVariable)
            }
            (view.cacheFree, view.cacheFreeSource) = (free, source)
        }
        if let (dir, source) = try pick(siteCacheArgument, SiteCacheSetting.variable, { $0.siteCache }) {
            guard dir.hasPrefix("/") else {
                throw HilbertError(.invalid, "the site cache directory must be an absolute path, not '\(dir)' (\(source.rawValue))")
            }
            (view.siteCache, view.siteCacheSource) = (dir, source)
        }
        if let (size, source) = try pick(siteCacheSizeArgument, SiteCacheSetting.sizeVariable, { $0.siteCacheSize }) {
            if source == .commandLine || source == .environment {
                _ = try CacheLimits.parseSize(size, setting: source == .commandLine ? "--site-cache-size" : SiteCacheSetting.sizeVariable)
            }
            (view.siteCacheSize, view.siteCacheSizeSource) = (size, source)
        }
        return view
    }

    /// Put the limits and the site tier into this process's environment, where the engine reads them (in this
    /// process and in every child it starts); an embedded default is no variable at all.
    public func exportCacheSettings() {
        for (name, value) in [(CacheLimits.sizeVariable, cacheSize), (CacheLimits.freeVariable, cacheFree),
                              (SiteCacheSetting.variable, siteCache), (SiteCacheSetting.sizeVariable, siteCacheSize)] {
            if let value { setenv(name, value, 1) } else { unsetenv(name) }
        }
    }

    /// The limits this view sets, parsed (checked when it was resolved).
    public var cacheLimits: CacheLimits {
        CacheLimits(size: cacheSize.flatMap { try? CacheLimits.parseSize($0, setting: "") },
                    free: cacheFree.flatMap { try? CacheLimits.parseFree($0, setting: "") })
    }
}
