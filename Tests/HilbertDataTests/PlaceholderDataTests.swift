import Testing
@testable import HilbertData

@Test func placeholderData() { #expect(Bool(true)) }
