import Foundation
import Testing
@Test func zzDebugStop() throws {
    let t0 = Date()
    let server = try ServerProcess.start()
    print("started", Date().timeIntervalSince(t0))
    let c = try server.connect()
    print("alive", c.isAlive(), Date().timeIntervalSince(t0))
    let t1 = Date()
    server.stop()
    print("stopped", Date().timeIntervalSince(t1))
}
