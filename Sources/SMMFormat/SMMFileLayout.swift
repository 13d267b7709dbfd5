// The `.smm` one-file model format, version 1.0: constants, limits, the fixed header and the
// tensor table entries. Docs/FORMAT.md is the specification; this file is its code.
//
//   [0, headerSize)           fixed header (128 bytes in 1.0), little-endian
//   metadata section          UTF-8 JSON object (architecture, config, tokenizer, provenance...)
//   tensor table              tensorCount variable-length binary entries
//   data section              tensor bytes, every tensor at a multiple of 64 from the file start

/// Constants and limits of the `.smm` format.
public enum SMMFileFormat {
    /// The first 8 bytes of every `.smm` file: `89 53 4D 4D 0D 0A 1A 0A` ("\x89SMM\r\n\x1A\n", after PNG:
    /// a non-ASCII first byte, and the line-ending bytes that a text-mode transfer would damage).
    public static let magic: [UInt8] = [0x89, 0x53, 0x4D, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A]
    /// The major version this code writes and reads. A reader rejects a file of a higher major.
    public static let majorVersion: UInt16 = 1
    /// The newest minor version this code reads and writes (1.1 added packed-panel f32 tensors, 1.2
    /// 4-bit blocks). The
    /// writer stores the oldest minor that has the features a file uses. Readers accept any minor of
    /// their major, and reject codes they do not know by name.
    public static let minorVersion: UInt16 = 2
    /// `"1.2"`.
    public static var versionString: String { "\(majorVersion).\(minorVersion)" }

    /// Size of the fixed header written by this version.
    public static let headerSize = 128
    /// Smallest header size a reader accepts (the 1.0 header).
    public static let minHeaderSize = 128
    /// Largest header size a reader accepts (later minor versions may grow the header up to this).
    public static let maxHeaderSize = 4096
    /// Every tensor's data starts at a multiple of this many bytes from the start of the file.
    public static let dataAlignment = 64

    /// Most tensors a file may hold.
    public static let maxTensorCount = 100_000
    /// Largest metadata section accepted (64 MiB).
    public static let maxMetadataBytes = 64 << 20
    /// Longest tensor name, in UTF-8 bytes.
    public static let maxNameLength = 1024
    /// Most dimensions a tensor may have.
    public static let maxRank = 8
    /// Size of a tensor table entry before its dimensions and name.
    public static let entryFixedSize = 32
    /// Largest table entry accepted (a maximal 1.0 entry plus room for later fields).
    public static let maxEntrySize = 4096
    /// Most merge rules a BPE tokenizer may have.
    public static let maxMerges = 10_000_000
    /// Most added tokens a tokenizer may have.
    public static let maxAddedTokens = 1_000_000

    /// Marks "no scale tensor" in a table entry.
    static let noIndex: UInt32 = 0xFFFF_FFFF
}

/// How the body checksum (`smm inspect --verify`, `smm-convert --verify`) is computed.
public enum SMMChecksumKind: UInt32, Sendable, CaseIterable {
    /// XXH64 (seed 0) of the body; the 8-byte hash little-endian in the first 8 checksum bytes, the
    /// other 24 zero. The default.
    case xxh64 = 1
    /// SHA-256 of the body; the 32-byte digest as is.
    case sha256 = 2

    /// `xxh64` / `sha256`.
    public var name: String {
        switch self {
        case .xxh64: return "xxh64"
        case .sha256: return "sha256"
        }
    }
}

/// The weight storage type of a model: what `smm-convert --dtype` stores, what `--dtype` quantizes
/// to at load, what the manager's catalog sizes and selects by. The one dtype enum of the project
/// from the format to the CLI.
///
/// Sorted largest first (`f32 < f16`): by bytes per parameter, descending, then by name.
public enum ModelDType: String, Sendable, CaseIterable, Codable, Hashable, Comparable {
    /// Every tensor as stored in float32.
    case f32
    /// Matrices (rank ≥ 2) in IEEE half precision; vectors (biases, LayerNorm) stay f32.
    case f16
    /// Matrices (rank ≥ 2) in bfloat16; vectors stay f32.
    case bf16
    /// Matrices (rank ≥ 2) in int8, symmetric, one f32 scale per output channel; vectors stay f32.
    case int8
    /// Matrices with a multiple of 32 inputs in 4-bit blocks of 32 with one f16 scale each
    /// (`SMMQ4Blocks`, 4.5 bits per weight); other matrices as int8; vectors stay f32.
    case q4

    /// Bytes per parameter of a matrix in this storage (int8's per-row scales not counted; q4's
    /// block scales counted: 18 bytes per 32 weights).
    public var bytesPerParameter: Double {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .int8: return 1
        case .q4: return 0.5625
        }
    }

    /// Larger storage first: f32, then bf16 and f16 (by name), then int8, then q4.
    public static func < (a: ModelDType, b: ModelDType) -> Bool {
        a.bytesPerParameter > b.bytesPerParameter || (a.bytesPerParameter == b.bytesPerParameter && a.rawValue < b.rawValue)
    }

    /// The element type of a matrix in this storage.
    public var matrixDType: ElementType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .int8: return .i8
        case .q4: return .u8
        }
    }
}

// MARK: - ElementType codes

extension ElementType {
    /// The dtype's code in an `.smm` tensor table entry.
    public var smmCode: UInt8 {
        switch self {
        case .f32: return 1
        case .f16: return 2
        case .bf16: return 3
        case .f64: return 4
        case .i8: return 5
        case .u8: return 6
        case .i16: return 7
        case .u16: return 8
        case .i32: return 9
        case .u32: return 10
        case .i64: return 11
        case .u64: return 12
        case .bool: return 13
        case .f8e4m3: return 14
        case .f8e5m2: return 15
        }
    }

    /// The dtype with `.smm` code `code`, or nil for an unknown code.
    public init?(smmCode code: UInt8) {
        guard let match = ElementType.allCases.first(where: { $0.smmCode == code }) else { return nil }
        self = match
    }
}

// MARK: - Header

/// The fixed header of an `.smm` file (1.0 layout; all integers little-endian).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic |
/// | 8 | 2 | major version |
/// | 10 | 2 | minor version |
/// | 12 | 4 | header size |
/// | 16 | 8 | file size |
/// | 24 | 8+8 | metadata offset, length |
/// | 40 | 8+8 | tensor table offset, length |
/// | 56 | 8+8 | data section offset, length |
/// | 72 | 4 | tensor count |
/// | 76 | 4 | body checksum kind |
/// | 80 | 32 | body checksum |
/// | 112 | 8 | structure checksum |
/// | headerSize − 8 | 8 | header checksum |
public struct SMMFileHeader: Sendable, Equatable {
    /// The format major version the file was written with.
    public var majorVersion: UInt16
    /// The format minor version the file was written with.
    public var minorVersion: UInt16
    /// Size of the fixed header in bytes, header checksum included.
    public var headerSize: Int
    /// Size of the whole file in bytes.
    public var fileSize: Int
    /// Byte offset of the metadata section from the start of the file.
    public var metadataOffset: Int
    /// Length of the metadata section in bytes.
    public var metadataLength: Int
    /// Byte offset of the tensor table from the start of the file.
    public var tableOffset: Int
    /// Length of the tensor table in bytes.
    public var tableLength: Int
    /// Byte offset of the data section from the start of the file.
    public var dataOffset: Int
    /// Length of the data section in bytes.
    public var dataLength: Int
    /// Number of entries in the tensor table.
    public var tensorCount: Int
    /// Raw checksum kind (an `SMMChecksumKind` raw value, or an unknown one from a later version).
    public var bodyChecksumKind: UInt32
    /// 32 bytes.
    public var bodyChecksum: [UInt8]
    /// XXH64(table bytes, seed: XXH64(metadata bytes, seed: 0)).
    public var structureChecksum: UInt64
    /// XXH64 of header bytes [0, headerSize − 8).
    public var headerChecksum: UInt64

    /// The metadata section's byte range in the file.
    public var metadataRange: Range<Int> { metadataOffset..<(metadataOffset + metadataLength) }
    /// The tensor table's byte range in the file.
    public var tableRange: Range<Int> { tableOffset..<(tableOffset + tableLength) }
    /// The data section's byte range in the file.
    public var dataRange: Range<Int> { dataOffset..<(dataOffset + dataLength) }

    /// The body checksum kind, when known to this reader.
    public var checksumKind: SMMChecksumKind? { SMMChecksumKind(rawValue: bodyChecksumKind) }

    /// The body checksum as text: 16 hex digits for XXH64, 64 for SHA-256.
    public var bodyChecksumHex: String {
        switch checksumKind {
        case .xxh64?:
            var value: UInt64 = 0
            for i in 0..<8 where i < bodyChecksum.count { value |= UInt64(bodyChecksum[i]) << UInt64(8 * i) }
            return hex64(value)
        default:
            return SHA256.hex(bodyChecksum)
        }
    }

    /// The header bytes (`headerSize` of them), header checksum included.
    func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: headerSize)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { raw in
                for (i, b) in raw.enumerated() { out[offset + i] = b }
            }
        }
        for (i, b) in SMMFileFormat.magic.enumerated() { out[i] = b }
        put(majorVersion, at: 8)
        put(minorVersion, at: 10)
        put(UInt32(headerSize), at: 12)
        put(UInt64(fileSize), at: 16)
        put(UInt64(metadataOffset), at: 24)
        put(UInt64(metadataLength), at: 32)
        put(UInt64(tableOffset), at: 40)
        put(UInt64(tableLength), at: 48)
        put(UInt64(dataOffset), at: 56)
        put(UInt64(dataLength), at: 64)
        put(UInt32(tensorCount), at: 72)
        put(bodyChecksumKind, at: 76)
        for i in 0..<32 { out[80 + i] = i < bodyChecksum.count ? bodyChecksum[i] : 0 }
        put(structureChecksum, at: 112)
        let checksum = XXH64.hash(Array(out[0..<(headerSize - 8)]))
        put(checksum, at: headerSize - 8)
        return out
    }
}

/// Lower-case, zero-padded hexadecimal of a 64-bit value.
func hex64(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

// MARK: - Tensor table entries

/// How a stored tensor's values map to real numbers.
public enum SMMQuantization: Sendable, Equatable, Hashable {
    /// The stored values are the values.
    case none
    /// int8, symmetric, one scale per channel along `axis` (the output-channel axis):
    /// value = Float(q) × scale[channel]. `scaleTensor` is the table index of the f32 scale vector
    /// (shape `[shape[axis]]`).
    case int8PerChannel(axis: Int, scaleTensor: Int)
    /// f32 values of a rank-2 weight matrix stored in the f32 kernel's panel order (format 1.1):
    /// outputs along `axis`, a multiple of 48 of them; see `SMMPanelLayout`.
    case packedPanels(axis: Int)
    /// 4-bit blocks of 32 inputs with one f16 scale each (format 1.2), outputs along `axis` of a
    /// rank-2 matrix: see `SMMQ4Blocks`. The dtype is u8 (two codes per byte, half the element
    /// count in bytes); `scaleTensor` is the table index of the f16 scales, shape [N, K/32].
    case q4Blocks(axis: Int, scaleTensor: Int)

    /// The code stored in a table entry (0 none, 1 int8 per channel, 2 packed panels, 3 q4 blocks).
    var code: UInt8 {
        switch self {
        case .none: return 0
        case .int8PerChannel: return 1
        case .packedPanels: return 2
        case .q4Blocks: return 3
        }
    }
}

/// One tensor of an `.smm` file, as described by its table entry (validated when the file is opened).
public struct SMMTensorEntry: Sendable, Equatable, Hashable {
    /// The tensor's name (a Hugging Face checkpoint key).
    public var name: String
    /// Element type as stored.
    public var dtype: ElementType
    /// Dimensions, outermost first (row-major).
    public var shape: [Int]
    /// Offset of the first byte from the start of the file (a multiple of 64).
    public var dataOffset: Int
    /// Number of bytes (element count × dtype size; half the element count for q4 blocks).
    public var byteLength: Int
    /// Quantization parameters.
    public var quantization: SMMQuantization

    /// Makes an entry.
    public init(name: String, dtype: ElementType, shape: [Int], dataOffset: Int, byteLength: Int,
                quantization: SMMQuantization = .none) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffset = dataOffset
        self.byteLength = byteLength
        self.quantization = quantization
    }

    /// Number of elements (the product of `shape`; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
    /// The bytes' range in the file.
    public var byteRange: Range<Int> { dataOffset..<(dataOffset + byteLength) }

    /// Size of the entry's encoding in the table (a multiple of 8).
    static func encodedSize(nameBytes: Int, rank: Int) -> Int {
        alignUp(SMMFileFormat.entryFixedSize + 8 * rank + nameBytes, 8)
    }

    /// Appends the entry's encoding (1.0 layout) to `out`.
    func encode(into out: inout [UInt8]) {
        let nameBytes = Array(name.utf8)
        let size = SMMTensorEntry.encodedSize(nameBytes: nameBytes.count, rank: shape.count)
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
        }
        let start = out.count
        put(UInt32(size))
        put(UInt16(nameBytes.count))
        put(dtype.smmCode)
        put(UInt8(shape.count))
        put(UInt64(dataOffset))
        put(UInt64(byteLength))
        put(quantization.code)
        switch quantization {
        case .none:
            put(UInt8(0))
            put(UInt16(0))
            put(SMMFileFormat.noIndex)
        case let .int8PerChannel(axis, scaleTensor), let .q4Blocks(axis, scaleTensor):
            put(UInt8(axis))
            put(UInt16(0))
            put(UInt32(scaleTensor))
        case let .packedPanels(axis):
            put(UInt8(axis))
            put(UInt16(0))
            put(SMMFileFormat.noIndex)
        }
        for d in shape { put(UInt64(d)) }
        out.append(contentsOf: nameBytes)
        while out.count - start < size { out.append(0) }
    }
}

/// `value` rounded up to a multiple of `alignment` (a power of two); for sizes known to be small.
func alignUp(_ value: Int, _ alignment: Int) -> Int {
    (value + alignment - 1) & ~(alignment - 1)
}
