/// Why a scheduler could not be made or set up. Each case says what was wrong and where.
public enum SchedulerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A scheduler name that is not one of ``SchedulerName``'s.
    case unknownName(String, valid: [String])
    /// A `_class_name` that Easel has no scheduler for.
    case unsupportedClass(String, supported: [String])
    /// A configuration with neither a `_class_name` nor an explicit scheduler name.
    case missingClassName
    /// A configuration key whose value this scheduler does not accept or does not implement.
    case unsupportedOption(scheduler: String, key: String, value: String, reason: String)
    /// A step count the schedule cannot produce.
    case invalidStepCount(scheduler: String, steps: Int, reason: String)
    /// `scheduler_config.json` could not be read.
    case unreadableConfiguration(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownName(name, valid):
            "unknown scheduler \"\(name)\"; valid names: \(valid.joined(separator: ", "))"
        case let .unsupportedClass(name, supported):
            "scheduler class \(name) is not supported; supported: \(supported.joined(separator: ", "))"
        case .missingClassName:
            "scheduler_config.json has no _class_name; name a scheduler explicitly"
        case let .unsupportedOption(scheduler, key, value, reason):
            "\(scheduler): \(key) = \(value) is not supported: \(reason)"
        case let .invalidStepCount(scheduler, steps, reason):
            "\(scheduler): cannot make a schedule of \(steps) steps: \(reason)"
        case let .unreadableConfiguration(path, reason):
            "\(path): cannot read scheduler configuration: \(reason)"
        }
    }
}
