"""The telemetry event catalogue: every event the runtime emits, with its measurements and metadata.

An event is ``(name, measurements, metadata)``: ``measurements`` are numbers (durations in seconds, counts,
token counts), ``metadata`` plain values (ids, names, statuses), never secrets: no prompts, tool arguments,
environment values or keys. Every event also has the measurement ``system_time`` (``time.time()`` when it
happened). A measurement listed here may be left out when it does not apply (``time_to_first_token_s`` of a turn
that produced no output); metadata is always there, ``None`` when unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["EVENTS", "EventSpec"]


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event of the catalogue: its name, its measurement and metadata keys, and what it means."""

    name: str
    measurements: tuple[str, ...]
    metadata: tuple[str, ...]
    doc: str


_TOOL = ("tool", "kind", "server", "thread_id", "turn_id", "call_id")
_APPROVAL = ("kind", "thread_id", "turn_id", "policy")
_TOKENS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")

_SPECS = (
    EventSpec(
        "thread.start",
        (),
        ("thread_id", "resumed"),
        "A thread's actor started: its first use in this client, or a wake after hibernation "
        "(``resumed``: it resumes the thread on the engine first).",
    ),
    EventSpec(
        "thread.stop",
        ("duration_s",),
        ("thread_id", "reason"),
        "A thread's actor stopped: ``reason`` ``hibernated`` (idle) or ``stopped`` (the client closed). "
        "``duration_s``: how long it ran.",
    ),
    EventSpec(
        "thread.exception",
        ("duration_s",),
        ("thread_id", "error"),
        "A thread's actor crashed (``error``: the exception's class); its supervisor restarts it.",
    ),
    EventSpec(
        "thread.resume",
        (),
        ("thread_id", "reason", "outcome"),
        "A thread was resumed on the engine (``thread/resume``): ``reason`` ``engine_restart`` (it was loaded on "
        "an engine that died) or ``not_loaded`` (the engine did not have it); ``outcome`` ``ok`` or the error's "
        "class.",
    ),
    EventSpec(
        "turn.start",
        (),
        ("thread_id", "turn_id", "model", "traceparent"),
        "The engine accepted a turn started by this client (``traceparent``: the caller's W3C trace context, "
        "with OpenTelemetry installed and a span current).",
    ),
    EventSpec(
        "turn.stop",
        ("duration_s", "time_to_first_token_s", *_TOKENS),
        ("thread_id", "turn_id", "model", "status", "error", "traceparent"),
        "A turn ended: ``status`` ``completed``, ``failed``, ``interrupted``, ``timed_out`` (past "
        "``turn_timeout_s``) or ``error`` (it could not finish: the engine died, a line was dropped); ``error`` "
        "the error's class. Tokens are the turn's usage (absent when the engine reported none).",
    ),
    EventSpec(
        "token_usage.updated",
        (*_TOKENS, "total_tokens"),
        ("thread_id", "turn_id", "model"),
        "The engine reported a model request's token usage (``thread/tokenUsage/updated``, its ``last``).",
    ),
    EventSpec(
        "tool.start",
        (),
        _TOOL,
        "A tool call began: ``kind`` ``client`` (a Python ``@tool``) or ``mcp`` (an MCP server's, ``server``).",
    ),
    EventSpec("tool.success", ("duration_s",), _TOOL, "A tool call succeeded."),
    EventSpec(
        "tool.failure",
        ("duration_s",),
        (*_TOOL, "reason"),
        "A tool call failed: ``reason`` ``unknown_tool``, ``invalid_arguments``, ``raised``, ``timed_out``, "
        "``invalid_result``, ``reported`` (the tool returned ``success=False``) or ``failed`` (an MCP call).",
    ),
    EventSpec(
        "approval.requested",
        (),
        _APPROVAL,
        "The engine asked for an approval: ``kind`` ``command``, ``file_change``, ``permissions`` or "
        "``mcp_tool``; ``policy``: the name of the policy that decides (``None``: the default answer).",
    ),
    EventSpec(
        "approval.approved",
        ("wait_s",),
        (*_APPROVAL, "decision", "source"),
        "Approved (``decision`` ``accept`` or ``acceptForSession``) by the ``policy`` or the ``default``.",
    ),
    EventSpec(
        "approval.denied",
        ("wait_s",),
        (*_APPROVAL, "decision", "source"),
        "Denied (``decline`` or ``cancel``) by the ``policy``, the ``default``, or on an ``error`` (the policy "
        "raised or answered something that is not a decision: fail closed).",
    ),
    EventSpec(
        "approval.timeout",
        ("wait_s",),
        (*_APPROVAL, "decision", "source"),
        "The policy did not decide within ``approval_timeout_s``: declined (``source`` ``timeout``).",
    ),
    EventSpec("engine.start", (), ("pid", "generation"), "An engine process started (generation 0, then +1)."),
    EventSpec(
        "engine.exit",
        ("stderr_tail_length",),
        ("pid", "exit_code"),
        "An engine process exited without being asked to (it crashed, was killed, or quit); the length of its "
        "stderr tail (the tail itself is in the logs, never in events).",
    ),
    EventSpec(
        "engine.restart",
        ("attempt",),
        ("generation", "reason", "engine"),
        "The supervisor restarts the engine: ``reason`` ``crashed`` (it exited), ``hung`` (it stopped answering) "
        "or ``handshake_failed``; ``attempt`` within the restart window; ``engine`` its child name (``engine``, "
        "or ``engine:<i>`` in a pool).",
    ),
    EventSpec(
        "attachment.staged",
        ("size_bytes",),
        ("sha256", "name", "mime_type", "persist", "deduplicated"),
        "A file was staged (``codex_actors.files.stage``); ``deduplicated``: its bytes were staged already. "
        "Emitted on the thread that staged it (staging belongs to no client).",
    ),
    EventSpec(
        "attachment.cleaned",
        ("count", "bytes"),
        ("reason",),
        "Staged files were removed: ``reason`` ``ttl`` (expired, ``cleanup``), ``forced`` (``force_cleanup``) or "
        "``sweep`` (what a crashed process left, at a root's first use). On the thread that cleaned.",
    ),
    EventSpec(
        "protocol.error",
        ("size_bytes",),
        ("pid", "kind", "method"),
        "A line from the engine was dropped: ``kind`` ``malformed_line`` (not JSON-RPC) or ``line_too_long`` "
        "(over ``max_line_bytes``; ``size_bytes`` its size).",
    ),
)

#: Every event, by name.
EVENTS: Mapping[str, EventSpec] = {spec.name: spec for spec in _SPECS}
