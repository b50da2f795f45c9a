import Glibc
import HilbertSupport

/// A Hilbert config file: `mount = PREFIX=URL` (repeatable), `cache = DIR`, `cache-size = SIZE`
/// and `cache-free = SIZE|N%` lines (CacheLimits), `site-cache = DIR` and `site-cache-size = SIZE`
/// (SiteCacheSetting), '#' comments. The user's file and the site's
/// file have the same form.
///
/// Values may name `$USER`, `$UID`, `$HOME` and `$TMPDIR` (also as `${NAME}`), so that one
/// site file serves every user (`cache = /local/scratch/hilbert-$USER`). `$TMPDIR` is /tmp
/// when unset. Any other `$NAME` is an error rather than a silent empty string.
public struct ConfigFile: Sendable, Equatable {
    public var path: String
    public var mounts: [MountSpec] = []
    public var cache: String?
    public var cacheSize: String?
    public var cacheFree: String?
    public var siteCache: String?
    public var siteCacheSize: String?

    /// The file at `path`; nil when there is none (ENOENT). Any other failure to read it, and
    /// any line it cannot understand, is an error naming the file and line.
    public static func load(_ path: String) throws(HilbertError) -> ConfigFile? {
        guard let f = fopen(path, "r") else {
            let e = Errno.current
            if e == .noEntry || e == .notDirectory { return nil }
            throw HilbertError(e, "cannot read the config file \(path): \(e)")
        }
        defer { fclose(f) }
        var config = ConfigFile(path: path)
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        var number = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            number += 1
            try config.apply(String(cString: line!), at: number)
        }
        return config
    }

    /// Parse text as if it were a file's contents.
    public static func parse(_ text: String, path: String) throws(HilbertError) -> ConfigFile {
        var config = ConfigFile(path: path)
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            try config.apply(String(line), at: i + 1)
        }
        return config
    }

    public init(path: String) { self.path = path }

    private mutating func apply(_ raw: String, at number: Int) throws(HilbertError) {
        var text = raw
        if let hash = text.firstIndex(of: "#") { text = String(text[..<hash]) }
        if text.trimmingSpaces.isEmpty { return }
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard parts.count == 2 else { throw HilbertError(.invalid, "\(path):\(number): expected 'key = value'") }
        do throws(HilbertError) {
            let value = try ConfigFile.expand(parts[1])
            switch parts[0] {
            case "mount": mounts += try Settings.parseMounts(value)
            case "cache": cache = try absolute(value, parts[0])
            case "cache-size": cacheSize = try size(value, parts[0])
            case "cache-free":
                _ = try CacheLimits.parseFree(value, setting: "cache-free")
                cacheFree = value
            case "site-cache": siteCache = try absolute(value, parts[0])
            case "site-cache-size": siteCacheSize = try size(value, parts[0])
            default: throw HilbertError(.invalid, "unknown setting '\(parts[0])' (known: mount, cache, cache-size, cache-free, site-cache, site-cache-size)")
            }
        } catch {
            throw HilbertError(error.errno, "\(path):\(number): \(error.message)")
        }
    }

    private func absolute(_ value: String, _ key: String) throws(HilbertError) -> String {
        guard value.hasPrefix("/") else { throw HilbertError(.invalid, "\(key) '\(value)' must be an absolute path") }
        return value
    }

    private func size(_ value: String, _ key: String) throws(HilbertError) -> String {
        _ = try CacheLimits.parseSize(value, setting: key)
        return value
    }

    /// `$NAME` and `${NAME}` for the four names above.
    static func expand(_ value: String) throws(HilbertError) -> String {
        var out = ""
        var rest = Substring(value)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            var after = rest[rest.index(after: dollar)...]
            let name: Substring
            if after.first == "{" {
                guard let close = after.firstIndex(of: "}") else {
                    throw HilbertError(.invalid, "unterminated ${ in '\(value)'")
                }
                name = after[after.index(after: after.startIndex)..<close]
                after = after[after.index(after: close)...]
            } else {
                let end = after.firstIndex(where: { !($0.isLetter || $0.isNumber || $0 == "_") }) ?? after.endIndex
                name = after[..<end]
                after = after[end...]
            }
            switch name {
            case "USER": out += Settings.userName
            case "UID": out += String(getuid())
            case "HOME": out += Settings.home
            case "TMPDIR": out += Settings.temporaryDirectory
            default:
                throw HilbertError(.invalid, "'$\(name)' in '\(value)': only $USER, $UID, $HOME and $TMPDIR can be used")
            }
            rest = after
        }
        return out + rest
    }
}
