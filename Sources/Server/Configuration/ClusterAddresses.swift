import Cluster

/// Checks of the cluster addresses a configuration gives, shared by the option parser (so
/// `--print-config` refuses what the node would) and the node's start.
enum ClusterAddresses {
    /// Every seed parses as `host:port[@peerport]` and names a distinct node.
    static func checkSeeds(_ seeds: [String]) throws(ConfigurationError) {
        var parsed: [NodeAddress] = []
        for seed in seeds {
            do throws(ClusterError) {
                parsed.append(try NodeAddress(parsing: seed))
            } catch {
                throw ConfigurationError("seeds: \(error.message)")
            }
        }
        do throws(ClusterError) {
            try NodeAddress.checkDistinct(parsed)
        } catch {
            throw ConfigurationError("seeds: \(error.message)")
        }
    }

    /// Whether `host` (a listen address) is loopback only: 127.0.0.0/8, ::1, localhost.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let parts = host.split(separator: ".")
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
