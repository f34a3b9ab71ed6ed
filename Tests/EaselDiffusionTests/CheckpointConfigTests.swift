import Foundation
import Testing
@testable import EaselDiffusion

/// Component configs decode into `Codable` structs; failures name the file and the field.
/// Also the strict JSON parser behind headers and indexes.
@Suite struct CheckpointConfigTests {
    /// A slice of UNet2DConditionModel's config, the way models declare theirs.
    struct UNetConfigSlice: Decodable, Equatable {
        var inChannels: Int
        var blockOutChannels: [Int]
        var downBlockTypes: [String]
        var crossAttentionDim: Int
        var normEps: Double
        enum CodingKeys: String, CodingKey {
            case inChannels = "in_channels", blockOutChannels = "block_out_channels"
            case downBlockTypes = "down_block_types", crossAttentionDim = "cross_attention_dim", normEps = "norm_eps"
        }
    }

    @Test func decodesTheFixturesConfig() throws {
        let folder = try DiffusersFolder(url: CheckpointFolderTests.fixtureFolder())
        let config = try folder.component("unet").config(UNetConfigSlice.self)
        #expect(config == UNetConfigSlice(inChannels: 4, blockOutChannels: [8, 16],
                                          downBlockTypes: ["CrossAttnDownBlock2D", "DownBlock2D"],
                                          crossAttentionDim: 8, normEps: 1e-5))
        struct SchedulerSlice: Decodable { var beta_schedule: String }
        #expect(try folder.component("scheduler").config(SchedulerSlice.self, file: "scheduler_config.json").beta_schedule == "linear")
    }

    @Test func decodeErrorsNameFileAndField() throws {
        let path = "/models/x/unet/config.json"
        func error(_ json: String) -> CheckpointError? {
            #expect(throws: CheckpointError.self) {
                try ConfigFile.decode(UNetConfigSlice.self, from: Data(json.utf8), path: path)
            }
        }
        let valid = #"{"in_channels": 4, "block_out_channels": [8, 16], "down_block_types": ["A"], "cross_attention_dim": 8, "norm_eps": 1e-5}"#
        #expect(try ConfigFile.decode(UNetConfigSlice.self, from: Data(valid.utf8), path: path).inChannels == 4)

        let missing = error(#"{"in_channels": 4}"#)
        if case let .invalidConfig(p, field, reason) = missing {
            #expect(p == path && field == "block_out_channels" && reason == "missing")
        } else { Issue.record("\(String(describing: missing))") }
        #expect(missing?.description.contains(path) == true)

        let nested = error(valid.replacingOccurrences(of: "[8, 16]", with: "[8, \"wide\"]"))
        if case let .invalidConfig(_, field, _) = nested { #expect(field == "block_out_channels[1]") } else { Issue.record("nested") }

        let null = error(valid.replacingOccurrences(of: "\"cross_attention_dim\": 8", with: "\"cross_attention_dim\": null"))
        if case let .invalidConfig(_, field, _) = null { #expect(field == "cross_attention_dim") } else { Issue.record("null") }

        let notJSON = error("{in_channels: 4")
        if case let .invalidConfig(_, field, reason) = notJSON {
            #expect(field == "" && reason.contains("not valid JSON"))
        } else { Issue.record("not JSON") }
    }

    @Test func jsonParserKeepsIntegersExactAndDecodesEscapes() throws {
        let value = try JSONParser.parse(Array(#" {"n": [0, -12, 9223372036854775807, 9223372036854775808, 1.5, 2e3], "s": "a\"\\\/\n\u00e9\ud83d\ude00", "t": true, "z": null} "#.utf8))
        guard case let .array(numbers)? = value["n"] else { Issue.record("n"); return }
        #expect(numbers.map(\.exactInt) == [0, -12, .max, nil, nil, nil])
        #expect(value["s"]?.stringValue == "a\"\\/\né😀")
        #expect(value["t"] == .bool(true))
        #expect(value["z"] == .null)
        #expect(value["missing"] == nil)
    }

    @Test func jsonParserReportsOffsets() {
        #expect(throws: JSONParseError(offset: 7, message: "expected ',' or '}'")) { try JSONParser.parse(Array("{\"a\":1 \"b\":2}".utf8)) }
        #expect(throws: JSONParseError(offset: 8, message: "duplicate key \"a\"")) { try JSONParser.parse(Array("{\"a\":1, \"a\":2}".utf8)) }
        #expect(JSONParser.firstInvalidUTF8Offset(Array("ok".utf8) + [0xC3]) == 2)
        #expect(JSONParser.firstInvalidUTF8Offset(Array("é😀".utf8)) == nil)
    }
}
