import Glibc
import HilbertSupport

private let slash: UInt8 = 0x2f
private let dot: UInt8 = 0x2e
/// Linux MAXSYMLINKS.
let maxSymlinkFollows = 40

extension MetaStore {
    /// Resolve `path` component by component (see `Resolution`).
    ///
    /// Absolute paths start at the volume root, relative ones at `base`. ".." of the root
    /// leaves the volume: `.redirect` to the parent of `mountPrefix` plus the remaining
    /// components. Symlinks are followed in non-final positions, and in the final one when
    /// `followLast` or when the path ends with '/'; at most 40 (ELOOP). Absolute targets are
    /// host paths: inside `mountPrefix` they continue from the root, elsewhere they redirect.
    /// Search permission is required on every traversed directory (EACCES). `fresh` false:
    /// another node's change may show up to the attribute cache timeout late (stat, not open).
    /// `creating`: the caller creates the last name when `.missing` comes back, in a
    /// transaction that checks the name itself; then a directory found through the caches
    /// within the attribute cache timeout will do, whatever they know of the name.
    /// `changing`: the same for a caller that removes or renames the last name (its
    /// transaction looks the name up itself), and a `.found` from the caches will do too.
    /// Where lookups are local (SQLite) the caches stand in for a lookup only when no other
    /// process wrote since they were validated, and only as far as the caller's transaction
    /// gives the answer Linux would: a `.found` for `changing`, and a `.missing` for
    /// `checkedByWrite` (the caller's write transaction looks the last name up and answers as
    /// Linux does whether it exists or not: open(O_CREAT) for writing, a rename's target; a
    /// removal or mkdir would put EACCES before ENOENT or EEXIST).
    public func resolve(from base: Ino, path: [UInt8], followLast: Bool, cred: Credentials,
                        mountPrefix: [UInt8], fresh: Bool = true, creating: Bool = false,
                        changing: Bool = false, checkedByWrite: Bool = false) throws(Errno) -> Resolution {
        if path.isEmpty { throw Errno.noEntry }
        lock.lock(); defer { lock.unlock() }
        let remote = backend.remoteLookups
        if remote ? creating || changing : checkedByWrite || changing,
           let r = try lastNameFromCache(from: base, path: path, followLast: followLast, cred: cred,
                                         mountPrefix: mountPrefix, found: changing, missing: remote || checkedByWrite) {
            return r
        }
        let r = try resolveCached(from: base, path: path, followLast: followLast, cred: cred, mountPrefix: mountPrefix,
                                  fresh: fresh)
        if case .found(let p, let n, let a) = r, a.isRegular { lastFound = (a.ino, p, n) }
        return r
    }

    private func resolveCached(from base: Ino, path: [UInt8], followLast: Bool, cred: Credentials,
                               mountPrefix: [UInt8], fresh: Bool) throws(Errno) -> Resolution {
        let key = ResolveKey(base: base, followLast: followLast, path: path, cred: cred)
        if backend.remoteLookups {
            return try resolveRemote(key, from: base, path: path, followLast: followLast, cred: cred, mountPrefix: mountPrefix,
                                     fresh: fresh)
        }
        if try cacheCurrent(), let r = resolveCache[key] { return r }
        // Answered from the entry caches: cheap enough that remembering the whole path too
        // would only cost an insert per lookup (stat storms touch each path once).
        if let r = try fromCache({ () throws(Errno) -> Resolution in
            try resolveLocked(from: base, path: path, followLast: followLast, cred: cred,
                              mountPrefix: mountPrefix, useCache: true)
        }) { return r }
        return try backend.transaction(write: false) { () throws(Errno) -> Resolution in
            let useCache = try cacheUsable()
            let r = try resolveLocked(from: base, path: path, followLast: followLast, cred: cred,
                                      mountPrefix: mountPrefix, useCache: useCache)
            if useCache { remember(key, r) }
            return r
        }
    }

    /// Where every question to the backend is a round trip (PostgreSQL), a resolution costs
    /// one: a path wholly in the caches is answered from them once one question says nothing
    /// changed since they were filled (the change version); any other path is looked up with
    /// the change version in one walk, which refills the caches, and resolved from them. The
    /// resolver checks every rule as usual; what the walk could not reach (a symlink's target,
    /// "..") costs a lookup more. A call that accepts another node's change showing late
    /// (`fresh` false) skips the question within the attribute cache timeout.
    private func resolveRemote(_ key: ResolveKey, from base: Ino, path: [UInt8], followLast: Bool, cred: Credentials,
                               mountPrefix: [UInt8], fresh: Bool) throws(Errno) -> Resolution {
        if backend.transactionDepth == 0 && !attrCache.isEmpty {
            var cached = resolveCache[key]
            if cached == nil {
                cached = try cachedOnly { () throws(Errno) -> Resolution in
                    try resolveLocked(from: base, path: path, followLast: followLast, cred: cred,
                                      mountPrefix: mountPrefix, useCache: true)
                }
            }
            // Not remembered as a whole path: answered from the entry caches, that would only
            // cost an insert per lookup (ls -l and stat storms touch each path once).
            if let cached {
                if cacheTrusted(fresh: fresh) { return cached }
                let e = epoch.load()
                if try backend.changeVersion() == cacheDataVersion {
                    noteValidated(e)
                    return cached
                }
            }
        }
        let lookUp = { () throws(Errno) -> Resolution in
            let useCache = !self.backend.inWriteTransaction
            if useCache { try self.walkAhead(from: base, path: path) }
            let r = try self.resolveLocked(from: base, path: path, followLast: followLast, cred: cred,
                                           mountPrefix: mountPrefix, useCache: useCache)
            if useCache { self.remember(key, r) }
            return r
        }
        // No transaction of its own: the walk is one statement (one snapshot) and most
        // resolutions need nothing more; the lookups a symlink or ".." adds each see the
        // volume as of their own statement, as a path walk on a local file system sees each
        // directory as it is when it gets there. Inside a caller's transaction, in it.
        if backend.transactionDepth > 0 { return try backend.transaction(write: false, lookUp) }
        return try lookUp()
    }

    /// `.missing` for a path whose directories the caches know (within the attribute cache
    /// timeout) and whose last name they do not, or, with `found`, the `.found` they hold;
    /// nil for anything else.
    private func lastNameFromCache(from base: Ino, path: [UInt8], followLast: Bool, cred: Credentials,
                                   mountPrefix: [UInt8], found: Bool, missing: Bool) throws(Errno) -> Resolution? {
        guard backend.transactionDepth == 0, !attrCache.isEmpty, cacheTrusted(fresh: false) else { return nil }
        unknownLastIsMissing = true
        defer { unknownLastIsMissing = false }
        let r = try cachedOnly { () throws(Errno) -> Resolution in
            try resolveLocked(from: base, path: path, followLast: followLast, cred: cred,
                              mountPrefix: mountPrefix, useCache: true)
        }
        switch r {
        case .missing?: return missing ? r : nil
        case .found?: return found ? r : nil
        default: return nil
        }
    }

    /// The plain components at the start of `path` (up to a "." or ".."): their nodes, and the
    /// change version they are current at, in one lookup; caches filled at an older version
    /// are dropped first.
    private func walkAhead(from base: Ino, path: [UInt8]) throws(Errno) {
        var names: [[UInt8]] = []
        for part in path.split(separator: slash, omittingEmptySubsequences: true) {
            if part.count == 1 && part.first == dot { continue }
            if part.count == 2 && part.first == dot && part.last == dot { break }
            if part.count > 255 { break }
            names.append(Array(part))
        }
        let start = path.first == slash ? rootIno : base
        // A run of lookups in one directory (`ls -l`, a stat storm): its entries from this name
        // on, with their nodes, in one query — the read-ahead the SQLite engine starts after a
        // few misses — once the change version says the cached directory is current.
        if let last = names.last, let dir = cachedDirectory(start, names.dropLast()) {
            if dir == walkParent { walkStreak += 1 } else { walkParent = dir; walkStreak = 1 }
            if walkStreak >= MetaStore.prefetchAfter || dir == readAheadDirectory {
                walkStreak = 0
                // The version comes with the entries (caches of another version go first).
                let e = epoch.load()
                try prefetchEntries(dir, from: last)
                noteValidated(e)
                if cachedDirectory(start, names.dropLast()) == dir, dentryCache[EdgeKey(parent: dir, name: last)] != nil {
                    return
                }
            }
        }
        let e = epoch.load()
        let (version, nodes) = try backend.walk(start, names)
        adoptVersion(version)
        noteValidated(e)
        for (depth, a) in nodes.enumerated() {
            if depth > 0 { dentryCache[EdgeKey(parent: nodes[depth - 1].ino, name: names[depth - 1])] = a.ino }
            attrCache[a.ino] = a
        }
        // The walk stopped at a name that is not there (a create's target): remembered, so
        // that resolving does not ask again.
        if let last = nodes.last, nodes.count <= names.count, last.isDirectory {
            if absentCache.count >= 1024 { absentCache.removeAll(keepingCapacity: true) }
            absentCache.insert(EdgeKey(parent: last.ino, name: names[nodes.count - 1]))
        }
    }

    /// The directory `names` lead to from `start` through the entry caches alone; nil when
    /// one is not cached.
    private func cachedDirectory(_ start: Ino, _ names: ArraySlice<[UInt8]>) -> Ino? {
        var cur = start
        for name in names {
            guard let next = dentryCache[EdgeKey(parent: cur, name: name)] else { return nil }
            cur = next
        }
        return attrCache[cur]?.isDirectory == true ? cur : nil
    }

    private func remember(_ key: ResolveKey, _ r: Resolution) {
        if backend.inWriteTransaction { return }
        if resolveCache.count >= MetaStore.cacheLimit { resolveCache.removeAll(keepingCapacity: true) }
        if resolveCache.count == 64 { sizeCachesForStorm() }
        resolveCache[key] = r
    }

    func resolveLocked(from base: Ino, path: [UInt8], followLast: Bool, cred: Credentials,
                       mountPrefix rawPrefix: [UInt8], useCache: Bool) throws(Errno) -> Resolution {
        var prefix = rawPrefix
        while prefix.last == slash { prefix.removeLast() }

        var buf = path
        var pos = 0
        var cur: Attr
        // The entry (parent, name) of `cur`; nil when unknown (after "..": looked up at the end).
        var entryParent: Ino? = 0
        var entryName: [UInt8] = []
        if buf[0] == slash {
            cur = try node(rootIno, useCache: useCache)
        } else {
            cur = try node(base, useCache: useCache)
            entryParent = base == rootIno ? 0 : nil
        }
        var follows = 0

        while true {
            var end = buf.count
            // Skip slashes.
            while pos < end && buf[pos] == slash { pos += 1 }
            if pos >= end { break }
            var e = pos
            while e < end && buf[e] != slash { e += 1 }
            // Is this the last component? (only slashes follow)
            var after = e
            while after < end && buf[after] == slash { after += 1 }
            let isLast = after >= end
            let trailingSlash = isLast && e < end

            if !cur.isDirectory { throw Errno.notDirectory }
            if !MetaStore.checkAccess(cur, X_OK, cred) { throw Errno.access }
            let len = e - pos
            if len > 255 { throw Errno.nameTooLong }

            if len == 1 && buf[pos] == dot {
                pos = e
                continue
            }
            if len == 2 && buf[pos] == dot && buf[pos + 1] == dot {
                if cur.ino == rootIno {
                    // Leave the volume: parent directory of the mount prefix + the rest.
                    var host = prefix
                    while let l = host.last, l != slash { host.removeLast() }
                    while host.count > 1 && host.last == slash { host.removeLast() }
                    if host.isEmpty { host = [slash] }
                    if e < end {
                        if host == [slash] { host = [] }
                        host.append(contentsOf: buf[e..<end])
                        if host.first != slash { host.insert(slash, at: 0) }
                    }
                    return .redirect(hostPath: host)
                }
                cur = try node(cur.parent, useCache: useCache)
                entryParent = cur.ino == rootIno ? 0 : nil
                entryName = []
                pos = e
                continue
            }

            let name = Array(buf[pos..<e])
            let found: Attr?
            do throws(Errno) {
                found = try child(cur.ino, name, useCache: useCache)
            } catch where error == MetaStore.cacheMiss && isLast && unknownLastIsMissing {
                found = nil
            }
            guard let childAttr = found else {
                if isLast { return .missing(parent: cur.ino, name: name, mustBeDirectory: trailingSlash) }
                throw Errno.noEntry
            }
            if childAttr.isSymlink && (!isLast || followLast || trailingSlash) {
                follows += 1
                if follows > maxSymlinkFollows { throw Errno.loop }
                let target = try linkTarget(childAttr.ino, useCache: useCache)
                if target.isEmpty { throw Errno.noEntry }
                if target[0] == slash {
                    if isInside(target, prefix) {
                        var nb = Array(target[prefix.count...])
                        nb.append(contentsOf: buf[e..<end])
                        buf = nb
                        pos = 0
                        cur = try node(rootIno, useCache: useCache)
                        entryParent = 0
                        entryName = []
                        if buf.isEmpty { break }
                        continue
                    }
                    var host = target
                    if e < end {
                        while host.count > 1 && host.last == slash { host.removeLast() }
                        host.append(contentsOf: buf[e..<end])
                    }
                    return .redirect(hostPath: host)
                }
                // Relative: continue from the link's directory (cur).
                var nb = target
                nb.append(contentsOf: buf[e..<end])
                buf = nb
                pos = 0
                end = buf.count
                continue
            }
            entryParent = cur.ino
            entryName = name
            cur = childAttr
            pos = e
            if trailingSlash && !cur.isDirectory { throw Errno.notDirectory }
        }

        if cur.ino == rootIno { return .found(parent: 0, name: [], attr: cur) }
        if let p = entryParent, p != 0 || !entryName.isEmpty {
            return .found(parent: p, name: entryName, attr: cur)
        }
        // Reached through "." / ".." / the base: find the entry naming this directory.
        if cacheOnly { throw MetaStore.cacheMiss }
        guard let e = try backend.edgeNaming(cur.ino) else { throw Errno.noEntry }
        return .found(parent: e.parent, name: e.name, attr: cur)
    }

    /// `target` equals `prefix` or starts with `prefix` + "/".
    @inline(__always)
    func isInside(_ target: [UInt8], _ prefix: [UInt8]) -> Bool {
        if prefix.isEmpty { return true }   // mounted at "/": every absolute path is inside
        if target.count < prefix.count { return false }
        if !target.starts(with: prefix) { return false }
        return target.count == prefix.count || target[prefix.count] == slash
    }
}
