import Testing
import HilbertSupport
@testable import HilbertMeta

/// A process's own changes keep its caches true: after each change, what the writing store
/// answers (from caches it brought up to date itself, on a backend that does so) equals what
/// a store that caches nothing reads from the backend.
@Suite struct CacheCoherenceTests {
    @Test func ownChangesKeepCachesTrue() throws {
        try withVolume { s, url in
            let fresh = try MetaStore.open(url)
            defer { fresh.close() }
            var paths = ["/", "/d", "/d/f", "/d/g", "/d/sub", "/d/sub/h", "/e", "/e/f", "/l", "/s", "/d/missing"]
            func check(_ step: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
                fresh.dropCaches()
                for p in paths {
                    let mine = try? s.res(p, follow: false)
                    let theirs = try? fresh.res(p, follow: false)
                    #expect(mine == theirs, "after \(step): \(p)", sourceLocation: sourceLocation)
                    if case .found(_, _, let a)? = theirs {
                        #expect((try? s.getattr(a.ino)) == a, "after \(step): getattr \(p)", sourceLocation: sourceLocation)
                        if a.isSymlink {
                            #expect((try? s.readlink(a.ino)) == (try? fresh.readlink(a.ino)), "after \(step): readlink \(p)",
                                    sourceLocation: sourceLocation)
                        }
                    }
                }
            }
            // Warm every answer, change, compare.
            func step(_ name: String, sourceLocation: SourceLocation = #_sourceLocation, _ change: () throws -> Void) throws {
                for p in paths { _ = try? s.res(p, follow: false) }
                try change()
                try check(name, sourceLocation: sourceLocation)
            }
            var d: Attr!, e: Attr!, sub: Attr!, f: Attr!
            try step("mkdir") { d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root) }
            try step("mkdir 2") { e = try s.mkdir(parent: rootIno, name: b("e"), mode: 0o700, cred: root) }
            try step("create") { f = try s.createFile(parent: d.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr }
            try step("create with staging") {
                _ = try s.createFile(parent: d.ino, name: b("g"), mode: 0o600, cred: root, exclusive: true, staging: ("st", "o"))
            }
            try step("commit data") {
                _ = try s.commitData(ino: f.ino, size: 5, inline: b("hello"), blocks: [], cred: root)
            }
            try step("clear staging") { try s.clearStaging(ino: try s.ino("/d/g")) }
            try step("set staging") { try s.setStaging(ino: f.ino, file: "st2", owner: "o") }
            try step("chmod") { try s.setattr(ino: f.ino, mode: 0o640, cred: root) }
            try step("utimens") { try s.setattr(ino: d.ino, atime: .set(Timespec(sec: 5, nsec: 6)), mtime: .now, cred: root) }
            try step("truncate") { _ = try s.truncate(ino: f.ino, size: 2, cred: root) }
            try step("mkdir sub") { sub = try s.mkdir(parent: d.ino, name: b("sub"), mode: 0o755, cred: root) }
            try step("create in sub") { _ = try s.createFile(parent: sub.ino, name: b("h"), mode: 0o644, cred: root, exclusive: false) }
            try step("link") { _ = try s.link(ino: f.ino, newParent: e.ino, newName: b("f"), cred: root) }
            try step("symlink") { _ = try s.symlink(parent: rootIno, name: b("l"), target: b("d/f"), cred: root) }
            try step("rename in a directory") { try s.rename(parent: d.ino, name: b("g"), newParent: d.ino, newName: b("g2"), cred: root) }
            paths.append("/d/g2")
            try step("rename across, replacing") { try s.rename(parent: d.ino, name: b("g2"), newParent: e.ino, newName: b("f"), cred: root) }
            try step("rename a directory across") { try s.rename(parent: d.ino, name: b("sub"), newParent: e.ino, newName: b("sub"), cred: root) }
            paths += ["/e/sub", "/e/sub/h"]
            try step("exchange") {
                try s.rename(parent: rootIno, name: b("d"), newParent: rootIno, newName: b("e"), flags: RENAME_EXCHANGE_, cred: root)
            }
            try step("unlink, not the last link") { _ = try s.unlink(parent: rootIno, name: b("l"), cred: root) }
            try step("unlink the last link") { _ = try s.unlink(parent: try s.ino("/d"), name: b("f"), cred: root) }
            try step("rmdir") {
                _ = try s.unlink(parent: try s.ino("/d/sub"), name: b("h"), cred: root)
                _ = try s.rmdir(parent: try s.ino("/d"), name: b("sub"), cred: root)
            }
            try step("xattr") { try s.setxattr(try s.ino("/e"), name: b("user.k"), value: b("v"), flags: 0, cred: root) }
            try step("mknod") { _ = try s.mknod(parent: rootIno, name: b("s"), mode: 0o010644, rdev: 0, cred: root) }
            // A change by another store in between: the writer's next change must not keep
            // answers the other store made stale.
            try step("another store's change, then one's own") {
                _ = try fresh.mkdir(parent: try fresh.ino("/e"), name: b("x"), mode: 0o755, cred: root)
                try s.setattr(ino: try s.ino("/d"), mode: 0o711, cred: root)
            }
            paths.append("/e/x")
            try check("the end")
        }
    }

    /// Writes that start from the caches (optimistic, where reads are round trips) give the
    /// answers of writes that read the rows first, whatever another store changed meanwhile.
    /// Before each case the writer's caches are current and its last write met no other
    /// writer, so that its next write starts from them.
    @Test func writesFromStaleCachesAreRedone() throws {
        try withVolume { s, url in
            let other = try MetaStore.open(url)
            defer { other.close() }
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o777, cred: root)
            var n = 0
            func warm() throws {
                _ = try s.res("/d")
                n += 1
                _ = try s.mkdir(parent: d.ino, name: b("warm\(n)"), mode: 0o755, cred: root)
            }
            // A name the writer's caches do not know, created before they were validated.
            _ = try other.createFile(parent: d.ino, name: b("old"), mode: 0o644, cred: root, exclusive: true)
            try warm()
            expectErrno(.exists) { _ = try s.createFile(parent: d.ino, name: b("old"), mode: 0o644, cred: root, exclusive: true) }
            try warm()
            let again = try s.createFile(parent: d.ino, name: b("old"), mode: 0o600, cred: root, exclusive: false)
            #expect(!again.created && again.attr.mode & 0o777 == 0o644)
            // A name created by another store after they were.
            try warm()
            _ = try other.mkdir(parent: d.ino, name: b("x"), mode: 0o755, cred: root)
            expectErrno(.exists) { _ = try s.mkdir(parent: d.ino, name: b("x"), mode: 0o755, cred: root) }
            try warm()
            _ = try s.mkdir(parent: d.ino, name: b("y"), mode: 0o755, cred: root)
            #expect(try other.getattr(d.ino).nlink == UInt32(2 + 2 + n))
            // Permission taken away by another store after they were.
            try warm()
            try other.setattr(ino: d.ino, mode: 0o555, cred: root)
            expectErrno(.access) { _ = try s.createFile(parent: d.ino, name: b("z"), mode: 0o644, cred: alice, exclusive: true) }
            try other.setattr(ino: d.ino, mode: 0o777, cred: root)
            try warm()
            try other.setattr(ino: d.ino, mode: 0o555, cred: root)
            expectErrno(.access) { _ = try s.mkdir(parent: d.ino, name: b("z"), mode: 0o755, cred: alice) }
            #expect(try other.lookup(parent: d.ino, name: b("z")) == nil)
            try other.setattr(ino: d.ino, mode: 0o777, cred: root)
            // A file the writer created and committed, rewritten by another store: the writer's
            // next commit of it starts from the other store's content rows.
            try warm()
            let f = try s.createFile(parent: d.ino, name: b("f"), mode: 0o644, cred: root, exclusive: true).attr
            func commit(_ text: String) throws {   // as the engine commits a small file
                _ = try s.withWriteTransaction { () throws(Errno) in
                    try s.fetchForCommit(f.ino)
                    _ = try s.getattr(f.ino)
                    _ = try s.commitData(ino: f.ino, size: UInt64(text.utf8.count), inline: b(text), blocks: [], cred: root)
                }
            }
            try commit("one")
            _ = try other.commitData(ino: f.ino, size: 5, inline: b("three"), blocks: [], cred: root)
            try commit("four")
            #expect(try other.getattr(f.ino).size == 4)
            #expect(try other.dataLayout(f.ino).inline == b("four"))
            #expect(try other.usage().storedBytes == 4)
        }
    }
}
