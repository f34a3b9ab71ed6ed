import ArgumentParser
import EaselServer
import Foundation
import Logging

/// `--data-dir`, shared by every command that touches the data directory.
struct DataDirectoryOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory (database, images, models).")
    var dataDir = "./easel-data"

    @Option(
        name: .customLong("database"),
        help: "A PostgreSQL URL (postgres://user:password@host:5432/db) shared by several processes; default: EASEL_DATABASE_URL, else SQLite in the data directory.")
    var database: String?

    var directory: DataDirectory { DataDirectory(path: dataDir) }

    /// `--database`, else `EASEL_DATABASE_URL`, else nil (SQLite).
    var databaseURL: String? {
        if let database, !database.isEmpty { return database }
        if let fromEnvironment = ProcessInfo.processInfo.environment["EASEL_DATABASE_URL"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return nil
    }

    func openStore() async throws -> any EaselStore {
        do {
            var quiet = Logger(label: "easel.store")
            quiet.logLevel = .warning
            return try await directory.openStore(databaseURL: databaseURL, logger: quiet)
        } catch let error as StoreConnectionError {
            throw CommandFailure(error.description)
        }
    }
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
