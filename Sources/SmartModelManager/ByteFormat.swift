// Byte counts printed and parsed: one formatter (IEC units) and one parser for sizes in settings.
import Foundation

/// Byte counts for people: IEC binary units (1 KiB = 1024 bytes, 1 MiB = 1024 KiB), the one byte
/// formatter of the project (manager messages, `smm`, `smm-convert`).
public enum ByteFormat {
    /// `1536` → `"1.5 KiB"`, `104857600` → `"100 MiB"`.
    public static func string(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let text = value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
        return "\(text.hasSuffix(".0") ? String(text.dropLast(2)) : text) \(units[unit])"
    }

    /// Parses `"512"` (megabytes), `"512MB"`, `"2GB"`, `"1.5 GiB"`, `"4096KB"`, `"100B"`. Nil when malformed.
    public static func parse(_ text: String, defaultUnit: Int = 1 << 20) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !trimmed.isEmpty else { return nil }
        var number = trimmed
        var multiplier = defaultUnit
        let suffixes: [(String, Int)] = [("tib", 1 << 40), ("gib", 1 << 30), ("mib", 1 << 20), ("kib", 1 << 10),
                                         ("tb", 1 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10),
                                         ("t", 1 << 40), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10), ("b", 1)]
        for (suffix, value) in suffixes where trimmed.hasSuffix(suffix) {
            number = String(trimmed.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            multiplier = value
            break
        }
        guard let amount = Double(number), amount.isFinite, amount >= 0 else { return nil }
        let bytes = amount * Double(multiplier)
        guard bytes < 9.0e18 else { return nil }
        return Int(bytes.rounded())
    }
}
