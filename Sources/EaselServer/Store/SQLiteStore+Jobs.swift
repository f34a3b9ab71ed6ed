import EaselDiffusion
import Foundation
import GRDB

extension SQLiteStore {
    public func enqueue(_ job: NewJob, idempotency: IdempotencyClaim?, maxQueued: Int) async throws -> EnqueueOutcome {
        // Compressed before the write transaction, which holds the database's one write lock.
        // Lossless: the worker reads back exactly the pixels that were validated.
        let initImagePNG = try job.parameters.initImage.map { try $0.image.pngData() }
        return try await pool.write { db in
            let now = job.createdAt.storedValue
            if let claim = idempotency {
                if let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM idempotencyKeys WHERE workspaceId = ? AND key = ?",
                    arguments: [job.workspaceId, claim.key])
                {
                    let seenAt: Double = row["createdAt"]
                    if seenAt >= now - claim.window {
                        let hash: String = row["requestHash"]
                        if hash != claim.requestHash { return .idempotencyMismatch }
                        let jobId: String = row["jobId"]
                        if let first = try Self.fetchJob(db, id: jobId) { return .replayed(first) }
                    }
                }
                // Forget this workspace's expired keys (and this one if it expired).
                try db.execute(
                    sql: "DELETE FROM idempotencyKeys WHERE workspaceId = ? AND (createdAt < ? OR key = ?)",
                    arguments: [job.workspaceId, now - claim.window, claim.key])
            }
            let queued =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM jobs WHERE workspaceId = ? AND state = 'queued'",
                    arguments: [job.workspaceId]) ?? 0
            if queued >= maxQueued { return .tooManyQueued(queued) }
            let p = job.parameters
            try db.execute(
                sql: """
                    INSERT INTO jobs (id, workspaceId, modelId, state, prompt, negativePrompt, steps, width, height,
                                      numberOfImages, promptStrength, seed, strength, webhookUrl, createdAt)
                    VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    job.id, job.workspaceId, job.modelId, p.prompt, p.negativePrompt ?? "", p.steps, p.width,
                    p.height, p.count, p.guidanceScale, Int64(p.seed), p.initImage?.strength, job.webhookUrl, now,
                ])
            if let initImagePNG {
                try db.execute(
                    sql: "INSERT INTO jobInitImages (jobId, png) VALUES (?, ?)", arguments: [job.id, initImagePNG])
            }
            if let claim = idempotency {
                try db.execute(
                    sql: "INSERT INTO idempotencyKeys (workspaceId, key, requestHash, jobId, createdAt) VALUES (?, ?, ?, ?, ?)",
                    arguments: [job.workspaceId, claim.key, claim.requestHash, job.id, now])
            }
            guard let created = try Self.fetchJob(db, id: job.id) else {
                throw StoreError.corrupt("job \(job.id) vanished right after insert")
            }
            return .created(created)
        }
    }

    public func job(id: String, workspaceId: String) async throws -> JobSnapshot? {
        try await pool.read { db in
            guard let job = try Self.fetchJob(db, id: id), job.workspaceId == workspaceId else { return nil }
            return JobSnapshot(job: job, images: try Self.fetchImages(db, jobIds: [id])[id] ?? [])
        }
    }

    /// Statements compiled once per connection (GRDB's cache): compiling is most of a
    /// small read's cost.
    public func jobView(id: String, workspaceId: String) async throws -> JobView? {
        try await pool.read { db in
            guard let job = try Self.fetchJob(db, id: id), job.workspaceId == workspaceId else { return nil }
            let images = try Row.fetchAll(
                try db.cachedStatement(sql: "SELECT * FROM images WHERE jobId = ? ORDER BY position"), arguments: [id]
            ).map(ImageRecord.init(row:))
            let snapshot = JobSnapshot(job: job, images: images)
            guard job.state == .queued else { return JobView(snapshot: snapshot, queue: nil) }
            let ahead = try Int.fetchOne(
                try db.cachedStatement(sql: "SELECT count(*) FROM jobs WHERE state = 'queued' AND workspaceId = ? AND seq < ?"),
                arguments: [workspaceId, job.seq]) ?? 0
            let queue = QueueSnapshot(
                lanes: try Self.fetchLanes(db), aheadInLane: [id: ahead], processing: try Self.countProcessing(db))
            return JobView(snapshot: snapshot, queue: queue)
        }
    }

    public func referencedImageFiles(_ fileNames: [String]) async throws -> Set<String> {
        guard !fileNames.isEmpty else { return [] }
        return try await pool.read { db in
            var found: Set<String> = []
            // Within SQLite's bound-parameter limit per statement.
            for start in stride(from: 0, to: fileNames.count, by: 500) {
                let batch = Array(fileNames[start..<min(start + 500, fileNames.count)])
                let marks = Array(repeating: "?", count: batch.count).joined(separator: ",")
                found.formUnion(
                    try String.fetchAll(
                        db, sql: "SELECT fileName FROM images WHERE fileName IN (\(marks))",
                        arguments: StatementArguments(batch)))
            }
            return found
        }
    }

    public func initImage(jobId: String) async throws -> RGBImage? {
        let png = try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT png FROM jobInitImages WHERE jobId = ?", arguments: [jobId])
        }
        return try png.map { try ImageDecoder().decode($0) }
    }

    public func image(id: String) async throws -> ImageRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM images WHERE id = ?", arguments: [id]).map(ImageRecord.init(row:))
        }
    }

    public func jobs(
        workspaceId: String, modelId: String, onlyFinished: Bool, offset: Int, limit: Int
    ) async throws -> [JobSnapshot] {
        try await pool.read { db in
            let filter = onlyFinished ? "AND state = 'finished'" : ""
            let jobs = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM jobs WHERE workspaceId = ? AND modelId = ? \(filter)
                    ORDER BY seq DESC LIMIT ? OFFSET ?
                    """,
                arguments: [workspaceId, modelId, limit, offset]
            ).map(JobRecord.init(row:))
            let images = try Self.fetchImages(db, jobIds: jobs.map(\.id))
            return jobs.map { JobSnapshot(job: $0, images: images[$0.id] ?? []) }
        }
    }

    public func deleteJob(id: String, workspaceId: String) async throws -> JobSnapshot? {
        try await pool.write { db in
            guard let job = try Self.fetchJob(db, id: id), job.workspaceId == workspaceId else { return nil }
            let images = try Self.fetchImages(db, jobIds: [id])[id] ?? []
            // With the job: its pending deliveries must never be sent, and ended ones hold
            // the job's prompt in their payload. Attempts go by cascade.
            try db.execute(sql: "DELETE FROM webhookDeliveries WHERE jobId = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM jobs WHERE id = ?", arguments: [id])
            return JobSnapshot(job: job, images: images)
        }
    }

    public func requestCancel(
        id: String, workspaceId: String, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> CancelOutcome {
        try await pool.write { db in
            guard let job = try Self.fetchJob(db, id: id), job.workspaceId == workspaceId else { return .notFound }
            switch job.state {
            case .finished, .failed:
                return .alreadyEnded(job)
            case .processing:
                try db.execute(sql: "UPDATE jobs SET cancelRequested = 1 WHERE id = ?", arguments: [id])
                return .requested(try Self.fetchJob(db, id: id) ?? job)
            case .queued:
                try db.execute(sql: "UPDATE jobs SET cancelRequested = 1 WHERE id = ?", arguments: [id])
                let failed = try Self.failJob(
                    db, id: id, reason: FailureReason.cancelled, timings: nil, now: now, render: webhookPayload)
                return .cancelledWhileQueued(failed?.job ?? job)
            }
        }
    }

    public func claimNext(now: Date, worker: String, leaseUntil: Date) async throws -> JobRecord? {
        try await pool.write { db in
            // The head of each workspace's lane; the lane served least recently goes first.
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT j.* FROM jobs j JOIN workspaces w ON w.id = j.workspaceId
                        WHERE j.state = 'queued'
                          AND j.seq = (SELECT min(seq) FROM jobs WHERE state = 'queued' AND workspaceId = j.workspaceId)
                        ORDER BY w.lastClaimSeq, j.seq
                        LIMIT 1
                        """)
            else { return nil }
            let job = try JobRecord(row: row)
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'processing', startedAt = ?, attempts = attempts + 1,
                                    currentStep = 0, secondsPerStep = NULL, warmupSeconds = NULL,
                                    claimedBy = ?, leaseUntil = ?
                    WHERE id = ?
                    """,
                arguments: [now.storedValue, worker, leaseUntil.storedValue, job.id])
            try db.execute(
                sql: "UPDATE workspaces SET lastClaimSeq = (SELECT max(lastClaimSeq) + 1 FROM workspaces) WHERE id = ?",
                arguments: [job.workspaceId])
            return try Self.fetchJob(db, id: job.id)
        }
    }

    public func renewLease(id: String, attempt: Int, until: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE jobs SET leaseUntil = ? WHERE id = ? AND state = 'processing' AND attempts = ?",
                arguments: [until.storedValue, id, attempt])
            return db.changesCount > 0
        }
    }

    public func recordProgress(
        id: String, attempt: Int?, step: Int, secondsPerStep: Double?, warmupSeconds: Double?
    ) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET currentStep = ?, secondsPerStep = ?, warmupSeconds = coalesce(?, warmupSeconds)
                    WHERE id = ? AND state = 'processing' AND (? IS NULL OR attempts = ?)
                    """,
                arguments: [step, secondsPerStep, warmupSeconds, id, attempt, attempt])
            if db.changesCount == 0 { return true }
            return try Bool.fetchOne(db, sql: "SELECT cancelRequested FROM jobs WHERE id = ?", arguments: [id]) ?? true
        }
    }

    public func finish(
        id: String, attempt: Int?, images: [ImageRecord], timings: GenerationTimings, now: Date,
        webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot? {
        try await pool.write { db in
            guard let job = try Self.fetchJob(db, id: id), job.state == .processing,
                attempt == nil || job.attempts == attempt
            else { return nil }
            for image in images {
                try db.execute(
                    sql: "INSERT INTO images (id, jobId, workspaceId, position, fileName, createdAt) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        image.id, image.jobId, image.workspaceId, image.position, image.fileName,
                        image.createdAt.storedValue,
                    ])
            }
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'finished', finishedAt = ?, currentStep = steps,
                                    secondsPerStep = ?, warmupSeconds = ?, claimedBy = NULL, leaseUntil = NULL
                    WHERE id = ?
                    """,
                arguments: [now.storedValue, timings.secondsPerStep, timings.warmupSeconds, id])
            return try Self.endJob(db, id: id, now: now, render: webhookPayload)
        }
    }

    public func fail(
        id: String, attempt: Int?, reason: String, timings: GenerationTimings?, now: Date,
        webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot? {
        try await pool.write { db in
            try Self.failJob(
                db, id: id, attempt: attempt, reason: reason, timings: timings, now: now, render: webhookPayload)
        }
    }

    public func requeue(id: String, attempt: Int?) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'queued', startedAt = NULL, currentStep = NULL,
                                    secondsPerStep = NULL, warmupSeconds = NULL, claimedBy = NULL, leaseUntil = NULL
                    WHERE id = ? AND state = 'processing' AND (? IS NULL OR attempts = ?)
                    """,
                arguments: [id, attempt, attempt])
        }
    }

    public func recoverAbandoned(
        maxAttempts: Int, leasesEndedBy: Date, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> (requeued: [String], failed: [String]) {
        try await pool.write { db in
            let abandoned = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM jobs WHERE state = 'processing' AND (leaseUntil IS NULL OR leaseUntil < ?)
                    ORDER BY seq
                    """,
                arguments: [leasesEndedBy.storedValue]
            ).map(JobRecord.init(row:))
            var requeued: [String] = []
            var failed: [String] = []
            for job in abandoned {
                if let reason = job.abandonmentFailure(maxAttempts: maxAttempts) {
                    _ = try Self.failJob(db, id: job.id, reason: reason, timings: nil, now: now, render: webhookPayload)
                    failed.append(job.id)
                } else {
                    try db.execute(
                        sql: """
                            UPDATE jobs SET state = 'queued', startedAt = NULL, currentStep = NULL,
                                            secondsPerStep = NULL, warmupSeconds = NULL, claimedBy = NULL,
                                            leaseUntil = NULL
                            WHERE id = ?
                            """,
                        arguments: [job.id])
                    requeued.append(job.id)
                }
            }
            return (requeued, failed)
        }
    }

    public func queueSnapshot(workspaceId: String) async throws -> QueueSnapshot {
        try await pool.read { db in
            let lanes = try Self.fetchLanes(db)
            let mine = try String.fetchAll(
                db, sql: "SELECT id FROM jobs WHERE workspaceId = ? AND state = 'queued' ORDER BY seq",
                arguments: [workspaceId])
            var ahead: [String: Int] = [:]
            for (index, id) in mine.enumerated() { ahead[id] = index }
            return QueueSnapshot(lanes: lanes, aheadInLane: ahead, processing: try Self.countProcessing(db))
        }
    }

    /// Workspaces with queued jobs, in claim order.
    static func fetchLanes(_ db: Database) throws -> [QueueSnapshot.Lane] {
        try Row.fetchAll(
            try db.cachedStatement(
                sql: """
                    SELECT w.id AS workspaceId, count(j.seq) AS queued
                    FROM workspaces w JOIN jobs j ON j.workspaceId = w.id AND j.state = 'queued'
                    GROUP BY w.id
                    ORDER BY w.lastClaimSeq, min(j.seq)
                    """)
        ).map { QueueSnapshot.Lane(workspaceId: $0["workspaceId"], queued: $0["queued"]) }
    }

    static func countProcessing(_ db: Database) throws -> Int {
        try Int.fetchOne(try db.cachedStatement(sql: "SELECT count(*) FROM jobs WHERE state = 'processing'")) ?? 0
    }

    public func countQueued() async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs WHERE state = 'queued'") ?? 0
        }
    }

    // MARK: - Shared steps (inside a write transaction)

    static func fetchJob(_ db: Database, id: String) throws -> JobRecord? {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM jobs WHERE id = ?"), arguments: [id])
            .map(JobRecord.init(row:))
    }

    static func fetchImages(_ db: Database, jobIds: [String]) throws -> [String: [ImageRecord]] {
        guard !jobIds.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: jobIds.count).joined(separator: ",")
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM images WHERE jobId IN (\(marks)) ORDER BY position",
            arguments: StatementArguments(jobIds))
        return Dictionary(grouping: rows.map(ImageRecord.init(row:)), by: \.jobId)
    }

    static func failJob(
        _ db: Database, id: String, attempt: Int? = nil, reason: String, timings: GenerationTimings?, now: Date,
        render: WebhookRenderer
    ) throws -> JobSnapshot? {
        guard let job = try fetchJob(db, id: id), !job.state.isTerminal else { return nil }
        if let attempt, job.state != .processing || job.attempts != attempt { return nil }
        try db.execute(
            sql: """
                UPDATE jobs SET state = 'failed', finishedAt = ?, failureReason = ?,
                                secondsPerStep = coalesce(?, secondsPerStep), warmupSeconds = coalesce(?, warmupSeconds),
                                claimedBy = NULL, leaseUntil = NULL
                WHERE id = ?
                """,
            arguments: [now.storedValue, reason, timings?.secondsPerStep, timings?.warmupSeconds, id])
        return try endJob(db, id: id, now: now, render: render)
    }

    /// Reads the ended job back and queues its webhook in the same transaction.
    static func endJob(_ db: Database, id: String, now: Date, render: WebhookRenderer) throws -> JobSnapshot? {
        guard let job = try fetchJob(db, id: id) else { return nil }
        let snapshot = JobSnapshot(job: job, images: try fetchImages(db, jobIds: [id])[id] ?? [])
        if let url = job.webhookUrl {
            try db.execute(
                sql: """
                    INSERT INTO webhookDeliveries (id, jobId, workspaceId, url, payload, state, attempts, nextAttemptAt, createdAt)
                    VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)
                    """,
                arguments: [
                    Credentials.newMessageId(), job.id, job.workspaceId, url, try render(snapshot), now.storedValue,
                    now.storedValue,
                ])
        }
        return snapshot
    }
}

/// Reasons kept on failed jobs that clients may test for.
public enum FailureReason {
    public static let cancelled = "cancelled"
}
