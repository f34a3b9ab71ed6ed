import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// End-to-end parity: the tiny models generate the same pixels as diffusers'
/// StableDiffusionPipeline (scripts/make_pipeline_fixtures.py) — every scheduler, 1 and
/// 3 images per prompt, guidance on and off, non-square sizes. Bar: every pixel within 2/255.
@Suite struct PipelineParityTests {
    struct Case: Decodable {
        var scheduler: String
        var count: Int
        var steps: Int
        var seed: UInt64
        var guidance: Double
        var prompt: String
        var negative: String
        var width: Int
        var height: Int
        var file: String
        var shape: [Int]
    }

    static func cases(_ model: String) throws -> [Case] {
        let url = try #require(Bundle.module.url(forResource: "\(model).cases", withExtension: "json",
                                                 subdirectory: "Fixtures/pipeline"))
        return try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
    }

    static func expectedPixels(_ file: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: file, withExtension: nil,
                                                 subdirectory: "Fixtures/pipeline"))
        return [UInt8](try Data(contentsOf: url))
    }

    @Test(arguments: TinyModels.names)
    func imagesMatchDiffusers(model name: String) throws {
        let model = try StableDiffusionModel.load(from: try TinyModels.folder(name))
        let pipeline = StableDiffusionPipeline(model: model)
        for c in try Self.cases(name) {
            let request = GenerationRequest(
                prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative, steps: c.steps,
                width: c.width, height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                scheduler: c.scheduler == "default" ? nil : c.scheduler)
            var progress: [GenerationProgress] = []
            let result = try pipeline.generate(request, onStep: { progress.append($0) })
            #expect(progress.map(\.step) == Array(1...progress.count), "\(name) \(c.file)")
            #expect(result.images.count == c.count)
            let expected = try Self.expectedPixels(c.file)
            let actual = result.images.flatMap(\.pixels)
            #expect(actual.count == expected.count, "\(name) \(c.file): size")
            guard actual.count == expected.count else { continue }
            let worst = zip(actual, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(worst <= 2, "\(name) \(c.scheduler) x\(c.count): worst pixel differs by \(worst)/255")
            print("pipeline parity \(name) \(c.scheduler) x\(c.count) \(c.width)x\(c.height) guidance \(c.guidance): worst pixel \(worst)/255")
            if c.prompt.count > 300 { #expect(!result.warnings.isEmpty, "a truncated prompt warns") }
        }
    }

    @Test func cancellationStopsBetweenSteps() throws {
        let model = try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"))
        let pipeline = StableDiffusionPipeline(model: model)
        var steps = 0
        #expect(throws: GenerationError.cancelled(afterSteps: 2)) {
            _ = try pipeline.generate(GenerationRequest(prompt: "x", steps: 10, width: 64, height: 64),
                                      onStep: { steps = $0.step }, isCancelled: { steps >= 2 })
        }
    }

    @Test func badRequestsListEveryProblem() throws {
        let model = try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"))
        let pipeline = StableDiffusionPipeline(model: model)
        let request = GenerationRequest(prompt: "x", steps: 0, width: 60, height: 12, count: 0)
        do {
            _ = try pipeline.generate(request)
            Issue.record("expected an error")
        } catch let GenerationError.invalidRequest(problems) {
            #expect(problems.count == 4, "\(problems)")
            #expect(problems.contains { $0.contains("width must be a positive multiple of 8") })
        }
    }

    @Test func unknownSchedulerNamesTheValidOnes() throws {
        let model = try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1"))
        let pipeline = StableDiffusionPipeline(model: model)
        let request = GenerationRequest(prompt: "x", steps: 2, width: 64, height: 64, scheduler: "heun-turbo")
        do {
            _ = try pipeline.generate(request)
            Issue.record("expected an error")
        } catch {
            let message = String(describing: error)
            #expect(message.contains("heun-turbo") && message.contains("dpm++2m-karras"), "\(message)")
        }
    }

    @Test func missingComponentFolderIsNamed() throws {
        let folder = try TinyModels.folder("tiny-sd1")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("unet"))
        do {
            _ = try StableDiffusionModel.load(from: folder)
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains("unet"), "\(error)")
        }
    }
}

/// A single file in the original layout gives the same images as the diffusers folder with
/// the same weights (and so as diffusers' `from_single_file`, which scripts/make_single_file_
/// fixtures.py shows loads the same state dicts), in F16 and in F32.
@Suite struct SingleFilePipelineTests {
    @Test(arguments: TinyModels.names, [false, true])
    func singleFileMatchesFolder(model name: String, widenToF32: Bool) throws {
        let folder = try TinyModels.folder(name)
        let scratch = try SingleFileScratch()
        let file = try SingleFileCheckpointTests.singleFile(name, widenToF32 ? .f32 : .f16, scratch)
        let model = try StableDiffusionModel.load(from: file, configFolder: folder)
        #expect(model.kind.contains("single file"))
        let pipeline = StableDiffusionPipeline(model: model)
        for c in try PipelineParityTests.cases(name).prefix(4) {
            let request = GenerationRequest(
                prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative, steps: c.steps,
                width: c.width, height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                scheduler: c.scheduler == "default" ? nil : c.scheduler)
            let actual = try pipeline.generate(request).images.flatMap(\.pixels)
            let expected = try PipelineParityTests.expectedPixels(c.file)
            let worst = zip(actual, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(actual.count == expected.count && worst <= 2,
                    "\(name) single file (\(widenToF32 ? "F32" : "F16")) \(c.scheduler): worst \(worst)/255")
        }
    }
}

@Test func pngMetadataNamesTheEngineVersion() {
    let request = GenerationRequest(prompt: "x", width: 64, height: 64)
    let metadata = request.pngMetadata(model: "m", scheduler: "PNDMScheduler", index: 1)
    #expect(metadata.contains { $0.keyword == "Software" && $0.text == "Easel \(EngineInfo.version)" })
}
