import Foundation
import PostgresNIO

extension PostgresStore {
    public func workspace(named name: String, createIfMissing: Bool) async throws -> Workspace? {
        let logger = self.logger
        if let found = try await read({ connection in
            try await connection.first("SELECT * FROM workspaces WHERE name = \(name)", logger: logger)
                .map(Workspace.init(pg:))
        }) {
            return found
        }
        guard createIfMissing else { return nil }
        let fresh = Workspace(
            id: UUID().uuidString.lowercased(), name: name, webhookSecret: Credentials.newWebhookSecret(),
            createdAt: Date())
        return try await write { connection in
            // Two processes creating the same workspace at once: the second finds the first's.
            try await connection.query(
                """
                INSERT INTO workspaces (id, name, webhook_secret, created_at)
                VALUES (\(fresh.id), \(fresh.name), \(fresh.webhookSecret), \(fresh.createdAt.storedValue))
                ON CONFLICT (name) DO NOTHING
                """, logger: logger)
            return try await connection.first("SELECT * FROM workspaces WHERE name = \(name)", logger: logger)
                .map(Workspace.init(pg:))
        }
    }

    public func workspaces() async throws -> [Workspace] {
        let logger = self.logger
        return try await read { connection in
            try await connection.rows("SELECT * FROM workspaces ORDER BY name COLLATE \"C\"", logger: logger).map(Workspace.init(pg:))
        }
    }

    public func workspace(id: String) async throws -> Workspace? {
        let logger = self.logger
        return try await read { connection in
            try await connection.first("SELECT * FROM workspaces WHERE id = \(id)", logger: logger)
                .map(Workspace.init(pg:))
        }
    }

    public func addKey(_ key: APIKeyRecord) async throws {
        let logger = self.logger
        try await read { connection in
            try await connection.run(
                """
                INSERT INTO api_keys (id, workspace_id, key_hash, created_at, revoked_at)
                VALUES (\(key.id), \(key.workspaceId), \(key.keyHash), \(key.createdAt.storedValue),
                        \(key.revokedAt?.storedValue))
                """, logger: logger)
        }
    }

    public func keys(workspaceId: String?) async throws -> [APIKeyRecord] {
        let logger = self.logger
        return try await read { connection in
            let rows =
                if let workspaceId {
                    try await connection.rows(
                        "SELECT * FROM api_keys WHERE workspace_id = \(workspaceId) ORDER BY created_at", logger: logger)
                } else {
                    try await connection.rows("SELECT * FROM api_keys ORDER BY created_at", logger: logger)
                }
            return try rows.map(APIKeyRecord.init(pg:))
        }
    }

    public func revokeKey(id: String) async throws -> Bool {
        let logger = self.logger
        let now = Date().storedValue
        return try await read { connection in
            try await connection.run(
                "UPDATE api_keys SET revoked_at = \(now) WHERE id = \(id) AND revoked_at IS NULL RETURNING id",
                logger: logger) > 0
        }
    }

    public func rotateWebhookSecret(workspaceId: String) async throws -> Workspace? {
        let logger = self.logger
        let secret = Credentials.newWebhookSecret()
        return try await read { connection in
            try await connection.first(
                "UPDATE workspaces SET webhook_secret = \(secret) WHERE id = \(workspaceId) RETURNING *", logger: logger
            ).map(Workspace.init(pg:))
        }
    }

    public func authenticate(keyHash: String) async throws -> Workspace? {
        try await rows(
            """
            SELECT w.* FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
            WHERE k.key_hash = \(keyHash) AND k.revoked_at IS NULL
            """
        ).first.map(Workspace.init(pg:))
    }
}

extension PostgresStore {
    public func addModel(_ model: ModelRecord) async throws {
        let logger = self.logger
        try await write { connection in
            let clash = try await connection.first(
                """
                SELECT 1 AS clash FROM models
                WHERE id = \(model.id) OR (coalesce(workspace_id, '') = \(model.workspaceId ?? "") AND name = \(model.name))
                """, logger: logger)
            if clash != nil { throw StoreError.duplicate("a model named '\(model.name)' (id \(model.id))") }
            try await connection.query(
                """
                INSERT INTO models (id, name, workspace_id, format, path, linked, created_at, subject_keyword,
                                    subject_type, config_path, precision, recipe)
                VALUES (\(model.id), \(model.name), \(model.workspaceId), \(model.format.rawValue), \(model.path),
                        \(model.linked), \(model.createdAt.storedValue), \(model.subjectKeyword), \(model.subjectType),
                        \(model.configPath), \(model.precision.rawValue), \(try model.recipe.json()))
                """, logger: logger)
        }
    }

    public func model(id: String) async throws -> ModelRecord? {
        try await rows("SELECT * FROM models WHERE id = \(id)").first.map(ModelRecord.init(pg:))
    }

    public func models(visibleTo workspaceId: String?) async throws -> [ModelRecord] {
        let logger = self.logger
        return try await read { connection in
            let rows =
                if let workspaceId {
                    try await connection.rows(
                        """
                        SELECT * FROM models WHERE workspace_id IS NULL OR workspace_id = \(workspaceId)
                        ORDER BY created_at, name COLLATE "C"
                        """, logger: logger)
                } else {
                    try await connection.rows("SELECT * FROM models ORDER BY created_at, name COLLATE \"C\"", logger: logger)
                }
            return try rows.map(ModelRecord.init(pg:))
        }
    }

    @discardableResult
    public func removeModel(id: String) async throws -> ModelRecord? {
        let logger = self.logger
        return try await read { connection in
            try await connection.first("DELETE FROM models WHERE id = \(id) RETURNING *", logger: logger)
                .map(ModelRecord.init(pg:))
        }
    }
}
