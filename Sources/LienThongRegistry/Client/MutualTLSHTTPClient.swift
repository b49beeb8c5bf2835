import AsyncHTTPClient
import NIOCore
import NIOSSL

/// The HTTP client both API clients use: mutual TLS 1.3 with a PEM certificate and key, trusting
/// the CA certificates of a PEM file, a 5 s connect timeout and no silent reconnection attempts.
public enum MutualTLSHTTPClient {
    /// A new client; the caller shuts it down.
    public static func make(certificateFile: String, keyFile: String, caFile: String) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}
