"""Telemetry on the REAL engine + scripted model: the Prometheus endpoint, every catalogue event, no secrets.

* Metrics: turns that complete, fail, are interrupted and call a tool, an approval decided by a policy, a kill
  -9 of the engine and a turn after it; then ``start_metrics_server`` is scraped over HTTP and the text parsed
  with prometheus-client's parser: every family moved as expected, with bounded labels and no ids in them.
* Events: a handler attached to every event sees each one of the catalogue fire with exactly its documented
  fields (``protocol.error`` from the fake engine's malformed line: the real engine cannot be made to write
  one); a handler that raises is detached and logged once, and the turn goes on.
* Secrets: a sentinel given as the API key and in ``CodexConfig.env`` is in no log record, no event and no
  metric.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from codex_actors import ApprovalMode, Codex, CodexConfig, McpServer, Sandbox, files, tool
from codex_actors._protocol.generated import TurnStatus
from codex_actors.actors import GetChild, GetCounts
from codex_actors.telemetry import EVENTS, attach, detach, start_metrics_server
from codex_actors.testing import Gate, OfflineEngine, exec_command, failed, message, reply, tool_call
from tests.support import fakes
from tests.support.engines import kill_engine
from tests.support.fixtures import fake_engine_config
from tests.support.waiting import ask, wait_until

SERVER = str(Path(fakes.__file__).with_name("mcp_server.py"))


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode() -> str:
    """Always fails."""
    raise RuntimeError("on purpose")


class Seen:
    """What an attached handler got, from the telemetry actors' threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, dict[str, float], dict[str, Any]]] = []

    def __call__(self, name: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((name, dict(measurements), dict(metadata)))

    def named(self, name: str) -> list[tuple[dict[str, float], dict[str, Any]]]:
        with self.lock:
            return [(m, md) for n, m, md in self.events if n == name]

    def names(self) -> set[str]:
        with self.lock:
            return {name for name, _, _ in self.events}


@pytest.fixture
def seen() -> Iterator[Seen]:
    handler = Seen()
    attach("test-telemetry", None, handler)
    try:
        yield handler
    finally:
        detach("test-telemetry")


def flush(codex: Codex) -> None:
    """Wait until the telemetry actor handled what was told to it before now."""
    telemetry = ask(codex.supervisor, GetChild("telemetry"))
    assert telemetry is not None
    ask(telemetry, GetCounts())


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {sorted labels: value}}`` from the endpoint, parsed by prometheus-client's parser."""
    with urllib.request.urlopen(url, timeout=10) as response:  # 127.0.0.1 only
        text = response.read().decode("utf-8")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return float(sum(v for key, v in samples.get(name, {}).items() if wanted <= set(key)))


def test_every_metric_moves_as_expected_on_a_scrape_of_the_http_endpoint(offline: OfflineEngine) -> None:
    registry = CollectorRegistry()
    gate = Gate()
    offline.model.enqueue(
        message("ok"),  # completed
        reply(failed("the model broke")),  # failed
        reply(message("working"), gate, message("never")),  # interrupted
        reply(tool_call("add", {"a": 1, "b": 2})),  # a tool call
        message("added"),
        reply(exec_command("touch made.txt")),  # an approval the policy accepts
        message("touched"),
        message("after the restart"),
    )
    config = dataclasses.replace(offline.config, metrics_registry=registry, tools=[add], max_restarts=10)
    with Codex(config) as codex, start_metrics_server(0, registry=registry) as server:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("one").status == TurnStatus.completed
        with pytest.raises(RuntimeError, match="the model broke"):
            thread.run("two")
        handle = thread.turn("three")
        gate.wait_reached()
        handle.interrupt()
        assert handle.run().status == TurnStatus.interrupted
        gate.open()
        assert thread.run("four").final_response == "added"
        approving = codex.thread_start(approval_policy=lambda request: "accept", sandbox=Sandbox.workspace_write)
        assert approving.run("five").final_response == "touched"
        kill_engine(codex)
        assert thread.run("six").final_response == "after the restart"
        flush(codex)
        samples = scrape(server.url)
        assert server.addr == "127.0.0.1"
    model = "gpt-5.5"
    for outcome, count in (("completed", 4), ("failed", 1), ("interrupted", 1)):
        assert value(samples, "codex_turns_total", model=model, outcome=outcome) == count, outcome
        assert value(samples, "codex_turn_duration_seconds_count", model=model, outcome=outcome) == count
    assert value(samples, "codex_turn_time_to_first_token_seconds_count", model=model) >= 1
    assert value(samples, "codex_tokens_total", model=model, type="input") > 0
    assert value(samples, "codex_tokens_total", model=model, type="output") > 0
    assert value(samples, "codex_tool_calls_total", tool="add", kind="client", outcome="success") == 1
    assert value(samples, "codex_tool_duration_seconds_count", tool="add", kind="client", outcome="success") == 1
    accepted = {"kind": "command", "decision": "accept", "source": "policy"}
    assert value(samples, "codex_approvals_total", **accepted) == 1
    assert value(samples, "codex_approval_wait_seconds_count", **accepted) == 1
    assert value(samples, "codex_engine_restarts_total", reason="crashed") == 1
    assert value(samples, "codex_thread_resumes_total", reason="engine_restart") == 1
    assert value(samples, "codex_requests_total", method="turn/start", outcome="ok") == 6
    assert value(samples, "codex_request_duration_seconds_count", method="thread/start", outcome="ok") == 2
    assert value(samples, "codex_requests_total", method="initialize", outcome="ok") == 2  # two engines
    assert value(samples, "codex_notifications_total", method="turn/completed") == 6
    assert value(samples, "codex_engines_up") >= 1
    assert value(samples, "codex_threads_active") + value(samples, "codex_threads_hibernated") >= 2
    kinds = {dict(key)["actor_kind"] for key in samples["codex_actor_mailbox_depth"]}
    assert kinds == {"root", "engine", "thread", "tools", "approvals", "telemetry"}
    assert value(samples, "codex_build_info", engine_version="0.163.0") == 1
    assert value(samples, "codex_protocol_errors_total") == 0
    # Bounded labels: no label value is an id (thread, turn, call ids are uuids or call_N).
    for series in samples.values():
        for key in series:
            for _, label in key:
                assert len(label) < 40 and not label.startswith("call_"), label


def test_each_event_of_the_catalogue_fires_with_its_documented_fields(
    offline: OfflineEngine, seen: Seen, tmp_path: Path
) -> None:
    slow = threading.Event()

    def decide(request: Any) -> str:
        if "decline" in str(getattr(request, "command", "")):
            return "decline"
        if "slow" in str(getattr(request, "command", "")):
            slow.wait(5)
        return "accept"

    offline.model.enqueue(
        reply(tool_call("add", {"a": 1, "b": 2}), tool_call("explode", {})),
        reply(exec_command("touch accept.txt")),
        reply(exec_command("touch decline.txt")),
        reply(exec_command("touch slow.txt")),
        reply(tool_call("echo", {"text": "hi"}, namespace="mcp__fake")),
        message("done"),
        message("after"),
    )
    fake = {"fake": McpServer(sys.executable, [SERVER], approval_mode="approve")}
    config = dataclasses.replace(
        offline.config, tools=[add, explode], approval_timeout_s=0.5, mcp_servers=fake, max_restarts=10
    )
    with Codex(config) as codex:
        thread = codex.thread_start(approval_policy=decide, sandbox=Sandbox.workspace_write)
        assert thread.run("everything").final_response == "done"
        slow.set()
        kill_engine(codex)
        assert thread.run("again").final_response == "after"
        ref = codex._client.bind_thread(thread.id)
        ref.proxy().crash(RuntimeError("test: broken")).get(timeout=5)
        wait_until(lambda: seen.named("thread.exception"), "thread.exception")
        flush(codex)
    with Codex(fake_engine_config()) as codex:  # protocol.error: the fake engine writes a malformed line
        codex._client.request("test/malformed", timeout=5)
        flush(codex)
    files.stage(b"some notes", "notes.txt", root=tmp_path / "staging")  # attachment.staged
    files.force_cleanup(tmp_path / "staging")  # attachment.cleaned
    wait_until(lambda: seen.named("thread.stop"), "thread.stop")
    missing = set(EVENTS) - seen.names()
    assert not missing, f"never fired: {sorted(missing)}"
    for name, measurements, metadata in seen.events:
        spec = EVENTS[name]
        assert set(metadata) == set(spec.metadata), name
        assert "system_time" in measurements and set(measurements) <= {"system_time", *spec.measurements}, name
        assert all(isinstance(v, int | float) for v in measurements.values()), name
    tools = {(md["tool"], md["kind"]): md for _, md in seen.named("tool.failure") + seen.named("tool.success")}
    assert tools[("explode", "client")]["reason"] == "raised"
    assert ("echo", "mcp") in tools and tools[("echo", "mcp")]["server"] == "fake"
    decided = {(md["decision"], md["source"]) for _, md in seen.named("approval.approved")}
    assert ("accept", "policy") in decided
    assert {(md["decision"], md["source"]) for _, md in seen.named("approval.denied")} == {("decline", "policy")}
    assert [(md["decision"], md["source"]) for _, md in seen.named("approval.timeout")] == [("decline", "timeout")]
    (stop_measurements, stop), *_ = seen.named("turn.stop")
    assert stop["status"] == "completed" and stop_measurements["duration_s"] > 0
    assert stop_measurements["input_tokens"] > 0
    (restart, restart_meta), *_ = seen.named("engine.restart")
    assert restart_meta["reason"] == "crashed" and restart["attempt"] == 1
    assert [md["reason"] for _, md in seen.named("thread.resume")] == ["engine_restart"]
    assert seen.named("protocol.error")[0][1]["kind"] == "malformed_line"


def test_a_handler_that_raises_is_detached_and_logged_once_and_the_turn_goes_on(
    offline: OfflineEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="codex_actors.telemetry")
    calls: list[str] = []

    def broken(name: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
        calls.append(name)
        raise ValueError("handler bug")

    attach("broken", ["turn.start", "turn.stop"], broken)
    try:
        offline.model.enqueue(message("one"), message("two"))
        with Codex(offline.config) as codex:
            thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
            assert thread.run("first").final_response == "one"
            assert thread.run("second").final_response == "two"
            flush(codex)
    finally:
        assert detach("broken") is False  # detached already
    assert calls == ["turn.start"]
    records = [r for r in caplog.records if r.name == "codex_actors.telemetry"]
    assert len(records) == 1 and "'broken' raised on turn.start" in records[0].getMessage()
    assert records[0].exc_info is not None


def test_attach_refuses_unknown_events_and_ids_taken() -> None:
    with pytest.raises(ValueError, match="unknown telemetry events"):
        attach("x", ["turn.begin"], lambda *args: None)
    attach("x", ["turn.stop"], lambda *args: None)
    try:
        with pytest.raises(ValueError, match="attached already"):
            attach("x", None, lambda *args: None)
    finally:
        assert detach("x") is True
    with pytest.raises(TypeError, match="callable"):
        attach("y", None, "not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of event names"):
        attach("y", "turn.stop", lambda *args: None)


def test_a_secret_is_in_no_log_record_no_event_and_no_metric(
    offline: OfflineEngine, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-sentinel-4f2a9c1e7b"
    caplog.set_level(logging.DEBUG, logger="codex_actors")
    registry = CollectorRegistry()
    offline.model.enqueue(message("hi"))
    env = {**(offline.config.env or {}), "SENTINEL_SECRET": secret}
    config = dataclasses.replace(
        offline.config, env=env, metrics_registry=registry, config_overrides=(f'custom.api_key="{secret}"',)
    )
    with Codex(config) as codex:
        with contextlib.suppress(Exception):  # the offline engine may refuse it: what matters is where it went
            codex.login_api_key(secret)
        codex.thread_start(approval_mode=ApprovalMode.deny_all).run("hello")
        flush(codex)
    logged = "\n".join(
        f"{record.getMessage()} {record.__dict__}" for record in caplog.records if record.name.startswith("codex_")
    )
    assert logged and secret not in logged
    assert secret not in repr(seen.events)
    assert secret not in generate_latest(registry).decode("utf-8")


def test_metrics_can_be_turned_off(offline: OfflineEngine) -> None:
    registry = CollectorRegistry()
    offline.model.enqueue(message("hi"))
    config = dataclasses.replace(offline.config, metrics=False, metrics_registry=registry)
    with Codex(config) as codex:
        codex.thread_start(approval_mode=ApprovalMode.deny_all).run("hello")
        flush(codex)
    assert "codex_" not in generate_latest(registry).decode("utf-8")
    with pytest.raises(TypeError, match="metrics_registry"):
        CodexConfig(metrics_registry="global")  # type: ignore[arg-type]


def test_a_slow_handler_cannot_grow_the_telemetry_mailbox_without_bound(offline: OfflineEngine) -> None:
    from codex_actors.actors._root import TELEMETRY_BACKLOG, RootSupervisor
    from codex_actors.actors._telemetry import telemetry_event

    release = threading.Event()

    def stuck(name: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
        release.wait(30)

    attach("slow", ["turn.stop"], stuck)
    try:
        offline.model.enqueue(message("hi"))
        with Codex(offline.config) as codex:
            (root,) = [  # the root's own object: its _tell_telemetry is what every emitter calls
                o for o in gc.get_objects() if isinstance(o, RootSupervisor) and o.actor_ref == codex.supervisor
            ]
            root._tell_telemetry(telemetry_event("turn.stop", {"status": "completed"}))  # the handler blocks
            for _ in range(TELEMETRY_BACKLOG + 500):
                root._tell_telemetry(telemetry_event("thread.start", {"thread_id": "t", "resumed": False}))
            assert 400 <= root.telemetry_dropped <= 501
            release.set()
            assert (
                codex.thread_start(approval_mode=ApprovalMode.deny_all).run("still works").final_response == "hi"
            )
    finally:
        release.set()
        detach("slow")
