import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

/// Listings of awkward names and nodes, on every backend: a page that brings its entries'
/// nodes (PostgreSQL's compact rows) must bring exactly the names and nodes there are.
@Suite struct ListingTests {
    /// Every byte but NUL and '/' as a one-byte name (but "."), names that look like the
    /// escapes of bytea's text forms, and a longest name of high bytes.
    static let awkwardNames: [[UInt8]] = {
        var names = (1...255).filter { $0 != 0x2f && $0 != 0x2e }.map { [UInt8($0)] }
        names += [b("\\x41"), b("\\\\"), b("\\101"), b("a\\"), b("x y\nz\t"), b("é ü"),
                  [UInt8](repeating: 0xff, count: 255), b("..."), b("-1"), b("0 0")]
        return names
    }()

    @Test func listingShowsEveryNameAndItsNode() throws {
        try withVolume { s, url in
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            var expected: [Ino: Attr] = [:]
            for (i, name) in ListingTests.awkwardNames.enumerated() {
                let a = i % 7 == 3 ? try s.mkdir(parent: d.ino, name: name, mode: 0o700, cred: root)
                                   : try s.createFile(parent: d.ino, name: name, mode: 0o640, cred: root, exclusive: true).attr
                // Times that differ from each other, and the extremes a timestamp can take.
                let t: Timespec
                switch i % 5 {
                case 0: t = Timespec(sec: Int64.max, nsec: 999_999_999)
                case 1: t = Timespec(sec: Int64.min, nsec: 0)
                case 2: t = Timespec(sec: -1, nsec: 1)
                default: t = Timespec(sec: Int64(i) * 1_000_003, nsec: UInt32(i) * 7)
                }
                let m = Timespec(sec: t.sec &+ Int64(i % 3), nsec: (t.nsec + 11) % 1_000_000_000)
                _ = try s.setattr(ino: a.ino, uid: UInt32(1000 + i), gid: UInt32.max - UInt32(i),
                                  atime: .set(t), mtime: .set(m), ctime: i % 2 == 0 ? m : nil, cred: root)
                expected[a.ino] = try s.getattr(a.ino)
            }
            // Another connection lists (its caches are empty), in pages of several sizes.
            let s2 = try MetaStore.open(url)
            defer { s2.close() }
            for pageSize in [1, 7, 100, 1000] {
                var names: [[UInt8]] = []
                var cookie: UInt64 = 0
                while true {
                    let page = try s2.readdir(d.ino, after: cookie, limit: pageSize)
                    if page.isEmpty { break }
                    for e in page where e.name != b(".") && e.name != b("..") {
                        names.append(e.name)
                        #expect(expected[e.ino] != nil, "entry \(e.name) lists a node that is not its own")
                        #expect(e.type == UInt8((expected[e.ino]?.mode ?? 0) >> 12 & 15))
                    }
                    cookie = page.last!.cookie
                }
                #expect(names == ListingTests.awkwardNames, "page size \(pageSize)")
            }
            // The nodes a page brings (where the backend brings them) are the nodes.
            let listed = try s2.backend.transaction(write: false) { () throws(Errno) -> ListedPage? in
                try s2.backend.edgesWithNodes(d.ino, afterID: 0, limit: 1000)
            }
            if let listed {
                #expect(listed.names == ListingTests.awkwardNames)
                #expect(listed.atEnd)
                for k in 0..<listed.count {
                    #expect(listed.attrs[k] == expected[listed.inos[k]], "node of \(listed.names[k])")
                }
            }
            // And a stat after the listing (answered from what it brought) agrees.
            for (ino, a) in expected { #expect(try s2.getattr(ino, fresh: false) == a) }
        }
    }
}
