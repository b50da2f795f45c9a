import Glibc
import Testing
import HilbertSupport
@testable import HilbertS3

@Suite struct CredentialChainTests {
    static let secret = "SECRETsecretSECRET/+"

    func resolve(file: String? = nil, profile: String? = nil, _ env: [String: String]) throws(HilbertError) -> S3Credentials {
        try CredentialChain.resolve(file: file, profile: profile, env: { env[$0] })
    }
    func failure(file: String? = nil, profile: String? = nil, _ env: [String: String]) -> HilbertError? {
        do throws(HilbertError) { _ = try resolve(file: file, profile: profile, env); return nil } catch { return error }
    }

    @Test func hilbertFileFirst() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = try dir.write("creds", "# test keys\n  access_key_id = AKIDFILE \r\nsecret_access_key=\(Self.secret)\n\nsession_token = tok\n")
        let env = ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "x"]
        let c = try resolve(file: path, env)
        #expect(c == S3Credentials(accessKey: "AKIDFILE", secretKey: Self.secret, sessionToken: "tok", source: "credentials file \(path)"))
        // Named by HILBERT_S3_CREDENTIALS instead of the volume.
        var env2 = env
        env2["HILBERT_S3_CREDENTIALS"] = path
        #expect(try resolve(env2).accessKey == "AKIDFILE")
        // An empty name from the volume means none.
        #expect(try resolve(file: "", env2).accessKey == "AKIDFILE")
    }

    @Test func hilbertFileMustBePrivate() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = try dir.write("creds", "access_key_id = A\nsecret_access_key = \(Self.secret)\n", mode: 0o640)
        let e = failure(file: path, [:])
        #expect(e?.message == "credentials file \(path) is accessible by group or others (mode 0640); run: chmod 600 \(path)")
        #expect(e?.errno == .access)
    }

    @Test func hilbertFileProblems() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let missing = dir.path + "/none"
        #expect(failure(file: missing, [:])?.message == "cannot read credentials file \(missing) (named by the volume): No such file or directory")
        #expect(failure(["HILBERT_S3_CREDENTIALS": missing])?.message
                == "cannot read credentials file \(missing) (named by HILBERT_S3_CREDENTIALS): No such file or directory")
        #expect(failure(file: dir.path, [:])?.message == "credentials file \(dir.path) (named by the volume) is not a regular file")
        let typo = try dir.write("typo", "access_key_id = A\nsecret_key = \(Self.secret)\n")
        #expect(failure(file: typo, [:])?.message == "credentials file \(typo), line 2: unknown name 'secret_key' (expected access_key_id, secret_access_key or session_token)")
        let noSecret = try dir.write("nosecret", "access_key_id = A\n")
        #expect(failure(file: noSecret, [:])?.message == "credentials file \(noSecret) has no secret_access_key")
        let noEquals = try dir.write("noeq", "access_key_id A\n")
        #expect(failure(file: noEquals, [:])?.message == "credentials file \(noEquals), line 1: expected 'name = value'")
        if geteuid() == 0 {
            let other = try dir.write("other", "access_key_id = A\nsecret_access_key = \(Self.secret)\n")
            #expect(chown(other, 1234, 1234) == 0)
            #expect(failure(file: other, [:])?.message == "credentials file \(other) is owned by uid 1234, not by this user (uid 0); run: chown 0 \(other)")
        }
    }

    @Test func environment() throws {
        let c = try resolve(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": "t"])
        #expect(c == S3Credentials(accessKey: "AKIDENV", secretKey: Self.secret, sessionToken: "t", source: "environment (AWS_ACCESS_KEY_ID)"))
        #expect(try resolve(["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": ""]).sessionToken == nil)
        #expect(failure(["AWS_ACCESS_KEY_ID": "A"])?.message == "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
    }

    @Test func sharedCredentialsProfiles() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let creds = try dir.write("credentials", """
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = \(Self.secret)

            [work]
            ; comment
            aws_access_key_id=AKIDWORK
            aws_secret_access_key=\(Self.secret)
            aws_session_token = wtok
            """)
        var env = ["AWS_SHARED_CREDENTIALS_FILE": creds, "HOME": dir.path]
        #expect(try resolve(env) == S3Credentials(accessKey: "AKIDDEFAULT", secretKey: Self.secret, source: "profile 'default' in \(creds)"))
        #expect(try resolve(profile: "work", env).sessionToken == "wtok")
        env["AWS_PROFILE"] = "work"
        #expect(try resolve(env).accessKey == "AKIDWORK")
        #expect(try resolve(profile: "default", env).accessKey == "AKIDDEFAULT")
    }

    @Test func configFileProfiles() throws {
        let dir = TempDir()
        defer { dir.remove() }
        try Sys.mkdir(dir.path + "/.aws")
        _ = try dir.write(".aws/config", """
            [default]
            region = eu-north-1
            aws_access_key_id = AKIDCONFDEFAULT
            aws_secret_access_key = \(Self.secret)
            [profile ci]
            s3 =
              max_concurrent_requests = 20
            region = ap-south-1
            aws_access_key_id = AKIDCI
            aws_secret_access_key = \(Self.secret)
            """)
        let env = ["HOME": dir.path]
        let c = try resolve(env)
        #expect(c.accessKey == "AKIDCONFDEFAULT" && c.source == "profile 'default' in \(dir.path)/.aws/config")
        #expect(try resolve(profile: "ci", env).accessKey == "AKIDCI")
        #expect(CredentialChain.region(profile: nil, env: { env[$0] }) == "eu-north-1")
        #expect(CredentialChain.region(profile: "ci", env: { env[$0] }) == "ap-south-1")
        #expect(CredentialChain.region(profile: "ci", env: { ["AWS_DEFAULT_REGION": "x-1", "HOME": dir.path][$0] }) == "x-1")
        #expect(CredentialChain.region(profile: "ci", env: { ["AWS_REGION": "y-2", "AWS_DEFAULT_REGION": "x-1"][$0] }) == "y-2")
        #expect(CredentialChain.region(profile: "none", env: { env[$0] }) == nil)
    }

    @Test func nothingFoundListsEveryPlace() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let creds = try dir.write("credentials", "[other]\naws_access_key_id = X\naws_secret_access_key = \(Self.secret)\n")
        let e = failure(profile: "p1", ["HOME": dir.path, "AWS_SHARED_CREDENTIALS_FILE": creds])
        #expect(e?.errno == .access)
        #expect(e?.message == "no S3 credentials found; looked at: "
                + "a Hilbert credentials file (none named by the volume or HILBERT_S3_CREDENTIALS); "
                + "environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set); "
                + "\(creds) (no [p1] section); "
                + "\(dir.path)/.aws/config (no such file)")
        #expect(failure([:])?.message == "no S3 credentials found; looked at: "
                + "a Hilbert credentials file (none named by the volume or HILBERT_S3_CREDENTIALS); "
                + "environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set); "
                + "the AWS shared credentials file (neither AWS_SHARED_CREDENTIALS_FILE nor HOME set); "
                + "the AWS config file (neither AWS_CONFIG_FILE nor HOME set)")
    }

    @Test func profileWithoutSecretIsNamedNotShown() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let creds = try dir.write("credentials", "[default]\naws_access_key_id = AKIDHALF\n")
        let e = failure(["AWS_SHARED_CREDENTIALS_FILE": creds])
        #expect(e?.message == "profile 'default' in \(creds) has aws_access_key_id but no aws_secret_access_key")
    }

    @Test func messagesNeverContainTheSecret() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let bad = try dir.write("bad", "access_key_id = A\nsecret_access_key \(Self.secret)\n")
        let open = try dir.write("open", "access_key_id = A\nsecret_access_key = \(Self.secret)\n", mode: 0o644)
        for e in [failure(file: bad, [:]), failure(file: open, [:])] {
            #expect(e != nil)
            #expect(e?.message.contains(Self.secret) == false)
        }
    }
}
