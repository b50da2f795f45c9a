import HilbertSupport

private let s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
private let xmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

/// One page of ListObjectsV2.
public struct ListPage: Sendable {
    public var objects: [(key: String, size: Int, modified: Int64, etag: String)] = []
    public var isTruncated = false
    /// NextContinuationToken: the continuation-token of the next request.
    public var nextToken: String?
    public var commonPrefixes: [String] = []
    public init() {}
}

/// The <Error> document S3 sends with a failed request (and sometimes with a 200).
public struct S3ErrorBody: Sendable, Equatable {
    public var code: String
    public var message: String
    public var requestID: String?
    public var resource: String?
    public init(code: String, message: String, requestID: String? = nil, resource: String? = nil) {
        self.code = code
        self.message = message
        self.requestID = requestID
        self.resource = resource
    }
}

/// Parse a document whose root must be `rootName`; an <Error> root becomes a thrown error.
private func document(_ body: [UInt8], root rootName: String) throws(HilbertError) -> XMLElement {
    let root = try parseXML(body)
    if root.name == "Error" {
        let e = errorBody(root)
        throw HilbertError(.io, "S3 error \(e.code): \(e.message)")
    }
    guard root.name == rootName else {
        throw HilbertError(.io, "expected <\(rootName)> from the object store, got <\(root.name)>")
    }
    return root
}

private func errorBody(_ e: XMLElement) -> S3ErrorBody {
    S3ErrorBody(code: e["Code"] ?? "", message: e["Message"] ?? "", requestID: e["RequestId"], resource: e["Resource"])
}

public func parseListObjectsV2(_ body: [UInt8]) throws(HilbertError) -> ListPage {
    let root = try document(body, root: "ListBucketResult")
    // With encoding-type=url the keys and prefixes arrive percent-encoded.
    let urlEncoded = root["EncodingType"]?.lowercased() == "url"
    func key(_ s: String) throws(HilbertError) -> String {
        guard urlEncoded else { return s }
        guard let d = percentDecode(s) else { throw HilbertError(.io, "bad percent-encoding in listed key '\(s)'") }
        return d
    }
    var page = ListPage()
    for c in root.all("Contents") {
        guard let k = c["Key"] else { throw HilbertError(.io, "a <Contents> entry without <Key>") }
        guard let size = Int(trimmed(c["Size"] ?? "")) else {
            throw HilbertError(.io, "listed object '\(k)' has no valid <Size>")
        }
        let modified = parseHTTPDate(trimmed(c["LastModified"] ?? "")) ?? 0
        page.objects.append((key: try key(k), size: size, modified: modified, etag: unquoteETag(c["ETag"] ?? "")))
    }
    for p in root.all("CommonPrefixes") {
        if let prefix = p["Prefix"] { page.commonPrefixes.append(try key(prefix)) }
    }
    page.isTruncated = trimmed(root["IsTruncated"] ?? "").lowercased() == "true"
    page.nextToken = root["NextContinuationToken"].flatMap { $0.isEmpty ? nil : $0 }
    return page
}

/// nil when `body` is not an <Error> document.
public func parseErrorBody(_ body: [UInt8]) -> S3ErrorBody? {
    guard let root = try? parseXML(body), root.name == "Error" else { return nil }
    return errorBody(root)
}

/// The per-key failures of a DeleteObjects request.
public func parseDeleteResult(_ body: [UInt8]) throws(HilbertError) -> [(key: String, code: String, message: String)] {
    let root = try document(body, root: "DeleteResult")
    return root.all("Error").map { (key: $0["Key"] ?? "", code: $0["Code"] ?? "", message: $0["Message"] ?? "") }
}

/// The body of DeleteObjects (POST ?delete); it needs a Content-MD5 header.
public func deleteObjectsBody(keys: [String], quiet: Bool) -> [UInt8] {
    var s = xmlDeclaration + "<Delete xmlns=\"\(s3Namespace)\">"
    if quiet { s += "<Quiet>true</Quiet>" }
    for k in keys { s += "<Object><Key>\(escapeXML(k))</Key></Object>" }
    s += "</Delete>"
    return Array(s.utf8)
}

public func parseInitiateMultipart(_ body: [UInt8]) throws(HilbertError) -> String {
    let root = try document(body, root: "InitiateMultipartUploadResult")
    guard let id = root["UploadId"].map(trimmed), !id.isEmpty else {
        throw HilbertError(.io, "InitiateMultipartUploadResult without an UploadId")
    }
    return id
}

/// The body of CompleteMultipartUpload; ETags are quoted as S3 returned them.
public func completeMultipartBody(parts: [(number: Int, etag: String)]) -> [UInt8] {
    var s = xmlDeclaration + "<CompleteMultipartUpload xmlns=\"\(s3Namespace)\">"
    for p in parts {
        s += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(escapeXML("\"" + unquoteETag(p.etag) + "\""))</ETag></Part>"
    }
    s += "</CompleteMultipartUpload>"
    return Array(s.utf8)
}

/// An ETag without surrounding quotes or whitespace.
public func unquoteETag(_ s: String) -> String {
    var t = trimmed(s)
    if t.count >= 2, t.hasPrefix("\""), t.hasSuffix("\"") { t = String(t.dropFirst().dropLast()) }
    return t
}

private func trimmed(_ s: String) -> String {
    let ws: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
    guard let a = s.firstIndex(where: { !ws($0) }), let b = s.lastIndex(where: { !ws($0) }) else { return "" }
    return String(s[a...b])
}

/// %XX sequences and '+' (a space, form-style, as S3's encoding-type=url writes it) decoded.
func percentDecode(_ s: String) -> String? {
    var out = [UInt8]()
    var it = Array(s.utf8)[...]
    while let c = it.popFirst() {
        if c == UInt8(ascii: "%") {
            guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
            it = it.dropFirst(2)
        } else if c == UInt8(ascii: "+") {
            out.append(0x20)
        } else {
            out.append(c)
        }
    }
    return String(decoding: out, as: UTF8.self)
}
