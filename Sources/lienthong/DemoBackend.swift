import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A small provider backend with SYNTHETIC records (made-up people; every answer says so in
/// `nguon`), for `lienthong demo` and `lienthong bench`: `GET /v1/{so-dinh-danh}` answers a
/// citizen record (population dataset) or a birth record (civil-status dataset); anything else echoes.
enum DemoBackend {
    /// Which dataset the backend serves.
    enum Dataset: String, Sendable {
        /// Cơ sở dữ liệu quốc gia về dân cư.
        case population
        /// Cơ sở dữ liệu hộ tịch (birth registrations).
        case civilStatus
    }

    /// Runs the backend on `port` while `body` runs.
    static func withRunning<T: Sendable>(port: Int, dataset: Dataset = .population, _ body: () async throws -> T) async throws -> T {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let target = request.head.path ?? "/"
            let id = target.split(separator: "/").last.map(String.init) ?? ""
            let json: String
            if target.hasPrefix("/v1/"), id.count == 12, id.allSatisfy(\.isNumber) {
                let names = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thu Dung", "Hoàng Minh Đức", "Vũ Ngọc Hà"]
                let places = ["Phường Hàng Bạc, Quận Hoàn Kiếm, Hà Nội", "Phường Hải Châu 1, Quận Hải Châu, Đà Nẵng",
                              "Xã Đông Anh, Huyện Đông Anh, Hà Nội", "Phường Thạc Gián, Quận Thanh Khê, Đà Nẵng"]
                let n = Int(id.suffix(3)) ?? 0
                let name = names[n % names.count]
                let place = places[n % places.count]
                let born = String(format: "19%02d-%02d-%02d", 60 + n % 40, 1 + n % 12, 1 + n % 28)
                switch dataset {
                case .population:
                    json = #"{"so_dinh_danh":"\#(id)","ho_ten":"\#(name)","ngay_sinh":"\#(born)","noi_thuong_tru":"\#(place)","nguon":"du-lieu-tong-hop-thu-nghiem (synthetic)"}"#
                case .civilStatus:
                    json = #"{"so_dinh_danh":"\#(id)","ho_ten":"\#(name)","ngay_sinh":"\#(born)","so_giay_khai_sinh":"\#(n)/\#(born.prefix(4))","noi_dang_ky":"UBND \#(place)","nguon":"du-lieu-tong-hop-thu-nghiem (synthetic)"}"#
                }
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
