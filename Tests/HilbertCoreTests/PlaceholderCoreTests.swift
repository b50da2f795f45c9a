import Testing
@testable import HilbertCore

@Test func placeholderCore() { #expect(Bool(true)) }
