import Foundation
import XCTest
@testable import SMMFormat

final class HFConfigTests: XCTestCase {

    // config.json of bert-base-uncased
    static let bertBaseUncased = """
    {
      "architectures": [
        "BertForMaskedLM"
      ],
      "attention_probs_dropout_prob": 0.1,
      "gradient_checkpointing": false,
      "hidden_act": "gelu",
      "hidden_dropout_prob": 0.1,
      "hidden_size": 768,
      "initializer_range": 0.02,
      "intermediate_size": 3072,
      "layer_norm_eps": 1e-12,
      "max_position_embeddings": 512,
      "model_type": "bert",
      "num_attention_heads": 12,
      "num_hidden_layers": 12,
      "pad_token_id": 0,
      "position_embedding_type": "absolute",
      "transformers_version": "4.6.0.dev0",
      "type_vocab_size": 2,
      "use_cache": true,
      "vocab_size": 30522
    }
    """

    // config.json of distilbert-base-uncased-finetuned-sst-2-english
    static let distilbertSST2 = """
    {
      "activation": "gelu",
      "architectures": [
        "DistilBertForSequenceClassification"
      ],
      "attention_dropout": 0.1,
      "dim": 768,
      "dropout": 0.1,
      "finetuning_task": "sst-2",
      "hidden_dim": 3072,
      "id2label": {
        "0": "NEGATIVE",
        "1": "POSITIVE"
      },
      "initializer_range": 0.02,
      "label2id": {
        "NEGATIVE": 0,
        "POSITIVE": 1
      },
      "max_position_embeddings": 512,
      "model_type": "distilbert",
      "n_heads": 12,
      "n_layers": 6,
      "output_past": true,
      "pad_token_id": 0,
      "qa_dropout": 0.1,
      "seq_classif_dropout": 0.2,
      "sinusoidal_pos_embds": false,
      "tie_weights_": true,
      "vocab_size": 30522
    }
    """

    // config.json of distilgpt2
    static let distilgpt2 = """
    {
      "_num_labels": 1,
      "activation_function": "gelu_new",
      "architectures": [
        "GPT2LMHeadModel"
      ],
      "attn_pdrop": 0.1,
      "bos_token_id": 50256,
      "embd_pdrop": 0.1,
      "eos_token_id": 50256,
      "id2label": {
        "0": "LABEL_0"
      },
      "initializer_range": 0.02,
      "label2id": {
        "LABEL_0": 0
      },
      "layer_norm_epsilon": 1e-05,
      "model_type": "gpt2",
      "n_ctx": 1024,
      "n_embd": 768,
      "n_head": 12,
      "n_layer": 6,
      "n_positions": 1024,
      "resid_pdrop": 0.1,
      "summary_activation": null,
      "summary_first_dropout": 0.1,
      "summary_proj_to_labels": true,
      "summary_type": "cls_index",
      "summary_use_proj": true,
      "task_specific_params": {
        "text-generation": {
          "do_sample": true,
          "max_length": 50
        }
      },
      "vocab_size": 50257
    }
    """

    func testBertBaseUncased() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeFile(Self.bertBaseUncased, named: "config.json", in: dir)
        let config = try ModelConfig.load(directory: dir)
        guard case let .bert(bert) = config else { return XCTFail("expected bert, got \(config)") }
        XCTAssertEqual(bert.vocabSize, 30522)
        XCTAssertEqual(bert.hiddenSize, 768)
        XCTAssertEqual(bert.numHiddenLayers, 12)
        XCTAssertEqual(bert.numAttentionHeads, 12)
        XCTAssertEqual(bert.headDim, 64)
        XCTAssertEqual(bert.intermediateSize, 3072)
        XCTAssertEqual(bert.hiddenAct, .gelu)
        XCTAssertEqual(bert.maxPositionEmbeddings, 512)
        XCTAssertEqual(bert.typeVocabSize, 2)
        XCTAssertEqual(bert.layerNormEps, 1e-12)
        XCTAssertEqual(bert.padTokenID, 0)
        XCTAssertEqual(bert.positionEmbeddingType, "absolute")
        XCTAssertEqual(bert.architectures, ["BertForMaskedLM"])
        XCTAssertEqual(bert.labels, ["LABEL_0", "LABEL_1"])
        XCTAssertEqual(config.modelType, "bert")
        XCTAssertEqual(config.hiddenSize, 768)
        XCTAssertEqual(config.layerCount, 12)
        XCTAssertEqual(config.maxPositions, 512)
        XCTAssertEqual(config.vocabSize, 30522)
        XCTAssertEqual(bert, BertConfig(architectures: ["BertForMaskedLM"]), "bert-base-uncased is the default")
    }

    func testDistilBertSST2() throws {
        let config = try ModelConfig.parse(Self.distilbertSST2)
        guard case let .distilbert(distil) = config else { return XCTFail("expected distilbert, got \(config)") }
        XCTAssertEqual(distil.vocabSize, 30522)
        XCTAssertEqual(distil.dim, 768)
        XCTAssertEqual(distil.nLayers, 6)
        XCTAssertEqual(distil.nHeads, 12)
        XCTAssertEqual(distil.headDim, 64)
        XCTAssertEqual(distil.hiddenDim, 3072)
        XCTAssertEqual(distil.activation, .gelu)
        XCTAssertEqual(distil.maxPositionEmbeddings, 512)
        XCTAssertFalse(distil.sinusoidalPosEmbds)
        XCTAssertEqual(distil.layerNormEps, 1e-12)
        XCTAssertEqual(distil.id2label, [0: "NEGATIVE", 1: "POSITIVE"])
        XCTAssertEqual(distil.labels, ["NEGATIVE", "POSITIVE"])
        XCTAssertEqual(distil.numLabels, 2)
        XCTAssertEqual(config.labels, ["NEGATIVE", "POSITIVE"])
        XCTAssertEqual(config.architectures, ["DistilBertForSequenceClassification"])
    }

    func testDistilGPT2() throws {
        let config = try ModelConfig.parse(Data(Self.distilgpt2.utf8), source: "distilgpt2/config.json")
        guard case let .gpt2(gpt) = config else { return XCTFail("expected gpt2, got \(config)") }
        XCTAssertEqual(gpt.vocabSize, 50257)
        XCTAssertEqual(gpt.nEmbd, 768)
        XCTAssertEqual(gpt.nLayer, 6)
        XCTAssertEqual(gpt.nHead, 12)
        XCTAssertNil(gpt.nInner)
        XCTAssertEqual(gpt.innerDim, 3072)
        XCTAssertEqual(gpt.nPositions, 1024)
        XCTAssertEqual(gpt.activationFunction, .geluTanh)
        XCTAssertEqual(gpt.layerNormEpsilon, 1e-5)
        XCTAssertEqual(gpt.bosTokenID, 50256)
        XCTAssertEqual(gpt.eosTokenID, 50256)
        XCTAssertTrue(gpt.tieWordEmbeddings)
        XCTAssertTrue(gpt.scaleAttnWeights)
        XCTAssertFalse(gpt.scaleAttnByInverseLayerIdx)
        XCTAssertEqual(gpt.labels, ["LABEL_0"])
        XCTAssertEqual(config.maxPositions, 1024)
    }

    func testDefaultsWhenKeysAreAbsent() throws {
        guard case let .gpt2(gpt) = try ModelConfig.parse(#"{"model_type": "gpt2", "n_inner": 1000, "tie_word_embeddings": false}"#) else {
            return XCTFail()
        }
        XCTAssertEqual(gpt, GPT2Config(nInner: 1000, tieWordEmbeddings: false))
        XCTAssertEqual(gpt.innerDim, 1000)
        guard case let .distilbert(distil) = try ModelConfig.parse(#"{"model_type": "distilbert", "num_labels": 3, "activation": "relu"}"#) else {
            return XCTFail()
        }
        XCTAssertEqual(distil.dim, 768)
        XCTAssertEqual(distil.nLayers, 6)
        XCTAssertEqual(distil.activation, .relu)
        XCTAssertEqual(distil.labels, ["LABEL_0", "LABEL_1", "LABEL_2"])
        guard case let .bert(bert) = try ModelConfig.parse(#"{"model_type": "bert", "hidden_act": "gelu_pytorch_tanh", "pad_token_id": null, "hidden_size": 256.0, "num_attention_heads": 4}"#) else {
            return XCTFail()
        }
        XCTAssertEqual(bert.hiddenAct, .geluTanh)
        XCTAssertNil(bert.padTokenID)
        XCTAssertEqual(bert.hiddenSize, 256, "integral floats are accepted for integer keys")
    }

    func testModelTypeInferredFromArchitectures() throws {
        let noType = Self.distilbertSST2.replacingOccurrences(of: "\"model_type\": \"distilbert\",", with: "")
        XCTAssertEqual(try ModelConfig.parse(noType).modelType, "distilbert")
        XCTAssertEqual(try ModelConfig.parse(#"{"architectures": ["BertForSequenceClassification"]}"#).modelType, "bert")
        XCTAssertEqual(try ModelConfig.parse(#"{"architectures": ["GPT2LMHeadModel"]}"#).modelType, "gpt2")
        XCTAssertEqual(ModelConfig.inferModelType(architectures: ["RobertaModel"]), nil)
    }

    func testUnknownOrMissingModelType() throws {
        let roberta = expectFormatError { try ModelConfig.parse(#"{"model_type": "roberta", "architectures": ["RobertaForMaskedLM"]}"#, source: "r/config.json") }
        XCTAssertEqual(roberta, .unsupportedModelType(path: "r/config.json", modelType: "roberta",
                                                      architectures: ["RobertaForMaskedLM"], supported: ["bert", "distilbert", "gpt2"]))
        let text = roberta?.description ?? ""
        XCTAssertTrue(text.contains("roberta") && text.contains("bert, distilbert, gpt2"), text)

        let missing = expectFormatError { try ModelConfig.parse(#"{"hidden_size": 768}"#) }
        XCTAssertEqual(missing, .unsupportedModelType(path: "config.json", modelType: nil, architectures: [],
                                                      supported: ModelConfig.supportedModelTypes))
        XCTAssertTrue(missing?.description.contains("no model_type") == true)
    }

    func testBadValues() throws {
        func reason(_ json: String) -> (key: String, reason: String)? {
            guard case let .invalidConfig(_, key, reason)? = expectFormatError({ try ModelConfig.parse(json) }) else {
                XCTFail("expected invalidConfig for \(json)")
                return nil
            }
            return (key, reason)
        }
        XCTAssertEqual(reason(#"{"model_type": "bert", "hidden_size": 770}"#)?.key, "hidden_size")
        XCTAssertEqual(reason(#"{"model_type": "bert", "hidden_size": 770}"#)?.reason, "770 is not divisible by num_attention_heads (12)")
        XCTAssertEqual(reason(#"{"model_type": "bert", "num_hidden_layers": 0}"#)?.reason, "0 must be at least 1")
        XCTAssertEqual(reason(#"{"model_type": "bert", "vocab_size": -5}"#)?.key, "vocab_size")
        let absurd = reason(#"{"model_type": "gpt2", "n_layer": 2000000}"#)
        XCTAssertEqual(absurd?.key, "n_layer")
        XCTAssertTrue(absurd?.reason.contains("implausibly large") == true)
        XCTAssertEqual(reason(#"{"model_type": "bert", "hidden_size": "768"}"#)?.reason, "expected an integer, found the string \"768\"")
        XCTAssertEqual(reason(#"{"model_type": "bert", "hidden_size": 767.5}"#)?.reason, "expected an integer, found 767.5")
        XCTAssertEqual(reason(#"{"model_type": "bert", "hidden_size": null}"#)?.reason, "expected an integer, found null")
        XCTAssertEqual(reason(#"{"model_type": "bert", "hidden_size": [1, 2]}"#)?.reason, "expected an integer, found an array of 2 element(s)")
        XCTAssertEqual(reason(#"{"model_type": "bert", "layer_norm_eps": 0}"#)?.key, "layer_norm_eps")
        XCTAssertEqual(reason(#"{"model_type": "bert", "hidden_act": "mish"}"#)?.key, "hidden_act")
        XCTAssertTrue(reason(#"{"model_type": "bert", "hidden_act": "mish"}"#)?.reason.contains("gelu_new") == true)
        XCTAssertEqual(reason(#"{"model_type": "gpt2", "eos_token_id": 60000}"#)?.reason, "60000 is outside the vocabulary (0..<50257)")
        XCTAssertEqual(reason(#"{"model_type": "distilbert", "n_heads": 7}"#)?.key, "dim")
        XCTAssertEqual(reason(#"{"model_type": "distilbert", "sinusoidal_pos_embds": 1}"#)?.key, "sinusoidal_pos_embds")
        XCTAssertEqual(reason(#"{"model_type": "distilbert", "id2label": {"zero": "A"}}"#)?.key, "id2label")
        XCTAssertEqual(reason(#"{"model_type": "distilbert", "id2label": {"0": "A", "2": "C"}}"#)?.reason,
                       "class indices must be 0..<2 without gaps, found 2")
        XCTAssertEqual(reason(#"{"model_type": "gpt2", "architectures": "GPT2Model"}"#)?.key, "architectures")
        XCTAssertEqual(reason(#"{"model_type": 3}"#)?.key, "model_type")

        guard case .invalidJSON? = expectFormatError({ try ModelConfig.parse("{\"model_type\": \"bert\",}") }) else {
            return XCTFail("trailing comma must be rejected")
        }
        guard case .invalidJSON? = expectFormatError({ try ModelConfig.parse("[1, 2]") }) else {
            return XCTFail("an array is not a config")
        }
        let dir = try makeTemporaryDirectory(self)
        guard case .cannotOpen? = expectFormatError({ try ModelConfig.load(directory: dir) }) else {
            return XCTFail("missing config.json")
        }
    }

    func testIdToLabelOrderingAndCodableRoundTrip() throws {
        let json = #"{"model_type": "bert", "id2label": {"2": "neutral", "0": "negative", "1": "positive"}}"#
        let config = try ModelConfig.parse(json)
        XCTAssertEqual(config.labels, ["negative", "positive", "neutral"])

        for original in [config, try ModelConfig.parse(Self.distilbertSST2), try ModelConfig.parse(Self.distilgpt2)] {
            let encoded = try JSONEncoder().encode(original)
            let decoded = try JSONDecoder().decode(ModelConfig.self, from: encoded)
            XCTAssertEqual(decoded, original)
            XCTAssertEqual(decoded.labels, original.labels)
        }
    }
}
