/// diffusers' step-index bookkeeping for the sigma-indexed schedulers (Euler, Euler
/// ancestral, DPM-Solver): `_step_index` is found from the first timestep a run sees
/// (`_init_step_index`), or starts at `_begin_index` when image-to-image set one, and moves
/// on by one per step.
struct SigmaStepIndex: Sendable {
    private(set) var step: Int?
    private(set) var begin: Int?

    /// A new run: no step taken, no begin index.
    mutating func reset() {
        step = nil
        begin = nil
    }

    mutating func setBegin(_ index: Int) { begin = index }

    /// The index of the step at `timestep`, fixing it on the first call of a run.
    /// `fallback` is where a timestep missing from the schedule goes (diffusers' DPM-Solver
    /// takes the last step); `nil` makes that a programming error.
    mutating func current(_ timestep: Float, in timesteps: [Float], fallback: Int?, scheduler: String) -> Int {
        if let step { return step }
        guard let index = begin ?? scheduleIndex(of: timestep, in: timesteps) ?? fallback else {
            preconditionFailure("\(scheduler): timestep \(timestep) is not in the schedule")
        }
        step = index
        return index
    }

    /// The step after `index` is next.
    mutating func advance(past index: Int) { step = index + 1 }

    /// `add_noise`'s index: the current step once a begin index is set, else `timestep`'s place.
    func noiseIndex(_ timestep: Float, in timesteps: [Float], fallback: Int) -> Int {
        begin.map { step ?? $0 } ?? scheduleIndex(of: timestep, in: timesteps) ?? fallback
    }
}
