import Testing

@Test func placeholder_SpruceCoreTests() { #expect(1 + 1 == 2) }
