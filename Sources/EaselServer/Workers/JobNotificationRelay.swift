import Foundation
import Logging
import ServiceLifecycle

/// Passes the store's notifications (PostgreSQL `LISTEN/NOTIFY`) into this process: a job
/// changed in any process makes its event streams here read it again, and a job queued by
/// any process wakes this process's workers, instead of both waiting for their next look.
struct JobNotificationRelay: Service {
    let feed: any JobNotificationFeed
    /// Event streams follow jobs here (API processes).
    let events: JobEventHub?
    /// Workers wait here (worker processes).
    let workSignal: WakeSignal?

    func run() async throws {
        let events = self.events
        let workSignal = self.workSignal
        let feed = self.feed
        await cancelWhenGracefulShutdown {
            await feed.followJobNotifications(
                changed: { id in events?.publish(jobId: id, .changed) },
                queued: { workSignal?.signal() })
        }
    }
}
