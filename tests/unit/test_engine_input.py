"""What the engine process tells about its stdin: how much of what was written it read, and whether it is dying.

A stand-in child that never reads (``sleep``) plays the engine: every byte written stays in the pipe.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_actors._binary import EngineLaunch
from codex_actors.actors._process import EngineProcess
from tests.support.waiting import wait_until


@pytest.fixture
def sleeper() -> Iterator[EngineProcess]:
    launch = EngineLaunch((sys.executable, "-c", "import time; time.sleep(60)"), dict(os.environ), None)
    process = EngineProcess(launch)
    try:
        yield process
    finally:
        process.stop(grace=0.0, term_grace=0.1)


def state(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


def test_what_an_engine_never_read_stays_counted_as_unread(sleeper: EngineProcess) -> None:
    sleeper.write(b"x" * 100)
    sleeper.write(b"y" * 23)
    assert sleeper.written == 123
    assert sleeper.unread_input() == 123
    assert sleeper.consumed_input() == 0


def test_a_killed_engine_is_dying_until_it_is_reaped(sleeper: EngineProcess) -> None:
    assert not sleeper.dying()
    sleeper.write(b"request\n")
    os.kill(sleeper.pid, signal.SIGKILL)
    wait_until(lambda: state(sleeper.pid) == "Z", "the killed engine a zombie")
    assert sleeper.dying()
    assert sleeper.consumed_input() == 0  # its pipe still holds what it never read
    sleeper.stop(grace=0.0, term_grace=0.1)
    assert not sleeper.dying()  # reaped: no /proc entry, nothing to tell
    assert sleeper.unread_input() == 0  # the pipe is closed: nothing can be told either
