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
            guard let value = try backend.xattr(ino, name) else { throw Errno.noData }
            return value
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
            if flags & (XATTR_CREATE_ | XATTR_REPLACE_) != 0 {
                let exists = try backend.xattr(ino, name) != nil
                if flags & XATTR_CREATE_ != 0 && exists { throw Errno.exists }
                if flags & XATTR_REPLACE_ != 0 && !exists { throw Errno.noData }
            }
            try backend.putXattr(ino, name, value)
            try touchNode(ino, nlinkDelta: 0, Timespec.now())
        }
    }

    /// Names of the extended attributes of `ino` (no permission needed beyond lookup).
    public func listxattr(_ ino: Ino) throws(Errno) -> [[UInt8]] {
        try read { () throws(Errno) -> [[UInt8]] in
            _ = try loadAttr(ino)
            return try backend.xattrNames(ino)
        }
    }

    public func removexattr(_ ino: Ino, name: [UInt8], cred: Credentials) throws(Errno) {
        try MetaStore.checkXattrName(name)
        try write { () throws(Errno) in
            let a = try loadAttr(ino)
            try checkXattrWrite(a, cred)
            if try !backend.deleteXattr(ino, name) { throw Errno.noData }
            try touchNode(ino, nlinkDelta: 0, Timespec.now())
        }
    }

    func checkXattrWrite(_ a: Attr, _ cred: Credentials) throws(Errno) {
        if !a.isRegular && !a.isDirectory { throw Errno.perm }
        let isOwner = cred.uid == 0 || cred.uid == a.uid
        if a.isDirectory && a.mode & S_ISVTX_ != 0 && !isOwner { throw Errno.perm }
        if !isOwner && !MetaStore.checkAccess(a, W_OK, cred) { throw Errno.access }
    }
}
