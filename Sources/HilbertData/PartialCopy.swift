import Glibc
import CHilbertSys
import HilbertSupport

/// A read copy filled as it is read (docs/FORMAT.md, "Partial read copies"):
///
///     files/<shard>/<ino>.<version>.part      the file's bytes, sparse: fetched blocks only (0600)
///     files/<shard>/<ino>.<version>.part.map  which blocks are there, mapped by every process
///
/// The map is a header (`Header`) and two UInt32 per block: a sequence number, odd while the
/// block's bytes are in the data file and even while they are not, and the monotonic
/// millisecond it was last read (for eviction). A fetcher writes the block with pwrite and then
/// makes its sequence odd by compare-and-swap (two fetchers of one block write the same bytes);
/// an evictor makes it even first and punches the hole after. A read takes the sequences of its
/// blocks (all odd), reads, and compares them again: equal means that no eviction overlapped
/// the read (a seqlock across processes), otherwise it reads again. When every block is there
/// the copy is complete: it becomes the ordinary read copy `<ino>.<version>` (a hard link, mode
/// 0400) and its `.part` names go.
///
/// A copy never holds more than `budget` bytes of blocks: past it, the blocks read longest ago
/// are evicted (never those of the read in progress or its read-ahead), so a file larger than
/// the cache can be read from start to end. Such a copy never completes.
public final class PartialCopy: @unchecked Sendable {
    public let ino: UInt64
    public let version: UInt64
    public let size: Int64
    public let blockSize: Int
    /// By block index; nil: a hole (zeros, nothing to fetch).
    let blocks: [BlockRef?]
    let store: ObjectStore
    let cache: CacheDirectory
    public var cacheDirectory: CacheDirectory { cache }
    /// Engine-private O_RDWR descriptor on the data file.
    public let fd: Int32
    public let device: UInt64
    public let inode: UInt64
    let budget: Int64
    private let map: UnsafeMutablePointer<UInt32>
    private let mapBytes: Int
    private let dataPath: String

    // This process's fetches: blocks in flight, read-ahead queue, sequential detection.
    private let monitor = Monitor()
    /// Fills and evictions of this process, one at a time (withBlockLocked).
    private let blockLock = Lock()
    private let completion = Lock()
    private var inflight = Set<Int>()
    private var queue: [Int] = []
    private var workers = 0
    private var lastEnd: Int64 = -1
    private var window = 0
    private var complete = false
    /// The blocks of the latest read and its read-ahead, and of every read in progress in
    /// this process: never evicted (readers of one process never evict each other's blocks).
    private var reading: Range<Int> = 0..<0
    private var activeReads: [UInt64: Range<Int>] = [:]
    private var nextRead: UInt64 = 0

    static let magic: UInt64 = 0x3130_5041_4d50_4c48   // "HLPMAP01"
    static let headerWords = 16
    struct Header { var magic: UInt64; var device: UInt64; var inode: UInt64; var blocks: UInt64; var blockSize: UInt64; var size: UInt64 }

    public var blockCount: Int { blocks.count }
    var maxWindow: Int { max(2, 2 * pipelineWorkers(store)) }

    private init(ino: UInt64, version: UInt64, size: Int64, blockSize: Int, blocks: [BlockRef?], store: ObjectStore,
                 cache: CacheDirectory, fd: Int32, st: stat, map: UnsafeMutablePointer<UInt32>, mapBytes: Int, dataPath: String) {
        self.ino = ino; self.version = version; self.size = size; self.blockSize = blockSize
        self.blocks = blocks; self.store = store; self.cache = cache; self.fd = fd
        self.device = UInt64(st.st_dev); self.inode = UInt64(st.st_ino)
        self.map = map; self.mapBytes = mapBytes; self.dataPath = dataPath
        budget = max(Int64(4 * blockSize), cache.capacityBytes / 2)
    }

    deinit {
        hl_sys_unmap(map, mapBytes)
        Sys.closePrivate(fd)
    }

    /// The node's partial copy of (ino, version), joined when there is one, else made.
    public static func open(cache: CacheDirectory, ino: UInt64, version: UInt64, size: Int64, blockSize: Int,
                            blocks list: [BlockRef], store: ObjectStore) throws(Errno) -> PartialCopy {
        guard blockSize > 0, size > 0 else { throw DataErrors.fail(.invalid, "partial copy: bad size \(size) or block size \(blockSize)") }
        let count = Int((size + Int64(blockSize) - 1) / Int64(blockSize))
        var blocks = [BlockRef?](repeating: nil, count: count)
        for b in list {
            guard Int(b.index) < count, b.rawLength > 0, Int(b.rawLength) <= blockSize,
                  Int64(b.index) * Int64(blockSize) + Int64(b.rawLength) <= size else {
                throw DataErrors.fail(.io, "partial copy: block \(b.index) (raw \(b.rawLength)) does not fit a \(size)-byte file of \(blockSize)-byte blocks")
            }
            blocks[Int(b.index)] = b
        }
        let dataPath = cache.readCopyPath(ino: ino, version: version) + ".part"
        let mapPath = dataPath + ".map"
        let mapBytes = (headerWords + 2 * count) * 4
        let header = Header(magic: magic, device: 0, inode: 0, blocks: UInt64(count), blockSize: UInt64(blockSize), size: UInt64(size))
        func make(_ fd: Int32, _ st: stat, _ map: UnsafeMutablePointer<UInt32>) -> PartialCopy {
            PartialCopy(ino: ino, version: version, size: size, blockSize: blockSize, blocks: blocks, store: store,
                        cache: cache, fd: fd, st: st, map: map, mapBytes: mapBytes, dataPath: dataPath)
        }
        // Join the node's copy when its map describes this very data file.
        if let fd = try? Sys.openPrivate(dataPath, O_RDWR), let st = try? Sys.fstat(fd) {
            if let map = mapFile(mapPath, bytes: mapBytes, create: false) {
                let h = UnsafeRawPointer(map).load(as: Header.self)
                if h.magic == magic, h.device == UInt64(st.st_dev), h.inode == UInt64(st.st_ino), h.blocks == header.blocks,
                   h.blockSize == header.blockSize, h.size == header.size {
                    return make(fd, st, map)
                }
                hl_sys_unmap(map, mapBytes)
            }
            Sys.closePrivate(fd)
        }
        // Make one: both files in tmp/, the map renamed into place first, so that a data file
        // found under its name always has its map (or none yet: then it is made again).
        let tmp = cache.tmpDirectory + "/\(ino).\(version).\(getpid()).\(randomHex())"
        let fd = try Sys.openPrivate(tmp + ".part", O_RDWR | O_CREAT | O_EXCL, 0o600)
        var ok = false
        defer {
            if !ok { Sys.closePrivate(fd); try? Sys.unlink(tmp + ".part"); try? Sys.unlink(tmp + ".map") }
        }
        try Sys.ftruncate(fd, size)
        let st = try Sys.fstat(fd)
        guard let map = mapFile(tmp + ".map", bytes: mapBytes, create: true) else {
            throw DataErrors.fail(.io, "partial copy: cannot make its block map \(tmp).map: \(Errno.current)")
        }
        var h = header
        h.device = UInt64(st.st_dev); h.inode = UInt64(st.st_ino)
        UnsafeMutableRawPointer(map).storeBytes(of: h, as: Header.self)
        do throws(Errno) {
            try cache.renameIntoPlace(tmp + ".map", mapPath)
            try cache.renameIntoPlace(tmp + ".part", dataPath)
        } catch {
            hl_sys_unmap(map, mapBytes)
            throw error
        }
        ok = true
        return make(fd, st, map)
    }

    /// Map `path` (made zeroed at `bytes` when `create`); nil when it cannot be (or has the wrong size).
    private static func mapFile(_ path: String, bytes: Int, create: Bool) -> UnsafeMutablePointer<UInt32>? {
        guard let fd = try? Sys.openPrivate(path, create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0o600) else { return nil }
        defer { Sys.closePrivate(fd) }
        if create {
            guard (try? Sys.ftruncate(fd, Int64(bytes))) != nil else { return nil }
        } else {
            guard let st = try? Sys.fstat(fd), Int(st.st_size) == bytes else { return nil }
        }
        return hl_sys_map_shared(fd, bytes)?.assumingMemoryBound(to: UInt32.self)
    }

    // MARK: block state

    private func sequence(_ i: Int) -> UnsafeMutablePointer<UInt32> { map + PartialCopy.headerWords + 2 * i }
    private func stamp(_ i: Int) -> UnsafeMutablePointer<UInt32> { map + PartialCopy.headerWords + 2 * i + 1 }
    private func present(_ i: Int) -> Bool { blocks[i] == nil || hl_u32_load(sequence(i)) & 1 == 1 }
    private func touch(_ i: Int) { hl_u32_store(stamp(i), UInt32(truncatingIfNeeded: hl_monotonic_ns() / 1_000_000)) }
    private func missing(_ range: Range<Int>) -> [Int] { range.filter { !present($0) } }

    /// Every block is in the data file (the copy may have become the ordinary read copy).
    public var isComplete: Bool {
        monitor.lock(); defer { monitor.unlock() }
        return complete
    }

    // MARK: reads

    /// preadv(2) of the program's descriptor `programFD` (on this copy's data file) at `offset`
    /// into `iov` (`length` bytes in all), after fetching the blocks the range needs, with
    /// read-ahead when reads are sequential. Returns the bytes read.
    public func read(programFD: Int32, iov: UnsafeRawPointer?, iovcnt: Int32, length: Int, offset: Int64) throws(Errno) -> Int {
        if length > 0 && offset < size {
            let end = min(size, offset + Int64(length))
            let first = Int(offset / Int64(blockSize)), last = Int((end - 1) / Int64(blockSize))
            let ahead = readAhead(offset, end)
            monitor.lock()
            nextRead += 1
            let token = nextRead
            activeReads[token] = first..<(last + 1)
            monitor.unlock()
            defer {
                monitor.lock()
                activeReads.removeValue(forKey: token)
                monitor.unlock()
            }
            for _ in 0..<8 {
                try ensure(first..<(last + 1), readAhead: ahead)
                let before = (first...last).map { hl_u32_load(sequence($0)) }
                if before.enumerated().contains(where: { blocks[first + $0.offset] != nil && $0.element & 1 == 0 }) { continue }
                let n = hl_sys_preadv(programFD, iov, iovcnt, offset)
                if n < 0 { throw Errno(Int32(-n)) }
                let after = (first...last).map { hl_u32_load(sequence($0)) }
                if before == after {
                    for i in first...last { touch(i) }
                    return Int(n)
                }
            }
            throw DataErrors.fail(.io, "partial read copy of inode \(ino): blocks \(first)–\(last) were evicted under every read (the cache is too small for the readers of this node)")
        }
        let n = hl_sys_preadv(programFD, iov, iovcnt, offset)
        if n < 0 { throw Errno(Int32(-n)) }
        return Int(n)
    }

    /// Fetch every block (mmap, sendfile, exec, stdio need the whole file) and make the copy the
    /// ordinary read copy. ENOSPC when the file is larger than a copy may hold.
    public func fillAll() throws(Errno) {
        if isComplete { return }
        guard size <= budget else {
            throw DataErrors.fail(.noSpace, "a whole copy of \(size >> 20) MiB does not fit the cache directory \(cache.root) (half of its \(cache.capacityBytes >> 20) MiB limit): read it with read()/pread() instead of mmap, sendfile or stdio, or set HILBERT_CACHE to a larger place")
        }
        try ensure(0..<blocks.count, readAhead: 0)
        _ = markCompleteIfWhole()
    }

    /// The read-ahead window for a read of [offset, end): doubling while reads are sequential.
    private func readAhead(_ offset: Int64, _ end: Int64) -> Int {
        monitor.lock(); defer { monitor.unlock() }
        window = offset == lastEnd || offset == 0 ? min(maxWindow, max(1, window * 2)) : 0
        lastEnd = end
        return window
    }

    /// Make blocks `range` present (fetching those no fetcher of this process is on, in
    /// parallel), and queue `readAhead` blocks after it for background fetching.
    private func ensure(_ range: Range<Int>, readAhead: Int) throws(Errno) {
        var mine: [Int] = []
        var theirs: [Int] = []
        monitor.lock()
        for i in missing(range) {
            if inflight.contains(i) { theirs.append(i) } else { inflight.insert(i); mine.append(i) }
        }
        if readAhead > 0 {
            let upper = min(blocks.count, range.upperBound + readAhead)
            for i in missing(range.upperBound..<upper) where !inflight.contains(i) {
                inflight.insert(i)
                queue.append(i)
            }
            startWorkers()
        }
        reading = range.lowerBound..<min(blocks.count, range.upperBound + readAhead)
        monitor.unlock()
        if mine.isEmpty && theirs.isEmpty {
            // Read-ahead brought in the rest: a read reaching the end may find the copy whole.
            if range.upperBound == blocks.count && size <= budget { _ = markCompleteIfWhole() }
            return
        }
        var failure = fetch(mine)
        monitor.lock()
        while theirs.contains(where: { inflight.contains($0) }) { monitor.wait() }
        monitor.unlock()
        // What a background fetch could not do, this thread tries once more, and reports.
        for i in missing(range) where failure == nil {
            let raw = ByteBuffer(capacity: blockSize)
            let scratch = ByteBuffer(capacity: BlockCodec.maxEncodedSize(rawLength: blockSize))
            do throws(Errno) { try fill(i, raw, scratch) } catch {
                failure = HilbertError(error, DataErrors.last?.message ?? "\(error)")
            }
        }
        if let failure { throw DataErrors.fail(failure.errno, failure.message) }
        if size <= budget { _ = markCompleteIfWhole() } else { evictIfOverBudget() }
    }

    /// Fetch `list` with up to the store's concurrency; the first failure, if any.
    private func fetch(_ list: [Int]) -> HilbertError? {
        if list.isEmpty { return nil }
        final class Shared: @unchecked Sendable { let lock = Lock(); var next = 0; var failure: HilbertError? }
        let shared = Shared()
        let work: (Int) -> Void = { [self] _ in
            let raw = ByteBuffer(capacity: blockSize)
            let scratch = ByteBuffer(capacity: BlockCodec.maxEncodedSize(rawLength: blockSize))
            while true {
                let k: Int? = shared.lock.withLock {
                    if shared.failure != nil || shared.next >= list.count { return nil }
                    shared.next += 1
                    return shared.next - 1
                }
                guard let k else { return }
                do throws(Errno) { try fill(list[k], raw, scratch) } catch {
                    let e = HilbertError(error, DataErrors.last?.message ?? "\(error)")
                    shared.lock.withLock { if shared.failure == nil { shared.failure = e } }
                }
                done(list[k])
            }
        }
        let threads = list.count >= 2 ? WorkerThreads.start(min(pipelineWorkers(store), list.count) - 1, work) : WorkerThreads()
        work(threads.count)
        threads.join()
        // Blocks never reached (after a failure) are no longer in flight either.
        monitor.lock()
        for i in list { inflight.remove(i) }
        monitor.broadcast()
        monitor.unlock()
        return shared.failure
    }

    private func done(_ i: Int) {
        monitor.lock()
        inflight.remove(i)
        monitor.broadcast()
        monitor.unlock()
    }

    /// Fetch block `i` into the data file and mark it present (see the type's comment).
    private func fill(_ i: Int, _ raw: ByteBuffer, _ scratch: ByteBuffer) throws(Errno) {
        guard let b = blocks[i] else { return }
        let seq = sequence(i)
        var s = hl_u32_load(seq)
        if s & 1 == 1 { return }
        let bytes = try fetchBlockView(b, store: store, into: raw.whole, scratch: scratch.whole, copyStored: false)
        let offset = Int64(i) * Int64(blockSize)
        try withBlockLocked(i) { () throws(Errno) in
            s = hl_u32_load(seq)
            if s & 1 == 1 { return }     // present meanwhile (another fetcher)
            do throws(Errno) {
                try Sys.pwriteAll(fd, bytes, offset)
            } catch where error == .noSpace || error == .quota {
                guard cache.makeRoom(for: Int64(bytes.count)) else {
                    throw DataErrors.fail(error, "cache directory \(cache.root) is full: cannot keep block \(i) of inode \(ino) (set HILBERT_CACHE to a larger place)")
                }
                try Sys.pwriteAll(fd, bytes, offset)
            }
            hl_u32_store(seq, s &+ 1)
        }
        touch(i)
        cache.noteFilled(Int64(bytes.count), counted: isInCache())
    }

    // MARK: background read-ahead

    private func startWorkers() {
        while workers < pipelineWorkers(store) && workers < queue.count {
            workers += 1
            if !startDetachedThread({ [self] in drainQueue() }) {
                // No thread: the read-ahead is dropped (readers fetch those blocks themselves).
                workers -= 1
                for i in queue { inflight.remove(i) }
                queue = []
                return
            }
        }
    }

    private func drainQueue() {
        let raw = ByteBuffer(capacity: blockSize)
        let scratch = ByteBuffer(capacity: BlockCodec.maxEncodedSize(rawLength: blockSize))
        while true {
            monitor.lock()
            guard !queue.isEmpty else {
                workers -= 1
                monitor.unlock()
                if size <= budget { _ = markCompleteIfWhole() }   // the read-ahead may have fetched the last ones
                return
            }
            let i = queue.removeFirst()
            monitor.unlock()
            try? fill(i, raw, scratch)   // a failure is the reader's to report (ensure fetches again)
            done(i)
            if size > budget { evictIfOverBudget() }
        }
    }

    /// After fork, in the child: the parent's fetching threads are not here.
    public func afterForkInChild() {
        monitor.reinitialize()
        blockLock.reinitialize()
        completion.reinitialize()
        inflight = []
        queue = []
        workers = 0
    }

    // MARK: completion and eviction

    /// When every block is there: the data file becomes the read copy `<ino>.<version>`.
    private func markCompleteIfWhole() -> Bool {
        // One completer at a time (the reader that reaches the end and a read-ahead worker may
        // both try); `complete` is set last, so whoever sees it finds the read copy in place.
        completion.lock(); defer { completion.unlock() }
        if isComplete { return true }
        if !missing(0..<blocks.count).isEmpty { return false }
        defer {
            monitor.lock()
            complete = true
            monitor.unlock()
        }
        _ = try? Sys.fchmod(fd, 0o400)
        let final = cache.readCopyPath(ino: ino, version: version)
        if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, final, AT_SYMLINK_FOLLOW) != 0 && errno != EEXIST {
            Log.debug("cache: cannot link the completed copy \(final): \(Errno.current)")
        }
        // Its partial names go, when they are still this copy's.
        if let st = try? Sys.stat(dataPath), UInt64(st.st_ino) == inode, UInt64(st.st_dev) == device {
            try? Sys.unlink(dataPath)
            try? Sys.unlink(dataPath + ".map")
        }
        return true
    }

    /// Whether the data file is still in the cache (an eviction of the cache may have unlinked
    /// it while this process fills it: its bytes are no longer the cache's).
    private func isInCache() -> Bool {
        guard let st = try? Sys.fstat(fd) else { return false }
        return st.st_nlink > 0
    }

    /// Past `budget`, evict the blocks read longest ago (not those of the read in progress and
    /// its read-ahead). Runs after each fetch of a copy larger than its budget.
    private func evictIfOverBudget() {
        monitor.lock()
        let keep = [reading] + Array(activeReads.values)
        monitor.unlock()
        var present: [(stamp: UInt32, index: Int)] = []
        for i in 0..<blocks.count where blocks[i] != nil && hl_u32_load(sequence(i)) & 1 == 1 {
            present.append((hl_u32_load(stamp(i)), i))
        }
        var held = Int64(present.count) * Int64(blockSize)
        if held <= budget { return }
        present.sort { $0.stamp < $1.stamp }
        let target = budget - budget / 4
        for (_, i) in present where !keep.contains(where: { $0.contains(i) }) {
            if held <= target { break }
            let seq = sequence(i)
            let evicted = withBlockLocked(i) { () -> Bool in
                let s = hl_u32_load(seq)
                guard s & 1 == 1 else { return false }
                hl_u32_store(seq, s &+ 1)
                _ = hl_sys_punch_hole(fd, Int64(i) * Int64(blockSize), Int64(blockSize))
                return true
            }
            if evicted {
                held -= Int64(blockSize)
                // Its bytes leave the cache's shared count (they were counted as filled), unless
                // the whole copy was evicted already (and counted out then).
                if isInCache() { cache.reserve(-min(Int64(blockSize), size - Int64(i) * Int64(blockSize))) }
            }
        }
    }

    /// Run `body` while no other filler or evictor of block `i` can: this process's through
    /// `blockLock`, other processes' through an open-file-description lock on the block's bytes
    /// of the data file. An eviction (sequence to even, punch) and a fill (write, sequence to
    /// odd) must not interleave: a fill between an evictor's sequence change and its punch
    /// would leave a block marked present whose bytes are a hole, which readers would return.
    private func withBlockLocked<T, E: Error>(_ i: Int, _ body: () throws(E) -> T) throws(E) -> T {
        let offset = Int64(i) * Int64(blockSize)
        blockLock.lock()
        let rc = hl_sys_ofd_lock(fd, offset, Int64(blockSize), Int32(F_WRLCK))   // retries EINTR
        defer {
            if rc == 0 { _ = hl_sys_ofd_lock(fd, offset, Int64(blockSize), Int32(F_UNLCK)) }
            blockLock.unlock()
        }
        return try body()
    }
}
