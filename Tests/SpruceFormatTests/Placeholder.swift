import Testing

@Test func placeholder_SpruceFormatTests() { #expect(1 + 1 == 2) }
