import ArgumentParser
import EaselDiffusion

/// The `easel` command line: serve, generate, models, keys.
@main
struct Easel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "easel",
        abstract: "Self-hosted image generation that speaks Leap's Images API.",
        version: EngineInfo.version,
        subcommands: [GenerateCommand.self, ServeCommand.self, KeysCommand.self, ModelsCommand.self, Bench.self]
    )
}
