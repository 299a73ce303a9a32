"""Telemetry: events to attach handlers to, Prometheus metrics, and an HTTP endpoint to scrape them.

**Events.** ``attach(handler_id, event_names, fn)`` calls ``fn(event_name, measurements, metadata)`` for each
event of the catalogue (:data:`EVENTS`; ``event_names=None``: all of them) that any client of this process
emits, on that client's telemetry actor (never on the thread reading the engine, never on the caller's);
``detach(handler_id)`` stops it. A handler that raises is detached and logged once (``codex_actors.telemetry``);
it never breaks a turn. See ``docs/telemetry.md`` for the catalogue's fields.

**Metrics.** Each client reports to a prometheus-client registry, ``CodexConfig.metrics_registry`` (default:
the global ``prometheus_client.REGISTRY``; ``CodexConfig(metrics=False)`` reports nothing).
:func:`start_metrics_server` serves a registry over HTTP (``codex-actors metrics --port N`` does the same from
the command line).

Example::

    from codex_actors import ApprovalMode, Codex, telemetry
    from codex_actors.testing import OfflineEngine, message

    seen = []
    telemetry.attach("example", ["turn.stop"], lambda name, measurements, metadata: seen.append(metadata))
    try:
        with OfflineEngine(message("hi")) as offline, Codex(offline.config) as codex:
            codex.thread_start(approval_mode=ApprovalMode.deny_all).run("hello")
    finally:
        telemetry.detach("example")
    assert seen[0]["status"] == "completed"
"""

from __future__ import annotations

import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from ._metrics import metrics_for
from ._otel import OtelInstrumentation, current_trace_context, instrument_opentelemetry
from ._telemetry_events import EVENTS, EventSpec
from ._telemetry_handlers import Handler, HandlerFn, attach, detach, dispatch, handlers
from .files import _set_event_sink

__all__ = [
    "EVENTS",
    "EventSpec",
    "Handler",
    "HandlerFn",
    "MetricsServer",
    "OtelInstrumentation",
    "attach",
    "current_trace_context",
    "detach",
    "handlers",
    "instrument_opentelemetry",
    "start_metrics_server",
]


def _attachment_event(name: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
    """An event of :mod:`codex_actors.files` (which belongs to no client).

    It moves the global registry's metrics, then goes to the handlers, on the thread that staged or cleaned.
    """
    metrics_for(None).record(name, measurements, metadata)
    dispatch(name, measurements, metadata)


_set_event_sink(_attachment_event)


class MetricsServer:
    """A running HTTP endpoint serving a registry's metrics in the Prometheus text format (``/metrics``)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        #: The host it listens on.
        self.addr: str = str(server.server_address[0])
        #: The port it listens on (the one chosen, when ``0`` was asked for).
        self.port: int = int(server.server_address[1])

    @property
    def url(self) -> str:
        """``http://<addr>:<port>/metrics``."""
        return f"http://{self.addr}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def start_metrics_server(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> MetricsServer:
    """Serve ``registry`` (default: the global one) at ``http://addr:port/metrics``; ``port=0`` picks a free one.

    It listens on loopback unless ``addr`` says otherwise; the server runs on a daemon thread until
    :meth:`MetricsServer.close`.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535, got {port!r}")
    server, thread = start_http_server(port, addr, REGISTRY if registry is None else registry)
    return MetricsServer(server, thread)
