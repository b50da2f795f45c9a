import HilbertSupport

/// Where a volume's metadata lives: a META-URL, parsed. What a URL means is known here and in
/// its backend only; the rest of Hilbert (Volume, the CLI) asks the questions below and opens
/// and creates stores through `MetaStore.open(_:)` / `MetaStore.create(_:…)`.
public enum MetaURL: Equatable, Sendable {
    case sqlite(path: String)
    /// libpq's URI with Hilbert's own parameters taken out (PGURL).
    case postgres(PGURLValue)

    public init(_ text: String) throws(HilbertError) {
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard path.hasPrefix("/") else {
                throw HilbertError(.invalid, "'\(text)': the SQLite path must be absolute (sqlite:///abs/path/meta.db)")
            }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(PGURLValue(try PGURL(text)))
        } else {
            throw HilbertError(.invalid, "'\(text)' is not a metadata URL (expected sqlite:///abs/path/meta.db or postgres://[user@]host[:port]/dbname[?schema=NAME])")
        }
    }

    /// The directories on this host that hold the metadata (made by `hilbert format`, bound
    /// into containers, checked by `hilbert doctor`); none for a metadata server.
    public var hostDirectories: [String] {
        switch self {
        case .sqlite(let path):
            let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            return [dir.isEmpty ? "/" : dir]
        case .postgres: return []
        }
    }

    /// Where `hilbert format` puts the objects when it is given no --bucket; nil when it must be.
    public var defaultObjectDirectory: String? {
        switch self {
        case .sqlite: return hostDirectories[0] == "/" ? "/objects" : hostDirectories[0] + "/objects"
        case .postgres: return nil
        }
    }

    /// Whether something is there to open (without opening it); nil when only a server knows
    /// (opening or creating tells).
    public var exists: Bool? {
        switch self {
        case .sqlite(let path): return Sys.exists(path)
        case .postgres: return nil
        }
    }

    /// How to remove a volume that cannot be opened (an interrupted `hilbert load`), for
    /// messages: what the user runs.
    public var removalHint: String {
        switch self {
        case .sqlite(let path):
            return "rm -f " + ["", "-wal", "-shm", "-epoch", "-reserve"].map { shellWord(path + $0) }.joined(separator: " ")
        case .postgres(let u):
            return "psql " + shellWord(u.url.conninfo) + " -c " + shellWord("DROP SCHEMA \"\(u.url.schema)\" CASCADE")
        }
    }

    private func shellWord(_ s: String) -> String {
        let plain = s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7a) || "/._+,:=@%-".utf8.contains(c)
        }
        if plain && !s.isEmpty { return s }
        var out = "'"
        for c in s { if c == "'" { out += "'\\''" } else { out.append(c) } }
        return out + "'"
    }
}

extension MetaStore {
    /// The store of an existing volume.
    public static func open(_ url: MetaURL) throws(Errno) -> MetaStore {
        switch url {
        case .sqlite(let path): return try open(path: path)
        case .postgres(let u): return try open(postgres: u.url)
        }
    }

    /// A new volume's store; EEXIST when one (or anything else) is there.
    public static func create(_ url: MetaURL, format: VolumeFormat, rootUID: UInt32, rootGID: UInt32,
                              rootMode: UInt32 = 0o755) throws(Errno) -> MetaStore {
        switch url {
        case .sqlite(let path): return try create(path: path, format: format, rootUID: rootUID, rootGID: rootGID, rootMode: rootMode)
        case .postgres(let u): return try create(postgres: u.url, format: format, rootUID: rootUID, rootGID: rootGID, rootMode: rootMode)
        }
    }

    /// A new volume's store for `hilbert load`: the schema and the `loading` marker only (no
    /// settings, no root node), so that `open` refuses it until the load has finished;
    /// `source` names the dump in the marker. EEXIST when one (or anything else) is there.
    static func createForLoad(_ url: MetaURL, format: VolumeFormat, source: String) throws(Errno) -> MetaStore {
        switch url {
        case .sqlite(let path): return try createForLoad(path: path, format: format, source: source)
        case .postgres(let u): return try createForLoad(postgres: u.url, format: format, source: source)
        }
    }
}

/// A parsed postgres:// META-URL, opaque outside HilbertMeta.
public struct PGURLValue: Equatable, Sendable {
    let url: PGURL
    init(_ url: PGURL) { self.url = url }
    /// What messages show (no password; the schema).
    public var display: String { url.display }
}
