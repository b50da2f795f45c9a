import Testing
@testable import HilbertS3

/// The examples of the S3 API reference, "Signature Calculations for the Authorization Header:
/// Transferring Payload in a Single Chunk" (examplebucket, 20130524, us-east-1).
@Suite struct SigV4Tests {
    static let credentials = S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE",
                                           secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", source: "test")
    static let signer = SigV4Signer(credentials: credentials, region: "us-east-1")
    static let date = AmzDate(epochSeconds: 1_369_353_600)
    static let host = "examplebucket.s3.amazonaws.com"
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    func authorization(_ headers: [(String, String)]) -> String? { headers.first { $0.0 == "Authorization" }?.1 }
    func expected(_ signed: String, _ signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=\(signed),Signature=\(signature)"
    }

    @Test func getObjectWithRange() {
        let h = Self.signer.sign(method: "GET", host: Self.host, canonicalPath: "/test.txt", query: [],
                                 headers: [("Range", "bytes=0-9")], payloadHash: Self.emptyHash, date: Self.date)
        #expect(h.map(\.0) == ["x-amz-date", "x-amz-content-sha256", "Authorization"])
        #expect(h[0].1 == "20130524T000000Z")
        #expect(h[1].1 == Self.emptyHash)
        #expect(authorization(h) == expected("host;range;x-amz-content-sha256;x-amz-date",
                                             "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
    }

    @Test func getObjectCanonicalRequest() {
        let (request, signed) = SigV4Signer.canonicalRequest(
            method: "GET", host: Self.host, canonicalPath: "/test.txt", query: [],
            headers: [("Range", "bytes=0-9"), ("x-amz-content-sha256", Self.emptyHash), ("x-amz-date", "20130524T000000Z")],
            payloadHash: Self.emptyHash)
        #expect(signed == "host;range;x-amz-content-sha256;x-amz-date")
        #expect(request == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:\(Self.emptyHash)
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            \(Self.emptyHash)
            """)
        #expect(hexLower(SHA256.hash(bytes(request))) == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    }

    @Test func callerCopiesOfAddedHeadersAreNotSignedTwice() {
        let h = Self.signer.sign(method: "GET", host: Self.host, canonicalPath: "/test.txt", query: [],
                                 headers: [("Range", "bytes=0-9"), ("X-Amz-Date", "20130524T000000Z"),
                                           ("x-amz-content-sha256", Self.emptyHash)],
                                 payloadHash: Self.emptyHash, date: Self.date)
        #expect(authorization(h) == expected("host;range;x-amz-content-sha256;x-amz-date",
                                             "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
    }

    @Test func putObject() {
        let payload = "Welcome to Amazon S3."
        let hash = hexLower(SHA256.hash(bytes(payload)))
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let h = Self.signer.sign(method: "PUT", host: Self.host, canonicalPath: "/" + s3Encode("test$file.text", keepSlash: true),
                                 query: [], headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                                                      ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                 payloadHash: hash, date: Self.date)
        #expect(authorization(h) == expected("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                                             "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    }

    @Test func getBucketLifecycle() {
        let h = Self.signer.sign(method: "GET", host: Self.host, canonicalPath: "/", query: [("lifecycle", "")],
                                 headers: [], payloadHash: Self.emptyHash, date: Self.date)
        #expect(authorization(h) == expected("host;x-amz-content-sha256;x-amz-date",
                                             "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"))
    }

    @Test func listObjects() {
        // Given out of order: the canonical query sorts them.
        let h = Self.signer.sign(method: "GET", host: Self.host, canonicalPath: "/", query: [("prefix", "J"), ("max-keys", "2")],
                                 headers: [], payloadHash: Self.emptyHash, date: Self.date)
        #expect(authorization(h) == expected("host;x-amz-content-sha256;x-amz-date",
                                             "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    }

    @Test func signingKeyIsCachedPerDay() {
        let signer = SigV4Signer(credentials: Self.credentials, region: "us-east-1")
        let first = signer.sign(method: "GET", host: Self.host, canonicalPath: "/", query: [("lifecycle", "")],
                                headers: [], payloadHash: Self.emptyHash, date: Self.date)
        let again = signer.sign(method: "GET", host: Self.host, canonicalPath: "/", query: [("lifecycle", "")],
                                headers: [], payloadHash: Self.emptyHash, date: Self.date)
        #expect(first.map(\.1) == again.map(\.1))
        // The next day derives a new key: a different signature from the cached one.
        let nextDay = signer.sign(method: "GET", host: Self.host, canonicalPath: "/", query: [("lifecycle", "")],
                                  headers: [], payloadHash: Self.emptyHash, date: AmzDate(epochSeconds: 1_369_353_600 + 86_400))
        #expect(nextDay[0].1 == "20130525T000000Z")
        #expect(authorization(nextDay)!.contains("/20130525/us-east-1/s3/aws4_request"))
        #expect(authorization(nextDay) != authorization(first))
        let fresh = SigV4Signer(credentials: Self.credentials, region: "us-east-1")
            .sign(method: "GET", host: Self.host, canonicalPath: "/", query: [("lifecycle", "")],
                  headers: [], payloadHash: Self.emptyHash, date: AmzDate(epochSeconds: 1_369_353_600 + 86_400))
        #expect(authorization(fresh) == authorization(nextDay))
    }

    @Test func sessionTokenSignedAndReturned() {
        var c = Self.credentials
        c.sessionToken = "token/with+chars"
        let h = SigV4Signer(credentials: c, region: "eu-west-1").sign(
            method: "HEAD", host: "h", canonicalPath: "/b/k", query: [], headers: [],
            payloadHash: "UNSIGNED-PAYLOAD", date: Self.date)
        #expect(h.map(\.0) == ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "Authorization"])
        #expect(h[1].1 == "UNSIGNED-PAYLOAD")
        #expect(h[2].1 == "token/with+chars")
        #expect(authorization(h)!.contains(
            "Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-west-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,Signature="))
    }

    @Test func canonicalQuery() {
        #expect(SigV4Signer.canonicalQuery([]) == "")
        #expect(SigV4Signer.canonicalQuery([("list-type", "2"), ("prefix", "a b/c"), ("continuation-token", "x+y="),
                                            ("delimiter", "/")])
                == "continuation-token=x%2By%3D&delimiter=%2F&list-type=2&prefix=a%20b%2Fc")
        // Same name: sorted by value; valueless as "name=".
        #expect(SigV4Signer.canonicalQuery([("a", "2"), ("uploads", ""), ("a", "1")]) == "a=1&a=2&uploads=")
        // Sorted by the encoded bytes: '%' (0x25) sorts before letters.
        #expect(SigV4Signer.canonicalQuery([("b", "1"), ("a b", "1"), ("A", "1")]) == "A=1&a%20b=1&b=1")
    }

    @Test func headerValuesTrimmedAndCollapsed() {
        #expect(SigV4Signer.canonicalHeaderValue("  a   b \t c  ") == "a b c")
        #expect(SigV4Signer.canonicalHeaderValue("") == "")
        let (request, signed) = SigV4Signer.canonicalRequest(
            method: "PUT", host: "Example.com", canonicalPath: "/k", query: [],
            headers: [("X-Amz-Meta-A", " one  two "), ("content-type", "text/plain"), ("x-amz-meta-a", "three")],
            payloadHash: "UNSIGNED-PAYLOAD")
        #expect(signed == "content-type;host;x-amz-meta-a")
        #expect(request == "PUT\n/k\n\ncontent-type:text/plain\nhost:Example.com\nx-amz-meta-a:one two,three\n\n"
                + "content-type;host;x-amz-meta-a\nUNSIGNED-PAYLOAD")
    }

    @Test func credentialsNeverPrintTheSecret() {
        let text = "\(Self.credentials) \(String(reflecting: Self.credentials))"
        #expect(!text.contains("wJalrXUtnFEMI"))
        #expect(text.contains("AKIAIOSFODNN7EXAMPLE"))
    }
}
