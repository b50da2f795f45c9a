import ArgumentParser
import CHilbertSys
import Glibc
import HilbertCore
import HilbertData
import CHilbertHTTP
import HilbertMeta
import HilbertSupport

extension Hilbert {
    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that Hilbert can work here: libraries, C library version, engine, volumes, cache.",
            discussion: """
            Prints one line per check, starting with OK or FAIL and saying why; exits 0 when all \
            checks pass, 1 otherwise. Nothing is created or changed. The C library floors are read \
            from the libraries' ELF version requirements (.gnu.version_r).

            The hilbert binary itself needs the host's C library: in a container whose glibc is \
            older, run the doctor on the host and rely on the shim's one-line 'hilbert:' message \
            inside (see docs/CONTAINERS.md).

            Examples:
              hilbert doctor
              hilbert doctor --mount /data=sqlite:///scratch/me/vol/meta.db \\
                  --cache /tmp/me-cache
              HILBERT_ENGINE=/opt/hilbert/lib/libHilbertEngine.so hilbert doctor
            """)

        @OptionGroup var volumes: MountOptions

        func run() throws {
            var failed = 0
            func report(_ good: Bool, _ line: String) {
                print((good ? "OK   " : "FAIL ") + line)
                if !good { failed += 1 }
            }
            let running = Int(hl_glibc_version())
            let runningText = "\(running / 1000).\(running % 1000)"
            report(running > 0, "C library: glibc \(runningText)")

            let lib: String
            do { lib = try Launcher.libraryDirectory() } catch {
                report(false, "library directory: \(error)")
                throw ExitCode(1)
            }
            let shimName = glibcAtLeast(2, 34) ? "libhilbert-preload.so" : "libhilbert-preload-compat.so"
            for name in ["libhilbert-preload.so", "libhilbert-preload-compat.so"] {
                let use = name == shimName ? " (used by 'hilbert run' here)" : ""
                checkLibrary("shim\(use)", lib + "/" + name, running: running, required: !use.isEmpty, report)
            }

            let enginePath = getEnv("HILBERT_ENGINE").flatMap { $0.isEmpty ? nil : $0 } ?? lib + "/libHilbertEngine.so"
            let from = getEnv("HILBERT_ENGINE").map { $0.isEmpty ? "" : " (from HILBERT_ENGINE)" } ?? ""
            if checkLibrary("engine\(from)", enginePath, running: running, required: true, report) {
                if let h = dlopen(enginePath, RTLD_NOW | RTLD_LOCAL) {
                    let entry = dlsym(h, "hilbert_engine_api") != nil
                    report(entry, entry ? "engine loads here (dlopen)" : "engine loads but lacks hilbert_engine_api: \(enginePath) is not a Hilbert engine")
                } else {
                    report(false, "engine cannot be loaded here: \(String(cString: dlerror()))")
                }
            }

            let (mounts, cache) = try volumes.resolve()
            for m in mounts { checkMount(m, report) }
            let cacheProblem = directoryProblem(cache)
            report(cacheProblem == nil, "cache directory \(cache): \(cacheProblem ?? (Sys.exists(cache) ? "writable and yours alone" : "will be created on first use"))")
            if failed > 0 { throw ExitCode(1) }
        }

        /// Exists, is readable, and its C library floors are met. Returns whether it exists.
        @discardableResult
        func checkLibrary(_ what: String, _ path: String, running: Int, required: Bool,
                          _ report: (Bool, String) -> Void) -> Bool {
            guard access(path, R_OK) == 0 else {
                report(!required, "\(what): \(path): \(String(cString: strerror(errno)))")
                return false
            }
            guard let needs = ELFVersionNeeds.read(path) else {
                report(false, "\(what): \(path): not a readable 64-bit ELF shared object")
                return true
            }
            var glibc = needs.highest("GLIBC_")
            // The shim binds dlsym to GLIBC_2.2.5 in both builds; without libdl.so.2 that symbol
            // must come from libc itself, which has it since glibc 2.34 (version tags cannot say so).
            if path.hasSuffix(".so"), path.contains("libhilbert-preload"), !needs.needed.contains("libdl.so.2"),
               glibc.map({ $0.parts.lexicographicallyPrecedes([2, 34]) }) ?? true {
                glibc = .init(parts: [2, 34], text: "2.34 (dlsym in libc)")
            }
            let cxx = needs.highest("GLIBCXX_")
            var line = "\(what): \(path)"
            if let g = glibc { line += ", needs GLIBC_\(g.text)" }
            if let c = cxx { line += " and GLIBCXX_\(c.text) (libstdc++)" }
            if let g = glibc, g.parts.count >= 2, g.parts[0] * 1000 + g.parts[1] > running {
                let r = "\(running / 1000).\(running % 1000)"
                report(false, line + ": this C library is glibc \(r), older than \(g.text)")
            } else {
                report(true, line)
            }
            return true
        }

        func checkMount(_ m: MountSpec, _ report: (Bool, String) -> Void) {
            let head = "mount \(m.prefix) → \(m.metaURL)"
            let url: MetaURL
            do { url = try MetaURL(m.metaURL) } catch {
                report(false, "\(head): \(error.message)")
                return
            }
            if url.exists == false && m.metaURL == Settings.defaultMetaURL {
                let dir = Settings.defaultVolumeDirectory
                let problem = directoryProblem(dir)
                report(problem == nil, "\(head): the default volume \(problem ?? "will be created on first use in \(dir)")")
                return
            }
            let meta: MetaStore
            do { meta = try MetaStore.open(url) } catch {
                report(false, "\(head): \(MetaStore.lastOpenError?.message ?? "cannot open: \(error)")")
                return
            }
            let f = meta.format
            var problem: String?
            if let dbDir = url.hostDirectories.first(where: { access($0, W_OK | X_OK) != 0 }) {
                problem = "the metadata directory \(dbDir) is not writable (\(String(cString: strerror(errno))))"
            } else if f.storage == "file" {
                if let p = directoryProblem(f.bucket) { problem = "objects \(f.bucket): \(p)" }
                else if !Sys.exists(f.bucket) { problem = "objects \(f.bucket): no such directory" }
            } else if f.storage == "s3" {
                problem = s3Problem(f)
            }
            report(problem == nil, "\(head): volume '\(f.name)', objects \(f.storage) \(f.bucket)" + (problem.map { ": " + $0 } ?? ""))
        }
    }
}

/// Why the volume's S3 store cannot be used from here: libcurl missing, credentials missing,
/// the bucket unreachable (nil: a signed request got an answer). Reports libcurl's version.
private func s3Problem(_ f: VolumeFormat) -> String? {
    var message = [CChar](repeating: 0, count: 512)
    if hl_http_load(&message, message.count) != 0 { return String(cString: message) }
    print("OK   libcurl \(String(cString: hl_http_version())) loads here (S3 volumes)")
    do {
        let store = try Volume.store(for: f)
        do throws(Errno) {
            _ = try store.head("chunks/0/0/0")   // id 0 is never handed out: any answer will do
        } catch {
            return DataErrors.last?.message ?? "\(error)"
        }
    } catch {
        return error.message
    }
    return nil
}

/// Why `dir` cannot be used as a writable directory (nil: it can, or it can be created:
/// its nearest existing ancestor is a writable directory).
private func directoryProblem(_ dir: String) -> String? {
    var p = dir
    while true {
        var st = stat()
        if stat(p, &st) == 0 {
            if st.st_mode & S_IFMT != S_IFDIR { return "\(p) is not a directory" }
            if access(p, W_OK | X_OK) != 0 { return "\(p) is not writable (\(String(cString: strerror(errno))))" }
            // An existing cache must be the user's alone (the engine refuses it otherwise).
            if p == dir {
                do throws(HilbertError) { try PrivateDirectory.verify(dir) } catch { return error.message }
            }
            return nil
        }
        if errno != ENOENT && errno != ENOTDIR { return "\(p): \(String(cString: strerror(errno)))" }
        guard let slash = p.lastIndex(of: "/"), slash != p.startIndex else { p = "/"; continue }
        p = String(p[..<slash])
    }
}

/// The symbol versions a shared object needs (ELF64 little-endian, SHT_GNU_verneed).
struct ELFVersionNeeds {
    var names: [String]
    var needed: [String]   // DT_NEEDED

    struct Version {
        var parts: [Int]
        var text: String
    }

    /// The highest numeric version among names starting with `prefix` (GLIBC_2.35 → 2.35).
    func highest(_ prefix: String) -> Version? {
        var best: Version?
        for n in names where n.hasPrefix(prefix) {
            let text = String(n.dropFirst(prefix.count))
            let parts = text.split(separator: ".").compactMap { Int($0) }
            guard !parts.isEmpty, parts.count == text.split(separator: ".").count else { continue }
            if best == nil || best!.parts.lexicographicallyPrecedes(parts) {
                best = Version(parts: parts, text: text)
            }
        }
        return best
    }

    static func read(_ path: String) -> ELFVersionNeeds? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n <= 0 { return nil }
            done += n
        }
        return parse(bytes)
    }

    static func parse(_ b: [UInt8]) -> ELFVersionNeeds? {
        func u(_ off: Int, _ size: Int) -> Int? {
            guard off >= 0, off + size <= b.count else { return nil }
            var v = 0
            for i in (0..<size).reversed() { v = v << 8 | Int(b[off + i]) }
            return v
        }
        func cstring(_ off: Int) -> String? {
            guard off >= 0, off < b.count else { return nil }
            var end = off
            while end < b.count && b[end] != 0 { end += 1 }
            return String(decoding: b[off..<end], as: UTF8.self)
        }
        guard b.count > 64, b[0] == 0x7f, b[1] == 0x45, b[2] == 0x4c, b[3] == 0x46, b[4] == 2, b[5] == 1,
              let shoff = u(0x28, 8), let shentsize = u(0x3a, 2), let shnum = u(0x3c, 2), shentsize >= 64
        else { return nil }
        var names: [String] = []
        var needed: [String] = []
        for i in 0..<shnum {
            let sh = shoff + i * shentsize
            if u(sh + 4, 4) == 6, let offset = u(sh + 24, 8), let size = u(sh + 32, 8),   // SHT_DYNAMIC
               let link = u(sh + 40, 4), let strOffset = u(shoff + link * shentsize + 24, 8) {
                for e in stride(from: offset, to: offset + size, by: 16) {
                    guard let tag = u(e, 8), tag != 0, let val = u(e + 8, 8) else { break }
                    if tag == 1, let s = cstring(strOffset + val) { needed.append(s) }   // DT_NEEDED
                }
                continue
            }
            guard let type = u(sh + 4, 4), type == 0x6fff_fffe,   // SHT_GNU_verneed
                  let offset = u(sh + 24, 8), let link = u(sh + 40, 4), let count = u(sh + 44, 4),
                  let strOffset = u(shoff + link * shentsize + 24, 8) else { continue }
            var need = offset
            for _ in 0..<count {
                guard let cnt = u(need + 2, 2), let aux = u(need + 8, 4), let next = u(need + 12, 4) else { return nil }
                var a = need + aux
                for _ in 0..<cnt {
                    guard let name = u(a + 8, 4), let anext = u(a + 12, 4), let s = cstring(strOffset + name) else { return nil }
                    names.append(s)
                    if anext == 0 { break }
                    a += anext
                }
                if next == 0 { break }
                need += next
            }
        }
        return ELFVersionNeeds(names: names, needed: needed)
    }
}
