import Foundation
import GRDB

extension SQLiteStore {
    public func claimDueDeliveries(now: Date, leaseUntil: Date, limit: Int) async throws -> [WebhookDelivery] {
        try await pool.write { db in
            let due = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM webhookDeliveries WHERE state = 'pending' AND nextAttemptAt <= ?
                    ORDER BY nextAttemptAt LIMIT ?
                    """,
                arguments: [now.storedValue, limit]
            ).map(WebhookDelivery.init(row:))
            for delivery in due {
                try db.execute(sql: "UPDATE webhookDeliveries SET nextAttemptAt = ? WHERE id = ?",
                               arguments: [leaseUntil.storedValue, delivery.id])
            }
            return due
        }
    }

    public func nextDeliveryDue() async throws -> Date? {
        try await pool.read { db in
            try Double.fetchOne(db, sql: "SELECT min(nextAttemptAt) FROM webhookDeliveries WHERE state = 'pending'")
                .map(Date.init(stored:))
        }
    }

    public func recordAttempt(_ attempt: WebhookAttempt, newState: DeliveryState, nextAttemptAt: Date?) async throws {
        try await pool.write { db in
            // Deleted with its job while this attempt was on the wire: nothing to record.
            let exists =
                try Bool.fetchOne(db, sql: "SELECT 1 FROM webhookDeliveries WHERE id = ?", arguments: [attempt.deliveryId])
                ?? false
            guard exists else { return }
            try db.execute(
                sql: """
                    INSERT INTO webhookAttempts (deliveryId, number, at, statusCode, error, durationMs)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    attempt.deliveryId, attempt.number, attempt.at.storedValue, attempt.statusCode, attempt.error,
                    attempt.durationMilliseconds,
                ])
            try db.execute(
                sql: """
                    UPDATE webhookDeliveries SET state = ?, attempts = ?, nextAttemptAt = coalesce(?, nextAttemptAt),
                                                 lastError = ?, endedAt = ?
                    WHERE id = ?
                    """,
                arguments: [
                    newState.rawValue, attempt.number, nextAttemptAt?.storedValue, attempt.error,
                    newState == .pending ? nil : attempt.at.storedValue, attempt.deliveryId,
                ])
        }
    }

    public func deliveries(jobId: String) async throws -> [WebhookDelivery] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM webhookDeliveries WHERE jobId = ? ORDER BY createdAt", arguments: [jobId]
            ).map(WebhookDelivery.init(row:))
        }
    }

    public func attempts(deliveryId: String) async throws -> [WebhookAttempt] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM webhookAttempts WHERE deliveryId = ? ORDER BY number", arguments: [deliveryId]
            ).map(WebhookAttempt.init(row:))
        }
    }

    public func pruneDeliveries(endedBefore cutoff: Date) async throws -> Int {
        try await pool.write { db in
            // Attempts first: the cascade would do it, but a store without foreign keys must too.
            try db.execute(
                sql: """
                    DELETE FROM webhookAttempts WHERE deliveryId IN
                        (SELECT id FROM webhookDeliveries WHERE endedAt < ? AND state != 'pending')
                    """,
                arguments: [cutoff.storedValue])
            try db.execute(
                sql: "DELETE FROM webhookDeliveries WHERE endedAt < ? AND state != 'pending'",
                arguments: [cutoff.storedValue])
            return db.changesCount
        }
    }
}
