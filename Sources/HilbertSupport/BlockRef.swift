/// One extent of a file's current version, as the metadata records it and the data layer
/// stores it: block `index` covers bytes [index*blockSize, index*blockSize+rawLength); its
/// encoded bytes (header included) are `storedLength` bytes at `objectOffset` of its object.
/// objectID 0 is a hole (all zeros); the data layer never produces one (all-zero blocks are
/// simply absent).
///
/// An object holds either one block alone, from its first byte (`objectOffset` 0: the block
/// is the object's only reference, released with it), or the blocks of many files (a pack:
/// each of them at an offset past the pack's header, so never 0; the pack is deleted when the
/// last block pointing into it is gone). docs/FORMAT.md, "Extents and packs".
public struct BlockRef: Equatable, Hashable, Sendable {
    public var index: UInt32
    public var objectID: UInt64
    public var rawLength: UInt32
    public var storedLength: UInt32
    public var crc: UInt32           // CRC-32C of the raw bytes
    public var objectOffset: UInt64
    public init(index: UInt32, objectID: UInt64, rawLength: UInt32, storedLength: UInt32, crc: UInt32,
                objectOffset: UInt64 = 0) {
        self.index = index; self.objectID = objectID; self.rawLength = rawLength
        self.storedLength = storedLength; self.crc = crc; self.objectOffset = objectOffset
    }

    /// In a pack, shared with other blocks (see above).
    public var isPacked: Bool { objectOffset != 0 }
}
