"""OpenTelemetry for codex-actors: turns and tool calls as spans, token usage and turn durations as metrics.

Optional: it needs the ``otel`` extra (``pip install 'codex-actors[otel]'``, the ``opentelemetry-api``
package; an SDK or a distro to export anything). Importing this module never imports opentelemetry: the first
call that needs it does, once, and caches the outcome.

**Instrumenting.** :func:`instrument_opentelemetry` attaches an :class:`OtelHandler` to the telemetry events
(handler id ``"codex_actors.otel"``, see :mod:`codex_actors.telemetry`) and returns an
:class:`OtelInstrumentation`; its :meth:`~OtelInstrumentation.uninstrument` detaches it. Without providers it
uses the global ones (``opentelemetry.trace.set_tracer_provider`` and ``opentelemetry.metrics.
set_meter_provider``, also when they are set later); the instrumentation scope is ``codex_actors``. Instrumenting
a second time without uninstrumenting the first raises ``ValueError`` (the telemetry handler id is taken): one
instrumentation per process, since a handler sees the events of every client.

**Spans** (the OpenTelemetry GenAI semantic conventions):

* ``invoke_agent codex``, kind CLIENT, one per turn, from ``turn.start`` to ``turn.stop``. Attributes
  ``gen_ai.operation.name="invoke_agent"``, ``gen_ai.system="openai"``, ``gen_ai.provider.name="openai"``,
  ``gen_ai.agent.name="codex"``, ``gen_ai.conversation.id`` (the thread id), ``gen_ai.request.model``; at the
  stop ``gen_ai.usage.input_tokens`` and ``gen_ai.usage.output_tokens``. A turn that did not complete (status
  ``failed``, ``interrupted``, ``timed_out``, ``error``) has status ERROR (description: the error's class, else
  the status) and ``error.type`` (the same). Its parent is the caller's span when the turn was started
  (``traceparent`` in the event, see :func:`current_trace_context`), else it is a root span.
* ``execute_tool <tool>``, kind INTERNAL, one per tool call, from ``tool.start`` to ``tool.success`` or
  ``tool.failure``. Attributes ``gen_ai.operation.name="execute_tool"``, ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id``, ``gen_ai.tool.type`` (``"function"`` for a client tool, ``"extension"`` for an MCP
  one). A failure has status ERROR and ``error.type`` (both the failure's reason). Its parent is the turn's
  ``invoke_agent`` span while that is open, else it is a root span.

Times come from the events (``system_time``, seconds since the epoch, as integer nanoseconds), not from when the
handler runs: a span starts at its start event's time and ends at its stop event's. A stop event with no open
span (the instrumentation was attached in the middle of the turn or the call) makes a span from
``system_time - duration_s`` to ``system_time``.

**Metrics**, recorded at ``turn.stop``: histogram ``gen_ai.client.token.usage`` (unit ``{token}``, one point per
present ``input_tokens`` / ``output_tokens`` measurement, attribute ``gen_ai.token.type`` ``"input"`` /
``"output"``) and histogram ``gen_ai.client.operation.duration`` (unit ``s``, the turn's ``duration_s``), both
with ``gen_ai.operation.name="invoke_agent"``, ``gen_ai.provider.name="openai"`` and ``gen_ai.request.model``
(the duration also with ``error.type`` for a turn that did not complete).

**Bounded.** Open spans are kept in two tables, turns by ``(thread_id, turn_id)`` and tool calls by
``(thread_id, turn_id, call_id)``, each capped (``max_open``, 10,000 by default): when a table is full the
oldest span in it is ended with status ERROR ``"evicted"``, so stop events that never come cannot grow memory.
:meth:`OtelInstrumentation.uninstrument` ends the spans still open with status ERROR ``"uninstrumented"``.

**Trace context.** :func:`current_trace_context` returns the W3C trace context of the caller's current span
(``{"traceparent": ..., "tracestate": ...}``), or ``None``; the runtime records it in ``turn.start`` so a
turn's span joins the trace of the code that started it, even though the events are handled on another thread.

Example (with the SDK)::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from codex_actors import telemetry

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    instrumentation = telemetry.instrument_opentelemetry(tracer_provider=provider)
    ...  # run turns
    instrumentation.uninstrument()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = [
    "EVENT_NAMES",
    "HANDLER_ID",
    "OtelHandler",
    "OtelInstrumentation",
    "current_trace_context",
    "instrument_opentelemetry",
]

#: The telemetry handler id :func:`instrument_opentelemetry` attaches under.
HANDLER_ID = "codex_actors.otel"

#: The telemetry events an :class:`OtelHandler` turns into spans and metrics (it ignores the others).
EVENT_NAMES: tuple[str, ...] = ("turn.start", "turn.stop", "tool.start", "tool.success", "tool.failure")

_INSTALL_HINT = "OpenTelemetry support needs the otel extra: pip install 'codex-actors[otel]'"

_SCOPE = "codex_actors"
_PROVIDER = "openai"
_AGENT = "codex"

# Bucket boundaries: the GenAI conventions' advice, the durations extended past 81.92 s (agent turns run long).
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    163.84, 327.68, 655.36, 1310.72, 2621.44,
)  # fmt: skip

# The outcome of the one import attempt: None before it, then whether opentelemetry (the API) is importable.
_otel_available: bool | None = None
# ``opentelemetry.trace.get_current_span`` once imported.
_get_current_span: Callable[[], Span] | None = None


def _check_import() -> bool:
    """Try importing opentelemetry once; cache (and return) whether it is there."""
    global _otel_available, _get_current_span
    if _otel_available is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _otel_available = False
        else:
            _get_current_span = trace.get_current_span
            _otel_available = True
    return _otel_available


def _require() -> None:
    if not (_otel_available if _otel_available is not None else _check_import()):
        raise ImportError(_INSTALL_HINT)


def current_trace_context() -> dict[str, str] | None:
    """The W3C trace context of the current OpenTelemetry span, to carry it to another thread or process.

    ``{"traceparent": "00-<trace id>-<span id>-<flags>"}``, plus ``"tracestate"`` when the span has one; ``None``
    when opentelemetry is not installed or no valid span is current. Cheap: one cached import check, then
    ``opentelemetry.trace.get_current_span()``.
    """
    if not (_otel_available if _otel_available is not None else _check_import()):
        return None
    assert _get_current_span is not None
    span_context = _get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    ids = f"{span_context.trace_id:032x}-{span_context.span_id:016x}"
    carrier = {"traceparent": f"00-{ids}-{span_context.trace_flags:02x}"}
    trace_state = span_context.trace_state
    if trace_state:
        carrier["tracestate"] = trace_state.to_header()
    return carrier


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _event_time_ns(measurements: Mapping[str, float]) -> int:
    """The event's ``system_time`` in nanoseconds since the epoch (now, when it is missing)."""
    system_time = measurements.get("system_time")
    if isinstance(system_time, int | float) and not isinstance(system_time, bool):
        return _ns(system_time)
    return time.time_ns()


def _number(measurements: Mapping[str, float], key: str) -> float | None:
    value = measurements.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _string(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    return value if isinstance(value, str) else None


class OtelHandler:
    """A telemetry handler turning codex-actors events into OpenTelemetry spans and metrics.

    Call it as ``handler(event_name, measurements, metadata)`` (the telemetry handler signature); see the module
    docstring for the spans and metrics it makes. ``tracer_provider`` / ``meter_provider``: where they go (None:
    the global providers). ``max_open``: the cap of each open-span table (turns, tool calls); the oldest open span
    is ended with status ERROR ``"evicted"`` to make room. Events it does not use are ignored. Thread-safe (one
    lock). Raises ``ImportError`` when opentelemetry is not installed.
    """

    #: The events it uses.
    event_names: ClassVar[tuple[str, ...]] = EVENT_NAMES

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        max_open: int = 10_000,
    ) -> None:
        _require()
        from opentelemetry import metrics, trace
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from ._version import __version__

        if isinstance(max_open, bool) or not isinstance(max_open, int) or max_open < 1:
            raise ValueError(f"max_open must be a positive int, got {max_open!r}")
        self._max_open = max_open
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self._token_usage: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._propagator = TraceContextTextMapPropagator()
        self._empty_context: Callable[[], Context] = Context
        self._set_span_in_context = trace.set_span_in_context
        self._client, self._internal = SpanKind.CLIENT, SpanKind.INTERNAL
        self._status, self._error = Status, StatusCode.ERROR
        self._lock = threading.Lock()
        # Insertion-ordered: the first key is the oldest open span.
        self._turns: dict[tuple[Any, Any], Span] = {}
        self._tools: dict[tuple[Any, Any, Any], Span] = {}
        self._handlers: dict[str, Callable[[Mapping[str, float], Mapping[str, Any]], None]] = {
            "turn.start": self._turn_start,
            "turn.stop": self._turn_stop,
            "tool.start": self._tool_start,
            "tool.success": self._tool_success,
            "tool.failure": self._tool_failure,
        }

    def __call__(self, event_name: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
        """Handle one telemetry event (ignored unless it is one of :attr:`event_names`)."""
        handle = self._handlers.get(event_name)
        if handle is None:
            return
        with self._lock:
            handle(measurements, metadata)

    @property
    def open_spans(self) -> int:
        """How many spans are open (turns and tool calls started and not stopped yet)."""
        with self._lock:
            return len(self._turns) + len(self._tools)

    def end_open_spans(self, description: str = "uninstrumented") -> int:
        """End every open span now, with status ERROR ``description``; return how many there were."""
        with self._lock:
            spans = [*self._tools.values(), *self._turns.values()]
            self._tools.clear()
            self._turns.clear()
            for span in spans:
                self._end_with_error(span, description)
        return len(spans)

    # Everything below runs under the lock.

    def _end_with_error(self, span: Span, description: str, end_time: int | None = None) -> None:
        span.set_status(self._status(self._error, description))
        span.end(end_time=end_time)

    def _open(self, table: dict[Any, Span], key: Any, span: Span) -> None:
        replaced = table.pop(key, None)
        if replaced is not None:
            self._end_with_error(replaced, "superseded")
        while len(table) >= self._max_open:
            self._end_with_error(table.pop(next(iter(table))), "evicted")
        table[key] = span

    def _caller_context(self, metadata: Mapping[str, Any]) -> Context:
        """The context of the caller's span (``traceparent`` in the event), else an empty one (a root span)."""
        carrier = {}
        for key in ("traceparent", "tracestate"):
            value = _string(metadata, key)
            if value:
                carrier[key] = value
        if "traceparent" not in carrier:
            return self._empty_context()
        return self._propagator.extract(carrier, context=self._empty_context())

    def _start_turn_span(self, metadata: Mapping[str, Any], start_time: int) -> Span:
        attributes: dict[str, str] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.system": _PROVIDER,
            "gen_ai.provider.name": _PROVIDER,
            "gen_ai.agent.name": _AGENT,
        }
        thread_id = _string(metadata, "thread_id")
        if thread_id is not None:
            attributes["gen_ai.conversation.id"] = thread_id
        model = _string(metadata, "model")
        if model is not None:
            attributes["gen_ai.request.model"] = model
        return self._tracer.start_span(
            f"invoke_agent {_AGENT}",
            context=self._caller_context(metadata),
            kind=self._client,
            attributes=attributes,
            start_time=start_time,
        )

    def _turn_start(self, measurements: Mapping[str, float], metadata: Mapping[str, Any]) -> None:
        span = self._start_turn_span(metadata, _event_time_ns(measurements))
        self._open(self._turns, (metadata.get("thread_id"), metadata.get("turn_id")), span)

    def _turn_stop(self, measurements: Mapping[str, float], metadata: Mapping[str, Any]) -> None:
        end_time = _event_time_ns(measurements)
        duration = _number(measurements, "duration_s")
        status = _string(metadata, "status")
        error_type = None if status == "completed" else (_string(metadata, "error") or status or "error")
        input_tokens = _number(measurements, "input_tokens")
        output_tokens = _number(measurements, "output_tokens")

        span = self._turns.pop((metadata.get("thread_id"), metadata.get("turn_id")), None)
        if span is None:  # attached in the middle of the turn: its span from its duration
            span = self._start_turn_span(metadata, end_time - _ns(duration or 0.0))
        if input_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", int(input_tokens))
        if output_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", int(output_tokens))
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            self._end_with_error(span, error_type, end_time)
        else:
            span.end(end_time=end_time)

        attributes: dict[str, str] = {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": _PROVIDER}
        model = _string(metadata, "model")
        if model is not None:
            attributes["gen_ai.request.model"] = model
        if input_tokens is not None:
            self._token_usage.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
        if output_tokens is not None:
            self._token_usage.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})
        if duration is not None:
            if error_type is not None:
                attributes["error.type"] = error_type
            self._duration.record(duration, attributes)

    def _start_tool_span(self, metadata: Mapping[str, Any], start_time: int) -> Span:
        tool = _string(metadata, "tool") or "unknown"
        attributes: dict[str, str] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.type": "extension" if metadata.get("kind") == "mcp" else "function",
        }
        call_id = _string(metadata, "call_id")
        if call_id is not None:
            attributes["gen_ai.tool.call.id"] = call_id
        turn = self._turns.get((metadata.get("thread_id"), metadata.get("turn_id")))
        context = self._empty_context() if turn is None else self._set_span_in_context(turn, self._empty_context())
        return self._tracer.start_span(
            f"execute_tool {tool}",
            context=context,
            kind=self._internal,
            attributes=attributes,
            start_time=start_time,
        )

    @staticmethod
    def _tool_key(metadata: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        return (metadata.get("thread_id"), metadata.get("turn_id"), metadata.get("call_id"))

    def _tool_start(self, measurements: Mapping[str, float], metadata: Mapping[str, Any]) -> None:
        span = self._start_tool_span(metadata, _event_time_ns(measurements))
        self._open(self._tools, self._tool_key(metadata), span)

    def _tool_stop(
        self, measurements: Mapping[str, float], metadata: Mapping[str, Any], failure: str | None
    ) -> None:
        end_time = _event_time_ns(measurements)
        span = self._tools.pop(self._tool_key(metadata), None)
        if span is None:  # attached in the middle of the call: its span from its duration
            span = self._start_tool_span(metadata, end_time - _ns(_number(measurements, "duration_s") or 0.0))
        if failure is not None:
            span.set_attribute("error.type", failure)
            self._end_with_error(span, failure, end_time)
        else:
            span.end(end_time=end_time)

    def _tool_success(self, measurements: Mapping[str, float], metadata: Mapping[str, Any]) -> None:
        self._tool_stop(measurements, metadata, None)

    def _tool_failure(self, measurements: Mapping[str, float], metadata: Mapping[str, Any]) -> None:
        self._tool_stop(measurements, metadata, _string(metadata, "reason") or "failed")


class OtelInstrumentation:
    """The OpenTelemetry instrumentation :func:`instrument_opentelemetry` attached; ``uninstrument()`` ends it.

    Also a context manager (uninstrumenting on exit).
    """

    def __init__(self, handler: OtelHandler, detach: Callable[[str], bool]) -> None:
        #: The attached handler.
        self.handler: OtelHandler = handler
        self._detach = detach
        self._lock = threading.Lock()
        self._attached = True

    @property
    def instrumented(self) -> bool:
        """Whether its handler is still attached (False after :meth:`uninstrument`)."""
        return self._attached

    def uninstrument(self) -> None:
        """Detach the handler and end the spans still open (status ERROR ``"uninstrumented"``); idempotent."""
        with self._lock:
            if not self._attached:
                return
            self._attached = False
            self._detach(HANDLER_ID)
        self.handler.end_open_spans("uninstrumented")

    def __enter__(self) -> OtelInstrumentation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstrument()


def instrument_opentelemetry(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> OtelInstrumentation:
    """Report turns and tool calls as OpenTelemetry spans and metrics (see :mod:`codex_actors._otel`).

    Attaches an :class:`OtelHandler` to the telemetry events under the handler id ``"codex_actors.otel"``.
    ``tracer_provider`` / ``meter_provider``: None for the global ones. Raises ``ImportError`` when opentelemetry
    is not installed (``pip install 'codex-actors[otel]'``), ``ValueError`` when it is instrumented already
    (call :meth:`OtelInstrumentation.uninstrument` on the first one).
    """
    _require()
    # The handler table itself, not codex_actors.telemetry: that module re-exports this one (no import cycle).
    from ._telemetry_handlers import attach, detach

    handler = OtelHandler(tracer_provider=tracer_provider, meter_provider=meter_provider)
    attach(HANDLER_ID, list(handler.event_names), handler)
    return OtelInstrumentation(handler, detach)
