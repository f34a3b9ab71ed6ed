import EaselDiffusion
import Foundation

/// A `CreateInferenceDto` body that passed every rule, with Leap's defaults applied.
struct ValidatedInference: Sendable {
    var parameters: GenerationRequest
    var webhookUrl: String?

    /// Identifies the request for `Idempotency-Key` reuse checks.
    func fingerprint(modelId: String) -> String {
        let p = parameters
        let fields: [String] = [
            modelId, p.prompt, p.negativePrompt ?? "", "\(p.steps)", "\(p.width)x\(p.height)", "\(p.count)",
            "\(p.guidanceScale)", "\(p.seed)", p.initImage.map { "\($0.strength)" } ?? "-", webhookUrl ?? "",
        ]
        var data = Data(fields.joined(separator: "\u{0}").utf8)
        if let image = p.initImage?.image { data.append(contentsOf: image.pixels) }
        return Credentials.digest(data)
    }
}

/// Checks a submit body against Leap's rules and this server's limits, collecting every
/// problem (class-validator wording) rather than stopping at the first.
/// Leap's defaults and limits come from `LeapDefaults`; the operator's from `ServerLimits`.
struct CreateInferenceValidator: Sendable {
    static let maxSeed = LeapDefaults.maxSeed
    /// Largest side checked before the pixel limits (which are the operator's).
    static let maxDimension = 65536

    let limits: ServerLimits
    let allowPrivateWebhooks: Bool

    /// `defaults` fill the fields the body leaves out: the model's (`InstalledModel.defaults`).
    func validate(_ body: Data, defaults: JobDefaults = .leap) -> Result<ValidatedInference, APIError> {
        RequestJSON.object(body).flatMap { validate(object: $0, defaults: defaults) }
    }

    /// Checks an already parsed body (a JSON object); other front doors (the OpenAI route)
    /// translate their request into Leap's fields and come here, so the rules have one owner.
    func validate(object: JSONValue, defaults: JobDefaults = .leap) -> Result<ValidatedInference, APIError> {
        var problems: [String] = []
        // JSON null means "not given", as with class-validator's @IsOptional.
        func field(_ name: String) -> JSONValue? {
            if case .null = object[name] ?? .null { return nil }
            return object[name]
        }

        let prompt = text("prompt", field("prompt"), required: true, problems: &problems)
        let negativePrompt =
            text("negativePrompt", field("negativePrompt"), required: false, problems: &problems)
            ?? LeapDefaults.negativePrompt
        let steps = integer("steps", field("steps"), min: 1, max: limits.maxSteps, problems: &problems)
        let width = dimension("width", field("width"), problems: &problems)
        let height = dimension("height", field("height"), problems: &problems)
        let count = integer("numberOfImages", field("numberOfImages"), min: 1, max: LeapDefaults.maxCount,
                            problems: &problems)
        let guidance = number("promptStrength", field("promptStrength"), min: 0, max: LeapDefaults.maxGuidanceScale,
                              problems: &problems)
        let seed = integer("seed", field("seed"), min: 0, max: Self.maxSeed, problems: &problems)
        let webhookUrl = webhook(field("webhookUrl"), problems: &problems)
        let start = initImage(field("initImage"), strength: field("strength"), steps: steps ?? defaults.steps,
                              problems: &problems)

        // Each factor is at most maxDimension (65536) and numberOfImages at most 4, so these
        // products cannot overflow; they are only formed once every factor passed its check.
        // An init image's own size is the default, and a size given must match it.
        let w = width ?? start?.image.width ?? defaults.width
        let h = height ?? start?.image.height ?? defaults.height
        let n = count ?? LeapDefaults.count
        if let image = start?.image, width != nil || height != nil, (w, h) != (image.width, image.height) {
            problems.append(
                "width and height must match the initImage's size (\(image.width)x\(image.height)), or be left out")
        }
        if width != nil || field("width") == nil, height != nil || field("height") == nil {
            if w * h > limits.maxPixelsPerImage {
                problems.append(
                    "width x height must not be greater than \(limits.maxPixelsPerImage) pixels (this server's limit per image)"
                )
            } else if w * h * n > limits.maxPixelsPerJob {
                problems.append(
                    "width x height x numberOfImages must not be greater than \(limits.maxPixelsPerJob) pixels (this server's limit per job)"
                )
            }
        }
        guard problems.isEmpty, let prompt else { return .failure(.badRequest(problems)) }
        let parameters = GenerationRequest(
            prompt: prompt, negativePrompt: negativePrompt, steps: steps ?? defaults.steps, width: w, height: h,
            seed: seed.map { UInt64($0) } ?? LeapDefaults.seed, guidanceScale: guidance ?? defaults.guidance,
            count: n, initImage: start)
        return .success(ValidatedInference(parameters: parameters, webhookUrl: webhookUrl))
    }

    func text(_ name: String, _ value: JSONValue?, required: Bool, problems: inout [String]) -> String? {
        guard let value else {
            if required { problems += ["\(name) should not be empty", "\(name) must be a string"] }
            return nil
        }
        guard case .string(let string) = value else {
            problems.append("\(name) must be a string")
            return nil
        }
        if let problem = TextRules.controlCharacterProblem(name, string, allowing: TextRules.lineBreaksAndTab) {
            problems.append(problem)
            return nil
        }
        if required && string.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            problems.append("\(name) should not be empty")
            return nil
        }
        // Code points, not grapheme clusters: "a" and 10,000 combining accents is one
        // Character but 10,001 scalars of work for the tokenizer and the store.
        if string.unicodeScalars.count > limits.maxPromptLength {
            problems.append(
                "\(name) must be shorter than or equal to \(limits.maxPromptLength) characters (Unicode code points; this server's limit)")
            return nil
        }
        return string
    }

    /// A finite number within `min...max`; every comparison is made on the `Double` before
    /// anything is converted.
    func number(_ name: String, _ value: JSONValue?, min: Double, max: Double, problems: inout [String]) -> Double? {
        guard let value else { return nil }
        guard let number = value.numberValue, !number.isNaN else {
            problems.append("\(name) must be a number conforming to the specified constraints")
            return nil
        }
        let before = problems.count
        if number < min { problems.append("\(name) must not be less than \(Self.format(min))") }
        if number > max { problems.append("\(name) must not be greater than \(Self.format(max))\(limitNote(name))") }
        return problems.count == before ? number : nil
    }

    /// An integral number within `min...max`, converted only after the range check (and
    /// then with `Int(exactly:)`, which cannot trap). Bounds are at most 2^53, exact in a
    /// `Double`.
    func integer(_ name: String, _ value: JSONValue?, min: Int, max: Int, problems: inout [String]) -> Int? {
        guard let value else { return nil }
        guard let number = value.numberValue, number.isFinite, number == number.rounded() else {
            if let number = value.numberValue, number.isInfinite {
                // 1e400: out of range rather than "not an integer", so the message says which way.
                problems.append(
                    number < 0
                        ? "\(name) must not be less than \(min)"
                        : "\(name) must not be greater than \(max)\(limitNote(name))")
            } else {
                problems.append("\(name) must be an integer number")
            }
            return nil
        }
        guard self.number(name, value, min: Double(min), max: Double(max), problems: &problems) != nil else { return nil }
        return Int(exactly: number)
    }

    func dimension(_ name: String, _ value: JSONValue?, problems: inout [String]) -> Int? {
        guard let value else { return nil }
        guard let size = integer(name, value, min: LeapDefaults.minSize, max: Self.maxDimension, problems: &problems) else {
            // Say "multiple of 8" for a too-small value too; decided on the Double, since a
            // value out of range may not fit in an Int.
            if let n = value.numberValue, n.isFinite, n == n.rounded(), n.truncatingRemainder(dividingBy: 8) != 0 {
                problems.append("\(name) must be a multiple of 8")
            }
            return nil
        }
        guard size % 8 == 0 else {
            problems.append("\(name) must be a multiple of 8")
            return nil
        }
        return size
    }

    /// Easel's image-to-image addition: `initImage`, a PNG or JPEG as base64 or a `data:`
    /// URL (bounded in bytes before decoding and in pixels before any pixel memory), and
    /// `strength` in (0, 1] (default 0.8), which means nothing without it.
    func initImage(_ value: JSONValue?, strength strengthValue: JSONValue?, steps: Int,
                   problems: inout [String]) -> InitImage? {
        let strength = number("strength", strengthValue, min: 0, max: 1, problems: &problems)
        if strength == 0 { problems.append("strength must be greater than 0") }
        guard let value else {
            if strengthValue != nil { problems.append("strength is only allowed with an initImage") }
            return nil
        }
        guard case .string(let text) = value else {
            problems.append("initImage must be a string (a base64 PNG or JPEG, or a data: URL)")
            return nil
        }
        let file: Data
        switch InitImageText.decode(text, maxBytes: limits.maxInitImageBytes) {
        case .success(let data): file = data
        case .failure(let problem):
            problems.append(problem.message)
            return nil
        }
        let image: RGBImage
        do {
            image = try ImageDecoder(maxPixels: limits.maxPixelsPerImage).decode(file)
        } catch {
            problems.append("initImage: \(error)")
            return nil
        }
        if image.width % 8 != 0 || image.height % 8 != 0 || min(image.width, image.height) < LeapDefaults.minSize {
            problems.append(
                "initImage is \(image.width)x\(image.height); its width and height must be multiples of 8, "
                    + "at least \(LeapDefaults.minSize)")
            return nil
        }
        let chosen = strength ?? InitImage.defaultStrength
        guard chosen > 0 else { return nil }
        if Int(Double(steps) * chosen) < 1 {
            problems.append("steps x strength must be at least 1 (\(steps) x \(Self.format(chosen)) runs no step)")
            return nil
        }
        return InitImage(image: image, strength: chosen)
    }

    func webhook(_ value: JSONValue?, problems: inout [String]) -> String? {
        guard let value else { return nil }
        guard case .string(let string) = value else {
            problems.append("webhookUrl must be a string")
            return nil
        }
        if let problem = TextRules.controlCharacterProblem("webhookUrl", string, allowing: []) {
            problems.append(problem)
            return nil
        }
        guard let url = URL(string: string), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty, string.utf8.count <= 2048
        else {
            problems.append("webhookUrl must be a URL address (http or https)")
            return nil
        }
        if !allowPrivateWebhooks, let kind = AddressGuard.literalRefusal(host: host) {
            problems.append("webhookUrl must not point to a \(kind) address (this server refuses private webhook targets)")
            return nil
        }
        return string
    }

    func limitNote(_ name: String) -> String {
        name == "steps" ? " (this server's limit)" : ""
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) <= Double(maxSeed), let exact = Int64(exactly: value) {
            return String(exact)
        }
        return String(value)
    }
}
