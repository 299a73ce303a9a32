"""Prometheus metrics (prometheus-client): the families, fed from telemetry events, requests and notifications.

One :class:`Metrics` per ``CollectorRegistry`` (:func:`metrics_for`), shared by every client that reports to
that registry, so two clients in one process add to the same series. What feeds it, and from where:

* **Telemetry events** (:meth:`Metrics.record`), on the client's telemetry actor: turns, tokens, tools,
  approvals, engine restarts, thread resumes, protocol errors.
* **Requests** (:meth:`Metrics.request`), on the engine port's reader thread when the reply arrives: one
  counter increment and one histogram observation per request.
* **Notifications**: the router adds each batch it delivers to :attr:`Metrics.notifications` (a
  ``collections.Counter``, updated in C, one call per batch); the count becomes ``codex_notifications_total``
  only when Prometheus scrapes. No Python work per notification.
* **Gauges**, computed at scrape time: engines up, thread actors running, threads hibernated (the entries of
  the watched thread directories without a running actor), mailbox depth by actor kind (the process's
  codex-actors actors, from pykka's registry), build info.

Label values a user chooses (models, tools) and the engine's method names are capped (:class:`LabelCap`): past
the cap, a new value is reported as ``other``, so no series count grows without bound.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import pykka
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ._version import __version__

__all__ = ["LabelCap", "Metrics", "metrics_for"]

#: Distinct values kept for a user-chosen label (model, tool) before new ones become ``other``.
USER_LABEL_CAP = 50
#: Distinct engine methods kept (the 0.163.0 engine has about 100 notifications and 110 requests).
METHOD_LABEL_CAP = 200
OTHER = "other"

_TURN_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_APPROVAL_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)
_REQUEST_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    120.0,
)

#: The ``actor_kind`` of each codex-actors actor class (by class name).
ACTOR_KINDS: Mapping[str, str] = {
    "RootSupervisor": "root",
    "EnginePort": "engine",
    "ThreadActor": "thread",
    "ToolRegistry": "tools",
    "ApprovalBroker": "approvals",
    "TelemetryActor": "telemetry",
}
#: Token kinds: the ``type`` label of ``codex_tokens_total``, and the measurement each comes from.
TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("cached_input", "cached_input_tokens"),
    ("output", "output_tokens"),
    ("reasoning", "reasoning_output_tokens"),
)


class LabelCap:
    """The first ``cap`` distinct values of a label pass as they are; later new ones are ``other``."""

    __slots__ = ("_cap", "_lock", "_seen")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        """``value`` as a label value (``None`` is ``unknown``)."""
        text = "unknown" if value is None else str(value)
        if text in self._seen:
            return text
        with self._lock:
            if text in self._seen:
                return text
            if len(self._seen) >= self._cap:
                return OTHER
            self._seen.add(text)
            return text


class _Counted(Protocol):
    """What the thread-count gauges read: a runtime's thread directory."""

    def counts(self) -> tuple[int, int]:
        """``(running, hibernated)`` thread entries."""
        ...


class Metrics:
    """The metric families of one registry, and the ways they are fed (see the module docstring)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.models = LabelCap(USER_LABEL_CAP)
        self.tools = LabelCap(USER_LABEL_CAP)
        self.methods = LabelCap(METHOD_LABEL_CAP)
        #: Notifications delivered, by method: updated by the routers a batch at a time.
        self.notifications: collections.Counter[str] = collections.Counter()
        self._directories: weakref.WeakSet[Any] = weakref.WeakSet()
        self._engine_versions: set[str] = set()
        self._lock = threading.Lock()
        r = registry
        self.turns = Counter("codex_turns", "Turns ended, by model and outcome.", ["model", "outcome"], registry=r)
        self.turn_duration = Histogram(
            "codex_turn_duration_seconds",
            "Turn duration, from the engine accepting it to its end.",
            ["model", "outcome"],
            buckets=_TURN_BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "codex_turn_time_to_first_token_seconds",
            "From a turn's start to its first output (a delta or a message).",
            ["model"],
            buckets=_FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("codex_tokens", "Tokens used, by model and type.", ["model", "type"], registry=r)
        self.tool_calls = Counter(
            "codex_tool_calls", "Tool calls, by tool, kind and outcome.", ["tool", "kind", "outcome"], registry=r
        )
        self.tool_duration = Histogram(
            "codex_tool_duration_seconds",
            "Tool call duration, by tool, kind and outcome.",
            ["tool", "kind", "outcome"],
            buckets=_TOOL_BUCKETS,
            registry=r,
        )
        self.approvals = Counter(
            "codex_approvals",
            "Approval requests answered, by kind, decision and source.",
            ["kind", "decision", "source"],
            registry=r,
        )
        self.approval_wait = Histogram(
            "codex_approval_wait_seconds",
            "From an approval request to its decision, by kind, decision and source.",
            ["kind", "decision", "source"],
            buckets=_APPROVAL_BUCKETS,
            registry=r,
        )
        self.engine_restarts = Counter(
            "codex_engine_restarts", "Engine restarts, by reason.", ["reason"], registry=r
        )
        self.thread_resumes = Counter(
            "codex_thread_resumes", "Threads resumed on the engine, by reason.", ["reason"], registry=r
        )
        self.requests = Counter(
            "codex_requests",
            "Requests to the engine answered, by method and outcome.",
            ["method", "outcome"],
            registry=r,
        )
        self.request_duration = Histogram(
            "codex_request_duration_seconds",
            "From writing a request to its answer, by method and outcome.",
            ["method", "outcome"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.protocol_errors = Counter(
            "codex_protocol_errors", "Lines from the engine dropped, by kind.", ["kind"], registry=r
        )
        self.attachments = Counter(
            "codex_attachments_staged", "Files staged, by outcome (stored, deduplicated).", ["outcome"], registry=r
        )
        self.attachment_bytes = Counter(
            "codex_attachment_staged_bytes", "Bytes of the files staged (deduplicated ones included).", registry=r
        )
        self.attachments_cleaned = Counter(
            "codex_attachments_cleaned", "Staged files removed, by reason.", ["reason"], registry=r
        )
        self.attachment_cleaned_bytes = Counter(
            "codex_attachment_cleaned_bytes",
            "Bytes of the staged files removed, by reason.",
            ["reason"],
            registry=r,
        )
        self.build = Gauge(
            "codex_build_info",
            "codex-actors and engine versions (value 1).",
            ["version", "engine_version"],
            registry=r,
        )
        registry.register(_LiveCollector(self))

    # -- feeding ------------------------------------------------------------------------------------------------

    def watch(self, directory: _Counted) -> None:
        """Count ``directory``'s threads in the thread gauges while it lives."""
        self._directories.add(directory)

    def engine_version(self, version: str) -> None:
        """An engine of ``version`` was started: ``codex_build_info`` gets its series."""
        with self._lock:
            if version in self._engine_versions or len(self._engine_versions) >= USER_LABEL_CAP:
                return
            self._engine_versions.add(version)
        self.build.labels(__version__, version).set(1)

    def request(self, method: str, outcome: str, seconds: float) -> None:
        """A request was answered (or failed) after ``seconds``."""
        labels = (self.methods(method), outcome)
        self.requests.labels(*labels).inc()
        self.request_duration.labels(*labels).observe(seconds)

    def record(self, name: str, measurements: Mapping[str, float], metadata: Mapping[str, Any]) -> None:
        """Move the metrics a telemetry event moves."""
        if name == "turn.stop":
            model, outcome = self.models(metadata.get("model")), str(metadata.get("status"))
            self.turns.labels(model, outcome).inc()
            duration = measurements.get("duration_s")
            if duration is not None:
                self.turn_duration.labels(model, outcome).observe(duration)
            first = measurements.get("time_to_first_token_s")
            if first is not None:
                self.first_token.labels(model).observe(first)
        elif name == "token_usage.updated":
            model = self.models(metadata.get("model"))
            for token_type, key in TOKEN_TYPES:
                value = measurements.get(key)
                if value:
                    self.tokens.labels(model, token_type).inc(value)
        elif name in ("tool.success", "tool.failure"):
            outcome = "success" if name == "tool.success" else str(metadata.get("reason"))
            labels = (self.tools(metadata.get("tool")), str(metadata.get("kind")), outcome)
            self.tool_calls.labels(*labels).inc()
            duration = measurements.get("duration_s")
            if duration is not None:
                self.tool_duration.labels(*labels).observe(duration)
        elif name in ("approval.approved", "approval.denied", "approval.timeout"):
            labels = (str(metadata.get("kind")), str(metadata.get("decision")), str(metadata.get("source")))
            self.approvals.labels(*labels).inc()
            wait = measurements.get("wait_s")
            if wait is not None:
                self.approval_wait.labels(*labels).observe(wait)
        elif name == "engine.restart":
            self.engine_restarts.labels(str(metadata.get("reason"))).inc()
        elif name == "thread.resume":
            self.thread_resumes.labels(str(metadata.get("reason"))).inc()
        elif name == "protocol.error":
            self.protocol_errors.labels(str(metadata.get("kind"))).inc()
        elif name == "attachment.staged":
            self.attachments.labels("deduplicated" if metadata.get("deduplicated") else "stored").inc()
            self.attachment_bytes.inc(measurements.get("size_bytes", 0))
        elif name == "attachment.cleaned":
            reason = str(metadata.get("reason"))
            self.attachments_cleaned.labels(reason).inc(measurements.get("count", 0))
            self.attachment_cleaned_bytes.labels(reason).inc(measurements.get("bytes", 0))

    # -- scraping -----------------------------------------------------------------------------------------------

    def thread_counts(self) -> tuple[int, int]:
        """``(running, hibernated)`` over the watched directories."""
        running = hibernated = 0
        for directory in list(self._directories):
            active, idle = directory.counts()
            running += active
            hibernated += idle
        return running, hibernated


class _LiveCollector(Collector):
    """The families computed when Prometheus scrapes: notifications, engines, threads, mailboxes."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        """Nothing up front (a collector without ``describe`` would be collected at registration)."""
        return []

    def collect(self) -> Iterator[Any]:
        """The live families, read now."""
        metrics = self._metrics
        notifications = CounterMetricFamily(
            "codex_notifications", "Notifications from the engine, by method.", labels=["method"]
        )
        by_method: collections.Counter[str] = collections.Counter()
        for method, count in dict(metrics.notifications).items():
            by_method[metrics.methods(method)] += count
        for method, count in sorted(by_method.items()):
            notifications.add_metric([method], count)
        yield notifications
        engines = 0
        depth: dict[str, int] = dict.fromkeys(ACTOR_KINDS.values(), 0)
        for ref in pykka.ActorRegistry.get_all():
            kind = ACTOR_KINDS.get(ref.actor_class.__name__)
            if kind is None or not ref.actor_class.__module__.startswith("codex_actors."):
                continue
            if kind == "engine":
                engines += 1
            qsize = getattr(ref.actor_inbox, "qsize", None)  # a queue.Queue for threading actors
            if qsize is not None:
                depth[kind] = max(depth[kind], int(qsize()))
        yield GaugeMetricFamily("codex_engines_up", "Engine processes running.", value=engines)
        running, hibernated = metrics.thread_counts()
        yield GaugeMetricFamily("codex_threads_active", "Threads whose actor runs.", value=running)
        yield GaugeMetricFamily(
            "codex_threads_hibernated", "Threads referred to whose actor hibernates.", value=hibernated
        )
        mailbox = GaugeMetricFamily(
            "codex_actor_mailbox_depth", "The deepest mailbox of each kind of actor.", labels=["actor_kind"]
        )
        for kind, size in sorted(depth.items()):
            mailbox.add_metric([kind], size)
        yield mailbox


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


def metrics_for(registry: CollectorRegistry | None = None) -> Metrics:
    """The :class:`Metrics` of ``registry`` (``None``: prometheus-client's global ``REGISTRY``), made once."""
    chosen = REGISTRY if registry is None else registry
    with _lock:
        found = _by_registry.get(chosen)
        if found is None:
            found = _by_registry[chosen] = Metrics(chosen)
        return found
