import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request whose HTTP framing cannot be parsed (a bare CR in a header, two
/// `Content-Length`s, `Content-Length` with chunked, an oversized header, bytes that are not HTTP)
/// with a typed X-Road error, `Client.BadRequest` with a `{type, message, detail}` body, and
/// closes the connection.
///
/// Without it, the HTTP layer answers a bare `400` with no `X-Road-Error`. It sits after the HTTP
/// codec. It answers only when no request on the connection is waiting for its response: an
/// error in the middle of a request's body goes on to that request's handler, which answers it.
final class FramingErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Request heads read whose response has not been completely written.
    private var awaitingResponse = 0
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) { self.awaitingResponse += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.awaitingResponse = max(0, self.awaitingResponse - 1) }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, self.awaitingResponse == 0, !self.answered else {
            context.fireErrorCaught(error)
            return
        }
        self.answered = true
        let fault = XRoadFault(.badRequest, "The request is not well-formed HTTP/1.1: \(error)")
        let body = fault.jsonBody()
        var fields = HTTPFields()
        for (name, value) in fault.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        fields[.contentLength] = String(body.count)
        fields[.connection] = "close"
        context.write(self.wrapOutboundOut(.head(HTTPResponse(status: .init(code: fault.httpStatus), headerFields: fields))), promise: nil)
        context.write(self.wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
