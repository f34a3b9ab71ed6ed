import EaselDiffusion
import EaselServer
import Foundation

/// A door tests open to let a held generation go on.
final class Gate: Sendable {
    private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var isOpen: Bool { state.current.open }

    func wait() async {
        await withCheckedContinuation { continuation in
            let passNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if passNow { continuation.resume() }
        }
    }
}

/// The test double behind `ImageGenerator`: images of the asked size (deterministic
/// from the seed), a callback per step, cancellation honoured between steps. It can be
/// held at a gate before its first step, slowed per step, or told to fail; with a
/// `previewGate` it delivers an 8x8 preview after step 1 and holds there until the gate opens.
final class FakeGenerator: ImageGenerator, Sendable {
    let stepDelay: Duration
    let gate: Gate?
    let previewGate: Gate?
    let failure: Locked<(any Error)?> = Locked(nil)
    let calls = Locked<[GenerationRequest]>([])

    init(stepDelay: Duration = .zero, gate: Gate? = nil, previewGate: Gate? = nil) {
        self.stepDelay = stepDelay
        self.gate = gate
        self.previewGate = previewGate
    }

    func generate(
        model: InstalledModel,
        request parameters: GenerationRequest,
        onStep: @escaping @Sendable (Int, Int) -> Void,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult {
        try await generate(model: model, request: parameters, onStep: onStep, onPreview: nil, isCancelled: isCancelled)
    }

    func generate(
        model: InstalledModel,
        request parameters: GenerationRequest,
        onStep: @escaping @Sendable (Int, Int) -> Void,
        onPreview: (@Sendable (Int, RGBImage) -> Void)?,
        isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> GenerationResult {
        calls.withLock { $0.append(parameters) }
        // Held at the gate, but still stoppable (shutdown, cancel) like a real engine.
        while let gate, !gate.isOpen {
            if isCancelled() { throw ImageGenerationError.cancelled }
            try? await Task.sleep(for: .milliseconds(5))
        }
        for step in 1...parameters.steps {
            if isCancelled() { throw ImageGenerationError.cancelled }
            if stepDelay > .zero { try? await Task.sleep(for: stepDelay) }
            onStep(step, parameters.steps)
            if step == 1, let previewGate, let onPreview {
                onPreview(1, TestPNG.image(width: 8, height: 8, seed: parameters.seed))
                while !previewGate.isOpen {
                    if isCancelled() { throw ImageGenerationError.cancelled }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
        }
        if let error = failure.current { throw error }
        let images = (0..<parameters.count).map {
            TestPNG.image(width: parameters.width, height: parameters.height, seed: parameters.seed &+ UInt64($0))
        }
        return GenerationResult(images: images, timings: StageTimings(textEncoding: 0, steps: [], decoding: 0),
                                scheduler: "FakeScheduler")
    }
}
