import Foundation
import GRDB

extension SQLiteStore {
    public func workspace(named name: String, createIfMissing: Bool) async throws -> Workspace? {
        try await pool.write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM workspaces WHERE name = ?", arguments: [name]) {
                return Workspace(row: row)
            }
            guard createIfMissing else { return nil }
            let workspace = Workspace(
                id: UUID().uuidString.lowercased(), name: name, webhookSecret: Credentials.newWebhookSecret(),
                createdAt: Date())
            try db.execute(
                sql: "INSERT INTO workspaces (id, name, webhookSecret, createdAt) VALUES (?, ?, ?, ?)",
                arguments: [workspace.id, workspace.name, workspace.webhookSecret, workspace.createdAt.storedValue])
            return workspace
        }
    }

    public func workspaces() async throws -> [Workspace] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM workspaces ORDER BY name").map(Workspace.init(row:))
        }
    }

    public func workspace(id: String) async throws -> Workspace? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM workspaces WHERE id = ?", arguments: [id]).map(Workspace.init(row:))
        }
    }

    public func addKey(_ key: APIKeyRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO apiKeys (id, workspaceId, keyHash, createdAt, revokedAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    key.id, key.workspaceId, key.keyHash, key.createdAt.storedValue, key.revokedAt?.storedValue,
                ])
        }
    }

    public func keys(workspaceId: String?) async throws -> [APIKeyRecord] {
        try await pool.read { db in
            let rows =
                if let workspaceId {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM apiKeys WHERE workspaceId = ? ORDER BY createdAt",
                        arguments: [workspaceId])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM apiKeys ORDER BY createdAt")
                }
            return rows.map(APIKeyRecord.init(row:))
        }
    }

    public func revokeKey(id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE apiKeys SET revokedAt = ? WHERE id = ? AND revokedAt IS NULL",
                arguments: [Date().storedValue, id])
            return db.changesCount > 0
        }
    }

    public func rotateWebhookSecret(workspaceId: String) async throws -> Workspace? {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE workspaces SET webhookSecret = ? WHERE id = ?",
                arguments: [Credentials.newWebhookSecret(), workspaceId])
            return try Row.fetchOne(db, sql: "SELECT * FROM workspaces WHERE id = ?", arguments: [workspaceId])
                .map(Workspace.init(row:))
        }
    }

    public func authenticate(keyHash: String) async throws -> Workspace? {
        try await pool.read { db in
            try Row.fetchOne(
                try db.cachedStatement(
                    sql: """
                        SELECT w.* FROM apiKeys k JOIN workspaces w ON w.id = k.workspaceId
                        WHERE k.keyHash = ? AND k.revokedAt IS NULL
                        """),
                arguments: [keyHash]
            ).map(Workspace.init(row:))
        }
    }
}

extension SQLiteStore {
    public func addModel(_ model: ModelRecord) async throws {
        try await pool.write { db in
            let clash = try Bool.fetchOne(
                db,
                sql: "SELECT 1 FROM models WHERE id = ? OR (ifnull(workspaceId, '') = ? AND name = ?)",
                arguments: [model.id, model.workspaceId ?? "", model.name]) ?? false
            if clash { throw StoreError.duplicate("a model named '\(model.name)' (id \(model.id))") }
            try db.execute(
                sql: """
                    INSERT INTO models (id, name, workspaceId, format, path, linked, createdAt, subjectKeyword,
                                        subjectType, configPath, precision, recipe)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    model.id, model.name, model.workspaceId, model.format.rawValue, model.path, model.linked,
                    model.createdAt.storedValue, model.subjectKeyword, model.subjectType, model.configPath,
                    model.precision.rawValue, try model.recipe.json(),
                ])
        }
    }

    public func model(id: String) async throws -> ModelRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM models WHERE id = ?", arguments: [id]).map(ModelRecord.init(row:))
        }
    }

    public func models(visibleTo workspaceId: String?) async throws -> [ModelRecord] {
        try await pool.read { db in
            let rows =
                if let workspaceId {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM models WHERE workspaceId IS NULL OR workspaceId = ? ORDER BY createdAt, name",
                        arguments: [workspaceId])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM models ORDER BY createdAt, name")
                }
            return try rows.map(ModelRecord.init(row:))
        }
    }

    @discardableResult
    public func removeModel(id: String) async throws -> ModelRecord? {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM models WHERE id = ?", arguments: [id]) else {
                return nil
            }
            try db.execute(sql: "DELETE FROM models WHERE id = ?", arguments: [id])
            return try ModelRecord(row: row)
        }
    }
}
