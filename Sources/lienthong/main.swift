import ArgumentParser
import Dispatch
import Foundation
import NIOCore
import NIOPosix

// Swift concurrency runs on NIO's event loops (the singleton group), installed before any task
// starts: a request's handler then runs where its I/O happens, without the thread switch between
// NIO's threads and the concurrency pool for every await (docs/performance.md, "Executor").
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

Task {
    await LienThongCommand.main()
    exit(0)
}
dispatchMain()
