import Glibc
import CHilbertSys
import HilbertSupport

/// A change counter shared by every process using the volume, in a small file beside the
/// database (`<db>-epoch`, mapped MAP_SHARED). Each write transaction bumps it after it
/// ended, so a process whose caches were validated at the current epoch can answer from
/// them without touching SQLite (no BEGIN, no fcntl locks): the stat hot path.
/// A reader that cannot map it (read-only directory) falls back to PRAGMA data_version.
final class ChangeEpoch {
    private let counter: UnsafeMutablePointer<UInt64>?
    private let writable: Bool

    init(databasePath: String) {
        let mode = (try? Sys.stat(databasePath)).map { mode_t($0.st_mode & 0o666) } ?? 0o644
        let p = hl_sys_map_counter(databasePath + "-epoch", mode)
        counter = p
        writable = p != nil && Sys.access(databasePath + "-epoch", W_OK)
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

    func bump() {
        guard let counter, writable else { return }
        hl_counter_bump(counter)
    }
}
