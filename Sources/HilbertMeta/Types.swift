import HilbertSupport

/// Inode numbers are stable 64-bit row ids; 1 is the root directory of a volume.
public typealias Ino = UInt64
public let rootIno: Ino = 1

public struct Timespec: Equatable, Hashable, Sendable, Comparable {
    public var sec: Int64
    public var nsec: UInt32
    public init(sec: Int64, nsec: UInt32) {
        self.sec = sec
        self.nsec = nsec
    }
    public static func < (a: Timespec, b: Timespec) -> Bool { (a.sec, a.nsec) < (b.sec, b.nsec) }
}

/// File types as stored in `mode & S_IFMT`.
public enum FileType: UInt32, Sendable {
    case regular = 0o100000
    case directory = 0o040000
    case symlink = 0o120000
    case fifo = 0o010000
    case socket = 0o140000
    case charDevice = 0o020000
    case blockDevice = 0o060000
}

public struct Attr: Equatable, Sendable {
    public var ino: Ino
    public var mode: UInt32          // type bits | permission bits (incl. suid/sgid/sticky)
    public var nlink: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var rdev: UInt64
    public var size: UInt64
    public var atime: Timespec
    public var mtime: Timespec
    public var ctime: Timespec
    public var btime: Timespec
    public var parent: Ino           // directories: the physical parent (root: itself); others: 0
    public var version: UInt64       // bumped by every data commit (names cached read copies)
    public var staged: Bool          // a node-local staging file may hold newer data
    public init(ino: Ino, mode: UInt32, nlink: UInt32, uid: UInt32, gid: UInt32, rdev: UInt64, size: UInt64,
                atime: Timespec, mtime: Timespec, ctime: Timespec, btime: Timespec, parent: Ino,
                version: UInt64, staged: Bool) {
        self.ino = ino; self.mode = mode; self.nlink = nlink; self.uid = uid; self.gid = gid
        self.rdev = rdev; self.size = size; self.atime = atime; self.mtime = mtime; self.ctime = ctime
        self.btime = btime; self.parent = parent; self.version = version; self.staged = staged
    }
    public var type: FileType? { FileType(rawValue: mode & 0o170000) }
    public var isDirectory: Bool { mode & 0o170000 == FileType.directory.rawValue }
    public var isRegular: Bool { mode & 0o170000 == FileType.regular.rawValue }
    public var isSymlink: Bool { mode & 0o170000 == FileType.symlink.rawValue }
}

/// One entry of a directory listing. `cookie` continues the listing after this entry.
public struct DirEntry: Equatable, Sendable {
    public var name: [UInt8]
    public var ino: Ino
    public var type: UInt8           // DT_* value
    public var cookie: UInt64
    public init(name: [UInt8], ino: Ino, type: UInt8, cookie: UInt64) {
        self.name = name; self.ino = ino; self.type = type; self.cookie = cookie
    }
}

/// The volume's settings, written once by `hilbert format` (table hl_setting).
public struct VolumeFormat: Equatable, Sendable {
    public var name: String
    public var uuid: String
    public var storage: String       // "file" | "s3"
    public var bucket: String        // "file": absolute directory; "s3": bucket URL (with key prefix)
    /// Store settings besides the location ("s3": region, credentials file, profile). Never
    /// a secret: credentials come from the environment or files at run time.
    public var storageOptions: [String: String] = [:]
    public var compression: String   // "zstd" | "none"
    public var blockSize: Int        // bytes, default 4 MiB
    public var inlineMax: Int        // files up to this size live in metadata, default 16 KiB
    public var formatVersion: Int
    public init(name: String, uuid: String, storage: String, bucket: String, compression: String,
                blockSize: Int, inlineMax: Int, formatVersion: Int = 1) {
        self.name = name; self.uuid = uuid; self.storage = storage; self.bucket = bucket
        self.compression = compression; self.blockSize = blockSize; self.inlineMax = inlineMax
        self.formatVersion = formatVersion
    }
}

/// Outcome of resolving a path inside a volume.
public enum Resolution: Equatable, Sendable {
    /// The object exists. `parent`/`name` locate its directory entry (root: parent 0, name []).
    case found(parent: Ino, name: [UInt8], attr: Attr)
    /// Every component but the last exists; the last does not (create calls use this).
    /// `mustBeDirectory` is true when the path ended with '/'.
    case missing(parent: Ino, name: [UInt8], mustBeDirectory: Bool)
    /// Resolution left the volume (".." above the root, or a symlink to outside the mount):
    /// continue on the host with this absolute path.
    case redirect(hostPath: [UInt8])
}

/// Usage counters for `hilbert status` and statfs.
public struct VolumeUsage: Equatable, Sendable {
    public var inodes: UInt64
    public var logicalBytes: UInt64
    public var storedBytes: UInt64
    public var objects: UInt64
    public init(inodes: UInt64, logicalBytes: UInt64, storedBytes: UInt64, objects: UInt64) {
        self.inodes = inodes; self.logicalBytes = logicalBytes; self.storedBytes = storedBytes; self.objects = objects
    }
}

/// Object ids handed to a commit still uploading (hl_upload).
/// A pack object (`hl_pack`): blocks of many files in one object; `size` bytes, written with
/// `pieces` blocks at wall-clock second `created`.
public struct PackRow: Equatable, Sendable {
    public var objectID: UInt64
    public var size: UInt64
    public var pieces: UInt64
    public var created: Int64
    public init(objectID: UInt64, size: UInt64, pieces: UInt64, created: Int64) {
        self.objectID = objectID; self.size = size; self.pieces = pieces; self.created = created
    }
}

public struct UploadBatch: Equatable, Sendable {
    public var firstID: UInt64
    public var count: UInt64
    public var commit: UInt64
    public var owner: String
    public var touched: Int64
    public init(firstID: UInt64, count: UInt64, commit: UInt64, owner: String, touched: Int64) {
        self.firstID = firstID; self.count = count; self.commit = commit; self.owner = owner; self.touched = touched
    }
    public func contains(_ id: UInt64) -> Bool { id >= firstID && id - firstID < count }
}
