import Glibc
import CHilbertSys

/// Messages for users: one line, prefixed "hilbert:", straight to fd 2 through the real
/// write (the engine must not re-enter the shim, and stdio buffers belong to the program).
public enum Log {
    nonisolated(unsafe) public static var debugEnabled: Bool = getEnv("HILBERT_DEBUG").map { $0 != "" && $0 != "0" } ?? false

    public static func error(_ message: String) {
        Sys.write(fd: 2, "hilbert: \(message)\n")
    }
    public static func debug(_ message: @autoclosure () -> String) {
        if debugEnabled { Sys.write(fd: 2, "hilbert[\(getpid())]: \(message())\n") }
    }
}
