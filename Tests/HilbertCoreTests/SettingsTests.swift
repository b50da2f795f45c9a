import Glibc
import Testing
import HilbertSupport
import HilbertMeta
@testable import HilbertCore

@Suite struct SettingsTests {
    @Test func cacheLimitsParse() throws {
        #expect(try CacheLimits.parseSize("50G", setting: "x") == 50 << 30)
        #expect(try CacheLimits.parseSize("50GiB", setting: "x") == 50 << 30)
        #expect(try CacheLimits.parseSize("50 gb", setting: "x") == 50 << 30)
        #expect(try CacheLimits.parseSize("1.5T", setting: "x") == 3 << 39)
        #expect(try CacheLimits.parseSize("512m", setting: "x") == 512 << 20)
        #expect(try CacheLimits.parseSize("2097152", setting: "x") == 2 << 20)
        #expect(try CacheLimits.parseSize("4096K", setting: "x") == 4 << 20)
        for bad in ["", "G", "12Q", "-5G", "1e3G", "5 G B", "0.5K", "100", "9999999999T", "٣G"] {
            #expect(throws: HilbertError.self, "\(bad)") { _ = try CacheLimits.parseSize(bad, setting: "x") }
        }
        #expect(try CacheLimits.parseFree("5%", setting: "x") == .fraction(0.05))
        #expect(try CacheLimits.parseFree("0", setting: "x") == .bytes(0))
        #expect(try CacheLimits.parseFree("20G", setting: "x") == .bytes(20 << 30))
        for bad in ["100%", "-1%", "%", "lots", "5%%"] {
            #expect(throws: HilbertError.self, "\(bad)") { _ = try CacheLimits.parseFree(bad, setting: "x") }
        }
        do {
            _ = try CacheLimits.parseSize("12Q", setting: "HILBERT_CACHE_SIZE")
        } catch {
            #expect(error.message.contains("HILBERT_CACHE_SIZE '12Q' is not a size"))
        }
        #expect(CacheLimits.describe(.fraction(0.07)) == "7% of the file system")
        #expect(CacheLimits.describe(.fraction(0.125)) == "12.50% of the file system")
        #expect(CacheLimits(size: nil).sizeBytes(fileSystemBytes: 1 << 40) == 10 << 30)
        #expect(CacheLimits(size: nil).sizeBytes(fileSystemBytes: 20 << 30) == 2 << 30)
        #expect(CacheLimits.floorBytes(.fraction(0.1), fsBytes: 1000) == 100)
    }

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
            site-cache = /lustre/scratch/$USER/hilbert-site
            site-cache-size = 2T
            """, path: "f")
        #expect(c.mounts.map(\.prefix) == ["/a", "/b", "/c"])
        #expect(c.cache == "/local/hilbert-\(Settings.userName)-\(getuid())")
        #expect(c.siteCache == "/lustre/scratch/\(Settings.userName)/hilbert-site")
        #expect(c.siteCacheSize == "2T")
    }

    @Test func configFilesRejectWhatTheyCannotMean() {
        for (text, why) in [("cache = relative/dir", "must be an absolute path"), ("mounts = /a=sqlite:///a.db", "unknown setting"),
                            ("cache", "expected 'key = value'"), ("cache = /x/$SLURM_JOB_ID", "only $USER"),
                            ("cache = /x/${USER", "unterminated"), ("mount = /a", "not PREFIX=META-URL"),
                            ("site-cache = site", "must be an absolute path"), ("site-cache-size = 2X", "is not a size")] {
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
