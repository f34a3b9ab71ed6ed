import Testing
@testable import EaselDiffusion

@Test func engineHasVersion() { #expect(!EaselDiffusion.version.isEmpty) }
