import Foundation
import PostgresNIO

extension PostgresStore {
    public func claimDueDeliveries(now: Date, leaseUntil: Date, limit: Int) async throws -> [WebhookDelivery] {
        let logger = self.logger
        return try await write { connection in
            // Rows another process is claiming are skipped; the lease (next_attempt_at moved
            // to `leaseUntil`) keeps every later pass off them until the attempt is recorded.
            try await connection.rows(
                """
                WITH due AS (
                    SELECT id FROM webhook_deliveries
                    WHERE state = 'pending' AND next_attempt_at <= \(now.storedValue)
                    ORDER BY next_attempt_at
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                ), before AS (
                    SELECT d.* FROM webhook_deliveries d JOIN due ON due.id = d.id
                )
                UPDATE webhook_deliveries d SET next_attempt_at = \(leaseUntil.storedValue)
                FROM before WHERE d.id = before.id
                RETURNING before.*
                """, logger: logger
            ).map(WebhookDelivery.init(pg:)).sorted { $0.nextAttemptAt < $1.nextAttemptAt }
        }
    }

    public func nextDeliveryDue() async throws -> Date? {
        let logger = self.logger
        return try await read { connection in
            try await connection.first(
                "SELECT min(next_attempt_at) AS due FROM webhook_deliveries WHERE state = 'pending'", logger: logger)?
                .value("due", as: Double?.self).map(Date.init(stored:))
        }
    }

    public func recordAttempt(_ attempt: WebhookAttempt, newState: DeliveryState, nextAttemptAt: Date?) async throws {
        let logger = self.logger
        try await write { connection in
            // Deleted with its job while this attempt was on the wire: nothing to record.
            guard
                try await connection.first(
                    "SELECT id FROM webhook_deliveries WHERE id = \(attempt.deliveryId) FOR UPDATE", logger: logger)
                    != nil
            else { return }
            try await connection.query(
                """
                INSERT INTO webhook_attempts (delivery_id, number, attempted_at, status_code, error, duration_ms)
                VALUES (\(attempt.deliveryId), \(attempt.number), \(attempt.at.storedValue), \(attempt.statusCode),
                        \(attempt.error), \(attempt.durationMilliseconds))
                """, logger: logger)
            let endedAt: Double? = newState == .pending ? nil : attempt.at.storedValue
            try await connection.query(
                """
                UPDATE webhook_deliveries
                SET state = \(newState.rawValue), attempts = \(attempt.number),
                    next_attempt_at = coalesce(\(nextAttemptAt?.storedValue), next_attempt_at),
                    last_error = \(attempt.error), ended_at = \(endedAt)
                WHERE id = \(attempt.deliveryId)
                """, logger: logger)
        }
    }

    public func deliveries(jobId: String) async throws -> [WebhookDelivery] {
        let logger = self.logger
        return try await read { connection in
            try await connection.rows(
                "SELECT * FROM webhook_deliveries WHERE job_id = \(jobId) ORDER BY created_at", logger: logger
            ).map(WebhookDelivery.init(pg:))
        }
    }

    public func attempts(deliveryId: String) async throws -> [WebhookAttempt] {
        let logger = self.logger
        return try await read { connection in
            try await connection.rows(
                "SELECT * FROM webhook_attempts WHERE delivery_id = \(deliveryId) ORDER BY number", logger: logger
            ).map(WebhookAttempt.init(pg:))
        }
    }

    public func pruneDeliveries(endedBefore cutoff: Date) async throws -> Int {
        let logger = self.logger
        return try await write { connection in
            // Attempts go by cascade.
            try await connection.run(
                """
                DELETE FROM webhook_deliveries WHERE ended_at < \(cutoff.storedValue) AND state != 'pending'
                RETURNING id
                """, logger: logger)
        }
    }
}
