import EaselTensor
import Foundation

/// A checkpoint split over several safetensors files, described by an index
/// (`diffusion_pytorch_model.safetensors.index.json` or `model.safetensors.index.json`)
/// whose `weight_map` names the shard holding each tensor.
///
/// Opening validates the index and every shard's header, and checks that the index and
/// the shards agree tensor by tensor; tensor data is then read lazily, shard by shard.
public final class ShardedSafetensors: TensorArchive, @unchecked Sendable {
    /// The index file.
    public let indexURL: URL
    /// The shards by file name.
    public let shards: [String: SafetensorsFile]
    public let names: [String]
    /// Tensor name to shard file name.
    private let shardOf: [String: String]

    /// Reads the index at `indexURL` and opens every shard it names (in the same folder).
    public init(indexURL: URL) throws {
        self.indexURL = indexURL
        let indexPath = indexURL.path
        let weightMap = try Self.readWeightMap(indexURL)
        let directory = indexURL.deletingLastPathComponent()

        var shards: [String: SafetensorsFile] = [:]
        for shardName in Set(weightMap.values).sorted() {
            let url = directory.appendingPathComponent(shardName)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw CheckpointError.missingFile(path: url.path, what: "shard '\(shardName)' named by \(indexPath)")
            }
            shards[shardName] = try SafetensorsFile(url: url)
        }
        for (name, shardName) in weightMap.sorted(by: { $0.key < $1.key }) where shards[shardName]?.entry(name) == nil {
            throw CheckpointError.invalidIndex(path: indexPath, reason: "tensor '\(name)' is mapped to \(shardName), which does not contain it")
        }
        for (shardName, shard) in shards.sorted(by: { $0.key < $1.key }) {
            for name in shard.names where weightMap[name] != shardName {
                let listed = weightMap[name].map { "maps it to \($0)" } ?? "does not list it"
                throw CheckpointError.invalidIndex(
                    path: indexPath, reason: "shard \(shardName) holds tensor '\(name)' but the index \(listed)")
            }
        }
        self.shards = shards
        shardOf = weightMap
        names = weightMap.keys.sorted()
    }

    public var location: String { indexURL.path }

    public func info(_ name: String) -> ArchivedTensorInfo? {
        shardOf[name].flatMap { shards[$0]?.info(name) }
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        guard let shardName = shardOf[name], let shard = shards[shardName] else {
            throw CheckpointError.missingTensor(name: name, location: location, hint: nil)
        }
        return try shard.tensor(name)
    }

    /// The index's `weight_map`, checked to name only plain files beside the index.
    private static func readWeightMap(_ url: URL) throws -> [String: String] {
        let path = url.path
        let json = try readJSONFile(url)
        guard case let .object(mapMembers)? = json["weight_map"] else {
            throw CheckpointError.invalidIndex(path: path, reason: "no \"weight_map\" object")
        }
        var weightMap: [String: String] = [:]
        for (name, value) in mapMembers {
            guard let shard = value.stringValue else {
                throw CheckpointError.invalidIndex(path: path, reason: "weight_map entry for '\(name)' is \(value.kindDescription), not a file name")
            }
            guard !shard.isEmpty, !shard.contains("/"), !shard.contains("\\"), shard != ".", shard != ".." else {
                throw CheckpointError.invalidIndex(path: path, reason: "shard '\(shard)' for '\(name)' is not a file name in the index's folder")
            }
            weightMap[name] = shard
        }
        return weightMap
    }
}
