import AsyncHTTPClient
import Foundation
import LienThongCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// Calls a provider's backend over HTTP(S), streaming the request body from its spool and the
/// response body into a new one.
public struct BackendClient: Sendable {
    /// How a backend call failed.
    public enum Failure: Error, Sendable, Hashable {
        /// No connection could be made.
        case unreachable(String)
        /// No complete answer within the timeout.
        case timeout(seconds: Double)
        /// The answer's body was larger than the limit.
        case responseTooLarge(limit: Int)
        /// Anything else: reset connections, malformed answers.
        case failed(String)
    }

    /// The backend's answer.
    public struct Answer: Sendable {
        /// HTTP status.
        public var status: Int
        /// Response headers (hop-by-hop ones removed).
        public var headers: [(name: String, value: String)]
        /// The body.
        public var body: SpooledBody
    }

    private let http: HTTPClient

    /// Creates a client on `http` (owned by the caller).
    public init(http: HTTPClient) {
        self.http = http
    }

    /// Makes an HTTP client suited to backends: no retrying of failed connections (a dead
    /// backend must fail fast), bounded connect time.
    public static func makeHTTPClient(connectTimeout: Double) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .milliseconds(Int64(connectTimeout * 1000))
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Calls `baseURL` + `path` with `method`, `headers` and `body`.
    ///
    /// - Parameters:
    ///   - timeout: the deadline for the whole call, body included.
    ///   - responseLimits: where and how large the response body may be spooled.
    public func call(
        baseURL: String, path: String, method: String, headers: [(name: String, value: String)], body: SpooledBody,
        timeout: Double, responseLimits: BodySpoolLimits
    ) async throws(Failure) -> Answer {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var request = HTTPClientRequest(url: base + path)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if body.byteCount > 0 || !["GET", "HEAD", "DELETE", "OPTIONS"].contains(method.uppercased()) {
            request.body = .stream(body.chunks(), length: .known(Int64(body.byteCount)))
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        let http = self.http
        let prepared = request
        do {
            return try await withThrowingTaskGroup(of: Answer?.self) { group in
                group.addTask {
                    let response = try await http.execute(prepared, deadline: deadline)
                    var spooler = BodySpooler(limits: responseLimits)
                    for try await chunk in response.body {
                        try spooler.append(chunk)
                    }
                    let headers = response.headers.map { (name: $0.name, value: $0.value) }
                        .filter { !XRoadHeader.hopByHopHeaders.contains($0.name.lowercased()) && $0.name.lowercased() != "content-length" }
                    return Answer(status: Int(response.status.code), headers: headers, body: try spooler.finish())
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let answer = first else {
                    throw Failure.timeout(seconds: timeout)
                }
                return answer
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as BodySpoolError {
            if case .tooLarge(let limit) = error { throw .responseTooLarge(limit: limit) }
            throw .failed("\(error)")
        } catch let error as HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout { throw .timeout(seconds: timeout) }
            if error == .connectTimeout { throw .unreachable("connection timed out") }
            throw .failed("\(error)")
        } catch {
            if "\(error)".contains("connect") || error is NIOConnectionError { throw .unreachable("\(error)") }
            throw .failed("\(error)")
        }
    }
}
