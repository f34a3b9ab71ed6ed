import EaselTensor
import Foundation

/// A LoRA file and the scale it is fused with (`--lora PATH[:SCALE]`).
public struct LoRAAdapter: Sendable, Equatable, Codable {
    public var url: URL
    public var scale: Double

    public init(url: URL, scale: Double = 1) {
        self.url = url
        self.scale = scale
    }

    /// `PATH` or `PATH:SCALE` (the scale after the last colon, when it reads as a number, so
    /// a path may itself hold colons).
    public init(argument: String) {
        if let colon = argument.lastIndex(of: ":"), let scale = Double(argument[argument.index(after: colon)...]),
           scale.isFinite, colon != argument.startIndex {
            self.init(url: URL(fileURLWithPath: String(argument[..<colon])), scale: scale)
        } else {
            self.init(url: URL(fileURLWithPath: argument), scale: 1)
        }
    }

    /// `PATH:SCALE`, as `init(argument:)` reads it.
    public var argument: String { "\(url.path):\(scale)" }
}

/// The model a LoRA layer adapts.
public enum LoRAComponent: String, Sendable, CaseIterable {
    case unet = "UNet"
    case textEncoder = "text encoder"
    /// SDXL's second (OpenCLIP bigG) text encoder.
    case textEncoder2 = "second text encoder"
}

/// One adapted layer of a LoRA file: its low-rank factors and alpha.
struct LoRALayer: Sendable {
    /// How the file names the layer it adapts.
    enum Target: Sendable, Equatable {
        /// diffusers' dotted module path (`down_blocks.0.attentions.0.proj_in`).
        case module(String)
        /// kohya-ss's flattened name: the module path with every `.` written `_`.
        case flattened(String)
    }

    /// The layer's key in the file (the common prefix of its tensors), for messages.
    var key: String
    var component: LoRAComponent
    var target: Target
    /// Tensor names of the factors: `down` is `[rank, in(, kh, kw)]`, `up` `[out, rank(, 1, 1)]`.
    var down: String
    var up: String
    /// Tensor name of the layer's alpha (its scale is `alpha / rank`), if it has one.
    var alpha: String?
}

/// What a LoRA file holds, by layer, in any of the namings in use: kohya-ss
/// (`lora_unet_*` / `lora_te_*` with `.lora_down` / `.lora_up` / `.alpha`), diffusers' PEFT
/// naming (`unet.<module>.lora_A` / `.lora_B`) and diffusers' older ones
/// (`.processor.to_q_lora.down`, `.lora.down`, `.lora_linear_layer.down`); keys without a
/// component prefix belong to the UNet, as diffusers reads them.
struct LoRAFile: Sendable {
    let url: URL
    let archive: SafetensorsFile
    let layers: [LoRALayer]

    /// Factor suffixes and whether each is the down (A) factor.
    private static let factorSuffixes: [(suffix: String, isDown: Bool)] = [
        (".lora_down.weight", true), (".lora_up.weight", false),
        (".lora_A.weight", true), (".lora_B.weight", false),
        (".lora_linear_layer.down.weight", true), (".lora_linear_layer.up.weight", false),
        (".lora.down.weight", true), (".lora.up.weight", false),
        ("_lora.down.weight", true), ("_lora.up.weight", false),  // `.processor.to_q_lora.down.weight`
    ]

    /// Kinds of adapter that are not plain LoRA, by a key part that gives them away.
    private static let otherKinds: [(marker: String, kind: String)] = [
        (".dora_scale", "DoRA"), (".lora_magnitude_vector", "DoRA"), (".hada_", "LoHa"), (".lokr_", "LoKr"),
        (".lora_mid.", "LoCon with a Tucker core"),
    ]

    /// The kind of non-LoRA adapter tensor `name` belongs to, if it is one.
    private static func otherKind(_ name: String) -> String? {
        if name.hasSuffix(".diff") || name.hasSuffix(".diff_b") { return "a full weight difference" }
        return otherKinds.first { name.contains($0.marker) }?.kind
    }

    init(url: URL) throws {
        self.url = url
        do {
            archive = try SafetensorsFile(url: url)
        } catch {
            throw LoRAError.unreadable(file: url.path, reason: "\(error)")
        }
        var downs: [String: String] = [:], ups: [String: String] = [:], alphas: [String: String] = [:]
        var unknown: [String] = []
        for name in archive.names {
            if let kind = Self.otherKind(name) {
                throw LoRAError.unsupportedKind(file: url.path, kind: kind, key: name)
            }
            if name.hasSuffix(".alpha") {
                alphas[String(name.dropLast(".alpha".count))] = name
            } else if let factor = Self.factorSuffixes.first(where: { name.hasSuffix($0.suffix) }) {
                var key = String(name.dropLast(factor.suffix.count))
                if factor.suffix.hasPrefix("_lora") { key += "_lora" }
                if factor.isDown { downs[key] = name } else { ups[key] = name }
            } else {
                unknown.append(name)
            }
        }
        guard unknown.isEmpty else { throw LoRAError.unknownKeys(file: url.path, keys: unknown) }
        var layers: [LoRALayer] = []
        for key in Set(downs.keys).union(ups.keys).sorted() {
            guard let down = downs[key], let up = ups[key] else {
                throw LoRAError.unpaired(file: url.path, key: downs[key] ?? ups[key] ?? key)
            }
            let (component, target) = Self.target(of: key, file: url.path)
            // kohya keys their alpha by the layer name, diffusers by the module path.
            layers.append(LoRALayer(key: key, component: component, target: target, down: down, up: up,
                                    alpha: alphas[key]))
        }
        guard !layers.isEmpty else { throw LoRAError.empty(file: url.path) }
        self.layers = layers
    }

    /// Which model and layer `key` adapts.
    private static func target(of key: String, file: String) -> (LoRAComponent, LoRALayer.Target) {
        let flattened: [(String, LoRAComponent)] = [
            ("lora_unet_", .unet), ("lora_te_", .textEncoder), ("lora_te1_", .textEncoder), ("lora_te2_", .textEncoder2),
        ]
        for (prefix, component) in flattened where key.hasPrefix(prefix) {
            return (component, .flattened(String(key.dropFirst(prefix.count))))
        }
        for (prefix, component) in [("unet.", LoRAComponent.unet), ("text_encoder.", .textEncoder), ("text_encoder_2.", .textEncoder2)]
        where key.hasPrefix(prefix) {
            return (component, .module(modulePath(String(key.dropFirst(prefix.count)))))
        }
        return (.unet, .module(modulePath(key)))
    }

    /// diffusers' attention-processor spelling (`attn1.processor.to_out_lora`) as the module
    /// it adapts (`attn1.to_out.0`).
    private static func modulePath(_ path: String) -> String {
        guard path.hasSuffix("_lora"), let processor = path.range(of: ".processor.", options: .backwards) else {
            return path
        }
        let projection = path[processor.upperBound...].dropLast("_lora".count)
        let attention = path[..<processor.lowerBound]
        return "\(attention).\(projection == "to_out" ? "to_out.0" : String(projection))"
    }

    /// Factor or alpha tensor `name` as float32.
    func tensor(_ name: String) throws -> Tensor {
        do {
            return try archive.tensor(name)
        } catch {
            throw LoRAError.unreadable(file: url.path, reason: "\(error)")
        }
    }
}
