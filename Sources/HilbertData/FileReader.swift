import Glibc
import CHilbertSys
import HilbertSupport

/// Fetch one block's object and decode it into `raw` (at least `block.rawLength` bytes),
/// using `scratch` (at least `block.storedLength` bytes) for the object. Returns the raw
/// length. A missing object, a size mismatch or any checksum failure is EIO (reason in
/// `DataErrors.last`); other store errors (EACCES, …) pass through.
public func fetchBlock(_ block: StoredBlock, store: ObjectStore, into raw: UnsafeMutableRawBufferPointer,
                       scratch: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
    try fetchBlockView(block, store: store, into: raw, scratch: scratch, copyStored: true).count
}

/// `fetchBlock` returning where the verified raw bytes are (in `raw`, or inside `scratch`
/// for uncompressed blocks when `copyStored` is false: one copy fewer).
func fetchBlockView(_ block: StoredBlock, store: ObjectStore, into raw: UnsafeMutableRawBufferPointer,
                    scratch: UnsafeMutableRawBufferPointer, copyStored: Bool) throws(Errno) -> UnsafeRawBufferPointer {
    do throws(Errno) {
        return try fetchBlockViewOnce(block, store: store, into: raw, scratch: scratch, copyStored: copyStored)
    } catch where error == .io {
        guard dropDamagedCopy(block.key, store: store, error) else { throw error }
        PackCache.shared.forget(block, store: store)
        return try fetchBlockViewOnce(block, store: store, into: raw, scratch: scratch, copyStored: copyStored)
    }
}

/// A read of `key` failed with `error` (EIO): when the copy read was a cached one (the site
/// tier's, or this node's pack copy), possibly torn by a lost write, it is dropped with one
/// line saying so, and the caller reads again from the store. False: there was none.
public func dropDamagedCopy(_ key: String, store: ObjectStore, _ error: Errno) -> Bool {
    guard store.dropCachedCopy(key) else { return false }
    Log.error("site cache: a damaged copy of \(key) was dropped (\(DataErrors.last?.message ?? "\(error)")); reading the store")
    return true
}

private func fetchBlockViewOnce(_ block: StoredBlock, store: ObjectStore, into raw: UnsafeMutableRawBufferPointer,
                                scratch: UnsafeMutableRawBufferPointer, copyStored: Bool) throws(Errno) -> UnsafeRawBufferPointer {
    let key = block.key
    guard scratch.count >= Int(block.storedLength) else { throw DataErrors.fail(.invalid, "fetchBlock: scratch buffer too small") }
    let n: Int
    DataErrors.last = nil
    let place = block.isPacked ? "bytes \(block.objectOffset)+\(block.storedLength) of pack \(key)" : "object \(key)"
    do throws(Errno) {
        if block.isPacked {
            // Its bytes in the pack: a ranged GET, or the whole pack (PackCache).
            let bytes = try PackCache.shared.read(block, store: store)
            n = bytes.count
            bytes.withUnsafeBytes { scratch.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: min(n, scratch.count)) }
        } else {
            n = try store.get(key, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Int(block.storedLength)]))
        }
    } catch {
        switch error {
        case .noEntry: throw DataErrors.fail(.io, "store \(store.description): object \(key) is missing")
        case .range: throw DataErrors.fail(.io, "store \(store.description): object \(key) is larger than the recorded \(block.storedLength) bytes")
        default: throw DataErrors.fail(error, DataErrors.last?.message ?? "store \(store.description): get \(key): \(error)")
        }
    }
    guard n == Int(block.storedLength) else {
        throw DataErrors.fail(.io, "store \(store.description): \(place) has \(n) bytes, expected \(block.storedLength)")
    }
    do throws(Errno) {
        return try BlockCodec.decodeView(UnsafeRawBufferPointer(start: scratch.baseAddress, count: n),
                                         expectedRawLength: block.rawLength, expectedCRC: block.crc, into: raw, copyStored: copyStored)
    } catch {
        let reason = DataErrors.last?.message ?? "\(error)"
        throw DataErrors.fail(error, "\(place): \(reason)")
    }
}

/// Fetch one block into a fresh array (convenience).
public func fetchBlock(_ block: StoredBlock, store: ObjectStore) throws(Errno) -> [UInt8] {
    let scratch = ByteBuffer(capacity: Int(block.storedLength))
    var failure: Errno?
    let out = [UInt8](unsafeUninitializedCapacity: Int(block.rawLength)) { b, count in
        do throws(Errno) {
            count = try fetchBlock(block, store: store, into: UnsafeMutableRawBufferPointer(b), scratch: scratch.whole)
        } catch { failure = error; count = 0 }
    }
    if let failure { throw failure }
    return out
}

/// Materialize path: make `fd` hold the `size`-byte file described by `blocks`.
/// The file is truncated to 0 then to `size` (holes stay sparse and read as zeros), then
/// each block is fetched, verified and pwritten at index*blockSize (by the store's
/// `concurrency` threads when there are several blocks). Never writes zeros for a missing or corrupt block: that is EIO
/// (reason in `DataErrors.last`). Block lists that do not fit `size`/`blockSize` are EIO.
public func fetchFile(blocks: [StoredBlock], size: Int64, blockSize: Int, store: ObjectStore, into fd: Int32) throws(Errno) {
    guard blockSize > 0, blockSize <= maxBlockSize, size >= 0 else {
        throw DataErrors.fail(.invalid, "fetchFile: bad block size \(blockSize) or size \(size)")
    }
    var maxStored = 0
    for b in blocks {
        let start = Int64(b.index) * Int64(blockSize)
        guard b.rawLength > 0, Int(b.rawLength) <= blockSize, start + Int64(b.rawLength) <= size,
              Int(b.storedLength) >= BlockCodec.headerSize, Int(b.storedLength) <= BlockCodec.maxEncodedSize(rawLength: blockSize) else {
            throw DataErrors.fail(.io, "fetchFile: block \(b.index) (raw \(b.rawLength), stored \(b.storedLength)) does not fit a \(size)-byte file of \(blockSize)-byte blocks")
        }
        maxStored = max(maxStored, Int(b.storedLength))
    }
    try Sys.ftruncate(fd, 0)
    try Sys.ftruncate(fd, size)
    if blocks.isEmpty { return }

    let rawCapacity = blocks.lazy.map { Int($0.rawLength) }.max() ?? 0
    final class FetchState: @unchecked Sendable {
        let lock = Lock()
        var next = 0
        var failure: HilbertError?
    }
    let state = FetchState()
    let work: (Int) -> Void = { _ in
        let raw = ByteBuffer(capacity: rawCapacity)
        let scratch = ByteBuffer(capacity: maxStored)
        while true {
            let i: Int? = state.lock.withLock {
                if state.failure != nil || state.next >= blocks.count { return nil }
                state.next += 1
                return state.next - 1
            }
            guard let i else { return }
            let b = blocks[i]
            do throws(Errno) {
                let bytes = try fetchBlockView(b, store: store, into: raw.whole, scratch: scratch.whole, copyStored: false)
                do throws(Errno) {
                    try Sys.pwriteAll(fd, bytes, Int64(b.index) * Int64(blockSize))
                } catch {
                    throw DataErrors.fail(error, "fetchFile: writing block \(b.index): \(error)")
                }
            } catch {
                let e = HilbertError(error, DataErrors.last?.message ?? "\(error)")
                state.lock.withLock { if state.failure == nil { state.failure = e } }
                return
            }
        }
    }
    let threads = blocks.count >= 3 ? WorkerThreads.start(min(pipelineWorkers(store), blocks.count) - 1, work) : WorkerThreads()
    work(threads.count)        // the calling thread is a worker too
    threads.join()
    if let f = state.failure { throw DataErrors.fail(f.errno, f.message) }
}
