import EaselDiffusion
import Foundation
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations: later versions append, never edit.
/// Version 1 is SQLite's v1–v5 in one step, plus the claim lease. Columns are snake_case;
/// times are float8 seconds since 1970, as in the SQLite store, so both compare the same way.
enum PostgresSchema {
    struct Migration {
        let version: Int
        let name: String
        /// One statement each (the extended protocol takes one at a time).
        let statements: [String]
    }

    /// Any constant shared by every Easel process: the advisory lock held while migrating.
    static let migrationLockKey: Int64 = 0x4561_7365_6C00_0001

    static let migrations: [Migration] = [
        Migration(version: 1, name: "initial schema (SQLite v1-v5) with claim leases", statements: [
            """
            CREATE TABLE workspaces (
                id text PRIMARY KEY,
                name text NOT NULL UNIQUE,
                webhook_secret text NOT NULL,
                created_at float8 NOT NULL,
                last_claim_seq bigint NOT NULL DEFAULT 0
            )
            """,
            // Claims stamp the workspace with the next value: served least recently = smallest.
            "CREATE SEQUENCE claim_order",
            """
            CREATE TABLE api_keys (
                id text PRIMARY KEY,
                workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                key_hash text NOT NULL UNIQUE,
                created_at float8 NOT NULL,
                revoked_at float8
            )
            """,
            """
            CREATE TABLE models (
                id text PRIMARY KEY,
                name text NOT NULL,
                workspace_id text REFERENCES workspaces(id) ON DELETE CASCADE,
                format text NOT NULL,
                path text NOT NULL,
                linked boolean NOT NULL,
                created_at float8 NOT NULL,
                subject_keyword text NOT NULL DEFAULT '',
                subject_type text NOT NULL DEFAULT '',
                config_path text,
                precision text NOT NULL DEFAULT 'fp32'
            )
            """,
            "CREATE UNIQUE INDEX models_by_name ON models ((coalesce(workspace_id, '')), name)",
            """
            CREATE TABLE jobs (
                seq bigserial PRIMARY KEY,
                id text NOT NULL UNIQUE,
                workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                model_id text NOT NULL,
                state text NOT NULL,
                prompt text NOT NULL,
                negative_prompt text NOT NULL,
                steps bigint NOT NULL,
                width bigint NOT NULL,
                height bigint NOT NULL,
                number_of_images bigint NOT NULL,
                prompt_strength float8 NOT NULL,
                seed bigint NOT NULL,
                strength float8,
                webhook_url text,
                created_at float8 NOT NULL,
                started_at float8,
                finished_at float8,
                failure_reason text,
                cancel_requested boolean NOT NULL DEFAULT false,
                attempts bigint NOT NULL DEFAULT 0,
                current_step bigint,
                seconds_per_step float8,
                warmup_seconds float8,
                claimed_by text,
                lease_until float8
            )
            """,
            "CREATE INDEX jobs_by_queue ON jobs (state, workspace_id, seq)",
            "CREATE INDEX jobs_by_list ON jobs (workspace_id, model_id, seq)",
            "CREATE INDEX jobs_by_lease ON jobs (lease_until) WHERE state = 'processing'",
            """
            CREATE TABLE job_init_images (
                job_id text PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
                png bytea NOT NULL
            )
            """,
            """
            CREATE TABLE images (
                id text PRIMARY KEY,
                job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                workspace_id text NOT NULL,
                position bigint NOT NULL,
                file_name text NOT NULL,
                created_at float8 NOT NULL
            )
            """,
            "CREATE INDEX images_by_job ON images (job_id, position)",
            """
            CREATE TABLE idempotency_keys (
                workspace_id text NOT NULL,
                key text NOT NULL,
                request_hash text NOT NULL,
                job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                created_at float8 NOT NULL,
                PRIMARY KEY (workspace_id, key)
            )
            """,
            """
            CREATE TABLE webhook_deliveries (
                id text PRIMARY KEY,
                job_id text NOT NULL,
                workspace_id text NOT NULL,
                url text NOT NULL,
                payload bytea NOT NULL,
                state text NOT NULL,
                attempts bigint NOT NULL DEFAULT 0,
                next_attempt_at float8 NOT NULL,
                created_at float8 NOT NULL,
                last_error text,
                ended_at float8
            )
            """,
            "CREATE INDEX deliveries_due ON webhook_deliveries (state, next_attempt_at)",
            "CREATE INDEX deliveries_by_job ON webhook_deliveries (job_id)",
            "CREATE INDEX deliveries_ended ON webhook_deliveries (ended_at) WHERE ended_at IS NOT NULL",
            """
            CREATE TABLE webhook_attempts (
                id bigserial PRIMARY KEY,
                delivery_id text NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
                number bigint NOT NULL,
                attempted_at float8 NOT NULL,
                status_code bigint,
                error text,
                duration_ms float8 NOT NULL
            )
            """,
            "CREATE INDEX attempts_by_delivery ON webhook_attempts (delivery_id, number)",
        ]),
        // SQLite's v6: LoRAs, tiny autoencoder and job defaults, one JSON object (ModelRecipe).
        Migration(version: 2, name: "model recipes", statements: [
            "ALTER TABLE models ADD COLUMN recipe text NOT NULL DEFAULT '{}'",
        ]),
        // SQLite's v8: the orphan image sweeper asks which files are named by an image.
        Migration(version: 3, name: "images by file name", statements: [
            "CREATE INDEX images_by_file ON images (file_name)",
        ]),
        // Notifications on commit, so other processes learn of a change at once instead
        // of at their next look: a job queued (workers wake), a job's state, step or
        // cancel flag changed or the job deleted (event streams read it again).
        Migration(version: 4, name: "job notifications", statements: [
            """
            CREATE FUNCTION easel_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    PERFORM pg_notify('\(jobChangedChannel)', OLD.id);
                    RETURN OLD;
                END IF;
                IF NEW.state = 'queued' AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM 'queued') THEN
                    PERFORM pg_notify('\(jobQueuedChannel)', '');
                END IF;
                IF TG_OP = 'UPDATE' THEN
                    PERFORM pg_notify('\(jobChangedChannel)', NEW.id);
                END IF;
                RETURN NEW;
            END
            $$
            """,
            "CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION easel_notify_job()",
            """
            CREATE TRIGGER jobs_notify_update AFTER UPDATE ON jobs FOR EACH ROW
            WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.current_step IS DISTINCT FROM NEW.current_step
                  OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
            EXECUTE FUNCTION easel_notify_job()
            """,
            "CREATE TRIGGER jobs_notify_delete AFTER DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION easel_notify_job()",
        ]),
        // A submit (without idempotency key or init image) in one round trip: the workspace's
        // lock, its queued count and the insert run in the server, so the lock is held for
        // the server's work alone rather than across four round trips to a busy client. The
        // count is kept per workspace by a trigger (`workspace_queue`), in the transactions
        // that change it, so reading it under the lock costs the same with 10 or 10,000
        // jobs waiting (counting the rows made POST on a busy workspace slower with every
        // job queued: 440 a second at first, 124 after 4,500). `easel_enqueue` is VOLATILE:
        // each statement takes a new snapshot under READ COMMITTED, so the count, read after
        // the lock, includes every job committed by whoever held it before.
        Migration(version: 5, name: "queued counts and submit in one call", statements: [
            """
            CREATE TABLE workspace_queue (
                workspace_id text PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
                queued bigint NOT NULL
            )
            """,
            """
            CREATE FUNCTION easel_count_queued() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 'queued' THEN
                    UPDATE workspace_queue SET queued = queued - 1 WHERE workspace_id = OLD.workspace_id;
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 'queued' THEN
                    INSERT INTO workspace_queue (workspace_id, queued) VALUES (NEW.workspace_id, 1)
                    ON CONFLICT (workspace_id) DO UPDATE SET queued = workspace_queue.queued + 1;
                END IF;
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER jobs_count_queued AFTER INSERT OR DELETE OR UPDATE OF state, workspace_id ON jobs
            FOR EACH ROW EXECUTE FUNCTION easel_count_queued()
            """,
            // After the trigger: creating it locks out writers of jobs until this commits, so
            // the count below sees every job, and every later change goes through the trigger.
            """
            INSERT INTO workspace_queue (workspace_id, queued)
            SELECT workspace_id, count(*) FROM jobs WHERE state = 'queued' GROUP BY workspace_id
            """,
            """
            CREATE FUNCTION easel_enqueue(
                p_id text, p_workspace_id text, p_model_id text, p_prompt text, p_negative_prompt text,
                p_steps bigint, p_width bigint, p_height bigint, p_number_of_images bigint,
                p_prompt_strength float8, p_seed bigint, p_strength float8, p_webhook_url text,
                p_created_at float8, p_max_queued bigint
            ) RETURNS SETOF jobs LANGUAGE plpgsql VOLATILE AS $$
            DECLARE
                waiting bigint;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtext(p_workspace_id));
                SELECT q.queued INTO waiting FROM workspace_queue q WHERE q.workspace_id = p_workspace_id;
                IF coalesce(waiting, 0) >= p_max_queued THEN
                    RETURN;
                END IF;
                RETURN QUERY
                INSERT INTO jobs (id, workspace_id, model_id, state, prompt, negative_prompt, steps, width, height,
                                  number_of_images, prompt_strength, seed, strength, webhook_url, created_at)
                VALUES (p_id, p_workspace_id, p_model_id, 'queued', p_prompt, p_negative_prompt, p_steps, p_width,
                        p_height, p_number_of_images, p_prompt_strength, p_seed, p_strength, p_webhook_url,
                        p_created_at)
                RETURNING *;
            END
            $$
            """,
        ]),
    ]

    /// Payload: the job's id.
    static let jobChangedChannel = "easel_job_changed"
    /// No payload: some job became queued.
    static let jobQueuedChannel = "easel_job_queued"
}

extension PostgresStore {
    /// Applies the migrations this database lacks, each in its own transaction, while
    /// holding a session advisory lock: a second process starting at the same moment waits
    /// for the first and then finds nothing left to do.
    func migrate() async throws {
        let logger = self.logger
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(PostgresSchema.migrationLockKey))", logger: logger)
            do {
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS easel_schema_migrations (
                        version bigint PRIMARY KEY, name text NOT NULL, applied_at float8 NOT NULL)
                    """, logger: logger)
                let applied = Set(
                    try await connection.rows("SELECT version FROM easel_schema_migrations", logger: logger)
                        .map { try $0.value("version", as: Int.self) })
                if let newest = applied.max(), newest > (PostgresSchema.migrations.map(\.version).max() ?? 0) {
                    throw StoreError.corrupt(
                        "the database has schema version \(newest), newer than this easel knows; upgrade easel")
                }
                for migration in PostgresSchema.migrations where !applied.contains(migration.version) {
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        for statement in migration.statements {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            """
                            INSERT INTO easel_schema_migrations (version, name, applied_at)
                            VALUES (\(migration.version), \(migration.name), \(Date().storedValue))
                            """, logger: logger)
                        try await connection.query("COMMIT", logger: logger)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                    logger.info("database migrated", metadata: ["version": "\(migration.version)"])
                }
            } catch {
                _ = try? await connection.query(
                    "SELECT pg_advisory_unlock(\(PostgresSchema.migrationLockKey))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(PostgresSchema.migrationLockKey))", logger: logger)
        }
    }
}

// MARK: - Row decoding

extension Workspace {
    init(pg row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row.value("id"), name: try row.value("name"), webhookSecret: try row.value("webhook_secret"),
            createdAt: Date(stored: try row.value("created_at")))
    }
}

extension APIKeyRecord {
    init(pg row: PostgresRandomAccessRow) throws {
        let revoked: Double? = try row.value("revoked_at")
        self.init(
            id: try row.value("id"), workspaceId: try row.value("workspace_id"), keyHash: try row.value("key_hash"),
            createdAt: Date(stored: try row.value("created_at")), revokedAt: revoked.map(Date.init(stored:)))
    }
}

extension ModelRecord {
    init(pg row: PostgresRandomAccessRow) throws {
        let formatName: String = try row.value("format")
        guard let format = ModelFormat(rawValue: formatName) else {
            throw StoreError.corrupt("models.format has unknown value '\(formatName)'")
        }
        let precisionName: String = try row.value("precision")
        guard let precision = Precision(rawValue: precisionName) else {
            throw StoreError.corrupt("models.precision has unknown value '\(precisionName)'")
        }
        self.init(
            id: try row.value("id"), name: try row.value("name"), workspaceId: try row.value("workspace_id"),
            format: format, path: try row.value("path"), linked: try row.value("linked"),
            createdAt: Date(stored: try row.value("created_at")), subjectKeyword: try row.value("subject_keyword"),
            subjectType: try row.value("subject_type"), configPath: try row.value("config_path"), precision: precision,
            recipe: try Self.recipe(try row.value("recipe"), id: try row.value("id")))
    }

    /// The stored recipe JSON, or a corrupt-store error naming the model.
    static func recipe(_ json: String, id: String) throws -> ModelRecipe {
        do {
            return try ModelRecipe(json: json)
        } catch {
            throw StoreError.corrupt("models.recipe of model \(id) does not decode: \(error)")
        }
    }
}

extension JobRecord {
    init(pg row: PostgresRandomAccessRow) throws {
        let stateName: String = try row.value("state")
        guard let state = JobState(rawValue: stateName) else {
            throw StoreError.corrupt("jobs.state has unknown value '\(stateName)'")
        }
        let started: Double? = try row.value("started_at")
        let finished: Double? = try row.value("finished_at")
        self.init(
            id: try row.value("id"), seq: try row.value("seq"), workspaceId: try row.value("workspace_id"),
            modelId: try row.value("model_id"), state: state, prompt: try row.value("prompt"),
            negativePrompt: try row.value("negative_prompt"), steps: try row.value("steps"),
            width: try row.value("width"), height: try row.value("height"), count: try row.value("number_of_images"),
            guidanceScale: try row.value("prompt_strength"), seed: try row.value("seed"),
            strength: try row.value("strength"), webhookUrl: try row.value("webhook_url"),
            createdAt: Date(stored: try row.value("created_at")), startedAt: started.map(Date.init(stored:)),
            finishedAt: finished.map(Date.init(stored:)), failureReason: try row.value("failure_reason"),
            cancelRequested: try row.value("cancel_requested"), attempts: try row.value("attempts"),
            currentStep: try row.value("current_step"), secondsPerStep: try row.value("seconds_per_step"),
            warmupSeconds: try row.value("warmup_seconds"))
    }
}

extension ImageRecord {
    init(pg row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row.value("id"), jobId: try row.value("job_id"), workspaceId: try row.value("workspace_id"),
            position: try row.value("position"), fileName: try row.value("file_name"),
            createdAt: Date(stored: try row.value("created_at")))
    }
}

extension WebhookDelivery {
    init(pg row: PostgresRandomAccessRow) throws {
        let stateName: String = try row.value("state")
        guard let state = DeliveryState(rawValue: stateName) else {
            throw StoreError.corrupt("webhook_deliveries.state has unknown value '\(stateName)'")
        }
        let ended: Double? = try row.value("ended_at")
        self.init(
            id: try row.value("id"), jobId: try row.value("job_id"), workspaceId: try row.value("workspace_id"),
            url: try row.value("url"), payload: try row.value("payload"), state: state,
            attempts: try row.value("attempts"), nextAttemptAt: Date(stored: try row.value("next_attempt_at")),
            createdAt: Date(stored: try row.value("created_at")), lastError: try row.value("last_error"),
            endedAt: ended.map(Date.init(stored:)))
    }
}

extension WebhookAttempt {
    init(pg row: PostgresRandomAccessRow) throws {
        self.init(
            deliveryId: try row.value("delivery_id"), number: try row.value("number"),
            at: Date(stored: try row.value("attempted_at")), statusCode: try row.value("status_code"),
            error: try row.value("error"), durationMilliseconds: try row.value("duration_ms"))
    }
}
