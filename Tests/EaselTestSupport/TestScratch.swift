import Foundation

/// Where tests make their temporary folders: one root per test process,
/// `<tmp>/easel-tests-<pid>`, removed when the process exits. A run that dies before it can
/// clean up (a crash, a kill, a CI timeout) leaves its root behind; the next run removes the
/// roots whose processes are gone. Folders made one by one in the system's temporary folder,
/// each test cleaning up after itself, had added up to 48 GB over a few days of test runs.
public enum TestScratch {
    /// A new, empty folder `<root>/<label>-<uuid>`.
    public static func folder(_ label: String) throws -> URL {
        let url = root.appendingPathComponent("\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    private static let prefix = "easel-tests-"

    private static let root: URL = {
        let fm = FileManager.default
        let temporary = fm.temporaryDirectory
        for entry in (try? fm.contentsOfDirectory(atPath: temporary.path)) ?? [] where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count)), pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? fm.removeItem(at: temporary.appendingPathComponent(entry))
        }
        let url = temporary.appendingPathComponent("\(prefix)\(getpid())", isDirectory: true)
        try? fm.createDirectory(at: url, withIntermediateDirectories: true)
        atexit {
            let own = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)\(getpid())")
            try? FileManager.default.removeItem(at: own)
        }
        return url
    }()
}
