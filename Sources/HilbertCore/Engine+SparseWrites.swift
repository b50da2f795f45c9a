import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// The sparse staging files (SparseStaging) this process writes through.
enum SparseStagings {
    static let shared = ByFileIdentity<SparseStaging>()
}

extension ByFileIdentity where Value == SparseStaging {
    func add(_ s: SparseStaging) { add(s, device: s.device, inode: s.inode) }
}

/// What a program is about to do with a write descriptor (hl_engine_api.prepare_write).
public enum WritePreparation {
    case read(offset: Int64, length: Int64)     // offset -1: at the descriptor's position
    case write(offset: Int64, length: Int64)    // offset -1: at the position, or the end with O_APPEND
    case truncate(size: Int64)
    case whole
}

extension Engine {
    /// Writers of a file of several blocks start from a sparse staging file instead of a copy
    /// (HILBERT_SPARSE_WRITES=0: a whole copy, as before).
    static let sparseWrites: Bool = getEnv("HILBERT_SPARSE_WRITES") != "0"

    /// For a new staging file `path` (open as `fd`) of `attr`: make it sparse when the committed
    /// content is several blocks; returns the committed attributes it starts from, or nil (seed it).
    func startSparse(_ v: Volume, _ attr: Attr, path: String, fd: Int32) throws(Errno) -> (Attr, SparseStaging)? {
        guard Engine.sparseWrites, attr.size > UInt64(v.format.blockSize) else { return nil }
        let (current, inline, blocks) = try v.meta.dataLayout(attr.ino)
        guard inline == nil, current.size > UInt64(v.format.blockSize) else { return nil }
        let s = try SparseStaging.create(stagingPath: path, fd: fd, baseVersion: current.version, size: Int64(current.size),
                                         blockSize: v.format.blockSize, blocks: blocks, store: v.store)
        SparseStagings.shared.add(s)
        return (current, s)
    }

    /// The map of the staging file `name` of `ino` (open as `fd`), nil when it is not sparse.
    func sparseStaging(_ v: Volume, ino: Ino, name: String, fd: Int32) throws(Errno) -> SparseStaging? {
        let st = try Sys.fstat(fd)
        if let s = SparseStagings.shared.find(st) { return s }
        let path = v.cache.stagingPath(name)
        guard Sys.exists(SparseStaging.mapPath(path)) else { return nil }
        let blocks = try v.meta.dataLayout(ino).blocks
        guard let s = try SparseStaging.open(stagingPath: path, fd: fd, blocks: blocks, store: v.store) else { return nil }
        SparseStagings.shared.add(s)
        return s
    }

    /// The sparse map behind a program's write descriptor; nil when its staging file is whole.
    private func sparseStaging(fd: Int32, file: OpenFile) throws(Errno) -> SparseStaging? {
        let st = try Sys.fstat(fd)
        if let s = SparseStagings.shared.find(st) { return s }
        let v = try volume(file.mount)
        guard let name = try v.meta.staging(file.ino) else { return nil }
        guard let s = try sparseStaging(v, ino: file.ino, name: name, fd: fd), s.inode == UInt64(st.st_ino) else { return nil }
        return s
    }

    /// Bring in what a call on a sparse write descriptor needs. Returns whether the staging file
    /// is whole now (the shim then treats the descriptor as any write descriptor).
    public func prepareWrite(fd: Int32, file: OpenFile, _ what: WritePreparation) throws(Errno) -> Bool {
        guard let s = try sparseStaging(fd: fd, file: file) else { return true }
        do throws(Errno) {
            switch what {
            case .read(let offset, let length):
                try s.prepare(fd: fd, offset: offset < 0 ? try Sys.lseek(fd, 0, SEEK_CUR) : offset, length: length)
            case .write(let offset, let length):
                var at = offset
                if at < 0 {
                    at = hl_sys_fcntl_int(fd, F_GETFL, 0) & O_APPEND != 0 ? Int64(try Sys.fstat(fd).st_size) : try Sys.lseek(fd, 0, SEEK_CUR)
                }
                try s.prepare(fd: fd, offset: at, length: max(length, 1))
            case .truncate(let size):
                try s.prepareTruncate(fd: fd, size: size)
            case .whole:
                try s.prepareWhole(fd: fd)
            }
        } catch {
            if let v = try? volume(file.mount) {
                Log.error("cannot bring in blocks of \(v.spec.prefix) inode \(file.ino) for writing: \(DataErrors.last?.message ?? "\(error)")")
            }
            throw error
        }
        return s.isWhole
    }

    /// A staging file that goes (committed and retired, or its file removed): its map too.
    func removeStagingFile(_ v: Volume, _ name: String) {
        let path = v.cache.stagingPath(name)
        WriteBehind.shared.retire(path)
        if let st = try? Sys.stat(path) { SparseStagings.shared.forget(st) }
        try? Sys.unlink(path)
        try? Sys.unlink(SparseStaging.mapPath(path))
    }
}
