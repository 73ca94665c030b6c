import Glibc
import Logging
import Synchronization

/// The node's verbosity, shared by the log handler and the `verbosity` command: memcached's `-v`
/// (0 quiet, 1 more, 2 every command and answer, 3 from `-vvv` at start), changed live.
public final class LogVerbosity: Sendable {
    private let level: Atomic<Int>

    public init(_ level: Int) {
        self.level = Atomic(max(0, min(level, 3)))
    }

    public var current: Int { level.load(ordering: .relaxed) }

    /// The `verbosity` command: memcached caps it at 2.
    public func set(_ level: Int) { self.level.store(max(0, min(level, 2)), ordering: .relaxed) }

    /// What swift-log lets through at this verbosity.
    var logLevel: Logger.Level {
        switch current {
        case 0: return .notice
        case 1: return .info
        case 2: return .debug
        default: return .trace
        }
    }
}

/// Writes log lines to stderr (journald under systemd), at the level the node's verbosity
/// allows now. Lines marked `NodeLogHandler.verbatim` are memcached's `-vv` protocol trace
/// (`<24 get x`, `>24 END`) and are written exactly as memcached writes them, so the tools that
/// read memcached's output read ours; every other line carries time, level and source.
public struct NodeLogHandler: LogHandler {
    /// Metadata that marks a memcached-format trace line.
    public static let verbatim: Logger.Metadata = ["format": "memcached"]

    private let label: String
    private let verbosity: LogVerbosity
    public var metadata: Logger.Metadata = [:]

    public init(label: String, verbosity: LogVerbosity) {
        self.label = label
        self.verbosity = verbosity
    }

    public var logLevel: Logger.Level {
        get { verbosity.logLevel }
        // The level follows the node's verbosity; `verbosity N` changes it for every logger.
        set {}
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        var text: String
        if metadata?["format"] == "memcached" {
            text = "\(message)\n"
        } else {
            var merged = self.metadata
            if let metadata { merged.merge(metadata) { $1 } }
            let tags = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            text = "\(NodeLogHandler.timestamp()) \(level) \(label):\(tags) [\(source)] \(message)\n"
        }
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
