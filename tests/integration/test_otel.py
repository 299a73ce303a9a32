"""OpenTelemetry on the REAL engine + scripted model, with the SDK's in-memory exporter and metric reader.

A turn run inside a caller's span: the engine's ``turn/start`` carries the caller's W3C trace context (the
JSON-RPC ``trace`` field), the turn is an ``invoke_agent`` span under the caller's span with the thread id as
``gen_ai.conversation.id``, the client tool call an ``execute_tool`` span under it, and the token usage is
recorded in ``gen_ai.client.token.usage``. Unit details of the handler: tests/unit/test_otel.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from codex_actors import ApprovalMode, Codex, tool
from codex_actors.actors import GetChild, GetCounts
from codex_actors.telemetry import current_trace_context, instrument_opentelemetry
from codex_actors.testing import OfflineEngine, WireTap, message, reply, tool_call
from tests.support.waiting import ask


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_a_turn_is_an_invoke_agent_span_under_the_callers_with_its_tool_call_and_tokens(
    offline: OfflineEngine,
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer = tracer_provider.get_tracer("the caller")
    offline.model.enqueue(reply(tool_call("add", {"a": 1, "b": 2})), message("3"))
    with WireTap() as tap, instrument_opentelemetry(tracer_provider, meter_provider):
        config = dataclasses.replace(offline.config, codex_bin=tap.codex_bin, tools=[add])
        with Codex(config) as codex:
            thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
            with tracer.start_as_current_span("handle a request") as caller:
                context = current_trace_context()
                assert thread.run("add them").final_response == "3"
            telemetry = ask(codex.supervisor, GetChild("telemetry"))
            assert telemetry is not None
            ask(telemetry, GetCounts())  # the events told before this are handled
        (turn_start,) = tap.sent("turn/start")
        assert context is not None and turn_start.get("trace") == context
    spans = {span.name: span for span in exporter.get_finished_spans()}
    agent, tool_span = spans["invoke_agent codex"], spans["execute_tool add"]
    caller_context = caller.get_span_context()
    assert agent.kind is SpanKind.CLIENT
    assert agent.parent is not None and agent.parent.span_id == caller_context.span_id
    assert agent.context.trace_id == caller_context.trace_id
    assert agent.attributes is not None and agent.attributes["gen_ai.conversation.id"] == thread.id
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert tool_span.parent is not None and tool_span.parent.span_id == agent.context.span_id
    assert tool_span.attributes is not None and tool_span.attributes["gen_ai.tool.name"] == "add"
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    usage = {point.attributes["gen_ai.token.type"]: point.sum for point in points["gen_ai.client.token.usage"]}
    assert usage["input"] > 0 and usage["output"] > 0
