import Glibc
import CSQLite
import HilbertSupport

/// SQLite's unix VFS calls libc directly. Inside the engine (loaded by the LD_PRELOAD shim)
/// its descriptors should be engine-private (moved high, CLOEXEC, hidden from the program)
/// and opened/closed through the real-function table. `routeThroughSys()` swaps SQLite's
/// "open" and "close" system calls for `Sys.openPrivate` / `Sys.closePrivate`. Process-wide;
/// call once before opening stores (opt-in: the CLI and tests do not need it).
public enum SQLiteSystemCalls {
    private static let lock = Lock()
    nonisolated(unsafe) private static var installed = false

    @discardableResult
    public static func routeThroughSys() -> Bool {
        lock.withLock { () -> Bool in
            if installed { return true }
            guard let vfs = sqlite3_vfs_find("unix"), let set = vfs.pointee.xSetSystemCall else { return false }
            let openFn: @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> Int32 = { path, flags, mode in
                guard let path else { Glibc.errno = EFAULT; return -1 }
                do throws(Errno) {
                    return try Sys.openPrivate(String(cString: path), flags, mode_t(mode))
                } catch {
                    Glibc.errno = error.rawValue
                    return -1
                }
            }
            let closeFn: @convention(c) (Int32) -> Int32 = { fd in
                Sys.closePrivate(fd)
                return 0
            }
            let rc1 = set(vfs, "open", unsafeBitCast(openFn, to: sqlite3_syscall_ptr.self))
            let rc2 = set(vfs, "close", unsafeBitCast(closeFn, to: sqlite3_syscall_ptr.self))
            installed = rc1 == SQLITE_OK && rc2 == SQLITE_OK
            return installed
        }
    }
}
