// `smm bench-kernels`: the GOP/s of every matrix kernel this CPU runs on the BERT-base layer shapes,
// against the measured peak of the instruction each is built on (issue 14: int8 near vpdpbusd peak).
// Random weights and inputs; the rates do not depend on their values.
import ArgumentParser
import Foundation
import SMMJSON
import SMMKernels

struct KernelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Matrix kernels' GOP/s on the BERT-base layer shapes against the instructions' measured peaks.")

    @Option(help: "Rows (tokens) per product, comma-separated.") var rows = "128,512"
    @Option(help: "Seconds of timed calls per kernel and shape (best call counts).") var seconds = 0.3
    @Flag(help: "Print one JSON object per line.") var json = false

    func validate() throws {
        guard !parsedRows.isEmpty, parsedRows.allSatisfy({ $0 > 0 && $0 <= 8192 }) else {
            throw ValidationError("--rows must list row counts between 1 and 8192, e.g. 128,512")
        }
        guard seconds > 0, seconds <= 60 else { throw ValidationError("--seconds must be between 0 and 60") }
    }

    private var parsedRows: [Int] { rows.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        let peaks = KernelRates.instructionPeaks()
        let peak = Dictionary(peaks.map { ($0.instruction, $0.gops) }, uniquingKeysWith: { a, _ in a })
        if json {
            for p in peaks { printLine(.record([("instruction", .string(p.instruction)), ("peak_gops", .double(p.gops))])) }
        } else {
            print("CPU: \(CPUFeatures.current.modelName), \(WorkerPool.shared.threadCount) threads")
            for p in peaks {
                print("peak " + p.instruction.padding(toLength: 12, withPad: " ", startingAt: 0)
                      + String(format: " %8.0f GOP/s (all threads, no loads)", p.gops))
            }
            print("kernel              rows    K x N        GOP/s   share of its instruction's peak")
        }
        // BERT-base's layer shapes: q/k/v/attention output, FFN up, FFN down.
        for m in parsedRows {
            for (k, n) in [(768, 768), (768, 3072), (3072, 768)] {
                let w = FloatBuffer(count: n * k)
                var state: UInt32 = UInt32(k * 31 + n)
                for i in 0..<(n * k) {
                    state = state &* 1_664_525 &+ 1_013_904_223
                    w.pointer[i] = Float(Int32(bitPattern: state) >> 8) / Float(1 << 30)
                }
                let plain = LinearWeight(weight: w.pointer, bias: nil, outFeatures: n, inFeatures: k, layout: .outIn, owner: w)
                var kernels: [(String, LinearWeight, String)] = [("f32", plain.packedF32(), "vfmadd231ps")]
                if QuantizedLinear.isAccelerated { kernels.append(("int8 \(QuantizedLinear.kernel.rawValue)", plain.quantizedInt8(), "vpdpbusd")) }
                if Q4Linear.isFast { kernels.append(("q4", plain.quantizedQ4(), "vpdpbusd")) }
                if BF16Linear.isAvailable { kernels.append(("bf16 \(BF16Linear.kernel.rawValue)", plain.packedBF16(), "vdpbf16ps")) }
                for (name, weight, instruction) in kernels {
                    let gops = KernelRates.gops(weight, rows: m, seconds: seconds)
                    let share = peak[instruction].map { gops / $0 }
                    if json {
                        printLine(.record([("kernel", .string(name)), ("rows", .int(m)), ("k", .int(k)), ("n", .int(n)),
                                           ("gops", .double(gops)), ("instruction", .string(instruction)),
                                           ("share_of_peak", share.map(JSONValue.double) ?? .null)]))
                    } else {
                        let pct = share.map { String(format: "%5.1f%% of %@", 100 * $0, instruction) } ?? "(no \(instruction) here)"
                        print(name.padding(toLength: 18, withPad: " ", startingAt: 0)
                              + String(format: " %4d  %4d x %-5d %8.0f   %@", m, k, n, gops, pct as NSString))
                    }
                }
            }
        }
    }
}
