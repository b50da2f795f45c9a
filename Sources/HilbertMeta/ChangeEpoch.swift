import Glibc
import CHilbertSys
import HilbertSupport

/// A change counter shared by every process using the volume on this node, in a small file
/// (mapped MAP_SHARED): beside an SQLite database (`<db>-epoch`), or in the cache directory for
/// a volume whose metadata is on a server. Each write transaction bumps it after it ended, so a
/// process whose caches were validated at the current epoch can answer from them without
/// asking the database (no BEGIN, no fcntl locks, no round trip): the stat hot path. A reader
/// that cannot map it (read-only directory) asks the database every time.
final class ChangeEpoch {
    private let counter: UnsafeMutablePointer<UInt64>?
    private let writable: Bool

    convenience init(databasePath: String) {
        let mode = (try? Sys.stat(databasePath)).map { mode_t($0.st_mode & 0o666) } ?? 0o644
        self.init(file: databasePath + "-epoch", mode: mode)
    }

    init(file: String, mode: mode_t) {
        let p = hl_sys_map_counter(file, mode)
        counter = p
        writable = p != nil && Sys.access(file, W_OK)
    }

    private init() {
        counter = nil
        writable = false
    }

    /// No shared counter: every cache validation asks the backend.
    static var unavailable: ChangeEpoch { ChangeEpoch() }

    var available: Bool { counter != nil }

    /// The current epoch (0 when unavailable).
    @inline(__always) func load() -> UInt64 {
        guard let counter else { return 0 }
        return hl_counter_load(counter)
    }

    /// Returns the epoch after this bump (0 when unavailable or read-only).
    @discardableResult
    func bump() -> UInt64 {
        guard let counter, writable else { return 0 }
        return hl_counter_bump(counter)
    }
}
