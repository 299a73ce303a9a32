"""What the ``codex_actors`` loggers say on the REAL engine: the launch (redacted), each request, a restart."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal

import pytest

from codex_actors import ApprovalMode, Codex, TransportClosedError
from codex_actors._logs import REDACTED
from codex_actors.errors import InvalidRequestError
from codex_actors.testing import Gate, OfflineEngine, message, reply
from tests.support.records import lines
from tests.support.waiting import wait_until

SECRET = "sk-test-never-logged-0123456789"


def engine_pid(codex: Codex) -> int:
    pid = codex._client.runtime.connection().status().pid
    assert pid is not None
    return pid


def test_a_turn_at_debug_logs_the_launch_redacted_and_every_request_with_its_outcome(
    offline: OfflineEngine, debug: pytest.LogCaptureFixture
) -> None:
    offline.model.enqueue(message("hi"))
    token = f'model_providers.mock.experimental_bearer_token="{SECRET}"'
    config = dataclasses.replace(offline.config, config_overrides=(*offline.config.config_overrides, token))
    with Codex(config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("hello").final_response == "hi"
        with pytest.raises(InvalidRequestError):
            codex._client.request("no/such/method", {})
        pid = engine_pid(codex)
    assert SECRET not in debug.text
    (started,) = [r for r in lines(debug, "codex_actors.engine", pid=pid) if "started" in r.getMessage()]
    assert started.levelno == logging.INFO
    argv: list[str] = started.argv  # type: ignore[attr-defined]
    assert argv[-3:] == ["app-server", "--listen", "stdio://"]
    assert f"model_providers.mock.experimental_bearer_token={REDACTED}" in argv
    assert "env" not in started.__dict__ and "CODEX_HOME" not in started.getMessage()

    requests = lines(debug, "codex_actors.requests", pid=pid)
    by_method = {record.method: record for record in requests}  # type: ignore[attr-defined]
    for method in ("initialize", "thread/start", "turn/start"):
        record = by_method[method]
        assert record.levelno == logging.DEBUG
        assert record.outcome == "ok"  # type: ignore[attr-defined]
        assert record.elapsed_s >= 0  # type: ignore[attr-defined]
    thread_id = by_method["turn/start"].thread_id  # type: ignore[attr-defined]
    assert thread_id == thread.id
    error = by_method["no/such/method"]
    assert (error.outcome, error.error_code) == ("InvalidRequestError", -32600)  # type: ignore[attr-defined]
    (stopped,) = [r for r in lines(debug, "codex_actors.engine", pid=pid) if "stopped" in r.getMessage()]
    assert stopped.exit_code == 0  # type: ignore[attr-defined]


def test_kill_9_logs_the_exit_the_crash_and_the_restart(
    offline: OfflineEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="codex_actors")
    offline.model.enqueue(message("one"), message("two"))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("one").final_response == "one"
        pid = engine_pid(codex)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: lines(caplog, "codex_actors.supervisor", child="engine", attempt=1), "the restart line")
        assert thread.run("two").final_response == "two"
    (exited,) = lines(caplog, "codex_actors.engine", pid=pid, exit_code=-9)
    assert exited.levelno == logging.WARNING
    assert f"engine {pid} exited on its own, exit code -9 (SIGKILL)" in exited.getMessage()
    supervisor = lines(caplog, "codex_actors.supervisor", child="engine")
    (crashed,) = [r for r in supervisor if r.levelno == logging.WARNING]
    assert crashed.reason.startswith("TransportClosedError: Codex process closed stdout")  # type: ignore[attr-defined]
    assert crashed.getMessage().startswith("root: child 'engine' crashed: TransportClosedError")
    (restarted,) = lines(caplog, "codex_actors.supervisor", child="engine", attempt=1)
    assert restarted.levelno == logging.INFO
    assert restarted.generation == 1  # type: ignore[attr-defined]
    assert "restarted child 'engine' (restart 1, generation 1)" in restarted.getMessage()
    new_engines = [r for r in lines(caplog, "codex_actors.engine") if "started" in r.getMessage()]
    assert len({r.pid for r in new_engines}) == 2  # type: ignore[attr-defined]


def test_a_coloured_engine_log_reaches_the_logs_and_the_error_plain(
    offline: OfflineEngine, debug: pytest.LogCaptureFixture
) -> None:
    # NO_COLOR="" (given, so kept) and RUST_LOG=info: the engine writes coloured log lines into its stderr pipe.
    env = {**(offline.config.env or {}), "NO_COLOR": "", "RUST_LOG": "info"}
    gate = Gate()
    offline.model.enqueue(message("one"), reply(message("working..."), gate, message("never")))
    with Codex(dataclasses.replace(offline.config, env=env)) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("one").final_response == "one"
        pid = engine_pid(codex)
        handle = thread.turn("two")
        gate.wait_reached()  # the turn is under way: now the engine dies
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(TransportClosedError) as info:
            handle.run()
    stderr = [r.getMessage() for r in lines(debug, "codex_actors.engine.stderr", pid=pid)]
    assert any(" INFO " in line for line in stderr)
    assert not any("\x1b" in line for line in stderr)
    assert info.value.stderr_tail is not None and "\x1b" not in info.value.stderr_tail
    assert "\x1b" not in str(info.value)
