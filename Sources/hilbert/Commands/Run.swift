import ArgumentParser
import Glibc
import HilbertCore
import HilbertSupport

extension Hilbert {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command with the Hilbert prefix(es) visible, and return its exit status.",
            discussion: """
            Every process the command starts sees the volume too. When the command ends, data that \
            exited writers left in the node's staging area is committed.

            Examples:
              hilbert run -- bash -c 'seq 1000 > /hilbert/numbers; wc -l /hilbert/numbers'
              hilbert run -- python3 train.py --data /hilbert/dataset
              hilbert run --mount /data=sqlite:///scratch/me/vol/meta.db \\
                  -- tar -C /data -xf input.tar
            """)

        @OptionGroup var volumes: MountOptions

        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
        var command: [String] = []

        func run() throws {
            throw ExitCode(try Run.launch(command, mounts: volumes.mounts, volumes.caching))
        }

        /// The job itself; also reached without the argument parser (main.swift, FastRun).
        static func launch(_ command: [String], mounts: [String], _ caching: CacheArguments) throws -> Int32 {
            var argv = command
            if argv.first == "--" { argv.removeFirst() }
            guard !argv.isEmpty else { throw CLIError("no command given (usage: hilbert run [--mount P=URL] -- CMD ARGS…)") }
            let (table, cacheDir) = try MountOptions.resolve(mounts: mounts, caching)
            // A command stored under a prefix must be exec'd by a shimmed process (this one
            // is not): let a shell under the shim exec it.
            if table.contains(where: { argv[0] == $0.prefix || argv[0].hasPrefix($0.prefix + "/") }) {
                argv = ["/bin/sh", "-c", "exec \"$0\" \"$@\""] + argv
            }
            return try Launcher.runJob(argv, mounts: table, cache: cacheDir)
        }
    }

    struct Shell: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start an interactive $SHELL with the Hilbert prefix(es) visible.",
            discussion: """
            The prompt starts with "(hilbert)". Leave with 'exit'.

            Examples:
              hilbert shell
              hilbert shell --mount /data=sqlite:///scratch/me/vol/meta.db
            """)

        @OptionGroup var volumes: MountOptions

        func run() throws {
            let (table, cacheDir) = try volumes.resolve()
            let shell = getenv("SHELL").map { String(cString: $0) } ?? "/bin/bash"
            // bash rereads PS1 from its rc files, so the marker is re-applied before each prompt.
            let marker = "(hilbert) "
            var extra = ["HILBERT_SHELL": "1", "PS1": marker + "\\u@\\h:\\w\\$ "]
            extra["PROMPT_COMMAND"] = "case \"$PS1\" in \"\(marker)\"*) ;; *) PS1=\"\(marker)$PS1\";; esac"
            print("Hilbert shell: \(table.map { $0.prefix }.joined(separator: ", ")) mounted. Type 'exit' to leave.")
            throw ExitCode(try Launcher.runJob([shell, "-i"], mounts: table, cache: cacheDir, extra: extra))
        }
    }

    struct Flush: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commit data that exited writers left in this node's staging area.",
            discussion: """
            'hilbert run' does this when its command ends; run it in a Slurm epilogue after jobs that \
            used LD_PRELOAD directly (module load), or after a crash.

            Examples:
              hilbert flush
              hilbert flush --mount /data=sqlite:///scratch/me/vol/meta.db
            """)

        @OptionGroup var volumes: MountOptions

        func run() throws {
            let (table, cacheDir) = try volumes.resolve()
            let failures = Launcher.flush(mounts: table, cache: cacheDir, quiet: false)
            if failures > 0 { throw ExitCode(1) }
        }
    }

    struct Env: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the environment (sh syntax) that makes the prefix visible to a shell.",
            discussion: """
            Examples:
              eval "$(hilbert env)"; ls /hilbert
              hilbert env --mount /data=sqlite:///scratch/me/vol/meta.db
            """)

        @OptionGroup var volumes: MountOptions

        func run() throws {
            let (table, cacheDir) = try volumes.resolve()
            let shim = try Launcher.shimPath()
            print("export HILBERT_MOUNTS=\(shellQuote(Settings.formatMounts(table)))")
            print("export HILBERT_CACHE=\(shellQuote(cacheDir))")
            for name in [CacheLimits.sizeVariable, CacheLimits.freeVariable] {
                if let value = getEnv(name) { print("export \(name)=\(shellQuote(value))") }
            }
            print("export LD_PRELOAD=\(shellQuote(shim))${LD_PRELOAD:+:$LD_PRELOAD}")
        }
    }
}

func shellQuote(_ s: String) -> String {
    "'" + s.replacingAll("'", with: "'\\''") + "'"
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
