import Foundation

/// A `CreateInferenceDto` body that passed every rule, with Leap's defaults applied.
struct ValidatedInference: Sendable {
    var parameters: GenerationParameters
    var webhookUrl: String?

    /// Identifies the request for `Idempotency-Key` reuse checks.
    func fingerprint(modelId: String) -> String {
        var data = Data(modelId.utf8)
        data.append((try? WireJSON.encode(parameters)) ?? Data())
        data.append(Data((webhookUrl ?? "").utf8))
        return Credentials.digest(data)
    }
}

/// Checks a submit body against Leap's rules and this server's limits, collecting every
/// problem (class-validator wording) rather than stopping at the first.
struct CreateInferenceValidator: Sendable {
    static let defaultNegativePrompt = "asymmetric, watermarks"
    static let defaultSteps = 50
    static let defaultSize = 1024
    static let defaultNumberOfImages = 1
    static let defaultPromptStrength = 7.0
    static let defaultSeed: Int64 = 4_523_184
    static let maxSeed: Double = 9_007_199_254_740_991  // 2^53 - 1: exact in every JSON client
    static let minSize = 64

    let limits: ServerLimits
    let allowPrivateWebhooks: Bool

    func validate(_ body: Data) -> Result<ValidatedInference, APIError> {
        guard !body.isEmpty, let value = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            return .failure(.badRequest(["body must be a valid JSON object"]))
        }
        guard case .object(let fields) = value else { return .failure(.badRequest(["body must be a JSON object"])) }
        var problems: [String] = []
        // JSON null means "not given", as with class-validator's @IsOptional.
        func field(_ name: String) -> JSONValue? {
            if case .null = fields[name] ?? .null { return nil }
            return fields[name]
        }

        let prompt = text("prompt", field("prompt"), required: true, problems: &problems)
        let negativePrompt =
            text("negativePrompt", field("negativePrompt"), required: false, problems: &problems)
            ?? Self.defaultNegativePrompt
        let steps = integer("steps", field("steps"), min: 1, max: Double(limits.maxSteps), problems: &problems)
        let width = dimension("width", field("width"), problems: &problems)
        let height = dimension("height", field("height"), problems: &problems)
        let count = integer("numberOfImages", field("numberOfImages"), min: 1, max: 4, problems: &problems)
        let strength = number("promptStrength", field("promptStrength"), min: 0, max: 30, problems: &problems)
        let seed = integer("seed", field("seed"), min: 0, max: Self.maxSeed, problems: &problems)
        let webhookUrl = webhook(field("webhookUrl"), problems: &problems)

        let w = width ?? Self.defaultSize
        let h = height ?? Self.defaultSize
        let n = count.map(Int.init) ?? Self.defaultNumberOfImages
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
        let parameters = GenerationParameters(
            prompt: prompt, negativePrompt: negativePrompt, steps: steps.map(Int.init) ?? Self.defaultSteps,
            width: w, height: h, numberOfImages: n, promptStrength: strength ?? Self.defaultPromptStrength,
            seed: UInt64(seed ?? Int64(Self.defaultSeed)))
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
        if required && string.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            problems.append("\(name) should not be empty")
            return nil
        }
        if string.count > limits.maxPromptLength {
            problems.append(
                "\(name) must be shorter than or equal to \(limits.maxPromptLength) characters (this server's limit)")
            return nil
        }
        return string
    }

    func number(_ name: String, _ value: JSONValue?, min: Double, max: Double, problems: inout [String]) -> Double? {
        guard let value else { return nil }
        guard case .number(let number) = value, number.isFinite else {
            problems.append("\(name) must be a number conforming to the specified constraints")
            return nil
        }
        let before = problems.count
        if number < min { problems.append("\(name) must not be less than \(Self.format(min))") }
        if number > max { problems.append("\(name) must not be greater than \(Self.format(max))\(limitNote(name))") }
        return problems.count == before ? number : nil
    }

    func integer(_ name: String, _ value: JSONValue?, min: Double, max: Double, problems: inout [String]) -> Int64? {
        guard let value else { return nil }
        guard case .number(let number) = value, number.isFinite, number == number.rounded() else {
            problems.append("\(name) must be an integer number")
            return nil
        }
        return self.number(name, value, min: min, max: max, problems: &problems).map { Int64($0) }
    }

    func dimension(_ name: String, _ value: JSONValue?, problems: inout [String]) -> Int? {
        guard let value else { return nil }
        let before = problems.count
        guard let size = integer(name, value, min: Double(Self.minSize), max: 65536, problems: &problems) else {
            if case .number(let n) = value, n.isFinite, n == n.rounded(), Int(n) % 8 != 0 {
                problems.append("\(name) must be a multiple of 8")
            }
            return nil
        }
        if size % 8 != 0 { problems.append("\(name) must be a multiple of 8") }
        return problems.count == before ? Int(size) : nil
    }

    func webhook(_ value: JSONValue?, problems: inout [String]) -> String? {
        guard let value else { return nil }
        guard case .string(let string) = value else {
            problems.append("webhookUrl must be a string")
            return nil
        }
        guard let url = URL(string: string), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty, string.count <= 2048
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
        value == value.rounded() && abs(value) <= maxSeed ? String(Int64(value)) : String(value)
    }
}
