import EaselDiffusion
import Foundation

/// What an installed model is beyond its checkpoint, and what its jobs get when a request
/// leaves a field out: `easel models add BASE --name NAME [--lora FILE[:SCALE]]...
/// [--tiny-autoencoder PATH] [--scheduler S] [--steps N] [--guidance G] [--width W --height H]`.
/// This is how Leap's "custom model" maps onto Easel: a base checkpoint plus a fine-tune.
///
/// Stored with the model (as JSON); every path is relative to the data directory unless
/// absolute (a linked install).
public struct ModelRecipe: Codable, Sendable, Equatable {
    /// One LoRA fused into the base at load.
    public struct LoRA: Codable, Sendable, Equatable {
        /// The file's name as given at install.
        public var name: String
        public var path: String
        public var scale: Double

        public init(name: String, path: String, scale: Double) {
            self.name = name
            self.path = path
            self.scale = scale
        }
    }

    /// The checkpoint the model was installed from (its file or folder name).
    public var base: String?
    public var loras: [LoRA]
    /// A tiny autoencoder (TAESD) the model decodes with, and whose name it was given as.
    public var tinyAutoencoder: String?
    public var tinyAutoencoderName: String?
    /// The scheduler jobs run with (nil: the checkpoint's own).
    public var scheduler: String?
    public var steps: Int?
    /// Leap's `promptStrength`.
    public var guidance: Double?
    public var width: Int?
    public var height: Int?
    /// The size the UNet was trained at, measured when the model was installed.
    public var nativeWidth: Int?
    public var nativeHeight: Int?

    public init(base: String? = nil, loras: [LoRA] = [], tinyAutoencoder: String? = nil, tinyAutoencoderName: String? = nil,
                scheduler: String? = nil, steps: Int? = nil, guidance: Double? = nil, width: Int? = nil,
                height: Int? = nil, nativeWidth: Int? = nil, nativeHeight: Int? = nil) {
        self.base = base
        self.loras = loras
        self.tinyAutoencoder = tinyAutoencoder
        self.tinyAutoencoderName = tinyAutoencoderName
        self.scheduler = scheduler
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
        self.nativeWidth = nativeWidth
        self.nativeHeight = nativeHeight
    }

    /// A model installed before recipes existed.
    public static let none = ModelRecipe()

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            base: try c.decodeIfPresent(String.self, forKey: .base),
            loras: try c.decodeIfPresent([LoRA].self, forKey: .loras) ?? [],
            tinyAutoencoder: try c.decodeIfPresent(String.self, forKey: .tinyAutoencoder),
            tinyAutoencoderName: try c.decodeIfPresent(String.self, forKey: .tinyAutoencoderName),
            scheduler: try c.decodeIfPresent(String.self, forKey: .scheduler),
            steps: try c.decodeIfPresent(Int.self, forKey: .steps),
            guidance: try c.decodeIfPresent(Double.self, forKey: .guidance),
            width: try c.decodeIfPresent(Int.self, forKey: .width),
            height: try c.decodeIfPresent(Int.self, forKey: .height),
            nativeWidth: try c.decodeIfPresent(Int.self, forKey: .nativeWidth),
            nativeHeight: try c.decodeIfPresent(Int.self, forKey: .nativeHeight))
    }

    /// The stored form.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public init(json: String) throws {
        self = try JSONDecoder().decode(ModelRecipe.self, from: Data(json.utf8))
    }
}

/// What a job on a model gets for each field its request leaves out: the model's recipe,
/// else its native size and Leap's defaults.
public struct JobDefaults: Sendable, Equatable {
    public var steps: Int
    public var guidance: Double
    public var width: Int
    public var height: Int

    public init(steps: Int = LeapDefaults.steps, guidance: Double = LeapDefaults.guidanceScale,
                width: Int = LeapDefaults.size, height: Int = LeapDefaults.size) {
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
    }

    /// Leap's own, for a model nothing is known about.
    public static let leap = JobDefaults()
}

/// What `easel models add` is asked to build around a checkpoint (before it is checked).
public struct ModelRecipeOptions: Sendable, Equatable {
    public var loras: [LoRAAdapter]
    public var tinyAutoencoder: URL?
    public var scheduler: String?
    public var steps: Int?
    public var guidance: Double?
    public var width: Int?
    public var height: Int?

    public init(loras: [LoRAAdapter] = [], tinyAutoencoder: URL? = nil, scheduler: String? = nil, steps: Int? = nil,
                guidance: Double? = nil, width: Int? = nil, height: Int? = nil) {
        self.loras = loras
        self.tinyAutoencoder = tinyAutoencoder
        self.scheduler = scheduler
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
    }

    /// Every way the values break Leap's rules (the files are checked by loading them).
    public func problems() -> [String] {
        var problems: [String] = []
        if let scheduler {
            do { _ = try SchedulerName(parsing: scheduler) } catch { problems.append("\(error)") }
        }
        if let steps, steps < 1 || steps > 1000 { problems.append("--steps must be between 1 and 1000 (got \(steps))") }
        if let guidance, !(0...LeapDefaults.maxGuidanceScale).contains(guidance) {
            problems.append("--guidance must be between 0 and \(LeapDefaults.maxGuidanceScale) (got \(guidance))")
        }
        for (flag, value) in [("--width", width), ("--height", height)] {
            if let value, value < LeapDefaults.minSize || value > 8192 || value % 8 != 0 {
                problems.append("\(flag) must be a multiple of 8 from \(LeapDefaults.minSize) to 8192 (got \(value))")
            }
        }
        for lora in loras where !lora.scale.isFinite {
            problems.append("--lora \(lora.url.path): the scale must be a finite number")
        }
        return problems
    }
}
