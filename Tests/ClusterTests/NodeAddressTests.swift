import Testing
@testable import Cluster

@Suite struct NodeAddressTests {
    struct Case: Sendable, CustomStringConvertible {
        let text: String
        let host: String
        let port: UInt16
        let peerPort: UInt16
        let advertise: String
        let ringName: String
        var description: String { text }
    }

    static let valid: [Case] = [
        Case(text: "127.0.0.1:11211", host: "127.0.0.1", port: 11211, peerPort: 21211, advertise: "127.0.0.1:11211", ringName: "127.0.0.1"),
        Case(text: "127.0.0.1:11212", host: "127.0.0.1", port: 11212, peerPort: 21212, advertise: "127.0.0.1:11212", ringName: "127.0.0.1:11212"),
        Case(text: "10.0.0.5:11211@30000", host: "10.0.0.5", port: 11211, peerPort: 30000, advertise: "10.0.0.5:11211", ringName: "10.0.0.5"),
        Case(text: "cache-1.example.com:7000", host: "cache-1.example.com", port: 7000, peerPort: 17000, advertise: "cache-1.example.com:7000", ringName: "cache-1.example.com:7000"),
        Case(text: "[::1]:11211@21211", host: "::1", port: 11211, peerPort: 21211, advertise: "[::1]:11211", ringName: "::1"),
        Case(text: "[fe80::1%eth0]:11300", host: "fe80::1%eth0", port: 11300, peerPort: 21300, advertise: "[fe80::1%eth0]:11300", ringName: "fe80::1%eth0:11300"),
        Case(text: "h:55535", host: "h", port: 55535, peerPort: 65535, advertise: "h:55535", ringName: "h:55535"),
        Case(text: "h:60000@1", host: "h", port: 60000, peerPort: 1, advertise: "h:60000", ringName: "h:60000"),
    ]

    @Test(arguments: valid)
    func parses(_ c: Case) throws {
        let a = try NodeAddress(parsing: c.text)
        #expect(a.host == c.host)
        #expect(a.port == c.port)
        #expect(a.peerPort == c.peerPort)
        #expect(a.advertise == c.advertise)
        #expect(a.ringName == c.ringName)
        // The description is the full form and parses back to the same address.
        #expect(try NodeAddress(parsing: a.description) == a)
    }

    static let invalid: [(String, String)] = [
        ("", "expected host:port"),
        ("localhost", "expected host:port"),
        (":11211", "no host"),
        ("h:", "port must be a number"),
        ("h:0", "port must be a number"),
        ("h:65536", "port must be a number"),
        ("h:11x", "port must be a number"),
        ("h:11211@", "peer port must be a number"),
        ("h:11211@70000", "peer port must be a number"),
        ("h:60000", "above 65535"),
        ("::1:11211", "IPv6 host in brackets"),
        ("[::1:11211", "needs its ']'"),
        ("[127.0.0.1]:11211", "only IPv6"),
        ("h st:11211", "only letters"),
        ("h/x:11211", "only letters"),
    ]

    @Test(arguments: invalid)
    func refuses(_ c: (String, String)) {
        do {
            let a = try NodeAddress(parsing: c.0)
            Issue.record("parsed '\(c.0)' as \(a)")
        } catch {
            #expect(error.code == .badAddress)
            #expect(error.message.contains(c.1), "message was: \(error.message)")
        }
    }

    @Test func listParsing() throws {
        let list = try NodeAddress.parseList(" 127.0.0.1:11211, 127.0.0.1:11212@31212 ,127.0.0.1:11213")
        #expect(list.map(\.description) == ["127.0.0.1:11211@21211", "127.0.0.1:11212@31212", "127.0.0.1:11213@21213"])

        #expect(throws: ClusterError.self) { try NodeAddress.parseList("a:1,,b:2") }
        do {
            _ = try NodeAddress.parseList("a:1,a:1@9")
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.code == .duplicateNode)
        }
    }

    @Test func memberwiseInit() throws {
        let a = try NodeAddress(host: "::1", port: 11211)
        #expect(a.advertise == "[::1]:11211")
        #expect(a.peerPort == 21211)
        #expect(throws: ClusterError.self) { try NodeAddress(host: "", port: 1) }
        #expect(throws: ClusterError.self) { try NodeAddress(host: "h", port: 0) }
    }

    @Test func ordering() {
        let sorted = ["b:1", "a:11212", "a:9000", "a:11211"].map(address).sorted().map(\.advertise)
        #expect(sorted == ["a:9000", "a:11211", "a:11212", "b:1"])
    }
}
