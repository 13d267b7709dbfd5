// One way in: a model reference (a catalog id, a `.smm` file, a Hugging Face directory, or none:
// the manager's choice for a task) becomes a loaded engine model. Every `smm` command goes through
// here; `EngineBackend.loadEngineModel` is the one call above the engine that loads model files.
import Foundation
import SMMFormat
import SMMModels

/// A model as a caller names it.
public enum ModelReference: Sendable, Hashable, CustomStringConvertible {
    /// A catalog model, by id.
    case catalog(String)
    /// A `.smm` file or a Hugging Face model directory.
    case path(URL)

    /// A path when `text` names an existing file or folder, contains a `/` or ends in `.smm`; else a
    /// catalog id.
    public init(_ text: String) {
        if text.contains("/") || text.hasSuffix(".smm") || FileManager.default.fileExists(atPath: text) {
            self = .path(URL(fileURLWithPath: text))
        } else {
            self = .catalog(text)
        }
    }

    /// The id or the path.
    public var description: String {
        switch self {
        case .catalog(let id): return id
        case .path(let url): return url.path
        }
    }
}

/// A model opened for direct use of the engine (its tokenizer, forward passes, generation), with
/// where it came from.
public struct OpenedModel: Sendable {
    /// The engine's model.
    public var model: LoadedModel
    /// The file or directory it was loaded from.
    public var location: URL
    /// Its catalog id, when it came from the catalog.
    public var catalogID: String?
    /// The manager's selection, when no model was named.
    public var selection: SelectionResult?
}

extension EngineBackend {
    /// Loads the Hugging Face directory or `.smm` file at `location`; `dtype` (f16, bf16, int8, q4)
    /// rounds or quantizes the weights at load as `smm-convert --dtype` would store them.
    /// - Throws: `ManagerError.modelUnavailable` when nothing is at `location`; the engine's errors
    ///   (`FormatError`, `ModelError`, `TokenizerError`) as they are, so that they name the file.
    /// - Parameters:
    ///   - location: a `.smm` file or a Hugging Face model directory.
    ///   - dtype: f16, bf16, int8 or q4 to round or quantize at load; nil keeps the weights as stored.
    ///   - verifyBody: for a `.smm` file, also check the body checksum (one pass over the file,
    ///     ~40 ms for MiniLM's 91 MB), so a file corrupted on disk is an error, not wrong answers.
    public static func loadEngineModel(at location: URL, dtype: ModelDType? = nil, verifyBody: Bool = false) throws -> LoadedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory) else {
            throw ManagerError.modelUnavailable(id: location.lastPathComponent, reason: "model not found: \(location.path)")
        }
        if verifyBody && !isDirectory.boolValue {
            return try ModelLoader.load(file: try SMMFile(path: location.path, options: SMMFileReadOptions(verifyBody: true)),
                                        dtype: dtype)
        }
        return try ModelLoader.load(path: location.path, dtype: dtype)
    }

    /// Builds the model stored in an opened `.smm` file (`smm inspect --time-load` times the two
    /// steps apart).
    public static func loadEngineModel(file: SMMFile, dtype: ModelDType? = nil) throws -> LoadedModel {
        try ModelLoader.load(file: file, dtype: dtype)
    }
}

extension ModelManager {
    /// Opens `reference` for direct engine use: a path is loaded as it is; a catalog id is loaded
    /// from the catalog's file; nil asks the manager to select a model for `task` first (the
    /// selection comes back with the model). `dtype` nil loads the weights as stored.
    /// - Throws: `ManagerError` (`unknownModel`, `modelUnavailable`, `noCandidate`) and the engine's
    ///   load errors.
    public func open(_ reference: ModelReference?, task: ModelTask, dtype: ModelDType? = nil) async throws -> OpenedModel {
        switch reference {
        case .path(let url):
            return OpenedModel(model: try EngineBackend.loadEngineModel(at: url, dtype: dtype), location: url,
                               catalogID: nil, selection: nil)
        case .catalog(let id):
            let info = try modelInfo(id)
            guard info.availability.isAvailable else {
                throw ManagerError.modelUnavailable(id: info.entry.id, reason: info.availability.reason ?? "file missing")
            }
            let url = info.availability.location
            return OpenedModel(model: try EngineBackend.loadEngineModel(at: url, dtype: dtype), location: url,
                               catalogID: info.entry.id, selection: nil)
        case nil:
            let result = try await selectOptimalModel(task: task)
            guard let chosen = result.chosen else {
                throw ManagerError.noCandidate(task: task.rawValue, reasons: result.rejections.map(\.summary))
            }
            let url = try modelInfo(chosen.key.id).availability.location
            return OpenedModel(model: try EngineBackend.loadEngineModel(at: url, dtype: dtype), location: url,
                               catalogID: chosen.key.id, selection: result)
        }
    }
}
