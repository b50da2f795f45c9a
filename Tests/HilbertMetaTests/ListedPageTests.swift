import Testing
import HilbertSupport
@testable import HilbertMeta

/// A listing page's columns stay together when the page is put in listing order: the
/// PostgreSQL statement leaves the order to its plan (no ORDER BY over the join).
@Suite struct ListedPageTests {
    private func attr(_ ino: Ino) -> Attr {
        let t = Timespec(sec: Int64(ino), nsec: 0)
        return Attr(ino: ino, mode: 0o100644, nlink: 1, uid: 0, gid: 0, rdev: 0, size: ino * 10,
                    atime: t, mtime: t, ctime: t, btime: t, parent: 0, version: 0, staged: false)
    }

    @Test func rowsOutOfOrderAreSortedWithTheirColumns() {
        var page = ListedPage(version: 7, capacity: 4)
        for (id, ino) in [(Int64(30), Ino(103)), (10, 101), (40, 104), (20, 102)] {
            page.append(id: id, name: Array("n\(id)".utf8), ino: ino, type: UInt8(ino % 7), attr: ino == 102 ? nil : attr(ino))
        }
        page.sortByID()
        #expect(page.ids == [10, 20, 30, 40])
        #expect(page.names == ["n10", "n20", "n30", "n40"].map { Array($0.utf8) })
        #expect(page.inos == [101, 102, 103, 104])
        #expect(page.types == [101, 102, 103, 104].map { UInt8($0 % 7) })
        #expect(page.attrs.map { $0?.ino } == [101, nil, 103, 104])
        #expect(page.attrs[3]?.size == 1040)
        #expect(page.version == 7 && page.count == 4)
    }

    @Test func sortedAndEmptyPagesStayAsTheyAre() {
        var page = ListedPage(version: 1, capacity: 0)
        page.sortByID()
        #expect(page.count == 0)
        for id in Int64(1)...5 { page.append(id: id, name: [UInt8(id)], ino: Ino(id), type: 8, attr: attr(Ino(id))) }
        page.sortByID()
        #expect(page.ids == [1, 2, 3, 4, 5] && page.names == (1...5).map { [UInt8($0)] })
    }
}
