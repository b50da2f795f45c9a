import Glibc
import Testing
import HilbertSupport
@testable import HilbertMeta

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

func makeTempDir() -> String {
    var template = Array("/tmp/hilbert-meta-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return String(cString: p!)
}

func removeTree(_ dir: String) {
    if let d = opendir(dir) {
        while let e = readdir(d) {
            let name = withUnsafePointer(to: &e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { unlink(dir + "/" + name) }
        }
        closedir(d)
    }
    rmdir(dir)
}

let testFormat = VolumeFormat(name: "t", uuid: "00000000-0000-0000-0000-000000000001", storage: "file",
                              bucket: "/tmp/none", compression: "none", blockSize: 4096, inlineMax: 64)

/// A fresh volume in a temp dir; removed when `body` returns.
func withVolume(_ body: (MetaStore, String) throws -> Void) throws {
    let dir = makeTempDir()
    defer { removeTree(dir) }
    let path = dir + "/meta.db"
    let store = try MetaStore.create(path: path, format: testFormat, rootUID: 0, rootGID: 0, rootMode: 0o777)
    try body(store, path)
    store.close()
}

let root = Credentials.root
let alice = Credentials(uid: 1000, gid: 1000)
let bob = Credentials(uid: 1001, gid: 1001)
let prefix = b("/mnt/vol")

extension MetaStore {
    func res(_ p: String, follow: Bool = true, cred: Credentials = .root, base: Ino = rootIno) throws(Errno) -> Resolution {
        try resolve(from: base, path: b(p), followLast: follow, cred: cred, mountPrefix: prefix)
    }
    func ino(_ p: String) throws -> Ino {
        guard case .found(_, _, let a) = try res(p) else { throw Errno.noEntry }
        return a.ino
    }
}

func expectErrno(_ e: Errno, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected \(e), got success", sourceLocation: sourceLocation)
    } catch {
        #expect(error as? Errno == e, sourceLocation: sourceLocation)
    }
}
