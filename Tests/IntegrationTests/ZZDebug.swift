import Foundation
import Testing
@Test func zzDebugStop() throws {
    let server = try ServerProcess.start()
    let f = ProcStatus.fields(pid: server.pid)!
    print("child", f["SigBlk"]!, f["SigIgn"]!, f["SigCgt"]!)
    let me = ProcStatus.fields(pid: getpid())!
    print("self", me["SigBlk"]!, me["SigIgn"]!, me["SigCgt"]!)
    server.stop()
}
