import EaselTensor

/// Original LDM autoencoder names (`first_stage_model.*`) to `AutoencoderKL` names, as
/// diffusers' `convert_ldm_vae_checkpoint` does (diffusers 0.42.1, `loaders/single_file_utils.py`).
///
/// ```
/// encoder.down.i.block.j / .downsample.conv    encoder.down_blocks.i.resnets.j / .downsamplers.0.conv
/// decoder.up.i.block.j / .upsample.conv        decoder.up_blocks.(n-1-i).resnets.j / .upsamplers.0.conv
/// {en,de}coder.mid.block_1 / block_2           mid_block.resnets.0 / resnets.1
/// {en,de}coder.mid.attn_1.norm|q|k|v|proj_out  mid_block.attentions.0.group_norm|to_q|to_k|to_v|to_out.0
/// {en,de}coder.norm_out                        conv_norm_out
/// nin_shortcut (in resnets)                    conv_shortcut
/// conv_in, conv_out, quant_conv, post_quant_conv   unchanged
/// ```
///
/// LDM numbers the decoder's levels from the finest (`up.0`), diffusers from the coarsest, so
/// `n` (the number of `up_block_types`) comes from the config. The mid attention's q, k, v
/// and proj_out are 1x1 convolutions in LDM, `[C, C, 1, 1]`; diffusers' are linear layers,
/// so they are exposed as `[C, C]` (the same numbers).
struct LDMVAEKeyMapping {
    static let prefix = "first_stage_model."

    static let resnetLayers = [
        "norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "nin_shortcut": "conv_shortcut",
    ]
    static let attentionLayers = [
        "norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0",
    ]

    /// Levels of the encoder and of the decoder.
    let levels: Int

    init(config: SingleFileConfigFields) throws {
        let down = try config.strings("down_block_types")
        let up = try config.strings("up_block_types")
        guard !up.isEmpty, down.count == up.count else {
            throw config.invalid("up_block_types", "has \(up.count) entries for \(down.count) down blocks")
        }
        levels = up.count
    }

    /// Maps every `first_stage_model.*` name in `names`; `shape` gives stored shapes.
    func map(_ names: [String], shape: (String) -> [Int]?, into mapping: inout SingleFileComponentMapping) throws {
        try checkLevels(names, file: mapping.file)
        for name in names {
            try mapping.mapping(name) { mapping in
                let target = try diffusersName(name.dropFirst(Self.prefix.count))
                let stored = shape(name) ?? []
                // The mid attention's 1x1 convolution kernels, read as linear weights.
                if target.contains(".mid_block.attentions.0.to_"), target.hasSuffix(".weight"), stored.count > 2 {
                    guard let linear = LDMKey.squeezedShape(stored, rank: 2) else {
                        throw LDMKeyProblem.unknown("attention weight of shape \(stored) is not a 1x1 convolution kernel")
                    }
                    try mapping.map(name, to: target, shape: linear) { $0.reshaped(linear) }
                } else {
                    try mapping.map(name, to: target)
                }
            }
        }
    }

    /// The diffusers name of LDM autoencoder name `name` (without the prefix).
    func diffusersName(_ name: Substring) throws -> String {
        let p = LDMKey.parts(name)
        if p[0] == "quant_conv" || p[0] == "post_quant_conv" {
            guard p.count == 2, LDMKey.isParameter(p[1]) else { throw LDMKeyProblem.unknown("not a parameter of \(p[0])") }
            return String(name)
        }
        guard p[0] == "encoder" || p[0] == "decoder", p.count >= 3 else {
            throw LDMKeyProblem.unknown("not a tensor of Stable Diffusion's autoencoder")
        }
        let coder = p[0], rest = p[1...]
        switch rest.first! {
        case "conv_in", "conv_out":
            guard rest.count == 2, LDMKey.isParameter(rest.last!) else { break }
            return String(name)
        case "norm_out":
            guard rest.count == 2, LDMKey.isParameter(rest.last!) else { break }
            return "\(coder).conv_norm_out.\(rest.last!)"
        case "down" where coder == "encoder" && rest.count >= 4:
            return try level(coder, down: true, try LDMKey.index(rest[rest.startIndex + 1], "level"), rest.dropFirst(2))
        case "up" where coder == "decoder" && rest.count >= 4:
            return try level(coder, down: false, try LDMKey.index(rest[rest.startIndex + 1], "level"), rest.dropFirst(2))
        case "mid" where rest.count >= 3:
            let part = rest[rest.startIndex + 1]
            let inner = rest.dropFirst(2)
            switch part {
            case "block_1": return "\(coder).mid_block.resnets.0." + (try resnet(inner))
            case "block_2": return "\(coder).mid_block.resnets.1." + (try resnet(inner))
            case "attn_1":
                return "\(coder).mid_block.attentions.0."
                    + (try LDMKey.layerParameter(inner, Self.attentionLayers, what: "the mid attention"))
            default: break
            }
        default:
            break
        }
        throw LDMKeyProblem.unknown("not a tensor of Stable Diffusion's autoencoder")
    }

    /// `encoder.down.i.*` or `decoder.up.i.*` from `rest` = `block.j.*` / `downsample.conv.*`.
    private func level(_ coder: String, down: Bool, _ i: Int, _ rest: ArraySlice<String>) throws -> String {
        guard i < levels else {
            throw LDMKeyProblem.layout("level \(i) is past the \(levels) levels the config gives")
        }
        let blocks = down ? "down_blocks.\(i)" : "up_blocks.\(levels - 1 - i)"
        let sampler = down ? "downsample" : "upsample"
        switch rest.first! {
        case "block":
            let j = try LDMKey.index(rest[rest.startIndex + 1], "resnet")
            return "\(coder).\(blocks).resnets.\(j)." + (try resnet(rest.dropFirst(2)))
        case sampler:
            guard rest.count == 3, rest[rest.startIndex + 1] == "conv", LDMKey.isParameter(rest.last!) else { break }
            // LDM resamples between levels: after every encoder level but the last, before
            // every decoder level but the finest (up.0).
            guard down ? i < levels - 1 : i > 0 else {
                throw LDMKeyProblem.layout("a \(sampler)r at level \(i), where the config has none")
            }
            return "\(coder).\(blocks).\(down ? "downsamplers" : "upsamplers").0.conv.\(rest.last!)"
        default:
            break
        }
        throw LDMKeyProblem.unknown("not a tensor of an autoencoder level")
    }

    private func resnet(_ rest: ArraySlice<String>) throws -> String {
        try LDMKey.layerParameter(rest, Self.resnetLayers, what: "a resnet block")
    }

    /// The file's encoder and decoder level counts must be the config's (the decoder's
    /// levels are renumbered from it).
    private func checkLevels(_ names: [String], file: String) throws {
        func count(_ run: String) -> Int {
            let start = Self.prefix + run + "."
            let indices = names.compactMap { name -> Int? in
                guard name.hasPrefix(start) else { return nil }
                return Int(name.dropFirst(start.count).prefix { $0 != "." })
            }
            return (indices.max() ?? -1) + 1
        }
        let (down, up) = (count("encoder.down"), count("decoder.up"))
        guard down == levels, up == levels else {
            throw SingleFileError.layoutMismatch(
                component: SingleFileComponent.vae.rawValue, file: file,
                detail: "the file has \(down) encoder and \(up) decoder levels; the VAE config has \(levels) — "
                    + "give the model's diffusers config folder")
        }
    }
}
