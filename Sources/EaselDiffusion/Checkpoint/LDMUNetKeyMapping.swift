/// Original LDM UNet names (`model.diffusion_model.*`, `openaimodel.UNetModel`) to
/// `UNet2DConditionModel` names, derived from the UNet config as diffusers'
/// `convert_ldm_unet_checkpoint` does (diffusers 0.42.1, `loaders/single_file_utils.py`).
///
/// LDM numbers its blocks in one run per direction. With `L = layers_per_block` and levels
/// `0..<n` (one per `block_out_channels` entry):
///
/// ```
/// input_blocks.0.0                    conv_in
/// input_blocks.(1+b(L+1)+l).0 / .1    down_blocks.b.resnets.l / attentions.l     (l < L)
/// input_blocks.(1+b(L+1)+L).0.op      down_blocks.b.downsamplers.0.conv           (b < n-1)
/// middle_block.0 / .1 / .2            mid_block.resnets.0 / attentions.0 / resnets.1
/// output_blocks.(b(L+1)+l).0 / .1     up_blocks.b.resnets.l / attentions.l        (l <= L)
/// output_blocks.(b(L+1)+L).1|2.conv   up_blocks.b.upsamplers.0.conv  (.2 after an attention)
/// time_embed.0 / .2                   time_embedding.linear_1 / linear_2
/// label_emb.0.0 / .0.2                add_embedding.linear_1 / linear_2   (SDXL's text_time)
/// out.0 / out.2                       conv_norm_out / conv_out
/// ```
///
/// Inside a resnet, `in_layers.0/2`, `emb_layers.1`, `out_layers.0/3`, `skip_connection`
/// are `norm1`, `conv1`, `time_emb_proj`, `norm2`, `conv2`, `conv_shortcut`. Inside an
/// attention (`SpatialTransformer` = `Transformer2DModel`) the names are already diffusers'.
/// Every key is checked against this grammar; one that does not fit is an error naming it.
struct LDMUNetKeyMapping {
    static let prefix = "model.diffusion_model."

    static let resnetLayers = [
        "in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
        "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut",
    ]

    /// Resnets per down level (`layers_per_block`); up levels have one more.
    let layersPerBlock: Int
    /// Whether each down level (outermost first) has attentions.
    let downAttention: [Bool]
    /// Whether each up level (innermost first) has attentions.
    let upAttention: [Bool]
    /// Whether the UNet has SDXL's `text_time` added embedding (SGM's `label_emb`).
    let hasAddedEmbedding: Bool

    var levels: Int { downAttention.count }

    init(config: SingleFileConfigFields) throws {
        let down = try config.strings("down_block_types")
        let up = try config.strings("up_block_types")
        guard !down.isEmpty, down.count == up.count else {
            throw config.invalid("up_block_types", "has \(up.count) entries for \(down.count) down blocks")
        }
        let layers = try config.perBlock("layers_per_block", count: down.count, default: 2)
        guard let first = layers.first, first > 0, layers.allSatisfy({ $0 == first }) else {
            // LDM's numbering has one resnet count for every level.
            throw config.invalid("layers_per_block", "must be one positive count for all levels in an LDM layout, got \(layers)")
        }
        layersPerBlock = first
        downAttention = down.map { $0.hasPrefix("CrossAttn") }
        upAttention = up.map { $0.hasPrefix("CrossAttn") }
        hasAddedEmbedding = config.has("addition_embed_type")
    }

    /// Maps every `model.diffusion_model.*` name in `names`.
    func map(_ names: [String], into mapping: inout SingleFileComponentMapping) throws {
        try checkStructure(names, file: mapping.file)
        for name in names {
            try mapping.mapping(name) { mapping in
                try mapping.map(name, to: try diffusersName(name.dropFirst(Self.prefix.count)))
            }
        }
    }

    /// The diffusers name of LDM UNet name `name` (without the prefix).
    func diffusersName(_ name: Substring) throws -> String {
        let p = LDMKey.parts(name)
        switch p[0] {
        case "time_embed":
            guard p.count == 3, p[1] == "0" || p[1] == "2", LDMKey.isParameter(p[2]) else { break }
            return "time_embedding.linear_\(p[1] == "0" ? 1 : 2).\(p[2])"
        case "out":
            guard p.count == 3, p[1] == "0" || p[1] == "2", LDMKey.isParameter(p[2]) else { break }
            return "\(p[1] == "0" ? "conv_norm_out" : "conv_out").\(p[2])"
        case "label_emb":
            guard p.count == 4, p[1] == "0", p[2] == "0" || p[2] == "2", LDMKey.isParameter(p[3]) else { break }
            guard hasAddedEmbedding else {
                throw LDMKeyProblem.layout("an added embedding (label_emb), but the UNet config has no addition_embed_type")
            }
            return "add_embedding.linear_\(p[2] == "0" ? 1 : 2).\(p[3])"
        case "input_blocks" where p.count >= 4:
            return try inputBlock(try LDMKey.index(p[1], "block"), try LDMKey.index(p[2], "layer"), p[3...])
        case "middle_block" where p.count >= 3:
            switch try LDMKey.index(p[1], "block") {
            case 0: return "mid_block.resnets.0." + (try resnet(p[2...]))
            case 1: return "mid_block.attentions.0." + (try transformer(p[2...]))
            case 2: return "mid_block.resnets.1." + (try resnet(p[2...]))
            default: throw LDMKeyProblem.unknown("the middle block has parts 0, 1 and 2 only")
            }
        case "output_blocks" where p.count >= 4:
            return try outputBlock(try LDMKey.index(p[1], "block"), try LDMKey.index(p[2], "layer"), p[3...])
        default:
            break
        }
        throw LDMKeyProblem.unknown("not a tensor of Stable Diffusion's UNet")
    }

    private func inputBlock(_ i: Int, _ j: Int, _ rest: ArraySlice<String>) throws -> String {
        if i == 0 {
            guard j == 0, rest.count == 1, LDMKey.isParameter(rest.first!) else {
                throw LDMKeyProblem.unknown("input block 0 is conv_in only")
            }
            return "conv_in." + rest.first!
        }
        let level = (i - 1) / (layersPerBlock + 1), layer = (i - 1) % (layersPerBlock + 1)
        guard level < levels else {
            throw LDMKeyProblem.layout("input block \(i) is past the \(levels) levels of \(layersPerBlock) layers the config implies")
        }
        if layer < layersPerBlock {
            switch j {
            case 0:
                return "down_blocks.\(level).resnets.\(layer)." + (try resnet(rest))
            case 1:
                guard downAttention[level] else {
                    throw LDMKeyProblem.layout("an attention in down level \(level), which the config makes a DownBlock2D")
                }
                return "down_blocks.\(level).attentions.\(layer)." + (try transformer(rest))
            default:
                throw LDMKeyProblem.unknown("a down layer has a resnet (0) and an attention (1) only")
            }
        }
        guard j == 0, rest.count == 2, rest.first == "op", LDMKey.isParameter(rest.last!) else {
            throw LDMKeyProblem.unknown("the last block of a down level is its downsampler (`.0.op`)")
        }
        guard level < levels - 1 else { throw LDMKeyProblem.layout("a downsampler after the last level") }
        return "down_blocks.\(level).downsamplers.0.conv." + rest.last!
    }

    private func outputBlock(_ i: Int, _ j: Int, _ rest: ArraySlice<String>) throws -> String {
        let level = i / (layersPerBlock + 1), layer = i % (layersPerBlock + 1)
        guard level < levels else {
            throw LDMKeyProblem.layout("output block \(i) is past the \(levels) levels of \(layersPerBlock + 1) layers the config implies")
        }
        let isUpsampler = rest.first == "conv" && (j == 2 || (j == 1 && !upAttention[level]))
        if isUpsampler {
            guard rest.count == 2, LDMKey.isParameter(rest.last!) else {
                throw LDMKeyProblem.unknown("not a parameter of an upsampler")
            }
            guard layer == layersPerBlock, level < levels - 1 else {
                throw LDMKeyProblem.layout("an upsampler where the config has none (level \(level), layer \(layer))")
            }
            return "up_blocks.\(level).upsamplers.0.conv." + rest.last!
        }
        switch j {
        case 0:
            return "up_blocks.\(level).resnets.\(layer)." + (try resnet(rest))
        case 1:
            guard upAttention[level] else {
                throw LDMKeyProblem.layout("an attention in up level \(level), which the config makes an UpBlock2D")
            }
            return "up_blocks.\(level).attentions.\(layer)." + (try transformer(rest))
        default:
            throw LDMKeyProblem.unknown("an up layer has a resnet (0), an attention (1) and an upsampler only")
        }
    }

    private func resnet(_ rest: ArraySlice<String>) throws -> String {
        try LDMKey.layerParameter(rest, Self.resnetLayers, what: "a resnet block")
    }

    /// Checks an attention's inner name against `Transformer2DModel`'s and returns it as is.
    private func transformer(_ rest: ArraySlice<String>) throws -> String {
        let name = rest.joined(separator: ".")
        guard let param = rest.last, LDMKey.isParameter(param) else {
            throw LDMKeyProblem.unknown("not a parameter of a spatial transformer")
        }
        let layer = Array(rest.dropLast())
        let known: Bool
        switch layer.first {
        case "norm", "proj_in", "proj_out":
            known = layer.count == 1
        case "transformer_blocks":
            guard layer.count >= 3, (try? LDMKey.index(layer[1], "block")) != nil else { known = false; break }
            let inner = layer[2...].joined(separator: ".")
            let linears = ["attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q", "attn2.to_k", "attn2.to_v"]
            let withBias = ["attn1.to_out.0", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2", "norm1", "norm2", "norm3"]
            known = withBias.contains(inner) || (linears.contains(inner) && param == "weight")
        default:
            known = false
        }
        guard known else { throw LDMKeyProblem.unknown("not a parameter of a spatial transformer") }
        return name
    }

    /// The file's block structure must be the config's — where the downsamplers, upsamplers
    /// and attentions are, and how many blocks there are — since the numbering depends on
    /// it: a config with other levels or layers would otherwise map tensors to wrong blocks.
    private func checkStructure(_ names: [String], file: String) throws {
        let stride = layersPerBlock + 1
        let found = UNetBlockStructure(names: names, prefix: Self.prefix)
        var expected = UNetBlockStructure()
        expected.inputCount = levels * stride  // conv_in, L per level, a downsampler between levels
        expected.outputCount = levels * stride
        for level in 0..<levels {
            if level < levels - 1 {
                expected.downsamplers.insert(1 + level * stride + layersPerBlock)
                expected.upsamplers.insert(level * stride + layersPerBlock)
            }
            if downAttention[level] {
                expected.downAttentions.formUnion((0..<layersPerBlock).map { 1 + level * stride + $0 })
            }
            if upAttention[level] {
                expected.upAttentions.formUnion((0...layersPerBlock).map { level * stride + $0 })
            }
        }
        guard found != expected else { return }
        throw SingleFileError.layoutMismatch(
            component: SingleFileComponent.unet.rawValue, file: file,
            detail: "the file has \(found); the UNet config (\(levels) levels, layers_per_block \(layersPerBlock), "
                + "attention in down levels \(downAttention.indices.filter { downAttention[$0] }) and up levels "
                + "\(upAttention.indices.filter { upAttention[$0] })) implies \(expected) — give the model's diffusers config folder")
    }
}

extension LDMUNetKeyMapping {
    /// The SGM/LDM module path of each of a diffusers UNet's modules, from its weight names
    /// alone (the reverse of `diffusersName`): kohya-ss names SDXL LoRA layers by these paths
    /// (`lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q`). The levels and layers
    /// are read off the names (`down_blocks.0.resnets.*`, which up levels attend).
    static func ldmModulePaths(diffusersWeights names: [String]) -> [String: String] {
        var resnetsPerLevel = 0
        var attendingUpLevels: Set<Int> = []
        for name in names {
            let p = LDMKey.parts(Substring(name))
            if p.count > 3, p[0] == "down_blocks", p[1] == "0", p[2] == "resnets", let l = Int(p[3]) {
                resnetsPerLevel = max(resnetsPerLevel, l + 1)
            }
            if p.count > 2, p[0] == "up_blocks", p[2] == "attentions", let b = Int(p[1]) { attendingUpLevels.insert(b) }
        }
        let stride = resnetsPerLevel + 1
        let inverseResnet = Dictionary(uniqueKeysWithValues: resnetLayers.map { ($1, $0) })
        var paths: [String: String] = [:]
        for name in names {
            let p = LDMKey.parts(Substring(name)).dropLast()  // the module path, without weight/bias
            let module = p.joined(separator: ".")
            guard paths[module] == nil, let ldm = ldmPath(Array(p), stride: stride, attendingUpLevels: attendingUpLevels,
                                                         inverseResnet: inverseResnet) else { continue }
            paths[module] = ldm
        }
        return paths
    }

    private static func ldmPath(_ p: [String], stride: Int, attendingUpLevels: Set<Int>,
                                inverseResnet: [String: String]) -> String? {
        func resnet(_ rest: ArraySlice<String>) -> String? { inverseResnet[rest.joined(separator: ".")] }
        let whole = p.joined(separator: ".")
        let fixed = ["conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
                     "time_embedding.linear_2": "time_embed.2", "add_embedding.linear_1": "label_emb.0.0",
                     "add_embedding.linear_2": "label_emb.0.2", "conv_norm_out": "out.0", "conv_out": "out.2"]
        if let path = fixed[whole] { return path }
        guard p.count >= 3 else { return nil }
        switch (p[0], p.count >= 4 ? p[2] : "") {
        case ("down_blocks", "resnets"):
            guard let b = Int(p[1]), let l = Int(p[3]), let sub = resnet(p[4...]) else { return nil }
            return "input_blocks.\(1 + b * stride + l).0.\(sub)"
        case ("down_blocks", "attentions"):
            guard let b = Int(p[1]), let l = Int(p[3]) else { return nil }
            return (["input_blocks.\(1 + b * stride + l).1"] + p[4...]).joined(separator: ".")
        case ("down_blocks", "downsamplers"):
            guard let b = Int(p[1]), p.count == 5, p[4] == "conv" else { return nil }
            return "input_blocks.\(1 + b * stride + stride - 1).0.op"
        case ("up_blocks", "resnets"):
            guard let b = Int(p[1]), let l = Int(p[3]), let sub = resnet(p[4...]) else { return nil }
            return "output_blocks.\(b * stride + l).0.\(sub)"
        case ("up_blocks", "attentions"):
            guard let b = Int(p[1]), let l = Int(p[3]) else { return nil }
            return (["output_blocks.\(b * stride + l).1"] + p[4...]).joined(separator: ".")
        case ("up_blocks", "upsamplers"):
            guard let b = Int(p[1]), p.count == 5, p[4] == "conv" else { return nil }
            return "output_blocks.\(b * stride + stride - 1).\(attendingUpLevels.contains(b) ? 2 : 1).conv"
        default:
            break
        }
        guard p[0] == "mid_block", p.count >= 3, let i = Int(p[2]) else { return nil }
        switch p[1] {
        case "resnets" where i < 2: return resnet(p[3...]).map { "middle_block.\(2 * i).\($0)" }
        case "attentions" where i == 0: return (["middle_block.1"] + p[3...]).joined(separator: ".")
        default: return nil
        }
    }
}

/// Where an LDM UNet's blocks resample and attend, by block number.
struct UNetBlockStructure: Equatable, CustomStringConvertible {
    var inputCount = 0
    var outputCount = 0
    var downsamplers: Set<Int> = []
    var upsamplers: Set<Int> = []
    var downAttentions: Set<Int> = []
    var upAttentions: Set<Int> = []

    init() {}

    /// The structure `names` (full names, under `prefix`) show.
    init(names: [String], prefix: String) {
        for name in names {
            let p = LDMKey.parts(name.dropFirst(prefix.count))
            guard p.count >= 4, p[0] == "input_blocks" || p[0] == "output_blocks", let i = Int(p[1]), let j = Int(p[2]) else {
                continue
            }
            if p[0] == "input_blocks" {
                inputCount = max(inputCount, i + 1)
                if j == 0, p[3] == "op" { downsamplers.insert(i) }
                if j == 1, i > 0 { downAttentions.insert(i) }
            } else {
                outputCount = max(outputCount, i + 1)
                if j >= 1, p[3] == "conv" { upsamplers.insert(i) } else if j == 1 { upAttentions.insert(i) }
            }
        }
    }

    var description: String {
        "\(inputCount) input blocks (downsamplers at \(downsamplers.sorted()), attentions at \(downAttentions.sorted())) and "
            + "\(outputCount) output blocks (upsamplers at \(upsamplers.sorted()), attentions at \(upAttentions.sorted()))"
    }
}
