/// SD 1.x's text encoder in a single file: transformers' `CLIPTextModel` names under
/// `cond_stage_model.transformer.` (`text_model.embeddings...`, `text_model.encoder.layers.N...`,
/// or the same without `text_model.`, as diffusers also accepts). SDXL's first encoder, the same
/// CLIP ViT-L, is under SGM's `conditioner.embedders.0.transformer.`.
///
/// The names are exposed as current transformers (>= 5.6) and so diffusers 0.42 name them,
/// without the `text_model.` level (`convert_ldm_clip_checkpoint`, then the prefix removal in
/// `create_diffusers_clip_model_from_ldm`). The int64 `embeddings.position_ids` buffer is
/// skipped. Every name is checked against `CLIPTextModel`'s parameters, and layers must be
/// below the config's `num_hidden_layers`.
struct LDMCLIPKeyMapping {
    static let prefix = "cond_stage_model.transformer."
    static let sdxlPrefix = "conditioner.embedders.0.transformer."

    /// Text-encoder layers the config builds.
    let layers: Int
    /// The prefix the encoder's names carry in the file.
    let prefix: String

    init(config: SingleFileConfigFields, prefix: String = Self.prefix) throws {
        layers = try config.int("num_hidden_layers")
        self.prefix = prefix
    }

    func map(_ names: [String], into mapping: inout SingleFileComponentMapping) throws {
        for name in names {
            try mapping.mapping(name) { mapping in
                // diffusers strips the prefix, then `text_model.` if present: files saved with
                // a flattened CLIPTextModel load too.
                var relative = name.dropFirst(prefix.count)
                if relative.hasPrefix("text_model.") { relative = relative.dropFirst("text_model.".count) }
                let target = String(relative)
                if target == "embeddings.position_ids" {
                    mapping.skip(name, .positionIDs)
                    return
                }
                try CLIPTextParameterNames.check(target, layers: layers)
                try mapping.map(name, to: target)
            }
        }
    }
}

/// The parameter names of transformers' `CLIPTextModel` (flattened, without `text_model.`).
enum CLIPTextParameterNames {
    static let embeddings: Set = ["embeddings.token_embedding.weight", "embeddings.position_embedding.weight"]
    static let final: Set = ["final_layer_norm.weight", "final_layer_norm.bias"]
    static let layerModules: Set = [
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
        "layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2",
    ]

    /// Throws unless `name` is one of the model's parameters with a layer below `layers`.
    static func check(_ name: String, layers: Int) throws {
        if embeddings.contains(name) || final.contains(name) { return }
        let p = LDMKey.parts(Substring(name))
        guard p.count >= 5, p[0] == "encoder", p[1] == "layers", LDMKey.isParameter(p.last!),
              layerModules.contains(p[3..<(p.count - 1)].joined(separator: ".")) else {
            throw LDMKeyProblem.unknown("not a parameter of CLIP's text encoder")
        }
        let layer = try LDMKey.index(p[2], "layer")
        guard layer < layers else {
            throw LDMKeyProblem.layout("layer \(layer), but the text encoder config has num_hidden_layers \(layers)")
        }
    }
}
