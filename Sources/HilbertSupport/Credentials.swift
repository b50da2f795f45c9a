import Glibc
import CHilbertSys

/// Who is asking, read at the moment of the call (programs switch uid/gid/groups at run time).
public struct Credentials: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
    public static var root: Credentials { Credentials(uid: 0, gid: 0) }

    /// Effective ids of the calling thread (AT_EACCESS semantics).
    public static func effective() -> Credentials {
        CredentialCache.get(real: false) { Credentials(uid: geteuid(), gid: getegid(), groups: supplementaryGroups()) }
    }
    /// Real ids (access(2) without AT_EACCESS).
    public static func real() -> Credentials {
        CredentialCache.get(real: true) { Credentials(uid: getuid(), gid: getgid(), groups: supplementaryGroups()) }
    }
    static func supplementaryGroups() -> [UInt32] {
        var buf = [gid_t](repeating: 0, count: 64)
        var n = hl_sys_groups(&buf, 64)
        if n < 0 {
            let count = hl_sys_groups(nil, 0)
            guard count > 0 else { return [] }
            buf = [gid_t](repeating: 0, count: Int(count))
            n = hl_sys_groups(&buf, count)
            if n < 0 { return [] }
        }
        return Array(buf[0..<Int(n)])
    }
    public var isRoot: Bool { uid == 0 }
    public func inGroup(_ g: UInt32) -> Bool { g == gid || groups.contains(g) }
}

/// Credentials read once per change: inside a shimmed process the shim counts every
/// set*id/setgroups call, so three system calls per operation become one counter read.
/// Without the shim (CLI, tests) the generation is 0 and nothing is cached.
public enum CredentialCache {
    private static let lock = Lock()

    /// In a child after fork (another thread of the parent may have held the lock).
    public static func afterForkInChild() { lock.reinitialize() }

    nonisolated(unsafe) private static var generation: UInt = 0
    nonisolated(unsafe) private static var effective: Credentials?
    nonisolated(unsafe) private static var realIDs: Credentials?

    static func get(real: Bool, _ read: () -> Credentials) -> Credentials {
        let gen = hl_sys_cred_generation()
        if gen == 0 { return read() }
        lock.lock()
        defer { lock.unlock() }
        if gen != generation {
            generation = gen
            effective = nil
            realIDs = nil
        }
        if let c = real ? realIDs : effective { return c }
        let c = read()
        if real { realIDs = c } else { effective = c }
        return c
    }
}
