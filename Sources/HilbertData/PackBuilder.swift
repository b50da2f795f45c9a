import CHilbertSys
import HilbertSupport

/// A pack object being assembled: the 8-byte magic "HLPACK01", then blocks, each encoded as
/// an object of its own would be (`BlockCodec`: header, payload, checksums), one after the
/// other. The metadata records where each block starts (`BlockRef.objectOffset`, never 0)
/// and its encoded length; a reader fetches those bytes alone (one ranged GET) and decodes
/// them as a block. docs/FORMAT.md, "Extents and packs".
public struct PackBuilder {
    public static let magic: [UInt8] = Array("HLPACK01".utf8)
    /// The largest pack any writer stores (compact, packing on close, import): the largest a
    /// reader's `PackCache` keeps whole. A bigger one would cost its readers a ranged GET per
    /// file instead of one GET for the pack.
    public static let maxBytes = 16 << 20

    /// What a block of `rawLength` bytes adds to a pack at most: `BlockCodec.encode` stores
    /// data that zstd does not shrink raw, so a block never outgrows its header and bytes.
    public static func pieceBound(rawLength: Int) -> Int { BlockCodec.headerSize + rawLength }

    /// Whether a block of `rawLength` bytes can still be added without the pack outgrowing `limit`.
    public func fits(rawLength: Int, limit: Int = PackBuilder.maxBytes) -> Bool {
        bytes.count + PackBuilder.pieceBound(rawLength: rawLength) <= limit
    }

    public private(set) var bytes: [UInt8]
    public private(set) var pieces = 0
    let compression: BlockCompression

    public init(compression: BlockCompression, capacity: Int) {
        self.compression = compression
        bytes = PackBuilder.magic
        bytes.reserveCapacity(capacity)
    }

    /// Append `raw` (at most `UInt32.max` bytes) as one block; returns its reference at block
    /// index 0 of object `objectID`.
    public mutating func add(_ raw: [UInt8], objectID: UInt64) -> BlockRef {
        raw.withUnsafeBytes { add($0, objectID: objectID) }
    }

    /// `add` for bytes in memory, encoded straight into the pack (no copy of their own).
    public mutating func add(_ raw: UnsafeRawBufferPointer, objectID: UInt64) -> BlockRef {
        let offset = bytes.count
        let bound = BlockCodec.maxEncodedSize(rawLength: raw.count)
        let crc = hl_crc32c(0, raw.baseAddress, raw.count)
        bytes.append(contentsOf: repeatElement(0, count: bound))
        let codec = compression
        let n = bytes.withUnsafeMutableBytes { b in
            BlockCodec.encode(raw: raw, codec: codec, into: UnsafeMutableRawBufferPointer(rebasing: b[offset..<(offset + bound)]),
                              rawCRC: crc)
        }
        bytes.removeLast(bound - n)
        pieces += 1
        return BlockRef(index: 0, objectID: objectID, rawLength: UInt32(raw.count), storedLength: UInt32(n),
                        crc: crc, objectOffset: UInt64(offset))
    }
}
