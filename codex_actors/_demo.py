"""The offline demo: the real engine, a scripted model on 127.0.0.1, and a turn that runs a real shell command.

Nothing leaves the machine and no API key is needed: the model's replies are scripted, everything else (the
engine, its sandbox, the shell) is real. ``codex-actors demo`` runs :func:`run_demo`.
"""

from __future__ import annotations

from typing import Any, TextIO

from prometheus_client import REGISTRY, generate_latest

from ._modes import ApprovalMode, Sandbox
from ._protocol.generated import (
    AgentMessageDeltaNotification,
    AgentMessageThreadItem,
    CommandExecutionThreadItem,
    ItemCompletedNotification,
    ItemStartedNotification,
    ReasoningThreadItem,
    TurnCompletedNotification,
    TurnStartedNotification,
    UserMessageThreadItem,
)
from ._sync_api import Codex
from .actors import GetChild, GetCounts
from .models import Notification
from .telemetry import start_metrics_server
from .testing import OfflineEngine, exec_command, reasoning, reply, streamed_message

__all__ = ["metric_lines", "run_demo"]

COMMAND = "printf 'hello from a real shell\\n' > greeting.txt && cat greeting.txt && ls -l"
PROMPT = "Write a greeting to greeting.txt, show it, and list the workspace."


def _describe(note: Notification) -> str | None:
    payload = note.payload
    match payload:
        case ItemStartedNotification(item=CommandExecutionThreadItem(command=command)):
            return f"  $ {command}"
        case ItemCompletedNotification(item=CommandExecutionThreadItem() as item):
            output = "".join(f"\n    | {line}" for line in (item.aggregated_output or "").splitlines())
            return f"  command finished: exit code {item.exit_code}{output}"
        case ItemCompletedNotification(item=ReasoningThreadItem(summary=summary)):
            return f"  (reasoning) {' '.join(summary)}"
        case ItemCompletedNotification(item=UserMessageThreadItem()):
            return "  user message sent"
        case AgentMessageDeltaNotification(delta=delta):
            return f"  delta: {delta!r}"
        case TurnStartedNotification():
            return "turn started"
        case TurnCompletedNotification(turn=turn):
            return f"turn {turn.status.value} in {turn.duration_ms} ms"
    return None


def run_demo(out: TextIO, *, timeout: float = 60.0) -> int:
    """Run the demo, writing what happens to ``out``; returns a process exit code.

    It is the public API, as a program would use it: ``Codex(config).thread_start().turn(...).stream()``.
    """
    script = (
        reply(reasoning("The user wants a greeting file; I will use the shell."), exec_command(COMMAND)),
        reply(streamed_message("I wrote ", "greeting.txt ", "and listed the workspace.")),
    )
    with OfflineEngine(*script) as offline, Codex(offline.config) as codex, start_metrics_server(0) as metrics:
        print(f"engine: {codex.metadata.userAgent}", file=out)
        print(f"metrics: {metrics.url} (Prometheus text, while the demo runs)", file=out)
        print(f"model:  scripted, at {offline.model.url}", file=out)
        print(f"workspace: {offline.workspace}", file=out)
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all, sandbox=Sandbox.workspace_write)
        print(f"thread: {thread.id}", file=out)
        print(f"> {PROMPT}", file=out)
        final: str | None = None
        status = "?"
        for note in thread.turn(PROMPT).stream():
            line = _describe(note)
            if line is not None:
                print(line, file=out, flush=True)
            match note.payload:
                case ItemCompletedNotification(item=AgentMessageThreadItem(text=text)):
                    final = text
                case TurnCompletedNotification(turn=turn):
                    status = turn.status.value
        print(f"final answer: {final}", file=out)
        print(f"the model was asked {len(offline.model.requests)} times; nothing left this machine.", file=out)
        telemetry: Any = codex.supervisor.ask(GetChild("telemetry"))
        telemetry.ask(GetCounts())  # answered after the events told before it: the metrics are up to date
        for line in metric_lines(("codex_turns_total", "codex_tokens_total", "codex_requests_total")):
            print(f"  {line}", file=out)
    return 0 if status == "completed" else 1


def metric_lines(names: tuple[str, ...]) -> list[str]:
    """The samples of the global registry's metrics ``names``, as Prometheus text lines."""
    text = generate_latest(REGISTRY).decode("utf-8")
    return [line for line in text.splitlines() if line.startswith(names)]
