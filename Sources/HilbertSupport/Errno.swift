import Glibc

/// A POSIX error number: the currency of every file-system operation (JuiceFS and
/// swift-system style). Only this crosses the C boundary, as -rawValue.
public struct Errno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static var current: Errno { Errno(hl_errno_value()) }

    public static let perm = Errno(EPERM)
    public static let noEntry = Errno(ENOENT)
    public static let io = Errno(EIO)
    public static let badFD = Errno(EBADF)
    public static let again = Errno(EAGAIN)
    public static let noMemory = Errno(ENOMEM)
    public static let access = Errno(EACCES)
    public static let fault = Errno(EFAULT)
    public static let busy = Errno(EBUSY)
    public static let exists = Errno(EEXIST)
    public static let crossDevice = Errno(EXDEV)
    public static let notDirectory = Errno(ENOTDIR)
    public static let isDirectory = Errno(EISDIR)
    public static let invalid = Errno(EINVAL)
    public static let fileTooBig = Errno(EFBIG)
    public static let noSpace = Errno(ENOSPC)
    public static let readOnly = Errno(EROFS)
    public static let tooManyLinks = Errno(EMLINK)
    public static let range = Errno(ERANGE)
    public static let nameTooLong = Errno(ENAMETOOLONG)
    public static let notEmpty = Errno(ENOTEMPTY)
    public static let loop = Errno(ELOOP)
    public static let noData = Errno(ENODATA)
    public static let notSupported = Errno(EOPNOTSUPP)
    public static let noSys = Errno(ENOSYS)
    public static let textBusy = Errno(ETXTBSY)
    public static let wouldBlock = Errno(EWOULDBLOCK)
    public static let interrupted = Errno(EINTR)
    public static let quota = Errno(EDQUOT)
    public static let stale = Errno(ESTALE)
    public static let overflow = Errno(EOVERFLOW)
    public static let timedOut = Errno(ETIMEDOUT)

    public var description: String {
        guard let s = strerror(rawValue) else { return "errno \(rawValue)" }
        return String(cString: s)
    }
}

@inline(__always) func hl_errno_value() -> Int32 { Glibc.errno }

/// Run `body`; when it returns a negative value, throw the thread's errno (EINTR retried).
@inline(__always)
public func sysCall<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw Errno(e)
    }
}

/// Convert a throwing body into the C convention: >= 0 or -errno.
@inline(__always)
public func errnoResult(_ body: () throws(Errno) -> Int) -> Int {
    do { return try body() } catch { return -Int(error.rawValue) }
}
