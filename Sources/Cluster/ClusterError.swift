/// The Cluster module's one error type: what went wrong (`code`, for tests and callers that
/// react) and a sentence for the operator (`message`, ready to log or print).
public struct ClusterError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A `host:port[@peerport]` that does not parse.
        case badAddress
        /// The same node twice in one list (seeds, ring nodes).
        case duplicateNode
        /// This node's advertise address is not among the seeds.
        case notInSeeds
        /// The seed entry for this node names another peer port than the one it listens on.
        case peerPortMismatch
        /// More nodes than a ring can index.
        case tooManyNodes
        /// Asked for an impossible replica count.
        case badReplicaCount
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
