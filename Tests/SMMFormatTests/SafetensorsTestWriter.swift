import Foundation
import XCTest
@testable import SMMFormat

/// A tiny safetensors writer for tests: valid files from floats, and hand-made headers for
/// invalid ones.
struct SafetensorsTestWriter {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var data: [UInt8]
    }

    var entries: [Entry] = []
    var metadata: [String: String]? = nil
    /// Pad the header with spaces to a multiple of 8 bytes, as the `safetensors` library does.
    var alignHeader = true

    /// Adds a float tensor stored as `dtype` (f32, f16, bf16 or f64).
    mutating func add(_ name: String, shape: [Int], floats: [Float], as dtype: ElementType = .f32) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not match \(floats.count) values")
        entries.append(Entry(name: name, dtype: dtype.safetensorsName, shape: shape,
                             data: SafetensorsTestWriter.encode(floats, as: dtype)))
    }

    /// Adds a tensor with arbitrary dtype name and bytes.
    mutating func add(_ name: String, dtype: String, shape: [Int], data: [UInt8]) {
        entries.append(Entry(name: name, dtype: dtype, shape: shape, data: data))
    }

    /// The JSON header, tensors laid out one after the other in insertion order.
    func header() -> String {
        var parts: [String] = []
        if let metadata {
            let members = metadata.keys.sorted().map { "\(quote($0)):\(quote(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(members.joined(separator: ","))}")
        }
        var offset = 0
        for entry in entries {
            let end = offset + entry.data.count
            let shape = entry.shape.map(String.init).joined(separator: ",")
            parts.append("\(quote(entry.name)):{\"dtype\":\(quote(entry.dtype)),\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// The whole file.
    func bytes() -> [UInt8] {
        SafetensorsTestWriter.file(header: header(), data: entries.flatMap(\.data), align: alignHeader)
    }

    /// Writes the file to `url`.
    func write(to url: URL) throws {
        try writeBytes(bytes(), to: url)
    }

    /// A file made of a length prefix (`declaredLength`, default: the header's real length), the
    /// header text (space-padded to 8 bytes when `align`), and `data`.
    static func file(header: String, data: [UInt8], align: Bool = true, declaredLength: UInt64? = nil) -> [UInt8] {
        var headerBytes = Array(header.utf8)
        if align {
            while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        }
        var result: [UInt8] = []
        let length = declaredLength ?? UInt64(headerBytes.count)
        withUnsafeBytes(of: length.littleEndian) { result.append(contentsOf: $0) }
        result.append(contentsOf: headerBytes)
        result.append(contentsOf: data)
        return result
    }

    /// Encodes floats as little-endian `dtype` values.
    static func encode(_ floats: [Float], as dtype: ElementType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: floats.count * dtype.byteSize)
        out.withUnsafeMutableBytes { raw in
            guard let dst = raw.baseAddress else { return }
            floats.withUnsafeBufferPointer { src in
                guard let s = src.baseAddress else { return }
                switch dtype {
                case .f32:
                    for (i, value) in floats.enumerated() {
                        dst.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                    }
                case .f16: convertF32ToF16(src: s, dst: dst, count: floats.count)
                case .bf16: convertF32ToBF16(src: s, dst: dst, count: floats.count)
                case .f64:
                    for (i, value) in floats.enumerated() {
                        dst.storeBytes(of: Double(value).bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self)
                    }
                default:
                    preconditionFailure("encode supports float dtypes only")
                }
            }
        }
        return out
    }

    private func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// A fresh temporary directory for one test, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase, function: String = #function) throws -> URL {
    let name = "smm-format-tests-\(function.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(name, isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock {
        try? FileManager.default.removeItem(at: url)
    }
    return url
}

/// Writes `bytes` to `name` in `directory` and returns its URL.
@discardableResult
func writeFile(_ bytes: [UInt8], named name: String, in directory: URL) throws -> URL {
    let url = directory.appendingPathComponent(name)
    try writeBytes(bytes, to: url)
    return url
}

/// Creates or replaces the file at `url` with `bytes`, with plain `open`/`write` (Foundation's
/// `Data.write` syncs to disk on Linux, which makes loops of small files slow).
func writeBytes(_ bytes: [UInt8], to url: URL) throws {
    let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
    defer { close(fd) }
    var written = 0
    try bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let n = write(fd, raw.baseAddress! + written, raw.count - written)
            guard n > 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
            written += n
        }
    }
}

/// Writes `text` to `name` in `directory` and returns its URL.
@discardableResult
func writeFile(_ text: String, named name: String, in directory: URL) throws -> URL {
    try writeFile(Array(text.utf8), named: name, in: directory)
}

/// Runs `body`, which must throw a `FormatError`; returns it (fails the test otherwise).
func expectFormatError<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> FormatError? {
    do {
        let value = try body()
        XCTFail("expected a FormatError, got \(value)", file: file, line: line)
        return nil
    } catch let error as FormatError {
        return error
    } catch {
        XCTFail("expected a FormatError, got \(type(of: error)): \(error)", file: file, line: line)
        return nil
    }
}

/// A seeded random number generator (SplitMix64), for reproducible tests.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
