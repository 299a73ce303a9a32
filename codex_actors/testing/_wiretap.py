"""``WireTap``: record every JSON-RPC line between an SDK and the engine, both ways, at the engine's stdio.

The tap writes a small executable launcher into a directory: ``tap.codex_bin``. Launched in place of the engine
(``CodexConfig(codex_bin=tap.codex_bin)``, or ``launch_args_override=tap.launch_args(...)``), the wrapper starts
the real engine with the same argv, passes stdin and stdout through line by line and appends each line to a
JSONL log as ``{"dir": "c2s" | "s2c", "line": <the parsed JSON>}`` before forwarding it. stderr is the
engine's own, untouched. It works for any SDK that launches a binary, this one and ``openai_codex`` alike.

The wrapper is transparent to the process lifecycle: closing its stdin closes the engine's; SIGTERM, SIGINT
and SIGHUP are forwarded to the engine; it exits with the engine's exit status (killing itself with the same
signal if the engine died of one); if the wrapper is SIGKILLed, the engine reads EOF on stdin and (on Linux) is
SIGKILLed as well, as it would have been without the wrapper. POSIX only (the wrapper is a ``/bin/sh`` script).

Example::

    import dataclasses

    from codex_actors import ApprovalMode, Codex
    from codex_actors.testing import OfflineEngine, WireTap

    with OfflineEngine("hi") as offline, WireTap() as tap:
        config = dataclasses.replace(offline.config, codex_bin=tap.codex_bin)
        with Codex(config) as codex:
            codex.thread_start(approval_mode=ApprovalMode.deny_all).run("hello")
        (start,) = tap.sent("thread/start")
        assert start["params"] == {"approvalPolicy": "never"}
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NotRequired, TypedDict

__all__ = ["WireRecord", "WireTap"]

Direction = Literal["c2s", "s2c"]


class WireRecord(TypedDict):
    """One line seen by the tap.

    ``dir`` is ``"c2s"`` (SDK to engine) or ``"s2c"`` (engine to SDK); ``line`` the line parsed as JSON. A line
    that is not JSON has ``line: None`` and its text in ``raw``.
    """

    dir: Direction
    line: Any
    raw: NotRequired[str]


#: The wrapper program (stdlib only, run as ``python -I -S _tap_wrapper.py COMMAND_JSON LOG_PATH ARGS...``).
_WRAPPER = Path(__file__).with_name("_tap_wrapper.py")


class WireTap:
    """A recording wrapper around the engine's stdio, for one directory.

    * ``directory``: where the launcher (``<name>``, a shell script running the package's wrapper program) and
      the log (``<name>-wire.jsonl``) are written; created if missing and left in place. Without it, a fresh
      temp dir is made and removed by :meth:`close` (or on leaving ``with WireTap() as tap:``).
    * ``command``: the argv prefix of the engine the wrapper runs; the wrapper's own arguments are appended.
      Default: the pinned engine binary (:func:`codex_actors._binary.pinned_engine_path`). For a stand-in engine
      script, pass e.g. ``(sys.executable, "fake_engine.py")`` and launch with
      ``CodexConfig(launch_args_override=tap.launch_args())``.

    Every engine started through :attr:`codex_bin` appends to the same log (restarts included), in arrival order.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        command: Sequence[str | os.PathLike[str]] | None = None,
        name: str = "codex",
    ) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a usable file name: {name!r}")
        if command is None:
            from .._binary import pinned_engine_path

            command = (pinned_engine_path(),)
        if not command:
            raise ValueError("command must name the engine to run")
        self._owns_directory = directory is None
        root = Path(tempfile.mkdtemp(prefix="codex-wiretap-")) if directory is None else Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        self._directory = root.resolve()
        self._command = tuple(os.fspath(part) for part in command)
        self._log = self._directory / f"{name}-wire.jsonl"
        launcher = self._directory / name
        argv = [sys.executable, "-I", "-S", str(_WRAPPER), json.dumps(list(self._command)), str(self._log)]
        launcher.write_text(
            "#!/bin/sh\n# codex-actors WireTap: the engine, with its stdio recorded\n"
            f'exec {" ".join(shlex.quote(part) for part in argv)} "$@"\n',
            encoding="utf-8",
        )
        launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self._launcher = launcher
        self._log.touch()
        self._closed = False

    # -- where things are ------------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The directory holding the wrapper and the log."""
        return self._directory

    @property
    def codex_bin(self) -> str:
        """The wrapper's path: use it as ``CodexConfig.codex_bin`` (either SDK)."""
        return str(self._launcher)

    @property
    def command(self) -> tuple[str, ...]:
        """The argv prefix of the engine the wrapper runs."""
        return self._command

    @property
    def log_path(self) -> Path:
        """The JSONL log, one :class:`WireRecord` per line."""
        return self._log

    def launch_args(self, *args: str) -> tuple[str, ...]:
        """``(codex_bin, *args)``: for ``CodexConfig.launch_args_override`` (the wrapper appends ``args``)."""
        return (self.codex_bin, *args)

    # -- what was seen ---------------------------------------------------------------------------------------

    def lines(self) -> list[WireRecord]:
        """Every record so far, in the order the wrapper(s) saw them."""
        try:
            data = self._log.read_bytes()
        except FileNotFoundError:
            return []
        records: list[WireRecord] = []
        for raw in data.split(b"\n")[:-1]:  # the part after the last newline may be a record being written
            if raw.strip():
                records.append(json.loads(raw))
        return records

    def _messages(self, direction: Direction, method: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for record in self.lines():
            line = record["line"]
            if record["dir"] != direction or not isinstance(line, dict):
                continue
            if method is None or line.get("method") == method:
                found.append(line)
        return found

    def sent(self, method: str | None = None) -> list[dict[str, Any]]:
        """The messages the SDK sent (requests, notifications, answers), optionally only those of ``method``."""
        return self._messages("c2s", method)

    def received(self, method: str | None = None) -> list[dict[str, Any]]:
        """The messages the engine sent (responses, notifications, requests), optionally only of ``method``."""
        return self._messages("s2c", method)

    def response_to(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The answer (``result`` or ``error``) to a request seen on the wire, from the other side; or ``None``.

        ``message`` is a request as :meth:`sent` or :meth:`received` returns it: an SDK request is answered by
        the engine, an engine (server) request by the SDK.
        """
        if "id" not in message:
            raise ValueError("not a request: it has no id")
        outgoing = any(line is message or line == message for line in self.sent())
        replies = self.received() if outgoing else self.sent()
        for line in replies:
            if "method" not in line and line.get("id") == message["id"]:
                return line
        return None

    def wait_for(
        self,
        method: str,
        *,
        direction: Direction = "s2c",
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Block until ``count`` messages of ``method`` went in ``direction``; return them.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self._messages(direction, method)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(found)} of {count} {direction} {method!r} messages within {timeout} s")
            time.sleep(0.01)

    def clear(self) -> None:
        """Forget what was recorded so far (running wrappers keep appending)."""
        with self._log.open("r+b") as log:
            log.truncate(0)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the temp dir if the tap made it (a given directory is left in place). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_directory:
            shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> WireTap:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WireTap {self.codex_bin} -> {' '.join(self._command)}>"
