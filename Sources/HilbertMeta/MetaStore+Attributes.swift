import Glibc
import HilbertSupport

/// A timestamp change for setattr (utimensat): nil = UTIME_OMIT.
public enum TimeChange: Equatable, Sendable {
    case now                 // UTIME_NOW
    case set(Timespec)       // an explicit time
}

/// Result of a metadata-level truncate.
public struct TruncateResult: Equatable, Sendable {
    public var attr: Attr
    public var released: [DeletedObject]
    /// True when nothing was changed because the new size cuts into a stored block or
    /// grows inline data past inlineMax: the caller must rewrite the data through the data
    /// layer and `commitData`.
    public var needsData: Bool
}

extension MetaStore {
    /// The attributes of `ino`. ENOENT when it does not exist. `fresh` false: another
    /// node's change may show up to the attribute cache timeout late (stat, not open).
    public func getattr(_ ino: Ino, fresh: Bool = true) throws(Errno) -> Attr {
        lock.lock(); defer { lock.unlock() }
        if let a = try fromCache(fresh: fresh, { () throws(Errno) -> Attr in try node(ino, useCache: true) }) { return a }
        let outermost = backend.transactionDepth == 0
        return try backend.transaction(write: false) { () throws(Errno) -> Attr in
            if outermost { try backend.readTogether([.changeVersion, .node(ino)]) }
            let useCache = try cacheUsable(fresh: fresh)
            return try node(ino, useCache: useCache)
        }
    }

    /// chmod/chown/utimens in one call; nil leaves a field unchanged.
    /// - chmod: owner or root (EPERM); a non-root owner outside the file's group loses S_ISGID.
    /// - chown: only root changes the uid; the owner may change the gid to one of his groups
    ///   (EPERM otherwise); non-directories lose S_ISUID (and S_ISGID when g+x).
    /// - times: explicit values need owner or root (EPERM); `.now` for both needs owner,
    ///   root or write permission (EACCES).
    /// ctime becomes `ctime` or now when anything changed.
    @discardableResult
    public func setattr(ino: Ino, mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil,
                        atime: TimeChange? = nil, mtime: TimeChange? = nil, ctime: Timespec? = nil,
                        cred: Credentials) throws(Errno) -> Attr {
        try write { () throws(Errno) -> Attr in
            var a = try loadAttr(ino)
            let isOwner = cred.uid == 0 || cred.uid == a.uid
            let t = Timespec.now()
            var changed = false
            if uid != nil || gid != nil {
                let newUID = uid ?? a.uid
                let newGID = gid ?? a.gid
                if cred.uid != 0 {
                    if newUID != a.uid { throw Errno.perm }
                    if !isOwner && (uid != nil || gid != nil) { throw Errno.perm }
                    if newGID != a.gid && !cred.inGroup(newGID) { throw Errno.perm }
                }
                a.uid = newUID
                a.gid = newGID
                a.mode = MetaStore.modeAfterChown(a.mode)
                changed = true
            }
            if let mode {
                if !isOwner { throw Errno.perm }
                var m = mode & 0o7777
                if cred.uid != 0 && !a.isDirectory && m & S_ISGID_ != 0 && !cred.inGroup(a.gid) {
                    m &= ~S_ISGID_
                }
                a.mode = (a.mode & 0o170000) | m
                changed = true
            }
            if atime != nil || mtime != nil {
                let explicit: Bool
                switch (atime, mtime) {
                case (.set?, _), (_, .set?): explicit = true
                default: explicit = false
                }
                if explicit {
                    if !isOwner { throw Errno.perm }
                } else if !isOwner && !MetaStore.checkAccess(a, W_OK, cred) {
                    throw Errno.access
                }
                if let atime { a.atime = atime.resolved(t) }
                if let mtime { a.mtime = mtime.resolved(t) }
                changed = true
            }
            if changed || ctime != nil {
                a.ctime = ctime ?? t
                try writeAttr(a)
            }
            return a
        }
    }

    /// Metadata-level truncate of a regular file (W permission, EISDIR for directories,
    /// EINVAL for other types). Handles empty files, inline data up to inlineMax, growth,
    /// and shrinking that drops whole blocks or cuts a hole; when a stored block would have to
    /// be cut (or inline data grows past inlineMax) nothing changes and `needsData` is set.
    public func truncate(ino: Ino, size: UInt64, cred: Credentials) throws(Errno) -> TruncateResult {
        try write { () throws(Errno) -> TruncateResult in
            var a = try loadAttr(ino)
            if a.isDirectory { throw Errno.isDirectory }
            if !a.isRegular { throw Errno.invalid }
            try MetaStore.require(a, W_OK, cred)
            let bs = UInt64(format.blockSize)
            var released: [DeletedObject] = []
            var inl = try inlineData(ino)
            if let data = inl {
                if size > UInt64(format.inlineMax) && size > UInt64(data.count) && !data.isEmpty {
                    return TruncateResult(attr: a, released: [], needsData: true)
                }
                if size <= UInt64(format.inlineMax) {
                    if UInt64(data.count) > size { inl = Array(data[0..<Int(size)]) }
                    else if UInt64(data.count) < size { inl = data + [UInt8](repeating: 0, count: Int(size) - data.count) }
                    try putInline(ino, inl!, oldLength: data.count)
                } else {
                    // Empty inline data growing past inlineMax: plain holes.
                    try putInline(ino, nil, oldLength: data.count)
                }
            } else {
                let blocks = try loadBlocks(ino)
                var drop: [BlockRef] = []
                var cut: BlockRef?
                for b in blocks {
                    let start = UInt64(b.index) * bs
                    if start >= size { drop.append(b) }
                    else if start + UInt64(b.rawLength) > size { cut = b }
                }
                if let c = cut, c.objectID != 0 {
                    return TruncateResult(attr: a, released: [], needsData: true)
                }
                for b in drop { try backend.deleteBlock(ino, index: b.index) }
                if var c = cut {
                    c.rawLength = UInt32(size - UInt64(c.index) * bs)
                    try putBlock(ino, c)
                }
                released = try releaseDropped(drop, fileBlocks: blocks.count)
            }
            let t = Timespec.now()
            try addCounter("used_bytes", Int64(size) - Int64(a.size))
            a.size = size
            a.mtime = t
            a.ctime = t
            a.version += 1
            a.mode = MetaStore.modeAfterWrite(a.mode, cred)
            try writeAttr(a)
            return TruncateResult(attr: a, released: released, needsData: false)
        }
    }
}

extension TimeChange {
    @inline(__always) func resolved(_ now: Timespec) -> Timespec {
        switch self {
        case .now: return now
        case .set(let t): return t
        }
    }
}
