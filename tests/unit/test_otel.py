"""The OpenTelemetry handler: telemetry events in, spans and metrics out (on fresh providers, never the global)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags, TraceState

from codex_actors import _otel
from codex_actors._otel import (
    EVENT_NAMES,
    HANDLER_ID,
    OtelHandler,
    OtelInstrumentation,
    current_trace_context,
    instrument_opentelemetry,
)

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.25  # an event time, seconds since the epoch
NS = 1_000_000_000
DURATION = "gen_ai.client.operation.duration"
USAGE = "gen_ai.client.token.usage"
NO_TRACE = {"traceparent": None}


class Otel:
    """A fresh tracer provider and meter provider with in-memory exporters, and a handler on them."""

    def __init__(self, max_open: int = 10_000) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.handler = OtelHandler(self.tracer_provider, self.meter_provider, max_open=max_open)
        self.tracer = self.tracer_provider.get_tracer("tests")

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, [span.name for span in self.spans()]
        return found[0]

    def metrics(self) -> dict[str, Metric]:
        data = self.reader.get_metrics_data()
        if data is None:
            return {}
        return {
            metric.name: metric
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }

    def points(self, name: str) -> list[HistogramDataPoint]:
        points = []
        for point in self.metrics()[name].data.data_points:
            assert isinstance(point, HistogramDataPoint)
            points.append(point)
        return points

    def point_attributes(self, name: str) -> list[tuple[dict[str, Any], HistogramDataPoint]]:
        return [(dict(point.attributes or {}), point) for point in self.points(name)]

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Otel]:
    fixture = Otel()
    yield fixture
    fixture.close()


def turn_start(
    otel: Otel, at: float = T0, thread_id: str = "thr_1", turn_id: str = "turn_1", **metadata: Any
) -> None:
    meta: dict[str, Any] = {"thread_id": thread_id, "turn_id": turn_id, "model": "gpt-5", "traceparent": None}
    otel.handler("turn.start", {"system_time": at}, meta | metadata)


def turn_stop(
    otel: Otel,
    at: float = T0 + 2.5,
    thread_id: str = "thr_1",
    turn_id: str = "turn_1",
    status: str = "completed",
    error: str | None = None,
    duration_s: float = 2.5,
    **metadata: Any,
) -> None:
    measurements = {
        "system_time": at,
        "duration_s": duration_s,
        "time_to_first_token_s": 0.5,
        "input_tokens": 1200.0,
        "cached_input_tokens": 200.0,
        "output_tokens": 34.0,
        "reasoning_output_tokens": 10.0,
    }
    meta: dict[str, Any] = {
        "thread_id": thread_id,
        "turn_id": turn_id,
        "model": "gpt-5",
        "status": status,
        "error": error,
        "traceparent": None,
    }
    otel.handler("turn.stop", measurements, meta | metadata)


def tool_meta(call_id: str = "call_1", tool: str = "lookup", kind: str = "client", **extra: Any) -> dict[str, Any]:
    server = "docs" if kind == "mcp" else None
    meta = {"tool": tool, "kind": kind, "server": server, "thread_id": "thr_1", "turn_id": "turn_1"}
    return meta | {"call_id": call_id} | extra


def tool_start(otel: Otel, at: float = T0 + 1, **meta: Any) -> None:
    otel.handler("tool.start", {"system_time": at}, tool_meta(**meta))


def tool_success(otel: Otel, at: float = T0 + 1.5, duration_s: float = 0.5, **meta: Any) -> None:
    otel.handler("tool.success", {"system_time": at, "duration_s": duration_s}, tool_meta(**meta))


def tool_failure(otel: Otel, reason: str, at: float = T0 + 1.5, **meta: Any) -> None:
    otel.handler("tool.failure", {"system_time": at, "duration_s": 0.5}, tool_meta(reason=reason, **meta))


# Turns


def test_a_turn_is_an_invoke_agent_client_span_from_its_start_to_its_stop(otel: Otel) -> None:
    turn_start(otel)
    assert otel.spans() == [] and otel.handler.open_spans == 1
    turn_stop(otel)

    span = otel.span("invoke_agent codex")
    assert span.kind is SpanKind.CLIENT
    assert span.start_time == int(T0 * NS)
    assert span.end_time == int((T0 + 2.5) * NS)
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.system": "openai",
        "gen_ai.provider.name": "openai",
        "gen_ai.agent.name": "codex",
        "gen_ai.conversation.id": "thr_1",
        "gen_ai.request.model": "gpt-5",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 34,
    }
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "codex_actors"
    assert otel.handler.open_spans == 0


def test_a_turn_span_is_a_child_of_the_callers_span_given_by_traceparent(otel: Otel) -> None:
    with otel.tracer.start_as_current_span("caller") as caller:
        context = current_trace_context()
    assert context is not None
    turn_start(otel, traceparent=context["traceparent"])
    turn_stop(otel, traceparent=context["traceparent"])

    span = otel.span("invoke_agent codex")
    assert span.parent is not None
    assert span.parent.span_id == caller.get_span_context().span_id
    assert span.parent.is_remote
    assert span.context.trace_id == caller.get_span_context().trace_id


def test_the_callers_tracestate_is_carried_too(otel: Otel) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    turn_start(otel, traceparent=traceparent, tracestate="vendor=abc")
    turn_stop(otel)
    span = otel.span("invoke_agent codex")
    assert span.parent is not None and span.parent.span_id == 0xB7AD6B7169203331
    assert span.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span.context.trace_state.get("vendor") == "abc"


def test_without_a_traceparent_a_turn_span_is_a_root_even_under_a_current_span(otel: Otel) -> None:
    with otel.tracer.start_as_current_span("ambient"):  # the handler's thread may have one: not the caller's
        turn_start(otel)
        turn_stop(otel)
    assert otel.span("invoke_agent codex").parent is None


@pytest.mark.parametrize("traceparent", ["garbage", "00-00000000000000000000000000000000-0000000000000000-01", ""])
def test_an_invalid_traceparent_makes_a_root_span(otel: Otel, traceparent: str) -> None:
    turn_start(otel, traceparent=traceparent)
    turn_stop(otel)
    assert otel.span("invoke_agent codex").parent is None


@pytest.mark.parametrize(
    ("status", "error", "description"),
    [
        ("failed", None, "failed"),
        ("interrupted", None, "interrupted"),
        ("timed_out", None, "timed_out"),
        ("error", "EngineCrashed", "EngineCrashed"),
        ("failed", "TurnFailed", "TurnFailed"),
    ],
)
def test_a_turn_that_did_not_complete_has_status_error(
    otel: Otel, status: str, error: str | None, description: str
) -> None:
    turn_start(otel)
    turn_stop(otel, status=status, error=error)
    span = otel.span("invoke_agent codex")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == description
    assert (span.attributes or {})["error.type"] == description


def test_a_turn_stop_without_its_start_makes_the_span_from_its_duration(otel: Otel) -> None:
    turn_stop(otel, at=T0 + 10, duration_s=4.0)
    span = otel.span("invoke_agent codex")
    assert span.start_time == int((T0 + 10) * NS) - 4 * NS
    assert span.end_time == int((T0 + 10) * NS)
    assert (span.attributes or {})["gen_ai.conversation.id"] == "thr_1"


def test_turns_are_kept_apart_by_thread_and_turn(otel: Otel) -> None:
    turn_start(otel, at=T0, thread_id="a", turn_id="t")
    turn_start(otel, at=T0 + 1, thread_id="b", turn_id="t")
    turn_stop(otel, at=T0 + 5, thread_id="a", turn_id="t")
    turn_stop(otel, at=T0 + 7, thread_id="b", turn_id="t")
    by_thread = {(span.attributes or {})["gen_ai.conversation.id"]: span for span in otel.spans()}
    assert by_thread["a"].start_time == int(T0 * NS) and by_thread["a"].end_time == int((T0 + 5) * NS)
    assert by_thread["b"].start_time == int((T0 + 1) * NS) and by_thread["b"].end_time == int((T0 + 7) * NS)


def test_a_second_start_of_an_open_turn_ends_the_first_span(otel: Otel) -> None:
    turn_start(otel, at=T0)
    turn_start(otel, at=T0 + 1)
    [superseded] = otel.spans()
    assert superseded.status.status_code is StatusCode.ERROR and superseded.status.description == "superseded"
    turn_stop(otel)
    assert otel.spans()[1].start_time == int((T0 + 1) * NS)
    assert otel.handler.open_spans == 0


def test_a_missing_system_time_means_now(otel: Otel) -> None:
    otel.handler("turn.start", {}, {"thread_id": "thr_1", "turn_id": "turn_1", "model": None, "traceparent": None})
    turn_stop(otel, at=4_000_000_000.0)
    span = otel.span("invoke_agent codex")
    assert span.start_time is not None and abs(span.start_time - time.time_ns()) < 60 * NS
    assert "gen_ai.request.model" not in (span.attributes or {})


# Tools


@pytest.mark.parametrize(("kind", "tool_type"), [("client", "function"), ("mcp", "extension")])
def test_a_tool_call_is_an_execute_tool_span_under_its_turn(otel: Otel, kind: str, tool_type: str) -> None:
    turn_start(otel)
    tool_start(otel, kind=kind)
    tool_success(otel, kind=kind)
    turn_stop(otel)

    turn = otel.span("invoke_agent codex")
    tool = otel.span("execute_tool lookup")
    assert tool.kind is SpanKind.INTERNAL
    assert tool.parent is not None and tool.parent.span_id == turn.context.span_id
    assert tool.context.trace_id == turn.context.trace_id
    assert tool.start_time == int((T0 + 1) * NS)
    assert tool.end_time == int((T0 + 1.5) * NS)
    assert tool.status.status_code is StatusCode.UNSET
    assert dict(tool.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.type": tool_type,
    }


def test_the_turn_and_tool_spans_join_the_callers_trace(otel: Otel) -> None:
    with otel.tracer.start_as_current_span("caller") as caller:
        context = current_trace_context()
    assert context is not None
    turn_start(otel, traceparent=context["traceparent"])
    tool_start(otel)
    tool_success(otel)
    turn_stop(otel)
    trace_ids = {span.context.trace_id for span in otel.spans()}
    assert trace_ids == {caller.get_span_context().trace_id}


@pytest.mark.parametrize("reason", ["unknown_tool", "invalid_arguments", "raised", "timed_out", "reported"])
def test_a_tool_failure_has_status_error_with_its_reason(otel: Otel, reason: str) -> None:
    turn_start(otel)
    tool_start(otel)
    tool_failure(otel, reason)
    span = otel.span("execute_tool lookup")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == reason
    assert (span.attributes or {})["error.type"] == reason
    assert span.end_time == int((T0 + 1.5) * NS)


def test_a_tool_call_outside_an_open_turn_is_a_root_span(otel: Otel) -> None:
    tool_start(otel)
    tool_success(otel)
    assert otel.span("execute_tool lookup").parent is None


def test_a_tool_call_after_its_turn_stopped_is_a_root_span(otel: Otel) -> None:
    turn_start(otel)
    turn_stop(otel)
    tool_start(otel, at=T0 + 3)
    tool_success(otel, at=T0 + 4)
    assert otel.span("execute_tool lookup").parent is None


def test_a_tool_stop_without_its_start_makes_the_span_from_its_duration(otel: Otel) -> None:
    turn_start(otel)
    tool_success(otel, at=T0 + 2, duration_s=0.75)
    span = otel.span("execute_tool lookup")
    assert span.start_time == int((T0 + 2) * NS) - int(0.75 * NS)
    assert span.end_time == int((T0 + 2) * NS)
    assert span.parent is not None  # the turn is open: its child


def test_concurrent_tool_calls_of_a_turn_are_kept_apart_by_call_id(otel: Otel) -> None:
    turn_start(otel)
    tool_start(otel, at=T0 + 1, call_id="call_a", tool="a")
    tool_start(otel, at=T0 + 1.1, call_id="call_b", tool="b")
    tool_failure(otel, "raised", at=T0 + 1.2, call_id="call_b", tool="b")
    tool_success(otel, at=T0 + 1.3, call_id="call_a", tool="a")
    turn_stop(otel)
    a, b = otel.span("execute_tool a"), otel.span("execute_tool b")
    assert a.end_time == int((T0 + 1.3) * NS) and a.status.status_code is StatusCode.UNSET
    assert b.end_time == int((T0 + 1.2) * NS) and b.status.status_code is StatusCode.ERROR


# Metrics


def test_token_usage_and_duration_histograms_are_recorded_at_turn_stop(otel: Otel) -> None:
    turn_start(otel)
    assert otel.metrics() == {}
    turn_stop(otel)

    usage = otel.metrics()["gen_ai.client.token.usage"]
    assert usage.unit == "{token}"
    by_type = {attrs["gen_ai.token.type"]: point for attrs, point in otel.point_attributes(USAGE)}
    assert set(by_type) == {"input", "output"}
    for token_type, tokens in [("input", 1200), ("output", 34)]:
        point = by_type[token_type]
        assert (point.count, point.sum) == (1, tokens)
        assert dict(point.attributes or {}) == {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-5",
            "gen_ai.token.type": token_type,
        }
    assert list(by_type["input"].explicit_bounds)[:3] == [1, 4, 16]

    duration = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    [point] = otel.points("gen_ai.client.operation.duration")
    assert (point.count, point.sum) == (1, 2.5)
    assert dict(point.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-5",
    }


def test_histograms_aggregate_turns_by_model_and_outcome(otel: Otel) -> None:
    for n, (model, status) in enumerate([("gpt-5", "completed"), ("gpt-5", "completed"), ("o3", "failed")]):
        turn_start(otel, turn_id=f"t{n}", model=model)
        turn_stop(otel, turn_id=f"t{n}", model=model, status=status)

    inputs = {
        attrs["gen_ai.request.model"]: point
        for attrs, point in otel.point_attributes(USAGE)
        if attrs["gen_ai.token.type"] == "input"
    }
    assert (inputs["gpt-5"].count, inputs["gpt-5"].sum) == (2, 2400)
    assert (inputs["o3"].count, inputs["o3"].sum) == (1, 1200)
    durations = {attrs.get("error.type"): (attrs, point) for attrs, point in otel.point_attributes(DURATION)}
    assert durations[None][1].count == 2
    assert durations["failed"][1].count == 1 and durations["failed"][0]["gen_ai.request.model"] == "o3"


def test_token_usage_is_recorded_only_for_the_measurements_present(otel: Otel) -> None:
    otel.handler(
        "turn.stop",
        {"system_time": T0, "duration_s": 1.0, "input_tokens": 5.0},
        {
            "thread_id": "x",
            "turn_id": "y",
            "model": "m",
            "status": "completed",
            "error": None,
            "traceparent": None,
        },
    )
    [(attrs, _)] = otel.point_attributes(USAGE)
    assert attrs["gen_ai.token.type"] == "input"
    assert "gen_ai.usage.output_tokens" not in (otel.span("invoke_agent codex").attributes or {})


# Bounds, unknown events, threads


def test_open_turn_spans_are_bounded_evicting_the_oldest() -> None:
    otel = Otel(max_open=3)
    try:
        for n in range(5):
            turn_start(otel, at=T0 + n, turn_id=f"t{n}")
        assert otel.handler.open_spans == 3
        evicted = otel.spans()
        assert [span.start_time for span in evicted] == [int(T0 * NS), int((T0 + 1) * NS)]
        for span in evicted:
            assert span.status.status_code is StatusCode.ERROR and span.status.description == "evicted"
        for n in range(2, 5):
            turn_stop(otel, at=T0 + 10, turn_id=f"t{n}")
        assert otel.handler.open_spans == 0
        assert [span.status.status_code for span in otel.spans()[2:]] == [StatusCode.UNSET] * 3
    finally:
        otel.close()


def test_open_tool_spans_are_bounded_evicting_the_oldest() -> None:
    otel = Otel(max_open=2)
    try:
        turn_start(otel)
        for n in range(4):
            tool_start(otel, at=T0 + n, call_id=f"c{n}", tool=f"tool{n}")
        assert otel.handler.open_spans == 1 + 2
        assert [span.name for span in otel.spans()] == ["execute_tool tool0", "execute_tool tool1"]
        assert {span.status.description for span in otel.spans()} == {"evicted"}
    finally:
        otel.close()


def test_max_open_must_be_positive() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="max_open"):
            OtelHandler(TracerProvider(), MeterProvider(), max_open=bad)  # type: ignore[arg-type]


def test_other_events_are_ignored(otel: Otel) -> None:
    meta = {"thread_id": "thr_1", "turn_id": "turn_1", "kind": "command", "policy": None, "pid": 1}
    for name in [
        "thread.start",
        "thread.stop",
        "token_usage.updated",
        "approval.requested",
        "approval.approved",
        "engine.start",
        "protocol.error",
        "no.such.event",
        "",
    ]:
        otel.handler(name, {"system_time": T0, "duration_s": 1.0, "input_tokens": 3.0}, meta)
    assert otel.spans() == [] and otel.metrics() == {} and otel.handler.open_spans == 0


def test_the_handler_uses_exactly_the_turn_and_tool_events() -> None:
    assert OtelHandler.event_names == EVENT_NAMES
    assert set(EVENT_NAMES) == {"turn.start", "turn.stop", "tool.start", "tool.success", "tool.failure"}


def test_end_open_spans_ends_them_with_an_error(otel: Otel) -> None:
    turn_start(otel)
    tool_start(otel)
    assert otel.handler.end_open_spans("shutdown") == 2
    assert {span.status.description for span in otel.spans()} == {"shutdown"}
    assert otel.handler.open_spans == 0
    assert otel.handler.end_open_spans() == 0


def test_the_handler_is_safe_from_several_threads(otel: Otel) -> None:
    def run(worker: int) -> None:
        for n in range(50):
            turn_id = f"w{worker}-{n}"
            turn_start(otel, turn_id=turn_id)
            otel.handler("tool.start", {"system_time": T0}, tool_meta(call_id=turn_id, turn_id=turn_id))
            otel.handler(
                "tool.success", {"system_time": T0, "duration_s": 0.1}, tool_meta(call_id=turn_id, turn_id=turn_id)
            )
            turn_stop(otel, turn_id=turn_id)

    threads = [threading.Thread(target=run, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans = otel.spans()
    assert len(spans) == 8 * 50 * 2 and otel.handler.open_spans == 0
    turns = {span.context.span_id for span in spans if span.name == "invoke_agent codex"}
    assert all(
        span.parent is not None and span.parent.span_id in turns
        for span in spans
        if span.name != "invoke_agent codex"
    )


# current_trace_context


def test_current_trace_context_outside_a_span_is_none() -> None:
    assert current_trace_context() is None


def test_current_trace_context_inside_a_span_is_its_traceparent(otel: Otel) -> None:
    with otel.tracer.start_as_current_span("caller") as span:
        context = current_trace_context()
    span_context = span.get_span_context()
    # The SDK may set the W3C level-2 "random" flag (0x02) next to "sampled" (0x01): the span's flags, as they are.
    flags = f"{span_context.trace_flags:02x}"
    assert int(flags, 16) & TraceFlags.SAMPLED
    assert context == {"traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags}"}


def test_current_trace_context_carries_the_tracestate_and_flags() -> None:
    span_context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(0),
        trace_state=TraceState([("vendor", "abc"), ("other", "x")]),
    )
    with trace.use_span(NonRecordingSpan(span_context)):
        context = current_trace_context()
    assert context == {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00",
        "tracestate": "vendor=abc,other=x",
    }


def test_current_trace_context_of_an_invalid_span_is_none() -> None:
    with trace.use_span(trace.INVALID_SPAN):
        assert current_trace_context() is None


def test_current_trace_context_round_trips_through_the_w3c_propagator(otel: Otel) -> None:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    with otel.tracer.start_as_current_span("caller") as span:
        mine = current_trace_context()
        theirs: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(theirs)
    assert mine == theirs
    assert span.get_span_context().is_valid


def test_current_trace_context_without_opentelemetry_is_none(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_otel, "_otel_available", False)
    with otel.tracer.start_as_current_span("caller"):
        assert current_trace_context() is None


def test_the_import_check_runs_once_and_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_otel, "_otel_available", None)
    monkeypatch.setattr(_otel, "_get_current_span", None)
    assert current_trace_context() is None
    assert _otel._otel_available is True and _otel._get_current_span is trace.get_current_span


def test_a_failed_import_is_cached_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_otel, "_otel_available", None)
    monkeypatch.setattr(_otel, "_get_current_span", None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # makes `import opentelemetry` raise ImportError
    assert current_trace_context() is None
    assert _otel._otel_available is False
    with pytest.raises(ImportError, match=r"pip install 'codex-actors\[otel\]'"):
        instrument_opentelemetry()


@pytest.mark.parametrize(
    "modules", ["codex_actors._otel", "codex_actors, codex_actors.telemetry, codex_actors._otel"]
)
def test_importing_does_not_import_opentelemetry(modules: str) -> None:
    script = f"import sys, {modules}; assert 'opentelemetry' not in sys.modules, 'imported'"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_first_current_trace_context_imports_opentelemetry_once() -> None:
    script = (
        "import sys, codex_actors._otel as otel\n"
        "assert otel._otel_available is None\n"
        "assert otel.current_trace_context() is None\n"
        "assert otel._otel_available is True and 'opentelemetry.trace' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# instrument_opentelemetry


class StubTelemetry(types.ModuleType):
    """Stands in for codex_actors._telemetry_handlers (the handler table): records attach and detach."""

    def __init__(self) -> None:
        super().__init__("codex_actors._telemetry_handlers")
        self.attached: dict[str, tuple[list[str] | None, Any]] = {}
        self.detached: list[str] = []

    def attach(self, handler_id: str, event_names: list[str] | None, fn: Any) -> None:
        if handler_id in self.attached:
            raise ValueError(f"handler {handler_id!r} is attached already")
        self.attached[handler_id] = (event_names, fn)

    def detach(self, handler_id: str) -> bool:
        self.detached.append(handler_id)
        return self.attached.pop(handler_id, None) is not None


@pytest.fixture
def stub_telemetry(monkeypatch: pytest.MonkeyPatch) -> StubTelemetry:
    stub = StubTelemetry()
    monkeypatch.setitem(sys.modules, "codex_actors._telemetry_handlers", stub)
    return stub


def test_instrument_attaches_a_handler_for_its_events(stub_telemetry: StubTelemetry) -> None:
    otel = Otel()
    try:
        instrumentation = instrument_opentelemetry(otel.tracer_provider, otel.meter_provider)
        assert isinstance(instrumentation, OtelInstrumentation) and instrumentation.instrumented
        event_names, fn = stub_telemetry.attached[HANDLER_ID]
        assert event_names == list(EVENT_NAMES)
        assert fn is instrumentation.handler

        fn(
            "turn.start",
            {"system_time": T0},
            {"thread_id": "a", "turn_id": "b", "model": "m", "traceparent": None},
        )
        fn("tool.start", {"system_time": T0}, tool_meta(turn_id="b", thread_id="a"))
        instrumentation.uninstrument()
        assert stub_telemetry.detached == [HANDLER_ID] and not instrumentation.instrumented
        # the spans still open are ended, not lost
        assert {span.status.description for span in otel.spans()} == {"uninstrumented"}
        assert len(otel.spans()) == 2

        instrumentation.uninstrument()  # idempotent
        assert stub_telemetry.detached == [HANDLER_ID]
    finally:
        otel.close()


def test_instrument_twice_raises_until_uninstrumented(stub_telemetry: StubTelemetry) -> None:
    first = instrument_opentelemetry(TracerProvider(), MeterProvider())
    with pytest.raises(ValueError, match="attached already"):
        instrument_opentelemetry(TracerProvider(), MeterProvider())
    first.uninstrument()
    second = instrument_opentelemetry(TracerProvider(), MeterProvider())
    assert stub_telemetry.attached[HANDLER_ID][1] is second.handler
    second.uninstrument()


def test_instrumentation_is_a_context_manager(stub_telemetry: StubTelemetry) -> None:
    with instrument_opentelemetry(TracerProvider(), MeterProvider()) as instrumentation:
        assert HANDLER_ID in stub_telemetry.attached
    assert HANDLER_ID not in stub_telemetry.attached and not instrumentation.instrumented


def test_instrument_without_providers_uses_the_global_ones(stub_telemetry: StubTelemetry) -> None:
    with instrument_opentelemetry() as instrumentation:
        handler = instrumentation.handler
        # The global (no-op, unless the application set one) providers: events are handled without error.
        handler(
            "turn.start",
            {"system_time": T0},
            {"thread_id": "a", "turn_id": "b", "model": "m", "traceparent": None},
        )
        handler(
            "turn.stop",
            {"system_time": T0 + 1, "duration_s": 1.0, "input_tokens": 1.0, "output_tokens": 1.0},
            {
                "thread_id": "a",
                "turn_id": "b",
                "model": "m",
                "status": "completed",
                "error": None,
                "traceparent": None,
            },
        )
        assert handler.open_spans == 0


def test_instrument_with_the_real_telemetry_module() -> None:
    import codex_actors.telemetry as telemetry

    with instrument_opentelemetry(TracerProvider(), MeterProvider()) as instrumentation:
        with pytest.raises(ValueError):
            instrument_opentelemetry(TracerProvider(), MeterProvider())
        assert instrumentation.instrumented
    assert telemetry.detach(HANDLER_ID) is False  # uninstrumented: nothing left attached


def test_without_opentelemetry_instrument_raises_import_error_naming_the_extra(
    stub_telemetry: StubTelemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_otel, "_otel_available", False)
    with pytest.raises(ImportError, match=r"pip install 'codex-actors\[otel\]'"):
        instrument_opentelemetry()
    with pytest.raises(ImportError, match="codex-actors"):
        OtelHandler()
    assert stub_telemetry.attached == {}
