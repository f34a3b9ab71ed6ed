import EaselDiffusion
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import EaselServer

/// Property test of the create-inference validator over arbitrary JSON numbers and strings
/// (issue 10): it never traps, and what it accepts obeys every rule. Seeded, so a failure
/// names a case that reproduces.
@Suite struct ValidatorFuzzTests {
    static let seed: UInt64 = 0xEA5E_1_2026
    static let validatorCases = 5000
    static let httpCases = 300

    @Test func validatorNeverTrapsAndAcceptsOnlyValidRequests() throws {
        var random = SeededRandom(seed: Self.seed)
        let limits = ServerLimits()
        let validator = CreateInferenceValidator(limits: limits, allowPrivateWebhooks: false)
        var accepted = 0
        for index in 0..<Self.validatorCases {
            let body = FuzzBody.make(&random)
            switch validator.validate(Data(body.utf8)) {
            case .success(let input):
                accepted += 1
                Self.checkAccepted(input, limits: limits, case: index, body: body)
            case .failure(let error):
                #expect(error.status == .badRequest, "case \(index): \(body)")
                guard case .list(let messages) = error.message, !messages.isEmpty else {
                    Issue.record("case \(index): a 400 must list its problems: \(body)")
                    continue
                }
            }
        }
        // The generator must reach both sides, or the properties say little (about 4% of the
        // cases are accepted with this seed: every given field must be valid at once).
        #expect(accepted > Self.validatorCases / 50, "accepted \(accepted)")
        #expect(accepted < Self.validatorCases - Self.validatorCases / 50, "accepted \(accepted)")
    }

    /// The same bodies through the HTTP route: 201 or 400 only, and a job is stored exactly
    /// when the answer is 201.
    @Test func routeAnswers201Or400AndStoresOnlyOn201() async throws {
        let server = try await TestServer.make {
            $0.workers = 0
            $0.limits.maxQueuedPerWorkspace = 10_000
        }
        try await server.application().test(.router) { client in
            var random = SeededRandom(seed: Self.seed ^ 0xFF)
            var stored = 0
            for index in 0..<Self.httpCases {
                let body = FuzzBody.make(&random)
                let response = try await client.send(.post, server.inferencesPath, key: server.keyA, rawBody: body)
                #expect(response.status == .created || response.status == .badRequest, "case \(index): \(body)")
                if response.status == .created { stored += 1 }
                let queued = try await server.store.countQueued()
                #expect(queued == stored, "case \(index): \(response.status) but \(queued) stored: \(body)")
                if queued != stored { return }
            }
            let health = try await client.send(.get, "/health")
            #expect(health.status == .ok)
        }
    }

    static func checkAccepted(_ input: ValidatedInference, limits: ServerLimits, case index: Int, body: String) {
        let p = input.parameters
        let context = "case \(index): \(body)"
        #expect((LeapDefaults.minSize...CreateInferenceValidator.maxDimension).contains(p.width), "\(context)")
        #expect((LeapDefaults.minSize...CreateInferenceValidator.maxDimension).contains(p.height), "\(context)")
        #expect(p.width % 8 == 0 && p.height % 8 == 0, "\(context)")
        #expect(p.width * p.height <= limits.maxPixelsPerImage, "\(context)")
        #expect(p.width * p.height * p.count <= limits.maxPixelsPerJob, "\(context)")
        #expect((1...limits.maxSteps).contains(p.steps), "\(context)")
        #expect((1...4).contains(p.count), "\(context)")
        #expect(p.guidanceScale >= 0 && p.guidanceScale <= 30, "\(context)")
        #expect(p.seed <= UInt64(CreateInferenceValidator.maxSeed), "\(context)")
        for text in [p.prompt, p.negativePrompt ?? ""] {
            #expect(text.unicodeScalars.count <= limits.maxPromptLength, "\(context)")
            #expect(
                !text.unicodeScalars.contains { TextRules.isControl($0) && !TextRules.lineBreaksAndTab.contains($0) },
                "\(context)")
        }
        #expect(!p.prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(context)")
    }
}

/// SplitMix64: small, fast and the same on every platform, so a seed reproduces a run.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random `CreateInferenceDto`-shaped JSON text, written by hand so number literals reach
/// the server exactly as chosen (`1e400`, `-0`, `9.3e18`, 20-digit integers ...).
enum FuzzBody {
    static let fields = ["prompt", "negativePrompt", "steps", "width", "height", "numberOfImages", "promptStrength", "seed"]
    static let specialNumbers = [
        "1e19", "-1e19", "9.3e18", "9.2233720368547758e18", "1e308", "-1e308", "1.7976931348623157e308", "1e400",
        "-1e400", "-0", "0", "-0.0", "0.0", "1e-400", "4.9e-324", "-4.9e-324", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "9007199254740991",
        "9007199254740992", "64", "64.0", "6.4e1", "640e-1", "1E+2", "0.5", "512", "1024", "2048", "65536",
        "65544", "1e5", "150", "151", "4", "5", "30", "30.000001", "7.5", "100000000000000000000000000000000",
    ]

    static func make(_ random: inout SeededRandom) -> String {
        var members: [String] = []
        // Usually a plausible prompt, so that the other fields decide the outcome.
        if Int.random(in: 0..<10, using: &random) < 8 {
            members.append("\"prompt\":" + (Bool.random(using: &random) ? "\"a red circle\"" : string(&random)))
        }
        for field in fields.dropFirst() where Int.random(in: 0..<3, using: &random) == 0 {
            members.append("\"\(field)\":" + value(&random))
        }
        if Int.random(in: 0..<4, using: &random) == 0 {
            members.append("\"webhookUrl\":" + (Bool.random(using: &random) ? "\"https://example.com/hook\"" : string(&random)))
        }
        if Int.random(in: 0..<10, using: &random) == 0 {
            members.append("\"extra\":" + value(&random))
        }
        members.shuffle(using: &random)
        return "{" + members.joined(separator: ",") + "}"
    }

    static func value(_ random: inout SeededRandom) -> String {
        switch Int.random(in: 0..<20, using: &random) {
        case 0..<12: return number(&random)
        case 12..<15: return string(&random)
        case 15: return "null"
        case 16: return Bool.random(using: &random) ? "true" : "false"
        case 17: return "[" + number(&random) + "]"
        case 18: return "{\"n\":" + number(&random) + "}"
        default: return "\"" + number(&random) + "\""
        }
    }

    static func number(_ random: inout SeededRandom) -> String {
        switch Int.random(in: 0..<5, using: &random) {
        case 0, 1:
            return specialNumbers.randomElement(using: &random)!
        case 2:  // a small integer, often a multiple of 8
            let n = Int.random(in: -100...2000, using: &random)
            return String(Bool.random(using: &random) ? n / 8 * 8 : n)
        case 3:  // mantissa and exponent, anywhere in (and past) Double's range
            let sign = Bool.random(using: &random) ? "-" : ""
            let mantissa = "\(Int.random(in: 1...9, using: &random)).\(Int.random(in: 0...999_999, using: &random))"
            return "\(sign)\(mantissa)e\(Int.random(in: -400...400, using: &random))"
        default:  // a long run of digits, past Int64
            let digits = (0..<Int.random(in: 1...40, using: &random)).map { _ in
                String(Int.random(in: 0...9, using: &random))
            }
            let text = digits.joined().drop { $0 == "0" }
            let sign = Int.random(in: 0..<4, using: &random) == 0 ? "-" : ""
            return text.isEmpty ? "0" : sign + text
        }
    }

    /// A JSON string literal of random scalars: ASCII, C0 and C1 controls, DEL, combining
    /// marks, CJK, emoji; sometimes very long.
    static func string(_ random: inout SeededRandom) -> String {
        let ranges: [ClosedRange<UInt32>] = [
            0x20...0x7E, 0x00...0x1F, 0x7F...0x9F, 0x0300...0x036F, 0x4E00...0x4E80, 0x1F600...0x1F64F, 0xA0...0x2FF,
        ]
        let length =
            Int.random(in: 0..<10, using: &random) == 0
            ? Int.random(in: 1900...2100, using: &random) : Int.random(in: 0...40, using: &random)
        var out = "\""
        for _ in 0..<length {
            // Mostly printable ASCII, so that some strings are valid prompts.
            let range = Int.random(in: 0..<4, using: &random) == 0 ? ranges.randomElement(using: &random)! : ranges[0]
            let scalar = Unicode.Scalar(UInt32.random(in: range, using: &random))!
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
