import EaselDiffusion
import Foundation
import Logging
import PostgresNIO

extension PostgresStore {
    public func enqueue(_ job: NewJob, idempotency: IdempotencyClaim?, maxQueued: Int) async throws -> EnqueueOutcome {
        if idempotency == nil && job.parameters.initImage == nil {
            return try await enqueueInOneCall(job, maxQueued: maxQueued)
        }
        let initImagePNG = try job.parameters.initImage.map { try $0.image.pngData() }
        let logger = self.logger
        return try await write { connection in
            // One submit per workspace at a time: the queued count and the idempotency key are
            // checked and written without another process slipping in between.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext(\(job.workspaceId)))", logger: logger)
            let now = job.createdAt.storedValue
            if let claim = idempotency {
                if let row = try await connection.first(
                    """
                    SELECT * FROM idempotency_keys WHERE workspace_id = \(job.workspaceId) AND key = \(claim.key)
                    """, logger: logger)
                {
                    let seenAt: Double = try row.value("created_at")
                    if seenAt >= now - claim.window {
                        let hash: String = try row.value("request_hash")
                        if hash != claim.requestHash { return .idempotencyMismatch }
                        let jobId: String = try row.value("job_id")
                        if let first = try await Self.fetchJob(connection, id: jobId, logger: logger) {
                            return .replayed(first)
                        }
                    }
                }
                try await connection.query(
                    """
                    DELETE FROM idempotency_keys
                    WHERE workspace_id = \(job.workspaceId) AND (created_at < \(now - claim.window) OR key = \(claim.key))
                    """, logger: logger)
            }
            let queued = try await connection.first(
                "SELECT count(*) AS n FROM jobs WHERE workspace_id = \(job.workspaceId) AND state = 'queued'",
                logger: logger)?.value("n", as: Int.self) ?? 0
            if queued >= maxQueued { return .tooManyQueued(queued) }
            let p = job.parameters
            let seed = Int64(p.seed)
            let inserted = try await connection.first(
                """
                INSERT INTO jobs (id, workspace_id, model_id, state, prompt, negative_prompt, steps, width, height,
                                  number_of_images, prompt_strength, seed, strength, webhook_url, created_at)
                VALUES (\(job.id), \(job.workspaceId), \(job.modelId), 'queued', \(p.prompt), \(p.negativePrompt ?? ""),
                        \(p.steps), \(p.width), \(p.height), \(p.count), \(p.guidanceScale), \(seed),
                        \(p.initImage?.strength), \(job.webhookUrl), \(now))
                RETURNING *
                """, logger: logger)
            if let initImagePNG {
                try await connection.query(
                    "INSERT INTO job_init_images (job_id, png) VALUES (\(job.id), \(initImagePNG))", logger: logger)
            }
            if let claim = idempotency {
                try await connection.query(
                    """
                    INSERT INTO idempotency_keys (workspace_id, key, request_hash, job_id, created_at)
                    VALUES (\(job.workspaceId), \(claim.key), \(claim.requestHash), \(job.id), \(now))
                    """, logger: logger)
            }
            guard let created = try inserted.map(JobRecord.init(pg:)) else {
                throw StoreError.corrupt("job \(job.id) was not returned by its insert")
            }
            return .created(created)
        }
    }

    /// The common submit, in one statement (`easel_enqueue`, schema version 5): the same
    /// lock, count and insert as `enqueue`'s transaction, run by the server in one round trip
    /// and committed with it. A full queue returns no row; its count is read again (outside
    /// the lock) for the message.
    private func enqueueInOneCall(_ job: NewJob, maxQueued: Int) async throws -> EnqueueOutcome {
        let p = job.parameters
        let statement = EnqueueStatement(
            id: job.id, workspaceId: job.workspaceId, modelId: job.modelId, prompt: p.prompt,
            negativePrompt: p.negativePrompt ?? "", steps: p.steps, width: p.width, height: p.height, count: p.count,
            guidanceScale: p.guidanceScale, seed: Int64(p.seed), webhookUrl: job.webhookUrl,
            createdAt: job.createdAt.storedValue, maxQueued: maxQueued)
        if let inserted = try await rows(statement).first { return .created(try JobRecord(pg: inserted)) }
        let queued = try await rows(
            "SELECT count(*) AS n FROM jobs WHERE workspace_id = \(job.workspaceId) AND state = 'queued'"
        ).first?.value("n", as: Int.self) ?? 0
        return .tooManyQueued(max(queued, maxQueued))
    }

    public func job(id: String, workspaceId: String) async throws -> JobSnapshot? {
        let logger = self.logger
        return try await read { connection in
            guard let job = try await Self.fetchJob(connection, id: id, logger: logger), job.workspaceId == workspaceId
            else { return nil }
            return JobSnapshot(job: job, images: try await Self.fetchImages(connection, jobIds: [id], logger: logger)[id] ?? [])
        }
    }

    /// One prepared statement (`JobViewStatement`): the job row, its images as parallel
    /// arrays and, only while it is queued, its place (own jobs ahead, the lanes with their
    /// claim order, the processing count). Images and lanes come unsorted and are put in
    /// order here (see the statement).
    public func jobView(id: String, workspaceId: String) async throws -> JobView? {
        guard let row = try await rows(JobViewStatement(id: id, workspaceId: workspaceId)).first else { return nil }
        let job = try JobRecord(pg: row)
        let ids: [String] = try row.value("image_ids")
        let positions: [Int] = try row.value("image_positions")
        let files: [String] = try row.value("image_files")
        let times: [Double] = try row.value("image_times")
        let images = ids.indices.map {
            ImageRecord(
                id: ids[$0], jobId: job.id, workspaceId: job.workspaceId, position: positions[$0], fileName: files[$0],
                createdAt: Date(stored: times[$0]))
        }.sorted { $0.position < $1.position }
        let snapshot = JobSnapshot(job: job, images: images)
        guard job.state == .queued, let ahead = try row.value("ahead", as: Int?.self) else {
            return JobView(snapshot: snapshot, queue: nil)
        }
        let laneIds = try row.value("lane_ids", as: [String]?.self) ?? []
        let laneCounts = try row.value("lane_counts", as: [Int]?.self) ?? []
        let laneClaims = try row.value("lane_claims", as: [Int]?.self) ?? []
        let laneHeads = try row.value("lane_heads", as: [Int]?.self) ?? []
        guard laneCounts.count == laneIds.count, laneClaims.count == laneIds.count, laneHeads.count == laneIds.count
        else { throw StoreError.corrupt("the job view's lane arrays differ in length") }
        // Claim order: the lane served least recently first, then the one whose head job
        // is oldest (as `claimNext` orders them).
        let lanes = laneIds.indices.sorted { (laneClaims[$0], laneHeads[$0]) < (laneClaims[$1], laneHeads[$1]) }
            .map { QueueSnapshot.Lane(workspaceId: laneIds[$0], queued: laneCounts[$0]) }
        let queue = QueueSnapshot(
            lanes: lanes, aheadInLane: [id: ahead], processing: try row.value("processing", as: Int?.self) ?? 0)
        return JobView(snapshot: snapshot, queue: queue)
    }

    public func referencedImageFiles(_ fileNames: [String]) async throws -> Set<String> {
        guard !fileNames.isEmpty else { return [] }
        let logger = self.logger
        return try await read { connection in
            Set(
                try await connection.rows(
                    "SELECT file_name FROM images WHERE file_name = ANY(\(fileNames))", logger: logger
                ).map { try $0.value("file_name", as: String.self) })
        }
    }

    public func initImage(jobId: String) async throws -> RGBImage? {
        let logger = self.logger
        let png = try await read { connection in
            try await connection.first("SELECT png FROM job_init_images WHERE job_id = \(jobId)", logger: logger)?
                .value("png", as: Data.self)
        }
        return try png.map { try ImageDecoder().decode($0) }
    }

    public func image(id: String) async throws -> ImageRecord? {
        let logger = self.logger
        return try await read { connection in
            try await connection.first("SELECT * FROM images WHERE id = \(id)", logger: logger).map(ImageRecord.init(pg:))
        }
    }

    public func jobs(
        workspaceId: String, modelId: String, onlyFinished: Bool, offset: Int, limit: Int
    ) async throws -> [JobSnapshot] {
        let logger = self.logger
        return try await read { connection in
            let jobs = try await connection.rows(
                """
                SELECT * FROM jobs WHERE workspace_id = \(workspaceId) AND model_id = \(modelId)
                  AND (\(!onlyFinished) OR state = 'finished')
                ORDER BY seq DESC LIMIT \(limit) OFFSET \(offset)
                """, logger: logger
            ).map(JobRecord.init(pg:))
            let images = try await Self.fetchImages(connection, jobIds: jobs.map(\.id), logger: logger)
            return jobs.map { JobSnapshot(job: $0, images: images[$0.id] ?? []) }
        }
    }

    public func deleteJob(id: String, workspaceId: String) async throws -> JobSnapshot? {
        let logger = self.logger
        return try await write { connection in
            guard let job = try await Self.fetchJob(connection, id: id, lock: true, logger: logger),
                job.workspaceId == workspaceId
            else { return nil }
            let images = try await Self.fetchImages(connection, jobIds: [id], logger: logger)[id] ?? []
            try await connection.query("DELETE FROM webhook_deliveries WHERE job_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM jobs WHERE id = \(id)", logger: logger)
            return JobSnapshot(job: job, images: images)
        }
    }

    public func requestCancel(
        id: String, workspaceId: String, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> CancelOutcome {
        let logger = self.logger
        return try await write { connection in
            guard let job = try await Self.fetchJob(connection, id: id, lock: true, logger: logger),
                job.workspaceId == workspaceId
            else { return .notFound }
            switch job.state {
            case .finished, .failed:
                return .alreadyEnded(job)
            case .processing:
                try await connection.query("UPDATE jobs SET cancel_requested = true WHERE id = \(id)", logger: logger)
                return .requested(try await Self.fetchJob(connection, id: id, logger: logger) ?? job)
            case .queued:
                try await connection.query("UPDATE jobs SET cancel_requested = true WHERE id = \(id)", logger: logger)
                let failed = try await Self.failJob(
                    connection, id: id, reason: FailureReason.cancelled, timings: nil, now: now,
                    render: webhookPayload, logger: logger)
                return .cancelledWhileQueued(failed?.job ?? job)
            }
        }
    }

    public func claimNext(now: Date, worker: String, leaseUntil: Date) async throws -> JobRecord? {
        let logger = self.logger
        return try await write { connection in
            // The head of the lane served least recently; rows another worker is claiming
            // right now are skipped, not waited on.
            guard
                let row = try await connection.first(
                    """
                    WITH next AS (
                        SELECT j.seq FROM jobs j JOIN workspaces w ON w.id = j.workspace_id
                        WHERE j.state = 'queued'
                        ORDER BY w.last_claim_seq, j.seq
                        LIMIT 1
                        FOR UPDATE OF j SKIP LOCKED
                    )
                    UPDATE jobs SET state = 'processing', started_at = \(now.storedValue), attempts = attempts + 1,
                                    current_step = 0, seconds_per_step = NULL, warmup_seconds = NULL,
                                    claimed_by = \(worker), lease_until = \(leaseUntil.storedValue)
                    FROM next WHERE jobs.seq = next.seq
                    RETURNING jobs.*
                    """, logger: logger)
            else { return nil }
            let job = try JobRecord(pg: row)
            try await connection.query(
                "UPDATE workspaces SET last_claim_seq = nextval('claim_order') WHERE id = \(job.workspaceId)",
                logger: logger)
            return job
        }
    }

    public func renewLease(id: String, attempt: Int, until: Date) async throws -> Bool {
        let logger = self.logger
        return try await read { connection in
            try await connection.run(
                """
                UPDATE jobs SET lease_until = \(until.storedValue)
                WHERE id = \(id) AND state = 'processing' AND attempts = \(attempt)
                RETURNING id
                """, logger: logger) > 0
        }
    }

    public func recordProgress(
        id: String, attempt: Int?, step: Int, secondsPerStep: Double?, warmupSeconds: Double?
    ) async throws -> Bool {
        let logger = self.logger
        return try await read { connection in
            guard
                let row = try await connection.first(
                    """
                    UPDATE jobs SET current_step = \(step), seconds_per_step = \(secondsPerStep),
                                    warmup_seconds = coalesce(\(warmupSeconds), warmup_seconds)
                    WHERE id = \(id) AND state = 'processing' AND (\(attempt)::bigint IS NULL OR attempts = \(attempt))
                    RETURNING cancel_requested
                    """, logger: logger)
            else { return true }
            return try row.value("cancel_requested", as: Bool.self)
        }
    }

    public func finish(
        id: String, attempt: Int?, images: [ImageRecord], timings: GenerationTimings, now: Date,
        webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot? {
        let logger = self.logger
        return try await write { connection in
            guard let job = try await Self.fetchJob(connection, id: id, lock: true, logger: logger),
                job.state == .processing, attempt == nil || job.attempts == attempt
            else { return nil }
            for image in images {
                try await connection.query(
                    """
                    INSERT INTO images (id, job_id, workspace_id, position, file_name, created_at)
                    VALUES (\(image.id), \(image.jobId), \(image.workspaceId), \(image.position), \(image.fileName),
                            \(image.createdAt.storedValue))
                    """, logger: logger)
            }
            try await connection.query(
                """
                UPDATE jobs SET state = 'finished', finished_at = \(now.storedValue), current_step = steps,
                                seconds_per_step = \(timings.secondsPerStep), warmup_seconds = \(timings.warmupSeconds),
                                claimed_by = NULL, lease_until = NULL
                WHERE id = \(id)
                """, logger: logger)
            return try await Self.endJob(connection, id: id, now: now, render: webhookPayload, logger: logger)
        }
    }

    public func fail(
        id: String, attempt: Int?, reason: String, timings: GenerationTimings?, now: Date,
        webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot? {
        let logger = self.logger
        return try await write { connection in
            try await Self.failJob(
                connection, id: id, attempt: attempt, reason: reason, timings: timings, now: now,
                render: webhookPayload, logger: logger)
        }
    }

    public func requeue(id: String, attempt: Int?) async throws {
        let logger = self.logger
        try await read { connection in
            try await connection.run(
                """
                UPDATE jobs SET state = 'queued', started_at = NULL, current_step = NULL,
                                seconds_per_step = NULL, warmup_seconds = NULL, claimed_by = NULL, lease_until = NULL
                WHERE id = \(id) AND state = 'processing' AND (\(attempt)::bigint IS NULL OR attempts = \(attempt))
                """, logger: logger)
        }
    }

    public func recoverAbandoned(
        maxAttempts: Int, leasesEndedBy: Date, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> (requeued: [String], failed: [String]) {
        let logger = self.logger
        return try await write { connection in
            // Locked rows are a claim or an end being written right now: not abandoned.
            let abandoned = try await connection.rows(
                """
                SELECT * FROM jobs
                WHERE state = 'processing' AND (lease_until IS NULL OR lease_until < \(leasesEndedBy.storedValue))
                ORDER BY seq FOR UPDATE SKIP LOCKED
                """, logger: logger
            ).map(JobRecord.init(pg:))
            var requeued: [String] = []
            var failed: [String] = []
            for job in abandoned {
                if let reason = job.abandonmentFailure(maxAttempts: maxAttempts) {
                    _ = try await Self.failJob(
                        connection, id: job.id, reason: reason, timings: nil, now: now, render: webhookPayload,
                        logger: logger)
                    failed.append(job.id)
                } else {
                    try await connection.query(
                        """
                        UPDATE jobs SET state = 'queued', started_at = NULL, current_step = NULL,
                                        seconds_per_step = NULL, warmup_seconds = NULL, claimed_by = NULL,
                                        lease_until = NULL
                        WHERE id = \(job.id)
                        """, logger: logger)
                    requeued.append(job.id)
                }
            }
            return (requeued, failed)
        }
    }

    public func queueSnapshot(workspaceId: String) async throws -> QueueSnapshot {
        let logger = self.logger
        return try await read { connection in
            let lanes = try await connection.rows(
                """
                SELECT w.id AS workspace_id, count(j.seq) AS queued
                FROM workspaces w JOIN jobs j ON j.workspace_id = w.id AND j.state = 'queued'
                GROUP BY w.id, w.last_claim_seq
                ORDER BY w.last_claim_seq, min(j.seq)
                """, logger: logger
            ).map { QueueSnapshot.Lane(workspaceId: try $0.value("workspace_id"), queued: try $0.value("queued")) }
            let mine = try await connection.rows(
                "SELECT id FROM jobs WHERE workspace_id = \(workspaceId) AND state = 'queued' ORDER BY seq",
                logger: logger
            ).map { try $0.value("id", as: String.self) }
            let processing = try await connection.first(
                "SELECT count(*) AS n FROM jobs WHERE state = 'processing'", logger: logger)?.value("n", as: Int.self) ?? 0
            var ahead: [String: Int] = [:]
            for (index, id) in mine.enumerated() { ahead[id] = index }
            return QueueSnapshot(lanes: lanes, aheadInLane: ahead, processing: processing)
        }
    }

    public func countQueued() async throws -> Int {
        let logger = self.logger
        return try await read { connection in
            try await connection.first("SELECT count(*) AS n FROM jobs WHERE state = 'queued'", logger: logger)?
                .value("n", as: Int.self) ?? 0
        }
    }

    // MARK: - Shared steps (inside a transaction)

    static func fetchJob(
        _ connection: PostgresConnection, id: String, lock: Bool = false, logger: Logger
    ) async throws -> JobRecord? {
        let query: PostgresQuery =
            lock ? "SELECT * FROM jobs WHERE id = \(id) FOR UPDATE" : "SELECT * FROM jobs WHERE id = \(id)"
        return try await connection.first(query, logger: logger).map(JobRecord.init(pg:))
    }

    static func fetchImages(
        _ connection: PostgresConnection, jobIds: [String], logger: Logger
    ) async throws -> [String: [ImageRecord]] {
        guard !jobIds.isEmpty else { return [:] }
        let rows = try await connection.rows(
            "SELECT * FROM images WHERE job_id = ANY(\(jobIds)) ORDER BY position", logger: logger)
        return Dictionary(grouping: try rows.map(ImageRecord.init(pg:)), by: \.jobId)
    }

    static func failJob(
        _ connection: PostgresConnection, id: String, attempt: Int? = nil, reason: String,
        timings: GenerationTimings?, now: Date, render: WebhookRenderer, logger: Logger
    ) async throws -> JobSnapshot? {
        guard let job = try await fetchJob(connection, id: id, lock: true, logger: logger), !job.state.isTerminal
        else { return nil }
        if let attempt, job.state != .processing || job.attempts != attempt { return nil }
        try await connection.query(
            """
            UPDATE jobs SET state = 'failed', finished_at = \(now.storedValue), failure_reason = \(reason),
                            seconds_per_step = coalesce(\(timings?.secondsPerStep), seconds_per_step),
                            warmup_seconds = coalesce(\(timings?.warmupSeconds), warmup_seconds),
                            claimed_by = NULL, lease_until = NULL
            WHERE id = \(id)
            """, logger: logger)
        return try await endJob(connection, id: id, now: now, render: render, logger: logger)
    }

    /// Reads the ended job back and queues its webhook in the same transaction (the outbox).
    static func endJob(
        _ connection: PostgresConnection, id: String, now: Date, render: WebhookRenderer, logger: Logger
    ) async throws -> JobSnapshot? {
        guard let job = try await fetchJob(connection, id: id, logger: logger) else { return nil }
        let snapshot = JobSnapshot(job: job, images: try await fetchImages(connection, jobIds: [id], logger: logger)[id] ?? [])
        if let url = job.webhookUrl {
            let payload = try render(snapshot)
            try await connection.query(
                """
                INSERT INTO webhook_deliveries (id, job_id, workspace_id, url, payload, state, attempts,
                                                next_attempt_at, created_at)
                VALUES (\(Credentials.newMessageId()), \(job.id), \(job.workspaceId), \(url), \(payload), 'pending', 0,
                        \(now.storedValue), \(now.storedValue))
                """, logger: logger)
        }
        return snapshot
    }
}
