/// The volume's settings rows (`hl_setting`, name → value), the same in every backend.
extension MetaStore {
    static func settingRows(_ f: VolumeFormat) -> [(String, String)] {
        [("name", f.name), ("uuid", f.uuid), ("storage", f.storage), ("bucket", f.bucket),
         ("compression", f.compression), ("block_size", String(f.blockSize)),
         ("inline_max", String(f.inlineMax)), ("format_version", String(f.formatVersion))]
            + f.storageOptions.sorted { $0.key < $1.key }.map { ("storage." + $0.key, $0.value) }
    }

    /// The VolumeFormat the rows describe; nil when a required row is missing or malformed.
    static func volumeFormat(_ d: [String: String]) -> VolumeFormat? {
        guard let name = d["name"], let uuid = d["uuid"], let storage = d["storage"], let bucket = d["bucket"],
              let compression = d["compression"], let bs = d["block_size"].flatMap({ Int($0) }),
              let im = d["inline_max"].flatMap({ Int($0) }), let fv = d["format_version"].flatMap({ Int($0) }) else {
            return nil
        }
        var f = VolumeFormat(name: name, uuid: uuid, storage: storage, bucket: bucket, compression: compression,
                             blockSize: bs, inlineMax: im, formatVersion: fv)
        for (k, v) in d where k.hasPrefix("storage.") { f.storageOptions[String(k.dropFirst(8))] = v }
        return f
    }
}
