import Glibc
import CHilbertSys
import HilbertSupport

/// Whether the first `size` bytes of `fd` are the content `blocks` describe, block by block:
/// all zero where there is no block (or a hole), else the same raw length and CRC-32C, the
/// test `storeFile` uses to reuse an object. Reads the whole range but its holes.
public func contentMatches(fd: Int32, size: Int64, blockSize: Int, blocks: [StoredBlock]) throws(Errno) -> Bool {
    guard blockSize > 0 else { return false }
    var byIndex: [UInt32: StoredBlock] = [:]
    for b in blocks where b.objectID != 0 { byIndex[b.index] = b }
    let count = Int((size + Int64(blockSize) - 1) / Int64(blockSize))
    if byIndex.keys.contains(where: { Int($0) >= count }) { return false }
    var buffer = [UInt8](repeating: 0, count: min(blockSize, Int(size)))
    for index in 0..<count {
        let offset = Int64(index) * Int64(blockSize)
        let length = Int(min(Int64(blockSize), size - offset))
        if inHole(fd, offset, length) {
            if byIndex[UInt32(index)] != nil { return false }
            continue
        }
        var failure: Errno?
        let same = buffer.withUnsafeMutableBytes { (b: UnsafeMutableRawBufferPointer) -> Bool in
            let n: Int
            do throws(Errno) { n = try Sys.preadFully(fd, b.baseAddress!, length, offset) } catch { failure = error; return false }
            if n < length { return false }
            guard let block = byIndex[UInt32(index)] else { return isAllZero(b.baseAddress!, length) }
            return block.rawLength == UInt32(length) && block.crc == hl_crc32c(0, b.baseAddress, length)
        }
        if let failure { throw failure }
        if !same { return false }
    }
    return true
}

/// The block at `offset` lies in a hole (SEEK_DATA finds no data before its end).
func inHole(_ fd: Int32, _ offset: Int64, _ length: Int) -> Bool {
    do throws(Errno) {
        return try Sys.lseek(fd, offset, Int32(HL_SEEK_DATA)) >= offset + Int64(length)
    } catch {
        return error == Errno(ENXIO)   // no data from here to the end; other errors: read it
    }
}
