import ArgumentParser
import EaselServer
import Foundation

/// `--data-dir`, shared by every command that touches the data directory.
struct DataDirectoryOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory (database, images, models).")
    var dataDir = "./easel-data"

    var directory: DataDirectory { DataDirectory(path: dataDir) }

    func openStore() throws -> SQLiteStore { try directory.openStore() }
}

/// Formatting shared by the `keys` and `models` listings.
enum ServerCommandFormat {
    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }
}

/// A failure the commands report in one line, without a stack of context.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
