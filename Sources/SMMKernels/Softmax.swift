// Numerically stable softmax over rows, in place.

/// Softmax kernels.
public enum Softmax {
    /// Softmax of one row of `count` floats in place. Entries at index >= `validCount` are set to 0
    /// (the causal mask and key padding at the end of a row).
    @inline(__always)
    public static func row(_ x: UnsafeMutablePointer<Float>, count: Int, validCount: Int? = nil) {
        let n = min(count, validCount ?? count)
        guard n > 0 else {
            for i in 0..<count { x[i] = 0 }
            return
        }
        var maxValue = x[0]
        for i in 1..<n where x[i] > maxValue { maxValue = x[i] }
        let raw = UnsafeMutableRawPointer(x)
        var acc = Float8()
        var i = 0
        while i + 8 <= n {
            let e = FastMath.exp(raw.loadUnaligned(fromByteOffset: i * 4, as: Float8.self) - maxValue)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: Float8.self)
            acc += e
            i += 8
        }
        var sum = acc.sum()
        while i < n { let e = FastMath.exp(x[i] - maxValue); x[i] = e; sum += e; i += 1 }
        let inv = 1 / sum
        for j in 0..<n { x[j] *= inv }
        for j in n..<count { x[j] = 0 }
    }

    /// Softmax of `rows` rows of `cols` floats each, in place, on the calling thread.
    public static func rows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { row(x + r * cols, count: cols) }
    }
}
