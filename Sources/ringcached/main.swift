import Glibc
import Logging
import Server

/// ringcached: read flags and the config file, set up logging, run the node, exit with its status.

func readFile(_ path: String) throws -> String {
    guard let file = fopen(path, "r") else {
        throw ConfigurationError(String(cString: strerror(errno)))
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

func printError(_ text: String) {
    var line = "ringcached: \(text)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

let request: LaunchRequest
do {
    request = try LaunchOptions.parse(Array(CommandLine.arguments.dropFirst()), readFile: readFile)
} catch {
    printError(error.description)
    exit(64)
}

switch request {
case .help:
    print(LaunchOptions.helpText, terminator: "")
    exit(0)
case .version:
    print("ringcached \(RingcacheVersion.semver) (memcached protocol \(RingcacheVersion.memcachedProtocol))")
    exit(0)
case .license:
    print(LaunchOptions.licenseText, terminator: "")
    exit(0)
case .printConfig(let configuration, let warnings):
    for w in warnings { printError("warning: \(w)") }
    print(LaunchOptions.renderTOML(configuration), terminator: "")
    exit(0)
case .checkConfig(let path, _, let warnings):
    for w in warnings { printError("warning: \(w)") }
    print("ringcached: \(path): the configuration is valid")
    exit(0)
case .run(let configuration, let warnings):
    // One verbosity for the handler and the node: `verbosity N` changes what is logged.
    let verbosity = LogVerbosity(configuration.verbose)
    LoggingSystem.bootstrap { label in NodeLogHandler(label: label, verbosity: verbosity) }
    let logger = Logger(label: "ringcached")
    for w in warnings { logger.warning("\(w)") }
    exit(Server(configuration: configuration, logger: logger, verbosity: verbosity).run())
}
