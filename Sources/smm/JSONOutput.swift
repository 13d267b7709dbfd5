// One JSON object per line, keys in the order given (JSONSerialization would reorder them).
import Foundation

/// A JSON value for the CLI's `--json` output.
enum JSONValue {
    case string(String)
    case number(Double)
    case int(Int)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func floats(_ values: [Float]) -> JSONValue { .array(values.map { .number(Double($0)) }) }
    static func ints(_ values: [Int]) -> JSONValue { .array(values.map { .int($0) }) }
    static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }

    /// Compact JSON text.
    var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .string(let s): JSONValue.escape(s, into: &out)
        case .number(let d):
            if d.isFinite {
                // Float-precision values print their shortest round-trip form.
                let f = Float(d)
                out += Double(f) == d ? "\(f)" : "\(d)"
            } else {
                out += "null"
            }
        case .int(let i): out += String(i)
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (i, (key, value)) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSONValue.escape(key, into: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    static func escape(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
