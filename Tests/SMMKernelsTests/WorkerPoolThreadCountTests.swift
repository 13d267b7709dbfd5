// The shared pool's thread count is a parameter set before the pool starts (no environment
// variable written by the caller), with errors that name what is wrong.
import XCTest
@testable import SMMKernels

final class WorkerPoolThreadCountTests: XCTestCase {
    func testCountsOutsideTheRangeAreRefused() {
        for bad in [0, -1, WorkerPool.maxThreadCount + 1] {
            XCTAssertThrowsError(try WorkerPool.setSharedThreadCount(bad)) { error in
                XCTAssertEqual(error as? WorkerPoolError, .invalidThreadCount(bad))
                XCTAssertTrue("\(error)".contains("pass a count from 1 to 256"), "\(error)")
            }
        }
    }

    func testOnceStartedOnlyTheRunningCountIsAccepted() throws {
        let running = WorkerPool.shared.threadCount   // starts the pool if no other test did
        XCTAssertNoThrow(try WorkerPool.setSharedThreadCount(running))
        let other = running == 1 ? 2 : 1
        XCTAssertThrowsError(try WorkerPool.setSharedThreadCount(other)) { error in
            XCTAssertEqual(error as? WorkerPoolError, .alreadyStarted(running: running, requested: other))
        }
        XCTAssertEqual(WorkerPool.shared.threadCount, running)
    }
}
