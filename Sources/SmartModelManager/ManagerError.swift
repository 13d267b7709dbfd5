// The one error type of the manager. Every message says what went wrong and what to do about it.
import Foundation

/// Everything the manager can fail with. `description` is a complete, actionable sentence.
public enum ManagerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A setting has a value that cannot be used. `variable` names it as the caller set it: the
    /// environment variable (`MAX_MEMORY_USAGE`) or the `ManagerConfiguration` property (`fallbackModel`).
    case invalidConfiguration(variable: String, value: String, expected: String)
    /// The catalog file cannot be read or has an invalid entry.
    case invalidCatalog(path: String, reason: String)
    /// No model with this id is in the catalog.
    case unknownModel(id: String, known: [String])
    /// A model with this id is already registered.
    case duplicateModel(id: String)
    /// The model is in the catalog but cannot be used here (file missing, dtype unsupported…).
    case modelUnavailable(id: String, reason: String)
    /// No model satisfies the requirements; `reasons` lists why each one was rejected, each naming
    /// the model and the dtype (`Rejection.summary`).
    case noCandidate(task: String, reasons: [String])
    /// The model alone is larger than a memory limit. `model` names the model and dtype
    /// (`all-MiniLM-L6-v2 (int8)`); `variable` names the setting as the caller set it
    /// (`maxCacheSizeBytes` in code, `MAX_MODEL_CACHE_SIZE` from the environment).
    case exceedsBudget(model: String, bytes: Int, budget: Int, variable: String)
    /// The backend could not load the model.
    case loadFailed(model: String, reason: String)
    /// The model cannot do this task (e.g. generate with an encoder).
    case unsupportedTask(model: String, task: String)
    /// The input is unusable (empty text list, bad option).
    case invalidInput(String)
    /// The model failed while running.
    case inferenceFailed(model: String, reason: String)
    /// The machine is below a configured minimum (`minSystemMemoryBytes`, `minCPUCores`; their
    /// variables when read from the environment).
    case systemBelowMinimum(variable: String, required: String, available: String)
    /// The system could not be analysed.
    case systemAnalysisFailed(String)

    /// A sentence saying what went wrong and what to do about it.
    public var description: String {
        switch self {
        case let .invalidConfiguration(variable, value, expected):
            return "invalid \(variable) '\(value)': set it to \(expected), or leave it unset for the default"
        case let .invalidCatalog(path, reason):
            return "invalid model catalog \(path): \(reason)"
        case let .unknownModel(id, known):
            if known.isEmpty { return "unknown model '\(id)': the catalog is empty; register the model first" }
            return "unknown model '\(id)'; use one of the catalog's ids (\(known.joined(separator: ", "))) or register it"
        case let .duplicateModel(id):
            return "a model with id '\(id)' is already registered; pick another id or remove the old entry"
        case let .modelUnavailable(id, reason):
            return "model '\(id)' is unavailable: \(reason)"
        case let .noCandidate(task, reasons):
            if reasons.isEmpty {
                return "no model can serve task '\(task)': the catalog has no model for it; register one that lists the task, "
                    + "or map the task to a built-in one with mapTask"
            }
            return "no model can serve task '\(task)': \(reasons.joined(separator: "; "))"
        case let .exceedsBudget(model, bytes, budget, variable):
            let setting = variable.contains("(") ? "that limit" : variable
            return "model '\(model)' needs \(ByteFormat.string(bytes)) but \(variable) allows \(ByteFormat.string(budget)); "
                + "raise \(setting) or choose a smaller model or dtype"
        case let .loadFailed(model, reason):
            return "could not load model '\(model)': \(reason)"
        case let .unsupportedTask(model, task):
            return "model '\(model)' cannot do '\(task)'; pick a model whose catalog tasks include it"
        case let .invalidInput(message):
            return "invalid input: \(message)"
        case let .inferenceFailed(model, reason):
            return "model '\(model)' failed: \(reason)"
        case let .systemBelowMinimum(variable, required, available):
            return "this machine has \(available) but \(variable) requires \(required); lower \(variable) or use a larger machine"
        case let .systemAnalysisFailed(message):
            return "system analysis failed: \(message)"
        }
    }
}

extension ManagerError: LocalizedError {
    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }
}
