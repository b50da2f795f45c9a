import HilbertSupport

/// The settings rows (`hl_setting`, one row per VolumeFormat field; docs/FORMAT.md), for every
/// backend: what `create` writes and what `open` reads back.
extension MetaStore {
    /// The row a load in progress writes first and removes in its last transaction, with the
    /// volume's real settings (docs/FORMAT.md, "Dump format"): a volume that has it is refused.
    static let loadingSetting = "loading"

    static func settingRows(_ f: VolumeFormat) -> [(String, String)] {
        [("name", f.name), ("uuid", f.uuid), ("storage", f.storage), ("bucket", f.bucket),
         ("compression", f.compression), ("block_size", String(f.blockSize)),
         ("inline_max", String(f.inlineMax)), ("format_version", String(f.formatVersion))]
            + f.storageOptions.sorted { $0.key < $1.key }.map { ("storage." + $0.key, $0.value) }
    }

    /// The volume format from its settings rows; EIO, explained, when they are incomplete or
    /// a load into this volume never finished.
    static func format(fromSettings d: [String: String], location: String) throws(HilbertError) -> VolumeFormat {
        if let loading = d[loadingSetting] {
            throw HilbertError(.io, "\(location) is an incomplete volume: 'hilbert load' \(loading) did not finish; remove it and load again")
        }
        guard let name = d["name"], let uuid = d["uuid"], let storage = d["storage"], let bucket = d["bucket"],
              let compression = d["compression"], let bs = d["block_size"].flatMap({ Int($0) }),
              let im = d["inline_max"].flatMap({ Int($0) }), let fv = d["format_version"].flatMap({ Int($0) }) else {
            throw HilbertError(.io, "\(location) is not a Hilbert metadata database (settings missing)")
        }
        var f = VolumeFormat(name: name, uuid: uuid, storage: storage, bucket: bucket, compression: compression,
                             blockSize: bs, inlineMax: im, formatVersion: fv)
        for (k, v) in d where k.hasPrefix("storage.") { f.storageOptions[String(k.dropFirst(8))] = v }
        return f
    }
}
