import Testing
import HilbertSupport
@testable import HilbertS3

@Suite struct S3XMLTests {
    @Test func listObjectsV2() throws {
        let body = bytes("""
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Name>bucket</Name><Prefix>vol/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>
              <IsTruncated>true</IsTruncated>
              <Contents>
                <Key>vol/a&amp;b &lt;1&gt;</Key>
                <LastModified>2009-10-12T17:50:30.000Z</LastModified>
                <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
                <Size>434234</Size>
                <StorageClass>STANDARD</StorageClass>
              </Contents>
              <Contents><Key> spaced </Key><LastModified>2013-05-24T00:00:00Z</LastModified>
                <ETag>&#34;abc-2&#34;</ETag><Size>0</Size></Contents>
              <Contents><Key><![CDATA[raw <cdata> & key]]></Key><Size>7</Size><ETag>"x"</ETag><Owner><ID>o</ID></Owner></Contents>
              <CommonPrefixes><Prefix>vol/dir/</Prefix></CommonPrefixes>
              <CommonPrefixes><Prefix>vol/&#x65;&#233;/</Prefix></CommonPrefixes>
              <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
            </ListBucketResult>
            """)
        let page = try parseListObjectsV2(body)
        #expect(page.objects.count == 3)
        #expect(page.objects[0] == (key: "vol/a&b <1>", size: 434_234, modified: 1_255_369_830, etag: "fba9dede5f27731c9771645a39863328"))
        #expect(page.objects[1] == (key: " spaced ", size: 0, modified: 1_369_353_600, etag: "abc-2"))
        #expect(page.objects[2] == (key: "raw <cdata> & key", size: 7, modified: 0, etag: "x"))
        #expect(page.isTruncated)
        #expect(page.nextToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        #expect(page.commonPrefixes == ["vol/dir/", "vol/eé/"])
    }

    @Test func listEmptyAndNamespacePrefixed() throws {
        let page = try parseListObjectsV2(bytes("<s3:ListBucketResult xmlns:s3='x'><s3:IsTruncated>false</s3:IsTruncated><s3:Name>b</s3:Name></s3:ListBucketResult>"))
        #expect(page.objects.isEmpty && !page.isTruncated && page.nextToken == nil && page.commonPrefixes.isEmpty)
        let selfClosing = try parseListObjectsV2(bytes("<ListBucketResult><!-- c --><Prefix/><IsTruncated>false</IsTruncated></ListBucketResult>"))
        #expect(selfClosing.objects.isEmpty)
    }

    @Test func listURLEncodedKeys() throws {
        let page = try parseListObjectsV2(bytes("""
            <ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>
            <Contents><Key>a+b%2Bc%0Ad</Key><Size>1</Size></Contents>
            <CommonPrefixes><Prefix>p%20q/</Prefix></CommonPrefixes></ListBucketResult>
            """))
        #expect(page.objects.map(\.key) == ["a b+c\nd"])
        #expect(page.commonPrefixes == ["p q/"])
    }

    @Test func listFailures() {
        func message(_ s: String) -> String? {
            do throws(HilbertError) { _ = try parseListObjectsV2(bytes(s)); return nil } catch { return error.message }
        }
        #expect(message("<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents>")
                == "malformed XML from the object store: the document ends before <ListBucketResult> is closed")
        #expect(message("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>") == "S3 error AccessDenied: Access Denied")
        #expect(message("<ListAllMyBucketsResult></ListAllMyBucketsResult>") == "expected <ListBucketResult> from the object store, got <ListAllMyBucketsResult>")
        #expect(message("<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents></ListBucketResult>") == "listed object 'k' has no valid <Size>")
        #expect(message("") == "malformed XML from the object store: no root element")
        #expect(message("<ListBucketResult><Key") == "malformed XML from the object store: unterminated tag")
    }

    @Test func errorBody() {
        let e = parseErrorBody(bytes("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>
            <Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>
            """))
        #expect(e == S3ErrorBody(code: "NoSuchKey", message: "The resource you requested does not exist",
                                 requestID: "4442587FB7D0A2F9", resource: "/mybucket/myfoto.jpg"))
        #expect(parseErrorBody(bytes("<Error><Code>SlowDown</Code></Error>")) == S3ErrorBody(code: "SlowDown", message: ""))
        #expect(parseErrorBody(bytes("<ListBucketResult></ListBucketResult>")) == nil)
        #expect(parseErrorBody(bytes("<html><body>502 Bad Gateway")) == nil)
        #expect(parseErrorBody([]) == nil)
    }

    @Test func deleteResult() throws {
        let r = try parseDeleteResult(bytes("""
            <DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Deleted><Key>ok</Key></Deleted>
              <Error><Key>k&apos;1</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
              <Error><Key>k2</Key><Code>InternalError</Code><Message>try again</Message></Error>
            </DeleteResult>
            """))
        #expect(r.count == 2)
        #expect(r[0] == (key: "k'1", code: "AccessDenied", message: "Access Denied"))
        #expect(r[1] == (key: "k2", code: "InternalError", message: "try again"))
        #expect(try parseDeleteResult(bytes("<DeleteResult/>")).isEmpty)
    }

    @Test func deleteBody() {
        #expect(String(decoding: deleteObjectsBody(keys: ["a&b", "<c>\"'", "line\r\n"], quiet: true), as: UTF8.self) == """
            <?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>\
            <Object><Key>a&amp;b</Key></Object><Object><Key>&lt;c&gt;&quot;&apos;</Key></Object>\
            <Object><Key>line&#13;&#10;</Key></Object></Delete>
            """)
        #expect(String(decoding: deleteObjectsBody(keys: ["k"], quiet: false), as: UTF8.self)
                == "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>k</Key></Object></Delete>")
        // The keys come back out of our own reader unchanged.
        let keys = ["a&b", "<c>\"'", "é x"]
        let parsed = try? parseXML(deleteObjectsBody(keys: keys, quiet: true))
        #expect(parsed?.all("Object").map { $0["Key"] ?? "" } == keys)
    }

    @Test func multipart() throws {
        #expect(try parseInitiateMultipart(bytes("""
            <?xml version="1.0" encoding="UTF-8"?>
            <InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Bucket>example-bucket</Bucket><Key>example-object</Key>
              <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
            </InitiateMultipartUploadResult>
            """)) == "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA")
        #expect(throws: HilbertError.self) { try parseInitiateMultipart(bytes("<InitiateMultipartUploadResult><UploadId> </UploadId></InitiateMultipartUploadResult>")) }
        #expect(String(decoding: completeMultipartBody(parts: [(number: 1, etag: "\"a54357aff0632cce46d942af68356b38\""), (number: 2, etag: "0c78aef8")]), as: UTF8.self) == """
            <?xml version="1.0" encoding="UTF-8"?>
            <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\
            <Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag></Part>\
            <Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef8&quot;</ETag></Part></CompleteMultipartUpload>
            """)
    }

    @Test func entities() {
        #expect(decodeEntities(bytes("&amp;&lt;&gt;&quot;&apos;&#34;&#x22;&#X41;&#8364;")[...]) == "&<>\"'\"\"A€")
        // Unknown or unterminated references stay as written.
        #expect(decodeEntities(bytes("a &nbsp; b & c &#xZZ; &")[...]) == "a &nbsp; b & c &#xZZ; &")
        #expect(unquoteETag(" \"abc\" ") == "abc")
        #expect(unquoteETag("abc") == "abc")
        #expect(unquoteETag("\"") == "\"")
    }
}
