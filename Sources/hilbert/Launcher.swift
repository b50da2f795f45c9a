import ArgumentParser
import CHilbertSys
import Glibc
import HilbertCore
import HilbertSupport

/// The command `hilbert run` waits for (signal handlers cannot capture context).
nonisolated(unsafe) var forwardTarget: pid_t = 0

/// Options shared by commands that act on mounted volumes.
struct MountOptions: ParsableArguments {
    @Option(name: .customLong("mount"), help: "PREFIX=META-URL (repeatable); default: $HILBERT_MOUNTS, the config file, or /hilbert on the default volume.")
    var mounts: [String] = []

    @Option(help: "Node-local cache directory (default: $HILBERT_CACHE, the config file, or ${TMPDIR:-/tmp}/hilbert-$USER).")
    var cache: String?

    @Option(name: .customLong("cache-size"), help: "Most the cache keeps in read copies, e.g. 50G (default: $HILBERT_CACHE_SIZE, the config file, or min(10G, 10% of its file system)).")
    var cacheSize: String?

    @Option(name: .customLong("cache-free"), help: "Free space the cache leaves on its file system, e.g. 20G or 5% (default: $HILBERT_CACHE_FREE, the config file, or 10%).")
    var cacheFree: String?

    @Option(name: .customLong("site-cache"), help: "A cache directory shared by the site's nodes, between the node cache and the store (default: $HILBERT_SITE_CACHE, the config file, or none).")
    var siteCache: String?

    @Option(name: .customLong("site-cache-size"), help: "Most the site cache keeps, e.g. 2T (default: $HILBERT_SITE_CACHE_SIZE, the config file, or min(100G, 10% of its file system)).")
    var siteCacheSize: String?

    var caching: CacheArguments {
        CacheArguments(cache: cache, size: cacheSize, free: cacheFree, site: siteCache, siteSize: siteCacheSize)
    }

    /// The mount table and cache directory, each by the one precedence (View.swift); the
    /// cache's limits and the site tier go into this process's environment (for its own
    /// volumes and its children).
    func resolve() throws -> (mounts: [MountSpec], cache: String) {
        try MountOptions.resolve(mounts: mounts, caching)
    }

    static func resolve(mounts: [String], _ c: CacheArguments) throws -> (mounts: [MountSpec], cache: String) {
        let v = try view(mounts: mounts, c)
        v.exportCacheSettings()
        return (v.mounts, v.cache)
    }

    func view() throws -> View {
        try MountOptions.view(mounts: mounts, caching)
    }

    static func view(mounts: [String], _ c: CacheArguments) throws -> View {
        do {
            return try View.resolve(mountArguments: mounts, cacheArgument: c.cache, cacheSizeArgument: c.size,
                                    cacheFreeArgument: c.free, siteCacheArgument: c.site, siteCacheSizeArgument: c.siteSize,
                                    siteFile: Launcher.siteConfigPath())
        } catch {
            throw CLIError(error.message)
        }
    }
}

/// The cache settings given on a command line (nil: not given there).
struct CacheArguments {
    var cache: String?
    var size: String?
    var free: String?
    var site: String?
    var siteSize: String?
}

/// Finds the shim and engine, computes the mount table and the child environment, spawns,
/// waits and finally commits whatever the job left in staging.
enum Launcher {
    /// Directory holding libhilbert-preload.so and libHilbertEngine.so: $HILBERT_LIB, else
    /// ../lib next to this executable (install layout; `make` builds the same layout in out/).
    static func libraryDirectory() throws -> String {
        if let d = getEnv("HILBERT_LIB"), !d.isEmpty { return d }
        return try installRoot() + "/lib"
    }

    /// The install this executable belongs to: the directory above its bin/.
    static func installRoot() throws -> String {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink("/proc/self/exe", &buf, 4096)
        guard n > 0 else { throw CLIError("cannot find my own executable (/proc/self/exe)") }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let bin = String(exe[..<(exe.lastIndex(of: "/") ?? exe.startIndex)])
        return String(bin[..<(bin.lastIndex(of: "/") ?? bin.startIndex)])
    }

    /// The site's config file: INSTALL/etc/hilbert/config, written by the administrator.
    static func siteConfigPath() -> String? {
        (try? installRoot()).map { $0 + "/etc/hilbert/config" }
    }

    /// The shim for this machine: the default build needs glibc >= 2.34 (dlsym in libc);
    /// older C libraries get the compat build, which also loads libdl.so.2.
    static func shimPath() throws -> String {
        let lib = try libraryDirectory()
        let modern = glibcAtLeast(2, 34)
        let shim = lib + (modern ? "/libhilbert-preload.so" : "/libhilbert-preload-compat.so")
        guard access(shim, R_OK) == 0 else {
            throw CLIError("the Hilbert preload library is missing: \(shim) (is Hilbert installed with 'make install'?)")
        }
        return shim
    }

    /// The environment for a job: ours plus LD_PRELOAD (prepended, existing entries kept).
    static func environment(mounts: [MountSpec], cache: String, extra: [String: String] = [:]) throws -> [String] {
        let shim = try shimPath()
        var env: [String: String] = [:]
        var order: [String] = []
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                let k = String(s[..<eq])
                if env[k] == nil { order.append(k) }
                env[k] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        func set(_ k: String, _ v: String) {
            if env[k] == nil { order.append(k) }
            env[k] = v
        }
        set("HILBERT_MOUNTS", Settings.formatMounts(mounts))
        set("HILBERT_CACHE", cache)
        let existing = (env["LD_PRELOAD"] ?? "").split(whereSeparator: { $0 == ":" || $0 == " " })
            .map(String.init).filter { !$0.hasSuffix("/libhilbert-preload.so") && !$0.hasSuffix("/libhilbert-preload-compat.so") }
        set("LD_PRELOAD", ([shim] + existing).joined(separator: ":"))
        for (k, v) in extra { set(k, v) }
        return order.map { "\($0)=\(env[$0]!)" }
    }

    /// Spawn argv with env, wait, return a shell-style exit status. `whileRunning` runs once
    /// the command has started, before the wait.
    static func spawnAndWait(_ argv: [String], env: [String], whileRunning: () -> Void = {}) throws -> Int32 {
        var pid: pid_t = 0
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGQUIT)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF))
        let cargv = argv.map { strdup($0) } + [nil]
        let cenv = env.map { strdup($0) } + [nil]
        defer {
            cargv.forEach { free($0) }
            cenv.forEach { free($0) }
        }
        // The terminal's ^C goes to the job; we only wait for it. Signals sent to us alone
        // (kill, a batch system ending the job) are passed on to the command.
        let oldInt = signal(SIGINT, SIG_IGN)
        let oldQuit = signal(SIGQUIT, SIG_IGN)
        let forwarded = [SIGTERM, SIGHUP, SIGUSR1, SIGUSR2]
        let oldHandlers = forwarded.map { signal($0, { sig in if forwardTarget > 0 { kill(forwardTarget, sig) } }) }
        defer {
            signal(SIGINT, oldInt)
            signal(SIGQUIT, oldQuit)
            for (sig, old) in zip(forwarded, oldHandlers) { signal(sig, old) }
            forwardTarget = 0
        }
        let rc = posix_spawnp(&pid, argv[0], nil, &attr, cargv, cenv)
        if rc != 0 {
            // As env(1) and shells report it: 127 not found, 126 found but not executable.
            Log.error("cannot run '\(argv[0])': \(String(cString: strerror(rc)))")
            return rc == ENOENT ? 127 : 126
        }
        forwardTarget = pid
        whileRunning()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw CLIError("waitpid failed: \(String(cString: strerror(errno)))") }
        }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// Run a job: the command with the prefix(es) visible, then commit what it left staged.
    static func runJob(_ argv: [String], mounts: [MountSpec], cache: String, extra: [String: String] = [:]) throws -> Int32 {
        let env = try environment(mounts: mounts, cache: cache, extra: extra)
        // Held open while the job runs: SQLite then finds the volume's WAL index already built,
        // which a process that is the only one with the database open must rebuild (from
        // 0.05 ms with an empty WAL to ~1 ms with hundreds of frames), in every short process of
        // the job. Opened while the command starts (the two overlap on a second core; whoever
        // comes first builds the index). A volume that does not exist yet (the default one) is
        // opened only afterwards.
        var held: [String: Volume] = [:]
        let status = try spawnAndWait(argv, env: env) {
            for m in mounts {
                if let v = try? Volume.open(m, cacheRoot: cache, createIfDefault: false) { held[m.prefix] = v }
            }
        }
        _ = flush(mounts: mounts, cache: cache, quiet: true, opened: held)
        return status
    }

    /// Commit staging files no process writes any more (after a job, or in an epilogue).
    static func flush(mounts: [MountSpec], cache: String, quiet: Bool, opened: [String: Volume] = [:]) -> Int {
        var failures = 0
        for m in mounts {
            do throws(HilbertError) {
                let v: Volume
                if let held = opened[m.prefix] { v = held } else { v = try Volume.open(m, cacheRoot: cache, createIfDefault: false) }
                let r = Engine.flush(v)
                failures += r.failed
                if !quiet && (r.committed > 0 || r.failed > 0 || r.busy > 0 || r.elsewhere > 0) {
                    var line = "\(m.prefix): committed \(r.committed), still being written \(r.busy), failed \(r.failed)"
                    if r.elsewhere > 0 { line += ", held by another cache directory \(r.elsewhere)" }
                    print(line)
                }
            } catch {
                if error.errno != .noEntry {
                    Log.error(error.message)
                    failures += 1
                }
            }
        }
        return failures
    }
}

/// The running C library's version is at least major.minor.
func glibcAtLeast(_ major: Int, _ minor: Int) -> Bool {
    Int(hl_glibc_version()) >= major * 1000 + minor
}
