import Foundation

/// Which Stable Diffusion a single-file checkpoint holds, as far as loading and running it
/// goes: the text encoder, the configs of the components and the usual scheduler.
///
/// - `sd1`: SD 1.x. CLIP ViT-L/14 text encoder (width 768), epsilon prediction, 512x512;
///   configs as `stable-diffusion-v1-5/stable-diffusion-v1-5`.
/// - `sd2`: SD 2.x 768-v. OpenCLIP ViT-H/14 text encoder (width 1024, penultimate layer),
///   v-prediction, 768x768; configs as `stabilityai/stable-diffusion-2-1`.
/// - `sd2Base`: SD 2.x 512-base. Same architecture as `sd2` but epsilon prediction at
///   512x512; configs as `stabilityai/stable-diffusion-2-1-base`.
/// - `sdxl`: SDXL base, in SGM's layout (`conditioner.embedders.*`). CLIP ViT-L/14 and
///   OpenCLIP bigG/14 with its projection, the `text_time` added embedding, epsilon, 1024x1024;
///   configs as `stabilityai/stable-diffusion-xl-base-1.0`. Its fine-tunes and few-step
///   variants (Turbo, Lightning) are the same tensors.
public enum SingleFileFamily: String, Sendable, CaseIterable, CustomStringConvertible {
    case sd1 = "sd1"
    case sd2 = "sd2"
    case sd2Base = "sd2-base"
    case sdxl = "sdxl"

    /// Whether the family's (only) text encoder is OpenCLIP's (SD 2.x).
    public var usesOpenCLIP: Bool { self == .sd2 || self == .sd2Base }

    /// The scheduler's `prediction_type`.
    public var predictionType: String { self == .sd2 ? "v_prediction" : "epsilon" }

    /// The (first) tokenizer's padding token: SD 2.x pads with "!", SD 1.x and SDXL's first
    /// tokenizer with the end token (SDXL's second pads with "!").
    public var padToken: String { usesOpenCLIP ? "!" : "<|endoftext|>" }

    /// Whether the family has a second text encoder (`text_encoder_2`).
    public var hasSecondTextEncoder: Bool { self == .sdxl }

    public var description: String {
        switch self {
        case .sd1: "SD 1.x"
        case .sd2: "SD 2.x (768-v, v-prediction)"
        case .sd2Base: "SD 2.x (512-base, epsilon)"
        case .sdxl: "SDXL"
        }
    }
}

/// The family a single file was found to be, and what gave it away.
public struct SingleFileFamilyDetection: Sendable, Equatable {
    public var family: SingleFileFamily
    /// The evidence, for logs and error messages.
    public var reason: String
}

/// Tells the family from the tensors' names and shapes, as diffusers' single-file loader
/// does (`infer_diffusers_model_type` and `_legacy_load_scheduler` in diffusers 0.42.1,
/// `loaders/single_file_utils.py`).
///
/// SDXL: SGM's second embedder, OpenCLIP under `conditioner.embedders.1.model.`, is SDXL base
/// (diffusers probes one of its layers). OpenCLIP as the *first* embedder
/// (`conditioner.embedders.0.model.`, and no CLIP) is the SDXL refiner, which is refused. A file
/// without text encoders is SDXL when its UNet has the added embedding (`label_emb`) and
/// 2048-wide cross-attention (1280 is the refiner's).
///
/// SD 1.x or 2.x: the text encoder's keys decide — OpenCLIP's `cond_stage_model.model.*` is
/// SD 2.x, transformers' CLIP under `cond_stage_model.transformer.*` is SD 1.x. A file without
/// a text encoder falls back on diffusers' own probe, the width of the UNet's cross-attention
/// keys (`input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight`): 1024 is SD 2.x, 768 SD 1.x.
///
/// Epsilon or v-prediction cannot be told from SD 2.x weights: 512-base and 768-v have the
/// same tensors. diffusers resolves every SD 2.x single file to
/// `stabilityai/stable-diffusion-2-1` (768-v, v-prediction) unless the checkpoint records
/// the 512-base's last training step (`global_step` 875000), and so does this. Callers who
/// know better name the family (`sd2-base`); the name always overrides detection.
enum SingleFileFamilyDetector {
    static let openCLIPProbe = "cond_stage_model.model.token_embedding.weight"
    static let clipProbes = [
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
        "cond_stage_model.transformer.embeddings.token_embedding.weight",
    ]
    /// The token table of a (first) text encoder: SD 2.x's OpenCLIP, SD 1.x's CLIP, SDXL's CLIP.
    static let firstTextEncoderProbes = [openCLIPProbe] + clipProbes
        + ["conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight",
           "conditioner.embedders.0.transformer.embeddings.token_embedding.weight"]
    static let crossAttentionProbe = "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"
    /// The last training step of SD 2.x 512-base, which diffusers takes as "epsilon".
    static let sd2BaseGlobalStep = 875_000

    static let sdxlProbe = "conditioner.embedders.1.model.positional_embedding"
    static let refinerProbe = "conditioner.embedders.0.model.positional_embedding"
    static let addedEmbeddingProbe = "model.diffusion_model.label_emb.0.0.weight"

    static func detect(_ archive: any TensorArchive, globalStep: Int?) throws -> SingleFileFamilyDetection {
        if archive.info(sdxlProbe) != nil {
            return SingleFileFamilyDetection(family: .sdxl, reason: "SGM's second text encoder, OpenCLIP ('\(sdxlProbe)')")
        }
        if archive.info(refinerProbe) != nil {
            throw SingleFileError.sdxlRefiner(file: archive.location, reason: "its only text encoder is OpenCLIP ('\(refinerProbe)')")
        }
        let generation: Int
        var reason: String
        if archive.info(openCLIPProbe) != nil {
            generation = 2
            reason = "OpenCLIP text encoder ('\(openCLIPProbe)')"
        } else if let probe = clipProbes.first(where: { archive.info($0) != nil }) {
            generation = 1
            reason = "CLIP text encoder ('\(probe)')"
        } else if archive.info(addedEmbeddingProbe) != nil {
            // No text encoder: the UNet tells SDXL (added embedding, 2048-wide cross-attention).
            switch crossAttentionWidth(archive) {
            case 2048:
                return SingleFileFamilyDetection(family: .sdxl, reason: "no text encoder; UNet added embedding and cross-attention width 2048")
            case 1280:
                throw SingleFileError.sdxlRefiner(file: archive.location, reason: "no text encoder; cross-attention width 1280")
            case let width:
                throw SingleFileError.unknownFamily(
                    file: archive.location,
                    reason: "a UNet with an added embedding (label_emb) and a cross-attention width of \(width.map(String.init) ?? "none"), not SDXL's 2048")
            }
        } else if let width = crossAttentionWidth(archive) {
            switch width {
            case 1024: generation = 2
            case 768: generation = 1
            default:
                throw SingleFileError.unknownFamily(
                    file: archive.location, reason: "no text encoder, and a cross-attention width of \(width), not 768 or 1024")
            }
            reason = "UNet cross-attention width \(width)"
        } else {
            throw SingleFileError.unknownFamily(
                file: archive.location, reason: "no text encoder and no UNet cross-attention keys")
        }
        guard generation == 2 else { return SingleFileFamilyDetection(family: .sd1, reason: reason) }
        if globalStep == sd2BaseGlobalStep {
            reason += "; global_step \(sd2BaseGlobalStep) marks the 512-base (epsilon)"
            return SingleFileFamilyDetection(family: .sd2Base, reason: reason)
        }
        reason += "; SD 2.x files are taken as 768-v (v-prediction), as diffusers does"
        return SingleFileFamilyDetection(family: .sd2, reason: reason)
    }

    /// The width the UNet's cross-attention keys project from: diffusers' probe, else the
    /// first `attn2.to_k.weight` (small models have other block layouts).
    static func crossAttentionWidth(_ archive: any TensorArchive) -> Int? {
        if let shape = archive.info(crossAttentionProbe)?.shape { return shape.last }
        let name = archive.names.first {
            $0.hasPrefix(LDMUNetKeyMapping.prefix) && $0.hasSuffix(".attn2.to_k.weight")
        }
        return name.flatMap { archive.info($0)?.shape.last }
    }
}
