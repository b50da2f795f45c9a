import Glibc
import CZstd
import HilbertSupport

/// Per-thread state of the data layer: the reusable zstd contexts and the precise reason of
/// the last failure thrown on this thread. Held in a pthread key; freed when the thread exits.
final class ThreadState {
    private var cctxStorage: OpaquePointer?
    private var dctxStorage: OpaquePointer?
    var lastError: HilbertError?

    var cctx: OpaquePointer? {
        if cctxStorage == nil { cctxStorage = ZSTD_createCCtx() }
        return cctxStorage
    }
    var dctx: OpaquePointer? {
        if dctxStorage == nil { dctxStorage = ZSTD_createDCtx() }
        return dctxStorage
    }
    deinit {
        if let c = cctxStorage { ZSTD_freeCCtx(c) }
        if let d = dctxStorage { ZSTD_freeDCtx(d) }
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { p in
            if let p { Unmanaged<ThreadState>.fromOpaque(p).release() }
        }
        return k
    }()

    static var current: ThreadState {
        if let p = pthread_getspecific(key) {
            return Unmanaged<ThreadState>.fromOpaque(p).takeUnretainedValue()
        }
        let s = ThreadState()
        pthread_setspecific(key, Unmanaged.passRetained(s).toOpaque())
        return s
    }
}

/// Error reporting of the data layer. Functions throw only an `Errno` (what crosses the
/// ABI); before throwing a failure users must understand (EIO from a corrupt or missing
/// object, cache-directory setup), they record a `HilbertError` with the precise reason
/// here, per thread. Worker-thread failures are re-recorded on the calling thread.
public enum DataErrors {
    /// The precise reason of the last recorded failure on the calling thread, if any.
    public static var last: HilbertError? {
        get { ThreadState.current.lastError }
        set { ThreadState.current.lastError = newValue }
    }
    /// Record `message` for this thread and return `errno`, for `throw DataErrors.fail(...)`.
    @discardableResult
    public static func fail(_ errno: Errno, _ message: String) -> Errno {
        ThreadState.current.lastError = HilbertError(errno, message)
        Log.debug(message)
        return errno
    }
}
