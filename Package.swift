// swift-tools-version: 6.0
import PackageDescription

// The kernels (EaselTensor) are built without overflow/bounds traps in release builds: they
// index raw buffers in tight loops and are checked by the parity tests. Nothing else is:
// EaselDiffusion parses checkpoints, configs and prompts, whose checks must stay on.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "Easel",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "easel", targets: ["easel"]),
        .library(name: "EaselDiffusion", targets: ["EaselDiffusion"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.25.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "CEaselKernels",
            path: "Sources/CEaselKernels",
            cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))]
        ),
        .target(
            name: "EaselTensor",
            dependencies: ["COpenBLAS", "CEaselKernels"],
            swiftSettings: fastMath
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CImageCodecs",
            path: "Sources/CImageCodecs",
            providers: [.apt(["libpng-dev", "libturbojpeg0-dev"])]
        ),
        .target(
            name: "EaselDiffusion",
            dependencies: ["EaselTensor", "CEaselKernels", "CZlib", "CImageCodecs"],
            resources: [.copy("Resources")]
        ),
        .target(
            name: "EaselServer",
            dependencies: [
                "EaselDiffusion",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "easel",
            dependencies: [
                "EaselServer",
                "EaselDiffusion",
                "EaselTensor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Shared by the test targets: the per-process scratch folder.
        .target(name: "EaselTestSupport", path: "Tests/EaselTestSupport"),
        .testTarget(
            name: "EaselTensorTests",
            dependencies: ["EaselTensor"]
        ),
        .testTarget(
            name: "EaselDiffusionTests",
            dependencies: ["EaselDiffusion", "EaselTensor", "EaselTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EaselServerTests",
            dependencies: [
                "EaselServer",
                "EaselDiffusion",
                "EaselTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ]
)
