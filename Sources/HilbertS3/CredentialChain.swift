import Glibc
import HilbertSupport

/// Finds S3 credentials: a Hilbert credentials file, the environment, the AWS shared
/// credentials file, the AWS config file, in that order. Messages never contain a secret.
public enum CredentialChain {
    public static func resolve(file: String?, profile: String?, env: (String) -> String?) throws(HilbertError) -> S3Credentials {
        func set(_ name: String) -> String? { env(name).flatMap { $0.isEmpty ? nil : $0 } }
        var looked: [String] = []

        // (a) a Hilbert credentials file, when one is named: then it must work.
        let named = file.flatMap { $0.isEmpty ? nil : $0 }
        let namedBy = named != nil ? "the volume" : "HILBERT_S3_CREDENTIALS"
        if let path = named ?? set("HILBERT_S3_CREDENTIALS") {
            return try hilbertFile(path, namedBy: namedBy)
        }
        looked.append("a Hilbert credentials file (none named by the volume or HILBERT_S3_CREDENTIALS)")

        // (b) the environment
        let id = set("AWS_ACCESS_KEY_ID"), secret = set("AWS_SECRET_ACCESS_KEY")
        if let id, let secret {
            return S3Credentials(accessKey: id, secretKey: secret, sessionToken: set("AWS_SESSION_TOKEN"),
                                 source: "environment (AWS_ACCESS_KEY_ID)")
        }
        if (id == nil) != (secret == nil) {
            throw HilbertError(.access, id == nil ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                                                  : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        looked.append("environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set)")

        let name = profile.flatMap { $0.isEmpty ? nil : $0 } ?? set("AWS_PROFILE") ?? "default"
        let home = set("HOME")

        // (c) the AWS shared credentials file: [name]
        if let path = set("AWS_SHARED_CREDENTIALS_FILE") ?? home.map({ $0 + "/.aws/credentials" }) {
            switch awsProfile(path: path, sections: [name]) {
            case .found(let values):
                if let c = try credentials(values, source: "profile '\(name)' in \(path)") { return c }
                looked.append("\(path) (profile '\(name)' has no aws_access_key_id)")
            case .missing(let why): looked.append("\(path) (\(why))")
            }
        } else {
            looked.append("the AWS shared credentials file (neither AWS_SHARED_CREDENTIALS_FILE nor HOME set)")
        }

        // (d) the AWS config file: [profile name], or [default]
        if let path = configPath(env: set, home: home) {
            switch awsProfile(path: path, sections: configSections(name)) {
            case .found(let values):
                if let c = try credentials(values, source: "profile '\(name)' in \(path)") { return c }
                looked.append("\(path) (profile '\(name)' has no aws_access_key_id)")
            case .missing(let why): looked.append("\(path) (\(why))")
            }
        } else {
            looked.append("the AWS config file (neither AWS_CONFIG_FILE nor HOME set)")
        }
        throw HilbertError(.access, "no S3 credentials found; looked at: " + looked.joined(separator: "; "))
    }

    /// AWS_REGION, AWS_DEFAULT_REGION, then `region` of the profile in the AWS config file.
    public static func region(profile: String?, env: (String) -> String?) -> String? {
        func set(_ name: String) -> String? { env(name).flatMap { $0.isEmpty ? nil : $0 } }
        if let r = set("AWS_REGION") ?? set("AWS_DEFAULT_REGION") { return r }
        let name = profile.flatMap { $0.isEmpty ? nil : $0 } ?? set("AWS_PROFILE") ?? "default"
        guard let path = configPath(env: set, home: set("HOME")),
              case .found(let values) = awsProfile(path: path, sections: configSections(name)) else { return nil }
        return values["region"].flatMap { $0.isEmpty ? nil : $0 }
    }

    // MARK: files

    static func configPath(env: (String) -> String?, home: String?) -> String? {
        env("AWS_CONFIG_FILE") ?? home.map { $0 + "/.aws/config" }
    }
    static func configSections(_ name: String) -> [String] {
        name == "default" ? ["default", "profile default"] : ["profile " + name]
    }

    static func credentials(_ v: [String: String], source: String) throws(HilbertError) -> S3Credentials? {
        guard let id = v["aws_access_key_id"], !id.isEmpty else { return nil }
        guard let secret = v["aws_secret_access_key"], !secret.isEmpty else {
            throw HilbertError(.access, "\(source) has aws_access_key_id but no aws_secret_access_key")
        }
        let token = v["aws_session_token"] ?? v["aws_security_token"]
        return S3Credentials(accessKey: id, secretKey: secret, sessionToken: token.flatMap { $0.isEmpty ? nil : $0 }, source: source)
    }

    /// `access_key_id = …`, `secret_access_key = …`, optional `session_token = …`; mode 600, ours.
    static func hilbertFile(_ path: String, namedBy: String) throws(HilbertError) -> S3Credentials {
        let bytes: [UInt8], st: Glibc.stat
        do throws(Errno) { (bytes, st) = try readSmallFile(path) } catch {
            throw HilbertError(error, "cannot read credentials file \(path) (named by \(namedBy)): \(error)")
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw HilbertError(.access, "credentials file \(path) (named by \(namedBy)) is not a regular file")
        }
        if st.st_uid != geteuid() {
            throw HilbertError(.access, "credentials file \(path) is owned by uid \(st.st_uid), not by this user (uid \(geteuid())); "
                               + "run: chown \(geteuid()) \(path)")
        }
        if st.st_mode & 0o077 != 0 {
            throw HilbertError(.access, "credentials file \(path) is accessible by group or others (mode "
                               + octal(st.st_mode & 0o777) + "); run: chmod 600 \(path)")
        }
        var values: [String: String] = [:]
        for (n, raw) in lines(bytes).enumerated() {
            let line = trim(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw HilbertError(.invalid, "credentials file \(path), line \(n + 1): expected 'name = value'")
            }
            let key = trim(line[..<eq])
            guard ["access_key_id", "secret_access_key", "session_token"].contains(key) else {
                throw HilbertError(.invalid, "credentials file \(path), line \(n + 1): unknown name '\(key)' "
                                   + "(expected access_key_id, secret_access_key or session_token)")
            }
            values[key] = trim(line[line.index(after: eq)...])
        }
        for key in ["access_key_id", "secret_access_key"] where (values[key] ?? "").isEmpty {
            throw HilbertError(.invalid, "credentials file \(path) has no \(key)")
        }
        return S3Credentials(accessKey: values["access_key_id"]!, secretKey: values["secret_access_key"]!,
                             sessionToken: values["session_token"].flatMap { $0.isEmpty ? nil : $0 },
                             source: "credentials file \(path)")
    }

    enum Lookup { case found([String: String]), missing(String) }

    /// The keys of the first of `sections` in an AWS INI file (indented sub-settings skipped).
    static func awsProfile(path: String, sections: [String]) -> Lookup {
        let bytes: [UInt8]
        do throws(Errno) { bytes = try readSmallFile(path).0 } catch {
            return .missing(error == .noEntry ? "no such file" : "unreadable: \(error)")
        }
        var found: [String: [String: String]] = [:]
        var current: String?
        for raw in lines(bytes) {
            if raw.first == " " || raw.first == "\t" { continue }
            let line = trim(raw)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = trim(line.dropFirst().dropLast()).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                current = name
                if found[name] == nil { found[name] = [:] }
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            found[current]![trim(line[..<eq]).lowercased()] = trim(line[line.index(after: eq)...])
        }
        for s in sections { if let v = found[s] { return .found(v) } }
        return .missing("no [\(sections[0])] section")
    }

    static func readSmallFile(_ path: String) throws(Errno) -> ([UInt8], Glibc.stat) {
        // O_NONBLOCK: a FIFO put where the file should be must not hang the mount.
        let fd = try Sys.openPrivate(path, O_RDONLY | O_NOCTTY | O_NONBLOCK)
        defer { Sys.closePrivate(fd) }
        let st = try Sys.fstat(fd)
        guard (st.st_mode & S_IFMT) == S_IFREG else { return ([], st) }
        guard st.st_size <= 1 << 20 else { throw Errno.fileTooBig }
        return (try Sys.preadBytes(fd, count: Int(st.st_size), offset: 0), st)
    }

    /// Lines split on LF (a String would keep CR LF together as one Character).
    static func lines(_ bytes: [UInt8]) -> [Substring] {
        bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self)[...] }
    }

    static func trim(_ s: Substring) -> String {
        let ws: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let a = s.firstIndex(where: { !ws($0) }), let b = s.lastIndex(where: { !ws($0) }) else { return "" }
        return String(s[a...b])
    }
    static func trim(_ s: String) -> String { trim(s[...]) }

    static func octal(_ m: mode_t) -> String {
        let s = String(m, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}
