import CZlib
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why making or reading an audit archive failed.
public struct AuditArchiveError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Hashable {
        /// A file or directory could not be read or written (missing, permissions, disk full).
        case io
        /// Compressed data is not valid gzip, or a record line is not what it should be.
        case malformed
        /// The audit store could not be read or refused the archive entry.
        case store
        /// The manifest could not be signed.
        case signing
    }

    /// The code.
    public var code: Code
    /// A sentence for the operator.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// The size of the chunks archive files are read, compressed and written in.
let archiveChunkSize = 64 * 1024

/// A file opened with POSIX calls, so that it can be fsync'ed and errors are explicit.
final class ArchiveFileDescriptor {
    let fd: Int32
    let path: String
    private var closed = false

    /// Opens `path` for reading.
    static func openForReading(_ path: String) throws(AuditArchiveError) -> ArchiveFileDescriptor {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditArchiveError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        return ArchiveFileDescriptor(fd: fd, path: path)
    }

    /// Creates (or truncates) `path` for writing, mode 0640.
    static func create(_ path: String) throws(AuditArchiveError) -> ArchiveFileDescriptor {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AuditArchiveError(.io, "cannot create \(path): \(String(cString: strerror(errno)))") }
        return ArchiveFileDescriptor(fd: fd, path: path)
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { if !closed { _ = close(fd) } }

    /// Reads up to `count` bytes; an empty answer is the end of the file.
    func read(upTo count: Int) throws(AuditArchiveError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, count) }
            if n >= 0 { buffer.removeSubrange(n...); return buffer }
            if errno == EINTR { continue }
            throw AuditArchiveError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) throws(AuditArchiveError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in posixWrite(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset) }
            if n > 0 { offset += n; continue }
            if n < 0, errno == EINTR { continue }
            throw AuditArchiveError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Flushes the file to stable storage.
    func sync() throws(AuditArchiveError) {
        guard fsync(fd) == 0 else { throw AuditArchiveError(.io, "cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }

    /// Closes the file, reporting a failure (which can be a delayed write error).
    func closeChecked() throws(AuditArchiveError) {
        closed = true
        guard close(fd) == 0 else { throw AuditArchiveError(.io, "cannot close \(path): \(String(cString: strerror(errno)))") }
    }

    /// Fsyncs the directory at `path`, so that renames and creations in it are durable.
    static func syncDirectory(_ path: String) throws(AuditArchiveError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditArchiveError(.io, "cannot open directory \(path): \(String(cString: strerror(errno)))") }
        defer { _ = close(fd) }
        guard fsync(fd) == 0 else { throw AuditArchiveError(.io, "cannot fsync directory \(path): \(String(cString: strerror(errno)))") }
    }

    /// Writes `bytes` to `path` durably: a temporary file, fsync'ed, renamed into place (the caller
    /// fsyncs the directory).
    static func writeDurably(_ bytes: [UInt8], to path: String) throws(AuditArchiveError) {
        let temporary = path + ".tmp"
        let file = try create(temporary)
        try file.write(bytes)
        try file.sync()
        try file.closeChecked()
        try rename(temporary, to: path)
    }

    /// Renames `from` to `to`, replacing it.
    static func rename(_ from: String, to: String) throws(AuditArchiveError) {
        guard posixRename(from, to) == 0 else {
            throw AuditArchiveError(.io, "cannot rename \(from) to \(to): \(String(cString: strerror(errno)))")
        }
    }
}

// The C functions under names that do not clash with the methods above.
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
private func posixRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }

/// Streams bytes into a gzip (RFC 1952) file: deflate with zlib's gzip wrapper (window bits 31),
/// in bounded chunks, hashing the compressed bytes as they are written.
final class GzipFileWriter {
    private let stream: UnsafeMutablePointer<z_stream>
    private let file: ArchiveFileDescriptor
    private var output = [UInt8](repeating: 0, count: archiveChunkSize)
    private var ended = false
    /// SHA-256 of the compressed bytes written so far.
    private(set) var compressedHash = SHA256()
    /// SHA-256 of the uncompressed bytes taken so far.
    private(set) var contentHash = SHA256()

    /// Starts a gzip stream into `file`.
    init(file: ArchiveFileDescriptor) throws(AuditArchiveError) {
        self.file = file
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = deflateInit2_(stream, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            ended = true
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw AuditArchiveError(.io, "zlib cannot start compressing (\(status))")
        }
    }

    deinit {
        if !ended { deflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `bytes` into the file.
    func write(_ bytes: [UInt8]) throws(AuditArchiveError) {
        contentHash.update(data: bytes)
        try run(bytes, flush: Z_NO_FLUSH)
    }

    /// Ends the gzip stream (its trailer: CRC-32 and length) and writes what is left.
    func finish() throws(AuditArchiveError) {
        try run([], flush: Z_FINISH)
        deflateEnd(stream)
        ended = true
    }

    private func run(_ input: [UInt8], flush: Int32) throws(AuditArchiveError) {
        var offset = 0
        while true {
            let (status, consumed, produced) = input.withUnsafeBytes { inputBuffer in
                output.withUnsafeMutableBytes { outputBuffer -> (Int32, Int, Int) in
                    let available = inputBuffer.count - offset
                    stream.pointee.next_in = inputBuffer.baseAddress.map {
                        UnsafeMutablePointer(mutating: ($0 + offset).assumingMemoryBound(to: Bytef.self))
                    }
                    stream.pointee.avail_in = uInt(available)
                    stream.pointee.next_out = outputBuffer.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(outputBuffer.count)
                    let status = deflate(stream, flush)
                    return (status, available - Int(stream.pointee.avail_in), outputBuffer.count - Int(stream.pointee.avail_out))
                }
            }
            offset += consumed
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw AuditArchiveError(.io, "zlib cannot compress (\(status))")
            }
            if produced > 0 {
                let chunk = Array(output[0..<produced])
                compressedHash.update(data: chunk)
                try file.write(chunk)
            }
            if flush == Z_FINISH {
                if status == Z_STREAM_END { return }
            } else if offset == input.count && produced < output.count {
                return
            }
        }
    }
}

/// Reads a gzip (RFC 1952) archive file back line by line, in bounded chunks: inflate with zlib
/// (window bits 31), hashing the compressed bytes read and the uncompressed content.
final class GzipLineReader {
    /// The longest line accepted (a record is far smaller).
    static let maximumLineLength = 64 << 20

    private let stream: UnsafeMutablePointer<z_stream>
    private let file: ArchiveFileDescriptor
    private var input: [UInt8] = []
    private var inputOffset = 0
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var streamEnded = false
    private var fileEnded = false
    private var ended = false
    /// A decompression failure held back until the complete lines before it are handed out.
    private var failure: AuditArchiveError?
    /// SHA-256 of the compressed bytes read so far.
    private(set) var compressedHash = SHA256()
    /// SHA-256 of the uncompressed bytes produced so far.
    private(set) var contentHash = SHA256()

    /// Starts reading the gzip file `file`.
    init(file: ArchiveFileDescriptor) throws(AuditArchiveError) {
        self.file = file
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, 31, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            ended = true
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw AuditArchiveError(.io, "zlib cannot start decompressing (\(status))")
        }
    }

    deinit {
        if !ended { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// The next line without its newline, or `nil` at the end of the content. The complete lines
    /// before a damaged spot are handed out before the damage is reported.
    ///
    /// - Throws: ``AuditArchiveError`` if the file cannot be read, is not valid gzip (bad data,
    ///   checksum or length, truncated, trailing bytes), or its content does not end in a newline.
    func nextLine() throws(AuditArchiveError) -> [UInt8]? {
        while true {
            if let newline = pending[pendingOffset...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[pendingOffset..<newline])
                pendingOffset = newline + 1
                if pendingOffset > archiveChunkSize { pending.removeSubrange(0..<pendingOffset); pendingOffset = 0 }
                return line
            }
            guard pending.count - pendingOffset <= Self.maximumLineLength else {
                throw AuditArchiveError(.malformed, "a line is longer than \(Self.maximumLineLength) bytes")
            }
            if let failure { throw failure }
            if streamEnded {
                guard pendingOffset == pending.count else {
                    throw AuditArchiveError(.malformed, "the content ends in the middle of a line (truncated)")
                }
                return nil
            }
            do { try inflateMore() } catch { failure = error }
        }
    }

    /// Inflates one chunk of output into ``pending``.
    private func inflateMore() throws(AuditArchiveError) {
        if inputOffset == input.count {
            guard !fileEnded else { throw AuditArchiveError(.malformed, "the gzip stream is truncated") }
            input = try file.read(upTo: archiveChunkSize)
            inputOffset = 0
            if input.isEmpty { fileEnded = true; throw AuditArchiveError(.malformed, "the gzip stream is truncated") }
            compressedHash.update(data: input)
        }
        var output = [UInt8](repeating: 0, count: archiveChunkSize)
        let (status, consumed, produced) = input.withUnsafeMutableBytes { inputBuffer in
            output.withUnsafeMutableBytes { outputBuffer -> (Int32, Int, Int) in
                let available = inputBuffer.count - inputOffset
                stream.pointee.next_in = inputBuffer.baseAddress.map { ($0 + inputOffset).assumingMemoryBound(to: Bytef.self) }
                stream.pointee.avail_in = uInt(available)
                stream.pointee.next_out = outputBuffer.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(outputBuffer.count)
                let status = inflate(stream, Z_NO_FLUSH)
                return (status, available - Int(stream.pointee.avail_in), outputBuffer.count - Int(stream.pointee.avail_out))
            }
        }
        inputOffset += consumed
        if produced > 0 {
            output.removeSubrange(produced...)
            contentHash.update(data: output)
            pending.append(contentsOf: output)
        }
        switch status {
        case Z_OK:
            return
        case Z_BUF_ERROR where consumed == 0 && produced == 0:
            // Needs more input: the next call reads it (or finds the file truncated).
            return
        case Z_STREAM_END:
            streamEnded = true
            // Nothing may follow the one gzip member.
            if inputOffset < input.count { throw AuditArchiveError(.malformed, "bytes follow the end of the gzip stream") }
            let rest = try file.read(upTo: 1)
            if !rest.isEmpty { compressedHash.update(data: rest); throw AuditArchiveError(.malformed, "bytes follow the end of the gzip stream") }
        default:
            let reason = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
            throw AuditArchiveError(.malformed, "the gzip data is damaged (\(reason))")
        }
    }
}
