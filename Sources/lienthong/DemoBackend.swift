import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A small provider backend with synthetic records, for `lienthong demo` and `lienthong bench`:
/// `GET /v1/{so-dinh-danh}` answers a made-up citizen record (JSON); anything else echoes.
enum DemoBackend {
    /// Runs the backend on `port` while `body` runs.
    static func withRunning<T: Sendable>(port: Int, _ body: () async throws -> T) async throws -> T {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let target = request.head.path ?? "/"
            let id = target.split(separator: "/").last.map(String.init) ?? ""
            let json: String
            if target.hasPrefix("/v1/"), id.count == 12, id.allSatisfy(\.isNumber) {
                let names = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thu Dung"]
                let name = names[Int(id.suffix(2)).map { $0 % names.count } ?? 0]
                json = #"{"so_dinh_danh":"\#(id)","ho_ten":"\#(name)","ngay_sinh":"1990-01-01","noi_thuong_tru":"Hà Nội","nguon":"du-lieu-tong-hop-thu-nghiem"}"#
            } else {
                json = #"{"method":"\#(request.method.rawValue)","target":"\#(target)"}"#
            }
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        var logger = Logger(label: "demo-backend")
        logger.logLevel = .warning
        let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}
