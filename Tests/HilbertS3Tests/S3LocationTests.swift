import Testing
import HilbertSupport
@testable import HilbertS3

@Suite struct S3LocationTests {
    func loc(_ url: String, _ region: String? = nil) throws -> S3Location { try S3Location(url: url, region: region) }
    func problem(_ url: String, _ region: String? = nil) -> String? {
        do throws(HilbertError) { _ = try S3Location(url: url, region: region); return nil } catch {
            #expect(error.errno == .invalid)
            return error.message
        }
    }

    @Test func pathStyleWithPortAndPrefix() throws {
        let l = try loc("http://127.0.0.1:8333/my-bucket/vol/one/")
        #expect(!l.secure && l.host == "127.0.0.1" && l.port == 8333)
        #expect(l.bucket == "my-bucket" && l.keyPrefix == "vol/one/" && !l.virtualHosted && l.region == "us-east-1")
        #expect(l.hostHeader == "127.0.0.1:8333")
        #expect(l.endpoint == "http://127.0.0.1:8333")
        #expect(l.path(forKey: "a b/c+d") == "/my-bucket/vol/one/a%20b/c%2Bd")
        #expect(l.path(forKey: nil) == "/my-bucket")
        #expect(l.display == "http://127.0.0.1:8333/my-bucket/vol/one/")
    }

    @Test func pathStyleDefaults() throws {
        let l = try loc("https://MinIO.Example.com:443/bucket.with.dots", "eu-central-1")
        #expect(l.secure && l.host == "minio.example.com" && l.port == nil)
        #expect(l.hostHeader == "minio.example.com")
        #expect(l.bucket == "bucket.with.dots" && l.keyPrefix == "" && !l.virtualHosted && l.region == "eu-central-1")
        #expect(l.path(forKey: "k") == "/bucket.with.dots/k")
        let plain = try loc("http://localhost/b12")
        #expect(plain.port == nil && plain.endpoint == "http://localhost")
        let v6 = try loc("http://[::1]:9000/bkt/p")
        #expect(v6.host == "[::1]" && v6.port == 9000 && v6.hostHeader == "[::1]:9000" && v6.keyPrefix == "p/")
    }

    @Test func awsVirtualHosted() throws {
        let l = try loc("https://examplebucket.s3.eu-west-2.amazonaws.com/data")
        #expect(l.virtualHosted && l.bucket == "examplebucket" && l.region == "eu-west-2" && l.keyPrefix == "data/")
        #expect(l.host == "examplebucket.s3.eu-west-2.amazonaws.com")
        #expect(l.path(forKey: "x/y") == "/data/x/y")
        #expect(l.path(forKey: nil) == "/")
        #expect(l.display == "https://examplebucket.s3.eu-west-2.amazonaws.com/data/")

        let legacy = try loc("https://examplebucket.s3.amazonaws.com")
        #expect(legacy.virtualHosted && legacy.bucket == "examplebucket" && legacy.region == "us-east-1" && legacy.keyPrefix == "")
        let dash = try loc("https://examplebucket.s3-ap-southeast-2.amazonaws.com/")
        #expect(dash.virtualHosted && dash.region == "ap-southeast-2")
        // An explicit region wins over the host name.
        #expect(try loc("https://examplebucket.s3.eu-west-2.amazonaws.com", "us-west-1").region == "us-west-1")
    }

    @Test func awsPathStyle() throws {
        let l = try loc("https://s3.us-west-2.amazonaws.com/some.dotted.bucket/p")
        #expect(!l.virtualHosted && l.bucket == "some.dotted.bucket" && l.region == "us-west-2" && l.keyPrefix == "p/")
        #expect(l.path(forKey: "k") == "/some.dotted.bucket/p/k")
        #expect(try loc("https://s3.amazonaws.com/bkt").region == "us-east-1")
    }

    @Test func s3Scheme() throws {
        let l = try loc("s3://bucket-1/a/b", "ca-central-1")
        #expect(l.secure && l.virtualHosted && l.bucket == "bucket-1" && l.keyPrefix == "a/b/")
        #expect(l.host == "bucket-1.s3.ca-central-1.amazonaws.com" && l.region == "ca-central-1")
        #expect(l.endpoint == "https://bucket-1.s3.ca-central-1.amazonaws.com")
        #expect(try loc("s3://bucket-1").region == "us-east-1")
    }

    @Test func badURLs() {
        #expect(problem("minio:9000/b") == "S3 URL 'minio:9000/b': no scheme (expected https://, http:// or s3://)")
        #expect(problem("ftp://h/b") == "S3 URL 'ftp://h/b': unsupported scheme 'ftp' (expected https://, http:// or s3://)")
        #expect(problem("http://h:9000") == "S3 URL 'http://h:9000': no bucket (path-style URLs are http(s)://host[:port]/bucket[/prefix])")
        #expect(problem("http://h:0/b") == "S3 URL 'http://h:0/b': port '0' is not a number from 1 to 65535")
        #expect(problem("http://h:x1/bkt") == "S3 URL 'http://h:x1/bkt': port 'x1' is not a number from 1 to 65535")
        #expect(problem("http://u:p@h/bkt") == "S3 URL 'http://u:p@h/bkt': credentials do not belong in the URL (use a credentials file or the environment)")
        #expect(problem("http://h/bkt?x=1") == "S3 URL 'http://h/bkt?x=1': a query string or fragment is not allowed")
        #expect(problem("http:///bkt") == "S3 URL 'http:///bkt': no host")
    }

    @Test func badPrefixes() {
        for p in ["a//b", "./a", "a/../b", "a/.", "/a"] {
            #expect(problem("http://h/bkt/" + p) == "S3 URL 'http://h/bkt/\(p)': the key prefix '\(p)' has an empty, '.' or '..' segment")
        }
    }

    @Test func badBuckets() {
        #expect(problem("http://h/ab") == "S3 URL 'http://h/ab': bucket name 'ab' has 2 characters (S3 bucket names have 3 to 63)")
        let long = String(repeating: "a", count: 64)
        #expect(problem("http://h/" + long) == "S3 URL 'http://h/\(long)': bucket name '\(long)' has 64 characters (S3 bucket names have 3 to 63)")
        #expect(problem("http://h/myBucket") == "S3 URL 'http://h/myBucket': bucket name 'myBucket' has upper-case 'B' at position 3 (bucket names are lower-case)")
        #expect(problem("http://h/my_bucket") == "S3 URL 'http://h/my_bucket': bucket name 'my_bucket' has '_' at position 3 (allowed: lower-case letters, digits, '.' and '-')")
        #expect(problem("http://h/-bucket") == "S3 URL 'http://h/-bucket': bucket name '-bucket' must begin and end with a letter or digit")
        #expect(problem("http://h/a..b") == "S3 URL 'http://h/a..b': bucket name 'a..b' has two adjacent dots")
        #expect(problem("s3://my.bucket", "eu-west-1") == "S3 URL 's3://my.bucket': bucket name 'my.bucket' has dots, which break TLS for virtual-hosted addressing (the certificate covers one label); use path-style: https://s3.eu-west-1.amazonaws.com/my.bucket")
        #expect(problem("https://my.bucket.s3.us-east-2.amazonaws.com")?.contains("use path-style: https://s3.us-east-2.amazonaws.com/my.bucket") == true)
        // Plain http has no certificate: dots are fine there.
        #expect(problem("http://my.bucket.s3.us-east-2.amazonaws.com") == nil)
    }
}
