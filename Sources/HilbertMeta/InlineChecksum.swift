import CHilbertSys
import HilbertSupport

/// The CRC-32C of a small file's content stored inline in the metadata (`hl_inline.crc`),
/// verified on every read as block objects are: a flipped byte in meta.db is EIO with one
/// `hilbert:` line, never wrong data.
enum InlineChecksum {
    static func of(_ data: [UInt8]) -> UInt32 {
        data.withUnsafeBytes { hl_crc32c(0, $0.baseAddress, $0.count) }
    }

    /// `stored` nil: a row the v3 migration has not seen (it fills every row), accepted.
    static func verify(_ data: [UInt8], _ stored: UInt32?, ino: UInt64, database: String) throws(Errno) {
        guard let stored else { return }
        let computed = of(data)
        if computed == stored { return }
        Log.error("inline data of inode \(ino) in \(database) fails its checksum (CRC-32C \(hex(computed)), recorded \(hex(stored))): the metadata database is damaged; the file reads as EIO")
        throw Errno.io
    }

    private static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
