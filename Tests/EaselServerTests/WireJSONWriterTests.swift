import Foundation
import Hummingbird
import HTTPTypes
import Testing

@testable import EaselServer

/// The hand-written job JSON (`WireJSONWriter`) against JSONEncoder (`WireJSON.encode`, what
/// every job was written with before), byte for byte, over entities with every optional
/// field set and unset, awkward text and awkward numbers.
@Suite struct WireJSONWriterTests {
    /// Text that needs every kind of escape JSONEncoder knows, and some that needs none.
    static let texts: [String] = [
        "", "plain", "a lighthouse at dusk", "quote \" and backslash \\ and slash / and both \\\"",
        "new\nline, tab\t, return\r, backspace\u{08}, form feed\u{0C}",
        String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }) + "\u{7F}",
        "é ü ß ñ 漢字 🌊 👩‍👩‍👧 \u{2028}\u{2029} \u{FEFF}", "https://example.com/a/b?c=d&e=f#g", "</script>",
    ]

    static let doubles: [Double] = [
        0, -0.0, 1, 7, 7.5, 0.1, 0.001, 1e-5, 1.5e-7, 123456.789, 1e15, 1e16, 1.7976931348623157e308,
        -2.25, 4.9e-324, 0.30000000000000004, 100, 33.333,
    ]

    static func entities() -> [InferenceEntity] {
        var result: [InferenceEntity] = []
        for (index, text) in texts.enumerated() {
            let number = doubles[index % doubles.count]
            var entity = InferenceEntity(
                id: "job-\(text)", createdAt: "2024-05-01T12:34:56.789Z", prompt: text, negativePrompt: text,
                seed: [0, 1, -1, Int64.max, Int64.min, 4_523_184][index % 6], width: 512, height: 64 * index,
                promptStrength: number, numberOfImages: index % 4 + 1, state: "queued", status: text, steps: index,
                images: (0..<(index % 3)).map {
                    InferenceImageEntity(id: "img\($0)\(text)", createdAt: text, uri: "http://127.0.0.1:8080/images/\($0)/\(text).png")
                },
                modelId: text)
            if index % 2 == 1 {
                entity.queuePosition = index
                entity.currentStep = -index
                entity.totalSteps = Int.max - index
                entity.estimatedSecondsLeft = doubles[(index + 3) % doubles.count]
                entity.cancelRequested = index % 4 == 1
                entity.strength = doubles[(index + 5) % doubles.count]
                entity.errorReason = text
                entity.startedAt = text
                entity.finishedAt = text
                entity.timings = InferenceTimings(
                    queuedSeconds: doubles[(index + 1) % doubles.count],
                    warmupSeconds: index % 3 == 0 ? nil : 0.25, secondsPerStep: doubles[(index + 2) % doubles.count],
                    generationSeconds: nil, totalSeconds: -doubles[(index + 4) % doubles.count])
                entity.preview = InferencePreviewEntity(step: index, uri: "http://h/\(text)")
            }
            if index == 4 { entity.upscalingOption = text }
            result.append(entity)
        }
        return result
    }

    @Test func anEntityIsWhatJSONEncoderWrites() throws {
        for entity in Self.entities() {
            let written = try entity.json()
            let encoded = try WireJSON.encode(entity)
            #expect(written == encoded, "\(String(decoding: written, as: UTF8.self))\n\(String(decoding: encoded, as: UTF8.self))")
        }
    }

    @Test func everyDoubleIsWrittenAsJSONEncoderWritesIt() throws {
        var entity = Self.entities()[1]
        var values: [Double] = Self.doubles + Self.doubles.map { -$0 }
        for step in 0..<200 {
            let x = Double(step)
            values.append(x * 0.037 + 1 / (x + 1))
        }
        for value in values {
            entity.promptStrength = value
            entity.estimatedSecondsLeft = value
            #expect(try entity.json() == (try WireJSON.encode(entity)), "\(value)")
        }
    }

    @Test func listsAreWhatJSONEncoderWrites() throws {
        let entities = Self.entities()
        for count in [0, 1, 2, entities.count] {
            let slice = Array(entities.prefix(count))
            #expect(try InferenceEntity.json(slice) == (try WireJSON.encode(slice)))
        }
    }

    @Test func numbersJSONCannotExpressAreRefusedAsJSONEncoderRefusesThem() {
        for value in [Double.nan, .infinity, -.infinity] {
            var entity = Self.entities()[0]
            entity.estimatedSecondsLeft = value
            #expect(throws: (any Error).self) { try entity.json() }
            #expect(throws: (any Error).self) { try WireJSON.encode(entity) }
        }
    }

    /// The rendered entity of stored jobs in every state (the path GET takes), against JSONEncoder.
    @Test func renderedJobsAreWhatJSONEncoderWrites() throws {
        let renderer = InferenceRenderer(
            baseURL: PublicBaseURL(configured: "http://127.0.0.1:8080", host: "127.0.0.1", port: 8080),
            estimator: ThroughputEstimator(), workers: 2,
            previews: PreviewStore(folder: FileManager.default.temporaryDirectory.appendingPathComponent("no-previews")))
        let created = Date(timeIntervalSince1970: 1_700_000_000.123)
        for state in JobState.allCases {
            let job = JobRecord(
                id: "j1", seq: 1, workspaceId: "w", modelId: "m", state: state, prompt: "a \"cat\"\n",
                negativePrompt: "", steps: 20, width: 64, height: 64, count: 2, guidanceScale: 7, seed: 42,
                createdAt: created, cancelRequested: state == .processing, attempts: 1,
                currentStep: state == .processing ? 3 : nil, secondsPerStep: state == .queued ? nil : 0.125,
                warmupSeconds: state.isTerminal ? 0.5 : nil)
            var ended = job
            if state.isTerminal {
                ended.startedAt = created.addingTimeInterval(1.5)
                ended.finishedAt = created.addingTimeInterval(3.25)
                ended.failureReason = state == .failed ? "out of memory: \"big\"" : nil
            }
            let images = state == .finished
                ? [ImageRecord(id: "i1", jobId: "j1", workspaceId: "w", position: 0, fileName: "i1.png", createdAt: created)]
                : []
            let snapshot = JobSnapshot(job: ended, images: images)
            let entity = renderer.entity(snapshot)
            #expect(try renderer.json(snapshot) == (try WireJSON.encode(entity)))
        }
    }
}

/// `ISOTime` writes its digits by hand: the same text `String(format:)` wrote.
@Suite struct ISOTimeTests {
    static func formatted(_ date: Date) -> String {
        let millis = (date.timeIntervalSince1970 * 1000).rounded(.down)
        var seconds = time_t(floor(millis / 1000))
        let ms = Int(millis - Double(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), ms)
    }

    @Test func matchesTheFormattedText() {
        var dates: [Double] = [0, 0.001, 0.999, 1, -0.001, -1, 59.9999, 86_399.999, 951_782_400, 1_700_000_000.123,
                               1_714_566_896.789, 4_102_444_800, 253_402_300_799.999, -62_135_596_800]
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            dates.append(Double(seed >> 24) / 1000 - 1_000_000_000)
        }
        for seconds in dates {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(ISOTime.string(date) == Self.formatted(date), "\(seconds)")
        }
    }
}

/// The request log's two hand-written parts: the bearer key and the duration.
@Suite struct RequestParsingTests {
    static func token(_ header: String?) -> String? {
        var fields = HTTPFields()
        if let header { fields[.authorization] = header }
        return AuthMiddleware.bearerToken(Request(head: HTTPRequest(method: .get, scheme: nil, authority: nil, path: "/", headerFields: fields), body: .init(buffer: .init())))
    }

    @Test func bearerTokens() {
        #expect(Self.token("Bearer abc") == "abc")
        #expect(Self.token("bearer abc") == "abc")
        #expect(Self.token("BEARER abc") == "abc")
        #expect(Self.token("bEaReR   abc \t ") == "abc")
        #expect(Self.token("Bearer a b") == "a b")
        #expect(Self.token("Bearer") == nil)
        #expect(Self.token("Bearer   ") == nil)
        #expect(Self.token("Bearer \t") == nil)
        #expect(Self.token("Basic abc") == nil)
        #expect(Self.token("Bearerx abc") == nil)
        #expect(Self.token("Béarer abc") == nil)
        #expect(Self.token(nil) == nil)
    }

    @Test func durationsInMilliseconds() {
        #expect(RequestLogMiddleware.milliseconds(.zero) == "0.00")
        #expect(RequestLogMiddleware.milliseconds(.microseconds(10)) == "0.01")
        #expect(RequestLogMiddleware.milliseconds(.microseconds(1_234)) == "1.23")
        #expect(RequestLogMiddleware.milliseconds(.milliseconds(12) + .microseconds(50)) == "12.05")
        #expect(RequestLogMiddleware.milliseconds(.seconds(3)) == "3000.00")
    }
}
