import ArgumentParser
import EaselServer
import Foundation

/// `easel keys`: API keys and workspaces. Works while the server runs (it reads keys per
/// request from the same database).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke API keys (each belongs to a workspace); show or rotate webhook secrets.",
        subcommands: [Create.self, List.self, Revoke.self, WebhookSecret.self],
        defaultSubcommand: List.self)

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key for a workspace (created if new) and print it once.")

        @Option(help: "Workspace name.") var workspace: String
        @OptionGroup var data: DataDirectoryOption

        func run() async throws {
            let name = workspace.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw CommandFailure("--workspace must not be empty") }
            let store = try await data.openStore()
            guard let owner = try await store.workspace(named: name, createIfMissing: true) else {
                throw CommandFailure("could not create workspace \(name)")
            }
            let key = Credentials.newAPIKey()
            let record = APIKeyRecord(
                id: Credentials.newKeyId(), workspaceId: owner.id, keyHash: Credentials.hash(apiKey: key),
                createdAt: Date(), revokedAt: nil)
            try await store.addKey(record)
            // The key is the only long token printed, so scripts can pick it out.
            print("workspace: \(owner.name)")
            print("key id: \(record.id)")
            print(key)
            print("Shown once: only its SHA-256 is stored. The webhook secret: `easel keys webhook-secret --workspace \(owner.name)`.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List workspaces with their webhook secret and keys (never the keys themselves).")

        @OptionGroup var data: DataDirectoryOption

        func run() async throws {
            let store = try await data.openStore()
            let workspaces = try await store.workspaces()
            if workspaces.isEmpty {
                print("No workspaces yet: easel keys create --workspace NAME")
                return
            }
            for workspace in workspaces {
                print("workspace \(workspace.name)")
                print("  webhook secret: \(workspace.webhookSecret)")
                for key in try await store.keys(workspaceId: workspace.id) {
                    let status = key.revokedAt.map { "revoked \(ServerCommandFormat.date($0))" } ?? "active"
                    print("  key \(key.id)  created \(ServerCommandFormat.date(key.createdAt))  \(status)")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id (or the key itself).")

        @Argument(help: "The key id shown by `easel keys list`, or the full key.") var key: String
        @OptionGroup var data: DataDirectoryOption

        func run() async throws {
            let store = try await data.openStore()
            var id = key
            if key.hasPrefix(Credentials.keyPrefix) {
                let hash = Credentials.hash(apiKey: key)
                guard let match = try await store.keys(workspaceId: nil).first(where: { $0.keyHash == hash }) else {
                    throw CommandFailure("no such key")
                }
                id = match.id
            }
            guard try await store.revokeKey(id: id) else { throw CommandFailure("no active key with id \(id)") }
            print("revoked key \(id)")
        }
    }

    struct WebhookSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "webhook-secret",
            abstract: "Print a workspace's webhook signing secret, or make a new one with --rotate.",
            discussion: """
                Receivers check the `webhook-signature` header with this secret (Standard Webhooks). \
                After --rotate, every later attempt (retries of earlier jobs included) is signed with \
                the new secret; the old one stops verifying at once.
                """)

        @Option(help: "Workspace name.") var workspace: String
        @Flag(help: "Replace the secret with a new one, and print the new one.") var rotate = false
        @OptionGroup var data: DataDirectoryOption

        func run() async throws {
            let store = try await data.openStore()
            guard var owner = try await store.workspace(named: workspace, createIfMissing: false) else {
                throw CommandFailure("no workspace named \(workspace)")
            }
            if rotate {
                guard let rotated = try await store.rotateWebhookSecret(workspaceId: owner.id) else {
                    throw CommandFailure("workspace \(workspace) was removed meanwhile")
                }
                owner = rotated
            }
            // Only the secret on stdout, so scripts can capture it.
            print(owner.webhookSecret)
        }
    }
}
