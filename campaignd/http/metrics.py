"""Prometheus metrics: fed by the engine's send observer, read at GET /metrics.

campaignd_messages_sent_total{messenger,server}
campaignd_messages_failed_total{messenger,server,status}   status: failed|deferred|unknown
campaignd_send_duration_seconds{messenger}                 time in the messenger (histogram)
campaignd_rate_limit_wait_seconds_total                    time held back by app.message_rate
campaignd_messages_in_flight
campaignd_campaigns{status}                                from the database at each scrape
campaignd_bounces_total{type,source}, campaignd_unsubscribes_total
campaignd_opens_total{machine}, campaignd_clicks_total{machine}   tracked hits (machine: true|false)

With app.workers > 1 the main process adds the workers' samples (campaignd.http.shared_metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from campaignd.domain import CampaignStatus, DeliveryStatus, SendEvent
from campaignd.http.shared_metrics import MergedRegistry
from campaignd.sending.engine import Engine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _EngineCollector(Collector):
    """Values the engine keeps itself, read at scrape time."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self._engine = engine
        self._limiter: object = None
        self._waited_before = 0.0  # waits of rate limiters replaced by a settings reload
        self._last_waited = 0.0

    def collect(self) -> Iterable[Metric]:
        engine = self._engine()
        waited, in_flight = self._waited_before, 0
        if engine is not None:
            if engine.rate is not self._limiter:
                if self._limiter is not None:
                    self._waited_before += self._last_waited
                self._limiter = engine.rate
            self._last_waited = engine.rate.waited
            waited = self._waited_before + self._last_waited
            in_flight = engine.in_flight
        wait = CounterMetricFamily(
            "campaignd_rate_limit_wait_seconds",
            "Seconds sends were held back by the daemon-wide rate limit",
        )
        wait.add_metric([], waited)
        yield wait
        flight = GaugeMetricFamily("campaignd_messages_in_flight", "Messages being sent now")
        flight.add_metric([], in_flight)
        yield flight


class Metrics:
    """One registry per daemon (not the global one), so tests can build as many as they like."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sent = Counter(
            "campaignd_messages_sent", "Messages accepted", ["messenger", "server"], registry=r
        )
        self.failed = Counter(
            "campaignd_messages_failed",
            "Send attempts not accepted, by ledger outcome",
            ["messenger", "server", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "campaignd_send_duration_seconds",
            "Time to hand one message to the messenger",
            ["messenger"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.campaigns = Gauge("campaignd_campaigns", "Campaigns by status", ["status"], registry=r)
        self.bounces = Counter(
            "campaignd_bounces", "Bounces and complaints recorded", ["type", "source"], registry=r
        )
        self.unsubscribes = Counter(
            "campaignd_unsubscribes", "Unsubscribes through links", registry=r
        )
        self.opens = Counter(
            "campaignd_opens", "Tracked opens (pixel loads)", ["machine"], registry=r
        )
        self.clicks = Counter("campaignd_clicks", "Tracked clicks", ["machine"], registry=r)
        self._engine: Engine | None = None
        self.workers_dir: Path | None = None  # the workers' snapshots (main process, workers > 1)
        self._counters: dict[tuple[str, str, DeliveryStatus], Counter] = {}
        self._latency: dict[str, Histogram] = {}
        r.register(_EngineCollector(lambda: self._engine))

    def bind(self, engine: Engine) -> None:
        """Read rate-limit waits and in-flight counts from this engine."""
        self._engine = engine

    def observe(self, event: SendEvent) -> None:
        """The engine's send observer (once per message: labelled children are cached, since
        prometheus_client's `labels()` validates and locks on every call)."""
        record = event.record
        key = (event.messenger, record.server or "-", record.status)
        counter = self._counters.get(key)
        if counter is None:
            if record.status is DeliveryStatus.SENT:
                counter = self.sent.labels(key[0], key[1])
            else:
                counter = self.failed.labels(key[0], key[1], record.status.value)
            self._counters[key] = counter
        counter.inc()
        if event.outcome is not None:
            latency = self._latency.get(event.messenger)
            if latency is None:
                latency = self._latency[event.messenger] = self.latency.labels(event.messenger)
            latency.observe(event.seconds)

    def set_campaigns(self, statuses: Iterable[CampaignStatus]) -> None:
        counts = dict.fromkeys(CampaignStatus, 0)
        for status in statuses:
            counts[status] += 1
        for status, count in counts.items():
            self.campaigns.labels(status.value).set(count)

    def render(self) -> bytes:
        if self.workers_dir is not None:
            return generate_latest(MergedRegistry(self.registry, self.workers_dir))
        return generate_latest(self.registry)
