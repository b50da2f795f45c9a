import ArgumentParser
import Glibc
import HilbertCore

extension Hilbert {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command with the Hilbert prefix(es) visible, and return its exit status.",
            discussion: """
            Every process the command starts sees the volume too. When the command ends, data that
            exited writers left in the node's staging area is committed.

            Examples:
              hilbert run -- bash -c 'seq 1000 > /hilbert/numbers; wc -l /hilbert/numbers'
              hilbert run -- python3 train.py --data /hilbert/dataset
              hilbert run --mount /data=sqlite:///scratch/me/vol/meta.db -- tar -C /data -xf input.tar
            """)

        @OptionGroup var volumes: MountOptions

        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
        var command: [String] = []

        func run() throws {
            var argv = command
            if argv.first == "--" { argv.removeFirst() }
            guard !argv.isEmpty else { throw CLIError("no command given (usage: hilbert run [--mount P=URL] -- CMD ARGS…)") }
            let opts = volumes
            let table = try Launcher.mountTable(opts)
            let cacheDir = try Launcher.cacheDirectory(opts)
            let env = try Launcher.environment(mounts: table, cache: cacheDir)
            // A command stored under a prefix must be exec'd by a shimmed process (this one
            // is not): let a shell under the shim exec it.
            if table.contains(where: { argv[0] == $0.prefix || argv[0].hasPrefix($0.prefix + "/") }) {
                argv = ["/bin/sh", "-c", "exec \"$0\" \"$@\""] + argv
            }
            let status = try Launcher.spawnAndWait(argv, env: env)
            _ = Launcher.flush(mounts: table, cache: cacheDir, quiet: true)
            throw ExitCode(status)
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
            let opts = volumes
            let table = try Launcher.mountTable(opts)
            let cacheDir = try Launcher.cacheDirectory(opts)
            let shell = getenv("SHELL").map { String(cString: $0) } ?? "/bin/bash"
            // bash rereads PS1 from its rc files, so the marker is re-applied before each prompt.
            let marker = "(hilbert) "
            var extra = ["HILBERT_SHELL": "1", "PS1": marker + "\\u@\\h:\\w\\$ "]
            extra["PROMPT_COMMAND"] = "case \"$PS1\" in \"\(marker)\"*) ;; *) PS1=\"\(marker)$PS1\";; esac"
            let env = try Launcher.environment(mounts: table, cache: cacheDir, extra: extra)
            print("Hilbert shell: \(table.map { $0.prefix }.joined(separator: ", ")) mounted. Type 'exit' to leave.")
            let status = try Launcher.spawnAndWait([shell, "-i"], env: env)
            _ = Launcher.flush(mounts: table, cache: cacheDir, quiet: true)
            throw ExitCode(status)
        }
    }

    struct Flush: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commit data that exited writers left in this node's staging area.",
            discussion: """
            'hilbert run' does this when its command ends; run it in a Slurm epilogue after jobs that
            used LD_PRELOAD directly (module load), or after a crash.

            Examples:
              hilbert flush
              hilbert flush --mount /data=sqlite:///scratch/me/vol/meta.db
            """)

        @OptionGroup var volumes: MountOptions

        func run() throws {
            let opts = volumes
            let failures = Launcher.flush(mounts: try Launcher.mountTable(opts), cache: try Launcher.cacheDirectory(opts), quiet: false)
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
            let opts = volumes
            let table = try Launcher.mountTable(opts)
            let cacheDir = try Launcher.cacheDirectory(opts)
            let shim = try Launcher.shimPath()
            print("export HILBERT_MOUNTS=\(shellQuote(Settings.formatMounts(table)))")
            print("export HILBERT_CACHE=\(shellQuote(cacheDir))")
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
