// The "packed panels" storage of an f32 weight matrix in `.smm` files (quantization code 2): the
// order the AVX-512 f32 kernel reads (SMMKernels/PackedF32.swift), so that a file maps straight
// into the kernel with no copy at load.
//
// For a rank-2 tensor whose output axis is `axis` (0: `nn.Linear` (out, in); 1: GPT-2's `Conv1D`
// (in, out)), with N = dims[axis] outputs (a multiple of 48) and K = dims[1 - axis] inputs,
// the value W[n][k] (output n, input k) is stored at float index
//   ((n / 48) * K + k) * 48 + n % 48
// i.e. panels of 48 outputs, each K rows of 48 floats. The element count and byte length are the
// plain tensor's; only the order differs.
//
// This is the one statement of the width: the kernels' `PackedMatrix.panelColumns` is this value, and
// the C kernel's compile-time `SMM_F32_PANEL_COLUMNS` is checked equal to it.

/// The packed-panel order of f32 weight matrices in `.smm` files.
public enum SMMPanelLayout {
    /// Outputs per panel: the f32 kernel's panel width (`SMM_F32_PANEL_COLUMNS`).
    public static let columns = 48

    /// True when a tensor of `shape` can be stored in panels along `axis`: rank 2, axis 0 or 1, and a
    /// positive multiple of `columns` outputs.
    public static func accepts(shape: [Int], axis: Int) -> Bool {
        shape.count == 2 && (axis == 0 || axis == 1) && shape[axis] > 0 && shape[axis] % columns == 0 && shape[1 - axis] > 0
    }

    /// Writes the row-major tensor `src` (of `shape`, outputs along `axis`) into `dst` in panel order.
    public static func pack(_ src: UnsafePointer<Float>, shape: [Int], axis: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(accepts(shape: shape, axis: axis), "shape \(shape) axis \(axis) cannot be stored in panels")
        let n = shape[axis], k = shape[1 - axis], width = columns
        for o in 0..<n {
            let panel = dst + (o / width) * k * width + o % width
            if axis == 0 {
                let row = src + o * k
                for i in 0..<k { panel[i * width] = row[i] }
            } else {
                for i in 0..<k { panel[i * width] = src[i * n + o] }
            }
        }
    }

    /// Reads the panel-ordered `src` back into row-major `dst` (of `shape`, outputs along `axis`).
    public static func unpack(_ src: UnsafePointer<Float>, shape: [Int], axis: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(accepts(shape: shape, axis: axis), "shape \(shape) axis \(axis) cannot be stored in panels")
        let n = shape[axis], k = shape[1 - axis], width = columns
        for o in 0..<n {
            let panel = src + (o / width) * k * width + o % width
            if axis == 0 {
                let row = dst + o * k
                for i in 0..<k { row[i] = panel[i * width] }
            } else {
                for i in 0..<k { dst[i * n + o] = panel[i * width] }
            }
        }
    }
}
