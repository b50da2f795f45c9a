import Glibc
import CHilbertSys
import HilbertSupport

/// One entry of the mount table: a path prefix and the metadata URL of its volume.
public struct MountSpec: Equatable, Sendable {
    public var prefix: String
    public var metaURL: String
    public init(prefix: String, metaURL: String) {
        self.prefix = MountSpec.normalizePrefix(prefix)
        self.metaURL = metaURL
    }
    static func normalizePrefix(_ p: String) -> String {
        let bytes = Array(p.utf8)
        var end = bytes.count
        while end > 1 && bytes[end - 1] == UInt8(ascii: "/") { end -= 1 }
        return end == bytes.count ? p : String(decoding: bytes[..<end], as: UTF8.self)
    }
}

/// Where Hilbert keeps things when nobody said otherwise. The precedence of the places a
/// setting can come from is in View.swift; the shim and the engine read only the environment
/// (HILBERT_MOUNTS, HILBERT_CACHE) and fall back to the embedded defaults here, which every
/// entry point (CLI, module, launcher, container helper) computes the same way.
public enum Settings {
    public static let defaultPrefix = "/hilbert"

    /// How long the objects of a replaced or removed file of several blocks stay in the store
    /// for the readers of that version (docs/FORMAT.md, "Deferred deletion"), in seconds:
    /// HILBERT_KEEP_REPLACED, default one hour. 0 deletes them right after the commit.
    public static var keepReplacedSeconds: Int64 {
        if let text = getEnv("HILBERT_KEEP_REPLACED"), let n = Int64(text), n >= 0 { return n }
        return 3600
    }

    public static var home: String {
        if let h = getEnv("HOME"), !h.isEmpty { return h }
        if let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir { return String(cString: dir) }
        return "/tmp/hilbert-\(getuid())"
    }

    public static var defaultVolumeDirectory: String {
        let base = getEnv("XDG_DATA_HOME").flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.local/share"
        return base + "/hilbert/default"
    }

    public static var defaultMetaURL: String { "sqlite://" + defaultVolumeDirectory + "/meta.db" }

    /// HILBERT_CACHE, else the embedded default `${TMPDIR:-/tmp}/hilbert-$USER`: node-local
    /// on clusters (a home directory is usually shared between nodes, and the cache holds each
    /// node's private staging files) and per job where the batch system gives jobs a TMPDIR.
    public static var cacheDirectory: String {
        if let c = getEnv("HILBERT_CACHE"), !c.isEmpty { return c }
        return defaultCacheDirectory
    }

    public static var defaultCacheDirectory: String { temporaryDirectory + "/hilbert-" + userName }

    public static var temporaryDirectory: String {
        if let t = getEnv("TMPDIR"), t.hasPrefix("/") { return t }
        return "/tmp"
    }

    /// $USER when it is a plain name, else the password database's name for our uid, else the
    /// uid: it becomes part of a path, so it never holds a slash.
    public static var userName: String {
        if let u = getEnv("USER"), !u.isEmpty, !u.contains("/"), u != ".", u != ".." { return u }
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name {
            let s = String(cString: name)
            if !s.isEmpty && !s.contains("/") { return s }
        }
        return String(getuid())
    }

    public static var configFilePath: String {
        if let c = getEnv("HILBERT_CONFIG"), !c.isEmpty { return c }
        let base = getEnv("XDG_CONFIG_HOME").flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
        return base + "/hilbert/config"
    }

    /// Parse "PREFIX=URL;PREFIX=URL": blanks around each part are ignored, blank entries
    /// skipped, malformed ones are errors (not guesses). Works on UTF-8 bytes: it runs in the
    /// first touch of every process, where Character iteration (grapheme breaking) and the
    /// generic Substring code it pulls in cost tens of microseconds.
    public static func parseMounts(_ text: String) throws(HilbertError) -> [MountSpec] {
        var mounts: [MountSpec] = []
        let bytes = Array(text.utf8)
        func string(_ lo: Int, _ hi: Int) -> String {
            var lo = lo, hi = hi
            while lo < hi && isBlank(bytes[lo]) { lo += 1 }
            while hi > lo && isBlank(bytes[hi - 1]) { hi -= 1 }
            return String(decoding: bytes[lo..<hi], as: UTF8.self)
        }
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: ";") { end += 1 }
            defer { start = end + 1 }
            let entry = string(start, end)
            if entry.isEmpty { continue }
            guard let eq = bytes[start..<end].firstIndex(of: UInt8(ascii: "=")) else {
                throw HilbertError(.invalid, "mount entry '\(entry)' is not PREFIX=META-URL")
            }
            let prefix = string(start, eq)
            let url = string(eq + 1, end)
            guard prefix.utf8.first == UInt8(ascii: "/"), MountSpec.normalizePrefix(prefix) != "/" else {
                throw HilbertError(.invalid, "mount prefix '\(prefix)' must be an absolute path other than /")
            }
            guard !url.isEmpty else { throw HilbertError(.invalid, "mount '\(prefix)' has no metadata URL") }
            mounts.append(MountSpec(prefix: prefix, metaURL: url))
        }
        return mounts
    }

    private static func isBlank(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r")
    }

    public static func formatMounts(_ mounts: [MountSpec]) -> String {
        mounts.map { "\($0.prefix)=\($0.metaURL)" }.joined(separator: ";")
    }
}

extension StringProtocol {
    /// Without leading and trailing blanks (spaces, tabs, line ends).
    public var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
