import Foundation
import HTTPTypes
import LienThongCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request whose HTTP framing cannot be parsed (a bare CR in a header, two
/// `Content-Length`s, `Content-Length` with chunked, an oversized request line or header, bytes
/// that are not HTTP) with a typed X-Road error, 400 `Client.BadRequest` with the `X-Road-Error`
/// header and a `{type, message, detail}` body, and closes the connection.
///
/// Without it, the HTTP layer answers a bare `400` with no `X-Road-Error`. Add a new instance per
/// connection after the HTTP codec, through Hummingbird's `additionalChannelHandlers` (an
/// autoclosure, so each connection gets its own):
///
/// ```swift
/// server: .http1(configuration: .init(additionalChannelHandlers: [FramingErrorHandler()]))
/// ```
///
/// Both the central registry and the security server's listeners use it. It answers only when no
/// request on the connection is waiting for its response: an error in the middle of a request's
/// body goes on to that request's handler, which answers it.
public final class FramingErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    /// Request heads read whose response has not been completely written.
    private var awaitingResponse = 0
    private var answered = false

    /// Creates a handler for one connection.
    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) { self.awaitingResponse += 1 }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.awaitingResponse = max(0, self.awaitingResponse - 1) }
        context.write(data, promise: promise)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, self.awaitingResponse == 0, !self.answered else {
            context.fireErrorCaught(error)
            return
        }
        self.answered = true
        let type = "Client.BadRequest"
        let body = Self.body(type: type, message: "The request is not well-formed HTTP/1.1: \(error)")
        var fields = HTTPFields()
        if let name = HTTPField.Name("X-Road-Error") { fields[name] = type }
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.contentLength] = String(body.count)
        fields[.connection] = "close"
        context.write(self.wrapOutboundOut(.head(HTTPResponse(status: .badRequest, headerFields: fields))), promise: nil)
        context.write(self.wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// `{"detail":"<uuid>","message":…,"type":…}`, keys sorted, as the security server's X-Road
    /// faults are serialised.
    static func body(type: String, message: String) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = XRoadErrorBody(type: type, message: message, detail: UUID().uuidString.lowercased())
        return (try? encoder.encode(body)) ?? Data(#"{"type":"Client.BadRequest"}"#.utf8)
    }
}
