// Semantic search: embed every line of a file once, then answer queries with the closest lines.
//
//   swift run SemanticSearch [--model ID-OR-PATH] [--top K] FILE QUERY...
//
// The model defaults to all-MiniLM-L6-v2 in the models folder (`swift run smm fetch` puts it there).
import Foundation
import SmartModelManager

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("SemanticSearch: \(message)\n".utf8))
    exit(1)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var modelName = "all-MiniLM-L6-v2"
var top = 3
while let first = arguments.first, first.hasPrefix("--") {
    arguments.removeFirst()
    guard let value = arguments.first else { fail("\(first) needs a value") }
    arguments.removeFirst()
    switch first {
    case "--model": modelName = value
    case "--top":
        guard let k = Int(value), k > 0 else { fail("--top needs a positive whole number, not '\(value)'") }
        top = k
    default: fail("unknown option \(first)")
    }
}
guard arguments.count >= 2 else { fail("usage: SemanticSearch [--model ID-OR-PATH] [--top K] FILE QUERY...") }

do {
    let text = try String(contentsOfFile: arguments[0], encoding: .utf8)
    let sentences = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
    let model = try await TextModel.load(modelName)
    let start = ContinuousClock.now
    let index = try await model.index(sentences)
    print("indexed \(index.count) sentences with \(model.name) (\(model.dimensions) dimensions) in \(ContinuousClock.now - start)")
    for query in arguments.dropFirst() {
        print("\nquery: \(query)")
        for hit in try await model.search(query, in: index, top: top) {
            print(String(format: "  %.3f  ", hit.score) + hit.item)
        }
    }
} catch {
    fail(error.localizedDescription)
}
