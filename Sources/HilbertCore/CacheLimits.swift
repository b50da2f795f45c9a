import Glibc
import HilbertData
import HilbertSupport

/// How much of its file system the node cache may take: a size limit for the read copies it
/// keeps, and a floor of free space it leaves. Either is a setting (`--cache-size`,
/// `--cache-free`, HILBERT_CACHE_SIZE, HILBERT_CACHE_FREE, `cache-size =` and `cache-free =` in
/// the config file or the site's, View.swift); unset, the embedded default holds: at most
/// min(10 GiB, 10 % of the file system), and 10 % of it left free. Sizes take K, M, G, T
/// (powers of 1024; "KiB", "GB"… are read the same); the floor is also a percentage ("5%").
public struct CacheLimits: Sendable, Equatable {
    public enum Free: Sendable, Equatable {
        case fraction(Double)
        case bytes(Int64)
    }

    /// nil: the embedded default.
    public var size: Int64?
    public var free: Free?

    public init(size: Int64? = nil, free: Free? = nil) {
        self.size = size
        self.free = free
    }

    public static let sizeVariable = "HILBERT_CACHE_SIZE"
    /// How the embedded defaults read in `hilbert config`, `status` and `cache status`.
    public static let defaultSizeText = "min(10 GiB, 10% of the file system)"
    public static let defaultFreeText = "10% of the file system"
    public static let freeVariable = "HILBERT_CACHE_FREE"

    /// The limits the environment sets (what the engine of every process reads); a value that
    /// is not a size is an error naming the variable.
    public static func fromEnvironment() throws(HilbertError) -> CacheLimits {
        var limits = CacheLimits()
        if let text = getEnv(sizeVariable), !text.isEmpty { limits.size = try parseSize(text, setting: sizeVariable) }
        if let text = getEnv(freeVariable), !text.isEmpty { limits.free = try parseFree(text, setting: freeVariable) }
        return limits
    }

    /// "512M", "10G", "1.5T", "4096": bytes. At least 1 MiB (a smaller cache cannot hold a block).
    public static func parseSize(_ text: String, setting: String) throws(HilbertError) -> Int64 {
        guard let n = bytes(text), n >= 1 << 20 else {
            throw HilbertError(.invalid, "\(setting) '\(text)' is not a size of at least 1M (bytes, or a number with K, M, G or T, e.g. 50G)")
        }
        return n
    }

    /// "10%" (of the file system) or a size ("20G"); "0" keeps no floor.
    public static func parseFree(_ text: String, setting: String) throws(HilbertError) -> Free {
        let t = text.trimmingSpaces
        if t.hasSuffix("%") {
            guard let p = Double(t.dropLast().trimmingSpaces), p >= 0, p < 100 else {
                throw HilbertError(.invalid, "\(setting) '\(text)' is not a percentage from 0% to 99%")
            }
            return .fraction(p / 100)
        }
        guard let n = bytes(t) else {
            throw HilbertError(.invalid, "\(setting) '\(text)' is neither a size (e.g. 20G) nor a percentage (e.g. 10%)")
        }
        return .bytes(n)
    }

    /// The number of bytes `text` says, or nil.
    static func bytes(_ text: String) -> Int64? {
        var t = Substring(text.trimmingSpaces.uppercased())
        for unit in ["IB", "B"] where t.hasSuffix(unit) && t.count > unit.count {
            let stem = t.dropLast(unit.count)
            if let last = stem.last, "KMGT".contains(last) || unit == "B" { t = stem; break }
        }
        var scale: Double = 1
        if let last = t.last, let k = "KMGT".firstIndex(of: last) {
            scale = Double(Int64(1) << (10 * ("KMGT".distance(from: "KMGT".startIndex, to: k) + 1)))
            t = t.dropLast()
        }
        let digits = t.trimmingSpaces
        guard !digits.isEmpty, digits.allSatisfy({ $0.isNumber || $0 == "." }), let v = Double(digits) else { return nil }
        let n = v * scale
        guard n.isFinite, n >= 0, n < 9.0e18 else { return nil }
        return Int64(n)
    }

    /// The floor as CacheDirectory takes it: a fraction of the file system, or bytes (which
    /// then replace the fraction).
    public var freeFraction: Double {
        if case .fraction(let f)? = free { return f }
        return 0.1
    }
    public var freeBytes: Int64? {
        if case .bytes(let b)? = free { return b }
        return nil
    }

    /// The size limit in bytes on a file system of `fileSystemBytes` (CacheDirectory's default
    /// when unset).
    public func sizeBytes(fileSystemBytes fs: Int64) -> Int64 {
        size ?? min(10 << 30, fs > 0 ? fs / 10 : 10 << 30)
    }

    /// The floor in bytes on a file system of `fsBytes`.
    public static func floorBytes(_ free: Free?, fsBytes: Int64) -> Int64 {
        switch free ?? .fraction(0.1) {
        case .fraction(let f): return Int64(f * Double(fsBytes))
        case .bytes(let b): return b
        }
    }

    /// How a size reads in messages: "10.0 GiB".
    public static func describe(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        if i == 0 { return "\(n) B" }
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[i])"
    }

    public static func describe(_ free: Free) -> String {
        switch free {
        case .fraction(let f):
            let hundredths = Int((f * 10_000).rounded())
            let whole = "\(hundredths / 100)"
            return (hundredths % 100 == 0 ? whole : whole + "." + String(format2: hundredths % 100)) + "% of the file system"
        case .bytes(let b): return describe(b)
        }
    }
}

extension String {
    /// Two decimal digits, "05" for 5.
    init(format2 n: Int) { self = n < 10 ? "0\(n)" : "\(n)" }
}

extension CacheDirectory {
    /// The cache of volume `volumeUUID` under `root`, with `limits` (unset ones: the defaults).
    public static func open(root: String, volumeUUID: String, limits: CacheLimits) throws(HilbertError) -> CacheDirectory {
        try open(root: root, volumeUUID: volumeUUID, capacityBytes: limits.size,
                 minFreeRatio: limits.freeFraction, minFreeBytes: limits.freeBytes)
    }
}
