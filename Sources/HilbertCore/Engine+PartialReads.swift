import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// What this process keeps per file behind program descriptors (a partial read copy, a sparse
/// staging file's map), by the identity of that file: a descriptor, and every dup of it, is
/// found by fstat.
final class ByFileIdentity<Value: AnyObject>: @unchecked Sendable {
    private struct Key: Hashable { var device: UInt64; var inode: UInt64 }
    private let lock = Lock()
    private var values: [Key: Value] = [:]

    func add(_ v: Value, device: UInt64, inode: UInt64) { lock.withLock { values[Key(device: device, inode: inode)] = v } }
    func find(_ st: stat) -> Value? { lock.withLock { values[Key(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))] } }
    func forget(_ st: stat) { _ = lock.withLock { values.removeValue(forKey: Key(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))) } }

    /// Drop those `doomed` says; they are released after the lock (their deinit closes files).
    func forget(where doomed: (Value) -> Bool) {
        let gone: [Value] = lock.withLock {
            let hit = values.filter { doomed($0.value) }
            for k in hit.keys { values.removeValue(forKey: k) }
            return Array(hit.values)
        }
        _ = gone
    }

    /// After fork, in the child.
    func afterForkInChild(_ each: (Value) -> Void = { _ in }) {
        lock.reinitialize()
        for v in values.values { each(v) }
    }
}

/// The partial read copies (PartialCopy) this process reads through.
enum PartialCopies {
    static let shared = ByFileIdentity<PartialCopy>()
}

extension ByFileIdentity where Value == PartialCopy {
    func add(_ c: PartialCopy) { add(c, device: c.device, inode: c.inode) }
    /// The program closed its last descriptor on copies of `ino` of the cache `cache`.
    func forget(ino: UInt64, cache: CacheDirectory) { forget(where: { $0.ino == ino && $0.cacheDirectory === cache }) }
}

extension Engine {
    /// Reads of files larger than a block fetch only what they read (HILBERT_PARTIAL_READS=0:
    /// the whole file at open, as before).
    static let partialReads: Bool = getEnv("HILBERT_PARTIAL_READS") != "0"

    /// A program descriptor on the node's partial copy of this version.
    func openPartial(_ v: Volume, _ attr: Attr, _ blocks: [BlockRef], flags keep: Int32) throws(Errno) -> Int32 {
        let copy = try PartialCopy.open(cache: v.cache, ino: attr.ino, version: attr.version, size: Int64(attr.size),
                                        blockSize: v.format.blockSize, blocks: blocks, store: v.store)
        let fd = try Sys.open("/proc/self/fd/\(copy.fd)", O_RDONLY)
        PartialCopies.shared.add(copy)
        return handOut(fd, keep)
    }

    /// read/pread/readv/preadv of a partial descriptor: `offset` -1 reads at (and advances) the
    /// descriptor's position. `complete`: the copy now holds the whole file (the shim then
    /// treats the descriptor as an ordinary read copy).
    public func partialRead(fd: Int32, file: OpenFile, iov: UnsafeRawPointer?, iovcnt: Int32, length: Int,
                            offset: Int64) throws(Errno) -> (count: Int, complete: Bool) {
        let copy = try partialCopy(fd, file)
        var at = offset
        if offset < 0 { at = try Sys.lseek(fd, 0, SEEK_CUR) }
        let n: Int
        if let copy {
            do throws(Errno) {
                n = try copy.read(programFD: fd, iov: iov, iovcnt: iovcnt, length: length, offset: at)
            } catch {
                if error != .fault, let v = try? volume(file.mount) {
                    Log.error("cannot read \(v.spec.prefix) inode \(file.ino): \(DataErrors.last?.message ?? "\(error)")")
                }
                throw error
            }
        } else {
            let r = hl_sys_preadv(fd, iov, iovcnt, at)
            if r < 0 { throw Errno(Int32(-r)) }
            n = Int(r)
        }
        if offset < 0 && n > 0 { _ = try Sys.lseek(fd, at + Int64(n), SEEK_SET) }
        let complete = copy?.isComplete ?? true
        if complete, copy != nil { forgetComplete(fd) }
        return (n, complete)
    }

    /// Make the whole file present (mmap, sendfile, copy_file_range, splice, SEEK_DATA, stdio,
    /// exec: calls whose reads the shim does not see).
    public func partialComplete(fd: Int32, file: OpenFile) throws(Errno) {
        guard let copy = try partialCopy(fd, file) else { return }
        defer { if copy.isComplete { forgetComplete(fd) } }
        do throws(Errno) { try copy.fillAll() } catch {
            if let v = try? volume(file.mount) {
                Log.error("cannot read \(v.spec.prefix) inode \(file.ino) whole: \(DataErrors.last?.message ?? "\(error)")")
            }
            throw error
        }
    }

    /// A complete copy is an ordinary read copy (mode 0400): its descriptors read through the
    /// kernel from now on, and this process lets its map and descriptor go.
    private func forgetComplete(_ fd: Int32) {
        if let st = try? Sys.fstat(fd) { PartialCopies.shared.forget(st) }
    }

    /// The program closed its last partial descriptor of `ino`.
    public func partialForget(mount: Int, ino: Ino) {
        guard let v = try? volume(mount) else { return }
        PartialCopies.shared.forget(ino: ino, cache: v.cache)
    }

    /// The copy behind a partial descriptor; nil when its data file is complete (mode 0400:
    /// made whole by this or another process). A descriptor this process did not open (an
    /// exec'd program inherited it) is joined through the copy's name.
    private func partialCopy(_ fd: Int32, _ file: OpenFile) throws(Errno) -> PartialCopy? {
        let st = try Sys.fstat(fd)
        if st.st_mode & 0o200 == 0 { return nil }
        if let c = PartialCopies.shared.find(st) { return c }
        let v = try volume(file.mount)
        var path = (try? Sys.readlink("/proc/self/fd/\(fd)")) ?? ""
        if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        let parts = name.split(separator: ".")
        guard parts.count == 3, parts[2] == "part", let ino = UInt64(parts[0]), ino == file.ino, let version = UInt64(parts[1]) else {
            throw DataErrors.fail(.io, "descriptor \(fd) is not a partial read copy of inode \(file.ino)")
        }
        let (attr, _, blocks) = try v.meta.dataLayout(ino)
        let copy: PartialCopy? = attr.version == version
            ? try PartialCopy.open(cache: v.cache, ino: ino, version: version, size: Int64(attr.size),
                                   blockSize: v.format.blockSize, blocks: blocks, store: v.store)
            : nil
        guard let copy, copy.device == UInt64(st.st_dev), copy.inode == UInt64(st.st_ino) else {
            Log.error("cannot read \(v.spec.prefix) inode \(ino): this process inherited a partial copy of version \(version) whose block map is gone; open the file again")
            throw Errno.io
        }
        PartialCopies.shared.add(copy)
        return copy
    }
}
