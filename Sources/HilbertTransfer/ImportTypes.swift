import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData

public struct ImportOptions: Sendable {
    /// Replace existing files (never directories) instead of keeping them.
    public var force = false
    /// Threads reading the source.
    public var threads = 2
    /// A pack holds at most this many bytes (or `batchEntries` files), and at most
    /// `PackBuilder.maxBytes`, the largest a reader's pack cache keeps whole (PackCache).
    public var packBytes = PackBuilder.maxBytes
    /// Files up to this size go into packs (at most the volume's block size); bigger ones
    /// are stored as blocks of their own.
    public var maxPackedFileBytes = 256 << 10
    /// Entries committed per metadata transaction (at most).
    public var batchEntries = 4096
    public init() {}
}

/// A directory of the source and the volume directory it goes into.
final class ImportDirectory: @unchecked Sendable {
    /// Host path of the source directory.
    let path: [UInt8]
    /// The destination's inode and path (as the user named it, for messages).
    let ino: Ino
    let destination: [UInt8]
    /// The destination existed before the import: names in it may exist.
    let existed: Bool
    /// SRC itself (a symlink to a directory is followed there, nowhere else).
    let isRoot: Bool
    /// For one that existed: its entries (name → inode, is a directory), read by its
    /// listing job before any chunk of it is handed out.
    var existing: [[UInt8]: (ino: Ino, isDirectory: Bool)] = [:]

    init(path: [UInt8], ino: Ino, destination: [UInt8], existed: Bool, isRoot: Bool = false) {
        self.path = path; self.ino = ino; self.destination = destination; self.existed = existed; self.isRoot = isRoot
    }
}

enum ImportJob {
    /// Read a directory's names and hand them out in chunks.
    case list(ImportDirectory)
    case chunk(ImportDirectory, [[UInt8]])
    /// SRC itself when it is not a directory: `name` in `dir` goes in as `as`.
    case single(ImportDirectory, name: [UInt8], as: [UInt8])
}

/// A source file or other node with several names: (device, inode).
struct HostKey: Hashable {
    var dev: UInt64
    var ino: UInt64
}

/// A name of a file whose first name another entry carries: made as a link to it at the end.
struct DeferredLink {
    var dir: ImportDirectory
    var name: [UInt8]
    var key: HostKey
    var entry: ImportEntry
}

/// A directory to create before its entries are read (its listing job starts once it is).
struct DirectoryCreation {
    var entry: ImportEntry
    var source: ImportDirectory
    var name: [UInt8]
    /// The mode to set when the import is done (it is created owner-writable meanwhile).
    var finalMode: UInt32?
}

/// Entries read from the source and committed together: one pack object (their small
/// files' content), one metadata transaction.
final class ImportBatch {
    var entries: [ImportEntry] = []
    /// Where each entry came from (messages).
    var sources: [(dir: ImportDirectory, name: [UInt8])] = []
    /// Entries that are the first name of a file with several.
    var linkKeys: [Int: HostKey] = [:]
    var pack: PackBuilder?
    /// Entries whose block is in the pack (its object id is known once the pack is stored).
    var packed: [Int] = []
    var packRow: PackRow?
    var uploads: [UInt64] = []
    /// Objects of their own the entries' blocks are in (deleted when an entry is not taken).
    var ownObjects: [Int: [UInt64]] = [:]
    /// The pack or an object could not be stored: nothing of it is committed.
    var failed = false

    var count: Int { entries.count }
    var packBytes: Int { pack?.bytes.count ?? 0 }
}
