import EaselTensor
import Foundation

/// A single-file Stable Diffusion checkpoint in the original CompVis/LDM layout — one
/// `.safetensors` as model hubs distribute SD 1.x and 2.x, and SDXL in SGM's layout —
/// presented as the diffusers components it holds: per component, the weights under
/// diffusers' names and the config a diffusers folder would give. The one place where
/// LDM/SGM names become diffusers names.
///
/// ```
/// model.diffusion_model.*    -> unet          (LDMUNetKeyMapping)
/// first_stage_model.*        -> vae           (LDMVAEKeyMapping)
/// cond_stage_model.transformer.* (CLIP, SD 1.x)  -> text_encoder  (LDMCLIPKeyMapping)
/// cond_stage_model.model.*   (OpenCLIP, SD 2.x)  -> text_encoder  (OpenCLIPKeyMapping)
/// conditioner.embedders.0.transformer.* (CLIP, SDXL)  -> text_encoder    (LDMCLIPKeyMapping)
/// conditioner.embedders.1.model.* (OpenCLIP, SDXL)    -> text_encoder_2  (OpenCLIPKeyMapping)
/// ```
///
/// What else such files carry is recognised and skipped (`skipped` lists it): the DDPM
/// noise-schedule buffers (SGM's `denoiser.sigmas` too), EMA copies and counters
/// (`model_ema.*`), `position_ids`, SD 2.x's last OpenCLIP layer and `text_projection`,
/// `logit_scale`, `global_step`. Any other tensor is an error naming it. Every weight is checked against the layout's grammar when
/// the file is opened; missing, mis-shaped or unused weights are reported by the
/// `StrictWeights` a model is built from, under diffusers' names.
///
/// ```swift
/// let checkpoint = try SingleFileCheckpoint(url: file)          // or familyOverride: .sd2Base
/// let unetConfig = try ConfigFile.decode(UNet2DConditionConfig.self, from: checkpoint.configs.unet, path: ...)
/// let weights = checkpoint.weights(for: .unet)                  // build the UNet, then
/// try weights.checkAllConsumed()
/// ```
public struct SingleFileCheckpoint: Sendable {
    /// Where the file is.
    public let location: String
    /// The family the checkpoint is loaded as: the caller's override, else the detected one.
    public let family: SingleFileFamily
    /// What the tensors say the family is; nil when they do not tell and an override decided.
    public let detection: SingleFileFamilyDetection?
    /// The components' configs (from the config folder, else the family's).
    public let configs: SingleFileConfigs
    /// The components the file holds (`text_encoder_2` for SDXL only).
    public let components: [SingleFileComponent]
    /// Tensors of the file recognised as not being weights of the components.
    public let skipped: [SingleFileSkippedTensor]
    private let archives: [SingleFileComponent: RenamedArchive]

    /// Top-level buffers of LDM's `DDPM`/`LatentDiffusion` (`register_schedule`), besides `posterior_*`.
    static let noiseScheduleBuffers: Set = [
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "logvar", "lvlb_weights",
    ]

    /// Opens the file at `url` (its header validated in full) and maps it.
    ///
    /// - Parameters:
    ///   - familyOverride: the family to load the file as, whatever the tensors suggest; it
    ///     chooses the built-in configs and the padding token. SD 2.x 512-base files must be
    ///     named `.sd2Base` (their tensors cannot tell them from 768-v; see `SingleFileFamilyDetector`).
    ///   - configFolder: a diffusers folder whose component configs (and tokenizer's padding
    ///     token) to use instead of the family's, as diffusers' `from_single_file(config=)`.
    public init(url: URL, familyOverride: SingleFileFamily? = nil, configFolder: URL? = nil) throws {
        let file = try SafetensorsFile(url: url)
        try self.init(archive: file, familyOverride: familyOverride, configFolder: configFolder,
                      globalStep: Self.globalStep(in: file))
    }

    /// Maps the tensors of `archive`, a single file's (tests give shape-only archives).
    public init(archive: any TensorArchive, familyOverride: SingleFileFamily? = nil, configFolder: URL? = nil,
                globalStep: Int? = nil) throws {
        location = archive.location
        let split = try SingleFileSplit(archive)
        var detected: SingleFileFamilyDetection?
        do {
            detected = try SingleFileFamilyDetector.detect(archive, globalStep: globalStep)
        } catch where familyOverride != nil {
            detected = nil  // the caller names the family; the tensors need not tell it
        }
        detection = detected
        let family = familyOverride ?? detected!.family
        self.family = family
        configs = try configFolder.map { try SingleFileConfigs.folder($0, family: family) } ?? .builtIn(family)
        try SingleFileConfigCheck(archive: archive, configs: configs).run()

        let shape = { (name: String) in archive.info(name)?.shape }
        var unet = SingleFileComponentMapping(component: .unet, file: location)
        try LDMUNetKeyMapping(config: SingleFileConfigFields(configs.unet, component: .unet))
            .map(try split.names(.unet, family: family), into: &unet)
        var vae = SingleFileComponentMapping(component: .vae, file: location)
        try LDMVAEKeyMapping(config: SingleFileConfigFields(configs.vae, component: .vae))
            .map(try split.names(.vae, family: family), shape: shape, into: &vae)
        var text = SingleFileComponentMapping(component: .textEncoder, file: location)
        let textConfig = try SingleFileConfigFields(configs.textEncoder, component: .textEncoder)
        var mappings = [unet, vae]
        if family.hasSecondTextEncoder {
            try LDMCLIPKeyMapping(config: textConfig, prefix: LDMCLIPKeyMapping.sdxlPrefix)
                .map(try split.names(.textEncoder, family: family), into: &text)
            guard let config2 = configs.textEncoder2 else {
                throw SingleFileError.invalidConfig(component: SingleFileComponent.textEncoder2.rawValue, field: "",
                                                    reason: "SDXL needs the second text encoder's config")
            }
            var text2 = SingleFileComponentMapping(component: .textEncoder2, file: location)
            try OpenCLIPKeyMapping(config: SingleFileConfigFields(config2, component: .textEncoder2),
                                   prefix: OpenCLIPKeyMapping.sdxlPrefix, withProjection: true)
                .map(try split.names(.textEncoder2, family: family), shape: shape, into: &text2)
            mappings += [text, text2]
        } else if split.usesOpenCLIP {
            try OpenCLIPKeyMapping(config: textConfig).map(try split.names(.textEncoder, family: family), shape: shape, into: &text)
            mappings.append(text)
        } else {
            try LDMCLIPKeyMapping(config: textConfig).map(try split.names(.textEncoder, family: family), into: &text)
            mappings.append(text)
        }

        components = mappings.map(\.component)
        skipped = (split.skipped + mappings.flatMap(\.skipped)).sorted { $0.name < $1.name }
        archives = Dictionary(uniqueKeysWithValues: mappings.map {
            ($0.component, RenamedArchive(base: archive, mapping: $0.sources))
        })
    }

    /// `component`'s tensors under diffusers' names (lenient lookups); empty for a component
    /// the file does not hold (`components`).
    public func archive(for component: SingleFileComponent) -> RenamedArchive {
        archives[component] ?? RenamedArchive(base: InMemoryArchive([:], location: location), mapping: [:])
    }

    /// A fresh strict weight source over `component`'s tensors, to build one model from.
    public func weights(for component: SingleFileComponent, matrixType: ElementType = .float32) -> StrictWeights {
        StrictWeights(archive(for: component), matrixType: matrixType)
    }

    /// The training step the file records, if any (diffusers reads it to tell SD 2.x 512-base).
    static func globalStep(in file: SafetensorsFile) -> Int? {
        guard let entry = file.entry("global_step"), entry.shape.reduce(1, *) == 1 else { return nil }
        return try? file.withRawBytes(of: "global_step") { entry, bytes -> Int? in
            switch entry.dtype {
            case .i64: Int(bytes.loadUnaligned(as: Int64.self).littleEndian)
            case .i32: Int(bytes.loadUnaligned(as: Int32.self).littleEndian)
            default: nil
            }
        }
    }
}

/// A single file's tensor names sorted by component prefix; everything that is not under a
/// component is recognised as skippable or is an error. LDM's text-encoder prefixes
/// (`cond_stage_model.`) and SGM's (`conditioner.embedders.`) may not be mixed.
struct SingleFileSplit {
    private var byComponent: [SingleFileComponent: [String]] = [:]
    private(set) var skipped: [SingleFileSkippedTensor] = []
    private(set) var usesOpenCLIP = false
    private var sdxlText: [String] = [], sdxlText2: [String] = []
    private let location: String

    init(_ archive: any TensorArchive) throws {
        location = archive.location
        var clip: [String] = [], openCLIP: [String] = []
        for name in archive.names {
            if name.hasPrefix(LDMUNetKeyMapping.prefix) {
                byComponent[.unet, default: []].append(name)
            } else if name.hasPrefix(LDMVAEKeyMapping.prefix) {
                byComponent[.vae, default: []].append(name)
            } else if name.hasPrefix(LDMCLIPKeyMapping.prefix) {
                clip.append(name)
            } else if name.hasPrefix(OpenCLIPKeyMapping.prefix) {
                openCLIP.append(name)
            } else if name.hasPrefix(LDMCLIPKeyMapping.sdxlPrefix) {
                sdxlText.append(name)
            } else if name.hasPrefix(OpenCLIPKeyMapping.sdxlPrefix) {
                sdxlText2.append(name)
            } else if name.hasPrefix("conditioner.embedders.0.model.") {
                throw SingleFileError.sdxlRefiner(file: location, reason: "its first text encoder is OpenCLIP ('\(name)')")
            } else if name.hasPrefix("model_ema.") {
                skipped.append(.init(name: name, reason: .ema))
            } else if SingleFileCheckpoint.noiseScheduleBuffers.contains(name)
                        || (name.hasPrefix("posterior_") && !name.contains("."))
                        || name == "denoiser.sigmas" || name == "denoiser.log_sigmas" {
                skipped.append(.init(name: name, reason: .noiseSchedule))
            } else if name == "global_step" {
                skipped.append(.init(name: name, reason: .trainingStep))
            } else {
                throw SingleFileError.unknownTensor(
                    name: name, file: location,
                    reason: "not under model.diffusion_model., first_stage_model., cond_stage_model. or "
                        + "conditioner.embedders.0/1., and not a known buffer or EMA copy")
            }
        }
        if !clip.isEmpty, !openCLIP.isEmpty {
            throw SingleFileError.unknownTensor(
                name: openCLIP[0], file: location,
                reason: "the file has both a CLIP (cond_stage_model.transformer.) and an OpenCLIP text encoder")
        }
        if !(clip + openCLIP).isEmpty, let sgm = (sdxlText + sdxlText2).first {
            throw SingleFileError.unknownTensor(
                name: sgm, file: location,
                reason: "the file has text encoders in both LDM's (cond_stage_model.) and SGM's (conditioner.embedders.) layout")
        }
        usesOpenCLIP = !openCLIP.isEmpty
        byComponent[.textEncoder] = usesOpenCLIP ? openCLIP : clip
    }

    /// The names under `component`'s prefix in `family`'s layout, which must not be empty.
    func names(_ component: SingleFileComponent, family: SingleFileFamily) throws -> [String] {
        let names: [String]? = switch (component, family.hasSecondTextEncoder) {
        case (.textEncoder, true): sdxlText
        case (.textEncoder2, _): sdxlText2
        default: byComponent[component]
        }
        guard let names, !names.isEmpty else {
            let prefix = switch component {
            case .unet: LDMUNetKeyMapping.prefix
            case .vae: LDMVAEKeyMapping.prefix
            case .textEncoder: family.hasSecondTextEncoder ? LDMCLIPKeyMapping.sdxlPrefix : "cond_stage_model."
            case .textEncoder2: OpenCLIPKeyMapping.sdxlPrefix
            }
            throw SingleFileError.missingComponent(component: component.rawValue, prefix: prefix, file: location)
        }
        return names
    }
}
