// swift-tools-version:6.0
import PackageDescription

/// One settings array for every target: Swift 6 language mode (complete strict
/// concurrency) comes with the tools version; `any` is spelled out everywhere.
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "JobRunner",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "jobrunnerd", targets: ["jobrunnerd"]),
        .executable(name: "jobrunner-supervisor", targets: ["jobrunner-supervisor"]),
    ],
    dependencies: [
        // Flag parsing for the daemon; a local copy on every machine of this project.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMicroHTTPD",
            path: "Modules/CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev", "libgnutls28-dev"])]
        ),
        // epoll and eventfd for the WebSocket I/O loop (Linux headers only).
        .systemLibrary(name: "CEpoll", path: "Modules/CEpoll"),
        .systemLibrary(
            name: "CJansson",
            path: "Modules/CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            path: "Modules/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CPostgres",
            path: "Modules/CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            path: "Modules/CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // libcurl (GnuTLS flavour) for webhook POSTs, and GnuTLS's HMAC for their signatures.
        .systemLibrary(
            name: "CCurl",
            path: "Modules/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-gnutls-dev", "libgnutls28-dev"])]
        ),
        // posix_spawn of a job's supervisor, and the supervisor's own C. A C target
        // (not a system library in Modules/): SwiftPM rebuilds what imports it
        // when its header changes, and ignores edits to a system library's.
        .target(name: "CProcess", path: "Sources/CProcess"),
        // The monotonic clock, log levels and a checked thread launcher: shared by
        // every layer, with no C dependency beyond Glibc.
        .target(name: "Essentials", swiftSettings: settings),
        .target(name: "JSON", dependencies: ["CJansson"], swiftSettings: settings),
        // Job processes: spawn, pipes drained on one epoll thread, pidfd reaping, deadlines.
        .target(name: "ProcessRunner", dependencies: ["CProcess", "Essentials"], swiftSettings: settings),
        // The small C program each command job runs under (started with posix_spawn,
        // so the daemon's memory is never copied for a job); shipped beside jobrunnerd.
        // swiftc links it to libswiftCore and libstdc++, which it never uses and
        // which halve how many start a second (910 -> 1,800 on 2 cores); a static
        // swiftc link warns about the runtime's dlopen. So `make build` replaces
        // the release one with a static C build (gcc), which is what ships.
        .executableTarget(name: "jobrunner-supervisor", path: "Sources/jobrunner-supervisor"),
        // sd_notify, the watchdog and socket activation for the daemon.
        .target(name: "Systemd", dependencies: ["CSystemd"], swiftSettings: settings),
        .target(name: "JobQueue", dependencies: ["JSON", "Essentials"], swiftSettings: settings),
        .target(name: "JobEngine", dependencies: ["JobQueue", "JSON", "Cron"], swiftSettings: settings),
        // Job types an operator defines: programs run with the job's params, logs and progress.
        .target(name: "CommandJobs", dependencies: ["JobEngine", "JobQueue", "ProcessRunner", "JSON", "Essentials"], swiftSettings: settings),
        // What the SQL stores share, written once: the driver protocol and its
        // dialect, the migrator, the row codec, the reads, the reader pool and
        // the group-commit writer loop (no C: the drivers bring theirs).
        .target(name: "SQLStore", dependencies: ["JobQueue", "JSON", "Essentials"], swiftSettings: settings),
        // The SQLite driver behind JobQueue's JobStore protocol.
        .target(name: "JobStoreSQLite", dependencies: ["SQLStore", "JobQueue", "JSON", "CSQLite", "Essentials"], swiftSettings: settings),
        // The PostgreSQL driver behind the same protocol (libpq), with the cluster.
        .target(name: "JobStorePostgres", dependencies: ["SQLStore", "JobQueue", "JSON", "CPostgres", "CEpoll", "Essentials"], swiftSettings: settings),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD", "CEpoll", "Essentials"], swiftSettings: settings),
        // The thin libcurl adapter: many POSTs on one thread (multi interface), HMAC-SHA256.
        .target(name: "CurlClient", dependencies: ["CCurl"], swiftSettings: settings),
        // Webhooks: config, signatures, the outbox and the one delivery thread.
        .target(name: "Webhooks", dependencies: ["CurlClient", "JobQueue", "JSON", "Essentials"], swiftSettings: settings),
        .target(
            name: "JobRunnerAPI",
            dependencies: ["HTTPServer", "JobEngine", "JobQueue", "JSON", "Essentials"],
            swiftSettings: settings
        ),
        // The daemon as a library: the settings table (flags, environment, config
        // file, --help, the README's table) and the `Daemon` type (start, reload, drain).
        .target(
            name: "JobRunnerDaemon",
            dependencies: [
                "JobRunnerAPI", "HTTPServer", "JobEngine", "JobQueue", "JobStoreSQLite", "JobStorePostgres", "Systemd", "JSON", "Essentials",
                "CommandJobs", "ProcessRunner", "Webhooks",
            ],
            swiftSettings: settings
        ),
        // The entry: signals, `jobrunnerd token`, then the Daemon.
        .executableTarget(
            name: "jobrunnerd",
            dependencies: [
                "JobRunnerDaemon", "JobRunnerAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings
        ),
        // `make bench`: engine throughput with a no-op job type, no HTTP.
        .executableTarget(name: "jobrunner-bench", dependencies: ["JobEngine", "JobQueue", "JSON"], swiftSettings: settings),
        // Cron expressions and IANA time zone rules for schedules: pure, no Foundation.
        .target(name: "Cron", swiftSettings: settings),
        // A raw-socket HTTP/1.1 client for the integration tests, and `offPool`, which
        // runs a blocking test body on a thread of its own, for every test target (not shipped).
        .target(name: "HTTPTestSupport", dependencies: ["Essentials"], swiftSettings: settings),
        .testTarget(name: "EssentialsTests", dependencies: ["Essentials", "HTTPTestSupport"], swiftSettings: settings),
        .testTarget(name: "CronTests", dependencies: ["Cron"], swiftSettings: settings),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: settings),
        .testTarget(name: "ProcessRunnerTests", dependencies: ["ProcessRunner", "CProcess", "HTTPTestSupport"], swiftSettings: settings),
        .testTarget(name: "CommandJobsTests", dependencies: ["CommandJobs", "JobEngine", "JobQueue", "ProcessRunner", "JSON"], swiftSettings: settings),
        // A clock tests move by hand (not shipped).
        .target(name: "JobTestSupport", dependencies: ["JobQueue"], swiftSettings: settings),
        .testTarget(name: "JobQueueTests", dependencies: ["JobQueue", "JSON", "JobTestSupport"], swiftSettings: settings),
        .testTarget(name: "JobEngineTests", dependencies: ["JobEngine", "JobQueue", "JSON"], swiftSettings: settings),
        // A throwaway PostgreSQL cluster per test process (scripts/pg-throwaway), a database per test (not shipped).
        .target(name: "PostgresTestSupport", dependencies: ["CPostgres", "CProcess", "Essentials", "HTTPTestSupport", "JobQueue", "JobStoreSQLite", "JobStorePostgres"],
                swiftSettings: settings),
        // The store conformance suite: every test runs against each `StoreBackend`
        // (PostgresTestSupport/StoreBackend.swift), so a store is added there by one case.
        .testTarget(
            name: "StoreConformanceTests",
            dependencies: ["JobStoreSQLite", "JobStorePostgres", "PostgresTestSupport", "JobQueue", "JobEngine", "JSON", "JobTestSupport", "Essentials"],
            swiftSettings: settings
        ),
        // What only SQLite does (its file, migrations, tokenizer), the commit pipeline over a SQLite
        // file, and the shared SQL core's own parts (SQLStore) on an in-memory SQLite connection.
        .testTarget(
            name: "SQLiteStoreTests",
            dependencies: ["SQLStore", "JobStoreSQLite", "JobStorePostgres", "PostgresTestSupport", "JobQueue", "JSON", "Essentials"],
            swiftSettings: settings
        ),
        // What only PostgreSQL does: its driver, migrations, and several nodes on one database (the cluster).
        .testTarget(
            name: "PostgresStoreTests",
            dependencies: ["JobStorePostgres", "JobStoreSQLite", "PostgresTestSupport", "JobQueue", "JSON", "Essentials"],
            swiftSettings: settings
        ),
        .testTarget(name: "WebhooksTests", dependencies: ["Webhooks", "CurlClient", "JobQueue", "JobStoreSQLite", "JobStorePostgres", "PostgresTestSupport", "JSON", "HTTPServer", "Essentials"], swiftSettings: settings),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "HTTPTestSupport", "Essentials"], swiftSettings: settings),
        .testTarget(name: "JobRunnerDaemonTests", dependencies: ["JobRunnerDaemon", "JobRunnerAPI", "Webhooks", "JSON", "Essentials", "HTTPTestSupport"], swiftSettings: settings),
        .testTarget(
            name: "JobRunnerAPITests",
            dependencies: ["JobRunnerAPI", "HTTPServer", "JobEngine", "JobQueue", "JSON", "HTTPTestSupport", "Essentials"],
            swiftSettings: settings
        ),
    ]
)

// `make fuzz`: libFuzzer targets (Tests/fuzz), only in a build that asks for them
// (built with -sanitize=fuzzer into its own scratch path).
if Context.environment["JOBRUNNER_FUZZ"] != nil {
    package.targets.append(.executableTarget(
        name: "jobrunner-fuzz",
        dependencies: ["HTTPServer", "JobRunnerAPI", "JobEngine", "JobQueue", "JSON"],
        path: "Tests/fuzz/FuzzTargets",
        swiftSettings: settings
    ))
}
