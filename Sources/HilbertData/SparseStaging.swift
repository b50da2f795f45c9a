import Glibc
import CHilbertSys
import HilbertSupport

/// The block map of a sparse staging file (docs/FORMAT.md, "Sparse staging files"): a writer
/// that opens a committed file of several blocks does not copy it into its staging file. The
/// staging file starts as a hole of the file's size, and a block of the version it starts from
/// (the base) is brought in — fetched and written into the staging file — only when a program
/// is about to read or write it (the shim asks first: `prepare`). At commit, the blocks never
/// brought in are the base's, unchanged: they are neither read nor uploaded.
///
///     staging/<name>.map   magic "HLWMAP01", base version, base size, base blocks, block size;
///                          then one UInt32 per base block: 0 = the base's, 2 = in the staging file
///
/// Shared by every writer of the node (mmap). A block goes from 0 to 2 once, under an
/// open-file-description lock on its byte of the map (a process that dies holding it holds
/// nothing), and nothing writes into a block before it is 2, so bringing it in never
/// overwrites a program's bytes. A truncate that cuts the file inside the base brings in the
/// block it cuts and marks every block after it as the staging file's (zeros from then on).
public final class SparseStaging: @unchecked Sendable {
    public let device: UInt64
    public let inode: UInt64
    public let baseVersion: UInt64
    public let baseSize: Int64
    public let blockSize: Int
    public let path: String
    /// The committed blocks of the base (or of this writer's own later commits, which keep the
    /// base's objects for every block still 0), by index.
    private var blocks: [BlockRef?]
    private let store: ObjectStore
    private let mapFD: Int32
    /// Engine-private O_RDWR descriptor on the staging file: blocks are written through it, never
    /// through a program's descriptor (O_APPEND would put them at the end).
    private let dataFD: Int32
    private let map: UnsafeMutablePointer<UInt32>
    private let mapBytes: Int
    private let lock = Lock()

    static let magic: UInt64 = 0x3130_5041_4d57_4c48   // "HLWMAP01"
    static let headerWords = 16
    struct Header { var magic: UInt64; var baseVersion: UInt64; var baseSize: UInt64; var blocks: UInt64; var blockSize: UInt64 }

    public var baseBlocks: Int { blocks.count }

    private init(st: stat, path: String, header: Header, blocks: [BlockRef?], store: ObjectStore, mapFD: Int32, dataFD: Int32,
                 map: UnsafeMutablePointer<UInt32>, mapBytes: Int) {
        self.dataFD = dataFD
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino)
        baseVersion = header.baseVersion; baseSize = Int64(header.baseSize); blockSize = Int(header.blockSize)
        self.path = path; self.blocks = blocks; self.store = store
        self.mapFD = mapFD; self.map = map; self.mapBytes = mapBytes
    }

    deinit {
        hl_sys_unmap(map, mapBytes)
        Sys.closePrivate(mapFD)
        Sys.closePrivate(dataFD)
    }

    public static func mapPath(_ stagingPath: String) -> String { stagingPath + ".map" }

    static func byIndex(_ list: [BlockRef], count: Int) -> [BlockRef?] {
        var out = [BlockRef?](repeating: nil, count: count)
        for b in list where Int(b.index) < count { out[Int(b.index)] = b }
        return out
    }

    /// Make the map of a new staging file (`fd`, at `path`) starting from a committed version
    /// of `size` bytes whose blocks are `list`; the staging file becomes a hole of that size.
    /// Call before the staging file is registered (so that no committer ever sees it without).
    public static func create(stagingPath path: String, fd: Int32, baseVersion: UInt64, size: Int64, blockSize: Int,
                              blocks list: [BlockRef], store: ObjectStore) throws(Errno) -> SparseStaging {
        let count = Int((size + Int64(blockSize) - 1) / Int64(blockSize))
        try Sys.ftruncate(fd, size)
        let st = try Sys.fstat(fd)
        let mapBytes = (headerWords + count) * 4
        let dfd = try Sys.openPrivate("/proc/self/fd/\(fd)", O_RDWR)
        let mfd: Int32
        do throws(Errno) { mfd = try Sys.openPrivate(mapPath(path), O_RDWR | O_CREAT | O_EXCL, 0o600) } catch {
            Sys.closePrivate(dfd)
            throw error
        }
        var ok = false
        defer { if !ok { Sys.closePrivate(mfd); Sys.closePrivate(dfd); try? Sys.unlink(mapPath(path)) } }
        try Sys.ftruncate(mfd, Int64(mapBytes))
        guard let raw = hl_sys_map_shared(mfd, mapBytes) else { throw DataErrors.fail(.noMemory, "sparse staging: cannot map \(mapPath(path))") }
        let header = Header(magic: magic, baseVersion: baseVersion, baseSize: UInt64(size), blocks: UInt64(count), blockSize: UInt64(blockSize))
        raw.storeBytes(of: header, as: Header.self)
        ok = true
        return SparseStaging(st: st, path: path, header: header, blocks: byIndex(list, count: count), store: store,
                             mapFD: mfd, dataFD: dfd, map: raw.assumingMemoryBound(to: UInt32.self), mapBytes: mapBytes)
    }

    /// The map of the staging file at `path` (open as `fd`), when it is a sparse one: nil when
    /// it has no map (a staging file written whole). `blocks`: the file's committed blocks now.
    public static func open(stagingPath path: String, fd: Int32, blocks list: [BlockRef], store: ObjectStore) throws(Errno) -> SparseStaging? {
        let mfd: Int32
        do throws(Errno) { mfd = try Sys.openPrivate(mapPath(path), O_RDWR) } catch where error == .noEntry { return nil }
        var ok = false
        var dfd: Int32 = -1
        defer { if !ok { Sys.closePrivate(mfd); if dfd >= 0 { Sys.closePrivate(dfd) } } }
        dfd = try Sys.openPrivate("/proc/self/fd/\(fd)", O_RDWR)
        let st = try Sys.fstat(fd)
        let mst = try Sys.fstat(mfd)
        guard Int(mst.st_size) >= headerWords * 4, let raw = hl_sys_map_shared(mfd, Int(mst.st_size)) else {
            throw DataErrors.fail(.io, "sparse staging map \(mapPath(path)) is damaged (\(mst.st_size) bytes)")
        }
        let h = UnsafeRawPointer(raw).load(as: Header.self)
        let mapBytes = Int(mst.st_size)
        guard h.magic == magic, h.blockSize > 0, (headerWords + Int(h.blocks)) * 4 == mapBytes else {
            hl_sys_unmap(raw, mapBytes)
            throw DataErrors.fail(.io, "sparse staging map \(mapPath(path)) is damaged")
        }
        ok = true
        return SparseStaging(st: st, path: path, header: h, blocks: byIndex(list, count: Int(h.blocks)), store: store,
                             mapFD: mfd, dataFD: dfd, map: raw.assumingMemoryBound(to: UInt32.self), mapBytes: mapBytes)
    }

    private func state(_ i: Int) -> UnsafeMutablePointer<UInt32> { map + SparseStaging.headerWords + i }
    private func inStaging(_ i: Int) -> Bool { blocks[i] == nil || hl_u32_load(state(i)) == 2 }

    /// Base blocks still the base's: a commit takes them as they are, without reading them.
    public var untouched: Set<Int> {
        var out = Set<Int>()
        for i in 0..<blocks.count where !inStaging(i) { out.insert(i) }
        return out
    }

    /// Every block is in the staging file (it can be read and committed as any staging file).
    public var isWhole: Bool { (0..<blocks.count).allSatisfy { inStaging($0) } }

    /// Bring in the base blocks that bytes [offset, offset+length) of the file touch: by block,
    /// not by byte, since bytes past the base's end in its last block are that block's too.
    public func prepare(fd: Int32, offset: Int64, length: Int64) throws(Errno) {
        guard length > 0, offset >= 0 else { return }
        let first = Int(offset / Int64(blockSize))
        let last = min(blocks.count - 1, Int((offset + length - 1) / Int64(blockSize)))
        guard first <= last else { return }
        for i in first...last where !inStaging(i) { try bringIn(i, fd: fd) }
    }

    /// For a descriptor opened with O_APPEND: the base's last block, where the first append
    /// lands when the base does not end on a block boundary. Appends then never touch a block
    /// of the base, so a program that inherits the descriptor without the shim (it can only
    /// append through it) loses nothing.
    public func prepareAppend() throws(Errno) {
        if baseSize > 0 { try prepare(fd: dataFD, offset: baseSize - 1, length: 1) }
    }

    /// Every base block (mmap, exec, a reader of the node: the staging file must be whole).
    public func prepareWhole(fd: Int32) throws(Errno) {
        for i in 0..<blocks.count where !inStaging(i) { try bringIn(i, fd: fd) }
    }

    /// Before ftruncate(fd, size): the block the new end cuts keeps its head; every base
    /// block from the new end on is the staging file's (zeros beyond the end).
    public func prepareTruncate(fd: Int32, size: Int64) throws(Errno) {
        guard size < baseSize else { return }
        let cut = Int(size / Int64(blockSize))
        if size % Int64(blockSize) != 0 { try prepare(fd: fd, offset: size - 1, length: 1) }
        let from = size % Int64(blockSize) == 0 ? cut : cut + 1
        guard from < blocks.count else { return }
        try lock.withLock { () throws(Errno) in
            let rc = hl_sys_ofd_lock(mapFD, Int64(SparseStaging.headerWords * 4 + from * 4), Int64((blocks.count - from) * 4), Int32(F_WRLCK))
            if rc < 0 { throw DataErrors.fail(Errno(-rc), "sparse staging: cannot lock \(SparseStaging.mapPath(path)): \(Errno(-rc))") }
            for i in from..<blocks.count { hl_u32_store(state(i), 2) }
            _ = hl_sys_ofd_lock(mapFD, Int64(SparseStaging.headerWords * 4 + from * 4), Int64((blocks.count - from) * 4), Int32(F_UNLCK))
        }
    }

    private func bringIn(_ i: Int, fd: Int32) throws(Errno) {
        try lock.withLock { () throws(Errno) in
            let at = Int64(SparseStaging.headerWords * 4 + i * 4)
            let rc = hl_sys_ofd_lock(mapFD, at, 4, Int32(F_WRLCK))
            if rc < 0 { throw DataErrors.fail(Errno(-rc), "sparse staging: cannot lock \(SparseStaging.mapPath(path)): \(Errno(-rc))") }
            defer { _ = hl_sys_ofd_lock(mapFD, at, 4, Int32(F_UNLCK)) }
            if inStaging(i) { return }
            guard let b = blocks[i] else { return }
            let raw = ByteBuffer(capacity: blockSize)
            let scratch = ByteBuffer(capacity: BlockCodec.maxEncodedSize(rawLength: blockSize))
            let bytes = try fetchBlockView(b, store: store, into: raw.whole, scratch: scratch.whole, copyStored: false)
            // Pages of zeros stay holes (the staging file is one there already): the file keeps
            // the holes SEEK_DATA/SEEK_HOLE report, as the copy it replaces did.
            let page = 4096
            var done = 0
            while done < bytes.count {
                let n = min(page, bytes.count - done)
                let piece = UnsafeRawBufferPointer(rebasing: bytes[done..<(done + n)])
                if !isAllZero(piece.baseAddress!, n) { try Sys.pwriteAll(dataFD, piece, Int64(i) * Int64(blockSize) + Int64(done)) }
                done += n
            }
            hl_u32_store(state(i), 2)
        }
    }

    /// The staging file is gone (committed and retired): so is its map.
    public func removeMap() { try? Sys.unlink(SparseStaging.mapPath(path)) }
}
