import Glibc
import Testing
@testable import HilbertData

@Suite struct StagingOwnerTests {
    @Test func recordRoundTrips() throws {
        let me = StagingOwner.current(cacheRoot: "/var/tmp/hilbert me/cache")
        let back = try #require(StagingOwner(record: me.record))
        #expect(back == me)
        #expect(back.onThisNode)
        #expect(!back.processGone)
        #expect(back.stagingPath(volumeUUID: "u", name: "5.1.ab.cd") == "/var/tmp/hilbert me/cache/u/staging/5.1.ab.cd")
    }

    @Test func rowsOfOlderReleasesAndOtherNodesAreNotJudged() {
        #expect(StagingOwner(record: "") == nil)
        #expect(StagingOwner(record: "node=x pid=notanumber cache=/c") == nil)
        let other = StagingOwner(record: "node=another-node pid=1 cache=/c")
        #expect(other != nil && other?.onThisNode == false)
    }
}
