import Testing

@Test func placeholder_spruceTests() { #expect(1 + 1 == 2) }
