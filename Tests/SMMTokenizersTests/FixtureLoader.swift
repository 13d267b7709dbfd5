import Foundation

/// The URL of `Tests/Fixtures/<relativePath>`, found from this source file's location.
func fixtureURL(_ relativePath: String, filePath: StaticString = #filePath) -> URL {
    URL(fileURLWithPath: "\(filePath)")
        .deletingLastPathComponent()  // SMMTokenizersTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures")
        .appendingPathComponent(relativePath)
}
