// The one rule by which every kernel family (int8, bf16, q4) picks its kernel: the fastest this
// CPU runs, unless an environment variable names another one that also runs here.
import Foundation

/// Kernel selection shared by `QuantizedLinear`, `BF16Linear` and `Q4Linear`.
enum KernelChoice {
    /// `available[0]` (the fastest; the list is never empty, the portable kernel ends it), unless
    /// the environment variable `variable` names another member of `available` by raw value (a
    /// kernel this CPU lacks is ignored, so the answer always runs here).
    static func pick<K: RawRepresentable & Equatable>(_ available: [K], variable: String) -> K where K.RawValue == String {
        if let name = ProcessInfo.processInfo.environment[variable], let forced = K(rawValue: name),
           available.contains(forced) {
            return forced
        }
        return available[0]
    }
}
