"""What the server measures, and the one seam every layer reports it through.

Every metric is declared here once (name, kind, labels, help), so the list a user reads
in the README, the collectors in the registry and the calls in the layers cannot drift
apart. A layer reports with ``record`` or ``timed``; it never sees a registry. The
composition root binds one ``Meter`` per server (``bound``) around the server's task
tree: tasks and worker threads started inside inherit the binding (trio copies the
context into both), so several servers in one process (tests) keep their figures apart,
and code that runs outside any server (unit tests, the CLI) reports to nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, ParamSpec, Protocol, TypeVar

import prometheus_client

__all__ = [
    "API_REQUESTS",
    "API_REQUEST_SECONDS",
    "GIT_BYTES",
    "GIT_SECONDS",
    "INFLIGHT",
    "METRICS",
    "Meter",
    "Metric",
    "PrometheusMeter",
    "RENDER_FUNCTION_SECONDS",
    "REPOSITORY_SYNC_SECONDS",
    "STORE_SECONDS",
    "WATCHES",
    "bound",
    "record",
    "timed",
    "timed_calls",
]

P = ParamSpec("P")
T = TypeVar("T")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True)
class Metric:
    """One metric: a counter or gauge adds ``value``, a histogram observes it."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = _LATENCY_BUCKETS


API_REQUESTS = Metric("apiserver_request", "counter", ("verb", "group", "resource", "code"),
                      "API requests by verb, API group, resource and HTTP code.")
API_REQUEST_SECONDS = Metric("apiserver_request_duration_seconds", "histogram", ("verb", "resource"),
                             "API request latency by verb and resource (watches excluded: they last).")
INFLIGHT = Metric("apiserver_current_inflight_requests", "gauge", ("request_kind",),
                  "Requests being served now: readOnly or mutating (watches count while they last).")
WATCHES = Metric("porch_watches", "gauge", ("resource",), "Watch streams open now, by resource.")
GIT_SECONDS = Metric("porch_git_operation_duration_seconds", "histogram", ("operation", "result"),
                     "git smart-HTTP operations (ls-remote, fetch, push) by result (ok, error).", _SLOW_BUCKETS)
GIT_BYTES = Metric("porch_git_bytes", "counter", ("operation", "direction"),
                   "Bytes exchanged with git servers by operation and direction (sent, received).")
RENDER_FUNCTION_SECONDS = Metric(
    "porch_render_function_duration_seconds", "histogram", ("function", "result"),
    "Time each KRM function of a render took, by image (or exec path) and result (ok, error).", _SLOW_BUCKETS)
REPOSITORY_SYNC_SECONDS = Metric(
    "porch_repository_sync_duration_seconds", "histogram", ("namespace", "repository", "result"),
    "Full syncs of each Repository by result (ok, error); _count counts them.", _SLOW_BUCKETS)
STORE_SECONDS = Metric("porch_store_operation_duration_seconds", "histogram", ("store", "operation"),
                       "Store latency by driver (sqlite, postgresql) and operation (get, list, apply).")

METRICS: tuple[Metric, ...] = (API_REQUESTS, API_REQUEST_SECONDS, INFLIGHT, WATCHES, GIT_SECONDS, GIT_BYTES,
                               RENDER_FUNCTION_SECONDS, REPOSITORY_SYNC_SECONDS, STORE_SECONDS)


class Meter(Protocol):
    """Where the figures of one server go."""

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None: ...


class PrometheusMeter:
    """Every metric of ``METRICS`` as a prometheus_client collector in a registry of its own."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self._collectors: dict[str, prometheus_client.metrics.MetricWrapperBase] = {}
        for metric in METRICS:
            if metric.kind == "counter":
                collector: prometheus_client.metrics.MetricWrapperBase = prometheus_client.Counter(
                    metric.name, metric.help, metric.labels, registry=self.registry)
            elif metric.kind == "gauge":
                collector = prometheus_client.Gauge(metric.name, metric.help, metric.labels, registry=self.registry)
            else:
                collector = prometheus_client.Histogram(metric.name, metric.help, metric.labels,
                                                        registry=self.registry, buckets=metric.buckets)
            self._collectors[metric.name] = collector

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        """Add ``value`` (counter, gauge) or observe it (histogram); thread-safe."""
        child = self._collectors[metric.name].labels(**labels)
        if metric.kind == "histogram":
            child.observe(value)  # type: ignore[attr-defined]
        else:
            child.inc(value)  # type: ignore[attr-defined]

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return prometheus_client.generate_latest(self.registry)


_current: ContextVar[Meter | None] = ContextVar("porch_embedded_meter", default=None)


@contextmanager
def bound(meter: Meter) -> Iterator[None]:
    """Report to ``meter`` from this task and everything it starts from now on."""
    token = _current.set(meter)
    try:
        yield
    finally:
        _current.reset(token)


def record(metric: Metric, value: float, **labels: str) -> None:
    """Report ``value`` to the bound meter, if any."""
    meter = _current.get()
    if meter is not None:
        meter.record(metric, value, labels)


@contextmanager
def timed(metric: Metric, **labels: str) -> Iterator[dict[str, str]]:
    """Observe how long the block took into the histogram ``metric``.

    Yields the labels, which the block may still change. When ``metric`` has a
    ``result`` label the block did not set, it is ``ok``, or ``error`` if the block
    raised. A block cancelled (trio) has no result and is not recorded.
    """
    values = dict(labels)
    started = time.perf_counter()
    result = ""
    try:
        yield values
        result = "ok"
    except Exception:
        result = "error"
        raise
    finally:
        if result:
            if "result" in metric.labels:
                values.setdefault("result", result)
            record(metric, time.perf_counter() - started, **values)


def timed_calls(metric: Metric, **labels: str) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async function: each call is ``timed`` into ``metric`` with ``labels``."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(function)
        async def call(*args: P.args, **kwargs: P.kwargs) -> T:
            with timed(metric, **labels):
                return await function(*args, **kwargs)

        return call

    return decorate
