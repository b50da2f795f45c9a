import ArgumentParser

// Started from main.swift.
struct Hilbert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hilbert",
        abstract: "A POSIX file system over object storage for unmodified programs — no root, no FUSE, no daemon.",
        discussion: """
        Programs started with 'hilbert run' (or with the module's LD_PRELOAD) see the volume under \
        its prefix (default /hilbert). With no configuration the first use creates a default volume \
        under ${XDG_DATA_HOME:-~/.local/share}/hilbert/default.

        Examples:
          hilbert run -- bash -c 'echo hi > /hilbert/greeting; cat /hilbert/greeting'
          hilbert format sqlite:///scratch/me/vol/meta.db \\
              --bucket /scratch/me/vol/objects
          hilbert run --mount /data=sqlite:///scratch/me/vol/meta.db \\
              -- python3 train.py
          hilbert import ~/dataset /hilbert/dataset
          hilbert export /hilbert/results ~/results
          hilbert status
        """,
        subcommands: [Format.self, Run.self, Shell.self, Status.self, Cache.self, Warmup.self, Du.self, Tier.self, Flush.self, Env.self, Config.self, Doctor.self, GC.self, Compact.self, Import.self, Export.self, Dump.self, Load.self, ObjBench.self])
}
