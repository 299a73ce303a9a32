"""What the ``codex_actors`` loggers say about faults, on tests/support/fakes/fake_engine.py: request outcomes,
timeouts, an engine that dies with coloured stderr, and the launch line's redaction."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import pykka
import pytest

from codex_actors._async_runtime import AsyncRuntime
from codex_actors._config import CodexConfig
from codex_actors._logs import REDACTED
from codex_actors._runtime import Runtime
from codex_actors._sync_runtime import SyncRuntime
from codex_actors.actors._connection import EngineConnection
from codex_actors.actors._pending import PendingRequests, tracing_requests
from codex_actors.errors import InvalidRequestError, RequestTimeoutError, TransportClosedError
from tests.support.fixtures import FAKE_ENGINE, fake_engine_config
from tests.support.records import lines
from tests.support.waiting import wait_until

COLOURED = "\x1b[2m2026-12-02T13:51:36Z\x1b[0m \x1b[31mERROR\x1b[0m \x1b[2mcodex_core\x1b[0m: boom, in colour"
PLAIN = "2026-12-02T13:51:36Z ERROR codex_core: boom, in colour"


def test_each_answered_request_is_one_debug_line_with_method_id_outcome_and_elapsed(
    debug: pytest.LogCaptureFixture,
) -> None:
    with EngineConnection.open(fake_engine_config()) as conn:
        conn.request("test/echo", {"n": 1}, timeout=5)
        pid = conn.status().pid
    (handshake,) = lines(debug, "codex_actors.requests", method="initialize")
    (echo,) = lines(debug, "codex_actors.requests", method="test/echo")
    for record in (handshake, echo):
        assert record.levelno == logging.DEBUG
        assert record.outcome == "ok"  # type: ignore[attr-defined]
        assert record.error_code is None  # type: ignore[attr-defined]
        assert isinstance(record.elapsed_s, float) and record.elapsed_s >= 0  # type: ignore[attr-defined]
        assert record.pid == pid  # type: ignore[attr-defined]
    assert (handshake.request_id, echo.request_id) == (1, 2)  # type: ignore[attr-defined]
    assert echo.getMessage().startswith("request test/echo #2 ok in ")


def test_an_error_answer_is_logged_with_its_class_and_json_rpc_code(debug: pytest.LogCaptureFixture) -> None:
    with EngineConnection.open(fake_engine_config()) as conn, pytest.raises(InvalidRequestError):
        conn.request("bogus/method", {"threadId": "thr_9"}, timeout=5)
    (record,) = lines(debug, "codex_actors.requests", method="bogus/method")
    assert record.outcome == "InvalidRequestError"  # type: ignore[attr-defined]
    assert record.error_code == -32600  # type: ignore[attr-defined]
    assert record.thread_id == "thr_9"  # type: ignore[attr-defined]
    assert "failed: InvalidRequestError -32600" in record.getMessage()


def test_below_debug_no_request_is_traced(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="codex_actors")
    assert not tracing_requests()
    with EngineConnection.open(fake_engine_config()) as conn:
        conn.request("test/echo", {"n": 1}, timeout=5)
    assert not lines(caplog, "codex_actors.requests")
    pending = PendingRequests()  # what the port does below DEBUG: no method, so no trace and no clock read
    pending.add(1, pykka.ThreadingFuture(), None, {"threadId": "thr_1"})
    assert not pending.traced
    caplog.set_level(logging.DEBUG, logger="codex_actors.requests")
    assert tracing_requests()


def test_a_timeout_is_a_warning_with_method_and_timeout_and_the_request_is_logged_cancelled(
    debug: pytest.LogCaptureFixture,
) -> None:
    with EngineConnection.open(fake_engine_config()) as conn:
        with pytest.raises(RequestTimeoutError):
            conn.request("test/hang", timeout=0.2)
        wait_until(lambda: lines(debug, "codex_actors.requests", outcome="cancelled"), "the cancel line", 5)
    (warning,) = lines(debug, "codex_actors.requests", timeout_s=0.2)
    assert warning.levelno == logging.WARNING
    assert warning.method == "test/hang"  # type: ignore[attr-defined]
    assert "request test/hang timed out after 0.2 s" in warning.getMessage()
    (cancelled,) = lines(debug, "codex_actors.requests", outcome="cancelled")
    assert cancelled.method == "test/hang"  # type: ignore[attr-defined]


def test_sync_and_async_adapter_timeouts_are_logged_with_the_thread(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="codex_actors")
    client = SyncRuntime(Runtime(fake_engine_config()))
    try:
        with pytest.raises(RequestTimeoutError):
            client.thread_request("thr_1", "test/hang", {}, timeout=0.1)
    finally:
        client.runtime.close()

    async def main() -> None:
        runtime = AsyncRuntime(fake_engine_config())
        try:
            with pytest.raises(RequestTimeoutError):
                await runtime.request("test/hang", timeout=0.1)
        finally:
            await runtime.close()

    asyncio.run(main())
    sync_line, async_line = lines(caplog, "codex_actors.requests", method="test/hang")
    assert (sync_line.thread_id, sync_line.timeout_s) == ("thr_1", 0.1)  # type: ignore[attr-defined]
    assert (async_line.thread_id, async_line.timeout_s) == (None, 0.1)  # type: ignore[attr-defined]


def test_an_engine_that_dies_is_logged_with_exit_code_and_a_plain_stderr_tail(
    debug: pytest.LogCaptureFixture,
) -> None:
    with EngineConnection.open(fake_engine_config()) as conn:
        pid = conn.status().pid
        hanging: pykka.Future[Any] = pykka.ThreadingFuture()
        conn.send("test/hang", None, hanging)
        with pytest.raises(TransportClosedError) as info:
            conn.request("test/die", {"code": 3, "stderr": COLOURED}, timeout=10)
        wait_until(lambda: lines(debug, "codex_actors.engine", exit_code=3), "the exit line", 5)
    assert info.value.stderr_tail is not None
    assert PLAIN in info.value.stderr_tail and "\x1b" not in info.value.stderr_tail
    assert "\x1b" not in str(info.value)
    (exited,) = lines(debug, "codex_actors.engine", exit_code=3)
    assert exited.levelno == logging.WARNING
    assert exited.pid == pid  # type: ignore[attr-defined]
    assert PLAIN in exited.stderr_tail  # type: ignore[attr-defined]
    assert f"engine {pid} exited on its own, exit code 3" in exited.getMessage()
    assert "\x1b" not in exited.getMessage()
    stderr = [r.getMessage() for r in lines(debug, "codex_actors.engine.stderr", pid=pid)]
    assert f"engine {pid} stderr: {PLAIN}" in stderr
    # The requests in flight are logged as failed by the engine's exit.
    failed = lines(debug, "codex_actors.requests", outcome="TransportClosedError")
    assert {r.method for r in failed} == {"test/hang", "test/die"}  # type: ignore[attr-defined]


def test_the_launch_is_logged_with_pid_and_a_redacted_argv_and_a_stop_with_its_exit_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="codex_actors.engine")
    argv = (sys.executable, str(FAKE_ENGINE), "--config", 'api_key="sk-do-not-log-me"', "--config", "model=m")
    config = CodexConfig(launch_args_override=argv, env={"OPENAI_API_KEY": "env-do-not-log-me"})
    with EngineConnection.open(config) as conn:
        pid = conn.status().pid
    started, stopped = lines(caplog, "codex_actors.engine", pid=pid)
    assert started.levelno == logging.INFO
    assert started.argv == [*argv[:3], f"api_key={REDACTED}", "--config", "model=m"]  # type: ignore[attr-defined]
    assert started.getMessage().startswith(f"engine {pid} started: ")
    assert stopped.levelno == logging.INFO
    assert stopped.exit_code == 0  # type: ignore[attr-defined]
    assert stopped.getMessage() == f"engine {pid} stopped, exit code 0"
    assert "do-not-log-me" not in caplog.text
