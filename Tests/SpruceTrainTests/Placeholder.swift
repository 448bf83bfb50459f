import Testing

@Test func placeholder_SpruceTrainTests() { #expect(1 + 1 == 2) }
