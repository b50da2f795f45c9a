import Glibc
import HilbertSupport

/// Who registered a staging row: the boot of the node (`/proc/sys/kernel/random/boot_id`),
/// the process, and the cache directory that holds the file. Recorded with the row
/// (`hl_staging.owner`, text `boot=… pid=… cache=…`) so that a process using another cache
/// directory can tell an owner that is provably gone from one that may still be alive:
/// only on the same boot of the same node can it look at the process and the directory.
public struct StagingOwner: Sendable, Equatable {
    public var boot: String
    public var pid: Int32
    public var cacheRoot: String

    /// This process, staging in `cacheRoot`.
    public static func current(cacheRoot: String) -> StagingOwner {
        StagingOwner(boot: thisBoot, pid: getpid(), cacheRoot: cacheRoot)
    }

    public var record: String { "boot=\(boot) pid=\(pid) cache=\(cacheRoot)" }

    /// nil for an empty record (rows of older releases) or one this code cannot read.
    public init?(record: String) {
        var boot = "", pid: Int32?, cache: String?
        var rest = Substring(record)
        for key in ["boot=", "pid="] {
            guard rest.hasPrefix(key), let space = rest.firstIndex(of: " ") else { return nil }
            let value = String(rest[rest.index(rest.startIndex, offsetBy: key.count)..<space])
            if key == "boot=" { boot = value } else { pid = Int32(value) }
            rest = rest[rest.index(after: space)...]
        }
        if rest.hasPrefix("cache=") { cache = String(rest.dropFirst("cache=".count)) }
        guard !boot.isEmpty, let pid, let cache, !cache.isEmpty else { return nil }
        self.init(boot: boot, pid: pid, cacheRoot: cache)
    }

    public init(boot: String, pid: Int32, cacheRoot: String) {
        self.boot = boot
        self.pid = pid
        self.cacheRoot = cacheRoot
    }

    /// Registered on this boot of this node: its process and directory can be looked at.
    public var onThisNode: Bool { !StagingOwner.thisBoot.isEmpty && boot == StagingOwner.thisBoot }

    /// The process is gone (ESRCH). A reused pid counts as alive: the safe side.
    public var processGone: Bool { kill(pid, 0) != 0 && errno == ESRCH }

    /// Where the staging file `name` of volume `volumeUUID` lives.
    public func stagingPath(volumeUUID: String, name: String) -> String {
        cacheRoot + "/" + volumeUUID + "/staging/" + name
    }

    static let thisBoot: String = {
        guard let fd = try? Sys.openPrivate("/proc/sys/kernel/random/boot_id", O_RDONLY) else { return "" }
        defer { Sys.closePrivate(fd) }
        let text = String(decoding: (try? Sys.preadBytes(fd, count: 64, offset: 0)) ?? [], as: UTF8.self)
        return text.split(separator: "\n").first.map(String.init) ?? ""
    }()
}
