"""A client dropped without ``close()``: its engine and actor tree stop, with a ResourceWarning (real engine)."""

from __future__ import annotations

import asyncio
import gc
import pickle
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from codex_actors import AsyncCodex, Codex
from codex_actors.testing import OfflineEngine, message
from tests.support.leaks import snapshot
from tests.support.waiting import wait_until


@pytest.fixture
def offline() -> Iterator[OfflineEngine]:
    with OfflineEngine(default=message("ok")) as engine:
        yield engine


def _engine_pid(codex: Codex) -> int:
    pid = codex._client.runtime.connection().status().pid
    assert pid is not None
    return pid


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_codex_dropped_without_close_stops_its_engine_and_warns(offline: OfflineEngine, no_leaks: None) -> None:
    before = snapshot()
    codex = Codex(offline.config)
    pid = _engine_pid(codex)
    codex.thread_start().run("hi")
    with pytest.warns(ResourceWarning, match=r"unclosed Codex <codex_actors\._sync_api\.Codex object at 0x"):
        del codex
        gc.collect()
    wait_until(lambda: _gone(pid), "the engine process gone")
    after = snapshot()
    assert after.thread_count <= before.thread_count + 1  # (the no_leaks fixture waits for the exact baseline)


def test_a_codex_closed_explicitly_warns_nothing(offline: OfflineEngine, no_leaks: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Codex(offline.config) as codex:
            codex.thread_start().run("hi")
        del codex
        gc.collect()
        codex = Codex(offline.config)
        codex.close()
        del codex
        gc.collect()


def test_a_thread_keeps_its_client_alive_while_in_use(offline: OfflineEngine, no_leaks: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thread = Codex(offline.config).thread_start()  # the client's only reference is the thread's
        gc.collect()
        assert thread.run("one").final_response == "ok"
        handle = thread.turn("two")
        owner = thread._client.owner
        del thread
        gc.collect()
        assert handle.run().final_response == "ok"  # the handle keeps it too
        assert isinstance(owner, Codex)
        owner.close()
    with pytest.warns(ResourceWarning, match="unclosed Codex"):
        handle = Codex(offline.config).thread_start().turn("three")
        assert handle.run().final_response == "ok"
        del handle
        gc.collect()


def test_an_async_codex_dropped_without_close_stops_its_engine_and_warns(
    offline: OfflineEngine, no_leaks: None
) -> None:
    async def main() -> int:
        codex = AsyncCodex(offline.config)
        thread = await codex.thread_start()
        assert (await thread.run("hi")).final_response == "ok"
        pid = codex._runtime.runtime.connection().status().pid
        assert pid is not None
        with pytest.warns(ResourceWarning, match=r"unclosed AsyncCodex <codex_actors\._async_api\.AsyncCodex"):
            del codex, thread
            gc.collect()
        return pid

    pid = asyncio.run(main())
    wait_until(lambda: _gone(pid), "the engine process gone")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AsyncCodex(offline.config)  # never started: nothing to stop, nothing to say
        gc.collect()


def test_a_program_that_exits_without_closing_its_codex_leaves_no_engine_and_says_so(
    offline: OfflineEngine, tmp_path: Path
) -> None:
    config = tmp_path / "config.pickle"
    config.write_bytes(pickle.dumps(offline.config))
    script = tmp_path / "forgetful.py"
    script.write_text(
        textwrap.dedent(
            """
            import pickle, sys
            from codex_actors import Codex

            with open(sys.argv[1], "rb") as file:
                config = pickle.load(file)
            codex = Codex(config)
            codex.thread_start().run("hi")
            print(codex._client.runtime.connection().status().pid, flush=True)
            """
        )
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-W", "always", str(script), str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={**offline.env, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    assert "ResourceWarning: unclosed Codex <codex_actors._sync_api.Codex object at 0x" in done.stderr
    wait_until(lambda: _gone(pid), "the engine process gone")
