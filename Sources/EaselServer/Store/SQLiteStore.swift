import EaselDiffusion
import Foundation
import GRDB

/// The embedded store: one SQLite database in WAL mode, shared safely by the server and
/// the `easel keys` / `easel models` commands (separate processes) at the same time.
public final class SQLiteStore: EaselStore {
    let pool: DatabasePool

    /// One server process runs the workers on this file.
    public var isSharedByProcesses: Bool { false }

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        var config = Configuration()
        // Other processes (the CLI) may hold the write lock for a moment.
        config.busyMode = .timeout(10)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            // WAL with FULL sync: a committed job survives power loss, not only a crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    /// The schema, as numbered migrations: later versions append, never edit.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE workspaces (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    webhookSecret TEXT NOT NULL,
                    createdAt REAL NOT NULL,
                    lastClaimSeq INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE apiKeys (
                    id TEXT PRIMARY KEY,
                    workspaceId TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                    keyHash TEXT NOT NULL UNIQUE,
                    createdAt REAL NOT NULL,
                    revokedAt REAL
                );
                CREATE TABLE models (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    workspaceId TEXT REFERENCES workspaces(id) ON DELETE CASCADE,
                    format TEXT NOT NULL,
                    path TEXT NOT NULL,
                    linked INTEGER NOT NULL,
                    createdAt REAL NOT NULL,
                    subjectKeyword TEXT NOT NULL DEFAULT '',
                    subjectType TEXT NOT NULL DEFAULT ''
                );
                CREATE UNIQUE INDEX modelsByName ON models(ifnull(workspaceId, ''), name);
                CREATE TABLE jobs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    workspaceId TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                    modelId TEXT NOT NULL,
                    state TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    negativePrompt TEXT NOT NULL,
                    steps INTEGER NOT NULL,
                    width INTEGER NOT NULL,
                    height INTEGER NOT NULL,
                    numberOfImages INTEGER NOT NULL,
                    promptStrength REAL NOT NULL,
                    seed INTEGER NOT NULL,
                    webhookUrl TEXT,
                    createdAt REAL NOT NULL,
                    startedAt REAL,
                    finishedAt REAL,
                    failureReason TEXT,
                    cancelRequested INTEGER NOT NULL DEFAULT 0,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    currentStep INTEGER,
                    secondsPerStep REAL,
                    warmupSeconds REAL
                );
                CREATE INDEX jobsByQueue ON jobs(state, workspaceId, seq);
                CREATE INDEX jobsByList ON jobs(workspaceId, modelId, seq);
                CREATE TABLE images (
                    id TEXT PRIMARY KEY,
                    jobId TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    workspaceId TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    fileName TEXT NOT NULL,
                    createdAt REAL NOT NULL
                );
                CREATE INDEX imagesByJob ON images(jobId, position);
                CREATE TABLE idempotencyKeys (
                    workspaceId TEXT NOT NULL,
                    key TEXT NOT NULL,
                    requestHash TEXT NOT NULL,
                    jobId TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    createdAt REAL NOT NULL,
                    PRIMARY KEY (workspaceId, key)
                );
                CREATE TABLE webhookDeliveries (
                    id TEXT PRIMARY KEY,
                    jobId TEXT NOT NULL,
                    workspaceId TEXT NOT NULL,
                    url TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    nextAttemptAt REAL NOT NULL,
                    createdAt REAL NOT NULL,
                    lastError TEXT
                );
                CREATE INDEX deliveriesDue ON webhookDeliveries(state, nextAttemptAt);
                CREATE TABLE webhookAttempts (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    deliveryId TEXT NOT NULL REFERENCES webhookDeliveries(id) ON DELETE CASCADE,
                    number INTEGER NOT NULL,
                    at REAL NOT NULL,
                    statusCode INTEGER,
                    error TEXT,
                    durationMs REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2: single-file config folders") { db in
            try db.execute(sql: "ALTER TABLE models ADD COLUMN configPath TEXT")
        }
        migrator.registerMigration("v3: webhook delivery end time, job and attempt indexes") { db in
            // Ended deliveries get an end time (their last attempt's) so they can be pruned;
            // deleting a job finds its deliveries, and pruning their attempts, by index.
            try db.execute(sql: """
                ALTER TABLE webhookDeliveries ADD COLUMN endedAt REAL;
                UPDATE webhookDeliveries
                SET endedAt = coalesce(
                    (SELECT max(at) FROM webhookAttempts WHERE deliveryId = webhookDeliveries.id), createdAt)
                WHERE state != 'pending';
                CREATE INDEX deliveriesByJob ON webhookDeliveries(jobId);
                CREATE INDEX deliveriesEnded ON webhookDeliveries(endedAt) WHERE endedAt IS NOT NULL;
                CREATE INDEX attemptsByDelivery ON webhookAttempts(deliveryId, number);
                """)
        }
        migrator.registerMigration("v4: image to image") { db in
            // The init image apart from the job row, so listing jobs never reads it.
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN strength REAL;
                CREATE TABLE jobInitImages (
                    jobId TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
                    png BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v5: model precision") { db in
            try db.execute(sql: "ALTER TABLE models ADD COLUMN precision TEXT NOT NULL DEFAULT 'fp32'")
        }
        migrator.registerMigration("v6: model recipes") { db in
            // LoRAs, tiny autoencoder and job defaults, as one JSON object (ModelRecipe).
            try db.execute(sql: "ALTER TABLE models ADD COLUMN recipe TEXT NOT NULL DEFAULT '{}'")
        }
        migrator.registerMigration("v7: job claim leases") { db in
            // Who holds a processing job and until when: a job whose lease ran out goes back
            // to the queue while the server runs, not only at the next start.
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN claimedBy TEXT;
                ALTER TABLE jobs ADD COLUMN leaseUntil REAL;
                """)
        }
        migrator.registerMigration("v8: images by file name") { db in
            // The orphan image sweeper asks which files are named by an image.
            try db.execute(sql: "CREATE INDEX imagesByFile ON images(fileName)")
        }
        return migrator
    }
}

// MARK: - Row decoding

extension Date {
    /// Dates are stored as REAL seconds since 1970 so they compare and sort in SQL.
    var storedValue: Double { timeIntervalSince1970 }
    init(stored: Double) { self.init(timeIntervalSince1970: stored) }
}

extension Workspace {
    init(row: Row) {
        self.init(
            id: row["id"], name: row["name"], webhookSecret: row["webhookSecret"],
            createdAt: Date(stored: row["createdAt"]))
    }
}

extension APIKeyRecord {
    init(row: Row) {
        let revoked: Double? = row["revokedAt"]
        self.init(
            id: row["id"], workspaceId: row["workspaceId"], keyHash: row["keyHash"],
            createdAt: Date(stored: row["createdAt"]), revokedAt: revoked.map(Date.init(stored:)))
    }
}

extension ModelRecord {
    init(row: Row) throws {
        let formatName: String = row["format"]
        guard let format = ModelFormat(rawValue: formatName) else {
            throw StoreError.corrupt("models.format has unknown value '\(formatName)'")
        }
        let precisionName: String = row["precision"]
        guard let precision = Precision(rawValue: precisionName) else {
            throw StoreError.corrupt("models.precision has unknown value '\(precisionName)'")
        }
        let recipe = try Self.recipe(row["recipe"], id: row["id"])
        self.init(
            id: row["id"], name: row["name"], workspaceId: row["workspaceId"], format: format,
            path: row["path"], linked: row["linked"], createdAt: Date(stored: row["createdAt"]),
            subjectKeyword: row["subjectKeyword"], subjectType: row["subjectType"], configPath: row["configPath"],
            precision: precision, recipe: recipe)
    }
}

extension JobRecord {
    init(row: Row) throws {
        let stateName: String = row["state"]
        guard let state = JobState(rawValue: stateName) else {
            throw StoreError.corrupt("jobs.state has unknown value '\(stateName)'")
        }
        let started: Double? = row["startedAt"]
        let finished: Double? = row["finishedAt"]
        self.init(
            id: row["id"], seq: row["seq"], workspaceId: row["workspaceId"], modelId: row["modelId"],
            state: state, prompt: row["prompt"], negativePrompt: row["negativePrompt"], steps: row["steps"],
            width: row["width"], height: row["height"], count: row["numberOfImages"],
            guidanceScale: row["promptStrength"], seed: row["seed"], strength: row["strength"],
            webhookUrl: row["webhookUrl"],
            createdAt: Date(stored: row["createdAt"]), startedAt: started.map(Date.init(stored:)),
            finishedAt: finished.map(Date.init(stored:)), failureReason: row["failureReason"],
            cancelRequested: row["cancelRequested"], attempts: row["attempts"], currentStep: row["currentStep"],
            secondsPerStep: row["secondsPerStep"], warmupSeconds: row["warmupSeconds"])
    }
}

extension ImageRecord {
    init(row: Row) {
        self.init(
            id: row["id"], jobId: row["jobId"], workspaceId: row["workspaceId"], position: row["position"],
            fileName: row["fileName"], createdAt: Date(stored: row["createdAt"]))
    }
}

extension WebhookDelivery {
    init(row: Row) throws {
        let stateName: String = row["state"]
        guard let state = DeliveryState(rawValue: stateName) else {
            throw StoreError.corrupt("webhookDeliveries.state has unknown value '\(stateName)'")
        }
        self.init(
            id: row["id"], jobId: row["jobId"], workspaceId: row["workspaceId"], url: row["url"],
            payload: row["payload"], state: state, attempts: row["attempts"],
            nextAttemptAt: Date(stored: row["nextAttemptAt"]), createdAt: Date(stored: row["createdAt"]),
            lastError: row["lastError"], endedAt: (row["endedAt"] as Double?).map(Date.init(stored:)))
    }
}

extension WebhookAttempt {
    init(row: Row) {
        self.init(
            deliveryId: row["deliveryId"], number: row["number"], at: Date(stored: row["at"]),
            statusCode: row["statusCode"], error: row["error"], durationMilliseconds: row["durationMs"])
    }
}

/// Store failures that are not SQLite's own.
public enum StoreError: Error, CustomStringConvertible {
    case corrupt(String)
    case duplicate(String)

    public var description: String {
        switch self {
        case .corrupt(let what): "store holds an unexpected value: \(what)"
        case .duplicate(let what): "already exists: \(what)"
        }
    }
}
