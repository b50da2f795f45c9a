import Testing
import HilbertSupport
@testable import HilbertMeta

/// postgres:// META-URLs: Hilbert's own parameters come out before libpq sees the rest, and a
/// password never gets in.
@Suite struct PGURLTests {
    @Test func hilbertParametersAreTakenOut() throws {
        let u = try PGURL("postgres://alice@db.example:6432/hilbert?sslmode=require&schema=proj_a&timeout=5&connect_timeout=3")
        #expect(u.conninfo == "postgres://alice@db.example:6432/hilbert?sslmode=require&connect_timeout=3")
        #expect(u.schema == "proj_a")
        #expect(u.timeoutSeconds == 5)
        #expect(u.display == "postgres://alice@db.example:6432/hilbert?sslmode=require&connect_timeout=3 (schema proj_a)")
        let d = try PGURL("postgresql://h/db")
        #expect(d.conninfo == "postgresql://h/db" && d.schema == "hilbert" && d.timeoutSeconds == 30)
    }

    @Test func passwordsAreRefusedAndNeverEchoed() {
        for bad in ["postgres://alice:s3cr3t@h/db", "postgres://h/db?password=s3cr3t", "postgres://h/db?sslpassword=s3cr3t",
                    "postgres://alice:s3cr3t@h/db?schema=BAD"] {
            do {
                _ = try PGURL(bad)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.errno == .invalid)
                #expect(!error.message.contains("s3cr3t"), "\(error.message)")
                #expect(error.message.contains("pgpass") || error.message.contains("schema"), "\(error.message)")
            }
        }
    }

    @Test func schemaAndTimeoutAreChecked() {
        for bad in ["schema=", "schema=Upper", "schema=1abc", "schema=a-b", "schema=" + String(repeating: "a", count: 64),
                    "schema=a%22b", "timeout=0", "timeout=x", "timeout=3601"] {
            #expect(throws: HilbertError.self, "\(bad)") { _ = try PGURL("postgres://h/db?" + bad) }
        }
        #expect((try? PGURL("postgres://h/db?schema=_a1" + String(repeating: "b", count: 60)))?.schema.count == 63)
    }

    @Test func attributeCacheTimeout() throws {
        #expect(try PGURL("postgres://h/db").attributeCacheNanoseconds == 1_000_000_000)
        let cases: [(String, UInt64)] = [("0", 0), ("2", 2_000_000_000), ("0.5", 500_000_000), (".25", 250_000_000),
                                         ("1.", 1_000_000_000), ("3600", 3_600_000_000_000), ("0.000000001", 1)]
        for (text, ns) in cases {
            let u = try PGURL("postgres://h/db?attr_cache=" + text + "&sslmode=disable")
            #expect(u.attributeCacheNanoseconds == ns, "\(text)")
            #expect(u.conninfo == "postgres://h/db?sslmode=disable", "libpq never sees attr_cache")
        }
        for bad in ["", ".", "-1", "1e3", "3601", "3600.5", "x", "1.2.3", "99999999999999999999"] {
            #expect(throws: HilbertError.self, "\(bad)") { _ = try PGURL("postgres://h/db?attr_cache=" + bad) }
        }
    }
}
