extension Duration {
    /// The duration in seconds, as a `Double` (stage timings, job timings, logs, deadlines).
    /// The one conversion every module uses.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
