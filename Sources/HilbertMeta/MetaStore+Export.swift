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
    /// transaction (where reads are round trips: a few statements, whatever the page's size).
    /// The directory must be readable and searchable by `cred`; whether each file may be read
    /// is the caller's to check (`checkAccess`), as a reader opening it would be refused.
    /// `next`: the cookie to continue after, when the page was full (more may follow).
    /// `extras` false: files' content alone, without symlink targets and `user.` attributes
    /// (`hilbert compact`).
    public func exportPage(_ dir: Ino, after cookie: UInt64, limit: Int, cred: Credentials,
                           extras: Bool = true) throws(Errno) -> (entries: [ExportedEntry], next: UInt64?) {
        let afterID = Int64(cookie > 2 ? cookie - 2 : 0)
        return try read { () throws(Errno) -> (entries: [ExportedEntry], next: UInt64?) in
            let withNodes = backend.remoteLookups
            try backend.readTogether([.node(dir), withNodes ? .entriesWithNodes(dir, afterID: afterID, limit: limit)
                                                            : .entries(dir, afterID: afterID, limit: limit)])
            let d = try loadAttr(dir)
            if !d.isDirectory { throw Errno.notDirectory }
            try MetaStore.require(d, R_OK | X_OK, cred)
            var out: [ExportedEntry] = []
            out.reserveCapacity(limit)
            // An entry whose node row is missing (a damaged volume) is not exported.
            var next: UInt64?
            if withNodes, let page = try backend.edgesWithNodes(dir, afterID: afterID, limit: limit) {
                for k in 0..<page.count {
                    if let a = page.attrs[k] { out.append(ExportedEntry(name: page.names[k], attr: a, cookie: UInt64(page.ids[k]) + 2)) }
                }
                if page.count == limit, let last = page.ids.last { next = UInt64(last) + 2 }
            } else {
                let edges = try backend.edges(dir, afterID: afterID, limit: limit)
                for e in edges {
                    if let a = try backend.node(e.ino) { out.append(ExportedEntry(name: e.name, attr: a, cookie: UInt64(e.id) + 2)) }
                }
                if edges.count == limit, let last = edges.last { next = UInt64(last.id) + 2 }
            }
            let files = out.filter { $0.attr.isRegular }.map { $0.attr.ino }
            let inline = try backend.inlineRows(of: files)
            let blocks = try backend.blocks(of: files.filter { inline[$0] == nil })
            var byIno: [Ino: [ImportXattr]] = [:]
            for row in extras ? try backend.xattrs(of: out.filter { $0.attr.isRegular || $0.attr.isDirectory }.map { $0.attr.ino }) : [] {
                byIno[row.ino, default: []].append(ImportXattr(name: row.name, value: row.value))
            }
            for k in out.indices {
                let ino = out[k].attr.ino
                if out[k].attr.isRegular {
                    if let row = inline[ino] {
                        do throws(Errno) {
                            try InlineChecksum.verify(row.data, row.crc, ino: ino, database: backend.location)
                            out[k].inline = row.data
                        } catch {
                            out[k].failure = error
                        }
                    } else {
                        out[k].blocks = blocks[ino] ?? []
                    }
                } else if extras && out[k].attr.isSymlink {
                    out[k].symlinkTarget = try backend.symlinkTarget(ino)
                }
                if let x = byIno[ino] { out[k].xattrs = x }
            }
            return (out, next)
        }
    }
}
