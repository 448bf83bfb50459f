import Testing

@Test func placeholder_SpruceRuntimeTests() { #expect(1 + 1 == 2) }
