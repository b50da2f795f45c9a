import Glibc
import Testing
import HilbertSupport
import HilbertMeta
@testable import HilbertCore

@Suite struct SettingsTests {
    @Test func parsesMountTables() throws {
        let m = try Settings.parseMounts(" /data/=sqlite:///v/meta.db ; /scratch=sqlite:///s.db")
        #expect(m == [MountSpec(prefix: "/data", metaURL: "sqlite:///v/meta.db"),
                      MountSpec(prefix: "/scratch", metaURL: "sqlite:///s.db")])
        #expect(Settings.formatMounts(m) == "/data=sqlite:///v/meta.db;/scratch=sqlite:///s.db")
    }

    @Test func mountTablesTolerateBlanksAndLineEnds() throws {
        let m = try Settings.parseMounts(";; \t/a///=sqlite:///a.db\r\n;  ;/dätä = sqlite:///d.db;")
        #expect(m == [MountSpec(prefix: "/a", metaURL: "sqlite:///a.db"),
                      MountSpec(prefix: "/dätä", metaURL: "sqlite:///d.db")])
        #expect(try Settings.parseMounts(" ; ").isEmpty)
    }

    @Test func rejectsBadMountEntries() {
        for bad in ["/data", "data=sqlite:///x.db", "/=sqlite:///x.db", "/data=", "//=sqlite:///x.db", " = ", "/a=x;/b"] {
            #expect(throws: HilbertError.self, "\(bad)") { _ = try Settings.parseMounts(bad) }
        }
    }

    @Test func metadataURLs() throws {
        #expect(try MetaURL("sqlite:///abs/meta.db") == .sqlite(path: "/abs/meta.db"))
        #expect(try MetaURL("sqlite:///abs/meta.db").hostDirectories == ["/abs"])
        #expect(try MetaURL("sqlite:///meta.db").hostDirectories == ["/"])
        #expect(try MetaURL("sqlite:///v/meta.db").defaultObjectDirectory == "/v/objects")
        #expect(throws: HilbertError.self) { _ = try MetaURL("sqlite://relative.db") }
        let pg = try MetaURL("postgres://alice@db.example:6432/hilbert?sslmode=require&schema=proj_a")
        #expect(pg.hostDirectories.isEmpty && pg.defaultObjectDirectory == nil && pg.exists == nil)
        #expect(throws: HilbertError.self) { _ = try MetaURL("postgres://alice:secret@host/db") }
        #expect(throws: HilbertError.self) { _ = try MetaURL("/just/a/path") }
    }

    @Test func configFilesReadMountsCacheAndComments() throws {
        let c = try ConfigFile.parse("""
            # a comment
            mount = /a=sqlite:///a/meta.db   # trailing comment
            mount = /b=sqlite:///b/meta.db;/c=sqlite:///c/meta.db

            cache = /local/hilbert-$USER-${UID}
            """, path: "f")
        #expect(c.mounts.map(\.prefix) == ["/a", "/b", "/c"])
        #expect(c.cache == "/local/hilbert-\(Settings.userName)-\(getuid())")
    }

    @Test func configFilesRejectWhatTheyCannotMean() {
        for (text, why) in [("cache = relative/dir", "must be an absolute path"), ("mounts = /a=sqlite:///a.db", "unknown setting"),
                            ("cache", "expected 'key = value'"), ("cache = /x/$SLURM_JOB_ID", "only $USER"),
                            ("cache = /x/${USER", "unterminated"), ("mount = /a", "not PREFIX=META-URL")] {
            do {
                _ = try ConfigFile.parse("# first line\n" + text, path: "/etc/f")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.message.hasPrefix("/etc/f:2: "), "\(error.message)")
                #expect(error.message.contains(why), "\(error.message)")
            }
        }
    }

    @Test func userNamesNeverHoldSlashes() {
        #expect(!Settings.userName.isEmpty)
        #expect(!Settings.userName.contains("/"))
        #expect(Settings.defaultCacheDirectory.hasSuffix("/hilbert-" + Settings.userName))
    }

    @Test func uuidsAreVersion4() {
        let a = newUUID(), b = newUUID()
        #expect(a != b)
        #expect(a.count == 36)
        #expect(Array(a)[14] == "4")
    }
}
