import Foundation
import LienThongCore
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a ``BodySpooler`` keeps a message body: the size limit, when it moves to a file, and where.
public struct BodySpoolLimits: Sendable, Hashable {
    /// The largest body accepted, in bytes; one byte more fails with ``BodySpoolError/tooLarge(limit:)``.
    public var maximumSize: Int
    /// Bodies of at most this many bytes stay in memory; larger ones go to a spool file.
    public var memoryThreshold: Int
    /// The spool file is written in blocks of at least this many bytes (only the last may be smaller),
    /// so that a body streamed in small chunks is not written to disk in small pieces.
    public var fileWriteSize: Int
    /// The directory where spool files are created.
    public var directory: URL

    /// Limits for bodies of at most `maximumSize` bytes.
    ///
    /// - parameters:
    ///     - maximumSize: The largest body accepted, in bytes.
    ///     - memoryThreshold: Bodies up to this size stay in memory (default 1 MiB).
    ///     - fileWriteSize: The smallest block written to a spool file, except the last (default 1 MiB).
    ///     - directory: Where spool files go (default: the temporary directory).
    public init(
        maximumSize: Int,
        memoryThreshold: Int = 1 << 20,
        fileWriteSize: Int = 1 << 20,
        directory: URL = FileManager.default.temporaryDirectory
    ) {
        self.maximumSize = maximumSize
        self.memoryThreshold = memoryThreshold
        self.fileWriteSize = fileWriteSize
        self.directory = directory
    }
}

/// Why a body could not be spooled or read back.
public enum BodySpoolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The body is longer than `limit` bytes.
    case tooLarge(limit: Int)
    /// The spool file could not be created, written or read; the text says why.
    case io(String)

    /// A sentence for logs and error bodies.
    public var description: String {
        switch self {
        case .tooLarge(let limit): "the body is larger than the limit of \(limit) bytes"
        case .io(let reason): "spooling the body failed: \(reason)"
        }
    }
}

/// Receives a message body chunk by chunk and keeps it whole, in memory if it is small and in a
/// private spool file otherwise, computing its SHA-256 and ``XRoadRequestHasher`` on the way.
///
/// ``append(_:)`` and ``finish()`` may write one block to the spool file, a blocking system call:
/// call them from a task, never on an event loop thread. A spool file left behind by an abandoned
/// or failed spooler is removed as soon as the spooler is released.
public struct BodySpooler {
    private let limits: BodySpoolLimits
    private var pending = ByteBuffer()
    private var file: SpoolFile?
    private var digester = BodyDigester()
    private var hasher = XRoadRequestHasher()
    private var byteCount = 0
    private var failure: BodySpoolError?
    private var finished = false
    /// The size of every write to the spool file so far, for tests.
    internal private(set) var fileWriteSizes: [Int] = []

    /// An empty spooler.
    ///
    /// - parameters:
    ///     - limits: The size limit and where large bodies go.
    public init(limits: BodySpoolLimits) {
        self.limits = limits
    }

    /// Adds the next chunk of the body.
    ///
    /// - parameters:
    ///     - chunk: The next bytes.
    /// - throws: ``BodySpoolError/tooLarge(limit:)`` when the body grows past the limit (the spool
    ///   file is removed and the spooler stays failed), or ``BodySpoolError/io(_:)``.
    public mutating func append(_ chunk: ByteBuffer) throws(BodySpoolError) {
        if let failure { throw failure }
        guard !self.finished else { throw BodySpoolError.io("the spooler was already finished") }
        guard chunk.readableBytes <= self.limits.maximumSize - self.byteCount else {
            throw self.fail(.tooLarge(limit: self.limits.maximumSize))
        }
        chunk.withUnsafeReadableBytes { bytes in
            self.digester.update(bytes)
            self.hasher.update(bytes)
        }
        self.byteCount += chunk.readableBytes
        var chunk = chunk
        self.pending.writeBuffer(&chunk)
        do {
            if self.file == nil, self.pending.readableBytes > self.limits.memoryThreshold {
                self.file = try SpoolFile(directory: self.limits.directory)
            }
            if self.file != nil, self.pending.readableBytes >= max(1, self.limits.fileWriteSize) {
                try self.flushPending()
            }
        } catch {
            throw self.fail(error)
        }
    }

    /// Ends the body and hands it over.
    ///
    /// - returns: The whole body, in memory or backed by the spool file.
    /// - throws: ``BodySpoolError/io(_:)`` if the last block cannot be written, or the error that
    ///   failed an earlier ``append(_:)``.
    public mutating func finish() throws(BodySpoolError) -> SpooledBody {
        if let failure { throw failure }
        guard !self.finished else { throw BodySpoolError.io("the spooler was already finished") }
        self.finished = true
        let storage: SpooledBody.Storage
        if let file = self.file {
            do {
                try self.flushPending()
            } catch {
                throw self.fail(error)
            }
            storage = .file(file)
            self.file = nil
        } else {
            storage = .memory(self.pending)
            self.pending = ByteBuffer()
        }
        return SpooledBody(storage: storage, byteCount: self.byteCount,
                           sha256: self.digester.finalize(), requestHasher: self.hasher)
    }

    private mutating func flushPending() throws(BodySpoolError) {
        guard let file = self.file, self.pending.readableBytes > 0 else { return }
        try file.write(self.pending)
        self.fileWriteSizes.append(self.pending.readableBytes)
        self.pending.clear()
    }

    /// Records `error`, drops the buffered bytes and the spool file (which unlinks it), and returns it.
    private mutating func fail(_ error: BodySpoolError) -> BodySpoolError {
        self.failure = error
        self.pending = ByteBuffer()
        self.file = nil
        return error
    }
}

/// A whole message body, received by a ``BodySpooler`` or made from bytes in memory.
///
/// Copies share the storage; a spool file is removed when the last copy is released.
public struct SpooledBody: Sendable {
    enum Storage: Sendable {
        case memory(ByteBuffer)
        case file(SpoolFile)
    }

    let storage: Storage

    /// The body length in bytes.
    public let byteCount: Int
    /// The SHA-256 digest of the body.
    public let sha256: MessageDigest
    /// An ``XRoadRequestHasher`` that has been fed the body; finalise it with the header part.
    public let requestHasher: XRoadRequestHasher

    /// The empty body.
    public static let empty = SpooledBody(bytes: EmptyCollection<UInt8>())

    init(storage: Storage, byteCount: Int, sha256: MessageDigest, requestHasher: XRoadRequestHasher) {
        self.storage = storage
        self.byteCount = byteCount
        self.sha256 = sha256
        self.requestHasher = requestHasher
    }

    /// A body held in memory.
    ///
    /// - parameters:
    ///     - bytes: The body bytes.
    public init(bytes: some Collection<UInt8>) {
        self.init(buffer: ByteBuffer(bytes: bytes))
    }

    /// A body held in memory.
    ///
    /// - parameters:
    ///     - buffer: The body: the readable bytes of `buffer`.
    public init(buffer: ByteBuffer) {
        var digester = BodyDigester()
        var hasher = XRoadRequestHasher()
        buffer.withUnsafeReadableBytes { bytes in
            digester.update(bytes)
            hasher.update(bytes)
        }
        self.init(storage: .memory(buffer), byteCount: buffer.readableBytes,
                  sha256: digester.finalize(), requestHasher: hasher)
    }

    /// Whether the body is held in memory rather than in a spool file.
    public var isInMemory: Bool {
        if case .memory = self.storage { return true }
        return false
    }

    /// The spool file's path, for tests; `nil` for a body in memory.
    var spoolFilePath: String? {
        if case .file(let file) = self.storage { return file.path }
        return nil
    }

    /// The body in pieces of at most `size` bytes, for streaming it out.
    ///
    /// A spooled body is read back with `pread` on `NIOThreadPool.singleton`, so iterating never
    /// blocks the calling thread or an event loop. The sequence can be iterated any number of times.
    ///
    /// - parameters:
    ///     - size: The largest piece, in bytes (at least 1).
    public func chunks(size: Int = 64 * 1024) -> SpooledBodyChunks {
        SpooledBodyChunks(storage: self.storage, byteCount: self.byteCount, chunkSize: max(1, size))
    }

    /// The whole body in one buffer.
    ///
    /// - parameters:
    ///     - maximum: The largest body the caller accepts in memory.
    /// - throws: ``BodySpoolError/tooLarge(limit:)`` if the body is longer than `maximum`, or
    ///   ``BodySpoolError/io(_:)`` if the spool file cannot be read.
    public func collect(upTo maximum: Int) async throws(BodySpoolError) -> ByteBuffer {
        guard self.byteCount <= maximum else { throw BodySpoolError.tooLarge(limit: maximum) }
        switch self.storage {
        case .memory(let buffer):
            return buffer
        case .file(let file):
            return try await file.readOffEventLoop(offset: 0, count: self.byteCount)
        }
    }
}

/// The pieces of a ``SpooledBody``, from ``SpooledBody/chunks(size:)``.
public struct SpooledBodyChunks: AsyncSequence, Sendable {
    /// A piece of the body.
    public typealias Element = ByteBuffer
    /// Reading the spool file failed.
    public typealias Failure = BodySpoolError

    let storage: SpooledBody.Storage
    let byteCount: Int
    let chunkSize: Int

    /// Starts at the first byte.
    public func makeAsyncIterator() -> Iterator {
        Iterator(storage: self.storage, byteCount: self.byteCount, chunkSize: self.chunkSize)
    }

    /// Walks the body front to back.
    public struct Iterator: AsyncIteratorProtocol {
        let storage: SpooledBody.Storage
        let byteCount: Int
        let chunkSize: Int
        var offset = 0

        /// The next piece, or `nil` at the end.
        public mutating func next() async throws(BodySpoolError) -> ByteBuffer? {
            guard self.offset < self.byteCount else { return nil }
            let count = Swift.min(self.chunkSize, self.byteCount - self.offset)
            let piece: ByteBuffer
            switch self.storage {
            case .memory(let buffer):
                guard let slice = buffer.getSlice(at: buffer.readerIndex + self.offset, length: count) else {
                    throw BodySpoolError.io("the in-memory body is shorter than its recorded length")
                }
                piece = slice
            case .file(let file):
                piece = try await file.readOffEventLoop(offset: self.offset, count: count)
            }
            self.offset += count
            return piece
        }
    }
}

/// A spool file, created `0600`, open for reading and writing; closed and unlinked on `deinit`.
///
/// Writes happen only while the owning ``BodySpooler`` holds the sole reference; once a
/// ``SpooledBody`` owns it, it is only read with `pread`, which does not move the file offset, so
/// concurrent readers do not interfere. Every stored property is immutable.
final class SpoolFile: Sendable {
    let path: String
    private let descriptor: CInt

    init(directory: URL) throws(BodySpoolError) {
        let path = directory.appendingPathComponent("lienthong-spool-\(UUID().uuidString).body").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw BodySpoolError.io("cannot create \(path): \(Self.lastError())")
        }
        // `open` honours the umask, which can only remove bits; make the mode exact anyway.
        guard fchmod(descriptor, 0o600) == 0 else {
            let reason = Self.lastError()
            close(descriptor)
            unlink(path)
            throw BodySpoolError.io("cannot set the mode of \(path): \(reason)")
        }
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(self.descriptor)
        unlink(self.path)
    }

    /// Appends the readable bytes of `buffer` (blocking).
    func write(_ buffer: ByteBuffer) throws(BodySpoolError) {
        let failure: String? = buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return nil }
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(self.descriptor, base.advanced(by: offset), bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return Self.lastError()
                }
                if written == 0 { return "the write made no progress" }
                offset += written
            }
            return nil
        }
        if let failure { throw BodySpoolError.io("cannot write \(self.path): \(failure)") }
    }

    /// Reads `count` bytes at `offset` (blocking).
    func read(offset: Int, count: Int) throws(BodySpoolError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failure: String?
        let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            guard let base = bytes.baseAddress else { return 0 }
            var done = 0
            while done < count {
                let n = pread(self.descriptor, base.advanced(by: done), count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = Self.lastError()
                    return done
                }
                if n == 0 {
                    failure = "the file ends before byte \(offset + count)"
                    return done
                }
                done += n
            }
            return done
        }
        if let failure { throw BodySpoolError.io("cannot read \(self.path): \(failure)") }
        guard got == count else { throw BodySpoolError.io("cannot read \(self.path): short read") }
        return buffer
    }

    /// Reads `count` bytes at `offset` on `NIOThreadPool.singleton`.
    func readOffEventLoop(offset: Int, count: Int) async throws(BodySpoolError) -> ByteBuffer {
        do {
            return try await NIOThreadPool.singleton.runIfActive { try self.read(offset: offset, count: count) }
        } catch let error as BodySpoolError {
            throw error
        } catch is CancellationError {
            throw BodySpoolError.io("reading \(self.path) was cancelled")
        } catch {
            throw BodySpoolError.io("cannot read \(self.path): \(error)")
        }
    }

    private static func lastError() -> String {
        String(cString: strerror(errno))
    }
}
