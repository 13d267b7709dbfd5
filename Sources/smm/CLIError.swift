// The CLI's own error: a message for the user, printed as `error: <message>` with exit status 1.

/// An error the CLI reports as `error: <message>` with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
