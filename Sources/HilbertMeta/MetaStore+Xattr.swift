import Glibc
import HilbertSupport

public let XATTR_CREATE_: Int32 = 1
public let XATTR_REPLACE_: Int32 = 2
private let userPrefix: [UInt8] = Array("user.".utf8)

extension MetaStore {
    /// Only "user." names are supported (EOPNOTSUPP otherwise); ERANGE beyond 255 bytes.
    static func checkXattrName(_ name: [UInt8]) throws(Errno) {
        if name.count > 255 { throw Errno.range }
        if name.count <= userPrefix.count || !name.starts(with: userPrefix) { throw Errno.notSupported }
    }

    /// Value of an extended attribute (read permission). ENODATA when absent.
    public func getxattr(_ ino: Ino, name: [UInt8], cred: Credentials) throws(Errno) -> [UInt8] {
        try MetaStore.checkXattrName(name)
        return try read { () throws(Errno) -> [UInt8] in
            let a = try loadAttr(ino)
            try MetaStore.require(a, R_OK, cred)
            let s = try conn.prepare("SELECT value FROM hl_xattr WHERE ino=?1 AND name=?2")
            defer { s.reset() }
            s.bind(1, ino); s.bind(2, blob: name)
            guard try s.step() else { throw Errno.noData }
            return s.blob(0)
        }
    }

    /// Set an extended attribute. flags: XATTR_CREATE (EEXIST when present), XATTR_REPLACE
    /// (ENODATA when absent). Needs write permission or ownership; only regular files and
    /// directories carry user attributes (EPERM otherwise). Values up to 64 KiB (E2BIG).
    public func setxattr(_ ino: Ino, name: [UInt8], value: [UInt8], flags: Int32, cred: Credentials) throws(Errno) {
        try MetaStore.checkXattrName(name)
        if value.count > 65536 { throw Errno(E2BIG) }
        if flags & ~(XATTR_CREATE_ | XATTR_REPLACE_) != 0 || flags == XATTR_CREATE_ | XATTR_REPLACE_ { throw Errno.invalid }
        try write { () throws(Errno) in
            let a = try loadAttr(ino)
            try checkXattrWrite(a, cred)
            let exists = try xattrExists(ino, name)
            if flags & XATTR_CREATE_ != 0 && exists { throw Errno.exists }
            if flags & XATTR_REPLACE_ != 0 && !exists { throw Errno.noData }
            let s = try conn.prepare("INSERT OR REPLACE INTO hl_xattr(ino, name, value) VALUES(?1, ?2, ?3)")
            s.bind(1, ino); s.bind(2, blob: name); s.bind(3, blob: value)
            try s.run()
            try touchNode(ino, nlinkDelta: 0, Timespec.now())
        }
    }

    /// Names of the extended attributes of `ino` (no permission needed beyond lookup).
    public func listxattr(_ ino: Ino) throws(Errno) -> [[UInt8]] {
        try read { () throws(Errno) -> [[UInt8]] in
            _ = try loadAttr(ino)
            let s = try conn.prepare("SELECT name FROM hl_xattr WHERE ino=?1 ORDER BY name")
            defer { s.reset() }
            s.bind(1, ino)
            var out: [[UInt8]] = []
            while try s.step() { out.append(s.blob(0)) }
            return out
        }
    }

    public func removexattr(_ ino: Ino, name: [UInt8], cred: Credentials) throws(Errno) {
        try MetaStore.checkXattrName(name)
        try write { () throws(Errno) in
            let a = try loadAttr(ino)
            try checkXattrWrite(a, cred)
            if try !xattrExists(ino, name) { throw Errno.noData }
            let s = try conn.prepare("DELETE FROM hl_xattr WHERE ino=?1 AND name=?2")
            s.bind(1, ino); s.bind(2, blob: name)
            try s.run()
            try touchNode(ino, nlinkDelta: 0, Timespec.now())
        }
    }

    func checkXattrWrite(_ a: Attr, _ cred: Credentials) throws(Errno) {
        if !a.isRegular && !a.isDirectory { throw Errno.perm }
        let isOwner = cred.uid == 0 || cred.uid == a.uid
        if a.isDirectory && a.mode & S_ISVTX_ != 0 && !isOwner { throw Errno.perm }
        if !isOwner && !MetaStore.checkAccess(a, W_OK, cred) { throw Errno.access }
    }

    func xattrExists(_ ino: Ino, _ name: [UInt8]) throws(Errno) -> Bool {
        let s = try conn.prepare("SELECT 1 FROM hl_xattr WHERE ino=?1 AND name=?2")
        defer { s.reset() }
        s.bind(1, ino); s.bind(2, blob: name)
        return try s.step()
    }
}
