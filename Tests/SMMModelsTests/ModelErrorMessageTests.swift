// ModelError read by a user: the tensor, its dtype or shape, and what to do, through
// `localizedDescription` (the same text as `description`).
import Foundation
import SMMModels
import XCTest

final class ModelErrorMessageTests: XCTestCase {
    private func text(_ error: ModelError, file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertEqual(error.localizedDescription, error.description, file: file, line: line)
        XCTAssertEqual((error as any Error).localizedDescription, error.description, file: file, line: line)
        return error.localizedDescription
    }

    func testTensorCasesNameTheTensorTheValueAndTheFix() {
        XCTAssertEqual(text(.missingTensor(name: "pooler.dense.weight", model: "BertForSequenceClassification")),
                       "tensor 'pooler.dense.weight' is missing from the BertForSequenceClassification checkpoint; the "
                       + "checkpoint is incomplete or its config.json names another architecture: use the weights and "
                       + "config.json of one model")
        XCTAssertEqual(text(.wrongShape(name: "wte.weight", expected: [50257, 768], actual: [50257, 1024])),
                       "tensor 'wte.weight' has shape [50257, 1024], expected [50257, 768] from config.json; the weights "
                       + "and config.json are of different models: use the config.json that came with the weights")
        XCTAssertEqual(text(.unsupportedDType(name: "embeddings.position_ids", dtype: "I64")),
                       "tensor 'embeddings.position_ids' has dtype I64, which the engine cannot use; convert the checkpoint "
                       + "to F32, F16 or BF16 (or to an .smm file with smm-convert)")
    }

    func testOtherCasesKeepTheirReason() {
        XCTAssertEqual(text(.unsupportedModel("hidden_act 'swiglu' is not supported")),
                       "unsupported model: hidden_act 'swiglu' is not supported")
        XCTAssertEqual(text(.invalidInput("token id 99999 is outside the vocabulary of 30522")),
                       "invalid input: token id 99999 is outside the vocabulary of 30522")
        XCTAssertEqual(text(.missingHead("this model has no classifier head; use embed")), "this model has no classifier head; use embed")
        XCTAssertEqual(text(.nonFiniteOutput("logits")),
                       "the model produced NaN or infinite logits: its weights hold non-finite values (a corrupt "
                       + "checkpoint; for an .smm file, smm inspect --verify checks it)")
    }
}
