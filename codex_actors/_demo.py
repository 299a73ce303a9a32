"""The offline demo: the real engine, a scripted model on 127.0.0.1, and a turn that runs a real shell command.

Nothing leaves the machine and no API key is needed: the model's replies are scripted, everything else (the
engine, its sandbox, the shell) is real. ``codex-actors demo`` runs :func:`run_demo`.
"""

from __future__ import annotations

from typing import Any, TextIO

import msgspec

from .actors._port import EngineConnection
from .actors._router import NotificationBuffer, Router
from .testing import OfflineEngine, exec_command, reasoning, reply, streamed_message

__all__ = ["run_demo"]

COMMAND = "printf 'hello from a real shell\\n' > greeting.txt && cat greeting.txt && ls -l"
PROMPT = "Write a greeting to greeting.txt, show it, and list the workspace."


def _describe(method: str, params: dict[str, Any]) -> str | None:
    item = params.get("item") or {}
    kind = item.get("type")
    if method == "item/started" and kind == "commandExecution":
        return f"  $ {item.get('command')}"
    if method == "item/completed" and kind == "commandExecution":
        output = "".join(f"\n    | {line}" for line in str(item.get("aggregatedOutput", "")).splitlines())
        return f"  command finished: exit code {item.get('exitCode')}{output}"
    if method == "item/completed" and kind == "reasoning":
        return f"  (reasoning) {' '.join(str(s) for s in item.get('summary', []))}"
    if method == "item/completed" and kind == "userMessage":
        return "  user message sent"
    if method == "item/agentMessage/delta":
        return f"  delta: {params.get('delta')!r}"
    if method == "turn/started":
        return "turn started"
    if method == "turn/completed":
        turn = params.get("turn") or {}
        return f"turn {turn.get('status')} in {turn.get('durationMs')} ms"
    return None


def run_demo(out: TextIO, *, timeout: float = 60.0) -> int:
    """Run the demo, writing what happens to ``out``; returns a process exit code."""
    script = (
        reply(reasoning("The user wants a greeting file; I will use the shell."), exec_command(COMMAND)),
        reply(streamed_message("I wrote ", "greeting.txt ", "and listed the workspace.")),
    )
    with OfflineEngine(*script) as offline:
        events = NotificationBuffer(maxlen=10_000)
        with EngineConnection.open(offline.config, router=Router()) as conn:
            agent = conn.initialize_result.get("userAgent", "?")
            print(f"engine: {agent} (pid {conn.status().pid})", file=out)
            print(f"model:  scripted, at {offline.model.url}", file=out)
            print(f"workspace: {offline.workspace}", file=out)
            params = {"approvalPolicy": "never", "sandbox": "workspace-write"}
            started = msgspec.json.decode(conn.request("thread/start", params))
            thread_id = started["thread"]["id"]
            conn.router.bind_thread(thread_id, events)
            print(f"thread: {thread_id}", file=out)
            print(f"> {PROMPT}", file=out)
            conn.request("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": PROMPT}]})
            final: str | None = None
            while True:
                note = events.get(timeout)
                payload = msgspec.json.decode(note.params)
                line = _describe(note.method, payload)
                if line is not None:
                    print(line, file=out, flush=True)
                item = payload.get("item") or {}
                if note.method == "item/completed" and item.get("type") == "agentMessage":
                    final = item.get("text")
                if note.method == "turn/completed":
                    status = payload["turn"]["status"]
                    break
        print(f"final answer: {final}", file=out)
        print(f"the model was asked {len(offline.model.requests)} times; nothing left this machine.", file=out)
    return 0 if status == "completed" else 1
