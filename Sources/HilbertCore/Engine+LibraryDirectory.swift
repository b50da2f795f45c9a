import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

/// Host mirrors of virtual library directories, for the dynamic loader: it searches the
/// LD_LIBRARY_PATH directories with its own system calls, which the shim cannot see, so the
/// shim replaces an entry under a prefix with the host directory this returns.
///
///     <volume cache>/libdirs/<dir ino>.<key>/   the shared objects of the directory
///
/// The mirror holds the entries named `*.so` or `*.so.*` (regular files and symlinks): a
/// regular file becomes a hard link to its read copy (the copy stays when the cache evicts
/// it); a symlink to a name in the same directory that is mirrored too stays a symlink (SONAME
/// links); another symlink becomes its target's content, or a symlink to its host target when
/// it leads out of the volume. `key` is a hash of every mirrored entry's name, inode, version
/// and link target, so a mirror is reused while the directory's libraries are unchanged, and
/// a rebuilt library gives a new mirror. A mirror is built under a temporary name and renamed
/// into place; concurrent builders of the same key keep the first. Mirrors of the same
/// directory older than an hour are removed when a new one is made.
extension Engine {
    public func libraryDirectory(_ loc: Location) throws(Errno) -> String {
        let v = try volume(loc.mount)
        let cred = Credentials.effective()
        let dir = try existing(v, loc, follow: true, cred: cred).attr
        if !dir.isDirectory { throw Errno.notDirectory }
        if !MetaStore.checkAccess(dir, R_OK | X_OK, cred) { throw Errno.access }
        let plan = try libraryPlan(v, dir.ino, cred)
        let root = v.cache.volumeDirectory + "/libdirs"
        let final = root + "/\(dir.ino).\(hex(plan.key))"
        if Sys.exists(final) { return final }
        try v.cache.ensureSubdirectory("libdirs")
        let tmp = root + "/.tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        try Sys.mkdir(tmp, 0o700)
        do throws(Errno) {
            for item in plan.items {
                let to = tmp + "/" + item.name
                switch item.how {
                case .symlink(let target): try Sys.symlink(target, to)
                case .copy(let name):
                    let copy = try materialize(Location(mount: loc.mount, dir: dir.ino, path: Array(name.utf8)), forExec: false)
                    do throws(Errno) { try Sys.link(copy, to) } catch { try copyHostFile(copy, to) }
                }
            }
            try Sys.rename(tmp, final)
        } catch {
            removeMirror(tmp)
            if !Sys.exists(final) { throw error }
        }
        pruneMirrors(root, of: dir.ino, keeping: final)
        return final
    }

    private enum Mirrored { case copy(String), symlink(String) }
    private struct LibraryItem { var name: String; var how: Mirrored }

    /// What the mirror of directory `dir` holds, and the key naming it.
    private func libraryPlan(_ v: Volume, _ dir: Ino, _ cred: Credentials) throws(Errno) -> (items: [LibraryItem], key: UInt64) {
        var entries: [DirEntry] = []
        var cookie: UInt64 = 0
        while true {
            let page = try v.meta.readdir(dir, after: cookie, limit: 512)
            guard let last = page.last else { break }
            entries += page.filter { isSharedObjectName($0.name) }
            cookie = last.cookie
        }
        let names = Set(entries.map { $0.name })
        var hash = Fnv64()
        hash.add(dir)
        var items: [LibraryItem] = []
        for e in entries {
            let name = String(decoding: e.name, as: UTF8.self)
            var attr = try v.meta.getattr(e.ino)
            hash.add(e.name)
            hash.add(e.ino)
            if attr.isSymlink {
                let target = try v.meta.readlink(e.ino)
                hash.add(target)
                if !target.contains(0x2f) && names.contains(target) {
                    items.append(LibraryItem(name: name, how: .symlink(String(decoding: target, as: UTF8.self))))
                    continue
                }
                do throws(Errno) {
                    attr = try existing(v, Location(mount: mountIndex(v), dir: dir, path: e.name), follow: true, cred: cred).attr
                } catch where error == .redirect {
                    var buf = [CChar](repeating: 0, count: 4097)
                    let n = hl_redirect_take(&buf, buf.count)
                    if n <= 0 { continue }
                    let host = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    hash.add(Array(host.utf8))
                    items.append(LibraryItem(name: name, how: .symlink(host)))
                    continue
                } catch where error == .noEntry || error == .loop || error == .access {
                    continue                        // dangling or unreachable: ld.so skips it too
                }
            }
            if !attr.isRegular || !MetaStore.checkAccess(attr, R_OK, cred) { continue }
            if attr.staged { settle(v, attr.ino); attr = try v.meta.getattr(attr.ino) }
            hash.add(attr.ino)
            hash.add(attr.version)
            hash.add(attr.size)
            hash.add(UInt64(bitPattern: attr.mtime.sec) &* 1_000_000_000 &+ UInt64(attr.mtime.nsec))
            items.append(LibraryItem(name: name, how: .copy(name)))
        }
        return (items, hash.value)
    }

    private func copyHostFile(_ from: String, _ to: String) throws(Errno) {
        let src = try Sys.openPrivate(from, O_RDONLY)
        defer { Sys.closePrivate(src) }
        let dst = try Sys.openPrivate(to, O_RDWR | O_CREAT | O_EXCL, 0o500)
        defer { Sys.closePrivate(dst) }
        try copyFile(from: src, to: dst, size: Int64(try Sys.fstat(src).st_size))
    }

    private func removeMirror(_ path: String) {
        for name in (try? Sys.listDirectory(path)) ?? [] { try? Sys.unlink(path + "/" + name) }
        try? Sys.rmdir(path)
    }

    /// Remove the other mirrors of directory `ino` (and leftover temporary ones) that are
    /// more than an hour old: a program started from one has long loaded its libraries.
    private func pruneMirrors(_ root: String, of ino: Ino, keeping: String) {
        let now = time(nil)
        for name in (try? Sys.listDirectory(root)) ?? [] {
            guard name.hasPrefix("\(ino).") || name.hasPrefix(".tmp.") else { continue }
            let path = root + "/" + name
            if path == keeping { continue }
            guard let st = try? Sys.lstat(path), now - st.st_mtim.tv_sec > 3600 else { continue }
            removeMirror(path)
        }
    }
}

/// `*.so` or `*.so.*`: what the dynamic loader looks up in a library directory.
func isSharedObjectName(_ name: [UInt8]) -> Bool {
    let so: [UInt8] = [0x2e, 0x73, 0x6f]        // ".so"
    if name.count < 4 { return false }
    if Array(name.suffix(3)) == so { return true }
    var i = 1
    while i + 3 < name.count {
        if name[i] == 0x2e && name[i + 1] == 0x73 && name[i + 2] == 0x6f && name[i + 3] == 0x2e { return true }
        i += 1
    }
    return false
}

private func hex(_ x: UInt64) -> String {
    let s = String(x, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// FNV-1a, 64 bits: the key of a library mirror (not a security boundary: the cache is the user's).
private struct Fnv64 {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: [UInt8]) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
        value = (value ^ 0xff) &* 0x100_0000_01b3     // separator
    }
    mutating func add(_ x: UInt64) {
        var y = x
        for _ in 0..<8 { value = (value ^ (y & 0xff)) &* 0x100_0000_01b3; y >>= 8 }
    }
}
