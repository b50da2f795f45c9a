/// `hilbert run [--mount P=URL]… [--cache DIR] [--] CMD…` read without the argument parser.
/// Job scripts start `hilbert run` once per task, and the parser's start-up (it scans the
/// binary's protocol conformance records) cost ~1 ms of every start. What this does not take
/// exactly (a missing value, no command, another subcommand) goes to the parser, which gives
/// the usual messages.
enum FastRun {
    struct Arguments {
        var mounts: [String] = []
        var cache: String?
        var command: [String] = []
    }

    enum Parsed {
        case run(Arguments)
        case help
        case refuse(String)
        case other
    }

    static let usage = "hilbert run [--mount PREFIX=META-URL]… [--cache DIR] [--] COMMAND [ARG…]"

    static func parse(_ args: [String]) -> Parsed {
        guard args.count >= 3, args[1] == "run" else { return .other }
        var parsed = Arguments()
        var i = 2
        func take(_ option: Substring, _ value: String) -> Bool {
            if value.isEmpty || value.hasPrefix("-") { return false }
            if option == "mount" { parsed.mounts.append(value) } else { parsed.cache = value }
            return true
        }
        while i < args.count {
            let a = args[i]
            if a == "--" { i += 1; break }
            if a == "--mount" || a == "--cache" {
                guard i + 1 < args.count, take(a.dropFirst(2), args[i + 1]) else { return .other }
                i += 2
                continue
            }
            if a.hasPrefix("--mount=") || a.hasPrefix("--cache=") {
                guard take(a.dropFirst(2).prefix(5), String(a.dropFirst(8))) else { return .other }
                i += 1
                continue
            }
            // The cache's limits are rare on a job's command line: the parser reads them.
            if a.hasPrefix("--cache-size") || a.hasPrefix("--cache-free") || a.hasPrefix("--site-cache") { return .other }
            // Before, the parser took any other option as the command ("cannot run '--help'").
            if a == "-h" || a == "--help" { return .help }
            if a.hasPrefix("-") { return .refuse("unknown option '\(a)' (usage: \(usage))") }
            break
        }
        guard i < args.count else { return .other }
        parsed.command = Array(args[i...])
        return .run(parsed)
    }
}
