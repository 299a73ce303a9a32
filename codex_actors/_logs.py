"""The logging conventions of the package: logger names, the ``extra`` field names, redaction, ANSI stripping.

Every logger is a child of ``codex_actors`` (which has only a ``NullHandler``: the package never configures
handlers). A record's ``extra`` fields are flat and named the same everywhere (:data:`FIELDS`), so a JSON formatter
or a filter can rely on them: ``pid``, ``argv``, ``method``, ``request_id``, ``outcome``, ``elapsed_s``,
``timeout_s``, ``child``, ``reason``, ``thread_id``, ``turn_id``, ``attempt``, ``exit_code`` (and a few more
named in ``docs/telemetry.md``). Values are plain ``str``/``int``/``float``/``None`` (``argv`` a list of ``str``).

Nothing here costs anything unless a record is emitted: callers on hot paths check ``isEnabledFor`` first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = [
    "ENGINE",
    "FIELDS",
    "REDACTED",
    "REQUESTS",
    "SECRET_KEY",
    "STDERR",
    "describe",
    "log_timeout",
    "redact_argv",
    "strip_ansi",
]

#: ``codex_actors.engine``: the engine process, started (pid, argv) and exited (exit code, stderr tail).
ENGINE = logging.getLogger("codex_actors.engine")
#: ``codex_actors.engine.stderr``: the engine's stderr, a line per record at DEBUG, without colour codes.
STDERR = logging.getLogger("codex_actors.engine.stderr")
#: ``codex_actors.requests``: one line per request answered (DEBUG), and requests that timed out (WARNING).
REQUESTS = logging.getLogger("codex_actors.requests")

#: The ``extra`` field names used across the package (a record carries those that apply to it).
FIELDS = (
    "pid",
    "argv",
    "cwd",
    "method",
    "request_id",
    "outcome",
    "error_code",
    "elapsed_s",
    "timeout_s",
    "supervisor",
    "child",
    "reason",
    "generation",
    "attempt",
    "thread_id",
    "turn_id",
    "exit_code",
    "stderr_tail",
    "tool",
    "handler_id",
    "event",
)

#: What a secret is replaced with in a logged argv.
REDACTED = "<redacted>"

#: A key (a ``--config`` key, or a flag's name) whose value is a secret.
SECRET_KEY = re.compile(
    r"api[_-]?key|apikey|token|secret|passw(?:or)?d|authori[sz]ation|bearer|credential|cookie|private[_-]?key",
    re.IGNORECASE,
)
#: A value that is a secret whatever its key (a bearer header, an OpenAI-style key).
_SECRET_VALUE = re.compile(r"\bbearer\s+\S|\bsk-[A-Za-z0-9_-]{8,}", re.IGNORECASE)
#: An MCP server's table (``CodexConfig.mcp_servers``): its ``env`` and ``http_headers`` may hold secrets.
_MCP_KEY = "mcp_servers"
#: The flags whose next argument is ``key=value`` configuration (the engine's ``--config``/``-c``).
_CONFIG_FLAGS = frozenset({"--config", "-c"})


def _redact_pair(pair: str) -> str:
    key, sep, value = pair.partition("=")
    if sep and (SECRET_KEY.search(key) or _SECRET_VALUE.search(value) or key.startswith(_MCP_KEY)):
        return f"{key}={REDACTED}"
    if not sep and _SECRET_VALUE.search(pair):
        return REDACTED
    return pair


def redact_argv(argv: Iterable[str]) -> list[str]:
    """``argv`` fit to log: the values of secret-looking settings replaced with :data:`REDACTED`.

    Redacted: a ``--config key=value`` / ``-c key=value`` / ``--config=key=value`` whose key looks secret
    (``api_key``, ``token``, ``secret``, ``password``, ``authorization``, ``bearer``, ``credential``...) or is an
    MCP server's table (``mcp_servers...``: its ``env`` and headers may hold secrets), a
    ``--flag=value`` or ``--flag value`` whose flag looks secret, and any argument that looks like a bearer
    header or an ``sk-`` key. The environment is never logged at all.
    """
    out: list[str] = []
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg in _CONFIG_FLAGS and index < len(args):
            out += [arg, _redact_pair(args[index])]
            index += 1
        elif arg.startswith("--config="):
            out.append("--config=" + _redact_pair(arg[len("--config=") :]))
        elif arg.startswith("--") and SECRET_KEY.search(arg.partition("=")[0]):
            name, sep, _value = arg.partition("=")
            if sep:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                if index < len(args) and not args[index].startswith("-"):
                    out.append(REDACTED)
                    index += 1
        else:
            out.append(_redact_pair(arg) if _SECRET_VALUE.search(arg) else arg)
    return out


#: ANSI escape sequences: OSC (``ESC ]`` ... BEL or ``ESC \\``, e.g. window titles and hyperlinks), CSI
#: (``ESC [`` ... a final byte, e.g. colours ``ESC[31m``), every other escape (``ESC``, intermediate bytes, one
#: final byte: ``ESC 7``, ``ESC ( B``...), and the 8-bit forms of CSI and OSC (``\\x9b``, ``\\x9d``).
_ANSI = re.compile(
    r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, terminated or cut off
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[ -/]*[0-~]"  # any other escape sequence
)


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves, OSC titles and links)."""
    return _ANSI.sub("", text) if ("\x1b" in text or "\x9b" in text or "\x9d" in text) else text


def describe(error: BaseException | None, limit: int = 300) -> str:
    """A one-line reason for logs: ``"normal"`` for ``None``, else ``"Type: first line of the message"``."""
    if error is None:
        return "normal"
    text = str(error).strip().split("\n", 1)[0]
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def log_timeout(method: str, timeout_s: float, thread_id: str | None = None) -> None:
    """Log (WARNING, on ``codex_actors.requests``) that a caller stopped waiting for ``method``'s answer.

    The request is forgotten; a late answer is dropped. The caller gets :class:`~codex_actors.errors.\
RequestTimeoutError` as well: the record is for whoever reads the logs beside the engine's.
    """
    REQUESTS.warning(
        "request %s timed out after %g s%s; forgotten (a late reply is dropped)",
        method,
        timeout_s,
        "" if thread_id is None else f" (thread {thread_id})",
        extra={"method": method, "timeout_s": timeout_s, "thread_id": thread_id},
    )
