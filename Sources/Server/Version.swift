/// The one place the version lives: `--version`, `version` and `stats` read it from here.
public enum RingcacheVersion {
    /// ringcache's own semantic version.
    public static let semver = "0.1.0"
    /// The memcached release whose text protocol we speak.
    public static let memcachedProtocol = "1.6.18"
    /// What `version` answers and `stats` reports: clients that parse it see a 1.6 server.
    public static let protocolVersionString = "\(memcachedProtocol)-ringcache-\(semver)"
}
