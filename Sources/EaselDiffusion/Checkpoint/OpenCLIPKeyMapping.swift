import EaselTensor

/// SD 2.x's text encoder in a single file: OpenCLIP's `TextTransformer` under
/// `cond_stage_model.model.`, mapped onto transformers' `CLIPTextModel` names as diffusers'
/// `convert_open_clip_checkpoint` does (diffusers 0.42.1, `loaders/single_file_utils.py`).
///
/// ```
/// token_embedding.weight                  embeddings.token_embedding.weight
/// positional_embedding                    embeddings.position_embedding.weight
/// transformer.resblocks.N.attn.in_proj_*  encoder.layers.N.self_attn.{q,k,v}_proj.*  (rows split in 3)
/// transformer.resblocks.N.attn.out_proj   encoder.layers.N.self_attn.out_proj
/// transformer.resblocks.N.ln_1 / ln_2     encoder.layers.N.layer_norm1 / layer_norm2
/// transformer.resblocks.N.mlp.c_fc/c_proj encoder.layers.N.mlp.fc1 / fc2
/// ln_final                                final_layer_norm
/// ```
///
/// SD 2.x conditions on OpenCLIP's penultimate layer, so its diffusers text encoder has one
/// layer fewer than the file (23 of 24): the layer numbered `num_hidden_layers` is skipped,
/// as are `text_projection` and `logit_scale` (CLIP's image-text head, which `CLIPTextModel`
/// has not). A layer past that is a layout error.
///
/// SDXL's second encoder (`conditioner.embedders.1.model.`, `withProjection`) is a
/// `CLIPTextModelWithProjection` that runs every layer: no layer is skipped, and
/// `text_projection` (`[width, projection_dim]`, used as `x @ P`) is its
/// `text_projection.weight` transposed, as `convert_open_clip_checkpoint` stores it.
struct OpenCLIPKeyMapping {
    static let prefix = "cond_stage_model.model."
    static let sdxlPrefix = "conditioner.embedders.1.model."

    static let layerModules = [
        "attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
        "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
    ]

    /// Text-encoder layers the config builds.
    let layers: Int
    /// The prefix the encoder's names carry in the file.
    let prefix: String
    /// SDXL's encoder: the projection is a weight and the last layer is used.
    let withProjection: Bool

    init(config: SingleFileConfigFields, prefix: String = Self.prefix, withProjection: Bool = false) throws {
        layers = try config.int("num_hidden_layers")
        self.prefix = prefix
        self.withProjection = withProjection
    }

    /// Maps every `cond_stage_model.model.*` name in `names`; `shape` gives stored shapes.
    func map(_ names: [String], shape: (String) -> [Int]?, into mapping: inout SingleFileComponentMapping) throws {
        for name in names {
            try mapping.mapping(name) { mapping in
                try map(name, String(name.dropFirst(prefix.count)), stored: shape(name) ?? [], into: &mapping)
            }
        }
    }

    private func map(_ name: String, _ relative: String, stored: [Int], into mapping: inout SingleFileComponentMapping) throws {
        switch relative {
        case "token_embedding.weight":
            return try mapping.map(name, to: "embeddings.token_embedding.weight")
        case "positional_embedding":
            return try mapping.map(name, to: "embeddings.position_embedding.weight")
        case "ln_final.weight", "ln_final.bias":
            return try mapping.map(name, to: "final_layer_norm." + relative.dropFirst("ln_final.".count))
        case "text_projection" where withProjection:
            guard stored.count == 2 else {
                throw LDMKeyProblem.unknown("text_projection of shape \(stored) is not a matrix")
            }
            return try mapping.map(name, to: "text_projection.weight", shape: [stored[1], stored[0]]) {
                $0.transposed(0, 1)
            }
        case "text_projection", "logit_scale":
            return mapping.skip(name, .clipProjection)
        default:
            break
        }
        let p = LDMKey.parts(Substring(relative))
        guard p.count >= 5, p[0] == "transformer", p[1] == "resblocks" else {
            throw LDMKeyProblem.unknown("not a tensor of OpenCLIP's text encoder")
        }
        let layer = try LDMKey.index(p[2], "layer")
        let module = p[3...].joined(separator: ".")
        let target = "encoder.layers.\(layer)."
        let isFused = module == "attn.in_proj_weight" || module == "attn.in_proj_bias"
        var renamed: String?
        if !isFused, let param = p.last, LDMKey.isParameter(param) {
            renamed = Self.layerModules[p[3..<(p.count - 1)].joined(separator: ".")].map { $0 + "." + param }
        }
        guard isFused || renamed != nil else {
            throw LDMKeyProblem.unknown("not a parameter of an OpenCLIP residual attention block")
        }
        guard layer < layers || (layer == layers && !withProjection) else {
            throw LDMKeyProblem.layout("layer \(layer), but the text encoder config has num_hidden_layers \(layers)"
                                       + (withProjection ? "" : " (plus OpenCLIP's last, unused)"))
        }
        if layer == layers { return mapping.skip(name, .unusedTextEncoderLayer) }
        if let renamed { return try mapping.map(name, to: target + renamed) }
        try splitFused(name, bias: module.hasSuffix("bias"), stored: stored, target: target, into: &mapping)
    }

    /// `attn.in_proj_weight` `[3d, d]` (bias `[3d]`) is q, k and v stacked by rows.
    private func splitFused(_ name: String, bias: Bool, stored: [Int], target: String,
                            into mapping: inout SingleFileComponentMapping) throws {
        guard stored.count == (bias ? 1 : 2), stored[0] % 3 == 0, stored[0] > 0 else {
            throw LDMKeyProblem.unknown("fused attention projection of shape \(stored) does not split into q, k and v")
        }
        let width = stored[0] / 3
        let shape = bias ? [width] : [width, stored[1]]
        for (k, projection) in ["q_proj", "k_proj", "v_proj"].enumerated() {
            let rows = (k * width)..<((k + 1) * width)
            try mapping.map(name, to: target + "self_attn.\(projection).\(bias ? "bias" : "weight")", shape: shape) {
                $0.sliced(axis: 0, rows)
            }
        }
    }
}
