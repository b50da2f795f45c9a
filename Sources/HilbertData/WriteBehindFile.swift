import Glibc
import CHilbertSys
import HilbertSupport

/// Blocks of a staging file stored while a program is still writing it (write-behind), so that
/// closing a big file waits only for its last blocks instead of uploading all of it then.
///
/// The engine's poller (WriteBehind) hands a block to `store` once the file has grown a whole
/// block past it: sequential writers have moved on by then. What is stored is only a
/// candidate. The commit reads every block anyway and takes a stored one only when the
/// staging file still holds exactly those bytes (`storeFile(early:)`: same index, raw length
/// and CRC-32C, the rule by which unchanged blocks of the previous version are kept). So a
/// write the engine never hears of — another process of the node writing the same staging
/// file, mmap, io_uring, a program without the shim — cannot make a commit take stale bytes;
/// it only makes the commit upload that block again. The commit's cost is one local read of
/// the file instead of encoding and uploading all of it.
///
/// Stored objects are registered as uploading (hl_upload) under keys this file keeps, from
/// before their upload until a commit references them or gives them up, so gc never takes
/// them for leaked; a process killed meanwhile leaves them to gc as an abandoned upload.
public final class WriteBehindFile: @unchecked Sendable {
    public let path: String
    public let device: UInt64
    public let inode: UInt64
    public let blockSize: Int
    private let monitor = Monitor()
    /// Engine-private read-only descriptor, opened when the first block is stored.
    private var fd: Int32 = -1
    /// The committed blocks by index: a block equal to its committed one is not stored again.
    private var committed: [UInt32: StoredBlock]
    private var stored: [UInt32: StoredBlock] = [:]
    private var keys: [UInt64] = []
    private var key: UInt64 = 0
    private var nextID: UInt64 = 0
    private var idsLeft = 0
    /// Blocks stored, found equal to the committed ones, or all zeros: not looked at again.
    private var settled = Set<UInt32>()
    private var lowest: UInt32 = 0        // no unsettled block below this one
    private var inFlight = Set<UInt32>()
    private var sealed = false
    private var pausedUntil: UInt64 = 0   // after a failed put (hl_monotonic_ns)

    /// Blocks a commit may take, and the upload keys that register them.
    public struct Stored {
        public var blocks: [StoredBlock]
        public var keys: [UInt64]
        public var objectIDs: [UInt64] { blocks.map { $0.objectID } }
        public init(blocks: [StoredBlock] = [], keys: [UInt64] = []) { self.blocks = blocks; self.keys = keys }
    }

    public init(path: String, device: UInt64, inode: UInt64, blockSize: Int, committed: [StoredBlock]) {
        self.path = path; self.device = device; self.inode = inode; self.blockSize = blockSize
        self.committed = Dictionary(committed.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
    }

    deinit { if fd >= 0 { Sys.closePrivate(fd) } }

    /// Indices of up to `limit` blocks worth storing now, when the file is `size` bytes: whole
    /// blocks with another whole block after them, not settled, holes skipped. They are
    /// counted in flight until `store` returns.
    public func due(size: Int64, limit: Int) -> [UInt32] {
        let full = size / Int64(blockSize)
        guard full >= 2, limit > 0, let fd = try? descriptor() else { return [] }
        monitor.lock(); defer { monitor.unlock() }
        if sealed || hl_monotonic_ns() < pausedUntil { return [] }
        var out: [UInt32] = []
        var k = Int64(lowest)
        var lowestOpen: Int64? = nil
        while k < full - 1 && out.count < limit {
            let index = UInt32(k)
            if settled.contains(index) {
                k += 1
                continue
            }
            if lowestOpen == nil { lowestOpen = k }
            if !inFlight.contains(index) {
                // A hole (a sparse staging file's block never brought in, or not yet written):
                // jump to the next data.
                let next: Int64
                do throws(Errno) {
                    next = try Sys.lseek(fd, k * Int64(blockSize), Int32(HL_SEEK_DATA))
                } catch where error == Errno(ENXIO) {
                    break   // holes up to the end
                } catch {
                    next = k * Int64(blockSize)
                }
                if next >= (k + 1) * Int64(blockSize) {
                    k = next / Int64(blockSize)
                    continue
                }
                out.append(index)
                inFlight.insert(index)
            }
            k += 1
        }
        lowest = UInt32(lowestOpen ?? k)
        return out
    }

    /// Read block `index`, and store it unless it is zeros or equals the committed block.
    /// `allocate(n, key)` registers n fresh object ids under upload key `key` (0: a new key,
    /// which is then the first id). Failures only pause the file for a few seconds: the
    /// commit stores what is missing and reports its own errors.
    public func store(_ index: UInt32, into store: ObjectStore, codec: BlockCompression, level: Int32,
                      allocate: (Int, UInt64) throws(Errno) -> UInt64) {
        monitor.lock()
        if sealed {   // a commit is waiting for the blocks handed out: this one is not stored
            inFlight.remove(index)
            monitor.broadcast()
            monitor.unlock()
            return
        }
        monitor.unlock()
        var outcome: StoredBlock?
        var settle = false
        let raw = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: 64)
        defer { raw.deallocate() }
        var putKey: String?
        do throws(Errno) {
            let fd = try descriptor()
            let n = try Sys.preadFully(fd, raw, blockSize, Int64(index) * Int64(blockSize))
            if n == blockSize {
                if isAllZero(raw, n) {
                    settle = true
                } else {
                    let crc = hl_crc32c(0, raw, n)
                    if let c = committedBlock(index), c.rawLength == UInt32(n), c.crc == crc {
                        settle = true
                    } else {
                        let id = try objectID(allocate)
                        let out = UnsafeMutableRawPointer.allocate(byteCount: BlockCodec.maxEncodedSize(rawLength: n), alignment: 64)
                        defer { out.deallocate() }
                        let len = BlockCodec.encode(raw: UnsafeRawBufferPointer(start: raw, count: n), codec: codec, level: level,
                                                    into: UnsafeMutableRawBufferPointer(start: out, count: BlockCodec.maxEncodedSize(rawLength: n)),
                                                    rawCRC: crc)
                        putKey = objectKey(id: id)
                        try store.put(putKey!, UnsafeRawBufferPointer(start: out, count: len))
                        outcome = StoredBlock(index: index, objectID: id, rawLength: UInt32(n), storedLength: UInt32(len), crc: crc)
                    }
                }
            }
        } catch {
            if let putKey { try? store.delete(putKey) }
            monitor.lock(); pausedUntil = hl_monotonic_ns() + 5_000_000_000; monitor.unlock()
        }
        monitor.lock()
        if let outcome { stored[index] = outcome }
        if outcome != nil || settle { settled.insert(index) }
        inFlight.remove(index)
        monitor.broadcast()
        monitor.unlock()
    }

    private func committedBlock(_ index: UInt32) -> StoredBlock? {
        monitor.lock(); defer { monitor.unlock() }
        return committed[index]
    }

    private func descriptor() throws(Errno) -> Int32 {
        monitor.lock(); defer { monitor.unlock() }
        if fd >= 0 { return fd }
        let f = try Sys.openPrivate(path, O_RDONLY | O_CLOEXEC)
        guard let st = try? Sys.fstat(f), UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else {
            Sys.closePrivate(f)
            throw Errno.stale   // the staging file was retired and the name reused
        }
        fd = f
        return f
    }

    /// One id under this file's current upload key (ids are taken in batches of 16; the
    /// unused ones of a batch are skipped, as the commit path does).
    private func objectID(_ allocate: (Int, UInt64) throws(Errno) -> UInt64) throws(Errno) -> UInt64 {
        monitor.lock(); defer { monitor.unlock() }
        if idsLeft == 0 {
            nextID = try allocate(16, key)
            if key == 0 {
                key = nextID
                keys.append(key)
            }
            idsLeft = 16
        }
        idsLeft -= 1
        nextID += 1
        return nextID - 1
    }

    /// The upload key to keep alive (gc counts a commit silent for an hour on another node as
    /// abandoned); 0 when none.
    public var currentKey: UInt64 {
        monitor.lock(); defer { monitor.unlock() }
        return key
    }

    /// For a commit: nothing more is stored until `reopen`; waits for the stores in flight and
    /// hands over what is stored (this file forgets it: the commit references or deletes it).
    public func seal() -> Stored {
        monitor.lock(); defer { monitor.unlock() }
        sealed = true
        while !inFlight.isEmpty { monitor.wait() }
        let out = Stored(blocks: stored.values.sorted { $0.index < $1.index }, keys: keys)
        stored = [:]; keys = []; key = 0; idsLeft = 0
        return out
    }

    /// After a commit that leaves the file being written (fsync): go on from `committed`, the
    /// blocks now committed. `unused`: stored blocks the commit gave back (it failed before
    /// its transaction), stored again under their keys.
    public func reopen(committed blocks: [StoredBlock]?, giveBack unused: Stored? = nil) {
        monitor.lock(); defer { monitor.unlock() }
        if let blocks { committed = Dictionary(blocks.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a }) }
        if let unused {
            for b in unused.blocks where stored[b.index] == nil { stored[b.index] = b }
            keys.append(contentsOf: unused.keys)
        }
        sealed = false
    }
}
