import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData

/// The small files of an export, read out of their packs: a pack that two or more files of
/// a listing page are in is fetched whole, once (threads that want it meanwhile wait for that
/// fetch), and kept while it is among the most recently used `capacity` bytes of packs; a
/// pack with one file of the page gives that file's bytes alone (a ranged GET). Pages are
/// listed in the order the files were written, which is the order of their packs' blocks,
/// so an export fetches each pack about once. (The process-wide PackCache serves programs,
/// whose reads come one by one: it fetches a pack whole at its second block, and keeps
/// packs of at most half its 32 MiB.)
final class PackReader: @unchecked Sendable {
    let store: ObjectStore
    let capacity: Int
    private let monitor = Monitor()
    private var packs: [UInt64: (bytes: [UInt8], used: UInt64)] = [:]
    private var loading = Set<UInt64>()
    private var bytes = 0
    private var clock: UInt64 = 0

    init(store: ObjectStore, capacity: Int = 128 << 20) {
        self.store = store
        self.capacity = capacity
    }

    /// The raw bytes of `block` (a block in a pack); `whole`: fetch its pack whole.
    func read(_ block: BlockRef, whole: Bool) throws(Errno) -> [UInt8] {
        do throws(Errno) { return try readOnce(block, whole: whole) } catch where error == .io {
            // With the pack kept here.
            guard dropDamagedCopy(block.key, store: store, error) else { throw error }
            monitor.lock()
            if let p = packs.removeValue(forKey: block.objectID) { bytes -= p.bytes.count }
            monitor.unlock()
            return try readOnce(block, whole: whole)
        }
    }

    private func readOnce(_ block: BlockRef, whole: Bool) throws(Errno) -> [UInt8] {
        let lo = Int(block.objectOffset), n = Int(block.storedLength)
        let stored: [UInt8]
        if let cached = try cachedSlice(block.objectID, lo, n, load: whole) {
            stored = cached
        } else {
            stored = try store.getRange(objectKey(id: block.objectID), offset: lo, length: n)
        }
        guard stored.count == n else {
            throw DataErrors.fail(.io, "store \(store.description): bytes \(lo)+\(n) of pack \(objectKey(id: block.objectID)): \(stored.count) bytes read")
        }
        do throws(Errno) {
            return try BlockCodec.decode(stored, expectedRawLength: block.rawLength, expectedCRC: block.crc)
        } catch {
            throw DataErrors.fail(.io, "store \(store.description): bytes \(lo)+\(n) of pack \(objectKey(id: block.objectID)): \(DataErrors.last?.message ?? "\(error)")")
        }
    }

    /// The bytes from the cached pack; with `load`, the pack is fetched whole first when it is
    /// not cached (or waited for while another thread fetches it). nil: not cached.
    private func cachedSlice(_ id: UInt64, _ lo: Int, _ n: Int, load: Bool) throws(Errno) -> [UInt8]? {
        monitor.lock()
        while loading.contains(id) { monitor.wait() }
        if let p = packs[id] {
            clock += 1
            packs[id]!.used = clock
            monitor.unlock()
            return lo + n <= p.bytes.count ? Array(p.bytes[lo..<(lo + n)]) : Array(p.bytes[min(lo, p.bytes.count)...])
        }
        if !load {
            monitor.unlock()
            return nil
        }
        loading.insert(id)
        monitor.unlock()
        var fetched: [UInt8]?
        var failure: Errno?
        do throws(Errno) { fetched = try store.get(objectKey(id: id)) } catch { failure = error }
        monitor.lock()
        loading.remove(id)
        if let whole = fetched { keep(id, whole) }
        monitor.broadcast()
        monitor.unlock()
        if let failure { throw failure }
        let whole = fetched!
        return lo + n <= whole.count ? Array(whole[lo..<(lo + n)]) : Array(whole[min(lo, whole.count)...])
    }

    /// Caller holds the monitor.
    private func keep(_ id: UInt64, _ whole: [UInt8]) {
        if whole.count > capacity { return }
        while bytes + whole.count > capacity, let oldest = packs.min(by: { $0.value.used < $1.value.used }) {
            bytes -= oldest.value.bytes.count
            packs.removeValue(forKey: oldest.key)
        }
        clock += 1
        packs[id] = (whole, clock)
        bytes += whole.count
    }
}
