/// Checks, before any key is mapped, that the configs describe the file's tensors: the
/// widths a config fixes (channels, cross-attention and text widths, vocabulary) against
/// the shapes of the tensors that carry them. A single file has no config of its own, so a
/// wrong family or config folder shows here, as one clear message, rather than as dozens of
/// mis-shaped tensors later.
struct SingleFileConfigCheck {
    let archive: any TensorArchive
    let configs: SingleFileConfigs

    func run() throws {
        try checkUNet(SingleFileConfigFields(configs.unet, component: .unet))
        try checkVAE(SingleFileConfigFields(configs.vae, component: .vae))
        try checkTextEncoder(SingleFileConfigFields(configs.textEncoder, component: .textEncoder))
        if let config2 = configs.textEncoder2 {
            try checkTextEncoder(SingleFileConfigFields(config2, component: .textEncoder2),
                                 probes: [OpenCLIPKeyMapping.sdxlPrefix + "token_embedding.weight"])
        }
    }

    private func checkUNet(_ config: SingleFileConfigFields) throws {
        let unet = LDMUNetKeyMapping.prefix
        if let convIn = shape(unet + "input_blocks.0.0.weight"), convIn.count == 4 {
            try expect(config, "in_channels", try config.int("in_channels", default: 4), convIn[1], unet + "input_blocks.0.0.weight", convIn)
            try expect(config, "block_out_channels[0]", try config.ints("block_out_channels").first ?? -1, convIn[0],
                       unet + "input_blocks.0.0.weight", convIn)
        }
        if let convOut = shape(unet + "out.2.weight"), convOut.count == 4 {
            try expect(config, "out_channels", try config.int("out_channels", default: 4), convOut[0], unet + "out.2.weight", convOut)
        }
        if config.has("cross_attention_dim"), let width = try? config.int("cross_attention_dim"),
           let key = archive.names.first(where: { $0.hasPrefix(unet) && $0.hasSuffix(".attn2.to_k.weight") }),
           let toK = shape(key), toK.count == 2 {
            try expect(config, "cross_attention_dim", width, toK[1], key, toK)
        }
        let added = unet + "label_emb.0.0.weight"
        if let linear = shape(added), linear.count == 2 {
            guard config.has("projection_class_embeddings_input_dim") else {
                throw mismatch(config, "the file's UNet has an added embedding ('\(added)'), the config none")
            }
            try expect(config, "projection_class_embeddings_input_dim", try config.int("projection_class_embeddings_input_dim"),
                       linear[1], added, linear)
        }
    }

    private func checkVAE(_ config: SingleFileConfigFields) throws {
        let name = LDMVAEKeyMapping.prefix + "encoder.conv_in.weight"
        guard let convIn = shape(name), convIn.count == 4 else { return }
        try expect(config, "in_channels", try config.int("in_channels", default: 3), convIn[1], name, convIn)
        try expect(config, "block_out_channels[0]", try config.ints("block_out_channels").first ?? -1, convIn[0], name, convIn)
    }

    private func checkTextEncoder(_ config: SingleFileConfigFields,
                                  probes: [String] = SingleFileFamilyDetector.firstTextEncoderProbes) throws {
        guard let name = probes.first(where: { shape($0) != nil }), let table = shape(name), table.count == 2 else { return }
        try expect(config, "hidden_size", try config.int("hidden_size"), table[1], name, table)
        try expect(config, "vocab_size", try config.int("vocab_size", default: 49408), table[0], name, table)
    }

    private func shape(_ name: String) -> [Int]? { archive.info(name)?.shape }

    private func expect(_ config: SingleFileConfigFields, _ field: String, _ value: Int, _ found: Int,
                        _ tensor: String, _ shape: [Int]) throws {
        guard value != found else { return }
        throw mismatch(config, "config field '\(field)' is \(value), but '\(tensor)' has shape \(shape) (\(found))")
    }

    private func mismatch(_ config: SingleFileConfigFields, _ problem: String) -> SingleFileError {
        let advice = switch configs.origin {
        case let .builtIn(family):
            "the file is not a standard \(family) checkpoint; give its diffusers config folder, or name its family"
        case let .folder(url):
            "the config folder \(url.path) does not describe this checkpoint"
        }
        return SingleFileError.layoutMismatch(component: config.component.rawValue, file: archive.location,
                                              detail: "\(problem); \(advice)")
    }
}
