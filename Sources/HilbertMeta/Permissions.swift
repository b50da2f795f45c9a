import Glibc
import HilbertSupport

let S_ISUID_: UInt32 = 0o4000
let S_ISGID_: UInt32 = 0o2000
let S_ISVTX_: UInt32 = 0o1000
let S_IXGRP_: UInt32 = 0o0010

extension MetaStore {
    /// POSIX permission check of `mask` (R_OK|W_OK|X_OK bits) against `attr` for `cred`.
    /// Root bypasses r/w; root gets x when the object is a directory or has any x bit.
    /// Otherwise the owner, group (primary or supplementary) or other class decides alone.
    @inline(__always)
    public static func checkAccess(_ attr: Attr, _ mask: Int32, _ cred: Credentials) -> Bool {
        let want = UInt32(mask & 7)
        if want == 0 { return true }
        if cred.uid == 0 {
            if want & UInt32(X_OK) == 0 { return true }
            return attr.isDirectory || attr.mode & 0o111 != 0
        }
        let bits: UInt32
        if cred.uid == attr.uid {
            bits = (attr.mode >> 6) & 7
        } else if cred.inGroup(attr.gid) {
            bits = (attr.mode >> 3) & 7
        } else {
            bits = attr.mode & 7
        }
        return bits & want == want
    }

    /// Throwing form: EACCES when denied.
    @inline(__always)
    static func require(_ attr: Attr, _ mask: Int32, _ cred: Credentials) throws(Errno) {
        if !checkAccess(attr, mask, cred) { throw Errno.access }
    }

    /// Sticky-directory rule: in a directory with S_ISVTX only the owner of the entry, the
    /// owner of the directory or root may remove or rename the entry.
    @inline(__always)
    static func stickyAllows(dir: Attr, victim: Attr, _ cred: Credentials) -> Bool {
        if dir.mode & S_ISVTX_ == 0 || cred.uid == 0 { return true }
        return cred.uid == victim.uid || cred.uid == dir.uid
    }

    /// The mode after a write by `cred` (Linux file_remove_privs): non-root writers lose
    /// S_ISUID, and S_ISGID when group-exec is set (S_ISGID without g+x marks mandatory
    /// locking and stays). Use on the data commit path.
    @inline(__always)
    public static func modeAfterWrite(_ mode: UInt32, _ cred: Credentials) -> UInt32 {
        if cred.uid == 0 { return mode }
        return clearSetID(mode)
    }

    /// The mode after chown of a non-directory (Linux clears set-id bits even for root).
    @inline(__always)
    public static func modeAfterChown(_ mode: UInt32) -> UInt32 {
        if mode & 0o170000 == FileType.directory.rawValue { return mode }
        return clearSetID(mode)
    }

    @inline(__always)
    static func clearSetID(_ mode: UInt32) -> UInt32 {
        var m = mode & ~S_ISUID_
        if m & S_IXGRP_ != 0 { m &= ~S_ISGID_ }
        return m
    }

    /// Check a name for a new or looked-up directory entry.
    @inline(__always)
    static func validateName(_ name: [UInt8]) throws(Errno) {
        if name.isEmpty { throw Errno.noEntry }
        if name.count > 255 { throw Errno.nameTooLong }
        if name == [0x2e] || name == [0x2e, 0x2e] { throw Errno.exists }
        for b in name where b == 0x2f || b == 0 { throw Errno.invalid }
    }
}
