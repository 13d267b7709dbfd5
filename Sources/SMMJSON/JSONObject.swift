// A JSON object: members in source order, keys compared as bytes.
//
// Swift's `String ==` and `Dictionary<String, _>` compare by canonical equivalence, so "é" (U+00E9)
// and "e" + U+0301 would be one key; a WordPiece vocabulary may hold both as different tokens, and
// two tensors may be named that way. `JSONObject` keys them by their UTF-8 bytes instead.

/// A JSON object: keys in the order they were set, each once, compared by their UTF-8 bytes.
public struct JSONObject: Sendable, Equatable {
    /// The members in order.
    public private(set) var members: [(key: String, value: JSONValue)] = []
    /// Position of each key in `members`, built once the object outgrows a linear scan.
    private var index: [ByteKey: Int] = [:]
    private static let linearLimit = 8

    /// An empty object.
    public init() {}

    /// An object of `pairs`, in their order (a repeated key keeps its first position and its last value).
    public init(_ pairs: [(String, JSONValue)]) {
        members.reserveCapacity(pairs.count)
        for (key, value) in pairs { set(key, value) }
    }

    /// The number of members.
    public var count: Int { members.count }
    /// True when the object has no members.
    public var isEmpty: Bool { members.isEmpty }
    /// The keys in order.
    public var keys: [String] { members.map(\.key) }

    /// The value of `key`, or nil.
    public subscript(key: String) -> JSONValue? {
        position(of: key).map { members[$0].value }
    }

    /// Adds a member, or replaces the value of an existing key in place.
    /// - Returns: false when `key` was already present.
    @discardableResult
    public mutating func set(_ key: String, _ value: JSONValue) -> Bool {
        if let at = position(of: key) {
            members[at].value = value
            return false
        }
        members.append((key, value))
        if !index.isEmpty {
            index[ByteKey(key)] = members.count - 1
        } else if members.count > Self.linearLimit {
            for (i, member) in members.enumerated() { index[ByteKey(member.key)] = i }
        }
        return true
    }

    private func position(of key: String) -> Int? {
        if !index.isEmpty { return index[ByteKey(key)] }
        return members.firstIndex { ByteKey.equal($0.key, key) }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count
            && zip(a.members, b.members).allSatisfy { ByteKey.equal($0.key, $1.key) && $0.value == $1.value }
    }
}

/// A string hashed and compared by its UTF-8 bytes.
struct ByteKey: Hashable, Sendable {
    let string: String
    init(_ string: String) { self.string = string }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    static func == (a: ByteKey, b: ByteKey) -> Bool { equal(a.string, b.string) }

    static func equal(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8)
    }
}
