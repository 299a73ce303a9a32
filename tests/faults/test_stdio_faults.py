"""The real engine behind ``bin/fault-proxy``: faults of its stdio in the middle of a turn (the fault matrix).

Each test is a row of the fault matrix in docs/04-testing-strategy.md: the engine is the real one (offline, a
scripted model), and the proxy adds one fault to what it writes. What the caller sees must be an answer or a typed
error, never a hang.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

import pytest

from codex_actors import ApprovalMode, Codex
from codex_actors._runtime import Runtime
from codex_actors.actors._options import RuntimeOptions
from codex_actors.errors import RequestTimeoutError, TransportClosedError
from codex_actors.testing import OfflineEngine, message
from tests.support.proxy import proxied


@pytest.fixture
def offline() -> Iterator[OfflineEngine]:
    with OfflineEngine(default=message("ok")) as engine:
        yield engine


def test_lines_that_are_not_json_rpc_mid_turn_are_skipped_and_the_turn_completes(
    offline: OfflineEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with Codex(config=proxied(offline, "malformed")) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("one").final_response == "ok"
        assert thread.run("two").final_response == "ok"


def test_a_stderr_flood_mid_turn_is_drained_and_the_turn_completes(offline: OfflineEngine) -> None:
    with Codex(config=proxied(offline, "stderr-flood")) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("one").final_response == "ok"
        assert thread.run("two").final_response == "ok"


def test_an_engine_that_closes_stdout_mid_turn_fails_the_turn_and_a_fresh_engine_takes_over(
    offline: OfflineEngine,
) -> None:
    config = proxied(offline, "close-stdout")
    with Codex(config=config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        with pytest.raises(TransportClosedError):
            thread.run("one")
    # A healthy engine on the same home: the thread is still there.
    with Codex(config=offline.config) as codex:
        assert codex.thread_resume(thread.id).run("two").final_response == "ok"


def test_an_engine_that_never_answers_initialize_fails_the_start_at_the_connect_bound(
    offline: OfflineEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="codex_actors")
    with pytest.raises(RequestTimeoutError, match="initialize"):
        Runtime(proxied(offline, "no-initialize"), options=RuntimeOptions(connect_timeout=1.0))


def test_the_proxy_passes_a_healthy_engine_through(offline: OfflineEngine) -> None:
    with Codex(config=dataclasses.replace(proxied(offline, "none"))) as codex:
        assert codex.thread_start().run("hi").final_response == "ok"
