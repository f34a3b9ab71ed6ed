import Foundation
import Testing
@testable import EaselDiffusion

/// Truncation reporting, decoding, concurrency and speed of the CLIP tokenizer.
@Suite("Tokenizer behaviour")
struct TokenizerBehaviourTests {
    @Test func truncationIsReported() throws {
        let tokenizer = try CLIPTokenizer.builtin()
        let fits = tokenizer.encode(String(repeating: "word ", count: 75))
        #expect(fits.unpaddedLength == 77 && !fits.isTruncated && fits.contentLength == 77)
        #expect(fits.ids.last == tokenizer.eosTokenID)

        let over = tokenizer.encode(String(repeating: "word ", count: 76))
        #expect(over.unpaddedLength == 78 && over.isTruncated && over.ids.count == 77)
        #expect(over.ids.first == tokenizer.bosTokenID && over.ids.last == tokenizer.eosTokenID)

        let empty = tokenizer.encode("")
        #expect(empty.unpaddedLength == 2 && !empty.isTruncated && empty.contentLength == 2)
        #expect(empty.ids == [49406] + Array(repeating: 49407, count: 76))
    }

    @Test func decodeGivesTheDroppedText() throws {
        let tokenizer = try CLIPTokenizer.builtin()
        #expect(tokenizer.decode(tokenizer.encode("A Photo of a CAT, café 😀!").ids) == "a photo of a cat , café 😀!")
        // What diffusers logs as removed: the tokens past maxLength - 2.
        let prompt = String(repeating: "red ", count: 75) + "blue green"
        let tokens = tokenizer.tokenize(prompt)
        #expect(tokenizer.decode(tokens.dropFirst(tokenizer.maxLength - 2)) == "blue green")
    }

    @Test func concurrentCallersAgree() async throws {
        let tokenizer = try CLIPTokenizer.builtin()
        let prompts = try TokenizerFixtures.cases().map(\.prompt)
        let serial = prompts.map { tokenizer.encode($0) }
        let parallel = await withTaskGroup(of: (Int, TokenizedPrompt).self) { group in
            for (index, prompt) in prompts.enumerated() {
                group.addTask { (index, tokenizer.encode(prompt)) }
            }
            var results = [TokenizedPrompt?](repeating: nil, count: prompts.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
        #expect(parallel == serial.map(Optional.some))
    }

    /// Not a benchmark, a floor: tokenising must stay negligible beside the text encoder (~50 ms).
    @Test func tokenisingIsFast() throws {
        let prompts = try TokenizerFixtures.cases().map(\.prompt)
        let clock = ContinuousClock()
        var tokenizer = try CLIPTokenizer.builtin()
        let cold = clock.measure { for prompt in prompts { _ = tokenizer.encode(prompt) } }
        let rounds = 5
        let warm = clock.measure { for _ in 0..<rounds { for prompt in prompts { _ = tokenizer.encode(prompt) } } }
        let loadTime = clock.measure { tokenizer = try! CLIPTokenizer.builtin() }
        let coldRate = Double(prompts.count) / cold.seconds
        let warmRate = Double(prompts.count * rounds) / warm.seconds
        print("CLIP tokenizer: \(Int(coldRate)) prompts/s cold cache, \(Int(warmRate)) prompts/s warm; "
              + "built-in vocabulary loads in \(Int(loadTime.seconds * 1000)) ms (\(prompts.count) fixture prompts)")
        #expect(coldRate > 200)
        #expect(warmRate > 1_000)
    }
}

private extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
