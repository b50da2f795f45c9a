import Glibc

/// Directories that hold one user's data (the cache root and everything in it: staging files,
/// read copies, locks, sockets, FIFOs, library mirrors) must be that user's alone. Otherwise
/// another user who made the directory first (a world-writable `/tmp/hilbert-$USER`, or a
/// symbolic link to a directory of theirs) could read staging files, swap them, or plant read
/// copies that a later commit writes into the volume for good.
///
/// The rule, checked on what was opened (`O_NOFOLLOW`, then `fstat` of the descriptor and of
/// each parent reached through `..`), so a rename or symlink swap between check and use
/// cannot pass:
///   - the directory is not a symbolic link, belongs to the effective user, and is writable
///     by nobody else (no group or other write bit);
///   - every directory above it is writable only by its owner, or has the sticky bit (`/tmp`),
///     and belongs to root, to the user, or to the kernel's overflow uid (a parent owned by
///     the host's root seen from inside an unprivileged user namespace).
/// A directory that breaks the rule is refused with one message naming it and the reason,
/// never repaired: whoever could write to it may already have left something inside.
public enum PrivateDirectory {
    /// Check an existing directory against the rule above (`parents: false`: the directory
    /// alone, for one below a directory already verified). Returns its mode.
    @discardableResult
    public static func verify(_ path: String, parents: Bool = true) throws(HilbertError) -> mode_t {
        let fd: Int32
        do throws(Errno) {
            fd = try Sys.openPrivate(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        } catch where error == .loop || error == .notDirectory {
            if let st = try? Sys.lstat(path), st.st_mode & S_IFMT == S_IFLNK { throw refusal(path, "is a symbolic link") }
            throw HilbertError(.notDirectory, "\(path) is not a directory")
        } catch {
            throw HilbertError(error, "cannot open \(path): \(error)")
        }
        defer { Sys.closePrivate(fd) }
        let me = geteuid()
        let st: stat
        do throws(Errno) { st = try Sys.fstat(fd) } catch { throw HilbertError(error, "cannot stat \(path): \(error)") }
        if st.st_uid != me {
            throw refusal(path, "belongs to uid \(st.st_uid), not to you (uid \(me)); another user may have created it")
        }
        if st.st_mode & 0o022 != 0 {
            throw refusal(path, "is writable by \(st.st_mode & 0o020 != 0 ? "its group" : "other users") (mode \(octal(st.st_mode & 0o7777)))")
        }
        if parents { try verifyParents(of: fd, st, path, me) }
        return st.st_mode
    }

    /// Walks `..` from the opened directory up to the root of the file-system tree.
    private static func verifyParents(of fd: Int32, _ st: stat, _ path: String, _ me: uid_t) throws(HilbertError) {
        var child = st
        var current = fd
        var level = 0
        defer { if current != fd { Sys.close(current) } }
        while true {
            let parent: Int32
            do throws(Errno) { parent = try Sys.openat(current, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC) } catch {
                throw HilbertError(error, "cannot check the parents of \(path): \(error)")
            }
            if current != fd { Sys.close(current) }
            current = parent
            level += 1
            let pst: stat
            do throws(Errno) { pst = try Sys.fstat(parent) } catch {
                throw HilbertError(error, "cannot check the parents of \(path): \(error)")
            }
            if pst.st_dev == child.st_dev && pst.st_ino == child.st_ino { return }   // "/" is its own parent
            if pst.st_mode & 0o022 != 0 && pst.st_mode & mode_t(S_ISVTX) == 0 {
                throw refusal(path, "its parent directory \(ancestorName(path, level)) is writable by other users and not sticky (mode \(octal(pst.st_mode & 0o7777))), so they could replace it")
            }
            if pst.st_uid != 0 && pst.st_uid != me && pst.st_uid != overflowUID {
                throw refusal(path, "its parent directory \(ancestorName(path, level)) belongs to uid \(pst.st_uid), who could replace it")
            }
            child = pst
        }
    }

    private static func refusal(_ path: String, _ why: String) -> HilbertError {
        HilbertError(.access, "\(path) \(why): refusing to keep your data there; use a directory of your own")
    }

    /// The path's ancestor `level` steps up, as text (for messages only; symbolic links in
    /// the path may make the real one another).
    private static func ancestorName(_ path: String, _ level: Int) -> String {
        var parts = path.split(separator: "/")
        parts.removeLast(min(level, parts.count))
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    private static func octal(_ m: mode_t) -> String { "0" + String(m, radix: 8) }

    /// The uid the kernel shows for owners outside the user namespace (65534 by default).
    private static let overflowUID: uid_t = {
        guard let fd = try? Sys.openPrivate("/proc/sys/kernel/overflowuid", O_RDONLY | O_CLOEXEC) else { return 65534 }
        defer { Sys.closePrivate(fd) }
        let text = String(decoding: (try? Sys.preadBytes(fd, count: 16, offset: 0)) ?? [], as: UTF8.self)
        return text.split(separator: "\n").first.flatMap { UInt32($0) } ?? 65534
    }()
}
