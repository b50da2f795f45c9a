import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

@Suite struct ResolveTests {
    @Test func rootAndBasics() throws {
        try withVolume { s, _ in
            guard case .found(let p, let n, let a) = try s.res("/") else { Issue.record("root"); return }
            #expect(p == 0 && n.isEmpty && a.ino == rootIno && a.isDirectory)
            let d = try s.mkdir(parent: rootIno, name: b("a"), mode: 0o755, cred: root)
            let f = try s.createFile(parent: d.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true)
            #expect(f.created)
            guard case .found(let p2, let n2, let a2) = try s.res("/a//f") else { Issue.record("f"); return }
            #expect(p2 == d.ino && n2 == b("f") && a2.ino == f.attr.ino)
            #expect(try s.res("a/./f") == .found(parent: d.ino, name: b("f"), attr: f.attr))
            #expect(try s.res("f", base: d.ino) == .found(parent: d.ino, name: b("f"), attr: f.attr))
            #expect(try s.res("/a/g") == .missing(parent: d.ino, name: b("g"), mustBeDirectory: false))
            #expect(try s.res("/a/g/") == .missing(parent: d.ino, name: b("g"), mustBeDirectory: true))
            expectErrno(.noEntry) { _ = try s.res("/x/g") }
            expectErrno(.notDirectory) { _ = try s.res("/a/f/g") }
            expectErrno(.notDirectory) { _ = try s.res("/a/f/") }
            expectErrno(.nameTooLong) { _ = try s.res("/" + String(repeating: "x", count: 256)) }
            // "." and ".." land on directories with their real entry.
            guard case .found(let p3, let n3, let a3) = try s.res("/a/.") else { Issue.record("a/."); return }
            #expect(p3 == rootIno && n3 == b("a") && a3.ino == d.ino)
            guard case .found(_, _, let a4) = try s.res("/a/..") else { Issue.record("a/.."); return }
            #expect(a4.ino == rootIno)
            guard case .found(_, _, let a5) = try s.res("/a/") else { Issue.record("a/"); return }
            #expect(a5.ino == d.ino)
        }
    }

    @Test func dotDotAboveRootRedirects() throws {
        try withVolume { s, _ in
            #expect(try s.res("/..") == .redirect(hostPath: b("/mnt")))
            #expect(try s.res("/../etc/passwd") == .redirect(hostPath: b("/mnt/etc/passwd")))
            let d = try s.mkdir(parent: rootIno, name: b("a"), mode: 0o755, cred: root)
            #expect(try s.res("../../x", base: d.ino) == .redirect(hostPath: b("/mnt/x")))
            #expect(try s.resolve(from: rootIno, path: b("../y"), followLast: true, cred: root, mountPrefix: b("/vol"))
                    == .redirect(hostPath: b("/y")))
        }
    }

    @Test func symlinks() throws {
        try withVolume { s, _ in
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            let f = try s.createFile(parent: d.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr
            let rel = try s.symlink(parent: rootIno, name: b("rel"), target: b("d/f"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("reldir"), target: b("d"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("abs"), target: b("/mnt/vol/d"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("absroot"), target: b("/mnt/vol"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("out"), target: b("/etc"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("near"), target: b("/mnt/volume"), cred: root)
            _ = try s.symlink(parent: d.ino, name: b("up"), target: b("../d/f"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("dangling"), target: b("d/new"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("loop1"), target: b("loop2"), cred: root)
            _ = try s.symlink(parent: rootIno, name: b("loop2"), target: b("loop1"), cred: root)

            #expect(try s.res("/rel") == .found(parent: d.ino, name: b("f"), attr: f))
            guard case .found(_, _, let l) = try s.res("/rel", follow: false) else { Issue.record("nofollow"); return }
            #expect(l.ino == rel.ino && l.isSymlink && l.size == 3)
            #expect(try s.readlink(rel.ino) == b("d/f"))
            #expect(try s.res("/reldir/f", follow: false) == .found(parent: d.ino, name: b("f"), attr: f))
            #expect(try s.res("/abs/f") == .found(parent: d.ino, name: b("f"), attr: f))
            guard case .found(_, _, let r) = try s.res("/absroot") else { Issue.record("absroot"); return }
            #expect(r.ino == rootIno)
            #expect(try s.res("/d/up") == .found(parent: d.ino, name: b("f"), attr: f))
            #expect(try s.res("/out/passwd") == .redirect(hostPath: b("/etc/passwd")))
            #expect(try s.res("/out") == .redirect(hostPath: b("/etc")))
            #expect(try s.res("/near/x") == .redirect(hostPath: b("/mnt/volume/x")))
            guard case .found(_, _, let o) = try s.res("/out", follow: false) else { Issue.record("out nofollow"); return }
            #expect(o.isSymlink)
            // A trailing slash follows the final symlink.
            guard case .found(_, _, let rd) = try s.res("/reldir/", follow: false) else { Issue.record("reldir/"); return }
            #expect(rd.ino == d.ino)
            expectErrno(.notDirectory) { _ = try s.res("/rel/") }
            #expect(try s.res("/dangling") == .missing(parent: d.ino, name: b("new"), mustBeDirectory: false))
            expectErrno(.loop) { _ = try s.res("/loop1") }
            expectErrno(.loop) { _ = try s.res("/loop1/x", follow: false) }
            guard case .found(_, _, let lp) = try s.res("/loop1", follow: false) else { Issue.record("loop nofollow"); return }
            #expect(lp.isSymlink)
        }
    }

    @Test func searchPermission() throws {
        try withVolume { s, _ in
            let d = try s.mkdir(parent: rootIno, name: b("priv"), mode: 0o700, cred: alice)
            _ = try s.createFile(parent: d.ino, name: b("f"), mode: 0o644, cred: alice, exclusive: true)
            #expect(throws: Errno.access) { _ = try s.res("/priv/f", cred: bob) }
            guard case .found = try s.res("/priv/f", cred: alice) else { Issue.record("alice"); return }
            guard case .found = try s.res("/priv/f", cred: root) else { Issue.record("root"); return }
            // The directory itself can be found without x on it.
            guard case .found = try s.res("/priv", cred: bob) else { Issue.record("bob dir"); return }
        }
    }

    @Test func pathOfDirectory() throws {
        try withVolume { s, _ in
            let a = try s.mkdir(parent: rootIno, name: b("a"), mode: 0o755, cred: root)
            let c = try s.mkdir(parent: a.ino, name: b("c"), mode: 0o755, cred: root)
            #expect(try s.path(of: rootIno) == b("/"))
            #expect(try s.path(of: c.ino) == b("/a/c"))
            try s.rename(parent: a.ino, name: b("c"), newParent: rootIno, newName: b("z"), cred: root)
            #expect(try s.path(of: c.ino) == b("/z"))
            _ = try s.rmdir(parent: rootIno, name: b("z"), cred: root)
            #expect(throws: Errno.noEntry) { _ = try s.path(of: c.ino) }
        }
    }
}
