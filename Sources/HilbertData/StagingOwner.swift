import Glibc
import HilbertSupport

/// Who registered a staging row: the node, the process, and the cache directory that holds
/// the file. Recorded with the row (`hl_staging.owner`, text `node=… pid=… cache=…`) so that
/// a process using another cache directory can tell an owner that is provably gone from one
/// that may still be alive. It can look at the process and the directory only from the same
/// node: the same boot of the same kernel (`/proc/sys/kernel/random/boot_id`) and the same
/// PID and mount namespaces (a container on the same host sees other pids and paths, so it
/// counts as another node).
public struct StagingOwner: Sendable, Equatable {
    public var node: String
    public var pid: Int32
    public var cacheRoot: String

    /// This process, staging in `cacheRoot`.
    public static func current(cacheRoot: String) -> StagingOwner {
        StagingOwner(node: thisNode, pid: getpid(), cacheRoot: cacheRoot)
    }

    public var record: String { "node=\(node) pid=\(pid) cache=\(cacheRoot)" }

    /// nil for an empty record (rows of older releases) or one this code cannot read.
    public init?(record: String) {
        var node = "", pid: Int32?, cache: String?
        var rest = Substring(record)
        for key in ["node=", "pid="] {
            guard rest.hasPrefix(key), let space = rest.firstIndex(of: " ") else { return nil }
            let value = String(rest[rest.index(rest.startIndex, offsetBy: key.count)..<space])
            if key == "node=" { node = value } else { pid = Int32(value) }
            rest = rest[rest.index(after: space)...]
        }
        if rest.hasPrefix("cache=") { cache = String(rest.dropFirst("cache=".count)) }
        guard !node.isEmpty, let pid, let cache, !cache.isEmpty else { return nil }
        self.init(node: node, pid: pid, cacheRoot: cache)
    }

    public init(node: String, pid: Int32, cacheRoot: String) {
        self.node = node
        self.pid = pid
        self.cacheRoot = cacheRoot
    }

    /// Registered on this node: its process and directory can be looked at.
    public var onThisNode: Bool { !StagingOwner.thisNode.isEmpty && node == StagingOwner.thisNode }

    /// The process is gone (ESRCH). A reused pid counts as alive: the safe side.
    public var processGone: Bool { kill(pid, 0) != 0 && errno == ESRCH }

    /// Where the staging file `name` of volume `volumeUUID` lives.
    public func stagingPath(volumeUUID: String, name: String) -> String {
        cacheRoot + "/" + volumeUUID + "/staging/" + name
    }

    /// `<boot id>/<pid namespace inode>/<mount namespace inode>`, or "" when any is unknown
    /// (then no owner is ever judged gone).
    static let thisNode: String = {
        guard let fd = try? Sys.openPrivate("/proc/sys/kernel/random/boot_id", O_RDONLY) else { return "" }
        defer { Sys.closePrivate(fd) }
        let boot = String(decoding: (try? Sys.preadBytes(fd, count: 64, offset: 0)) ?? [], as: UTF8.self)
            .split(separator: "\n").first.map(String.init) ?? ""
        guard !boot.isEmpty, let pidNS = namespace("pid"), let mountNS = namespace("mnt") else { return "" }
        return boot + "/" + pidNS + "/" + mountNS
    }()

    /// The inode number of namespace NAME ("4026531836" of the link "pid:[4026531836]").
    private static func namespace(_ name: String) -> String? {
        guard let link = try? Sys.readlink("/proc/self/ns/" + name),
              let open = link.firstIndex(of: "["), let close = link.lastIndex(of: "]"), open < close else { return nil }
        return String(link[link.index(after: open)..<close])
    }
}
