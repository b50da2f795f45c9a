import Glibc
import Testing
import HilbertSupport
@testable import HilbertData

/// The cache root must be the user's alone (PrivateDirectory): what is refused, what is not.
@Suite struct PrivateCacheTests {
    private func refusal(_ root: String) -> String? {
        do throws(HilbertError) {
            _ = try CacheDirectory.open(root: root, volumeUUID: "v")
            return nil
        } catch { return error.message }
    }

    @Test func ownDirectoryUnderAStickyParentIsAccepted() throws {
        let dir = TempDir()
        try Sys.mkdir(dir.path + "/pub", 0o777)
        chmod(dir.path + "/pub", 0o1777)
        #expect(refusal(dir.path + "/pub/mine") == nil)
        #expect(try Sys.stat(dir.path + "/pub/mine").st_mode & 0o7777 == 0o700)
    }

    @Test func symbolicLinkIsRefused() throws {
        let dir = TempDir()
        try Sys.mkdir(dir.path + "/real", 0o700)
        try Sys.symlink(dir.path + "/real", dir.path + "/link")
        #expect(refusal(dir.path + "/link")?.contains("is a symbolic link") == true)
        #expect(try Sys.listDirectory(dir.path + "/real").isEmpty)
    }

    @Test func writableByOthersIsRefused() throws {
        let dir = TempDir()
        try Sys.mkdir(dir.path + "/open", 0o700)
        chmod(dir.path + "/open", 0o707)
        #expect(refusal(dir.path + "/open")?.contains("is writable by other users (mode 0707)") == true)
        chmod(dir.path + "/open", 0o770)
        #expect(refusal(dir.path + "/open")?.contains("is writable by its group (mode 0770)") == true)
        #expect(try Sys.listDirectory(dir.path + "/open").isEmpty)
    }

    @Test func worldWritableParentWithoutStickyBitIsRefused() throws {
        let dir = TempDir()
        try Sys.mkdir(dir.path + "/pub", 0o777)
        chmod(dir.path + "/pub", 0o777)
        let why = refusal(dir.path + "/pub/mine")
        #expect(why?.contains("its parent directory \(dir.path)/pub is writable by other users and not sticky") == true)
    }

    @Test func subdirectoryWritableByOthersIsRefusedBelowARootOthersMayEnter() throws {
        let dir = TempDir()
        let root = dir.path + "/cache"
        #expect(refusal(root) == nil)
        chmod(root + "/v/staging", 0o777)
        // 0700: nobody else can reach the subdirectory, so it is not checked again
        #expect(refusal(root) == nil)
        chmod(root, 0o755)
        #expect(refusal(root)?.contains("\(root)/v/staging is writable by its group (mode 0777)") == true)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a directory to another uid"))
    func anotherUsersDirectoryIsRefused() throws {
        let dir = TempDir()
        try Sys.mkdir(dir.path + "/theirs", 0o700)
        chown(dir.path + "/theirs", 4242, 4242)
        #expect(refusal(dir.path + "/theirs")?.contains("belongs to uid 4242, not to you (uid 0)") == true)
        try Sys.mkdir(dir.path + "/parent", 0o755)
        chown(dir.path + "/parent", 4242, 4242)
        #expect(refusal(dir.path + "/parent/mine")?.contains("its parent directory \(dir.path)/parent belongs to uid 4242") == true)
    }
}
