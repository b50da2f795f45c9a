import Glibc
import Testing
import CSQLite
import HilbertSupport
@testable import HilbertMeta

/// The SQLite engine's write path: checkpoints on a thread of their own, caches that stay
/// through the process's own writes, and lookups a create or a rename does without a
/// transaction of their own.
@Suite struct SQLiteWriteTests {
    private func connection(_ s: MetaStore) -> Connection { (s.backend as! SQLiteBackend).conn }

    /// A small file's create and commit, as the engine makes them (staging row, inline bytes).
    private func createAndCommit(_ s: MetaStore, in dir: Ino, _ name: String) throws {
        let f = try s.createFile(parent: dir, name: b(name), mode: 0o644, cred: root, exclusive: true,
                                 staging: ("st-" + name, "owner")).attr
        _ = try s.withWriteTransaction { () throws(Errno) in
            try s.fetchForCommit(f.ino)
            _ = try s.getattr(f.ino)
            _ = try s.commitData(ino: f.ino, size: 60, inline: [UInt8](repeating: 7, count: 60), blocks: [], cred: root,
                                 unstage: true)
        }
    }

    private func waitFor(_ what: () -> Bool) -> Bool {
        for _ in 0..<1000 {
            if what() { return true }
            var ts = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&ts, nil)
        }
        return what()
    }

    @Test func checkpointsRunOnTheirOwnThread() throws {
        try withSQLiteVolume { s, path in
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            let c = connection(s)
            var n = 0
            while c.checkpointer == nil {
                try createAndCommit(s, in: d.ino, "f\(n)")
                n += 1
                #expect(n < 1000, "no checkpoint asked for after \(n) files")
                if n >= 1000 { return }
            }
            // The commit that crossed 1,000 frames asked the thread and went on.
            #expect(c.framesAfterLastWrite >= Checkpointer.frames && c.framesAfterLastWrite < Checkpointer.inlineFrames)
            #expect(waitFor { c.checkpointer!.record.threadPasses >= 1 }, "the checkpoint thread ran")
            let r = c.checkpointer!.record
            #expect(r.threadFramesDone >= Checkpointer.frames, "it copied the WAL into the database: \(r)")
            #expect(r.inlinePasses == 0, "no commit checkpointed by itself below \(Checkpointer.inlineFrames) frames")
            // All of it in the database: the next commit starts the WAL again.
            try createAndCommit(s, in: d.ino, "after")
            #expect(c.framesAfterLastWrite < 100, "the WAL restarted: \(c.framesAfterLastWrite) frames")
            // What another connection reads is whole.
            let other = try MetaStore.open(path: path)
            defer { other.close() }
            #expect(try other.readdir(d.ino, after: 0, limit: 10_000).count == n + 1 + 2)   // and "." and ".."
            let check = try connection(other).prepare("PRAGMA integrity_check")
            defer { check.reset() }
            #expect(try check.step() && check.text(0) == "ok")
        }
    }

    /// A writer that never pauses keeps the thread's checkpoints from catching up (the WAL
    /// restarts only when one has): at 4,000 frames the committing connection checkpoints too.
    @Test func aWriterThatNeverPausesCheckpointsItself() throws {
        try withSQLiteVolume { s, path in
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            let c = connection(s)
            // A reader holding an old snapshot keeps any checkpoint from finishing.
            let reader = try Connection(path: path, create: false)
            defer { reader.close() }
            try reader.exec("BEGIN")
            #expect(try reader.scalar("SELECT count(*) FROM hl_node") == 2)
            var n = 0
            while c.checkpointer?.record.inlinePasses ?? 0 == 0 && n < 2000 {
                try createAndCommit(s, in: d.ino, "f\(n)")
                n += 1
            }
            #expect(c.checkpointer?.record.inlinePasses ?? 0 >= 1, "the writer checkpointed after \(n) files")
            #expect(c.framesAfterLastWrite >= Checkpointer.inlineFrames)
            try reader.exec("COMMIT")
            // Without the reader a checkpoint (the thread's or the writer's) gets the whole WAL
            // into the database, and the next commit starts it again.
            var more = 0
            while c.framesAfterLastWrite >= Checkpointer.inlineFrames && more < 200 {
                try createAndCommit(s, in: d.ino, "next\(more)")
                more += 1
            }
            #expect(c.framesAfterLastWrite < Checkpointer.inlineFrames, "the WAL restarted: \(c.framesAfterLastWrite) frames")
        }
    }

    /// After its own writes a process answers from its caches (no transaction); another
    /// process's write in between makes it ask again.
    @Test func ownWritesKeepTheCaches() throws {
        try withSQLiteVolume { s, path in
            let d = try s.mkdir(parent: rootIno, name: b("d"), mode: 0o755, cred: root)
            _ = try s.res("/d")
            let c = connection(s)
            for i in 0..<20 {
                let before = c.transactionsBegun
                // open(O_CREAT) of a new name: the caches know the directory; the create's
                // transaction looks the name up itself.
                let r = try s.resolve(from: rootIno, path: b("/d/f\(i)"), followLast: true, cred: root, mountPrefix: prefix,
                                      creating: true, checkedByWrite: true)
                guard case .missing(let p, let n, _) = r, p == d.ino, n == b("f\(i)") else {
                    Issue.record("resolve of a new name: \(r)")
                    return
                }
                let f = try s.createFile(parent: d.ino, name: b("f\(i)"), mode: 0o644, cred: root, exclusive: false).attr
                #expect(try s.res("/d/f\(i)") == .found(parent: d.ino, name: b("f\(i)"), attr: f))
                // A rename's source and target from the caches too.
                let src = try s.resolve(from: rootIno, path: b("/d/f\(i)"), followLast: false, cred: root, mountPrefix: prefix,
                                        changing: true)
                let dst = try s.resolve(from: rootIno, path: b("/d/g\(i)"), followLast: false, cred: root, mountPrefix: prefix,
                                        changing: true, checkedByWrite: true)
                guard case .found = src, case .missing = dst else {
                    Issue.record("rename lookups: \(src), \(dst)")
                    return
                }
                try s.rename(parent: d.ino, name: b("f\(i)"), newParent: d.ino, newName: b("g\(i)"), cred: root)
                #expect(c.transactionsBegun - before == 2, "create and rename, nothing else, at file \(i)")
                #expect(try s.res("/d/f\(i)") == .missing(parent: d.ino, name: b("f\(i)"), mustBeDirectory: false))
            }
            // A removal looks a name the caches do not know up first (ENOENT before EACCES).
            let before = c.transactionsBegun
            _ = try s.resolve(from: rootIno, path: b("/d/nothing"), followLast: false, cred: root, mountPrefix: prefix,
                              changing: true)
            #expect(c.transactionsBegun - before == 1)
            // Another process writes: the next lookup asks the database, and sees its change.
            let other = try MetaStore.open(path: path)
            defer { other.close() }
            _ = try other.createFile(parent: d.ino, name: b("theirs"), mode: 0o600, cred: root, exclusive: true)
            _ = try s.createFile(parent: d.ino, name: b("mine"), mode: 0o644, cred: root, exclusive: true)
            let r = try s.resolve(from: rootIno, path: b("/d/theirs"), followLast: true, cred: root, mountPrefix: prefix,
                                  creating: true, checkedByWrite: true)
            guard case .found(_, _, let a) = r else {
                Issue.record("another process's file: \(r)")
                return
            }
            #expect(a.mode & 0o777 == 0o600)
        }
    }
}
