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
        Credentials(uid: geteuid(), gid: getegid(), groups: supplementaryGroups())
    }
    /// Real ids (access(2) without AT_EACCESS).
    public static func real() -> Credentials {
        Credentials(uid: getuid(), gid: getgid(), groups: supplementaryGroups())
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
