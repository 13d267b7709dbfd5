// Embedding tables (token, position, token-type) read in the type they are stored in: f32, f16,
// bf16, int8 with one scale per row, or q4 blocks. A lookup converts only the rows it reads, so a model file's
// table is never converted (or even paged in) as a whole, and an int8 or f16 table costs its
// stored size, not four bytes per value.
//
// Every conversion gives exactly the f32 value a whole-table conversion at load gives (the
// `.smm` reader's `copyFloats`): f16 through `f16BitsToF32Bits`, bf16 by a 16-bit shift, int8 as
// `Float(q) * scale[row]`. So results do not depend on whether a table was converted or not.
import SMMFormat

/// A read-only (rows, width) embedding table.
struct EmbeddingTable: @unchecked Sendable {
    /// The stored elements.
    enum Rows {
        case f32(UnsafePointer<Float>)
        case f16(UnsafePointer<UInt16>)
        case bf16(UnsafePointer<UInt16>)
        /// int8 values with one scale per row.
        case int8(UnsafePointer<Int8>, scales: UnsafePointer<Float>)
        /// q4 blocks (`SMMQ4Blocks`), row by row: `width / 2` bytes and `width / 32` f16 scales per row.
        case q4(UnsafePointer<UInt8>, scales: UnsafePointer<UInt16>)
    }

    let storage: Rows
    /// Number of rows (vocabulary size, positions, token types).
    let rows: Int
    /// Values per row (the hidden size).
    let width: Int
    /// Keeps the memory alive (a mapped file, an owned buffer).
    let owner: any Sendable

    /// A table over f32 values.
    init(f32 view: FloatTensorView) {
        precondition(view.shape.count == 2, "an embedding table is 2-D, got \(view.shape)")
        storage = .f32(view.pointer)
        rows = view.shape[0]
        width = view.shape[1]
        owner = view.owner
    }

    /// A table over a stored 2-D tensor, or nil for int8 whose scales are not per row.
    init?(_ view: StoredTensorView) {
        guard view.shape.count == 2 else { return nil }
        switch view.elements {
        case .f32(let p): storage = .f32(p)
        case .f16(let p): storage = .f16(p)
        case .bf16(let p): storage = .bf16(p)
        case let .int8(values, scales, axis):
            guard axis == 0 else { return nil }
            storage = .int8(values, scales: scales)
        case let .q4(values, scales, axis):
            guard axis == 0 else { return nil }
            storage = .q4(values, scales: scales)
        }
        rows = view.shape[0]
        width = view.shape[1]
        owner = view.owner
    }

    /// The stored type, for descriptions and tests: `f32`, `f16`, `bf16`, `i8` or `u8` (q4).
    var dtype: ElementType {
        switch storage {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .int8: return .i8
        case .q4: return .u8
        }
    }

    /// out[0..<width] = row `row` (0 ≤ row < rows; callers validate ids first).
    @inline(__always)
    func copy(row: Int, into out: UnsafeMutablePointer<Float>) {
        let w = width, base = row * w
        switch storage {
        case .f32(let p):
            out.update(from: p + base, count: w)
        case .f16(let p):
            for c in 0..<w { out[c] = Float(bitPattern: f16BitsToF32Bits(p[base + c])) }
        case .bf16(let p):
            for c in 0..<w { out[c] = Float(bitPattern: UInt32(p[base + c]) << 16) }
        case let .int8(q, scales):
            let scale = scales[row]
            for c in 0..<w { out[c] = Float(q[base + c]) * scale }
        case let .q4(q, scales):
            SMMQ4Blocks.dequantizeRow(values: q + base / 2, scales: scales + row * (w / 32), count: w, into: out, stride: 1)
        }
    }

    /// out[0..<width] += row `row`.
    @inline(__always)
    func add(row: Int, into out: UnsafeMutablePointer<Float>) {
        let w = width, base = row * w
        switch storage {
        case .f32(let p):
            let r = p + base
            for c in 0..<w { out[c] += r[c] }
        case .f16(let p):
            for c in 0..<w { out[c] += Float(bitPattern: f16BitsToF32Bits(p[base + c])) }
        case .bf16(let p):
            for c in 0..<w { out[c] += Float(bitPattern: UInt32(p[base + c]) << 16) }
        case let .int8(q, scales):
            let scale = scales[row]
            for c in 0..<w { out[c] += Float(q[base + c]) * scale }
        case .q4:
            withUnsafeTemporaryAllocation(of: Float.self, capacity: w) { buffer in
                copy(row: row, into: buffer.baseAddress!)
                for c in 0..<w { out[c] += buffer[c] }
            }
        }
    }

    /// Row `row` as an array (for tests).
    func row(_ row: Int) -> [Float] {
        withExtendedLifetime(owner) {
            [Float](unsafeUninitializedCapacity: width) { buffer, count in
                if let base = buffer.baseAddress { copy(row: row, into: base) }
                count = width
            }
        }
    }
}
