import Foundation

/// The latest live preview of each running job: one small PNG per job in a folder of the
/// data directory, so any API process that shares the directory serves it. Files are named
/// `<jobId>.<step>.png`; writing a newer preview removes the older ones, and the runner
/// removes a job's previews when the job ends.
public struct PreviewStore: Sendable {
    public let folder: URL

    public init(folder: URL) {
        self.folder = folder
    }

    /// Stores `png` as job `jobId`'s preview at `step` (write-then-rename: a reader never
    /// sees half a file), then removes its earlier ones.
    public func write(_ png: Data, jobId: String, step: Int) throws {
        guard Self.isSafe(jobId) else { return }
        try PrivateFiles.createFolder(folder)
        try PrivateFiles.writeAtomically(png, to: folder.appendingPathComponent("\(jobId).\(step).png"))
        for (older, _) in steps(jobId: jobId) where older < step {
            try? FileManager.default.removeItem(at: url(jobId: jobId, step: older))
        }
    }

    /// The newest preview's step and file, if the job has one.
    public func latest(jobId: String) -> (step: Int, url: URL)? {
        guard let step = steps(jobId: jobId).map(\.step).max() else { return nil }
        return (step, url(jobId: jobId, step: step))
    }

    public func remove(jobId: String) {
        for (step, _) in steps(jobId: jobId) { try? FileManager.default.removeItem(at: url(jobId: jobId, step: step)) }
    }

    func url(jobId: String, step: Int) -> URL { folder.appendingPathComponent("\(jobId).\(step).png") }

    private func steps(jobId: String) -> [(step: Int, name: String)] {
        guard Self.isSafe(jobId), let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            return []
        }
        let prefix = jobId + "."
        return names.compactMap { name in
            guard name.hasPrefix(prefix), name.hasSuffix(".png"),
                  let step = Int(name.dropFirst(prefix.count).dropLast(4)) else { return nil }
            return (step, name)
        }
    }

    /// Job ids are ours (letters, digits and dashes): no path can escape the folder.
    static func isSafe(_ jobId: String) -> Bool {
        !jobId.isEmpty && jobId.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }
}
