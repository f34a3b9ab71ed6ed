import EaselServer
import Foundation
import Logging
import Testing

/// The hand-written JSON lines parse back to what was logged, whatever the text holds.
@Suite struct JSONLogHandlerTests {
    @Test func linesParseBackWithEscapesNestingAndSortedKeys() throws {
        let lines = Locked<[String]>([])
        var logger = Logger(label: "easel") { label in
            JSONLogHandler(label: label, stream: { line in lines.withLock { $0.append(line) } })
        }
        logger[metadataKey: "b.context"] = "ctx"
        let tricky = "quote \" backslash \\ slash / newline \n tab \t bell \u{07} nul \u{00} é 🌊"
        logger.info(
            "hello \"world\"",
            metadata: [
                "text": "\(tricky)", "list": ["one", "\u{1F}two"], "nested": ["k": "v", "a": ["x"]],
            ])
        let line = try #require(lines.current.first)
        #expect(!line.contains("\n"), "one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "hello \"world\"")
        #expect(object["text"] as? String == tricky)
        #expect(object["list"] as? [String] == ["one", "\u{1F}two"])
        let nested = try #require(object["nested"] as? [String: Any])
        #expect(nested["k"] as? String == "v" && nested["a"] as? [String] == ["x"])
        #expect(object["b.context"] as? String == "ctx" && object["label"] as? String == "easel")
        #expect(object["level"] as? String == "info" && object["time"] is String)
        #expect(line.hasPrefix("{\"b.context\":"), "keys in order")
    }
}
