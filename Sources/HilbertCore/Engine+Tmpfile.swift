import Glibc
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertData

// O_TMPFILE. The anonymous file is a kernel O_TMPFILE file in the node's staging directory:
// it has no name anywhere, the program's fd is its only reference, and the kernel frees it
// when the last descriptor closes. Its mode, owner and times are the kernel's (fchmod,
// fchown, futimens on the fd act on it directly). Linking it (linkat with AT_EMPTY_PATH or
// through /proc/self/fd/N) gives it a name in the staging directory, creates the inode with
// that staging file registered, and commits: the fd then is an ordinary writer of the new file.
extension Engine {
    /// `file.ino` of a tmpfile fd: bit 0 set when opened with O_EXCL (never linkable).
    static let tmpfileExclusive: UInt64 = 1

    func openTmpfile(_ v: Volume, _ loc: Location, flags: Int32, mode: UInt32, cred: Credentials) throws(Errno) -> (fd: Int32, file: OpenFile) {
        let acc = flags & O_ACCMODE
        // The kernel's own checks come before the lookup.
        if flags & O_CREAT != 0 || (acc != O_WRONLY && acc != O_RDWR) { throw Errno.invalid }
        let dir = try existing(v, loc, follow: true, cred: cred).attr
        if !dir.isDirectory { throw Errno.notDirectory }
        if !MetaStore.checkAccess(dir, W_OK | X_OK, cred) { throw Errno.access }
        let kernelFlags = Int32(HL_O_TMPFILE) | acc | (flags & (O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC))
        var fd: Int32
        do throws(Errno) {
            fd = try Sys.open(v.cache.stagingDirectory, kernelFlags, mode_t((mode & 0o7777) & ~umask))
        } catch where error == .noEntry {
            try v.cache.ensureSubdirectory("staging")
            fd = try Sys.open(v.cache.stagingDirectory, kernelFlags, mode_t((mode & 0o7777) & ~umask))
        } catch where error == .notSupported || error == .isDirectory {
            throw Errno.notSupported   // the cache's file system has no O_TMPFILE
        }
        // Like every writer's open file description: keeps a settle from committing under it.
        try? Sys.flock(fd, LOCK_SH)
        let excl: UInt64 = flags & O_EXCL != 0 ? Engine.tmpfileExclusive : 0
        return (handOut(fd, flags), OpenFile(mount: mountIndex(v), kind: .tmpfile, ino: excl))
    }

    /// Name the tmpfile behind `fd` at `to`. Returns what the fd is from now on (a writer of
    /// the new inode). ENOENT for an O_EXCL tmpfile, EEXIST when `to` exists.
    public func linkTmpfile(fd: Int32, file: OpenFile, to: Location) throws(Errno) -> OpenFile {
        if file.ino & Engine.tmpfileExclusive != 0 { throw Errno.noEntry }
        if file.mount != to.mount { throw Errno.crossDevice }
        let v = try volume(to.mount)
        let cred = Credentials.effective()
        let (parent, name): (Ino, [UInt8])
        do {
            (parent, name) = try creationTarget(v, to, cred: cred, allowDirectorySlash: false)
        } catch {
            throw error == .redirect ? Errno.crossDevice : error
        }
        let st = try Sys.fstat(fd)
        if st.st_nlink != 0 { throw Errno.noEntry }   // named meanwhile by a copy of the fd
        var stagedName = ""
        var path = ""
        while true {
            stagedName = "0.\(getpid()).\(String(UInt64.random(in: 1...UInt64.max), radix: 16))"
            path = v.cache.stagingPath(stagedName)
            let rc = hl_sys_name_fd(fd, path)
            if rc == 0 { break }
            if rc != -EEXIST { throw Errno(-rc) }
        }
        let attr: Attr
        do throws(Errno) {
            attr = try v.meta.withWriteTransaction { () throws(Errno) -> Attr in
                let made = try v.meta.createFile(parent: parent, name: name, mode: UInt32(st.st_mode) & 0o7777,
                                                 cred: cred, exclusive: true)
                try v.meta.setStaging(ino: made.attr.ino, file: stagedName, owner: v.cache.stagingOwner.record)
                return made.attr
            }
        } catch {
            try? Sys.unlink(path)
            throw error
        }
        try? Sys.fchmod(fd, 0o600)   // a staging file like the others from now on
        noteStaging(attr.ino, stagedName)
        let rfd = try Sys.open(path, O_RDONLY)
        defer { Sys.close(rfd) }
        try commit(v, ino: attr.ino, stagingFD: rfd, staged: stagedName, retire: false)
        return OpenFile(mount: file.mount, kind: .write, ino: attr.ino)
    }

    /// fstat of a tmpfile fd: the kernel's view with the volume's device.
    func tmpfileStat(_ v: Volume, fd: Int32) throws(Errno) -> StatResult {
        let st = try Sys.fstat(fd)
        let attr = Attr(ino: UInt64(st.st_ino) | (1 << 62), mode: st.st_mode, nlink: UInt32(st.st_nlink), uid: st.st_uid,
                        gid: st.st_gid, rdev: 0, size: UInt64(st.st_size), atime: Timespec(st.st_atim),
                        mtime: Timespec(st.st_mtim), ctime: Timespec(st.st_ctim), btime: Timespec(st.st_ctim),
                        parent: 0, version: 0, staged: false)
        return statResult(v, attr, allocated: UInt64(st.st_blocks) * 512)
    }
}
