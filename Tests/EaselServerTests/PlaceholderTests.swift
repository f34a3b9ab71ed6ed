import Testing
@testable import EaselServer

@Test func serverModuleLinks() { _ = EaselServer.self }
