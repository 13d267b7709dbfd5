// WorkerPoolError read by a user: the count asked for, the range or the running count, and the fix.
import Foundation
import XCTest
@testable import SMMKernels

final class WorkerPoolErrorMessageTests: XCTestCase {
    func testMessagesNameTheCountAndTheFix() {
        XCTAssertThrowsError(try WorkerPool.setSharedThreadCount(0)) { error in
            XCTAssertEqual(error.localizedDescription, "invalid thread count 0: pass a count from 1 to 256 (SMM_THREADS in the environment)")
            XCTAssertEqual(error.localizedDescription, "\(error)")
        }
        let started = WorkerPoolError.alreadyStarted(running: 4, requested: 8)
        XCTAssertEqual(started.localizedDescription, started.description)
        XCTAssertEqual(started.localizedDescription, "the worker pool already runs 4 threads, so it cannot switch to 8; set the "
            + "thread count with WorkerPool.setSharedThreadCount (or SMM_THREADS) before the first inference")
    }
}
