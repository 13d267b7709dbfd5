// Sentiment of headlines: one headline per line in, one label per headline and the mood out.
//
//   swift run HeadlineSentiment [--model ID-OR-PATH] FILE
//
// With all-MiniLM-L6-v2 (a sentence embedder) the labels are zero-shot; a model with a sentiment
// head (a DistilBERT fine-tuned on SST-2, converted with smm-convert) answers with its head.
import Foundation
import SmartModelManager

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("HeadlineSentiment: \(message)\n".utf8))
    exit(1)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var modelName = "all-MiniLM-L6-v2"
if arguments.first == "--model" {
    guard arguments.count >= 2 else { fail("--model needs a value") }
    modelName = arguments[1]
    arguments.removeFirst(2)
}
guard arguments.count == 1 else { fail("usage: HeadlineSentiment [--model ID-OR-PATH] FILE") }

do {
    let text = try String(contentsOfFile: arguments[0], encoding: .utf8)
    let headlines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
    let model = try await TextModel.load(modelName)
    let results = try await model.sentiment(headlines)
    if model.weightsAreRandom {
        print("WARNING: \(model.name) has random weights; these labels are not predictions")
    }
    for r in results {
        let label = r.label.padding(toLength: 8, withPad: " ", startingAt: 0)
        print(label + String(format: " %.2f  ", r.score) + r.text)
    }
    let mood = MarketMood(results: results)
    let shares = String(format: "%.0f%% positive, %.0f%% negative, %.0f%% neutral",
                        mood.positiveShare * 100, mood.negativeShare * 100, mood.neutralShare * 100)
    print("\n\(mood.count) headlines: \(shares); mood \(mood.mood) (\(results.first?.method.rawValue ?? "-"))")
} catch {
    fail(error.localizedDescription)
}
