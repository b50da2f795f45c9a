import Testing
import HilbertSupport
@testable import HilbertCore

@Suite struct SettingsTests {
    @Test func parsesMountTables() throws {
        let m = try Settings.parseMounts(" /data/=sqlite:///v/meta.db ; /scratch=sqlite:///s.db")
        #expect(m == [MountSpec(prefix: "/data", metaURL: "sqlite:///v/meta.db"),
                      MountSpec(prefix: "/scratch", metaURL: "sqlite:///s.db")])
        #expect(Settings.formatMounts(m) == "/data=sqlite:///v/meta.db;/scratch=sqlite:///s.db")
    }

    @Test func rejectsBadMountEntries() {
        for bad in ["/data", "data=sqlite:///x.db", "/=sqlite:///x.db", "/data="] {
            #expect(throws: HilbertError.self, "\(bad)") { _ = try Settings.parseMounts(bad) }
        }
    }

    @Test func metadataURLs() throws {
        #expect(try MetaURL("sqlite:///abs/meta.db").sqlitePath == "/abs/meta.db")
        #expect(throws: HilbertError.self) { _ = try MetaURL("sqlite://relative.db") }
        #expect(throws: HilbertError.self) { _ = try MetaURL("postgres://host/db") }
        #expect(throws: HilbertError.self) { _ = try MetaURL("/just/a/path") }
    }

    @Test func uuidsAreVersion4() {
        let a = newUUID(), b = newUUID()
        #expect(a != b)
        #expect(a.count == 36)
        #expect(Array(a)[14] == "4")
    }
}
