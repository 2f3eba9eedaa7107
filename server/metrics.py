"""The node's Prometheus metrics, served at `/metrics` by server/api/health.py.

Every metric lives in the app's own CollectorRegistry (no module globals), and every name starts
with `proctor_`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class Metrics:
    """The node's metrics, registered in their own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Called with (sampled at, seconds the verifier took or None when it was not asked, reason) for
    # every sample: how a benchmark sees each verdict without wrapping the verifier.
    sample_listeners: list[Callable[[float, float | None, str], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        r = self.registry
        self.active_streams = Gauge("proctor_active_streams", "Live student streams on this node", registry=r)
        self.samples = Counter("proctor_samples", "Samples taken (verification attempts)", registry=r)
        self.verdicts = Counter("proctor_verdicts", "Sample outcomes by reason", ["reason"], registry=r)
        self.verify_latency = Histogram("proctor_sample_to_verdict_seconds", "From taking a sample to its verdict",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("proctor_batch_size", "Frames per inference batch", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.inference = Histogram("proctor_inference_seconds", "Inference time per batch",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.credited = Counter("proctor_credited_seconds", "Learning seconds credited", registry=r)
        self.stream_length = Gauge("proctor_jobs_stream_length", "Jobs in the Redis stream (scale-out mode)",
                                   registry=r)
        self.stream_lag = Gauge("proctor_jobs_lag", "Jobs not yet delivered to workers (scale-out mode)", registry=r)

    def observe_sample(self, at: float, verify_s: float | None, reason: str) -> None:
        self.samples.inc()
        self.verdicts.labels(reason).inc()
        if verify_s is not None:
            self.verify_latency.observe(verify_s)
        for listener in self.sample_listeners:
            listener(at, verify_s, reason)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)
