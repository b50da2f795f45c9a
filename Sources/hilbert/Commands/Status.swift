import ArgumentParser
import CHilbertSys
import HilbertCore
import HilbertData
import HilbertMeta
import HilbertSupport

extension Hilbert {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a volume's settings, object store reachability and usage.",
            discussion: """
            Without META-URL: every volume of the mount table (configuration or the default).

            Examples:
              hilbert status
              hilbert status sqlite:///scratch/me/vol/meta.db
            """)

        @Argument(help: "Metadata URL of the volume (default: the mount table).")
        var metaURL: String?

        @OptionGroup var volumes: MountOptions

        func run() throws {
            let view = try volumes.view()
            view.exportCacheSettings()
            let (mounted, cacheDir) = (view.mounts, view.cache)
            let table = metaURL.map { [MountSpec(prefix: "(none)", metaURL: $0)] } ?? mounted
            var failed = false
            for m in table {
                do {
                    let v = try Volume.open(m, cacheRoot: cacheDir, createIfDefault: false)
                    let f = v.format
                    let u = try v.meta.usage()
                    print("Volume '\(f.name)' \(f.uuid)")
                    if m.prefix != "(none)" { print("  mounted on:    \(m.prefix)") }
                    print("  metadata:      \(m.metaURL)")
                    print("  object store:  \(f.storage) \(f.bucket)")
                    let (reachable, access) = probe(v.store, f)
                    print("  store access:  \(v.store.description) \(access)")
                    if !reachable { failed = true }
                    print("  blocks:        \(f.blockSize) bytes, compression \(f.compression), inline up to \(f.inlineMax) bytes")
                    print("  cache:         \(v.cache.root)")
                    let defaultSize = "embedded default: \(CacheLimits.defaultSizeText)"
                    print("  cache limit:   \(CacheLimits.describe(v.cache.capacityBytes)) of read copies (\(view.cacheSize == nil ? defaultSize : view.cacheSizeSource.rawValue))")
                    let floor = view.cacheLimits.free.map(CacheLimits.describe) ?? CacheLimits.defaultFreeText
                    print("  cache floor:   \(floor) left free, now \(CacheLimits.describe(v.cache.freeFloorBytes())) (\(view.cacheFreeSource.rawValue))")
                    let used = v.cache.usage()
                    print("  cache use:     \(used.files) read copies, \(CacheLimits.describe(used.bytes)) on this node")
                    if let tier = v.store.siteTier {
                        let su = tier.usage()
                        print("  site cache:    \(tier.root) (\(view.siteCacheSource.rawValue)): \(su.files) objects, \(CacheLimits.describe(su.bytes)) of \(CacheLimits.describe(tier.capacityBytes)) (\(view.siteCacheSize == nil ? "embedded default: " + SiteTier.defaultSizeText : view.siteCacheSizeSource.rawValue))")
                    } else {
                        print("  site cache:    none (--site-cache, HILBERT_SITE_CACHE)")
                    }
                    print("  inodes:        \(u.inodes)")
                    print("  logical bytes: \(u.logicalBytes) (\(human(u.logicalBytes)))")
                    print("  stored bytes:  \(u.storedBytes) (\(human(u.storedBytes)))")
                    print("  objects:       \(u.objects)")
                    let pending = try v.meta.pendingDeletionTotals()
                    var due = ""
                    if pending.deferred > 0 {
                        due = "; \(pending.deferred) kept until \(pending.deferred == pending.count ? "" : "at most ")\(utcTime(pending.lastDue)) for readers of replaced versions"
                    }
                    print("  pending:       \(pending.count) objects, \(pending.bytes) bytes to delete" +
                          (pending.count > 0 ? " ('hilbert flush' or 'hilbert gc --delete' finishes them\(due))" : ""))
                    print("  staging files: \(try v.meta.stagingCount()) (not yet committed)")
                } catch let e as HilbertError {
                    print("\(m.prefix) → \(m.metaURL): \(e.message)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}

/// Whether the store answers, timed: a `head` of a key no volume uses (object id 0 is never
/// handed out), which every store can answer cheaply. A directory store whose directory is
/// gone answers "missing" to everything, so its root must exist too.
func probe(_ store: ObjectStore, _ f: VolumeFormat) -> (Bool, String) {
    let start = hl_monotonic_ns()
    do throws(Errno) {
        _ = try store.head(objectKey(id: 0))
    } catch {
        return (false, "unreachable: \(error)")
    }
    let ms = (hl_monotonic_ns() &- start) / 1_000_000
    if f.storage == "file" && !Sys.exists(f.bucket) { return (false, "unreachable: \(f.bucket) does not exist") }
    return (true, "reachable (\(ms) ms)")
}

func human(_ n: UInt64) -> String { CacheLimits.describe(Int64(clamping: n)) }

/// A wall-clock second as "YYYY-MM-DD HH:MM:SS UTC".
func utcTime(_ seconds: Int64) -> String {
    var t = time_t(seconds)
    var parts = tm()
    guard gmtime_r(&t, &parts) != nil else { return "\(seconds)" }
    var buf = [CChar](repeating: 0, count: 32)
    let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S UTC", &parts)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
