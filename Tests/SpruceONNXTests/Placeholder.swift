import Testing

@Test func placeholder_SpruceONNXTests() { #expect(1 + 1 == 2) }
