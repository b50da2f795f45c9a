import Glibc
import HilbertSupport

/// A file of `size` bytes beside the metadata database (`<db>-reserve`, 0600), written in
/// full so that its blocks are allocated. When the database's file system is full, SQLite
/// cannot even record a removal (the WAL must grow), so space could never be freed through
/// Hilbert; a removal that fails with ENOSPC releases the reserve and is tried once more.
/// A later process puts the reserve back when there is room (one stat when it is there).
final class SpaceReserve {
    static let size = 2 << 20
    /// The reserve is put back only when this many times its size is free.
    static let roomFactor: UInt64 = 4
    let path: String

    init(databasePath: String) {
        path = databasePath + "-reserve"
        restore()
    }

    /// Write the reserve if it is missing, or put it back once the file system has room for it
    /// several times over if it was released (it is then there, empty). A reserve just
    /// released leaves about its own size free, and a process opening the volume meanwhile
    /// (`hilbert run` opens it beside the job it starts) must not take that space back from
    /// the removal that freed it: it did, and the removal, tried once more, failed with ENOSPC
    /// (meta-full.t, 7 runs in 60 under load).
    private func restore() {
        if let st = try? Sys.stat(path) {
            if st.st_size >= SpaceReserve.size { return }
            guard let fs = try? Sys.statvfs(path),
                  UInt64(fs.f_bavail) * UInt64(fs.f_frsize) >= UInt64(SpaceReserve.size) * SpaceReserve.roomFactor else { return }
        }
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
