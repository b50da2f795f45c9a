import Testing
@testable import HilbertMeta

@Test func placeholderMeta() { #expect(Bool(true)) }
