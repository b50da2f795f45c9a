import Glibc
import Testing
import CHilbertSys
@testable import HilbertData

/// fork() while the engine's threads run (Sources/CHilbertSys/forkgate.c): no engine thread is
/// inside its code, holding a lock the child would need, when the child is created.
@Suite(.serialized) struct ForkGateTests {
    /// Threads that hold `critical` most of the time (as a thread of the engine holds a lock of
    /// the Swift runtime while it instantiates a type) and wait on a Monitor in between.
    final class Busy: @unchecked Sendable {
        let critical = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let monitor = Monitor()
        var stop = false
        var running = 0
        init() { pthread_mutex_init(critical, nil) }

        func loop() {
            monitor.lock(); running += 1; monitor.broadcast(); monitor.unlock()
            while true {
                pthread_mutex_lock(critical)
                let until = hl_monotonic_ns() + 300_000
                while hl_monotonic_ns() < until {}
                pthread_mutex_unlock(critical)
                monitor.lock()
                if stop { running -= 1; monitor.broadcast(); monitor.unlock(); return }
                monitor.wait(nanoseconds: 100_000)
                monitor.unlock()
            }
        }

        func halt() {
            monitor.lock()
            stop = true
            while running > 0 { monitor.wait() }
            monitor.unlock()
        }

        /// Children (of `forks`) that found `critical` held.
        func childrenFindingItHeld(_ forks: Int) -> Int {
            var held = 0
            for _ in 0..<forks {
                let pid = fork()
                if pid == 0 { _exit(pthread_mutex_trylock(critical) == 0 ? 0 : 1) }
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                if status != 0 { held += 1 }
            }
            return held
        }
    }

    nonisolated(unsafe) static var installed = false
    static func installHandlers() {
        if installed { return }
        installed = true
        pthread_atfork({ _ = hl_gate_fork_prepare() }, { hl_gate_fork_parent() }, { hl_gate_fork_child() })
    }

    @Test func forkWaitsForTheEngineThreadsToStepOut() throws {
        ForkGateTests.installHandlers()
        let busy = Busy()
        for _ in 0..<2 { #expect(startDetachedThread { busy.loop() }) }
        busy.monitor.lock(); while busy.running < 2 { busy.monitor.wait() }; busy.monitor.unlock()
        let held = busy.childrenFindingItHeld(200)
        busy.halt()
        #expect(held == 0, "children that inherited a lock an engine thread held: \(held) of 200")
    }

    /// The same threads outside the gate (plain pthreads, as a program's own): the children do
    /// inherit the held lock, so the test above would see it.
    @Test func withoutTheGateChildrenInheritTheHeldLock() throws {
        ForkGateTests.installHandlers()
        let busy = Busy()
        final class Box { let busy: Busy; init(_ b: Busy) { busy = b } }
        var tid = pthread_t()
        let box = Unmanaged.passRetained(Box(busy)).toOpaque()
        #expect(pthread_create(&tid, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().busy.loop()
            return nil
        }, box) == 0)
        busy.monitor.lock(); while busy.running < 1 { busy.monitor.wait() }; busy.monitor.unlock()
        let held = busy.childrenFindingItHeld(200)
        busy.halt()
        pthread_join(tid, nil)
        #expect(held > 0)
    }
}
