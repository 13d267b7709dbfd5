// The libFuzzer target for SMM's two file readers: the `.smm` reader (header, tensor table,
// metadata JSON, tensor decoding, body checksum) and the safetensors header parser. With
// SMM_FUZZ_TARGET=config the same binary fuzzes config.json instead (Tools/fuzz/FuzzConfig.swift).
//
// Built by Tools/fuzz.sh together with every source of Sources/SMMFormat into one module
// (`swiftc -sanitize=fuzzer,address -parse-as-library`), so that internal entry points are
// reachable. Every input goes through both readers; a reader may reject it (a thrown
// `FormatError`) but must never trap, read out of bounds (AddressSanitizer watches the input
// buffer, which libFuzzer allocates to the exact size) or allocate without bound (-rss_limit_mb).
//
// The `.smm` reader runs twice: with checksum verification (what users get) and without it, since
// random mutations almost never keep the XXH64 checksums valid and the validation behind them is
// what a hostile file (which can recompute checksums) reaches.

@_cdecl("LLVMFuzzerTestOneInput")
public func smmFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if fuzzingConfig {   // SMM_FUZZ_TARGET=config: Tools/fuzz/FuzzConfig.swift instead
        fuzzConfig(data, size)
        return 0
    }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    fuzzSMM(bytes, verify: false)
    fuzzSMM(bytes, verify: true)
    fuzzSafetensors(bytes)
    return 0
}

/// True when this binary runs Tools/fuzz.sh's `config` target (SMM_FUZZ_TARGET=config).
private let fuzzingConfig = ProcessInfo.processInfo.environment["SMM_FUZZ_TARGET"] == "config"

private func fuzzSMM(_ bytes: UnsafeRawBufferPointer, verify: Bool) {
    let options = SMMFileReadOptions(verifyStructureChecksums: verify, verifyBody: false)
    guard let contents = try? SMMFileReader.parse(bytes, path: "fuzz.smm", options: options) else { return }
    // Everything the reader accepted must be readable without trapping.
    for entry in contents.tensors {
        precondition(entry.byteRange.lowerBound >= 0 && entry.byteRange.upperBound <= bytes.count,
                     "accepted tensor '\(entry.name)' lies outside the input")
        guard entry.elementCount <= 1 << 22 else { continue }   // keep each run fast
        guard entry.dtype.isConvertibleToF32 || entry.quantization != .none else { continue }
        var out = [Float](repeating: 0, count: entry.elementCount)
        out.withUnsafeMutableBufferPointer { buffer in
            _ = try? SMMFileReader.copyFloats(entry, tensors: contents.tensors, file: bytes, path: "fuzz.smm", into: buffer)
        }
    }
    _ = try? SMMFileReader.verifyBody(bytes, header: contents.header, path: "fuzz.smm")
    _ = contents.metadata.encodedJSON()
    _ = contents.metadata.tokenizer.mergePairs
}

private func fuzzSafetensors(_ bytes: UnsafeRawBufferPointer) {
    guard let parsed = try? SafetensorsFile.parseHeader(bytes, path: "fuzz.safetensors") else { return }
    for info in parsed.infos.values {
        precondition(info.byteRange.lowerBound >= 0 && info.byteRange.upperBound <= bytes.count,
                     "accepted tensor '\(info.name)' lies outside the input")
        guard info.dtype.isConvertibleToF32, info.elementCount <= 1 << 22, let base = bytes.baseAddress else { continue }
        var out = [Float](repeating: 0, count: info.elementCount)
        out.withUnsafeMutableBufferPointer { buffer in
            if let dst = buffer.baseAddress, info.elementCount > 0 {
                convertToF32(info.dtype, src: base + info.byteRange.lowerBound, dst: dst, count: info.elementCount)
            }
        }
    }
}

// MARK: - Seeds

import Foundation

/// With `SMM_FUZZ_WRITE_SEEDS=DIR` set, writes small valid inputs of both formats into DIR before
/// fuzzing starts (Tools/fuzz.sh does this for a fresh corpus).
@_cdecl("LLVMFuzzerInitialize")
public func smmFuzzInitialize(_ argc: UnsafeMutablePointer<CInt>,
                              _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard !fuzzingConfig,   // the config target's seeds are files (Tools/fuzz/seeds/config)
          let dir = ProcessInfo.processInfo.environment["SMM_FUZZ_WRITE_SEEDS"], !dir.isEmpty else { return 0 }
    do {
        for (name, bytes) in try fuzzSeeds() {
            try Data(bytes).write(to: URL(fileURLWithPath: dir).appendingPathComponent(name))
        }
    } catch {
        print("cannot write fuzz seeds: \(error)")
    }
    return 0
}

func fuzzSeeds() throws -> [(String, [UInt8])] {
    let provenance = SMMProvenance(sourceName: "seed", sourcePath: "/seed", sourceFiles: [], converter: "fuzz",
                                   created: "2025-01-01T00:00:00Z")
    let bert = try SMMFileMetadata(
        configJSON: "{\"model_type\":\"bert\",\"vocab_size\":7,\"hidden_size\":4,\"num_hidden_layers\":1,\"num_attention_heads\":1,\"intermediate_size\":8,\"max_position_embeddings\":16,\"id2label\":{\"0\":\"no\",\"1\":\"yes\"}}",
        tokenizer: SMMTokenizerMetadata(kind: .wordpiece, vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b"],
                                        addedTokens: [SMMAddedToken(content: "[CLS]", id: 2)],
                                        specialTokenIDs: ["pad": 0, "unk": 1, "cls": 2, "sep": 3], doLowerCase: true),
        defaultPooling: "mean", maxLength: 12, provenance: provenance)
    var w = SMMFileWriter(metadata: bert)
    let m: [Float] = (0..<12).map { Float($0) * 0.25 - 1.3 }
    w.add(name: "t0", shape: [3, 4], floats: m)
    w.add(name: "t1", shape: [4], floats: [1, -2, 0.5, 65504], as: .f16)
    w.add(name: "b", shape: [2, 2], floats: [1.5, -3.25, 1e-3, 7], as: .bf16)
    w.addInt8(name: "q", shape: [3, 4], axis: 0, floats: m)
    w.addInt8(name: "c", shape: [4, 3], axis: 1, floats: m)
    w.add(name: "ids", dtype: .i64, shape: [2]) { _ in }
    w.add(name: "e", shape: [0, 5], floats: [])
    w.add(name: "s", shape: [], floats: [42])
    w.addPackedPanels(name: "p", shape: [48, 2], axis: 0, floats: (0..<96).map { Float($0) * 0.5 })
    var seeds = [("bert.smm", try w.serialized())]
    w.checksumKind = .sha256
    seeds.append(("bert-sha256.smm", try w.serialized()))

    let gpt2 = try SMMFileMetadata(
        configJSON: "{\"model_type\":\"gpt2\",\"vocab_size\":4,\"n_embd\":4,\"n_layer\":1,\"n_head\":1,\"n_positions\":8,\"bos_token_id\":3,\"eos_token_id\":3}",
        tokenizer: SMMTokenizerMetadata(kind: .bpe, vocabulary: ["a", "b", "ab", "<|endoftext|>"], merges: ["a b"],
                                        addedTokens: [SMMAddedToken(content: "<|endoftext|>", id: 3)],
                                        specialTokenIDs: ["bos": 3, "eos": 3]),
        provenance: provenance)
    var g = SMMFileWriter(metadata: gpt2)
    g.addInt8(name: "h.0.attn.c_attn.weight", shape: [4, 12], axis: 1, floats: (0..<48).map { Float($0 % 7) - 3 })
    g.add(name: "wte.weight", shape: [4, 4], floats: (0..<16).map { Float($0) })
    seeds.append(("gpt2.smm", try g.serialized()))

    let header = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
        + "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},\"c\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[20,22]},"
        + "\"d\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[22,30]}}"
    var st = [UInt8](repeating: 0, count: 8)
    let json = Array(header.utf8)
    for i in 0..<8 { st[i] = UInt8(truncatingIfNeeded: json.count >> (8 * i)) }
    st += json + [UInt8](repeating: 0x3F, count: 30)
    seeds.append(("model.safetensors", st))
    return seeds
}
