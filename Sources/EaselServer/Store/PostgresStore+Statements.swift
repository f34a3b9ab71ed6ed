import PostgresNIO

// The jobs' hottest statements, prepared once per connection (their callers are in
// PostgresStore+Jobs.swift).

/// The common submit (`PostgresStore.enqueueInOneCall`), prepared once per connection.
struct EnqueueStatement: PostgresPreparedStatement {
    /// Named here: the protocol's default name is `String(reflecting:)` of the type, worked
    /// out (with runtime metadata lookups) on every execution.
    static let name = "easel_enqueue"
    static let sql = "SELECT * FROM easel_enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    static let bindingDataTypes: [PostgresDataType] = [
        .text, .text, .text, .text, .text, .int8, .int8, .int8, .int8, .float8, .int8, .float8, .text, .float8, .int8,
    ]

    var id: String
    var workspaceId: String
    var modelId: String
    var prompt: String
    var negativePrompt: String
    var steps: Int
    var width: Int
    var height: Int
    var count: Int
    var guidanceScale: Double
    var seed: Int64
    var webhookUrl: String?
    var createdAt: Double
    var maxQueued: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 15)
        bindings.append(id)
        bindings.append(workspaceId)
        bindings.append(modelId)
        bindings.append(prompt)
        bindings.append(negativePrompt)
        bindings.append(Int64(steps))
        bindings.append(Int64(width))
        bindings.append(Int64(height))
        bindings.append(Int64(count))
        bindings.append(guidanceScale)
        bindings.append(seed)
        bindings.appendNull()  // strength: text to image only
        bindings.append(webhookUrl)
        bindings.append(createdAt)
        bindings.append(Int64(maxQueued))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRandomAccessRow { row.makeRandomAccess() }
}

/// GET's one read, prepared once per connection: planning this query took eight times as
/// long as running it (pgbench: 2,800 against 23,000 a second).
///
/// Most of what it costs the server is setting up and tearing down its plan's nodes, every
/// node every time (whether or not it runs), so it has few: the images are read by one
/// aggregate and the lanes by another, neither sorted by the server (an ordered aggregate
/// sets up a sort each); `jobView` sorts them. Against four sorted image arrays and
/// lanes sorted in SQL, the server's CPU per execution went from 94-104 µs to 78-80 µs
/// (pgbench, a queued job in a lane of one).
struct JobViewStatement: PostgresPreparedStatement {
    static let name = "easel_job_view"
    static let sql = """
        SELECT j.*, im.image_ids, im.image_positions, im.image_files, im.image_times,
            q.ahead, q.processing, q.lane_ids, q.lane_counts, q.lane_claims, q.lane_heads
        FROM jobs j
        CROSS JOIN LATERAL (
            SELECT coalesce(array_agg(i.id), '{}') AS image_ids,
                coalesce(array_agg(i.position), '{}') AS image_positions,
                coalesce(array_agg(i.file_name), '{}') AS image_files,
                coalesce(array_agg(i.created_at), '{}') AS image_times
            FROM images i WHERE i.job_id = j.id
        ) im
        LEFT JOIN LATERAL (
            SELECT
                -- Jobs ahead in its lane, counted from the nearer end (a job just submitted
                -- has none behind it): its lane's count is kept (workspace_queue).
                CASE WHEN j.seq - own.first_seq <= own.last_seq - j.seq
                    THEN (SELECT count(*) FROM jobs a
                          WHERE a.state = 'queued' AND a.workspace_id = j.workspace_id AND a.seq < j.seq)
                    ELSE own.queued - 1 - (SELECT count(*) FROM jobs a
                          WHERE a.state = 'queued' AND a.workspace_id = j.workspace_id AND a.seq > j.seq)
                END AS ahead,
                (SELECT count(*) FROM jobs p WHERE p.state = 'processing') AS processing,
                lanes.lane_ids, lanes.lane_counts, lanes.lane_claims, lanes.lane_heads
            FROM (
                SELECT q.queued,
                    (SELECT min(x.seq) FROM jobs x WHERE x.state = 'queued' AND x.workspace_id = q.workspace_id) AS first_seq,
                    (SELECT max(x.seq) FROM jobs x WHERE x.state = 'queued' AND x.workspace_id = q.workspace_id) AS last_seq
                FROM workspace_queue q WHERE q.workspace_id = j.workspace_id
            ) own,
            (
                -- Every workspace with jobs waiting, from the kept counts: one index lookup
                -- per lane (its head job), however many jobs wait.
                SELECT array_agg(w.id) AS lane_ids, array_agg(q.queued) AS lane_counts,
                    array_agg(w.last_claim_seq) AS lane_claims,
                    array_agg(coalesce(
                        (SELECT min(x.seq) FROM jobs x WHERE x.state = 'queued' AND x.workspace_id = w.id), 0
                    )) AS lane_heads
                FROM workspace_queue q JOIN workspaces w ON w.id = q.workspace_id
                WHERE q.queued > 0
            ) lanes
            -- Only a queued job has a place: for the others nothing below runs.
            WHERE j.state = 'queued'
        ) q ON true
        WHERE j.id = $1 AND j.workspace_id = $2
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text]

    var id: String
    var workspaceId: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(id)
        bindings.append(workspaceId)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRandomAccessRow { row.makeRandomAccess() }
}
