import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

@Suite struct PermissionTests {
    func attr(mode: UInt32, uid: UInt32 = 1000, gid: UInt32 = 1000) -> Attr {
        let t = Timespec(sec: 0, nsec: 0)
        return Attr(ino: 9, mode: mode, nlink: 1, uid: uid, gid: gid, rdev: 0, size: 0, atime: t, mtime: t, ctime: t,
                    btime: t, parent: 0, version: 0, staged: false)
    }

    @Test func checkAccessRules() {
        let f = attr(mode: 0o100640)
        #expect(MetaStore.checkAccess(f, R_OK | W_OK, alice))
        #expect(!MetaStore.checkAccess(f, X_OK, alice))
        #expect(!MetaStore.checkAccess(f, R_OK, bob))
        #expect(MetaStore.checkAccess(f, R_OK, Credentials(uid: 1001, gid: 5, groups: [1000])))
        #expect(!MetaStore.checkAccess(f, W_OK, Credentials(uid: 1001, gid: 1000)))
        #expect(MetaStore.checkAccess(f, R_OK | W_OK, root))
        #expect(!MetaStore.checkAccess(f, X_OK, root))
        #expect(MetaStore.checkAccess(attr(mode: 0o100001), X_OK, root))
        #expect(MetaStore.checkAccess(attr(mode: 0o040000), X_OK, root))
        // The owner class decides alone even when "other" would allow.
        #expect(!MetaStore.checkAccess(attr(mode: 0o100007), R_OK, alice))
        #expect(MetaStore.modeAfterWrite(0o106755, alice) == 0o100755)
        #expect(MetaStore.modeAfterWrite(0o102640, alice) == 0o102640)   // sgid without g+x stays
        #expect(MetaStore.modeAfterWrite(0o106755, root) == 0o106755)
    }

    @Test func writeNeedsPermission() throws {
        try withVolume { s, _ in
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: alice)
            #expect(throws: Errno.access) { _ = try s.createFile(parent: d.ino, name: b("x"), mode: 0o644, cred: bob, exclusive: true) }
            #expect(throws: Errno.access) { _ = try s.mkdir(parent: d.ino, name: b("x"), mode: 0o755, cred: bob) }
            _ = try s.createFile(parent: d.ino, name: b("x"), mode: 0o644, cred: alice, exclusive: true)
            #expect(throws: Errno.access) { _ = try s.unlink(parent: d.ino, name: b("x"), cred: bob) }
            // O_CREAT of an existing file needs only search permission.
            #expect(try !s.createFile(parent: d.ino, name: b("x"), mode: 0o644, cred: bob, exclusive: false).created)
        }
    }

    @Test func stickyDirectory() throws {
        try withVolume { s, _ in
            let tmp = try s.mkdir(parent: rootIno, name: b("tmp"), mode: 0o1777, cred: root)
            _ = try s.createFile(parent: tmp.ino, name: b("a"), mode: 0o644, cred: alice, exclusive: true)
            _ = try s.createFile(parent: tmp.ino, name: b("b"), mode: 0o644, cred: bob, exclusive: true)
            #expect(throws: Errno.perm) { _ = try s.unlink(parent: tmp.ino, name: b("a"), cred: bob) }
            #expect(throws: Errno.perm) { try s.rename(parent: tmp.ino, name: b("a"), newParent: tmp.ino, newName: b("c"), cred: bob) }
            #expect(throws: Errno.perm) { try s.rename(parent: tmp.ino, name: b("b"), newParent: tmp.ino, newName: b("a"), cred: bob) }
            try s.rename(parent: tmp.ino, name: b("b"), newParent: tmp.ino, newName: b("c"), cred: bob)
            _ = try s.unlink(parent: tmp.ino, name: b("a"), cred: alice)
            _ = try s.unlink(parent: tmp.ino, name: b("c"), cred: root)
        }
    }

    @Test func setgidDirectory() throws {
        try withVolume { s, _ in
            let shared = try s.mkdir(parent: rootIno, name: b("shared"), mode: 0o777, cred: root)
            _ = try s.setattr(ino: shared.ino, mode: 0o2777, gid: 50, cred: root)
            let f = try s.createFile(parent: shared.ino, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            #expect(f.gid == 50 && f.uid == 1000 && f.mode & 0o2000 == 0)
            let sub = try s.mkdir(parent: shared.ino, name: b("sub"), mode: 0o755, cred: alice)
            #expect(sub.gid == 50 && sub.mode & 0o2000 != 0)
            let plain = try s.createFile(parent: rootIno, name: b("p"), mode: 0o644, cred: alice, exclusive: true).attr
            #expect(plain.gid == 1000)
        }
    }

    @Test func chmodChownUtimens() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            #expect(throws: Errno.perm) { try s.setattr(ino: f.ino, mode: 0o600, cred: bob) }
            var a = try s.setattr(ino: f.ino, mode: 0o4755, cred: alice)
            #expect(a.mode == 0o104755 && a.ctime >= f.ctime)
            // Owner not in the file's group loses S_ISGID on chmod.
            _ = try s.setattr(ino: f.ino, gid: 77, cred: root)
            a = try s.setattr(ino: f.ino, mode: 0o2755, cred: alice)
            #expect(a.mode & 0o2000 == 0)
            // chown: uid only by root; gid to own groups only.
            #expect(throws: Errno.perm) { try s.setattr(ino: f.ino, uid: 1001, cred: alice) }
            #expect(throws: Errno.perm) { try s.setattr(ino: f.ino, gid: 1001, cred: alice) }
            a = try s.setattr(ino: f.ino, gid: 1000, cred: alice)
            #expect(a.gid == 1000)
            _ = try s.setattr(ino: f.ino, mode: 0o6755, cred: root)
            a = try s.setattr(ino: f.ino, uid: 1001, cred: root)
            #expect(a.uid == 1001 && a.mode & 0o6000 == 0)
            // Times: explicit needs owner; now needs write permission.
            let t = Timespec(sec: 1_000_000, nsec: 5)
            #expect(throws: Errno.perm) { try s.setattr(ino: f.ino, atime: .set(t), mtime: .set(t), cred: alice) }
            #expect(throws: Errno.access) { try s.setattr(ino: f.ino, atime: .now, mtime: .now, cred: alice) }
            a = try s.setattr(ino: f.ino, mtime: .set(t), cred: bob)
            #expect(a.mtime == t && a.atime != t)
            _ = try s.setattr(ino: f.ino, mode: 0o666, cred: bob)
            a = try s.setattr(ino: f.ino, atime: .now, mtime: .now, cred: alice)
            #expect(a.mtime > t)
            #expect(try s.getattr(f.ino) == a)
        }
    }

    @Test func xattrs() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: alice, exclusive: true).attr
            try s.setxattr(f.ino, name: b("user.k"), value: b("v"), flags: 0, cred: alice)
            try s.setxattr(f.ino, name: b("user.empty"), value: [], flags: XATTR_CREATE_, cred: alice)
            #expect(try s.getxattr(f.ino, name: b("user.k"), cred: bob) == b("v"))
            #expect(try s.getxattr(f.ino, name: b("user.empty"), cred: bob) == [])
            #expect(throws: Errno.exists) { try s.setxattr(f.ino, name: b("user.k"), value: b("w"), flags: XATTR_CREATE_, cred: alice) }
            #expect(throws: Errno.noData) { try s.setxattr(f.ino, name: b("user.x"), value: b("w"), flags: XATTR_REPLACE_, cred: alice) }
            #expect(throws: Errno.notSupported) { try s.setxattr(f.ino, name: b("trusted.k"), value: b("w"), flags: 0, cred: root) }
            #expect(throws: Errno.access) { try s.setxattr(f.ino, name: b("user.k"), value: b("w"), flags: 0, cred: bob) }
            #expect(throws: Errno.noData) { _ = try s.getxattr(f.ino, name: b("user.none"), cred: alice) }
            #expect(try s.listxattr(f.ino) == [b("user.empty"), b("user.k")])
            try s.removexattr(f.ino, name: b("user.k"), cred: alice)
            #expect(throws: Errno.noData) { try s.removexattr(f.ino, name: b("user.k"), cred: alice) }
            #expect(try s.listxattr(f.ino) == [b("user.empty")])
            try s.setxattr(f.ino, name: b("user.empty"), value: b("now"), flags: XATTR_REPLACE_, cred: alice)
            #expect(try s.getxattr(f.ino, name: b("user.empty"), cred: bob) == b("now"))
            _ = try s.setattr(ino: f.ino, mode: 0o000, cred: alice)
            #expect(throws: Errno.access) { _ = try s.getxattr(f.ino, name: b("user.empty"), cred: bob) }
            _ = try s.unlink(parent: rootIno, name: b("f"), cred: alice)
            #expect(try s.read { () throws(Errno) in try s.backend.xattrNames(f.ino) }.isEmpty, "a destroyed node keeps no attributes")
        }
    }
}
