import Glibc

switch FastRun.parse(CommandLine.arguments) {
case .run(let a):
    do {
        exit(try Hilbert.Run.launch(a.command, mounts: a.mounts, CacheArguments(cache: a.cache)))
    } catch {
        Hilbert.exit(withError: error)
    }
case .help:
    print(Hilbert.helpMessage(for: Hilbert.Run.self))
    exit(0)
case .refuse(let why):
    fputs("Error: \(why)\n", stderr)
    exit(64)
case .other:
    Hilbert.main()
}
