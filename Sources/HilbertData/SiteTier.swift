import Glibc
import HilbertSupport

/// A cache directory shared by the nodes of a site (on the site's parallel file system, or a
/// cache cluster mounted on every node), between the node caches and the object store
/// (SiteTierStore reads through it). No daemon: coordination is by O_EXCL names and renames.
///
///     <root>/<volumeUUID>/
///         objects/chunks/…   copies of the store's objects, under the store's keys, 0600
///         tmp/<id>.fill      an object being filled (its O_EXCL creation is the fill's claim)
///
/// - Objects are immutable (a key is never written twice), so a copy is never stale; it is
///   written whole into its claim file and renamed into place, so readers see a whole copy
///   or none. A copy torn anyway (the site file system lost a write) fails the block
///   checksum of its reader, who drops it and reads the store (`fetchBlockView`).
/// - Fillers of the same object on any node of the site fetch it once: a filler that finds
///   the claim taken waits for the copy to appear. A claim whose filler died (its mtime
///   older than `staleClaimSeconds`) is taken over.
/// - The root is the user's alone, checked like the node cache (PrivateDirectory): one
///   user's site tier is not another's, so a site gives each user a directory
///   (`/lustre/scratch/$USER/hilbert-site`).
/// - Limit: `capacityBytes` of copies, all volumes' together (default min(100 GiB, 10% of its
///   file system)). Nodes
///   share no memory, so there is no shared count as in the node cache: each fill of n bytes
///   scans the tier with probability n / (capacity/16), and a scan evicts the least recently
///   used copies down to 15/16 of the capacity. So on average the tier is scanned once per
///   1/16 of its capacity filled site-wide, by whichever filler draws it, and exceeds the limit
///   by about that much. A copy read is marked as used (its mtime) at most once a minute.
/// - No fsync: a copy lost or torn by a crash of the file server is fetched again.
public final class SiteTier: @unchecked Sendable {
    public let root: String
    public let volumeDirectory: String
    public let objectsDirectory: String
    public let tmpDirectory: String
    public var capacityBytes: Int64
    public var staleClaimSeconds = 30
    /// Longest a reader waits for another node's fill before fetching the object itself.
    public var waitForFillSeconds = 120.0

    public static let defaultCapacityLimit: Int64 = 100 << 30
    public static let defaultSizeText = "min(100 GiB, 10% of its file system)"

    private init(root: String, volume: String, capacity: Int64) {
        self.root = root
        volumeDirectory = volume
        objectsDirectory = volume + "/objects"
        tmpDirectory = volume + "/tmp"
        capacityBytes = capacity
    }

    /// The site tier of volume `volumeUUID` under `root`, made when missing; `capacity` nil: the
    /// default.
    public static func open(root rootIn: String, volumeUUID: String, capacity: Int64?) throws(HilbertError) -> SiteTier {
        var root = rootIn
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        guard root.hasPrefix("/") else { throw HilbertError(.invalid, "site cache '\(rootIn)' must be an absolute path") }
        guard !volumeUUID.isEmpty, !volumeUUID.contains("/"), volumeUUID != ".", volumeUUID != ".." else {
            throw HilbertError(.invalid, "site cache: invalid volume id '\(volumeUUID)'")
        }
        func fail(_ what: String, _ path: String, _ e: Errno) -> HilbertError {
            HilbertError(e, "site cache \(path): cannot \(what): \(e) (HILBERT_SITE_CACHE, --site-cache)")
        }
        do throws(Errno) { try Sys.mkdirs(root, 0o700) } catch { throw fail("create", root, error) }
        do throws(HilbertError) { try PrivateDirectory.verify(root) } catch {
            throw HilbertError(error.errno, "site cache " + error.message + " (HILBERT_SITE_CACHE, --site-cache)")
        }
        let volume = root + "/" + volumeUUID
        for dir in [volume, volume + "/objects", volume + "/tmp"] {
            do throws(Errno) {
                do throws(Errno) { try Sys.mkdir(dir, 0o700) } catch where error == .exists {}
            } catch { throw fail("create", dir, error) }
            do throws(HilbertError) { try PrivateDirectory.verify(dir, parents: false) } catch {
                throw HilbertError(error.errno, "site cache " + error.message)
            }
        }
        var fsBytes: Int64 = 0
        if capacity == nil, let vfs = try? Sys.statvfs(volume) { fsBytes = Int64(vfs.f_blocks) * Int64(vfs.f_frsize) }
        return SiteTier(root: root, volume: volume, capacity: capacity ?? defaultCapacity(fileSystemBytes: fsBytes))
    }

    /// The limit when none is set, on a file system of `fileSystemBytes` (0: unknown).
    public static func defaultCapacity(fileSystemBytes fs: Int64) -> Int64 {
        fs > 0 ? min(defaultCapacityLimit, fs / 10) : defaultCapacityLimit
    }

    /// Only the store's data objects are kept here (never its probes or other keys).
    public static func holds(_ key: String) -> Bool { parseObjectKey(key) != nil }

    public func path(_ key: String) -> String { objectsDirectory + "/" + key }

    /// An fd on the copy of `key`, or nil; a copy not used for a minute is marked as used.
    public func openCopy(_ key: String) -> Int32? {
        guard let fd = try? Sys.openPrivate(path(key), O_RDONLY) else { return nil }
        Sys.touchModified(fd, ifOlderThan: 60)
        return fd
    }

    public func contains(_ key: String) -> Bool { (try? Sys.lstat(path(key))) != nil }

    /// The whole copy of `key`, or nil.
    public func read(_ key: String) -> [UInt8]? {
        guard let fd = openCopy(key) else { return nil }
        defer { Sys.closePrivate(fd) }
        guard let st = try? Sys.fstat(fd), let bytes = try? Sys.preadBytes(fd, count: Int(st.st_size), offset: 0),
              bytes.count == Int(st.st_size) else { return nil }
        return bytes
    }

    /// The object `key`: the site's copy, or `fetch`ed from the store and kept here (one fetch
    /// for all fillers of the site). `fetched` is false when the copy was there or another
    /// filler made it meanwhile. A copy that cannot be kept (a full or read-only site file
    /// system) is still returned.
    public func fill(_ key: String, fetch: () throws(Errno) -> [UInt8]) throws(Errno) -> (bytes: [UInt8], fetched: Bool) {
        if let bytes = read(key) { return (bytes, false) }
        guard let id = parseObjectKey(key) else { return (try fetch(), true) }
        let claim = tmpDirectory + "/\(id).fill"
        var waited = 0.0
        var pause = 0.001
        while true {
            let fd: Int32
            do throws(Errno) {
                fd = try Sys.openPrivate(claim, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            } catch where error == .exists {
                // Another filler has it: wait for the copy, or take over a dead filler's claim.
                if let bytes = read(key) { return (bytes, false) }
                if let st = try? Sys.lstat(claim), ageSeconds(st) > staleClaimSeconds { try? Sys.unlink(claim) }
                if waited >= waitForFillSeconds { return (try fetch(), true) }
                usleep(UInt32(pause * 1e6))
                waited += pause
                pause = min(pause * 2, 0.05)
                continue
            } catch {
                Log.debug("site cache: cannot claim \(claim): \(error)")   // read-only, full: serve uncached
                return (try fetch(), true)
            }
            // The filler before may have finished between the look above and the claim.
            if let bytes = read(key) {
                Sys.closePrivate(fd)
                try? Sys.unlink(claim)
                return (bytes, false)
            }
            let bytes: [UInt8]
            do throws(Errno) { bytes = try fetch() } catch {
                Sys.closePrivate(fd)
                try? Sys.unlink(claim)
                throw error
            }
            Log.debug("site cache: fetched \(key) from the store")
            keep(bytes, fd: fd, claim: claim, key: key)
            return (bytes, true)
        }
    }

    private func keep(_ bytes: [UInt8], fd: Int32, claim: String, key: String) {
        do throws(Errno) {
            try Sys.pwriteAll(fd, bytes, 0)
            Sys.closePrivate(fd)
        } catch {
            Sys.closePrivate(fd)
            try? Sys.unlink(claim)
            Log.debug("site cache: cannot keep \(key): \(error)")
            return
        }
        let final = path(key)
        do throws(Errno) {
            do throws(Errno) { try Sys.rename(claim, final) } catch where error == .noEntry {
                // The key's directories are made on first use; a claim taken over as stale is gone.
                guard (try? Sys.lstat(claim)) != nil else { return }
                try Sys.mkdirs(parentDirectory(final), 0o700)
                try Sys.rename(claim, final)
            }
        } catch {
            try? Sys.unlink(claim)
            Log.debug("site cache: cannot install \(final): \(error)")
            return
        }
        if Double.random(in: 0..<1) < Double(bytes.count) / Double(max(1, capacityBytes / 16)) { evictIfNeeded() }
    }

    /// Remove the copy of `key` (a reader found it damaged, or its object was deleted).
    /// Returns whether there was one.
    @discardableResult
    public func drop(_ key: String) -> Bool {
        do throws(Errno) { try Sys.unlink(path(key)); return true } catch { return false }
    }

    private struct Entry { var path: String; var mtime: Int; var bytes: Int64 }

    /// The copies of this volume, or (`allVolumes`) of every volume in the site directory:
    /// the limit holds for the directory as a whole.
    private func scan(allVolumes: Bool = false) -> [Entry] {
        var out: [Entry] = []
        func walk(_ dir: String) {
            guard let names = try? Sys.listDirectoryTyped(dir) else { return }
            for n in names {
                let p = dir + "/" + n.name
                if n.type == 4 { walk(p); continue }   // DT_DIR
                guard let st = try? Sys.lstat(p) else { continue }
                if st.st_mode & S_IFMT == S_IFDIR { walk(p); continue }
                if st.st_mode & S_IFMT == S_IFREG { out.append(Entry(path: p, mtime: st.st_mtim.tv_sec, bytes: Int64(st.st_blocks) * 512)) }
            }
        }
        if allVolumes, let names = try? Sys.listDirectory(root) {
            for n in names { walk(root + "/" + n + "/objects") }
        } else {
            walk(objectsDirectory)
        }
        return out
    }

    /// Copies in the tier (every node's): count and allocated bytes.
    public func usage() -> (files: Int, bytes: Int64) {
        let e = scan()
        return (e.count, e.reduce(0) { $0 + $1.bytes })
    }

    /// Evict least recently used copies down to 15/16 of the capacity when over it; claims
    /// left by dead fillers an hour ago go too. Returns what was removed.
    @discardableResult
    public func evictIfNeeded() -> (files: Int, bytes: Int64) {
        if let names = try? Sys.listDirectory(tmpDirectory) {
            for n in names {
                let p = tmpDirectory + "/" + n
                if let st = try? Sys.lstat(p), ageSeconds(st) > 3600 { try? Sys.unlink(p) }
            }
        }
        let entries = scan(allVolumes: true)
        let total = entries.reduce(0) { $0 + $1.bytes }
        guard total > capacityBytes else { return (0, 0) }
        return evict(total - capacityBytes + capacityBytes / 16, entries)
    }

    /// Delete every copy (`hilbert cache clear --site`).
    @discardableResult
    public func clear() -> (files: Int, bytes: Int64) {
        let entries = scan()
        return evict(Int64.max, entries)
    }

    private func evict(_ excess: Int64, _ scanned: [Entry]) -> (files: Int, bytes: Int64) {
        var freed: Int64 = 0
        var files = 0
        for e in scanned.sorted(by: { $0.mtime < $1.mtime }) {
            if freed >= excess { break }
            do throws(Errno) {
                try Sys.unlink(e.path)
                freed += e.bytes
                files += 1
            } catch {}
        }
        if files > 0 { Log.debug("site cache: evicted \(files) copies, \(freed) bytes") }
        return (files, freed)
    }

    private func ageSeconds(_ st: stat) -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec - st.st_mtim.tv_sec
    }
}
