import Glibc
import CHilbertABI
import CHilbertSys
import HilbertSupport
import HilbertMeta
import HilbertCore

// The engine's C face: one exported symbol returning a versioned table of @convention(c)
// functions. Each converts C arguments, calls the Engine, and returns >= 0 or -errno.

private let engine = Engine.shared

@inline(__always)
private func location(_ loc: UnsafePointer<hl_loc>?) -> Location {
    let l = loc!.pointee
    let path: [UInt8]? = l.path.map { p in Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))) }
    return Location(mount: Int(l.mount), dir: l.dir, path: path)
}

/// A call of the program's thread into the engine: counted inside the fork gate (forkgate.c),
/// so that a fork on another thread waits until it is done or blocked.
@inline(__always)
private func run(_ body: () throws(Errno) -> Int) -> Int {
    gated { () -> Int in
        do throws(Errno) { return try body() } catch { return -Int(error.rawValue) }
    }
}

@inline(__always)
private func gated<T>(_ body: () -> T) -> T {
    hl_gate_enter()
    defer { hl_gate_leave() }
    return body()
}

private func fill(_ out: UnsafeMutablePointer<hl_stat>?, _ r: StatResult) {
    guard let out else { return }
    let a = r.attr
    out.pointee = hl_stat(dev: r.dev, ino: a.ino, nlink: UInt64(a.nlink), size: a.size, blocks: r.blocks, rdev: a.rdev,
                          mode: a.mode, uid: a.uid, gid: a.gid, blksize: r.blksize,
                          atime_sec: a.atime.sec, mtime_sec: a.mtime.sec, ctime_sec: a.ctime.sec, btime_sec: a.btime.sec,
                          atime_nsec: a.atime.nsec, mtime_nsec: a.mtime.nsec, ctime_nsec: a.ctime.nsec, btime_nsec: a.btime.nsec)
}

private func openFile(_ f: UnsafePointer<hl_file>?) -> OpenFile {
    let c = f!.pointee
    return OpenFile(mount: Int(c.mount), kind: OpenFile.Kind(rawValue: c.kind) ?? .read, ino: c.ino)
}

private func copyOut(_ bytes: [UInt8], _ buf: UnsafeMutableRawPointer?, _ len: Int, terminate: Bool) throws(Errno) -> Int {
    let need = bytes.count + (terminate ? 1 : 0)
    if len < need { throw Errno.range }
    guard let buf else { throw Errno.fault }
    bytes.withUnsafeBytes { b in if b.count > 0 { buf.copyMemory(from: b.baseAddress!, byteCount: b.count) } }
    if terminate { buf.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self) }
    return bytes.count
}

private func cBytes(_ p: UnsafePointer<CChar>?) -> [UInt8] {
    guard let p else { return [] }
    return Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
}

/// nil = UTIME_OMIT; EINVAL for nanoseconds outside 0…999999999 (as utimensat(2)).
private func timeChange(_ t: timespec) throws(Errno) -> TimeChange? {
    if t.tv_nsec == (1 << 30) - 1 { return .now }        // UTIME_NOW
    if t.tv_nsec == (1 << 30) - 2 { return nil }         // UTIME_OMIT
    if t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000 { throw Errno.invalid }
    return .set(Timespec(sec: Int64(t.tv_sec), nsec: UInt32(t.tv_nsec)))
}

private let noFollowFlag = Int32(AT_SYMLINK_NOFOLLOW)

private func makeAPI() -> hl_engine_api {
    var t = hl_engine_api()
    t.abi_version = HL_ABI_VERSION
    t.size = UInt32(MemoryLayout<hl_engine_api>.size)
    t.start = { svc, mounts in
        if let svc, let real = svc.pointee.real {
            hl_sys_install(real, svc.pointee.note_private_fd)
            let hasUmask = Int(svc.pointee.size) >= MemoryLayout<hl_shim_services>.offset(of: \hl_shim_services.current_umask)! + 8
            if hasUmask { hl_sys_set_umask_hook(svc.pointee.current_umask) }
            let hasCreds = Int(svc.pointee.size) >= MemoryLayout<hl_shim_services>.offset(of: \hl_shim_services.cred_generation)! + 8
            if hasCreds { hl_sys_set_cred_hook(svc.pointee.cred_generation) }
            let hasGuard = Int(svc.pointee.size) >= MemoryLayout<hl_shim_services>.offset(of: \hl_shim_services.guard_thread)! + 8
            if hasGuard { hl_sys_set_guard_hook(svc.pointee.guard_thread) }
            let hasGate = Int(svc.pointee.size) >= MemoryLayout<hl_shim_services>.offset(of: \hl_shim_services.fd_gate_leave)! + 8
            if hasGate { hl_sys_set_fd_gate(svc.pointee.fd_gate_enter, svc.pointee.fd_gate_leave) }
        }
        return gated { () -> Int32 in
            do throws(HilbertError) {
                try engine.start(mountsText: mounts.map { String(cString: $0) })
                return 0
            } catch {
                Log.error(error.message)
                return -error.errno.rawValue
            }
        }
    }
    t.stop = { fds, files, count in
        gated {
            var list: [(fd: Int32, file: OpenFile)] = []
            for i in 0..<Int(count) { list.append((fds![i], openFile(files! + i))) }
            engine.stop(writeFiles: list)
        }
    }
    t.open = { loc, flags, mode, out in
        Int32(run { () throws(Errno) -> Int in
            hl_sys_numbers_mark()
            let (opened, f) = try engine.open(location(loc), flags: flags, mode: UInt32(mode))
            let fd = hl_sys_lowest_number(opened, flags & O_CLOEXEC != 0 ? 1 : 0)
            out?.pointee = hl_file(mount: Int32(f.mount), kind: f.kind.rawValue, ino: f.ino)
            return Int(fd)
        })
    }
    t.release = { fd, f in
        Int32(run { () throws(Errno) -> Int in Int(try engine.release(fd: fd, file: openFile(f))) })
    }
    t.fsync = { fd, f in
        Int32(run { () throws(Errno) -> Int in try engine.fsync(fd: fd, file: openFile(f)); return 0 })
    }
    t.fstat = { fd, f, out in
        Int32(run { () throws(Errno) -> Int in fill(out, try engine.fstat(fd: fd, file: openFile(f))); return 0 })
    }
    t.stat = { loc, flags, out in
        Int32(run { () throws(Errno) -> Int in
            fill(out, try engine.stat(location(loc), noFollow: flags & noFollowFlag != 0)); return 0
        })
    }
    t.access = { loc, mode, flags in
        Int32(run { () throws(Errno) -> Int in
            try engine.access(location(loc), mode: mode, effective: flags & Int32(AT_EACCESS) != 0,
                              noFollow: flags & noFollowFlag != 0)
            return 0
        })
    }
    t.mkdir = { loc, mode in
        Int32(run { () throws(Errno) -> Int in try engine.mkdir(location(loc), mode: UInt32(mode)); return 0 })
    }
    t.mknod = { loc, mode, dev in
        Int32(run { () throws(Errno) -> Int in try engine.mknod(location(loc), mode: UInt32(mode), rdev: UInt64(dev)); return 0 })
    }
    t.unlink = { loc, flags in
        Int32(run { () throws(Errno) -> Int in
            try engine.unlink(location(loc), removeDirectory: flags & Int32(AT_REMOVEDIR) != 0); return 0
        })
    }
    t.rename = { from, to, flags in
        Int32(run { () throws(Errno) -> Int in try engine.rename(location(from), location(to), flags: flags); return 0 })
    }
    t.link = { from, to, flags in
        Int32(run { () throws(Errno) -> Int in
            try engine.link(location(from), location(to), follow: flags & Int32(AT_SYMLINK_FOLLOW) != 0); return 0
        })
    }
    t.symlink = { target, loc in
        Int32(run { () throws(Errno) -> Int in try engine.symlink(target: cBytes(target), location(loc)); return 0 })
    }
    t.readlink = { loc, buf, len in
        run { () throws(Errno) -> Int in
            let target = try engine.readlink(location(loc))
            let n = min(target.count, len)
            if n > 0 { target.withUnsafeBytes { UnsafeMutableRawPointer(buf!).copyMemory(from: $0.baseAddress!, byteCount: n) } }
            return n
        }
    }
    t.chmod = { loc, mode, flags in
        Int32(run { () throws(Errno) -> Int in
            try engine.chmod(location(loc), mode: UInt32(mode), noFollow: flags & noFollowFlag != 0); return 0
        })
    }
    t.chown = { loc, uid, gid, flags in
        Int32(run { () throws(Errno) -> Int in
            try engine.chown(location(loc), uid: uid == UInt32.max ? nil : uid, gid: gid == UInt32.max ? nil : gid,
                             noFollow: flags & noFollowFlag != 0)
            return 0
        })
    }
    t.utimens = { loc, times, flags in
        Int32(run { () throws(Errno) -> Int in
            let a: TimeChange? = try times.map { (t) throws(Errno) in try timeChange(t[0]) } ?? .now
            let m: TimeChange? = try times.map { (t) throws(Errno) in try timeChange(t[1]) } ?? .now
            try engine.utimens(location(loc), atime: a, mtime: m, noFollow: flags & noFollowFlag != 0)
            return 0
        })
    }
    t.truncate = { loc, length in
        Int32(run { () throws(Errno) -> Int in try engine.truncate(location(loc), length: length); return 0 })
    }
    t.statfs = { loc, out in
        Int32(run { () throws(Errno) -> Int in
            let s = try engine.statfs(location(loc))
            out?.pointee = hl_statfs(type: s.type, bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree,
                                     bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: s.fsid,
                                     namemax: s.namemax, flags: 0)
            return 0
        })
    }
    t.getxattr = { loc, name, buf, len, flags in
        run { () throws(Errno) -> Int in
            let value = try engine.getxattr(location(loc), name: cBytes(name), noFollow: flags & noFollowFlag != 0)
            if len == 0 { return value.count }
            return try copyOut(value, buf, len, terminate: false)
        }
    }
    t.setxattr = { loc, name, value, len, xflags, flags in
        Int32(run { () throws(Errno) -> Int in
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: len)) } ?? []
            try engine.setxattr(location(loc), name: cBytes(name), value: bytes, flags: xflags,
                                noFollow: flags & noFollowFlag != 0)
            return 0
        })
    }
    t.listxattr = { loc, buf, len, flags in
        run { () throws(Errno) -> Int in
            let names = try engine.listxattr(location(loc), noFollow: flags & noFollowFlag != 0)
            var out: [UInt8] = []
            for n in names { out.append(contentsOf: n); out.append(0) }
            if len == 0 { return out.count }
            return try copyOut(out, buf.map { UnsafeMutableRawPointer($0) }, len, terminate: false)
        }
    }
    t.removexattr = { loc, name, flags in
        Int32(run { () throws(Errno) -> Int in
            try engine.removexattr(location(loc), name: cBytes(name), noFollow: flags & noFollowFlag != 0); return 0
        })
    }
    t.readdir = { mount, dir, cookie, buf, len in
        run { () throws(Errno) -> Int in
            guard let buf, let cookie else { throw Errno.fault }
            let header = hl_dirent_name_offset()
            let entries = try engine.readdir(mount: Int(mount), dir: dir, after: cookie.pointee,
                                             limit: max(1, len / (header + 24)))
            var used = 0
            for e in entries {
                let reclen = (header + e.name.count + 1 + 7) & ~7
                if used + reclen > len {
                    if used == 0 { throw Errno.invalid }
                    break
                }
                let rec = buf + used
                rec.storeBytes(of: e.ino, toByteOffset: 0, as: UInt64.self)
                rec.storeBytes(of: e.cookie, toByteOffset: 8, as: UInt64.self)
                rec.storeBytes(of: UInt16(reclen), toByteOffset: 16, as: UInt16.self)
                rec.storeBytes(of: e.type, toByteOffset: 18, as: UInt8.self)
                e.name.withUnsafeBytes { (rec + header).copyMemory(from: $0.baseAddress!, byteCount: e.name.count) }
                (rec + header + e.name.count).storeBytes(of: 0, as: UInt8.self)
                used += reclen
                cookie.pointee = e.cookie
            }
            return used
        }
    }
    t.chdir = { loc, out in
        Int32(run { () throws(Errno) -> Int in
            let l = location(loc)
            let (fd, ino) = try engine.chdir(l)
            out?.pointee = hl_file(mount: Int32(l.mount), kind: UInt32(HL_KIND_DIR), ino: ino)
            return Int(fd)
        })
    }
    t.getpath = { mount, ino, buf, len in
        run { () throws(Errno) -> Int in try copyOut(try engine.getpath(mount: Int(mount), ino: ino), buf.map { UnsafeMutableRawPointer($0) }, len, terminate: true) }
    }
    t.realpath = { loc, buf, len in
        run { () throws(Errno) -> Int in try copyOut(try engine.realpath(location(loc)), buf.map { UnsafeMutableRawPointer($0) }, len, terminate: true) }
    }
    t.materialize = { loc, forExec, buf, len in
        run { () throws(Errno) -> Int in
            let path = try engine.materialize(location(loc), forExec: forExec != 0)
            return try copyOut(Array(path.utf8), buf.map { UnsafeMutableRawPointer($0) }, len, terminate: true)
        }
    }
    t.take_redirect = { buf, len in hl_redirect_take(buf, len) }
    t.lockfile = { mount, ino in
        Int32(run { () throws(Errno) -> Int in Int(try engine.lockFile(mount: Int(mount), ino: ino)) })
    }
    t.socketpath = { loc, create, mode, buf, len in
        run { () throws(Errno) -> Int in
            let path = try engine.socketPath(location(loc), create: create != 0, mode: UInt32(mode))
            return try copyOut(Array(path.utf8), buf.map { UnsafeMutableRawPointer($0) }, len, terminate: true)
        }
    }
    t.link_tmpfile = { fd, f, to, out in
        Int32(run { () throws(Errno) -> Int in
            let now = try engine.linkTmpfile(fd: fd, file: openFile(f), to: location(to))
            out?.pointee = hl_file(mount: Int32(now.mount), kind: now.kind.rawValue, ino: now.ino)
            return 0
        })
    }
    t.libdir = { loc, buf, len in
        run { () throws(Errno) -> Int in
            let path = try engine.libraryDirectory(location(loc))
            return try copyOut(Array(path.utf8), buf.map { UnsafeMutableRawPointer($0) }, len, terminate: true)
        }
    }
    t.cluster_lock = { mount, ino, call, lockfd, type, start, len, undo in
        Int32(run { () throws(Errno) -> Int in
            try engine.clusterLock(mount: Int(mount), ino: ino, call: call, lockfd: lockfd, type: type,
                                   start: start, len: len, undo: undo != 0)
        })
    }
    t.cluster_getlk = { mount, ino, call, type, start, len in
        Int32(run { () throws(Errno) -> Int in
            guard let type, let start, let len else { throw Errno.fault }
            guard let c = try engine.clusterConflict(mount: Int(mount), ino: ino, call: call, type: type.pointee,
                                                     start: start.pointee, len: len.pointee) else { return 0 }
            type.pointee = c.write ? Int32(F_WRLCK) : Int32(F_RDLCK)
            start.pointee = c.lo
            len.pointee = c.hi == Int64.max ? 0 : c.hi - c.lo
            return 1
        })
    }
    t.cluster_release = { mount, ino, lockfd in gated { engine.clusterRelease(mount: Int(mount), ino: ino, lockfd: lockfd) } }
    t.cluster_release_all = { gated { engine.clusterReleaseAll() } }
    t.partial_read = { fd, f, iov, iovcnt, length, offset, complete in
        run { () throws(Errno) -> Int in
            let r = try engine.partialRead(fd: fd, file: openFile(f), iov: iov, iovcnt: iovcnt, length: Int(length), offset: offset)
            complete?.pointee = r.complete ? 1 : 0
            return r.count
        }
    }
    t.partial_complete = { fd, f in
        Int32(run { () throws(Errno) -> Int in try engine.partialComplete(fd: fd, file: openFile(f)); return 0 })
    }
    t.partial_forget = { mount, ino in gated { engine.partialForget(mount: Int(mount), ino: ino) } }
    t.prepare_write = { fd, f, op, offset, length in
        Int32(run { () throws(Errno) -> Int in
            let what: WritePreparation
            switch Int(op) {
            case Int(HL_PREPARE_READ): what = .read(offset: offset, length: length)
            case Int(HL_PREPARE_WRITE): what = .write(offset: offset, length: length)
            case Int(HL_PREPARE_TRUNCATE): what = .truncate(size: length)
            default: what = .whole
            }
            return try engine.prepareWrite(fd: fd, file: openFile(f), what) ? 1 : 0
        })
    }
    t.watch_write = { fd, f in gated { engine.watchInherited(fd: fd, file: openFile(f)) } }
    return t
}

nonisolated(unsafe) private let apiTable: UnsafeMutablePointer<hl_engine_api> = {
    let p = UnsafeMutablePointer<hl_engine_api>.allocate(capacity: 1)
    p.initialize(to: makeAPI())
    return p
}()

@_cdecl("hilbert_engine_api")
public func hilbertEngineAPI() -> UnsafePointer<hl_engine_api> {
    UnsafePointer(apiTable)
}
