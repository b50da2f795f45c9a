import Glibc
import CHilbertSys
import HilbertSupport

/// The data layer's name for a block (the same type the metadata records).
public typealias StoredBlock = BlockRef

extension BlockRef {
    /// The object holding this block: `objectKey(id:)`.
    public var key: String { objectKey(id: objectID) }
}

/// Largest accepted block size (objects must fit the header's u32 fields comfortably).
public let maxBlockSize = 64 << 20

/// Worker threads for encode+put: the store's `concurrency` (2 for a local directory: the
/// target machines have 2 cores; more for remote stores, whose puts wait on the network).
/// Blocks in flight are bounded by workers + 2 raw buffers plus one encode buffer per worker.
func pipelineWorkers(_ store: ObjectStore) -> Int { max(1, min(64, store.concurrency)) }
/// Object ids are requested from `allocateIDs` in batches of at most this many.
let idBatch = 16

/// Commit path: store the first `size` bytes of `fd` as blocks of `blockSize` bytes.
///
/// - Reads with pread (through `Sys`); bytes past the file's end up to `size` read as zeros.
/// - All-zero blocks are holes: no object, no entry in `blocks`. `source` may return an
///   empty buffer for a block it knows to be a hole (storeFile: SEEK_DATA), which is not
///   scanned.
/// - A block whose index, raw length and CRC-32C equal a block of `previous` reuses that
///   object (no upload), so appends and small edits of big files upload only what changed.
/// - Other blocks are encoded (`codec`, zstd `level`) and put under `objectKey`, by
///   `pipelineWorkers(store)` threads while the calling thread reads ahead (at most workers + 2 blocks
///   in flight).
/// - `allocateIDs(n)` returns the first of `n` fresh consecutive object ids; it is only
///   called on the calling thread, in batches of up to 16; ids of a batch that end up
///   unused (blocks that turned out reusable or holes, or after a failure) are simply
///   skipped — ids are never reused, gaps are harmless.
/// - On failure, objects this call uploaded are deleted (best effort) and the errno is
///   thrown; the reason is in `DataErrors.last`.
///
/// Returns the new block list sorted by index and the ids of the objects uploaded.
///
/// `keep`: indices whose block of `previous` is taken as it is, without reading `fd` (a sparse
/// staging file's blocks that were never brought in: SparseStaging).
///
/// `early`: blocks stored while the file was being written (WriteBehindFile), tried before
/// `previous` by the same rule (index, raw length and CRC-32C of what the file holds now).
public func storeFile(fd: Int32, size: Int64, blockSize: Int, codec: BlockCompression = .zstd, level: Int32 = BlockCodec.defaultLevel,
                      previous: [StoredBlock], keep: Set<Int> = [], early: [StoredBlock] = [], store: ObjectStore,
                      allocateIDs: (Int) throws(Errno) -> UInt64) throws(Errno) -> (blocks: [StoredBlock], newObjects: [UInt64]) {
    try storeBlocks(size: size, blockSize: blockSize, codec: codec, level: level, previous: previous, keep: keep, early: early, store: store,
                    allocateIDs: allocateIDs) { (index, buffer, length) throws(Errno) -> UnsafeRawBufferPointer in
        let offset = Int64(index) * Int64(blockSize)
        // A block that lies in a hole of a sparse file is not read (one lseek instead).
        if inHole(fd, offset, length) { return UnsafeRawBufferPointer(start: buffer.base, count: 0) }

        let n = try Sys.preadFully(fd, buffer.base, length, offset)
        if n < length { (buffer.base + n).initializeMemory(as: UInt8.self, repeating: 0, count: length - n) }
        return UnsafeRawBufferPointer(start: buffer.base, count: length)
    }
}

/// `storeFile` for bytes in memory (no copy: blocks are encoded straight from `data`).
public func storeBytes(_ data: UnsafeRawBufferPointer, blockSize: Int, codec: BlockCompression = .zstd, level: Int32 = BlockCodec.defaultLevel,
                       previous: [StoredBlock], store: ObjectStore,
                       allocateIDs: (Int) throws(Errno) -> UInt64) throws(Errno) -> (blocks: [StoredBlock], newObjects: [UInt64]) {
    try storeBlocks(size: Int64(data.count), blockSize: blockSize, codec: codec, level: level, previous: previous, store: store,
                    allocateIDs: allocateIDs) { (index, _, length) throws(Errno) -> UnsafeRawBufferPointer in
        UnsafeRawBufferPointer(start: data.baseAddress! + index * blockSize, count: length)
    }
}

public func storeBytes(_ data: [UInt8], blockSize: Int, codec: BlockCompression = .zstd, level: Int32 = BlockCodec.defaultLevel,
                       previous: [StoredBlock], store: ObjectStore,
                       allocateIDs: (Int) throws(Errno) -> UInt64) throws(Errno) -> (blocks: [StoredBlock], newObjects: [UInt64]) {
    var result: Result<(blocks: [StoredBlock], newObjects: [UInt64]), Errno> = .success(([], []))
    data.withUnsafeBytes { b in
        do throws(Errno) {
            result = .success(try storeBytes(b, blockSize: blockSize, codec: codec, level: level, previous: previous,
                                             store: store, allocateIDs: allocateIDs))
        } catch { result = .failure(error) }
    }
    return try result.get()
}

private struct EncodeJob {
    var index: UInt32
    var id: UInt64
    var buffer: ByteBuffer
    var bytes: UnsafeRawBufferPointer
    var crc: UInt32
}

/// Shared state of one commit pipeline.
private final class CommitState: @unchecked Sendable {
    let monitor = Monitor()
    var free: [ByteBuffer] = []
    var queue: [EncodeJob] = []
    var closed = false
    var failure: HilbertError?
    var stored: [StoredBlock] = []
    var attempted: [String] = []      // keys whose put was started (cleanup on failure)
    var uploaded: [UInt64] = []
    let store: ObjectStore
    let codec: BlockCompression
    let level: Int32
    init(store: ObjectStore, codec: BlockCompression, level: Int32) {
        self.store = store; self.codec = codec; self.level = level
    }

    /// Encode and put one block (any thread). Records the outcome; caller holds no lock.
    func process(_ job: EncodeJob, _ out: ByteBuffer) {
        let key = objectKey(id: job.id)
        monitor.lock(); attempted.append(key); monitor.unlock()
        let n = BlockCodec.encode(raw: job.bytes, codec: codec, level: level, into: out.whole, rawCRC: job.crc)
        DataErrors.last = nil
        do throws(Errno) {
            try store.put(key, UnsafeRawBufferPointer(start: out.base, count: n))
            let b = StoredBlock(index: job.index, objectID: job.id, rawLength: UInt32(job.bytes.count), storedLength: UInt32(n), crc: job.crc)
            monitor.lock(); stored.append(b); uploaded.append(job.id); monitor.unlock()
        } catch {
            fail(HilbertError(error, DataErrors.last?.message ?? "store \(store.description): put \(key): \(error)"))
        }
    }

    func fail(_ e: HilbertError) {
        monitor.lock()
        if failure == nil { failure = e }
        monitor.broadcast()
        monitor.unlock()
    }

    func worker() {
        var buf = ByteBuffer(capacity: 0)   // sized lazily to the largest job
        monitor.lock()
        while true {
            while queue.isEmpty && !closed { monitor.wait() }
            if queue.isEmpty { monitor.unlock(); return }
            let job = queue.removeFirst()
            let skip = failure != nil
            monitor.unlock()
            if !skip {
                let need = BlockCodec.maxEncodedSize(rawLength: job.bytes.count)
                if buf.capacity < need { buf = ByteBuffer(capacity: need) }
                process(job, buf)
            }
            monitor.lock()
            free.append(job.buffer)
            monitor.broadcast()
        }
    }
}

func storeBlocks(size: Int64, blockSize: Int, codec: BlockCompression, level: Int32, previous: [StoredBlock], keep: Set<Int> = [],
                 early: [StoredBlock] = [], store: ObjectStore,
                 allocateIDs: (Int) throws(Errno) -> UInt64,
                 source: (Int, ByteBuffer, Int) throws(Errno) -> UnsafeRawBufferPointer) throws(Errno) -> (blocks: [StoredBlock], newObjects: [UInt64]) {
    guard blockSize > 0, blockSize <= maxBlockSize, size >= 0 else {
        throw DataErrors.fail(.invalid, "storeFile: bad block size \(blockSize) or size \(size)")
    }
    let count64 = (size + Int64(blockSize) - 1) / Int64(blockSize)
    guard count64 <= Int64(UInt32.max) else { throw DataErrors.fail(.fileTooBig, "storeFile: \(size) bytes is too many blocks") }
    let count = Int(count64)
    if count == 0 { return ([], []) }

    var prev: [UInt32: StoredBlock] = [:]
    prev.reserveCapacity(previous.count)
    for b in previous { prev[b.index] = b }
    var stored: [UInt32: StoredBlock] = [:]
    for b in early { stored[b.index] = b }

    let state = CommitState(store: store, codec: codec, level: level)
    let workers = pipelineWorkers(store)
    let depth = min(workers + 2, count)
    for _ in 0..<depth { state.free.append(ByteBuffer(capacity: min(blockSize, Int(size)))) }
    // Few blocks: encode on this thread, no pipeline.
    let threads = count >= 3 ? WorkerThreads.start(workers, { _ in state.worker() }) : WorkerThreads()
    let inlineOut = threads.count == 0 ? ByteBuffer(capacity: BlockCodec.maxEncodedSize(rawLength: min(blockSize, Int(size)))) : nil

    var reused: [StoredBlock] = []
    var nextID: UInt64 = 0
    var idsLeft = 0
    var producerError: HilbertError?
    for index in 0..<count {
        if keep.contains(index), let p = prev[UInt32(index)] {
            reused.append(p)
            continue
        }
        state.monitor.lock()
        while state.free.isEmpty && state.failure == nil { state.monitor.wait() }
        if state.failure != nil { state.monitor.unlock(); break }
        let buffer = state.free.removeLast()
        state.monitor.unlock()

        let length = index == count - 1 ? Int(size - Int64(index) * Int64(blockSize)) : blockSize
        do throws(Errno) {
            let bytes = try source(index, buffer, length)
            var handled = bytes.count == 0 || isAllZero(bytes.baseAddress!, length)
            var crc: UInt32 = 0
            if !handled {
                crc = hl_crc32c(0, bytes.baseAddress, length)
                for candidate in [stored[UInt32(index)], prev[UInt32(index)]] {
                    if let p = candidate, p.rawLength == UInt32(length), p.crc == crc, p.objectID != 0 {
                        reused.append(p)
                        handled = true
                        break
                    }
                }
            }
            if handled {
                state.monitor.lock(); state.free.append(buffer); state.monitor.unlock()
                continue
            }
            if idsLeft == 0 {
                let n = min(idBatch, count - index)
                nextID = try allocateIDs(n)
                idsLeft = n
            }
            let job = EncodeJob(index: UInt32(index), id: nextID, buffer: buffer, bytes: bytes, crc: crc)
            nextID += 1
            idsLeft -= 1
            if let out = inlineOut {
                state.process(job, out)
                state.monitor.lock(); state.free.append(buffer); state.monitor.unlock()
            } else {
                state.monitor.lock(); state.queue.append(job); state.monitor.broadcast(); state.monitor.unlock()
            }
        } catch {
            producerError = HilbertError(error, "storeFile: block \(index) (reading the file or allocating object ids): \(error)")
            state.monitor.lock(); state.free.append(buffer); state.monitor.unlock()
            state.fail(producerError!)
            break
        }
    }
    state.monitor.lock(); state.closed = true; state.monitor.broadcast(); state.monitor.unlock()
    threads.join()

    if let failure = state.failure {
        for key in state.attempted { try? store.delete(key) }   // best effort; missing is fine
        throw DataErrors.fail(failure.errno, failure.message)
    }
    var blocks = reused + state.stored
    blocks.sort { $0.index < $1.index }
    return (blocks, state.uploaded.sorted())
}
