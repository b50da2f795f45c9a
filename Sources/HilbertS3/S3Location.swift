import HilbertSupport

/// Where a volume's objects live: endpoint, bucket, key prefix, addressing style, region.
public struct S3Location: Sendable, Equatable {
    public var secure: Bool
    public var host: String
    /// nil: the scheme's default port.
    public var port: Int?
    public var bucket: String
    /// "" or ends with "/".
    public var keyPrefix: String
    public var virtualHosted: Bool
    public var region: String

    /// Accepts path-style `http(s)://host[:port]/bucket[/prefix]`, AWS virtual-hosted
    /// `https://bucket.s3[.-]REGION.amazonaws.com[/prefix]` or `https://bucket.s3.amazonaws.com`,
    /// and `s3://bucket[/prefix]` (AWS, virtual-hosted). Region: `region` > the AWS host name > us-east-1.
    public init(url: String, region explicitRegion: String?) throws(HilbertError) {
        func bad(_ why: String) -> HilbertError { HilbertError(.invalid, "S3 URL '\(url)': \(why)") }
        guard let sep = firstRange(of: "://", in: url) else {
            throw bad("no scheme (expected https://, http:// or s3://)")
        }
        let scheme = url[..<sep.lowerBound].lowercased()
        var rest = String(url[sep.upperBound...])
        if rest.contains("?") || rest.contains("#") { throw bad("a query string or fragment is not allowed") }
        let authority: String
        if let slash = rest.firstIndex(of: "/") {
            authority = String(rest[..<slash])
            rest = String(rest[rest.index(after: slash)...])
        } else {
            authority = rest
            rest = ""
        }
        if authority.contains("@") { throw bad("credentials do not belong in the URL (use a credentials file or the environment)") }
        if authority.isEmpty { throw bad("no host") }
        let given = explicitRegion.flatMap { $0.isEmpty ? nil : $0 }

        switch scheme {
        case "s3":
            if authority.contains(":") { throw bad("an s3:// URL names a bucket, not host:port") }
            region = given ?? "us-east-1"
            secure = true
            port = nil
            bucket = authority
            virtualHosted = true
            host = "\(authority).s3.\(region).amazonaws.com"
            keyPrefix = try Self.validPrefix(rest, url: url)
        case "http", "https":
            secure = scheme == "https"
            let (h, p) = try Self.splitHostPort(authority, url: url)
            host = h
            port = p == (secure ? 443 : 80) ? nil : p
            if let aws = Self.awsHost(h) {
                region = given ?? aws.region ?? "us-east-1"
                if let b = aws.bucket {
                    bucket = b
                    virtualHosted = true
                    keyPrefix = try Self.validPrefix(rest, url: url)
                } else {
                    (bucket, keyPrefix) = try Self.bucketAndPrefix(rest, url: url)
                    virtualHosted = false
                }
            } else {
                region = given ?? "us-east-1"
                (bucket, keyPrefix) = try Self.bucketAndPrefix(rest, url: url)
                virtualHosted = false
            }
        default:
            throw bad("unsupported scheme '\(scheme)' (expected https://, http:// or s3://)")
        }
        if let problem = Self.bucketProblem(bucket, virtualHostedHTTPS: virtualHosted && secure, region: region) {
            throw bad(problem)
        }
    }

    /// host[:port], the port only when it is not the scheme's default.
    public var hostHeader: String { port.map { "\(host):\($0)" } ?? host }
    /// scheme://hostHeader
    public var endpoint: String { (secure ? "https://" : "http://") + hostHeader }

    /// The percent-encoded canonical path of an object (or of the bucket for nil).
    public func path(forKey key: String?) -> String {
        let bucketPart = virtualHosted ? "" : "/" + s3Encode(bucket, keepSlash: false)
        guard let key else { return bucketPart.isEmpty ? "/" : bucketPart }
        return bucketPart + "/" + s3Encode(keyPrefix + key, keepSlash: true)
    }

    /// A URL for messages (not encoded).
    public var display: String {
        endpoint + (virtualHosted ? "/" : "/\(bucket)/") + keyPrefix
    }

    // MARK: parsing

    static func splitHostPort(_ authority: String, url: String) throws(HilbertError) -> (String, Int?) {
        var host = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw HilbertError(.invalid, "S3 URL '\(url)': unterminated IPv6 address")
            }
            host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw HilbertError(.invalid, "S3 URL '\(url)': unexpected '\(after)' after the IPv6 address")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        }
        if host.isEmpty || host == "[]" { throw HilbertError(.invalid, "S3 URL '\(url)': no host") }
        guard let portText else { return (host.lowercased(), nil) }
        guard let p = Int(portText), p >= 1, p <= 65535, portText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw HilbertError(.invalid, "S3 URL '\(url)': port '\(portText)' is not a number from 1 to 65535")
        }
        return (host.lowercased(), p)
    }

    /// An AWS S3 endpoint host: the bucket when virtual-hosted, the region when named.
    static func awsHost(_ host: String) -> (bucket: String?, region: String?)? {
        let suffix = ".amazonaws.com"
        guard host.hasSuffix(suffix) else { return nil }
        var labels = host.dropLast(suffix.count).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var region: String?
        if let last = labels.last, last != "s3", !last.hasPrefix("s3-"), labels.count >= 2, labels[labels.count - 2] == "s3" {
            region = last
            labels.removeLast()
        }
        guard let s3 = labels.last, s3 == "s3" || s3.hasPrefix("s3-") else { return nil }
        if s3.hasPrefix("s3-") {
            let r = String(s3.dropFirst(3))
            region = r == "external-1" ? "us-east-1" : r
        }
        labels.removeLast()
        return (labels.isEmpty ? nil : labels.joined(separator: "."), region)
    }

    static func bucketAndPrefix(_ path: String, url: String) throws(HilbertError) -> (String, String) {
        let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty else {
            throw HilbertError(.invalid, "S3 URL '\(url)': no bucket (path-style URLs are http(s)://host[:port]/bucket[/prefix])")
        }
        return (String(first), try validPrefix(parts.count > 1 ? String(parts[1]) : "", url: url))
    }

    /// The key prefix with a trailing "/" ("" for none); no empty, "." or ".." segments.
    static func validPrefix(_ raw: String, url: String) throws(HilbertError) -> String {
        var p = raw
        if p.hasSuffix("/") { p.removeLast() }
        if p.isEmpty { return "" }
        for segment in p.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty || segment == "." || segment == ".." {
                throw HilbertError(.invalid, "S3 URL '\(url)': the key prefix '\(raw)' has an empty, '.' or '..' segment")
            }
        }
        return p + "/"
    }

    /// nil when `name` is a valid bucket name, else what is wrong with it.
    static func bucketProblem(_ name: String, virtualHostedHTTPS: Bool, region: String) -> String? {
        let n = name.utf8.count
        if n < 3 || n > 63 {
            return "bucket name '\(name)' has \(n) characters (S3 bucket names have 3 to 63)"
        }
        for (i, c) in name.unicodeScalars.enumerated() {
            switch c {
            case "a"..."z", "0"..."9", ".", "-": continue
            case "A"..."Z": return "bucket name '\(name)' has upper-case '\(c)' at position \(i + 1) (bucket names are lower-case)"
            default: return "bucket name '\(name)' has '\(c)' at position \(i + 1) (allowed: lower-case letters, digits, '.' and '-')"
            }
        }
        let alnum: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber) }
        if !alnum(name.first!) || !alnum(name.last!) {
            return "bucket name '\(name)' must begin and end with a letter or digit"
        }
        if firstRange(of: "..", in: name) != nil { return "bucket name '\(name)' has two adjacent dots" }
        if virtualHostedHTTPS && name.contains(".") {
            return "bucket name '\(name)' has dots, which break TLS for virtual-hosted addressing "
                + "(the certificate covers one label); use path-style: https://s3.\(region).amazonaws.com/\(name)"
        }
        return nil
    }
}
