"""The engine behind a client, for tests that kill it: its pid, and a kill -9 waited through to the next engine."""

from __future__ import annotations

from codex_actors import Codex
from tests.support.waiting import kill_and_wait, wait_until


def engine_pid(codex: Codex) -> int | None:
    """The pid of the client's engine now (``None`` while its port is down)."""
    try:
        return codex._client.runtime.connection().status().pid
    except Exception:
        return None


def kill_engine(codex: Codex, timeout: float = 30.0) -> None:
    """``kill -9`` the client's engine and wait until the supervisor has another one up."""
    pid = engine_pid(codex)
    assert pid is not None, "no engine to kill"
    kill_and_wait(pid)
    wait_until(lambda: engine_pid(codex) not in (None, pid), "a new engine", timeout)
