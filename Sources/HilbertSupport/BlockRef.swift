/// One block of a file's current version, as the metadata records it and the data layer
/// stores it: block `index` covers bytes [index*blockSize, index*blockSize+rawLength); its
/// object is `storedLength` bytes (header included). objectID 0 is a hole (all zeros); the
/// data layer never produces one (all-zero blocks are simply absent).
public struct BlockRef: Equatable, Hashable, Sendable {
    public var index: UInt32
    public var objectID: UInt64
    public var rawLength: UInt32
    public var storedLength: UInt32
    public var crc: UInt32           // CRC-32C of the raw bytes
    public init(index: UInt32, objectID: UInt64, rawLength: UInt32, storedLength: UInt32, crc: UInt32) {
        self.index = index; self.objectID = objectID; self.rawLength = rawLength
        self.storedLength = storedLength; self.crc = crc
    }
}
