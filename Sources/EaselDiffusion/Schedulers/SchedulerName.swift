import Foundation

/// The schedulers a caller can ask for by name (`easel generate --scheduler NAME`, the
/// API's scheduler field). Names are case-insensitive, and `-`, `_` and spaces are
/// interchangeable:
///
/// | name             | also accepted                              | diffusers class                                   |
/// |------------------|--------------------------------------------|---------------------------------------------------|
/// | `pndm`           | `plms`                                     | `PNDMScheduler`                                   |
/// | `ddim`           |                                            | `DDIMScheduler`                                   |
/// | `euler`          |                                            | `EulerDiscreteScheduler`                          |
/// | `euler_a`        | `euler-ancestral`, `euler_ancestral`       | `EulerAncestralDiscreteScheduler`                 |
/// | `dpm++2m`        | `dpmpp2m`, `dpm++ 2m`                      | `DPMSolverMultistepScheduler`                     |
/// | `dpm++2m-karras` | `dpmpp2m-karras`, `dpm++ 2m karras`        | `DPMSolverMultistepScheduler`, Karras σ           |
/// | `lcm`            |                                            | `LCMScheduler`                                    |
/// | `tcd`            |                                            | `TCDScheduler` (γ = 0.3)                          |
///
/// A diffusers class name (`EulerDiscreteScheduler`) is accepted too. A named scheduler is
/// built from the model's own configuration the way diffusers' `from_config` does: the keys
/// it accepts carry over (betas, `steps_offset`, `prediction_type`, `timestep_spacing`...)
/// and the rest take its defaults. The two DPM names also fix what makes them "2M":
/// `algorithm_type = dpmsolver++`, `solver_order = 2`, and Karras σ on or off.
public enum SchedulerName: String, CaseIterable, Sendable {
    case pndm
    case ddim
    case euler
    case eulerAncestral = "euler_a"
    case dpmSolverMultistep = "dpm++2m"
    case dpmSolverMultistepKarras = "dpm++2m-karras"
    case lcm
    case tcd

    /// The canonical names, for help texts and error messages.
    public static var validNames: [String] { allCases.map(\.rawValue) }

    /// The scheduler `text` names; an unknown name is an error listing the valid ones.
    public init(parsing text: String) throws {
        let key = Self.normalized(text)
        let aliases: [String: SchedulerName] = [
            "pndm": .pndm, "plms": .pndm, "pndmscheduler": .pndm,
            "ddim": .ddim, "ddimscheduler": .ddim,
            "euler": .euler, "eulerdiscretescheduler": .euler,
            "euler_a": .eulerAncestral, "euler_ancestral": .eulerAncestral,
            "eulerancestraldiscretescheduler": .eulerAncestral,
            "dpm++2m": .dpmSolverMultistep, "dpmpp2m": .dpmSolverMultistep, "dpm++_2m": .dpmSolverMultistep,
            "dpmsolvermultistepscheduler": .dpmSolverMultistep,
            "dpm++2m_karras": .dpmSolverMultistepKarras, "dpmpp2m_karras": .dpmSolverMultistepKarras,
            "dpm++_2m_karras": .dpmSolverMultistepKarras,
            "lcm": .lcm, "lcmscheduler": .lcm,
            "tcd": .tcd, "tcdscheduler": .tcd,
        ]
        guard let name = aliases[key] else {
            throw SchedulerError.unknownName(text, valid: Self.validNames)
        }
        self = name
    }

    private static func normalized(_ text: String) -> String {
        let lowered = text.lowercased().trimmingCharacters(in: .whitespaces)
        return String(lowered.map { $0 == "-" || $0 == " " ? "_" : $0 })
    }

    /// This scheduler, built from a model's scheduler configuration.
    public func make(configuration: SchedulerConfiguration) throws -> any Scheduler {
        var configuration = configuration
        switch self {
        case .pndm: return try PNDMScheduler(configuration: configuration)
        case .ddim: return try DDIMScheduler(configuration: configuration)
        case .euler: return try EulerDiscreteScheduler(configuration: configuration)
        case .eulerAncestral: return try EulerAncestralDiscreteScheduler(configuration: configuration)
        case .dpmSolverMultistep, .dpmSolverMultistepKarras:
            configuration.algorithmType = "dpmsolver++"
            configuration.solverOrder = 2
            configuration.useKarrasSigmas = self == .dpmSolverMultistepKarras
            if self == .dpmSolverMultistepKarras { configuration.useExponentialSigmas = false }
            return try DPMSolverMultistepScheduler(configuration: configuration)
        case .lcm: return try LCMScheduler(configuration: configuration)
        case .tcd: return try TCDScheduler(configuration: configuration)
        }
    }

    /// The diffusers classes Easel can build from a configuration's `_class_name`.
    public static let supportedClasses = [
        "PNDMScheduler", "DDIMScheduler", "EulerDiscreteScheduler",
        "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler", "LCMScheduler", "TCDScheduler",
    ]

    /// The scheduler a model ships with (its `_class_name`), exactly as configured — a
    /// `DPMSolverMultistepScheduler` keeps its own order and σ settings.
    public static func modelDefault(configuration: SchedulerConfiguration) throws -> any Scheduler {
        guard let className = configuration.className else { throw SchedulerError.missingClassName }
        switch className {
        case "PNDMScheduler": return try PNDMScheduler(configuration: configuration)
        case "DDIMScheduler": return try DDIMScheduler(configuration: configuration)
        case "EulerDiscreteScheduler": return try EulerDiscreteScheduler(configuration: configuration)
        case "EulerAncestralDiscreteScheduler": return try EulerAncestralDiscreteScheduler(configuration: configuration)
        case "DPMSolverMultistepScheduler": return try DPMSolverMultistepScheduler(configuration: configuration)
        case "LCMScheduler": return try LCMScheduler(configuration: configuration)
        case "TCDScheduler": return try TCDScheduler(configuration: configuration)
        default: throw SchedulerError.unsupportedClass(className, supported: supportedClasses)
        }
    }

    /// The scheduler called `name`, or the model's own when `name` is nil or empty.
    public static func scheduler(named name: String?, configuration: SchedulerConfiguration) throws -> any Scheduler {
        guard let name, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            return try modelDefault(configuration: configuration)
        }
        return try SchedulerName(parsing: name).make(configuration: configuration)
    }
}
