import Glibc
import HilbertSupport

/// A file of `size` bytes beside the metadata database (`<db>-reserve`, 0600), written in
/// full so that its blocks are allocated. When the database's file system is full, SQLite
/// cannot even record a removal (the WAL must grow), so space could never be freed through
/// Hilbert; a removal that fails with ENOSPC releases the reserve and is tried once more.
/// A later process puts the reserve back when there is room (one stat when it is there).
final class SpaceReserve {
    static let size = 2 << 20
    let path: String

    init(databasePath: String) {
        path = databasePath + "-reserve"
        restore()
    }

    /// Write the reserve if it is missing or was released (no room: try again next time).
    private func restore() {
        if let st = try? Sys.stat(path), st.st_size >= SpaceReserve.size { return }
        guard let fd = try? Sys.openPrivate(path, O_WRONLY | O_CREAT, 0o600) else { return }
        defer { Sys.closePrivate(fd) }
        let zeros = [UInt8](repeating: 0, count: SpaceReserve.size)
        if (try? Sys.pwriteAll(fd, zeros, 0)) == nil { try? Sys.ftruncate(fd, 0) }
    }

    /// Give the reserve's space back to the file system. Returns whether there was any.
    func release() -> Bool {
        guard let st = try? Sys.stat(path), st.st_size > 0,
              let fd = try? Sys.openPrivate(path, O_WRONLY) else { return false }
        defer { Sys.closePrivate(fd) }
        return (try? Sys.ftruncate(fd, 0)) != nil
    }
}
