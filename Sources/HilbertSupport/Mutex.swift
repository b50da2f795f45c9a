import Glibc
import CHilbertSys

/// A plain pthread mutex. The engine re-initialises its locks in the child after fork
/// (see HilbertCore's fork handling), so this stays a thin wrapper; a thread waiting for it
/// steps out of the fork gate (forkgate.c).
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    @inline(__always)
    public func lock() { hl_gate_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// After fork in the child: the parent's holder does not exist here.
    public func reinitialize() { pthread_mutex_init(mutex, nil) }
    @inline(__always)
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
