/// An error with a human explanation, for the CLI and for the one stderr line the engine
/// prints when something users must act on goes wrong. `errno` is what crosses the ABI.
public struct HilbertError: Error, CustomStringConvertible, Sendable {
    public let errno: Errno
    public let message: String
    public init(_ errno: Errno, _ message: String) {
        self.errno = errno
        self.message = message
    }
    public var description: String { "\(message) (\(errno))" }
}
