import Foundation

/// Files of the engine's resource bundle (`Sources/EaselDiffusion/Resources`, copied whole).
enum EngineResources {
    /// `Resources/<subdirectory>/<name>.<ext>` as SwiftPM lays the copied folder out, or
    /// `<subdirectory>/<name>.<ext>` where a bundle has it flattened; nil when neither exists.
    static func url(_ name: String, withExtension ext: String?, in subdirectory: String) -> URL? {
        for candidate in ["Resources/\(subdirectory)", subdirectory] {
            if let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: candidate) {
                return url
            }
        }
        return nil
    }
}
