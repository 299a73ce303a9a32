"""Run the real Codex engine offline against a scripted model.

Only the model is mocked: :class:`ScriptedModel` is a Responses-API server on 127.0.0.1 that answers each model
request with the next queued reply, built with :func:`reply`, :func:`message`, :func:`exec_command`... The engine
(its sandbox, shell, patches and approvals) is the real one, pointed at the model by an isolated ``CODEX_HOME``
(:func:`write_offline_home`, :func:`offline_config`, :class:`OfflineEngine`).

Example, with ``codex exec`` (the pinned engine binary comes with the ``openai-codex-cli-bin`` wheel)::

    import os
    import subprocess

    import codex_cli_bin

    from codex_actors.testing import OfflineEngine, exec_command, message, reply

    with OfflineEngine() as offline:
        offline.model.enqueue(
            reply(exec_command("echo hi")),  # 1st model request: run a command
            message("done"),  # 2nd (it carries the command's output): answer
        )
        subprocess.run(
            [codex_cli_bin.bundled_codex_path(), "exec", "--json", "--skip-git-repo-check", "go"],
            cwd=offline.workspace,
            env={**os.environ, **offline.env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=True,
        )
        first, second = offline.model.requests
        assert "hi" in second.tool_output()
        offline.model.assert_done()
"""

from __future__ import annotations

from ._home import (
    DEFAULT_MODEL,
    OfflineEngine,
    offline_config,
    offline_env,
    offline_toml,
    write_offline_home,
)
from ._scripted_model import RecordedRequest, ScriptedModel
from ._sse import (
    CustomToolCall,
    Delay,
    Event,
    Failed,
    FunctionCall,
    Gate,
    HttpError,
    Message,
    OutputItem,
    Reasoning,
    Reply,
    ReplyLike,
    StreamedMessage,
    Usage,
    apply_patch,
    delay,
    event,
    exec_command,
    failed,
    http_error,
    message,
    output_item,
    reasoning,
    reply,
    streamed_message,
    tool_call,
)
from ._wiretap import WireRecord, WireTap

__all__ = [
    "DEFAULT_MODEL",
    "CustomToolCall",
    "Delay",
    "Event",
    "Failed",
    "FunctionCall",
    "Gate",
    "HttpError",
    "Message",
    "OfflineEngine",
    "OutputItem",
    "Reasoning",
    "RecordedRequest",
    "Reply",
    "ReplyLike",
    "ScriptedModel",
    "StreamedMessage",
    "Usage",
    "WireRecord",
    "WireTap",
    "apply_patch",
    "delay",
    "event",
    "exec_command",
    "failed",
    "http_error",
    "message",
    "offline_config",
    "offline_env",
    "offline_toml",
    "output_item",
    "reasoning",
    "reply",
    "streamed_message",
    "tool_call",
    "write_offline_home",
]
