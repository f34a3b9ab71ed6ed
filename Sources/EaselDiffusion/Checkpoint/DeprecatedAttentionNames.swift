/// diffusers 0.14 renamed the parameters of the VAE's (and UNet2DModel's) attention
/// blocks: `query`, `key`, `value`, `proj_attn` became `to_q`, `to_k`, `to_v`,
/// `to_out.0`, with the same shapes. Folders saved before (SD 1.x VAEs among them) still
/// carry the old names, which diffusers renames as it loads
/// (`ModelMixin._convert_deprecated_attention_blocks`). Easel does the same, here, so
/// models only ever ask for the current names.
enum DeprecatedAttentionNames {
    /// Old final component to new, under the attention block's path.
    static let renames = [("query", "to_q"), ("key", "to_k"), ("value", "to_v"), ("proj_attn", "to_out.0")]

    /// `archive` with old attention names shown under the new ones, or `archive` itself
    /// when it has none. Only blocks holding both `query.weight` and `proj_attn.weight`
    /// count, and a new name already present is never shadowed (the old tensor is then
    /// left over and reported by strict loading).
    static func normalised(_ archive: any TensorArchive) -> any TensorArchive {
        let names = archive.names
        let present = Set(names)
        let blocks = names.compactMap { name -> String? in
            guard name.hasSuffix(".query.weight") else { return nil }
            let block = String(name.dropLast(".query.weight".count))
            return present.contains(block + ".proj_attn.weight") ? block : nil
        }
        guard !blocks.isEmpty else { return archive }

        var mapping: [String: RenamedArchive.Source] = [:]
        var renamedOld = Set<String>()
        for block in blocks {
            for (old, new) in renames {
                for kind in ["weight", "bias"] {
                    let oldName = "\(block).\(old).\(kind)", newName = "\(block).\(new).\(kind)"
                    guard present.contains(oldName), !present.contains(newName) else { continue }
                    mapping[newName] = RenamedArchive.Source(oldName)
                    renamedOld.insert(oldName)
                }
            }
        }
        for name in names where !renamedOld.contains(name) {
            mapping[name] = RenamedArchive.Source(name)
        }
        return RenamedArchive(base: archive, mapping: mapping)
    }
}
