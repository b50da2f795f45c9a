import Glibc
import HilbertSupport

/// The packs this process read blocks of, kept whole in memory for a while: the first block
/// read from a pack costs one ranged GET of its bytes; a second one from the same pack fetches
/// the whole pack (one GET), from which that block and the following ones are taken. A
/// program reading the files of a directory written together (cat *, tar c, a training
/// loader) so costs about one GET per pack. At most `capacity` bytes of packs are kept (the
/// least recently used go first); a pack larger than half of that is never kept (the shared
/// cache keeps two of the largest packs writers store, `PackBuilder.maxBytes`). Packs are
/// told apart by store (its location: objects of two volumes never share one) and id.
public final class PackCache: @unchecked Sendable {
    public static let shared = PackCache(capacity: 2 * PackBuilder.maxBytes)

    struct Key: Hashable {
        var store: String
        var id: UInt64
    }

    let capacity: Int
    private let lock = Lock()
    private var packs: [Key: (bytes: [UInt8], used: UInt64)] = [:]
    private var bytes = 0
    private var clock: UInt64 = 0
    /// Packs one block was fetched from (by ranged GET), most recent last.
    private var touched: [Key] = []

    init(capacity: Int) { self.capacity = capacity }

    /// The stored bytes of `block` (in a pack), from the cache or the store.
    func read(_ block: BlockRef, store: ObjectStore) throws(Errno) -> [UInt8] {
        let key = Key(store: store.description, id: block.objectID)
        let lo = Int(block.objectOffset), n = Int(block.storedLength)
        let hit: [UInt8]? = lock.withLock {
            guard var p = packs[key], lo + n <= p.bytes.count else { return nil }
            clock += 1
            p.used = clock
            packs[key] = p
            return Array(p.bytes[lo..<(lo + n)])
        }
        if let hit { return hit }
        let again = lock.withLock { () -> Bool in
            if let k = touched.firstIndex(of: key) { touched.remove(at: k); return true }
            touched.append(key)
            if touched.count > 64 { touched.removeFirst() }
            return false
        }
        guard again else { return try store.getRange(objectKey(id: key.id), offset: lo, length: n) }
        let whole = try store.get(objectKey(id: key.id))
        guard lo + n <= whole.count else { return Array(whole[min(lo, whole.count)...]) }   // short: the caller says so
        keep(key, whole)
        return Array(whole[lo..<(lo + n)])
    }

    private func keep(_ key: Key, _ whole: [UInt8]) {
        if whole.count > capacity / 2 { return }
        lock.withLock {
            if packs[key] != nil { return }
            while bytes + whole.count > capacity, let oldest = packs.min(by: { $0.value.used < $1.value.used }) {
                bytes -= oldest.value.bytes.count
                packs.removeValue(forKey: oldest.key)
            }
            clock += 1
            packs[key] = (whole, clock)
            bytes += whole.count
        }
    }

    /// Drop the kept pack of `block` (its copy was found damaged).
    func forget(_ block: BlockRef, store: ObjectStore) {
        let key = Key(store: store.description, id: block.objectID)
        lock.withLock {
            if let p = packs.removeValue(forKey: key) { bytes -= p.bytes.count }
        }
    }

    /// In a child after fork: the lock may have been held by a thread that is gone.
    public func afterForkInChild() { lock.reinitialize() }
}
