import ArgumentParser
import HilbertCore
import HilbertMeta
import HilbertSupport

extension Hilbert {
    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Find (and with --delete remove) objects in a volume's store that no metadata references.",
            discussion: """
            Lists every object under chunks/ in the volume's object store and compares it with the \
            metadata. Reported: leaked objects (unreferenced, older than the grace period), recent \
            unreferenced objects (possibly an in-flight commit on another node: never deleted), \
            objects with ids the volume never handed out and keys that are not object keys \
            (foreign: deleted only with --delete-foreign), referenced objects missing from the \
            store, pending deletions, and staging files (committed by 'hilbert flush', not by gc). \
            Without --delete nothing changes. With --delete, leaked objects are deleted and the \
            pending deletions are finished. Progress goes to stderr. Safe to run while the volume \
            is in use; safe to interrupt and repeat.

            Examples:
              hilbert gc sqlite:///scratch/me/vol/meta.db
              hilbert gc sqlite:///scratch/me/vol/meta.db --delete --grace 2h
            """)

        @Argument(help: "Metadata URL of the volume, e.g. sqlite:///abs/path/meta.db")
        var metaURL: String

        @Flag(help: "Delete leaked objects and finish pending deletions.")
        var delete = false

        @Flag(help: "With --delete, also delete foreign keys under chunks/ and ids beyond the volume's counter.")
        var deleteForeign = false

        @Option(help: "Never delete objects modified less than this long ago (e.g. 1h, 30m, 2d, 0).")
        var grace: String = "1h"

        @Flag(name: .shortAndLong, help: "List the keys of leaked, recent, foreign and missing objects.")
        var verbose = false

        func run() throws {
            if deleteForeign && !delete { throw CLIError("--delete-foreign needs --delete") }
            var options = GCOptions()
            options.delete = delete
            options.deleteForeign = deleteForeign
            options.graceSeconds = try parseDuration(grace, "--grace")
            let report: GCReport
            do { report = try collect(options) } catch { throw CLIError("gc: \(error.message)") }
            printReport(report, options)
            if let e = report.error { throw CLIError("gc: \(e)") }
        }

        func collect(_ options: GCOptions) throws(HilbertError) -> GCReport {
            let meta = try Volume.openMetadata(metaURL)
            defer { meta.close() }
            let store = try Volume.store(for: meta.format)
            print("gc: volume '\(meta.format.name)' \(meta.format.uuid), objects \(store.description)")
            let gc = GarbageCollector(meta: meta, store: store, options: options)
            gc.progress = { printError($0) }
            if verbose { gc.onObject = { kind, key, size in print("  \(kind.rawValue) \(key) \(size)") } }
            return try gc.run()
        }

        func printReport(_ r: GCReport, _ o: GCOptions) {
            let graceText = durationText(o.graceSeconds)
            func line(_ label: String, _ t: ObjectTally, _ note: String = "") {
                let pad = String(repeating: " ", count: max(0, 15 - label.count))
                print("  \(label):\(pad)\(t.count) objects, \(t.bytes) bytes (\(human(t.bytes)))\(note.isEmpty ? "" : "; " + note)")
            }
            line("listed", r.listed, "under chunks/")
            line("referenced", r.referenced)
            line("leaked", r.leaked, o.delete ? "unreferenced, older than \(graceText)" : "unreferenced, older than \(graceText): delete with --delete")
            line("recent", r.recent, "unreferenced, modified within \(graceText) or of unknown age: kept")
            line("uploading", r.uploading, "of commits still uploading: kept whatever the grace")
            line("beyond counter", r.beyondCounter, "ids >= next_object \(r.nextObject): " + (o.deleteForeign ? "deleted if old" : "kept (--delete-foreign)"))
            line("foreign", r.foreign, "not object keys: " + (o.deleteForeign ? "deleted if old" : "kept (--delete-foreign)"))
            line("pending", r.pendingListed, "\(r.pendingRows) pending deletions" + (r.pendingReferenced > 0 ? ", \(r.pendingReferenced) still referenced (left alone)" : ""))
            print("  missing:        \(r.missing) referenced objects not in the store listing" + (r.missing > 0 ? " (written after the listing, or lost: check with -v)" : ""))
            print("  staging:        \(r.staging) files not yet committed" + (r.staging > 0 ? " (not gc's business: run 'hilbert flush' on the nodes that wrote them)" : ""))
            if o.delete {
                line("deleted", r.deleted, "\(r.forgotten) pending deletions finished, \(r.abandonedUploads) abandoned uploads forgotten")
                line("temporaries", r.staleTemporaries, "left in the store's .tmp/ by killed puts, removed")
            }
        }
    }
}

/// "90", "90s", "30m", "2h", "1d" → seconds.
func parseDuration(_ text: String, _ option: String) throws -> Int64 {
    var digits = Substring(text)
    var mult: Int64 = 1
    switch digits.last {
    case "s": digits.removeLast()
    case "m": mult = 60; digits.removeLast()
    case "h": mult = 3600; digits.removeLast()
    case "d": mult = 86400; digits.removeLast()
    default: break
    }
    guard let n = Int64(digits), n >= 0, n < Int64.max / mult else {
        throw CLIError("\(option): '\(text)' is not a duration (e.g. 1h, 30m, 90s, 2d, 0)")
    }
    return n * mult
}

func durationText(_ s: Int64) -> String {
    if s == 0 { return "0s" }
    if s % 86400 == 0 { return "\(s / 86400)d" }
    if s % 3600 == 0 { return "\(s / 3600)h" }
    if s % 60 == 0 { return "\(s / 60)m" }
    return "\(s)s"
}

func printError(_ line: String) { Sys.write(fd: 2, line + "\n") }
