/// Where `needle` first occurs in `text`. The engine's modules do without _StringProcessing
/// (Package.swift, fastSwift), whose String.firstRange(of:) and contains(_: String) this replaces.
public func firstRange(of needle: String, in text: String) -> Range<String.Index>? {
    guard let first = needle.first else { return text.startIndex..<text.startIndex }
    var i = text.startIndex
    while let start = text[i...].firstIndex(of: first) {
        if text[start...].starts(with: needle) {
            return start..<text.index(start, offsetBy: needle.count)
        }
        i = text.index(after: start)
    }
    return nil
}
