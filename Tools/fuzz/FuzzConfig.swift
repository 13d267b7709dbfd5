// The libFuzzer target for Hugging Face `config.json`: every input is parsed as a config the three
// ways SMM reads one, and what is accepted must survive being written into `.smm` metadata.
//
//   1. `ModelConfig.parse(Data)`, the public entry point (loading a model folder reads the file
//      through a mapping, then runs the same JSONParser and `ModelConfig.parse(JSONValue)`);
//   2. `SMMFileMetadata(configJSON:)`, what the converter does with the text (the strict reader
//      with depth 32, then the same validation);
//   3. for a config that (2) accepted, the metadata it makes is serialized and read back with the
//      `.smm` metadata reader: a converted file must read back with the same config.
//
// Compiled into the `formats` binary (Tools/fuzz/FuzzMain.swift, every source of Sources/SMMFormat),
// which runs this instead of the file readers when SMM_FUZZ_TARGET=config: Tools/fuzz.sh's `config`
// target, with its own corpus, seeds (Tools/fuzz/seeds/config) and dictionary (config.dict), and no
// second 40-second build of SMMFormat. A reader may refuse the input (a thrown `FormatError`) but
// must never trap, read out of bounds or allocate without bound.
import Foundation
import SMMJSON

/// One input of the `config` target.
func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    if let config = try? ModelConfig.parse(Data(bytes), source: "fuzz/config.json") {
        check(config)
    }
    guard let text = String(validating: bytes, as: UTF8.self),
          var metadata = try? SMMFileMetadata(configJSON: text, tokenizer: wordpiece, provenance: provenance)
    else { return }
    if metadata.config.modelType == "gpt2" {   // the metadata reader wants the tokenizer kind to fit
        metadata = try! SMMFileMetadata(configJSON: text, tokenizer: bpe, provenance: provenance)
    }
    check(metadata.config)
    let written = metadata.encodedJSON()
    let reread: SMMFileMetadata
    do {
        reread = try written.withUnsafeBytes { try SMMFileMetadata.parse($0, path: "fuzz.smm") }
    } catch {
        preconditionFailure("metadata written from an accepted config does not read back: \(error)")
    }
    precondition(reread.config == metadata.config, "the config read back differs from the one written")
}

/// Uses every derived property of an accepted config (none may trap: validation guarantees
/// non-zero head counts, sizes in range, class indices dense; zero labels is allowed, `num_labels: 0`).
private func check(_ config: ModelConfig) {
    precondition(ModelConfig.supportedModelTypes.contains(config.modelType))
    precondition(config.vocabSize >= 1 && config.hiddenSize >= 1 && config.layerCount >= 1 && config.maxPositions >= 1)
    switch config {
    case let .bert(c): precondition(c.headDim * c.numAttentionHeads == c.hiddenSize && c.numLabels == c.labels.count)
    case let .distilbert(c): precondition(c.numLabels == c.labels.count)
    case let .gpt2(c): precondition(c.numLabels == c.labels.count)
    }
    _ = try? JSONEncoder().encode(config)
}

private let provenance = SMMProvenance(sourceName: "fuzz", sourcePath: "/fuzz", sourceFiles: [], converter: "fuzz",
                                       created: "2025-01-01T00:00:00Z")
private let wordpiece = SMMTokenizerMetadata(kind: .wordpiece, vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"],
                                             specialTokenIDs: ["pad": 0, "unk": 1, "cls": 2, "sep": 3])
private let bpe = SMMTokenizerMetadata(kind: .bpe, vocabulary: ["a", "b", "ab", "<|endoftext|>"], merges: ["a b"],
                                       specialTokenIDs: ["bos": 3, "eos": 3])
