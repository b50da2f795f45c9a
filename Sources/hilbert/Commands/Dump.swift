import ArgumentParser
import CHilbertSys
import Glibc
import HilbertCore
import HilbertMeta
import HilbertSupport

extension Hilbert {
    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the whole metadata of a volume as one JSON document.",
            discussion: """
            Every node with its attributes, every directory entry, symlink target, extended \
            attribute, inline file content, block reference and object to delete, with the \
            volume's settings and counters, read in one read transaction: a consistent snapshot \
            of a volume in use. Streams (a page of each table at a time). The objects themselves \
            stay in the object store; 'hilbert load' makes a volume of the dump on any metadata \
            engine, sharing them. Format: docs/FORMAT.md, "Dump format".

            A file with data not yet committed (in the staging area of the node that wrote it) \
            makes dump refuse, naming it: end the writers and run 'hilbert flush' on that node. \
            --ignore-staging dumps such files as last committed instead (their uncommitted \
            bytes are then not in the dump, and the files are named on stderr).

            FILE is written beside itself as FILE.partial, synced and renamed when complete \
            (mode 0600: the dump holds the content of small files); '-' or none: standard \
            output. A summary goes to stderr, and progress every second when stderr is a \
            terminal.

            Examples:
              hilbert dump sqlite:///scratch/me/vol/meta.db vol.json
              hilbert dump sqlite:///scratch/me/vol/meta.db | zstd > vol.json.zst
            """)

        @Argument(help: "Metadata URL of the volume, e.g. sqlite:///abs/path/meta.db")
        var metaURL: String

        @Argument(help: "The dump file to write ('-': standard output).")
        var file: String = "-"

        @Flag(help: "Dump files with uncommitted data as last committed instead of refusing.")
        var ignoreStaging = false

        func run() throws {
            let meta: MetaStore
            do { meta = try Volume.openMetadata(metaURL) } catch { throw CLIError("dump: \(error.message)") }
            defer { meta.close() }
            let output = try DumpFile(file)
            let start = hl_monotonic_ns()
            var options = DumpOptions()
            options.ignoreStaging = ignoreStaging
            let progress = Progress("dump")
            let result: DumpResult
            do {
                result = try meta.dump(options: options, to: { (b: UnsafeRawBufferPointer) throws(Errno) in
                    try output.write(b)
                }, progress: { progress.show("\($0.entries) entries, \(human($0.bytes))") })
                try output.commit()
            } catch let e as HilbertError {
                progress.clear()
                output.abandon()
                throw CLIError("dump: \(e.message)")
            } catch {
                progress.clear()
                output.abandon()
                throw CLIError("dump: \(error)")
            }
            progress.clear()
            let c = result.counts
            printError("dump: volume '\(meta.format.name)' \(meta.format.uuid): \(c.nodes) nodes, \(c.edges) entries, \(c.symlinks) symlinks, \(c.xattrs) xattrs, \(c.inline) inline files, \(c.blocks) blocks, \(c.packs) packs, \(c.deletedObjects) objects to delete; \(c.bytes) bytes written to \(output.name) in \(seconds(hl_monotonic_ns() &- start))")
            if result.stagedFiles > 0 {
                printError("dump: warning: \(result.stagedFiles) file(s) have uncommitted data that is not in the dump (--ignore-staging): \(result.stagedExamples.joined(separator: ", "))\(result.stagedFiles > result.stagedExamples.count ? ", …" : "")")
            }
        }
    }

    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a volume from a dump (hilbert dump), on any metadata engine.",
            discussion: """
            Reads the dump as a stream, checks it strictly (order, references, types, checksums, \
            the counts and CRC-32C at its end, the counters against the rows: a truncated or \
            damaged dump is refused naming the line and byte) and writes it in transactions of \
            bounded size. The settings, which make the volume usable, are written last: a load \
            that fails leaves a volume every command refuses, and says how to remove it. \
            Refuses a META-URL where a volume (or anything) exists.

            The new volume keeps the dumped volume's uuid, settings and object store: its files \
            are the dumped volume's objects. Retire the dumped volume after the load: two \
            volumes using one store would hand out the same object ids and overwrite and delete \
            each other's objects. --bucket points the new volume at another location holding the \
            same objects (copied there under the same keys).

            --recount writes counters (inodes, bytes, objects) recomputed from the rows, for a \
            dump whose counters do not match them (a damaged source volume).

            Examples:
              hilbert load vol.json sqlite:///scratch/me/vol2/meta.db
              zstd -dc vol.json.zst | hilbert load - sqlite:///scratch/me/vol2/meta.db
            """)

        @Argument(help: "The dump to read ('-': standard input).")
        var file: String

        @Argument(help: "Metadata URL of the new volume, e.g. sqlite:///abs/path/meta.db")
        var metaURL: String

        @Option(help: "The object store location of the new volume, if not the dumped one's (same kind of store).")
        var bucket: String?

        @Flag(help: "Write counters recomputed from the rows when the dump's do not match them.")
        var recount = false

        func run() throws {
            let url: MetaURL
            do { url = try MetaURL(metaURL) } catch { throw CLIError("load: \(error.message)") }
            if url.exists == true {
                throw CLIError("load: \(metaURL) already exists (\(Errno.exists)): load only creates new volumes; give another META-URL")
            }
            let fd: Int32
            if file == "-" { fd = 0 } else {
                fd = open(file, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw CLIError("load: cannot read \(file): \(String(cString: strerror(errno)))") }
            }
            defer { if fd != 0 { close(fd) } }
            for dir in url.hostDirectories {
                do throws(Errno) { try Sys.mkdirs(dir, 0o700) } catch { throw CLIError("load: cannot create \(dir): \(error)") }
            }
            var options = LoadOptions()
            options.bucket = bucket
            options.recount = recount
            options.source = file == "-" ? "standard input" : file
            let start = hl_monotonic_ns()
            let progress = Progress("load")
            let result: LoadResult
            do {
                result = try MetaStore.load(into: url, options: options, from: { (b: UnsafeMutableRawBufferPointer) throws(Errno) -> Int in
                    try sysCall { read(fd, b.baseAddress, b.count) }
                }, progress: { progress.show("\($0.entries) entries, \(human($0.bytes)) read") })
            } catch {
                progress.clear()
                throw CLIError("load: \(error.message)")
            }
            progress.clear()
            let c = result.counts
            let f = result.format
            for r in result.recounted {
                printError("load: counter \(r.name): \(r.dumped) in the dump, \(r.counted) counted: wrote \(r.counted) (--recount)")
            }
            print("Loaded volume '\(f.name)' (\(f.uuid)) into \(metaURL): \(c.nodes) nodes, \(c.edges) entries, \(c.symlinks) symlinks, \(c.xattrs) xattrs, \(c.inline) inline files, \(c.blocks) blocks, \(c.packs) packs, \(c.deletedObjects) objects to delete, in \(seconds(hl_monotonic_ns() &- start))")
            print("  objects:  \(f.storage) \(f.bucket)")
            printError("load: the new volume uses the object store \(f.bucket) of the dumped volume: retire that volume now (never use both: they would overwrite and delete each other's objects)")
        }
    }
}

/// The destination of a dump: standard output, a non-regular file written in place, or a
/// regular file written as FILE.partial and renamed when complete.
final class DumpFile {
    let name: String
    private let fd: Int32
    private var open = true
    private let partial: String?
    private let target: String

    init(_ path: String) throws {
        target = path
        if path == "-" {
            name = "standard output"
            fd = 1
            partial = nil
            return
        }
        name = path
        var st = stat()
        if stat(path, &st) == 0 && st.st_mode & S_IFMT != S_IFREG {
            fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
            partial = nil
        } else {
            partial = path + ".partial"
            fd = Glibc.open(path + ".partial", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        }
        if fd < 0 { throw CLIError("dump: cannot write \(partial ?? path): \(String(cString: strerror(errno)))") }
    }

    func write(_ b: UnsafeRawBufferPointer) throws(Errno) {
        var off = 0
        while off < b.count {
            off += try sysCall { Glibc.write(fd, b.baseAddress! + off, b.count - off) }
        }
    }

    /// Complete: synced, and renamed into place.
    func commit() throws {
        guard let partial else { return }
        open = false
        if fsync(fd) != 0 || close(fd) != 0 {
            throw CLIError("dump: cannot write \(partial): \(String(cString: strerror(errno)))")
        }
        if rename(partial, target) != 0 {
            throw CLIError("dump: cannot rename \(partial) to \(target): \(String(cString: strerror(errno)))")
        }
    }

    /// Failed: the partial file goes.
    func abandon() {
        guard let partial else { return }
        if open { close(fd) }
        open = false
        unlink(partial)
    }
}

/// A progress line on stderr, at most once a second, when stderr is a terminal.
final class Progress {
    let what: String
    let tty = isatty(2) != 0
    private var shown = false
    init(_ what: String) { self.what = what }
    func show(_ text: String) {
        guard tty else { return }
        printErrorRaw("\r\u{1b}[K\(what): \(text)…")
        shown = true
    }
    func clear() {
        if shown { printErrorRaw("\r\u{1b}[K") }
        shown = false
    }
}

func printErrorRaw(_ text: String) { Sys.write(fd: 2, text) }

/// "12.3 s".
func seconds(_ ns: UInt64) -> String {
    let tenths = (ns + 50_000_000) / 100_000_000
    return "\(tenths / 10).\(tenths % 10) s"
}
