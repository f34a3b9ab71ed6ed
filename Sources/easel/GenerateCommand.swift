import ArgumentParser
import EaselDiffusion
import Foundation

/// `easel generate`: one prompt to PNG files, with a progress bar on standard error.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate images from a prompt with a local model.")

    @Option(help: "A diffusers folder or a single-file .safetensors checkpoint (default: Easel's bundled \(BundledModel.name), 64x64).")
    var model: String?

    @Option(help: "What to draw.")
    var prompt: String

    @Option(help: "What to steer away from (default: Leap's \"\(LeapDefaults.negativePrompt)\"; \"\" for none).")
    var negativePrompt: String = LeapDefaults.negativePrompt

    @Option(help: "Denoising steps.")
    var steps: Int = LeapDefaults.steps

    @Option(help: "Width in pixels, a multiple of 8 (default: the model's native size).")
    var width: Int?

    @Option(help: "Height in pixels, a multiple of 8 (default: the model's native size).")
    var height: Int?

    @Option(help: "Seed of the noise; the same seed gives the same image.")
    var seed: UInt64 = LeapDefaults.seed

    @Option(help: "Classifier-free guidance scale (Leap's promptStrength); 1 or less skips the unconditional pass.")
    var guidance: Double = LeapDefaults.guidanceScale

    @Option(help: "Images to make in one batch.")
    var count: Int = 1

    @Option(help: "Scheduler: \(SchedulerName.validNames.joined(separator: ", ")) (default: the model's own).")
    var scheduler: String?

    @Option(help: "Decode with a tiny autoencoder (TAESD): a diffusers AutoencoderTiny folder, or madebyollin's taesd_decoder.safetensors (or its folder).")
    var tinyAutoencoder: String?

    @Option(name: .customLong("lora"),
            help: "A LoRA to fuse into the model's weights, PATH or PATH:SCALE (default scale 1); repeat for several. kohya-ss, diffusers and PEFT namings.")
    var loras: [String] = []

    @Option(help: "Write a live preview of the first image to this PNG every few steps (the tiny autoencoder's picture with --tiny-autoencoder, else a latent-size linear projection).")
    var preview: String?

    @Option(help: "Image to image: a PNG or JPEG to start from (its size is the output's unless --width/--height say otherwise, and must then match).")
    var initImage: String?

    @Option(help: "Image to image: how far to move from the init image, in (0, 1]; 1 ignores it almost entirely.")
    var strength: Double = InitImage.defaultStrength

    @Option(help: "Precision of the weights and products: fp32 (matches diffusers' float32 within 1/255) or bf16 (half the weight memory; bfloat16 products, with AMX where the CPU has it).")
    var precision: String = Precision.float32.rawValue

    @Option(help: "For single files: the family, when its tensors should not decide (\(SingleFileFamily.allCases.map(\.rawValue).joined(separator: ", "))).")
    var family: String?

    @Option(help: "For single files: a diffusers folder whose configs (and tokenizer) to use, as diffusers' from_single_file(config=).")
    var config: String?

    @Option(name: .shortAndLong, help: "Output PNG; with --count N above 1, out.png becomes out-1.png ... out-N.png.")
    var output: String

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard strength > 0 && strength <= 1 else {
            throw ValidationError("--strength must be greater than 0 and at most 1 (got \(strength))")
        }
        if Precision(name: precision) == nil {
            throw ValidationError("unknown --precision \(precision); expected fp32 or bf16")
        }
        if let family, SingleFileFamily(rawValue: family) == nil {
            throw ValidationError("unknown --family \(family); expected one of "
                                  + SingleFileFamily.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    func run() throws {
        let start: InitImage?
        do {
            start = try initImage.map {
                InitImage(image: try ImageDecoder().decode(contentsOf: URL(fileURLWithPath: $0)), strength: strength)
            }
        } catch {
            printError("error: cannot use --init-image \(initImage ?? ""): \(error)")
            throw ExitCode(1)
        }
        let clock = ContinuousClock()
        let loadStart = clock.now
        let loaded: StableDiffusionModel
        do {
            let location = try model.map { URL(fileURLWithPath: $0) } ?? BundledModel.folder()
            loaded = try StableDiffusionModel.load(from: location,
                                                   family: family.flatMap(SingleFileFamily.init(rawValue:)),
                                                   configFolder: config.map { URL(fileURLWithPath: $0) },
                                                   withEncoder: start != nil,
                                                   precision: Precision(name: precision) ?? .float32,
                                                   loras: loras.map(LoRAAdapter.init(argument:)))
        } catch {
            printError("error: cannot load model: \(error)")
            throw ExitCode(1)
        }
        let tiny: AutoencoderTiny?
        do {
            tiny = try tinyAutoencoder.map {
                try AutoencoderTiny.load(from: URL(fileURLWithPath: $0), precision: Precision(name: precision) ?? .float32)
            }
        } catch {
            printError("error: cannot load --tiny-autoencoder \(tinyAutoencoder ?? ""): \(error)")
            throw ExitCode(1)
        }
        let loadSeconds = (clock.now - loadStart).seconds
        // The init image's own size, else the model's native size.
        let size = start.map { ($0.image.width, $0.image.height) } ?? loaded.nativeSize
        let request = GenerationRequest(
            prompt: prompt, negativePrompt: negativePrompt.isEmpty ? nil : negativePrompt, steps: steps,
            width: width ?? size.0, height: height ?? size.1, seed: seed,
            guidanceScale: guidance, count: count, scheduler: scheduler, initImage: start)

        let bar = ProgressBar()
        let result: GenerationResult
        do {
            let previews = preview.map { path in
                PreviewOptions(every: PreviewOptions.every(ofSteps: steps)) { _, image in
                    // Write-then-rename, so a viewer never reads half a file.
                    try? image.pngData().write(to: URL(fileURLWithPath: path), options: .atomic)
                }
            }
            result = try StableDiffusionPipeline(model: loaded, tinyAutoencoder: tiny)
                .generate(request, onStep: bar.update, previews: previews)
        } catch {
            bar.finish()
            printError("error: \(error)")
            throw ExitCode(1)
        }
        bar.finish()
        for warning in result.warnings { printError("warning: \(warning)") }

        let paths = Self.outputPaths(output, count: count)
        for (index, (image, path)) in zip(result.images, paths).enumerated() {
            let metadata = request.pngMetadata(model: model == nil ? BundledModel.name : loaded.location,
                                               scheduler: result.scheduler, index: index + 1)
            try image.pngData(metadata: metadata).write(to: URL(fileURLWithPath: path))
            print(path)
        }
        let t = result.timings
        printError(String(format: "load %.2fs · text encoder %.2fs · %d steps %.2fs (%.3fs/step) · VAE decode %.2fs · total %.2fs",
                          loadSeconds, t.textEncoding, t.steps.count, t.denoising,
                          t.denoising / Double(max(t.steps.count, 1)), t.decoding, loadSeconds + t.total))
    }

    /// `out.png` for one image; `out-1.png` ... `out-N.png` for a batch, in the batch's order.
    static func outputPaths(_ output: String, count: Int) -> [String] {
        guard count > 1 else { return [output] }
        let url = URL(fileURLWithPath: output)
        let ext = url.pathExtension.isEmpty ? "png" : url.pathExtension
        let stem = url.deletingPathExtension().path
        return (1...count).map { "\(stem)-\($0).\(ext)" }
    }
}

/// A one-line progress bar on standard error: step i/N, seconds per step, time left.
final class ProgressBar {
    private var lastLength = 0
    private var total = 0.0

    func update(_ progress: GenerationProgress) {
        total += progress.stepSeconds
        let perStep = total / Double(progress.step)
        let left = perStep * Double(progress.totalSteps - progress.step)
        let width = 30
        let filled = width * progress.step / max(progress.totalSteps, 1)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r%@ step %d/%d  %.2fs/step  ETA %.1fs", bar, progress.step,
                          progress.totalSteps, perStep, left)
        lastLength = line.count
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if lastLength > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
