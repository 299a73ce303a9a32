"""The WireTap wrapper: run the engine, log every stdio line as JSONL, pass everything on.

A program, not a module to import: ``WireTap`` launches it as ``python -I -S _tap_wrapper.py COMMAND_JSON LOG
ARGS...`` in place of the engine (stdlib only, so it runs in isolated mode). ``COMMAND_JSON`` is the engine's argv
prefix, ``LOG`` the JSONL file it appends to, ``ARGS`` the SDK's arguments for the engine. It runs in its own
process, so its lines are exercised by every WireTap test but not measured by coverage (see pyproject.toml).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def die_with_parent() -> Callable[[], None] | None:
    """On Linux: the engine is SIGKILLed if the wrapper dies without passing a signal on (it was SIGKILLed)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the wrapper was already gone
            os._exit(1)

    return preexec


def main(command: list[str], log: str, args: list[str]) -> None:
    """Run ``command + args`` with its stdio recorded into ``log``; exit as the engine exited."""
    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    log_lock = threading.Lock()

    def record(direction: str, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            return
        try:
            entry = {"dir": direction, "line": json.loads(text)}
        except ValueError:
            entry = {"dir": direction, "line": None, "raw": text}
        data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with log_lock:
            write_all(log_fd, data)  # one O_APPEND write per record: records of parallel wrappers never mix

    state: dict[str, Any] = {"child": None, "pending": []}

    def forward(signum: int, _frame: FrameType | None) -> None:
        child = state["child"]
        if child is None:
            state["pending"].append(signum)
            return
        with contextlib.suppress(OSError):
            child.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    child = subprocess.Popen(
        command + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=die_with_parent()
    )
    state["child"] = child
    for sig in state["pending"]:
        forward(sig, None)

    def pump_in() -> None:
        source = sys.stdin.buffer
        target = child.stdin
        assert target is not None
        try:
            for line in iter(source.readline, b""):
                record("c2s", line)
                target.write(line)
                target.flush()
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                target.close()

    def pump_out() -> None:
        out = sys.stdout.buffer
        broken = False
        assert child.stdout is not None
        for line in iter(child.stdout.readline, b""):
            record("s2c", line)
            if broken:
                continue
            try:
                out.write(line)
                out.flush()
            except (OSError, ValueError):
                broken = True  # the SDK stopped reading: keep draining so the engine never blocks

    reader = threading.Thread(target=pump_in, daemon=True)
    writer = threading.Thread(target=pump_out, daemon=True)
    reader.start()
    writer.start()
    code = child.wait()
    writer.join(2.0)
    os.close(log_fd)
    if code < 0:  # the engine died of a signal: die of the same one
        with contextlib.suppress(OSError, ValueError):
            signal.signal(-code, signal.SIG_DFL)  # (SIGKILL has no handler to reset)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [-code])
        os.kill(os.getpid(), -code)
        code = 128 - code
    os._exit(code & 0xFF)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3:])
