import EaselDiffusion
import EaselServer
import Foundation
import Testing

/// The stores on their own — the same tests for SQLite and PostgreSQL (when
/// `EASEL_TEST_POSTGRES_URL` names a server): durability across re-open, crash recovery,
/// fair claims, idempotency window, queue positions.
@Suite struct StoreTests {
    static func parameters(steps: Int = 2) -> GenerationRequest {
        GenerationRequest(prompt: "p", negativePrompt: "", steps: steps, width: 64, height: 64, seed: 1)
    }

    static func enqueue(_ store: any EaselStore, _ workspace: Workspace, at time: Date = Date()) async throws -> JobRecord {
        let job = NewJob(workspaceId: workspace.id, modelId: "m", parameters: parameters(), webhookUrl: nil, createdAt: time)
        guard case .created(let record) = try await store.enqueue(job, idempotency: nil, maxQueued: 1000) else {
            throw StoreError.corrupt("not created")
        }
        return record
    }

    static let noWebhook: WebhookRenderer = { _ in Data() }

    /// A model's precision and recipe (LoRAs, tiny autoencoder, defaults) come back as stored.
    @Test(arguments: StoreKind.available) func modelsKeepTheirPrecisionAndRecipe(_ kind: StoreKind) async throws {
        let opened = try await kind.makeStore()
        let recipe = ModelRecipe(
            base: "sd15.safetensors", loras: [.init(name: "style.safetensors", path: "models/x-lora-1.safetensors", scale: 0.7)],
            tinyAutoencoder: "models/x-tiny-autoencoder", tinyAutoencoderName: "taesd", scheduler: "lcm", steps: 4,
            guidance: 1, width: 512, height: 768, nativeWidth: 512, nativeHeight: 512)
        let model = ModelRecord(id: "m1", name: "sd15-lcm", workspaceId: nil, format: .singleFile, path: "models/m1.safetensors",
                                linked: false, createdAt: Date(timeIntervalSince1970: 1_700_000_000), precision: .bfloat16,
                                recipe: recipe)
        try await opened.store.addModel(model)
        let plain = ModelRecord(id: "m2", name: "plain", workspaceId: nil, format: .diffusers, path: "models/m2",
                                linked: true, createdAt: Date(timeIntervalSince1970: 1_700_000_001))
        try await opened.store.addModel(plain)
        let reopened = try await opened.reopen()
        #expect(try await reopened.model(id: "m1") == model)
        #expect(try await reopened.model(id: "m2")?.recipe == ModelRecipe.none)
    }

    @Test(arguments: StoreKind.available) func jobsSurviveReopenAndProcessingOnesAreRequeued(_ kind: StoreKind) async throws {
        let opened = try await kind.makeStore()
        var ids: [String] = []
        do {
            let store = opened.store
            let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
            for _ in 0..<3 { ids.append(try await Self.enqueue(store, workspace).id) }
            let claimed = try #require(try await store.claimNext(now: Date()))
            #expect(claimed.id == ids[0])
            #expect(claimed.state == .processing)
            _ = try await store.recordProgress(id: claimed.id, step: 1, secondsPerStep: nil, warmupSeconds: 0.5)
            // The "crash": the store is dropped with the job processing.
        }
        let reopened = try await opened.reopen()
        // A restart of the only worker process: every claim it held is over.
        let recovered = try await reopened.recoverAbandoned(
            maxAttempts: 3, leasesEndedBy: .distantFuture, now: Date(), webhookPayload: Self.noWebhook)
        #expect(recovered.requeued == [ids[0]])
        #expect(recovered.failed.isEmpty)
        #expect(try await reopened.countQueued() == 3)
        // It keeps its place: the oldest is claimed first again, on its second attempt.
        let again = try #require(try await reopened.claimNext(now: Date()))
        #expect(again.id == ids[0])
        #expect(again.attempts == 2)
        #expect(again.currentStep == 0)
    }

    @Test(arguments: StoreKind.available) func aJobThatKeepsCrashingTheServerIsFailedNotRequeuedForever(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        let job = try await Self.enqueue(store, workspace)
        for _ in 0..<3 {
            // Each time, its worker dies: the lease runs out and the sweep finds it.
            let now = Date()
            _ = try await store.claimNext(now: now, worker: "w", leaseUntil: now.addingTimeInterval(1))
            _ = try await store.recoverAbandoned(
                maxAttempts: 3, leasesEndedBy: now.addingTimeInterval(2), now: now, webhookPayload: Self.noWebhook)
        }
        let ended = try #require(try await store.job(id: job.id, workspaceId: workspace.id))
        #expect(ended.job.state == .failed)
        #expect(ended.job.failureReason?.contains("abandoned") == true)
        #expect(ended.job.attempts == 3)
    }

    @Test(arguments: StoreKind.available) func anExpiredLeaseRequeuesTheJobAndTheLateResultIsDiscarded(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        let job = try await Self.enqueue(store, workspace)
        let now = Date()
        let first = try #require(try await store.claimNext(now: now, worker: "a/0", leaseUntil: now.addingTimeInterval(10)))
        #expect(first.attempts == 1)
        // While the lease holds (and once renewed), the job is its worker's.
        #expect(try await store.renewLease(id: job.id, attempt: 1, until: now.addingTimeInterval(20)))
        let early = try await store.recoverAbandoned(
            maxAttempts: 3, leasesEndedBy: now.addingTimeInterval(15), now: now, webhookPayload: Self.noWebhook)
        #expect(early.requeued.isEmpty && early.failed.isEmpty)
        // Worker a goes silent: its lease runs out and the job goes back to the queue.
        let late = now.addingTimeInterval(25)
        let swept = try await store.recoverAbandoned(
            maxAttempts: 3, leasesEndedBy: late, now: late, webhookPayload: Self.noWebhook)
        #expect(swept.requeued == [job.id])
        #expect(try await store.job(id: job.id, workspaceId: workspace.id)?.job.state == .queued)
        #expect(try await !store.renewLease(id: job.id, attempt: 1, until: late.addingTimeInterval(10)))
        let second = try #require(try await store.claimNext(now: late, worker: "b/0", leaseUntil: late.addingTimeInterval(10)))
        #expect(second.id == job.id)
        #expect(second.attempts == 2)
        // Worker a comes back with its result: every write of the lost claim is refused.
        #expect(try await !store.renewLease(id: job.id, attempt: 1, until: late.addingTimeInterval(10)))
        #expect(try await store.recordProgress(id: job.id, attempt: 1, step: 1, secondsPerStep: nil, warmupSeconds: nil),
                "a lost claim reads as stop")
        let image = { (id: String) in
            ImageRecord(id: id, jobId: job.id, workspaceId: workspace.id, position: 0, fileName: "\(id).png", createdAt: late)
        }
        let timings = GenerationTimings(secondsPerStep: 1, warmupSeconds: 1)
        #expect(try await store.finish(
            id: job.id, attempt: 1, images: [image("aa")], timings: timings, now: late, webhookPayload: Self.noWebhook) == nil)
        #expect(try await store.fail(
            id: job.id, attempt: 1, reason: "x", timings: nil, now: late, webhookPayload: Self.noWebhook) == nil)
        try await store.requeue(id: job.id, attempt: 1)
        #expect(try await store.job(id: job.id, workspaceId: workspace.id)?.job.state == .processing)
        #expect(try await store.image(id: "aa") == nil)
        // Worker b's claim finishes it, once.
        #expect(try await !store.recordProgress(id: job.id, attempt: 2, step: 1, secondsPerStep: nil, warmupSeconds: nil))
        let finished = try #require(try await store.finish(
            id: job.id, attempt: 2, images: [image("bb")], timings: timings, now: late, webhookPayload: Self.noWebhook))
        #expect(finished.job.state == .finished)
        #expect(finished.images.map(\.id) == ["bb"])
        #expect(try await store.finish(
            id: job.id, attempt: 2, images: [image("cc")], timings: timings, now: late, webhookPayload: Self.noWebhook) == nil)
    }

    @Test(arguments: StoreKind.available) func claimsAreOldestFirstWithinAndRoundRobinAcrossWorkspaces(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let a = try #require(try await store.workspace(named: "a", createIfMissing: true))
        let b = try #require(try await store.workspace(named: "b", createIfMissing: true))
        let c = try #require(try await store.workspace(named: "c", createIfMissing: true))
        // a floods the queue first; b and c arrive later.
        var owner: [String: String] = [:]
        for _ in 0..<5 { owner[try await Self.enqueue(store, a).id] = "a" }
        for _ in 0..<2 { owner[try await Self.enqueue(store, b).id] = "b" }
        owner[try await Self.enqueue(store, c).id] = "c"
        var order: [String] = []
        var claimedIds: [String] = []
        while let job = try await store.claimNext(now: Date()) {
            order.append(owner[job.id] ?? "?")
            claimedIds.append(job.id)
        }
        #expect(order == ["a", "b", "c", "a", "b", "a", "a", "a"])
        // Within a workspace, oldest first.
        let aClaims = claimedIds.filter { owner[$0] == "a" }
        let aSeqs = try await aClaims.asyncMap { try #require(try await store.job(id: $0, workspaceId: a.id)?.job.seq) }
        #expect(aSeqs == aSeqs.sorted())
    }

    @Test(arguments: StoreKind.available) func concurrentClaimsNeverHandOutAJobTwice(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        for _ in 0..<40 { _ = try await Self.enqueue(store, workspace) }
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var mine: [String] = []
                    while let job = try await store.claimNext(now: Date()) { mine.append(job.id) }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == 40)
        #expect(Set(claimed).count == 40)
    }

    @Test(arguments: StoreKind.available) func idempotencyKeysExpireAfterTheirWindow(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        let old = Date().addingTimeInterval(-25 * 3600)
        let claim = IdempotencyClaim(key: "k", requestHash: "h")
        let first = NewJob(workspaceId: workspace.id, modelId: "m", parameters: Self.parameters(), webhookUrl: nil, createdAt: old)
        guard case .created = try await store.enqueue(first, idempotency: claim, maxQueued: 10) else {
            Issue.record("first submit not created")
            return
        }
        let second = NewJob(workspaceId: workspace.id, modelId: "m", parameters: Self.parameters(), webhookUrl: nil)
        guard case .created(let fresh) = try await store.enqueue(second, idempotency: claim, maxQueued: 10) else {
            Issue.record("a key older than 24 hours must not replay")
            return
        }
        let third = NewJob(workspaceId: workspace.id, modelId: "m", parameters: Self.parameters(), webhookUrl: nil)
        #expect(try await store.enqueue(third, idempotency: claim, maxQueued: 10) == .replayed(fresh))
    }

    @Test(arguments: StoreKind.available) func finishIsRefusedForAJobDeletedWhileRunning(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        let job = try await Self.enqueue(store, workspace)
        _ = try await store.claimNext(now: Date())
        #expect(try await store.deleteJob(id: job.id, workspaceId: workspace.id) != nil)
        #expect(try await store.recordProgress(id: job.id, step: 1, secondsPerStep: nil, warmupSeconds: nil), "gone reads as cancel")
        let image = ImageRecord(
            id: "ab", jobId: job.id, workspaceId: workspace.id, position: 0, fileName: "ab.png", createdAt: Date())
        let finished = try await store.finish(
            id: job.id, images: [image], timings: .init(secondsPerStep: 1, warmupSeconds: 1), now: Date(),
            webhookPayload: Self.noWebhook)
        #expect(finished == nil)
        #expect(try await store.image(id: "ab") == nil)
    }

    @Test(arguments: StoreKind.available) func aClaimedDeliveryIsNotClaimedAgainUntilItsLeaseEnds(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        let job = NewJob(workspaceId: workspace.id, modelId: "m", parameters: Self.parameters(),
                         webhookUrl: "https://example.com/hook")
        _ = try await store.enqueue(job, idempotency: nil, maxQueued: 10)
        _ = try await store.claimNext(now: Date())
        _ = try await store.fail(id: job.id, reason: "x", timings: nil, now: Date(), webhookPayload: Self.noWebhook)
        let now = Date().addingTimeInterval(1)
        let lease = now.addingTimeInterval(60)
        let first = try await store.claimDueDeliveries(now: now, leaseUntil: lease, limit: 10)
        #expect(first.count == 1)
        #expect(try await store.claimDueDeliveries(now: now, leaseUntil: lease, limit: 10).isEmpty,
                "a second pass must not take the delivery in flight")
        #expect(try await store.claimDueDeliveries(now: lease.addingTimeInterval(1), leaseUntil: lease + 60,
                                                   limit: 10).map(\.id) == first.map(\.id),
                "an abandoned attempt (crash) is taken again once its lease ends")
    }

    /// Three "processes" submitting to one workspace at once, with and without idempotency
    /// keys (the one-call submit and the transaction): never more queued than the limit, and
    /// every refusal says the queue is full. Another workspace is not held back.
    @Test(arguments: StoreKind.available) func theQueueLimitHoldsForProcessesSubmittingAtOnce(_ kind: StoreKind) async throws {
        let opened = try await kind.makeStore()
        let store = opened.store
        let busy = try #require(try await store.workspace(named: "busy", createIfMissing: true))
        let other = try #require(try await store.workspace(named: "other", createIfMissing: true))
        let submitters = [store, try await opened.reopen(), try await opened.reopen()]
        let limit = 7
        let outcomes = try await withThrowingTaskGroup(of: [EnqueueOutcome].self) { group in
            for (index, submitter) in submitters.enumerated() {
                group.addTask {
                    var outcomes: [EnqueueOutcome] = []
                    for attempt in 0..<12 {
                        let job = NewJob(workspaceId: busy.id, modelId: "m", parameters: Self.parameters(), webhookUrl: nil)
                        let claim = attempt % 3 == 0 ? IdempotencyClaim(key: "k\(index)-\(attempt)", requestHash: "h") : nil
                        outcomes.append(try await submitter.enqueue(job, idempotency: claim, maxQueued: limit))
                    }
                    return outcomes
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let created = outcomes.filter { if case .created = $0 { return true } else { return false } }
        let refused = outcomes.compactMap { outcome -> Int? in
            if case .tooManyQueued(let waiting) = outcome { return waiting } else { return nil }
        }
        #expect(created.count == limit)
        #expect(refused.count == outcomes.count - limit)
        #expect(refused.allSatisfy { $0 >= limit })
        #expect(try await store.queueSnapshot(workspaceId: busy.id).lanes.first { $0.workspaceId == busy.id }?.queued == limit)
        #expect(try await Self.enqueue(store, other).workspaceId == other.id)
        // A place freed is taken by the next submit, and only one. Two claims in the fair
        // order take one job of each workspace.
        _ = try #require(try await store.claimNext(now: Date()))
        _ = try #require(try await store.claimNext(now: Date()))
        let again = NewJob(workspaceId: busy.id, modelId: "m", parameters: Self.parameters(), webhookUrl: nil)
        guard case .created = try await submitters[1].enqueue(again, idempotency: nil, maxQueued: limit) else {
            Issue.record("the freed place was not taken")
            return
        }
        let full = NewJob(workspaceId: busy.id, modelId: "m", parameters: Self.parameters(), webhookUrl: nil)
        #expect(try await submitters[2].enqueue(full, idempotency: nil, maxQueued: limit) == .tooManyQueued(limit))
    }

    @Test(arguments: StoreKind.available) func processesClaimingDeliveriesAtOnceNeverTakeOneTwice(_ kind: StoreKind) async throws {
        let opened = try await kind.makeStore()
        let store = opened.store
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        for index in 0..<20 {
            let job = NewJob(workspaceId: workspace.id, modelId: "m", parameters: Self.parameters(),
                             webhookUrl: "https://example.com/hook/\(index)")
            _ = try await store.enqueue(job, idempotency: nil, maxQueued: 100)
            _ = try await store.fail(id: job.id, reason: "x", timings: nil, now: Date(), webhookPayload: Self.noWebhook)
        }
        // Three "processes" (their own connections) pass over the outbox at the same time.
        let others = [try await opened.reopen(), try await opened.reopen()]
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for claimer in [store] + others {
                group.addTask {
                    var mine: [String] = []
                    for _ in 0..<10 {
                        let now = Date().addingTimeInterval(1)
                        mine += try await claimer.claimDueDeliveries(
                            now: now, leaseUntil: now.addingTimeInterval(60), limit: 3).map(\.id)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == 20)
        #expect(Set(claimed).count == 20)
    }

    @Test func queuePositionFollowsRoundRobinRounds() {
        let snapshot = QueueSnapshot(
            lanes: [.init(workspaceId: "b", queued: 1), .init(workspaceId: "a", queued: 3), .init(workspaceId: "c", queued: 2)],
            aheadInLane: ["a0": 0, "a1": 1, "a2": 2], processing: 1)
        // Rounds: b0 a0 c0 | a1 c1 | a2
        #expect(snapshot.position(ofJob: "a0", in: "a") == 2)
        #expect(snapshot.position(ofJob: "a1", in: "a") == 4)
        #expect(snapshot.position(ofJob: "a2", in: "a") == 6)
        #expect(snapshot.position(ofJob: "zz", in: "a") == nil)
    }

    @Test(arguments: StoreKind.available) func keysAreStoredHashedAndRevocable(_ kind: StoreKind) async throws {
        let store = try await kind.makeStore().store
        let (workspace, key) = try await TestServer.makeKey(workspace: "w", store: store)
        #expect(key.hasPrefix("easel_") && key.count == 46)
        let stored = try await store.keys(workspaceId: workspace.id)
        #expect(stored.count == 1)
        #expect(stored[0].keyHash == Credentials.hash(apiKey: key))
        #expect(stored[0].keyHash.count == 64)
        #expect(try await store.authenticate(keyHash: Credentials.hash(apiKey: key))?.id == workspace.id)
        #expect(try await store.revokeKey(id: stored[0].id))
        #expect(try await store.authenticate(keyHash: Credentials.hash(apiKey: key)) == nil)
        #expect(try await !store.revokeKey(id: stored[0].id))
        #expect(workspace.webhookSecret.hasPrefix("whsec_"))
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
