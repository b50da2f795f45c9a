import Glibc
import Testing
import HilbertSupport
import HilbertMeta
import HilbertData
@testable import HilbertTransfer

/// `hilbert import` and `export` on real host trees (a temp directory) and a SQLite volume
/// with its objects in a directory: what goes in comes out the same.
@Suite(.serialized) struct TransferTests {
    /// A fresh volume (blocks of 64 KiB, so that a 200 KiB file has several) and a work
    /// directory; removed afterwards.
    static func withVolume(_ body: (MetaStore, ObjectStore, String) throws -> Void) throws {
        var template = Array("/tmp/hilbert-transfer-XXXXXX".utf8CString)
        let dir = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
        defer { _ = run("chmod -R u+rwX '\(dir)'; rm -rf '\(dir)'") }
        let format = VolumeFormat(name: "t", uuid: "00000000-0000-0000-0000-000000000002", storage: "file",
                                  bucket: dir + "/objects", compression: "zstd", blockSize: 64 << 10, inlineMax: 4096)
        let meta = try MetaStore.create(path: dir + "/meta.db", format: format, rootUID: 0, rootGID: 0, rootMode: 0o755)
        defer { meta.close() }
        try body(meta, LocalDirectoryStore(root: dir + "/objects"), dir)
    }

    @discardableResult
    static func run(_ command: String) -> Int32 {
        let status = system(command)
        return (status >> 8) & 0xff
    }

    /// A tree of every kind of entry import keeps.
    static func makeTree(_ root: String) throws {
        let script = """
            set -e
            mkdir -p '\(root)/a/b/c' '\(root)/empty-dir'
            printf hello > '\(root)/a/small'
            head -c 200000 /dev/urandom > '\(root)/a/big'
            head -c 70000 /dev/urandom > '\(root)/a/b/medium'
            : > '\(root)/empty'
            ln -s small '\(root)/a/link'
            ln -s /nowhere/at/all '\(root)/dangling'
            ln '\(root)/a/small' '\(root)/a/b/c/hard'
            ln '\(root)/a/small' '\(root)/hard2'
            mkfifo '\(root)/fifo'
            printf odd > '\(root)/'"$(printf 'odd\\001\\377name')"
            chmod 4755 '\(root)/a/big'
            chmod 0500 '\(root)/a/b/c'
            touch -h -d '2001-02-03 04:05:06.123456789' '\(root)/a/link'
            touch -d '1999-12-31 23:59:59.987654321' '\(root)/a/small'
            """
        #expect(run(script) == 0)
        _ = run("setfattr -n user.note -v 'imported' '\(root)/a/small' 2>/dev/null; setfattr -n user.dir -v d '\(root)/a' 2>/dev/null")
    }

    /// lstat and content of every entry under `root`, by relative path: what a copy must keep.
    static func describe(_ root: String, directories: Bool = true) -> [String] {
        let out = "/tmp/hilbert-transfer-describe-\(getpid())"
        defer { unlink(out) }
        // Access times of regular files only: reading a directory or a symlink moves its own
        // (the source's, after it was copied).
        _ = run("cd '\(root)' && find . \(directories ? "" : "-not -type d") -printf '%p %M %s %n %U %G %T@ %l\\n' | sort > '\(out)' && find . -type f -printf '%p %A@\\n' | sort >> '\(out)' && find . -type f -exec sha256sum {} + | sort >> '\(out)' && (getfattr -R -d -m user. . 2>/dev/null | grep -v '^#' | sort >> '\(out)'; true)")
        guard let f = fopen(out, "r") else { return [] }
        defer { fclose(f) }
        var lines: [String] = []
        var buf = [CChar](repeating: 0, count: 8192)
        while fgets(&buf, Int32(buf.count), f) != nil { lines.append(String(cString: buf)) }
        return lines
    }

    @Test func aTreeComesOutAsItWentIn() throws {
        try TransferTests.withVolume { meta, store, dir in
            try TransferTests.makeTree(dir + "/src")
            let importer = Importer(meta: meta, store: store, cred: .root)
            let r = try importer.run(source: dir + "/src", destination: Array("/in".utf8), destinationPath: "/in")
            #expect(r.files == 5 && r.directories == 5 && r.symlinks == 2 && r.hardLinks == 2 && r.specials == 1)
            #expect(r.errors == 0 && r.existed == 0 && r.bytes == 5 + 200000 + 70000 + 3)
            // Small files went into one pack, the big ones into blocks of their own (4 + 2).
            #expect(try meta.packs().count == 1 && meta.usage().objects == 7)
            #expect(try meta.uploadsInProgress().isEmpty)
            let exporter = Exporter(meta: meta, store: store, cred: .root)
            let x = try exporter.run(source: Array("/in".utf8), sourcePath: "/in", destination: dir + "/out")
            #expect(x.files == 5 && x.directories == 5 && x.symlinks == 2 && x.hardLinks == 2 && x.specials == 1 && x.errors == 0)
            let before = TransferTests.describe(dir + "/src"), after = TransferTests.describe(dir + "/out")
            #expect(before.count > 20 && before == after)
        }
    }

    @Test func existingNamesAreKeptUnlessForced() throws {
        try TransferTests.withVolume { meta, store, dir in
            try TransferTests.makeTree(dir + "/src")
            _ = try Importer(meta: meta, store: store, cred: .root).run(source: dir + "/src", destination: Array("/in".utf8), destinationPath: "/in")
            // Again: everything is there already; nothing is made or replaced.
            let again = try Importer(meta: meta, store: store, cred: .root).run(source: dir + "/src", destination: Array("/in".utf8), destinationPath: "/in")
            #expect(again.files == 0 && again.directories == 0 && again.existed == 10 && again.errors == 0)
            TransferTests.run("printf changed > '\(dir)/src/a/small'")
            var options = ImportOptions()
            options.force = true
            let forced = try Importer(meta: meta, store: store, options: options, cred: .root)
                .run(source: dir + "/src", destination: Array("/in".utf8), destinationPath: "/in")
            #expect(forced.replaced == 10 && forced.errors == 0)
            _ = try Exporter(meta: meta, store: store, cred: .root).run(source: Array("/in".utf8), sourcePath: "/in", destination: dir + "/out")
            // Directories merged into keep their own attributes (their mtime moved with the
            // names replaced in them): the rest is as in the source.
            #expect(TransferTests.describe(dir + "/src", directories: false) == TransferTests.describe(dir + "/out", directories: false))
            // Export into what is there: kept, or replaced with force.
            let kept = try Exporter(meta: meta, store: store, cred: .root).run(source: Array("/in".utf8), sourcePath: "/in", destination: dir + "/out")
            #expect(kept.files == 0 && kept.existed == 10)
        }
    }

    @Test func aFileAloneAndDestinationsThatCannotBe() throws {
        try TransferTests.withVolume { meta, store, dir in
            try TransferTests.makeTree(dir + "/src")
            let one = try Importer(meta: meta, store: store, cred: .root).run(source: dir + "/src/a/big", destination: Array("/big".utf8), destinationPath: "/big")
            #expect(one.files == 1 && one.bytes == 200000)
            #expect(throws: HilbertError.self) {
                _ = try Importer(meta: meta, store: store, cred: .root).run(source: dir + "/src", destination: Array("/big".utf8), destinationPath: "/big")
            }
            #expect(throws: HilbertError.self) {
                _ = try Importer(meta: meta, store: store, cred: .root).run(source: dir + "/src", destination: Array("/no/such/dir".utf8), destinationPath: "/no/such/dir")
            }
            #expect(throws: HilbertError.self) {
                _ = try Importer(meta: meta, store: store, cred: .root).run(source: dir + "/none", destination: Array("/x".utf8), destinationPath: "/x")
            }
            _ = try Exporter(meta: meta, store: store, cred: .root).run(source: Array("/big".utf8), sourcePath: "/big", destination: dir + "/big.out")
            #expect(TransferTests.run("cmp '\(dir)/src/a/big' '\(dir)/big.out'") == 0)
        }
    }

    @Test func packsStayWithinTheirSize() throws {
        try TransferTests.withVolume { meta, store, dir in
            #expect(TransferTests.run("mkdir '\(dir)/src' && for i in $(seq 30); do head -c 9000 /dev/urandom > '\(dir)/src/f'$i; done") == 0)
            var options = ImportOptions()
            options.packBytes = 40_000
            let r = try Importer(meta: meta, store: store, options: options, cred: .root)
                .run(source: dir + "/src", destination: Array("/in".utf8), destinationPath: "/in")
            #expect(r.files == 30)
            let packs = try meta.packs()
            // Four files of 9,000 random bytes (stored as they are, with their headers) fit in 40,000.
            #expect(packs.count == 8 && packs.allSatisfy { $0.size <= 40_000 } && packs.map { $0.pieces }.reduce(0, +) == 30)
        }
    }

    @Test func pathsOfHostTrees() {
        #expect(basename(Array("/a/b/".utf8)) == Array("b".utf8) && dirname(Array("/a/b/".utf8)) == Array("/a".utf8))
        #expect(dirname(Array("/a".utf8)) == Array("/".utf8) && dirname(Array("a".utf8)) == Array(".".utf8))
        #expect(join(Array("/".utf8), Array("x".utf8)) == Array("/x".utf8))
    }

    @Test func directoriesDeeperThanPathMax() throws {
        try TransferTests.withVolume { meta, store, dir in
            // 40 levels of 200-byte names: 8,000 bytes of path.
            let name = String(repeating: "n", count: 200)
            var path = dir + "/deep"
            mkdir(path, 0o755)
            let fd = open(path, O_RDONLY | O_DIRECTORY)
            var cur = fd
            for _ in 0..<40 {
                mkdirat(cur, name, 0o755)
                let next = openat(cur, name, O_RDONLY | O_DIRECTORY)
                if cur != fd { close(cur) }
                cur = next
            }
            let f = openat(cur, "leaf", O_WRONLY | O_CREAT, 0o644)
            _ = write(f, "bottom", 6)
            close(f); close(cur); close(fd)
            let r = try Importer(meta: meta, store: store, cred: .root).run(source: path, destination: Array("/deep".utf8), destinationPath: "/deep")
            #expect(r.files == 1 && r.directories == 41 && r.errors == 0)
            let x = try Exporter(meta: meta, store: store, cred: .root).run(source: Array("/deep".utf8), sourcePath: "/deep", destination: dir + "/deep.out")
            #expect(x.files == 1 && x.directories == 41 && x.errors == 0)
            var at = open(dir + "/deep.out", O_RDONLY | O_DIRECTORY)
            for _ in 0..<40 {
                let next = openat(at, name, O_RDONLY | O_DIRECTORY)
                close(at)
                at = next
            }
            let leaf = openat(at, "leaf", O_RDONLY)
            var buf = [UInt8](repeating: 0, count: 16)
            let n = read(leaf, &buf, 16)
            close(leaf); close(at)
            #expect(n == 6 && Array(buf[0..<6]) == Array("bottom".utf8))
        }
    }
}
