// One JSON value model for the whole project: the format's headers and configs, the tokenizers'
// files, the CLI's `--json` output and `--jsonl` input all read and write through this module.
//
// Numbers are kept as their exact source text (checked against the JSON grammar), so a shape of
// `1e3` or `99999999999999999999` is reported as written instead of silently rounded; object keys
// keep their order and are compared byte for byte (see `JSONObject`).

/// A JSON value.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number, kept as its text (already checked against the JSON number grammar when parsed).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    // MARK: Building

    /// An integer number.
    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// A number from a `Double` (its shortest round-trip text); `null` when not finite, since JSON
    /// has no NaN or infinity.
    public static func double(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        // A value that is exactly a Float prints in Float's shorter form (0.1, not 0.10000000149...).
        let f = Float(value)
        return .number(Double(f) == value ? "\(f)" : "\(value)")
    }

    /// A number from a `Float` (its shortest round-trip text); `null` when not finite.
    public static func float(_ value: Float) -> JSONValue {
        value.isFinite ? .number("\(value)") : .null
    }

    /// An object of `pairs` (a record) in their order: `.record([("a", .int(1)), ("b", .string("x"))])`.
    public static func record(_ pairs: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(pairs)) }

    /// An array of numbers.
    public static func floats(_ values: [Float]) -> JSONValue { .array(values.map(JSONValue.float)) }
    /// An array of integers.
    public static func ints(_ values: [Int]) -> JSONValue { .array(values.map(JSONValue.int)) }
    /// An array of strings.
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }

    // MARK: Reading

    /// The object, when the value is one.
    public var objectValue: JSONObject? {
        if case let .object(object) = self { return object }
        return nil
    }

    /// The string, when the value is one.
    public var stringValue: String? {
        if case let .string(string) = self { return string }
        return nil
    }

    /// The elements, when the value is an array.
    public var arrayValue: [JSONValue]? {
        if case let .array(array) = self { return array }
        return nil
    }

    /// The boolean, when the value is one.
    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    /// The value when it is a number written as an integer (no fraction, no exponent) that fits `Int`.
    public var exactInt: Int? {
        if case let .number(text) = self { return Int(text) }
        return nil
    }

    /// The value as a `Double` when it is a number (rounded as `Double(String)` rounds).
    public var doubleValue: Double? {
        if case let .number(text) = self { return Double(text) }
        return nil
    }

    /// True for a number written as an integer (no `.`, no exponent), whatever its size.
    public var isIntegerLiteral: Bool {
        if case let .number(text) = self { return !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) }
        return false
    }

    /// Member `key` when the value is an object holding it.
    public subscript(key: String) -> JSONValue? { objectValue?[key] }

    // MARK: Describing

    /// A short name of the value's kind for error messages ("a string", "an array"...).
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The value for an error message, saying its kind once: `null`, `the boolean true`,
    /// `the number 1e3`, `the string "x"`, `an array of 2 element(s)`, `an object with 3 key(s)`.
    public var described: String {
        switch self {
        case .null: return "null"
        case .bool: return "the boolean \(brief)"
        case .number: return "the number \(brief)"
        case .string: return "the string \(brief)"
        case .array, .object: return brief
        }
    }

    /// A short rendering of the value (numbers and strings as written, long strings cut at 60
    /// characters, containers by their size).
    public var brief: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .number(text): return text
        case let .string(s): return s.count > 60 ? "\"\(s.prefix(60))...\"" : "\"\(s)\""
        case let .array(a): return "an array of \(a.count) element(s)"
        case let .object(o): return "an object with \(o.count) key(s)"
        }
    }
}
