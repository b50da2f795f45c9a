import Glibc
import HilbertSupport
import HilbertMeta
import HilbertData

/// `hilbert du` (WarmupMode.survey) and `hilbert tier` (WarmupMode.tier): the same walk as a
/// warm-up, over the same pages of the metadata, per regular file.
extension Warmer {
    /// Where `e`'s data is: the node cache (a read copy of its version), the site tier (every
    /// object it uses), and per storage class the distinct objects it uses (one HEAD each, once
    /// per run; stores without classes are not asked).
    func survey(_ e: ExportedEntry, _ shown: [UInt8]) {
        let a = e.attr
        let size = a.size
        let inMetadata = size == 0 || e.inline != nil
        var inNode = inMetadata
        if !inMetadata, let fd = cache.openReadCopy(ino: a.ino, version: a.version, touch: false) {
            Sys.close(fd)
            inNode = true
        } else if !inMetadata, let id = packID(e), hasPackCopy(id) {
            inNode = true
        }
        var inSite = false
        if !inMetadata, let tier = store.siteTier {
            inSite = e.blocks.allSatisfy { tier.contains($0.key) }
        }
        var found: [(String, Int)] = []
        if store.hasStorageClasses && !inMetadata {
            for id in Set(e.blocks.map(\.objectID)) where lock.withLock({ objectsSeen.insert(id).inserted }) {
                do throws(Errno) {
                    guard let c = try store.storageClass(objectKey(id: id)) else {
                        fail("\(display(shown)): object \(objectKey(id: id)) is missing from the store")
                        continue
                    }
                    found.append((c.name, c.size))
                } catch {
                    fail("\(display(shown)): \(DataErrors.last?.message ?? "\(error)")")
                }
            }
        }
        lock.withLock {
            tally.files.files += 1
            tally.files.bytes += size
            if inMetadata { tally.inMetadata += 1 }
            if inNode { tally.inNodeCache.files += 1; tally.inNodeCache.bytes += size }
            if inSite { tally.inSiteTier.files += 1; tally.inSiteTier.bytes += size }
            for (name, bytes) in found {
                let old = tally.classes[name] ?? (0, 0)
                tally.classes[name] = (old.objects + 1, old.bytes + UInt64(bytes))
            }
        }
    }

    /// Move `e`'s objects to storage class `name` (each object once per run; one already in
    /// it is left alone). A pack moves whole, with the other files in it.
    func tier(_ e: ExportedEntry, _ shown: [UInt8], to name: String) {
        lock.withLock { tally.files.files += 1; tally.files.bytes += e.attr.size }
        if e.attr.size == 0 || e.inline != nil {
            lock.withLock { tally.inMetadata += 1 }
            return
        }
        for id in Set(e.blocks.map(\.objectID)) where lock.withLock({ objectsSeen.insert(id).inserted }) {
            let key = objectKey(id: id)
            do throws(Errno) {
                guard let now = try store.storageClass(key) else {
                    fail("\(display(shown)): object \(key) is missing from the store")
                    continue
                }
                if now.name == name {
                    lock.withLock { tally.alreadyThere.objects += 1; tally.alreadyThere.bytes += UInt64(now.size) }
                    continue
                }
                try store.changeStorageClass(key, to: name)
                lock.withLock { tally.moved.objects += 1; tally.moved.bytes += UInt64(now.size) }
            } catch {
                fail("\(display(shown)): \(DataErrors.last?.message ?? "\(error)")")
            }
        }
    }
}
