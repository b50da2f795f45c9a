import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

@Suite struct NamespaceTests {
    @Test func createAndLookup() throws {
        try withVolume { s, _ in
            let r = try s.createFile(parent: rootIno, name: b("f"), mode: 0o640, cred: alice, exclusive: false)
            #expect(r.created && r.attr.isRegular && r.attr.mode & 0o7777 == 0o640 && r.attr.uid == 1000 && r.attr.nlink == 1)
            let again = try s.createFile(parent: rootIno, name: b("f"), mode: 0o600, cred: alice, exclusive: false)
            #expect(!again.created && again.attr.ino == r.attr.ino)
            #expect(throws: Errno.exists) { _ = try s.createFile(parent: rootIno, name: b("f"), mode: 0o600, cred: alice, exclusive: true) }
            #expect(try s.lookup(parent: rootIno, name: b("f"))?.ino == r.attr.ino)
            #expect(try s.lookup(parent: rootIno, name: b("nope")) == nil)
            #expect(try s.getattr(r.attr.ino) == r.attr)
            #expect(throws: Errno.exists) { _ = try s.mkdir(parent: rootIno, name: b("f"), mode: 0o755, cred: root) }
            #expect(throws: Errno.notDirectory) { _ = try s.mkdir(parent: r.attr.ino, name: b("x"), mode: 0o755, cred: root) }
            #expect(throws: Errno.invalid) { _ = try s.mkdir(parent: rootIno, name: b("a/b"), mode: 0o755, cred: root) }
            let fifo = try s.mknod(parent: rootIno, name: b("p"), mode: FileType.fifo.rawValue | 0o644, rdev: 0, cred: alice)
            #expect(fifo.type == .fifo)
            #expect(throws: Errno.perm) { _ = try s.mknod(parent: rootIno, name: b("c"), mode: FileType.charDevice.rawValue | 0o644, rdev: 5, cred: alice) }
            let dev = try s.mknod(parent: rootIno, name: b("c"), mode: FileType.charDevice.rawValue | 0o644, rdev: 0x0103, cred: root)
            #expect(dev.rdev == 0x0103 && dev.type == .charDevice)
            #expect(try s.usage().inodes == 4)
        }
    }

    @Test func mkdirRmdirUnlink() throws {
        try withVolume { s, _ in
            let a = try s.mkdir(parent: rootIno, name: b("a"), mode: 0o755, cred: root)
            #expect(a.nlink == 2 && a.parent == rootIno)
            #expect(try s.getattr(rootIno).nlink == 3)
            let c = try s.mkdir(parent: a.ino, name: b("c"), mode: 0o755, cred: root)
            _ = try s.createFile(parent: a.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true)
            #expect(try s.getattr(a.ino).nlink == 3)
            #expect(throws: Errno.notEmpty) { _ = try s.rmdir(parent: rootIno, name: b("a"), cred: root) }
            #expect(throws: Errno.notDirectory) { _ = try s.rmdir(parent: a.ino, name: b("f"), cred: root) }
            #expect(throws: Errno.isDirectory) { _ = try s.unlink(parent: a.ino, name: b("c"), cred: root) }
            #expect(throws: Errno.noEntry) { _ = try s.unlink(parent: a.ino, name: b("zz"), cred: root) }
            let rel = try s.unlink(parent: a.ino, name: b("f"), cred: root)
            #expect(rel.destroyed.count == 1)
            _ = try s.rmdir(parent: a.ino, name: b("c"), cred: root)
            #expect(throws: Errno.noEntry) { _ = try s.getattr(c.ino) }
            #expect(try s.getattr(a.ino).nlink == 2)
            _ = try s.rmdir(parent: rootIno, name: b("a"), cred: root)
            #expect(try s.getattr(rootIno).nlink == 2)
            #expect(try s.usage().inodes == 1)
        }
    }

    @Test func hardLinks() throws {
        try withVolume { s, _ in
            let f = try s.createFile(parent: rootIno, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            let l = try s.link(ino: f.ino, newParent: d.ino, newName: b("g"), cred: root)
            #expect(l.nlink == 2)
            #expect(throws: Errno.perm) { _ = try s.link(ino: d.ino, newParent: rootIno, newName: b("d2"), cred: root) }
            #expect(throws: Errno.exists) { _ = try s.link(ino: f.ino, newParent: rootIno, newName: b("d"), cred: root) }
            let r1 = try s.unlink(parent: rootIno, name: b("f"), cred: root)
            #expect(r1.destroyed.isEmpty)
            #expect(try s.getattr(f.ino).nlink == 1)
            #expect(try s.lookup(parent: d.ino, name: b("g"))?.ino == f.ino)
            let r2 = try s.unlink(parent: d.ino, name: b("g"), cred: root)
            #expect(r2.destroyed == [f.ino])
        }
    }

    @Test func renameVariants() throws {
        try withVolume { s, _ in
            let a = try s.mkdir(parent: rootIno, name: b("a"), mode: 0o755, cred: root)
            let bdir = try s.mkdir(parent: rootIno, name: b("b"), mode: 0o755, cred: root)
            let sub = try s.mkdir(parent: a.ino, name: b("sub"), mode: 0o755, cred: root)
            let f = try s.createFile(parent: a.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr
            let g = try s.createFile(parent: bdir.ino, name: b("g"), mode: 0o644, cred: root, exclusive: true).attr
            // Replace a file.
            let rel = try s.rename(parent: a.ino, name: b("f"), newParent: bdir.ino, newName: b("g"), cred: root)
            #expect(rel.destroyed == [g.ino])
            #expect(try s.lookup(parent: bdir.ino, name: b("g"))?.ino == f.ino)
            #expect(try s.lookup(parent: a.ino, name: b("f")) == nil)
            // NOREPLACE.
            _ = try s.createFile(parent: a.ino, name: b("h"), mode: 0o644, cred: root, exclusive: true)
            #expect(throws: Errno.exists) {
                try s.rename(parent: a.ino, name: b("h"), newParent: bdir.ino, newName: b("g"), flags: RENAME_NOREPLACE_, cred: root)
            }
            // EXCHANGE a file and a directory across parents.
            try s.rename(parent: a.ino, name: b("sub"), newParent: bdir.ino, newName: b("g"), flags: RENAME_EXCHANGE_, cred: root)
            #expect(try s.lookup(parent: bdir.ino, name: b("g"))?.ino == sub.ino)
            #expect(try s.lookup(parent: a.ino, name: b("sub"))?.ino == f.ino)
            #expect(try s.getattr(sub.ino).parent == bdir.ino)
            #expect(try s.getattr(a.ino).nlink == 2)
            #expect(try s.getattr(bdir.ino).nlink == 3)
            #expect(throws: Errno.noEntry) {
                try s.rename(parent: a.ino, name: b("h"), newParent: bdir.ino, newName: b("zz"), flags: RENAME_EXCHANGE_, cred: root)
            }
            // Directory into its own subtree.
            let deep = try s.mkdir(parent: sub.ino, name: b("deep"), mode: 0o755, cred: root)
            #expect(throws: Errno.invalid) {
                try s.rename(parent: bdir.ino, name: b("g"), newParent: deep.ino, newName: b("x"), cred: root)
            }
            #expect(throws: Errno.invalid) {
                try s.rename(parent: rootIno, name: b("b"), newParent: sub.ino, newName: b("x"), cred: root)
            }
            // A target directory that is the source's parent or above it: ENOTEMPTY, before
            // file types and permissions (Linux's order); NOREPLACE onto the source itself.
            #expect(throws: Errno.notEmpty) {
                try s.rename(parent: sub.ino, name: b("deep"), newParent: rootIno, newName: b("b"), cred: root)
            }
            #expect(throws: Errno.notEmpty) {
                try s.rename(parent: sub.ino, name: b("deep"), newParent: bdir.ino, newName: b("g"), cred: alice)
            }
            #expect(throws: Errno.exists) {
                try s.rename(parent: sub.ino, name: b("deep"), newParent: sub.ino, newName: b("deep"), flags: RENAME_NOREPLACE_, cred: alice)
            }
            // Directory over file / file over directory / non-empty directory.
            #expect(throws: Errno.notDirectory) {
                try s.rename(parent: sub.ino, name: b("deep"), newParent: a.ino, newName: b("h"), cred: root)
            }
            #expect(throws: Errno.isDirectory) {
                try s.rename(parent: a.ino, name: b("h"), newParent: sub.ino, newName: b("deep"), cred: root)
            }
            #expect(throws: Errno.notEmpty) {
                try s.rename(parent: rootIno, name: b("a"), newParent: rootIno, newName: b("b"), cred: root)
            }
            // Directory over an empty directory, across parents: nlink bookkeeping.
            let empty = try s.mkdir(parent: rootIno, name: b("empty"), mode: 0o755, cred: root)
            let rootLinks = try s.getattr(rootIno).nlink
            let r = try s.rename(parent: sub.ino, name: b("deep"), newParent: rootIno, newName: b("empty"), cred: root)
            #expect(r.destroyed == [empty.ino])
            #expect(try s.getattr(rootIno).nlink == rootLinks)
            #expect(try s.getattr(sub.ino).nlink == 2)
            #expect(try s.getattr(deep.ino).parent == rootIno)
            #expect(try s.path(of: deep.ino) == b("/empty"))
            // Rename onto another link of the same file: no-op.
            _ = try s.link(ino: f.ino, newParent: a.ino, newName: b("f2"), cred: root)
            try s.rename(parent: a.ino, name: b("sub"), newParent: a.ino, newName: b("f2"), cred: root)
            #expect(try s.getattr(f.ino).nlink == 2)
            #expect(try s.lookup(parent: a.ino, name: b("sub"))?.ino == f.ino)
        }
    }

    @Test func readdirCookiesStable() throws {
        try withVolume { s, _ in
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            for i in 0..<10 { _ = try s.createFile(parent: d.ino, name: b("f\(i)"), mode: 0o644, cred: root, exclusive: true) }
            _ = try s.mkdir(parent: d.ino, name: b("sub"), mode: 0o755, cred: root)
            let first = try s.readdir(d.ino, after: 0, limit: 5)
            #expect(first.map { $0.name } == [b("."), b(".."), b("f0"), b("f1"), b("f2")])
            #expect(first[0].ino == d.ino && first[1].ino == rootIno && first[0].cookie == 1 && first[1].cookie == 2)
            #expect(first[2].type == UInt8(DT_REG))
            // Delete entries before and after the cursor, add a new one: no skips, no repeats.
            _ = try s.unlink(parent: d.ino, name: b("f1"), cred: root)
            _ = try s.unlink(parent: d.ino, name: b("f3"), cred: root)
            _ = try s.createFile(parent: d.ino, name: b("new"), mode: 0o644, cred: root, exclusive: true)
            let rest = try s.readdir(d.ino, after: first.last!.cookie, limit: 100)
            #expect(rest.map { $0.name } == [b("f4"), b("f5"), b("f6"), b("f7"), b("f8"), b("f9"), b("sub"), b("new")])
            #expect(rest[6].type == UInt8(DT_DIR))
            #expect(try s.readdir(d.ino, after: rest.last!.cookie, limit: 100).isEmpty)
            let one = try s.readdir(d.ino, after: 1, limit: 1)
            #expect(one.map { $0.name } == [b("..")])
        }
    }
}
