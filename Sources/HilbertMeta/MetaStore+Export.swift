import Glibc
import HilbertSupport

/// One entry of a directory being exported (`hilbert export`), with everything needed to
/// copy it out: its node, its content (inline bytes, or blocks), its symlink target and its
/// `user.` attributes, read in one snapshot.
public struct ExportedEntry: Sendable {
    public var name: [UInt8]
    public var attr: Attr
    /// Continue the listing after this entry.
    public var cookie: UInt64
    public var inline: [UInt8]?
    public var blocks: [BlockRef] = []
    public var symlinkTarget: [UInt8]?
    public var xattrs: [ImportXattr] = []
    /// Its content could not be read (a damaged inline row: EIO, explained in `lastError`).
    public var failure: Errno?

    public init(name: [UInt8], attr: Attr, cookie: UInt64) {
        self.name = name; self.attr = attr; self.cookie = cookie
    }
}

extension MetaStore {
    /// A page of the entries of directory `dir` after `cookie` (0: from the start, "." and
    /// ".." left out), at most `limit`, each with its content and attributes, in one read
    /// transaction (where reads are round trips: three, whatever the page's size). The
    /// directory must be readable and searchable by `cred`; whether each file may be read is
    /// the caller's to check (`checkAccess`), as a reader opening it would be refused.
    public func exportPage(_ dir: Ino, after cookie: UInt64, limit: Int, cred: Credentials) throws(Errno) -> [ExportedEntry] {
        let afterID = Int64(cookie > 2 ? cookie - 2 : 0)
        return try read { () throws(Errno) -> [ExportedEntry] in
            try backend.readTogether([.node(dir), .entries(dir, afterID: afterID, limit: limit)])
            let d = try loadAttr(dir)
            if !d.isDirectory { throw Errno.notDirectory }
            try MetaStore.require(d, R_OK | X_OK, cred)
            let edges = try backend.edges(dir, afterID: afterID, limit: limit)
            try backend.readTogether(edges.flatMap { [RowRead.node($0.ino), .inlineRow($0.ino), .blocks($0.ino)] })
            var out: [ExportedEntry] = []
            out.reserveCapacity(edges.count)
            var withXattrs: [Ino] = []
            for e in edges {
                // An entry whose node row is missing (a damaged volume) is not exported.
                guard let a = try backend.node(e.ino) else { continue }
                var x = ExportedEntry(name: e.name, attr: a, cookie: UInt64(e.id) + 2)
                if a.isRegular {
                    do throws(Errno) {
                        x.inline = try inlineData(a.ino)
                        if x.inline == nil { x.blocks = try loadBlocks(a.ino) }
                    } catch {
                        x.failure = error
                    }
                }
                if a.isRegular || a.isDirectory { withXattrs.append(a.ino) }
                out.append(x)
            }
            for k in out.indices where out[k].attr.isSymlink {
                out[k].symlinkTarget = try backend.symlinkTarget(out[k].attr.ino)
            }
            if !withXattrs.isEmpty {
                var byIno: [Ino: [ImportXattr]] = [:]
                for row in try backend.xattrs(of: withXattrs) {
                    byIno[row.ino, default: []].append(ImportXattr(name: row.name, value: row.value))
                }
                if !byIno.isEmpty {
                    for k in out.indices { if let x = byIno[out[k].attr.ino] { out[k].xattrs = x } }
                }
            }
            return out
        }
    }
}
