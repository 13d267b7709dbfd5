// The server's metrics, through swift-metrics into a Prometheus registry of its own (one per
// server, so that tests and several servers in one process do not share counters). /metrics is the
// registry's own text format. Names are listed in Docs/SERVING.md.
import CoreMetrics
import Foundation
import Prometheus
import SmartModelManager

/// Counters, gauges and histograms of one server.
public final class ServerMetrics: BatchObserver, @unchecked Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    /// A fresh registry with the server's buckets.
    public init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        let ms: [Double] = [0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        f.defaultDurationHistogramBuckets = ms.map { .nanoseconds(Int64($0 * 1e9)) }
        f.valueHistogramBuckets = [
            "smm_batch_requests": [1, 2, 4, 8, 16, 32, 64, 128, 256],
            "smm_batch_texts": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
            "smm_batch_padded_tokens": [16, 64, 256, 1024, 4096, 16384, 65536],
        ]
        factory = f
    }

    /// One answered request.
    public func request(route: String, status: Int, seconds: Double) {
        Counter(label: "smm_http_requests_total", dimensions: [("route", route), ("status", String(status))], factory: factory)
            .increment()
        Timer(label: "smm_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(Int64(max(0, seconds) * 1e9))
    }

    /// See ``BatchObserver``.
    public func batchRan(model: String, requests: Int, texts: Int, tokens: Int, paddedTokens: Int, seconds: Double) {
        let dims = [("model", model)]
        Recorder(label: "smm_batch_requests", dimensions: dims, factory: factory).record(requests)
        Recorder(label: "smm_batch_texts", dimensions: dims, factory: factory).record(texts)
        Recorder(label: "smm_batch_padded_tokens", dimensions: dims, factory: factory).record(paddedTokens)
        Counter(label: "smm_tokens_processed_total", dimensions: dims, factory: factory).increment(by: tokens)
        Counter(label: "smm_texts_processed_total", dimensions: dims, factory: factory).increment(by: texts)
        Timer(label: "smm_batch_duration_seconds", dimensions: dims, factory: factory)
            .recordNanoseconds(Int64(max(0, seconds) * 1e9))
    }

    /// See ``BatchObserver``.
    public func queueDepth(model: String, texts: Int) {
        Gauge(label: "smm_queue_depth", dimensions: [("model", model)], factory: factory).record(texts)
    }

    /// See ``BatchObserver``.
    public func rejected(model: String) {
        Counter(label: "smm_queue_rejections_total", dimensions: [("model", model)], factory: factory).increment()
    }

    /// A connection opened (+1) or closed (-1): `smm_connections_open`.
    public func connections(_ delta: Int) {
        let meter = Meter(label: "smm_connections_open", factory: factory)
        if delta >= 0 { meter.increment(by: Double(delta)) } else { meter.decrement(by: Double(-delta)) }
    }

    /// A connection was closed by `--read-timeout-s`: `smm_read_timeouts_total{part}` (`head`: the
    /// request head had not arrived, slow-loris; `body`: the head had, the body had not).
    public func readTimedOut(headComplete: Bool) {
        Counter(label: "smm_read_timeouts_total", dimensions: [("part", headComplete ? "body" : "head")], factory: factory)
            .increment()
    }

    /// Readiness as a gauge (1 ready, 0 loading or draining).
    public func ready(_ value: Bool) {
        Gauge(label: "smm_ready", factory: factory).record(value ? 1 : 0)
    }

    /// The manager's figures, taken just before `/metrics` renders.
    public func update(models: Int, cache: CacheStatistics, switches: Int, residentBytes: Int) {
        Gauge(label: "smm_models_loaded", factory: factory).record(models)
        Gauge(label: "smm_cache_bytes", factory: factory).record(cache.bytesHeld)
        Gauge(label: "smm_cache_budget_bytes", factory: factory).record(cache.budgetBytes)
        Gauge(label: "smm_cache_evictions", factory: factory).record(cache.evictions)
        Gauge(label: "smm_model_switches", factory: factory).record(switches)
        Gauge(label: "smm_process_resident_bytes", factory: factory).record(residentBytes)
    }

    /// The Prometheus text.
    public func render() -> String { registry.emitToString() }
}
