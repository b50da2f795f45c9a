// swift-tools-version:6.0
import PackageDescription

// Layers (JuiceFS-style): HilbertSupport (errno, the real-syscall facade, logging)
//   ← HilbertMeta (SQLite or PostgreSQL metadata)  ← HilbertData (blocks, object store, cache dir)
//   ← HilbertS3 (pure S3 protocol pieces: digests, SigV4, XML, URLs, credentials, retry)
//   ← HilbertCore (the VFS the shim talks to) ← HilbertEngine (the C entry table, a .so)
//                                              ← hilbert (the CLI; never loads the engine)
// The engine .so links the Swift stdlib, SQLite and zstd statically and exports one symbol.
// Flags that must only apply to the engine live on HilbertEngine alone (they would break the
// CLI link otherwise). No Foundation below the CLI.

let staticSQLite: [LinkerSetting] = [.unsafeFlags(["-Xlinker", "-Bstatic", "-Xlinker", "-lsqlite3", "-Xlinker", "-Bdynamic"])]
// The hot paths (stat/open storms) spent measurable time in dynamic exclusivity checks.
// Concrete generic types (Dictionary<EdgeKey, Ino>, …) get their metadata through accessor
// calls instead of a demangled name: the runtime's name lookup (with protocol-conformance
// scans) ran in every process on its first touch of the prefix. Without the implicit
// _StringProcessing import the engine links none of it (3,500 fewer relocations at load).
let fastSwift: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors", "-Xfrontend", "-disable-implicit-string-processing-module-import"])]
let staticZstd: [LinkerSetting] = [.unsafeFlags(["-Xlinker", "-Bstatic", "-Xlinker", "-lzstd", "-Xlinker", "-Bdynamic"])]

// libstdc++ and libgcc linked statically into the engine and the CLI (link-scripts/libstdc++.so
// says why); lld drops the glibc 2.36 symbol (arc4random) that gold keeps from archive members
// whose code --gc-sections removed.
let staticCxx: [LinkerSetting] = [.unsafeFlags([
    "-L", "Sources/HilbertEngine/link-scripts", "-Xclang-linker", "-static-libgcc", "-use-ld=lld",
])]

let package = Package(
    name: "Hilbert",
    products: [
        .library(name: "HilbertEngine", type: .dynamic, targets: ["HilbertEngine"]),
        .executable(name: "hilbert", targets: ["hilbert"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "CHilbertABI", path: "preload/abi"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .target(name: "CHilbertSys", dependencies: ["CHilbertABI"],
                cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "HilbertSupport", dependencies: ["CHilbertSys"], swiftSettings: fastSwift),
        // libpq is dlopen()ed on first use (a PostgreSQL volume); only its headers are needed to build.
        .target(name: "CHilbertPQ",
                cSettings: [.unsafeFlags(["-O2", "-I/usr/include/postgresql"])]),
        // A VFS over SQLite's unix one that writes a transaction's WAL frames at once.
        .target(name: "CSQLiteWAL", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "HilbertMeta", dependencies: ["HilbertSupport", "CSQLite", "CSQLiteWAL", "CHilbertPQ"],
                swiftSettings: fastSwift, linkerSettings: staticSQLite),
        .target(name: "HilbertData", dependencies: ["HilbertSupport", "CZstd", "CHilbertSys"],
                swiftSettings: fastSwift, linkerSettings: staticZstd),
        // libcurl is dlopen()ed on first use; only its headers are needed to build.
        .target(name: "CHilbertHTTP", dependencies: ["CHilbertSys"], cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "HilbertS3", dependencies: ["HilbertSupport", "HilbertData", "CHilbertHTTP", "CHilbertSys"],
                swiftSettings: fastSwift),
        .target(name: "HilbertCore", dependencies: ["HilbertMeta", "HilbertData", "HilbertS3", "CHilbertABI"],
                swiftSettings: fastSwift),
        // Linked into the engine only (argv.c says why).
        .target(name: "CEngineArgv", cSettings: [.unsafeFlags(["-O2"])]),
        // The engine's and the CLI's math functions, libm loaded on first use (libm.c says why).
        .target(name: "CLazyLibm", cSettings: [.unsafeFlags(["-O2", "-fno-builtin"])]),
        .target(name: "HilbertEngine", dependencies: ["HilbertCore", "CHilbertABI", "CEngineArgv", "CLazyLibm"],
                exclude: ["exports.map", "link-scripts", "hot-functions.txt"],
                linkerSettings: [.unsafeFlags([
                    "-static-stdlib",
                    "-Xlinker", "--version-script=Sources/HilbertEngine/exports.map",
                    "-Xlinker", "--exclude-libs=ALL",
                    "-Xlinker", "-z", "-Xlinker", "now",
                    // The code a short process runs placed together: fewer page faults and
                    // mapped pages per process (scripts/engine-hot-functions.sh makes the list).
                    "-Xlinker", "--symbol-ordering-file=Sources/HilbertEngine/hot-functions.txt",
                    "-Xlinker", "--no-warn-symbol-ordering",
                ])] + staticCxx),
        // hilbert import/export: host trees in and out of a volume (the CLI's, never the engine's).
        .target(name: "CHilbertHost", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "HilbertTransfer", dependencies: ["HilbertCore", "CHilbertHost"], swiftSettings: fastSwift),
        .executableTarget(name: "hilbert", dependencies: [
            "HilbertCore", "HilbertTransfer", "CLazyLibm",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: staticCxx),
        .testTarget(name: "HilbertMetaTests", dependencies: ["HilbertMeta"]),
        .testTarget(name: "HilbertDataTests", dependencies: ["HilbertData", "CHilbertSys"]),
        .testTarget(name: "HilbertCoreTests", dependencies: ["HilbertCore"]),
        .testTarget(name: "HilbertTransferTests", dependencies: ["HilbertTransfer"]),
        .testTarget(name: "HilbertS3Tests", dependencies: ["HilbertS3", "HilbertSupport"]),
    ],
    // The engine shares process-global state with C (the real-function table, fork
    // handlers); Swift 5 mode keeps that explicit without strict-concurrency ceremony.
    swiftLanguageModes: [.v5]
)
