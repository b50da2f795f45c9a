import Glibc
import CHilbertSys
import HilbertSupport

/// The node-local cache directory, shared by all processes of the node (of one user) with
/// no daemon: coordination is by atomic renames and O_EXCL names only.
///
///     <root>/<volumeUUID>/
///         staging/   write files: <ino>.<pid>.<random>, O_EXCL, 0600 (never evicted)
///         files/     read copies: files/<ino % 256 as 2 hex digits>/<ino>.<version>, 0400
///         tmp/       read copies being installed (renamed into files/ when complete)
///         shadow/    an empty directory, mode 0555: placeholder for directory fds
///
/// Directories are created 0700: the cache holds file contents, so it is per user; another
/// uid pointed at the same root gets a clear EACCES. A missing root is created.
///
/// A committed staging file becomes the read copy of the version it committed (`adoptReadCopy`):
/// data written on this node is read back from the cache, not from the store.
///
/// Eviction: read copies are evicted least-recently-used first (mtime, refreshed by
/// `openReadCopy(touch: true)`) when they occupy more than `capacityBytes` or the file system has less
/// than `minFreeRatio` (or `minFreeBytes`) free. Default capacity: min(10 GiB, 10% of the file
/// system's size), for all the volumes cached here together. The bytes of read copies are
/// counted in a word every process of the node shares (`<root>/cache-usage`, mapped): an
/// installer reserves a copy's size there before
/// fetching it, and when the reservation passes the capacity it evicts least recently used
/// copies first, down to 1/16 of the capacity below it (so that a full cache is not scanned on
/// every install). So the copies exceed the capacity by at most what is being fetched at that
/// moment, however many processes read at once. `installReadCopy` also checks free space (one
/// statvfs) on every install, and a full scan of `files/` after every `evictEveryBytes`
/// installed by this process (a quarter of the capacity, at most 256 MiB) sets the shared
/// count to what is there (a reservation a killed process left is forgotten then). Sizes are
/// allocated bytes.
public final class CacheDirectory: @unchecked Sendable {
    public let root: String
    public let volumeDirectory: String
    public let stagingDirectory: String
    private let idLock = Lock()
    nonisolated(unsafe) private var cachedID: String?
    public let filesDirectory: String
    public let tmpDirectory: String
    public let shadowDirectory: String
    public var capacityBytes: Int64
    public var minFreeRatio: Double
    /// A free-space floor in bytes (`--cache-free 20G`); when set, it replaces `minFreeRatio`.
    public var minFreeBytes: Int64?
    public var evictEveryBytes: Int64
    /// tmp/ files older than this (seconds) are leftovers of crashed installers.
    public var staleTmpSeconds: Int = 24 * 3600

    private let lock = Lock()
    /// The shared count of read copies' bytes (word 0 of `<root>/cache-usage`, every volume's; word 1 is set
    /// once a scan has filled word 0), mapped on first use.
    nonisolated(unsafe) private var usageWord: UnsafeMutablePointer<UInt64>?
    private var installedSinceScan: Int64 = 0
    private var adoptedSinceSpaceCheck: Int64 = 0

    public static let defaultCapacityLimit: Int64 = 10 << 30

    /// Create (or reuse) the cache of volume `volumeUUID` under `root`. Throws the errno;
    /// the full explanation is in `DataErrors.last` (or use `CacheDirectory.open`).
    public convenience init(root: String, volumeUUID: String, capacityBytes: Int64? = nil, minFreeRatio: Double = 0.1,
                            minFreeBytes: Int64? = nil) throws(Errno) {
        let p: Prepared
        do throws(HilbertError) {
            p = try CacheDirectory.prepare(root: root, volumeUUID: volumeUUID)
        } catch {
            throw DataErrors.fail(error.errno, error.message)
        }
        self.init(p, capacityBytes: capacityBytes, minFreeRatio: minFreeRatio, minFreeBytes: minFreeBytes)
    }

    /// Same as the initializer, throwing the explained error.
    public static func open(root: String, volumeUUID: String, capacityBytes: Int64? = nil, minFreeRatio: Double = 0.1,
                            minFreeBytes: Int64? = nil) throws(HilbertError) -> CacheDirectory {
        let p = try prepare(root: root, volumeUUID: volumeUUID)
        return CacheDirectory(p, capacityBytes: capacityBytes, minFreeRatio: minFreeRatio, minFreeBytes: minFreeBytes)
    }

    private struct Prepared { var root: String; var volume: String; var fsBytes: Int64; var full: Bool }

    private init(_ p: Prepared, capacityBytes: Int64?, minFreeRatio: Double, minFreeBytes: Int64?) {
        root = p.root
        volumeDirectory = p.volume
        stagingDirectory = p.volume + "/staging"
        filesDirectory = p.volume + "/files"
        tmpDirectory = p.volume + "/tmp"
        shadowDirectory = p.volume + "/shadow"
        let tenth = p.fsBytes > 0 ? p.fsBytes / 10 : CacheDirectory.defaultCapacityLimit
        self.capacityBytes = capacityBytes ?? min(CacheDirectory.defaultCapacityLimit, tenth)
        self.evictEveryBytes = min(256 << 20, max(1 << 20, self.capacityBytes / 4))
        self.minFreeRatio = minFreeRatio
        self.minFreeBytes = minFreeBytes
        if p.full {
            Log.debug("cache: \(p.volume) is full; evicting read copies")
            evictIfNeeded()
        }
    }

    private static func prepare(root rootIn: String, volumeUUID: String) throws(HilbertError) -> Prepared {
        var root = rootIn
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        guard !root.isEmpty else { throw HilbertError(.invalid, "cache directory: empty path") }
        guard !volumeUUID.isEmpty, !volumeUUID.contains("/"), volumeUUID != ".", volumeUUID != ".." else {
            throw HilbertError(.invalid, "cache directory: invalid volume id '\(volumeUUID)'")
        }
        func explain(_ what: String, _ path: String, _ e: Errno) -> HilbertError {
            var hint = ""
            switch e {
            case .access, .perm: hint = " (choose a writable cache directory with HILBERT_CACHE)"
            case .readOnly: hint = " (read-only file system; set HILBERT_CACHE to a writable place)"
            case .noSpace, .quota: hint = " (no space left for the cache)"
            case .notDirectory: hint = " (a path component is not a directory)"
            default: break
            }
            return HilbertError(e, "cache directory \(path): cannot \(what): \(e)\(hint)")
        }
        do throws(Errno) { try Sys.mkdirs(root, 0o700) } catch { throw explain("create", root, error) }
        let rootMode = try verifyPrivate(root)
        // Nobody else can enter a root without group or other permission bits, so nothing below
        // it can be another user's doing: its subdirectories are only made when missing, not
        // opened and checked again by every process. Below a root others may enter, they are.
        let sealed = rootMode & 0o077 == 0
        let volume = root + "/" + volumeUUID
        for dir in [volume, volume + "/staging", volume + "/files", volume + "/tmp"] {
            do throws(Errno) {
                do throws(Errno) { try Sys.mkdir(dir, 0o700) } catch where error == .exists {}
            } catch { throw explain("create", dir, error) }
            if !sealed { try verifyPrivate(dir, parents: false) }
        }
        let shadow = volume + "/shadow"
        do throws(Errno) {
            var made = true
            do throws(Errno) { try Sys.mkdir(shadow, 0o555) } catch where error == .exists { made = false }
            if made {   // the umask may have taken bits away
                let fd = try Sys.openPrivate(shadow, O_RDONLY | O_DIRECTORY)
                defer { Sys.closePrivate(fd) }
                let st = try Sys.fstat(fd)
                if st.st_mode & 0o7777 != 0o555 && st.st_uid == geteuid() { try Sys.fchmod(fd, 0o555) }
            }
        } catch { throw explain("create", shadow, error) }
        // Can we create files here (EACCES, EROFS)? Asked without creating one. A full file
        // system is not fatal: committed data stays readable, read copies are evicted right
        // away, and writes report ENOSPC themselves.
        if !Sys.access(volume + "/tmp", W_OK | X_OK) { throw explain("write to", volume, Errno.current) }
        var fsBytes: Int64 = 0
        var full = false
        if let vfs = try? Sys.statvfs(volume) {
            fsBytes = Int64(vfs.f_blocks) * Int64(vfs.f_frsize)
            full = vfs.f_bavail == 0
        }
        return Prepared(root: root, volume: volume, fsBytes: fsBytes, full: full)
    }

    /// The cache root must be the user's alone (PrivateDirectory); below a verified root,
    /// each directory is checked itself (its parents were). Returns the directory's mode.
    @discardableResult
    private static func verifyPrivate(_ dir: String, parents: Bool = true) throws(HilbertError) -> mode_t {
        do throws(HilbertError) { return try PrivateDirectory.verify(dir, parents: parents) } catch {
            throw HilbertError(error.errno, "cache directory " + error.message + " (HILBERT_CACHE)")
        }
    }

    /// Make `<volume dir>/NAME` (0700) if missing, after checking again, before anything is
    /// created in it, that the cache root is the user's alone: a cache removed while processes
    /// run (a job's TMPDIR wiped) is made anew here, and another user must not have got there
    /// first. A refusal is said on stderr.
    public func ensureSubdirectory(_ name: String) throws(Errno) {
        do throws(HilbertError) {
            try CacheDirectory.makePrivate(root, parents: true)
            try CacheDirectory.makePrivate(volumeDirectory, parents: false)
            try CacheDirectory.makePrivate(volumeDirectory + "/" + name, parents: false)
        } catch {
            Log.error(error.message)
            throw DataErrors.fail(error.errno, error.message)
        }
    }

    /// The cache root, made when missing, checked to be the user's alone (PrivateDirectory).
    public static func makeRoot(_ root: String) throws(HilbertError) {
        try makePrivate(root, parents: true)
    }

    /// mkdir (with `parents`: missing ancestors too, and the ancestors checked), then verify.
    private static func makePrivate(_ dir: String, parents: Bool) throws(HilbertError) {
        do throws(Errno) {
            if parents { try Sys.mkdirs(dir, 0o700) } else { try Sys.mkdir(dir, 0o700) }
        } catch where error == .exists {
        } catch {
            throw HilbertError(error, "cache directory \(dir): cannot create: \(error)")
        }
        try verifyPrivate(dir, parents: parents)
    }

    /// After fork, in the child.
    public func reinitializeAfterFork() { lock.reinitialize() }

    // MARK: read copies

    static func shard(_ ino: UInt64) -> String {
        let s = String(ino % 256, radix: 16)
        return s.count == 1 ? "0" + s : s
    }

    public func readCopyPath(ino: UInt64, version: UInt64) -> String {
        filesDirectory + "/" + CacheDirectory.shard(ino) + "/\(ino).\(version)"
    }

    /// An O_RDONLY fd on the cached copy of (ino, version), or nil when absent; O_CLOEXEC
    /// unless `cloexec` is false (an fd for the program that did not ask for it). `touch`
    /// marks the copy as recently used (one more system call: callers skip it for copies
    /// that are cheap to make again).
    public func openReadCopy(ino: UInt64, version: UInt64, touch: Bool = true, cloexec: Bool = true) -> Int32? {
        let path = readCopyPath(ino: ino, version: version)
        guard let fd = try? Sys.openForProgram(path, cloexec ? O_RDONLY | O_CLOEXEC : O_RDONLY) else { return nil }
        if touch { try? Sys.touchModified(fd) }
        return fd
    }

    /// Mark the copy open on `fd` as used now and to be kept until `until` (seconds since the
    /// epoch): eviction takes copies so marked only after every other one, until then
    /// (`hilbert warmup`, so that what a job's warm-up brought in outlasts what the job reads
    /// besides while it runs). The mark is the copy's atime, set in the future; the kernel does
    /// not move an atime that is ahead of the mtime under relatime (the default), and Hilbert
    /// marks use through the mtime only.
    public func keep(_ fd: Int32, until: Int) {
        try? Sys.futimens(fd, [timespec(tv_sec: until, tv_nsec: 0), timespec(tv_sec: 0, tv_nsec: Sys.utimeNowValue)])
    }

    // MARK: pack copies

    /// The node's copy of pack object `id` (small files' packs, kept whole by `hilbert
    /// warmup`: one file for the ~1,000 files of a pack instead of a read copy each). It lives
    /// among the read copies (`files/packs/`), so it is counted, limited and evicted with them.
    public func packCopyPath(id: UInt64) -> String { filesDirectory + "/packs/\(id)" }

    /// An fd on the copy of pack `id`, or nil; a copy not used for a minute is marked as used.
    public func openPackCopy(id: UInt64) -> Int32? {
        guard let fd = try? Sys.openPrivate(packCopyPath(id: id), O_RDONLY) else { return nil }
        Sys.touchModified(fd, ifOlderThan: 60)
        return fd
    }

    /// Remove the copy of pack `id` (found damaged, or evicted with a tree), counted out.
    public func removePackCopy(id: UInt64) { removeCounted(packCopyPath(id: id)) }

    /// Keep `bytes` as the copy of pack `id` (written aside, renamed into place, counted).
    public func installPackCopy(id: UInt64, _ bytes: [UInt8]) throws(Errno) {
        let fd = try installReadCopy(ino: 0, version: id, size: Int64(bytes.count), final: packCopyPath(id: id)) { (out: Int32) throws(Errno) in
            try Sys.pwriteAll(out, bytes, 0)
        }
        Sys.close(fd)
    }

    /// Make the retired staging file `stagingPath` (no writer left, content committed as
    /// `version`) the read copy of (ino, version), and drop the copy of the version before.
    /// Renaming takes no new space, so no free-space check here; the bytes count toward the
    /// next eviction scan. On failure the staging file is removed.
    public func adoptReadCopy(stagingPath: String, ino: UInt64, version: UInt64, bytes: Int64) {
        // Keeping a copy costs space the file system may not have: look every MiB adopted.
        let look: Bool = lock.withLock {
            adoptedSinceSpaceCheck += bytes
            if bytes < 1 << 20 && adoptedSinceSpaceCheck < 1 << 20 { return false }
            adoptedSinceSpaceCheck = 0
            return true
        }
        if look && freeSpaceLow() {
            try? Sys.unlink(stagingPath)
            return
        }
        let final = readCopyPath(ino: ino, version: version)
        do throws(Errno) { try renameIntoPlace(stagingPath, final) } catch {
            try? Sys.unlink(stagingPath)
            return
        }
        if version > 1 { removeCounted(readCopyPath(ino: ino, version: version - 1)) }
        reserve(bytes)
        if scanDue(after: bytes) { evictIfNeeded() }
    }

    /// Install the read copy of (ino, version): `fill` writes it through the given O_RDWR fd
    /// (a new empty file in tmp/), then it is renamed into place atomically (a concurrent
    /// installer of the same version just replaces an identical copy). Returns an
    /// O_RDONLY|O_CLOEXEC fd on it. If only the final rename fails, the fd is still returned
    /// (the copy is just not cached). May run eviction.
    /// `size` is the copy's length: room for it is made first, by evicting least recently used
    /// read copies, and once more if filling runs out of space anyway (another process took
    /// it). ENOSPC, explained in `DataErrors.last`, when the copy cannot fit even then.
    public func installReadCopy(ino: UInt64, version: UInt64, size: Int64, final finalPath: String? = nil,
                                fill: (Int32) throws(Errno) -> Void) throws(Errno) -> Int32 {
        let tmp = tmpDirectory + "/\(ino).\(version).\(getpid()).\(randomHex())"
        var rfd: Int32 = -1
        reserve(size)
        for attempt in 0..<2 {
            guard makeRoom(for: size) else { reserve(-size); throw tooLarge(size) }
            let wfd: Int32
            do throws(Errno) { wfd = try Sys.openPrivate(tmp, O_RDWR | O_CREAT | O_EXCL, 0o400) } catch {
                reserve(-size)
                throw error
            }
            do throws(Errno) {
                try fill(wfd)
                rfd = try Sys.open(tmp, O_RDONLY)
                Sys.closePrivate(wfd)
                break
            } catch {
                Sys.closePrivate(wfd)
                try? Sys.unlink(tmp)
                if (error == .noSpace || error == .quota) && attempt == 0 { continue }
                reserve(-size)
                if error == .noSpace || error == .quota { throw tooLarge(size) }
                throw error
            }
        }
        let final = finalPath ?? readCopyPath(ino: ino, version: version)
        let bytes = (try? Sys.fstat(rfd)).map { Int64($0.st_blocks) * 512 } ?? 0
        do throws(Errno) { try renameIntoPlace(tmp, final) } catch {
            Log.debug("cache: cannot install \(final): \(error)")
            try? Sys.unlink(tmp)
            reserve(-size)
            noteInstalled(0)
            return rfd
        }
        reserve(bytes - size)
        noteInstalled(bytes)
        return rfd
    }

    /// Evict least recently used read copies until `bytes` are free on the cache's file system.
    /// Returns whether they are free now.
    public func makeRoom(for bytes: Int64) -> Bool {
        guard let free = freeBytes() else { return true }
        if free >= bytes { return true }
        evictOldest(bytes - free)
        return (freeBytes() ?? 0) >= bytes
    }

    private func freeBytes() -> Int64? {
        guard let vfs = try? Sys.statvfs(filesDirectory) else { return nil }
        return Int64(vfs.f_bavail) * Int64(vfs.f_frsize)
    }

    private func tooLarge(_ size: Int64) -> Errno {
        let free = freeBytes() ?? 0
        return DataErrors.fail(.noSpace, "a copy of \(size >> 20) MiB does not fit in the cache directory \(root) (\(free >> 20) MiB free with every read copy evicted; reads copy whole files for now): set HILBERT_CACHE to a larger file system")
    }

    /// rename(2) into files/<shard>/, creating the shard directory on first use.
    func renameIntoPlace(_ from: String, _ final: String) throws(Errno) {
        do throws(Errno) { try Sys.rename(from, final) } catch where error == .noEntry {
            do throws(Errno) { try Sys.mkdir(parentDirectory(final), 0o700) } catch where error == .exists {}
            try Sys.rename(from, final)
        }
    }

    private func noteInstalled(_ bytes: Int64) {
        if scanDue(after: bytes) || freeSpaceLow() { evictIfNeeded() }
    }

    /// A partial read copy grew by `bytes` (PartialCopy): counts toward the next eviction scan.
    /// `counted`: the copy is still in the cache (not unlinked by an eviction meanwhile).
    func noteFilled(_ bytes: Int64, counted: Bool = true) {
        if counted { reserve(bytes) }
        if scanDue(after: bytes) { evictIfNeeded() }
    }

    // MARK: the shared count of read copies' bytes

    private func usageCounter() -> UnsafeMutablePointer<UInt64>? {
        if let w = lock.withLock({ usageWord }) { return w }
        guard let w = hl_sys_map_counter(root + "/cache-usage", 0o600) else { return nil }
        let mapped: UnsafeMutablePointer<UInt64> = lock.withLock {
            if let other = usageWord { return other }
            usageWord = w
            return w
        }
        if mapped == w && hl_counter_load(w + 1) == 0 {
            hl_counter_store(w, UInt64(scan().reduce(0) { $0 + $1.bytes } + tmpBytes(removingStale: false)))
            hl_counter_store(w + 1, 1)
        }
        return mapped
    }

    /// Count `bytes` more (fewer, when negative) of read copies; when the count passes the
    /// capacity, evict least recently used copies down to 1/16 of it below.
    func reserve(_ bytes: Int64) {
        guard bytes != 0, let w = usageCounter() else { return }
        let total = hl_counter_add(w, bytes)
        if bytes > 0 && total > capacityBytes {
            evictOldest(total - capacityBytes + capacityBytes / 16)
        }
    }

    /// The shared count now (bytes of read copies of this volume on this node).
    public func countedBytes() -> Int64 {
        guard let w = usageCounter() else { return 0 }
        return Int64(bitPattern: hl_counter_load(w))
    }

    /// Unlink a read copy and count its bytes out.
    private func removeCounted(_ path: String) {
        guard let st = try? Sys.lstat(path) else { return }
        do throws(Errno) {
            try Sys.unlink(path)
            reserve(-Int64(st.st_blocks) * 512)
        } catch {}
    }

    private func scanDue(after bytes: Int64) -> Bool {
        lock.withLock {
            installedSinceScan += bytes
            if installedSinceScan >= evictEveryBytes { installedSinceScan = 0; return true }
            return false
        }
    }

    private func freeSpaceLow() -> Bool {
        guard let vfs = try? Sys.statvfs(filesDirectory), vfs.f_blocks > 0 else { return false }
        return Double(vfs.f_bavail) * Double(vfs.f_frsize) < wantedFreeBytes(vfs)
    }

    /// The free-space floor on the cache's file system, in bytes.
    private func wantedFreeBytes(_ vfs: statvfs) -> Double {
        if let b = minFreeBytes { return Double(b) }
        return minFreeRatio * Double(vfs.f_blocks) * Double(vfs.f_frsize)
    }

    /// The free-space floor in bytes now (0 when the file system cannot be asked).
    public func freeFloorBytes() -> Int64 {
        guard let vfs = try? Sys.statvfs(filesDirectory) else { return 0 }
        return Int64(wantedFreeBytes(vfs))
    }

    /// Remove every cached version of `ino`.
    public func removeReadCopies(ino: UInt64) {
        let dir = filesDirectory + "/" + CacheDirectory.shard(ino)
        let prefix = "\(ino)."
        guard let names = try? Sys.listDirectory(dir) else { return }
        for n in names where n.hasPrefix(prefix) { removeCounted(dir + "/" + n) }
    }

    // MARK: staging

    /// A new, uniquely named staging file for `ino`: `staging/<ino>.<pid>.<random>.<cache id>`,
    /// created O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, mode 0600.
    /// `access`: the new descriptor's access mode and status flags (O_RDWR by default).
    public func newStagingFile(ino: UInt64, access: Int32 = O_RDWR) throws(Errno) -> (path: String, fd: Int32) {
        let id = try cacheID()
        while true {
            let path = stagingDirectory + "/\(ino).\(getpid()).\(randomHex()).\(id)"
            do throws(Errno) {
                return (path, try Sys.open(path, access | O_CREAT | O_EXCL, 0o600))
            } catch where error == .exists {
                continue
            }
        }
    }

    /// The staging file of staging row name `name` (the path below staging/, docs/FORMAT.md
    /// "Staging names"): what every release builds, so it must not change.
    public func stagingPath(_ name: String) -> String { stagingDirectory + "/" + name }

    /// This process staging here: recorded with the staging rows it registers.
    public var stagingOwner: StagingOwner { StagingOwner.current(cacheRoot: root) }

    /// Was staging file `name` made in this cache directory? The metadata's staging rows are
    /// seen by every cache directory of the volume (other nodes, other HILBERT_CACHE
    /// settings); a row whose file lives in another one must be left to that one, never
    /// dropped because the file is missing here (its bytes would be lost). Names without a
    /// cache id (older builds) count as this directory's.
    public func ownsStaging(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return true }
        guard let id = try? cacheID() else { return false }
        return parts[3] == id
    }

    /// This cache directory's random id (`<volume dir>/cache-id`, made on first use).
    func cacheID() throws(Errno) -> String {
        if let id = idLock.withLock({ cachedID }) { return id }
        let path = volumeDirectory + "/cache-id"
        func read() throws(Errno) -> String {
            let fd = try Sys.openPrivate(path, O_RDONLY)
            defer { Sys.closePrivate(fd) }
            let text = String(decoding: try Sys.preadBytes(fd, count: 64, offset: 0), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            guard text.utf8.count == 16, text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
                throw DataErrors.fail(.io, "cache directory: \(path) is damaged (expected 16 hex digits)")
            }
            return text
        }
        var id: String
        do throws(Errno) {
            id = try read()
        } catch where error == .noEntry {
            // Written aside and linked into place: concurrent first users agree on one id.
            let tmp = tmpDirectory + "/cache-id.\(getpid()).\(randomHex())"
            let fd = try Sys.openPrivate(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            defer { try? Sys.unlink(tmp) }
            do throws(Errno) {
                try Sys.pwriteAll(fd, Array((randomHex() + "\n").utf8), 0)
                Sys.closePrivate(fd)
            } catch { Sys.closePrivate(fd); throw error }
            do throws(Errno) { try Sys.link(tmp, path) } catch where error == .exists {}
            id = try read()
        }
        idLock.withLock { cachedID = id }
        return id
    }

    // MARK: eviction

    /// `kept`: marked to be kept until a time still ahead (`keep`).
    private struct Entry { var path: String; var mtime: (Int, Int); var bytes: Int64; var kept: Bool }

    /// The read copies of this volume, or (`allVolumes`) of every volume in the cache
    /// directory: the size limit holds for the directory as a whole.
    private func scan(allVolumes: Bool = true) -> [Entry] {
        var out: [Entry] = []
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var volumes = [filesDirectory]
        if allVolumes, let names = try? Sys.listDirectory(root) {
            volumes = names.map { root + "/" + $0 + "/files" }.filter { ($0 == filesDirectory) || isDirectory($0) }
            if !volumes.contains(filesDirectory) { volumes.append(filesDirectory) }
        }
        for files in volumes { scanFiles(files, now, into: &out) }
        return out
    }

    private func isDirectory(_ path: String) -> Bool {
        guard let st = try? Sys.lstat(path) else { return false }
        return st.st_mode & S_IFMT == S_IFDIR
    }

    private func scanFiles(_ filesDirectory: String, _ now: timespec, into out: inout [Entry]) {
        guard let shards = try? Sys.listDirectory(filesDirectory) else { return }
        for s in shards {
            let dir = filesDirectory + "/" + s
            guard let names = try? Sys.listDirectory(dir) else { continue }
            for n in names {
                let p = dir + "/" + n
                guard let st = try? Sys.lstat(p), (st.st_mode & S_IFMT) == S_IFREG else { continue }
                out.append(Entry(path: p, mtime: (st.st_mtim.tv_sec, st.st_mtim.tv_nsec), bytes: Int64(st.st_blocks) * 512,
                                 kept: st.st_atim.tv_sec > now.tv_sec && st.st_atim.tv_sec > st.st_mtim.tv_sec))
            }
        }
    }

    /// This volume's read copies (all processes): count and allocated bytes.
    public func usage() -> (files: Int, bytes: Int64) {
        let e = scan(allVolumes: false)
        return (e.count, e.reduce(0) { $0 + $1.bytes })
    }

    /// Staging files (data not yet committed, never evicted): count and allocated bytes.
    public func stagingUsage() -> (files: Int, bytes: Int64) {
        guard let names = try? Sys.listDirectory(stagingDirectory) else { return (0, 0) }
        var bytes: Int64 = 0
        var files = 0
        for n in names {
            guard let st = try? Sys.lstat(stagingDirectory + "/" + n), (st.st_mode & S_IFMT) == S_IFREG else { continue }
            files += 1
            bytes += Int64(st.st_blocks) * 512
        }
        return (files, bytes)
    }

    /// Delete every read copy (`hilbert cache clear`); staging files stay. A process reading a
    /// copy keeps reading it (unlinked, it lives until closed); the next open fetches again.
    @discardableResult
    public func clearReadCopies() -> (files: Int, bytes: Int64) {
        let entries = scan(allVolumes: false)
        return evictOldest(entries.reduce(0) { $0 + $1.bytes } + 1, entries)
    }

    /// Delete least recently used read copies until they fit `capacityBytes` and the file
    /// system has `minFreeRatio` free (as far as read copies can provide). Also removes
    /// stale tmp/ leftovers. Never touches staging/. Returns what was removed.
    @discardableResult
    public func evictIfNeeded() -> (files: Int, bytes: Int64) {
        let inTmp = tmpBytes(removingStale: true)
        let entries = scan()
        let total = entries.reduce(0) { $0 + $1.bytes }
        // The count covers what is being fetched too (partial copies and installs in tmp/).
        if let w = usageCounter() { hl_counter_store(w, UInt64(total + inTmp)) }
        var excess = total - capacityBytes
        if let vfs = try? Sys.statvfs(filesDirectory), vfs.f_blocks > 0 {
            let wanted = wantedFreeBytes(vfs)
            let avail = Double(vfs.f_bavail) * Double(vfs.f_frsize)
            if avail < wanted { excess = max(excess, Int64(wanted - avail)) }
        }
        if excess <= 0 { return (0, 0) }
        return evictOldest(excess, entries)
    }

    /// Delete read copies, least recently used first, until `excess` bytes are freed.
    @discardableResult
    private func evictOldest(_ excess: Int64, _ scanned: [Entry]? = nil) -> (files: Int, bytes: Int64) {
        var entries = scanned ?? scan()
        // Least recently used first; copies a warm-up marked to keep only after all others.
        entries.sort { $0.kept != $1.kept ? !$0.kept : $0.mtime < $1.mtime }
        var freed: Int64 = 0
        var files = 0
        for e in entries {
            if freed >= excess { break }
            do throws(Errno) {
                try Sys.unlink(e.path)
                freed += e.bytes
                files += 1
            } catch {}      // ENOENT: another process evicted it first
        }
        if freed > 0, let w = usageCounter() { _ = hl_counter_add(w, -freed) }
        if files > 0 { Log.debug("cache: evicted \(files) read copies, \(freed) bytes") }
        return (files, freed)
    }

    /// The allocated bytes in tmp/ (copies being fetched); `removingStale`: leftovers of crashed
    /// installers are removed first and not counted.
    private func tmpBytes(removingStale: Bool) -> Int64 {
        guard let names = try? Sys.listDirectory(tmpDirectory) else { return 0 }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var kept: Int64 = 0
        for n in names {
            let p = tmpDirectory + "/" + n
            guard let st = try? Sys.lstat(p) else { continue }
            if removingStale && now.tv_sec - st.st_mtim.tv_sec > staleTmpSeconds { try? Sys.unlink(p) } else { kept += Int64(st.st_blocks) * 512 }
        }
        return kept
    }
}

func randomHex() -> String {
    let s = String(UInt64.random(in: 0...UInt64.max), radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}
