"""The scripted model on its own: SSE framing, the script, recording, gates, shutdown, the offline home."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from codex_actors._config import CodexConfig
from codex_actors.testing import (
    DEFAULT_MODEL,
    Gate,
    HttpError,
    Message,
    OfflineEngine,
    RecordedRequest,
    Reply,
    ScriptedModel,
    Usage,
    apply_patch,
    delay,
    event,
    exec_command,
    failed,
    http_error,
    message,
    offline_config,
    offline_env,
    offline_toml,
    output_item,
    reasoning,
    reply,
    streamed_message,
    tool_call,
    write_offline_home,
)
from codex_actors.testing._sse import IdAllocator, as_reply, encode_event

pytestmark = pytest.mark.unit

Json = dict[str, Any]


# -- helpers ----------------------------------------------------------------------------------------------------


def parse_sse(text: str) -> list[Json]:
    """Parse an SSE body strictly: every block is `event: T` + `data: JSON` with data.type == T."""
    assert text.endswith("\n\n"), repr(text[-20:])
    payloads = []
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 2, block
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        payload = json.loads(lines[1][len("data: ") :])
        assert payload["type"] == lines[0][len("event: ") :]
        payloads.append(payload)
    return payloads


def types(payloads: list[Json]) -> list[str]:
    return [p["type"] for p in payloads]


def request(
    model: ScriptedModel,
    method: str = "POST",
    path: str = "/v1/responses",
    body: bytes | None = b'{"input": []}',
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=10)
    try:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post_events(model: ScriptedModel, body: Json | None = None) -> list[Json]:
    status, headers, data = request(model, body=json.dumps(body or {"input": []}).encode())
    assert status == 200, data
    assert headers["content-type"] == "text/event-stream"
    return parse_sse(data.decode())


def model_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("scripted-model")}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- builders (pure) --------------------------------------------------------------------------------------------


def test_encode_event_frames_type_and_compact_json() -> None:
    assert (
        encode_event({"type": "x.y", "a": [1, "é"]}) == b'event: x.y\ndata: {"type":"x.y","a":[1,"\\u00e9"]}\n\n'
    )


def test_message_reply_order_and_usage() -> None:
    payloads = parse_sse(reply(message("hello")).sse())
    assert types(payloads) == ["response.created", "response.output_item.done", "response.completed"]
    created, done, completed = payloads
    assert created["response"]["id"] == "resp_1"
    assert done["item"] == {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "content": [{"type": "output_text", "text": "hello"}],
    }
    assert completed["response"] == {
        "id": "resp_1",
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        },
    }


def test_message_phase_is_on_the_item_only_when_given() -> None:
    assert "phase" not in message("a").item()
    done = reply(message("a", phase="final_answer")).events()[1]
    assert done["item"]["phase"] == "final_answer"


def test_configurable_usage() -> None:
    usage = Usage(input_tokens=21, cached_tokens=4, output_tokens=8, reasoning_tokens=3)
    completed = reply(message("x"), usage=usage).events()[-1]
    assert completed["response"]["usage"] == {
        "input_tokens": 21,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 8,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 29,
    }
    assert Usage(total_tokens=99).to_json()["total_tokens"] == 99


def test_streamed_message_added_deltas_done() -> None:
    payloads = reply(streamed_message("Hel", "lo", phase="commentary")).events()
    assert types(payloads) == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ]
    added, d1, d2, done = payloads[1:5]
    assert added["item"]["type"] == "message" and added["item"]["id"] == "msg_1"
    assert [d1["delta"], d2["delta"]] == ["Hel", "lo"]
    assert d1["item_id"] == "msg_1"
    assert done["item"]["content"] == [{"type": "output_text", "text": "Hello"}]
    assert done["item"]["phase"] == "commentary"
    with pytest.raises(ValueError):
        streamed_message()


def test_reasoning_item() -> None:
    item = reply(reasoning("thinking hard")).events()[1]["item"]
    assert item == {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "thinking hard"}],
    }


def test_exec_command_is_a_function_call_with_cmd_json() -> None:
    item = reply(exec_command("echo hi", workdir="sub")).events()[1]["item"]
    assert item["type"] == "function_call"
    assert item["name"] == "exec_command"
    assert item["call_id"] == "call_1"
    assert json.loads(item["arguments"]) == {"cmd": "echo hi", "workdir": "sub"}


def test_apply_patch_is_a_custom_tool_call() -> None:
    patch = "*** Begin Patch\n*** Add File: f\n+x\n*** End Patch\n"
    item = reply(apply_patch(patch, call_id="p1")).events()[1]["item"]
    assert item == {"type": "custom_tool_call", "call_id": "p1", "name": "apply_patch", "input": patch}


def test_tool_call_for_a_client_side_tool() -> None:
    item = reply(tool_call("lookup", {"q": 1}, namespace="ns")).events()[1]["item"]
    assert item["type"] == "function_call" and item["name"] == "lookup" and item["namespace"] == "ns"
    assert json.loads(item["arguments"]) == {"q": 1}
    assert "namespace" not in reply(tool_call("t")).events()[1]["item"]
    assert json.loads(reply(tool_call("t")).events()[1]["item"]["arguments"]) == {}


def test_failed_replaces_completed() -> None:
    payloads = reply(reasoning("r"), failed("model exploded", code="boom")).events()
    assert types(payloads) == ["response.created", "response.output_item.done", "response.failed"]
    assert payloads[-1]["response"] == {"id": "resp_1", "error": {"code": "boom", "message": "model exploded"}}
    assert reply(failed("x")).failure is not None
    assert reply(message("x")).failure is None


def test_raw_event_and_output_item() -> None:
    payloads = reply(event("response.custom", n=1), output_item({"type": "web_search_call", "id": "ws"})).events()
    assert payloads[1] == {"type": "response.custom", "n": 1}
    assert payloads[2] == {"type": "response.output_item.done", "item": {"type": "web_search_call", "id": "ws"}}


def test_pauses_are_in_the_plan_not_in_the_body() -> None:
    gate = Gate()
    plan = reply(message("a"), delay(0.5), gate, message("b")).plan()
    assert [type(p).__name__ for p in plan] == ["bytes", "bytes", "Delay", "Gate", "bytes", "bytes"]
    assert plan[3] is gate
    assert types(parse_sse(reply(message("a"), delay(0.5), gate).sse())) == [
        "response.created",
        "response.output_item.done",
        "response.completed",
    ]
    with pytest.raises(ValueError):
        delay(-1)


def test_reply_validation() -> None:
    with pytest.raises(ValueError, match="last step"):
        reply(failed("x"), message("y"))
    with pytest.raises(TypeError, match="HttpError"):
        reply(http_error(500))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        as_reply(42)  # type: ignore[arg-type]


def test_as_reply_wraps_steps_and_text() -> None:
    assert as_reply("hi") == Reply((Message("hi"),))
    assert as_reply(message("hi")) == Reply((Message("hi"),))
    err = http_error(429)
    assert as_reply(err) is err
    r = reply(message("x"))
    assert as_reply(r) is r


def test_resolve_fills_only_missing_ids_deterministically() -> None:
    ids = IdAllocator()
    r = reply(exec_command("a"), exec_command("b", call_id="mine"), apply_patch("p")).resolve(ids)
    assert r.call_ids == ["call_1", "mine", "call_2"]
    assert r.response_id == "resp_1"
    assert r.resolve(ids) == r  # already resolved: unchanged
    with pytest.raises(ValueError):
        _ = reply(exec_command("a")).call_ids


def test_http_error_body() -> None:
    assert json.loads(http_error(500).body_bytes())["error"]["message"] == "scripted HTTP 500 error"
    assert json.loads(http_error(400, {"error": {"message": "bad"}}).body_bytes()) == {"error": {"message": "bad"}}
    assert http_error(502, "plain").body_bytes() == b"plain"


# -- the server -------------------------------------------------------------------------------------------------


def test_url_port_and_lifecycle() -> None:
    model = ScriptedModel()
    with pytest.raises(RuntimeError):
        _ = model.url
    with model:
        assert model.url == f"http://127.0.0.1:{model.port}/v1"
        assert model.start() is model  # idempotent
        assert "serving" in repr(model)
    with pytest.raises(RuntimeError):
        model.start()


def test_replies_are_served_in_order_with_ids_per_instance() -> None:
    with ScriptedModel() as model:
        queued = model.enqueue(exec_command("ls"), "second", reply(exec_command("pwd")))
        assert [r.call_ids for r in queued] == [["call_1"], [], ["call_2"]]
        assert model.pending == 3
        first = post_events(model)
        assert first[1]["item"]["call_id"] == "call_1"
        assert first[0]["response"]["id"] == "resp_1"
        second = post_events(model)
        assert second[1]["item"]["content"][0]["text"] == "second"
        third = post_events(model)
        assert third[1]["item"]["call_id"] == "call_2"
        assert model.pending == 0
        model.assert_done()
    with ScriptedModel(exec_command("ls")) as other:  # a new instance counts from 1 again
        assert post_events(other)[1]["item"]["call_id"] == "call_1"


def test_out_of_script_answers_400_and_is_recorded() -> None:
    with ScriptedModel("only one") as model:
        post_events(model)
        status, headers, body = request(model, body=b'{"input": [], "n": 2}')
        assert status == 400
        assert headers["content-type"] == "application/json"
        error = json.loads(body)["error"]
        assert error["code"] == "script_exhausted"
        assert "ran out" in error["message"] and "#2" in error["message"]
        assert [r.body["n"] for r in model.unexpected_requests] == [2]
        assert len(model.requests) == 2
        with pytest.raises(AssertionError, match="unexpected requests"):
            model.assert_done()


def test_assert_done_reports_unused_replies() -> None:
    with ScriptedModel("a", "b") as model, pytest.raises(AssertionError, match="2 scripted replies never"):
        model.assert_done()


def test_default_reply_when_the_queue_is_empty() -> None:
    with ScriptedModel("first", default=message("again")) as model:
        assert post_events(model)[1]["item"]["content"][0]["text"] == "first"
        for _ in range(2):
            assert post_events(model)[1]["item"]["content"][0]["text"] == "again"
        assert model.unexpected_requests == []


def test_http_error_reply() -> None:
    with ScriptedModel(
        http_error(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"})
    ) as model:
        status, headers, body = request(model)
        assert status == 429
        assert headers["retry-after"] == "7"
        assert json.loads(body) == {"error": {"message": "slow down"}}
        assert model.unexpected_requests == []


def test_failed_reply_over_http() -> None:
    with ScriptedModel(failed("nope")) as model:
        assert types(post_events(model))[-1] == "response.failed"


def test_delay_holds_the_stream() -> None:
    with ScriptedModel(reply(message("a"), delay(0.3), message("b"))) as model:
        start = time.monotonic()
        payloads = post_events(model)
        assert time.monotonic() - start >= 0.3
        assert len(payloads) == 4


def test_gate_holds_until_opened() -> None:
    gate = Gate()
    with ScriptedModel(reply(message("before"), gate, message("after"))) as model:
        with socket.create_connection(("127.0.0.1", model.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            received = b""
            while b"before" not in received or not received.endswith(b"\n\n"):
                chunk = sock.recv(65536)
                assert chunk, "stream ended early"
                received += chunk
            gate.wait_reached(timeout=5)
            # Nothing more arrives while the gate is closed.
            assert select.select([sock], [], [], 0.2)[0] == []
            threading.Timer(0.05, gate.open).start()
            while chunk := sock.recv(65536):
                received += chunk
        head, body = received.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        payloads = parse_sse(body.decode())
        assert types(payloads) == [
            "response.created",
            "response.output_item.done",
            "response.output_item.done",
            "response.completed",
        ]
        assert payloads[2]["item"]["content"][0]["text"] == "after"
        assert gate.is_open and not gate.timed_out


def test_gate_opened_from_another_thread_while_a_client_waits() -> None:
    gate = Gate()
    results: list[list[Json]] = []
    with ScriptedModel(reply(gate, message("x"))) as model:
        client = threading.Thread(target=lambda: results.append(post_events(model)))
        client.start()
        gate.wait_reached(timeout=5)
        time.sleep(0.1)
        assert client.is_alive() and not results
        gate.open()
        client.join(timeout=5)
        assert types(results[0]) == ["response.created", "response.output_item.done", "response.completed"]


def test_gate_timeout_lets_the_stream_go_on() -> None:
    gate = Gate(timeout=0.2)
    with ScriptedModel(reply(gate, message("x"))) as model:
        start = time.monotonic()
        assert types(post_events(model))[-1] == "response.completed"
        assert 0.2 <= time.monotonic() - start < 3
        assert gate.timed_out


def test_gate_opened_early_does_not_hold() -> None:
    gate = Gate()
    gate.open()
    with ScriptedModel(reply(gate, message("x"))) as model:
        assert len(post_events(model)) == 3
    assert gate.reached.is_set()
    with pytest.raises(TimeoutError):
        Gate().wait_reached(timeout=0.01)


def test_requests_are_recorded_with_headers_body_and_raw() -> None:
    body = {
        "model": "gpt-5.5",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "do it"}]},
            {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "Output:\nhi\n"},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "ok"}]},
        ],
    }
    raw = json.dumps(body).encode()
    with ScriptedModel("x") as model:
        request(model, body=raw, headers={"X-Thing": "1"})
        (recorded,) = model.requests
    assert isinstance(recorded, RecordedRequest)
    assert (recorded.method, recorded.path) == ("POST", "/v1/responses")
    assert recorded.raw == raw and recorded.body == body
    assert recorded.headers["x-thing"] == "1" and recorded.header("X-THING") == "1"
    assert recorded.header("missing") is None
    assert recorded.input == body["input"]
    assert recorded.message_texts() == ["do it"]
    assert recorded.message_texts("developer") == ["rules"]
    assert [o["call_id"] for o in recorded.tool_outputs()] == ["c1", "c2"]
    assert recorded.tool_output() == "ok"
    assert recorded.tool_output("c1") == "Output:\nhi\n"
    with pytest.raises(LookupError, match="c9"):
        recorded.tool_output("c9")


def test_non_json_and_chunked_bodies() -> None:
    with ScriptedModel("a", "b") as model:
        request(model, body=b"not json")
        conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=10)
        conn.request("POST", "/v1/responses", body=iter([b'{"in', b'put": []}']), encode_chunked=True)
        assert conn.getresponse().read()
        conn.close()
        first, second = model.requests
    assert first.body is None and first.raw == b"not json" and first.input == []
    assert second.body == {"input": []}
    with pytest.raises(LookupError):
        first.tool_output()


def test_models_websocket_and_unknown_paths() -> None:
    with ScriptedModel() as model:
        status, _, body = request(model, "GET", "/v1/models", body=None)
        assert status == 200 and json.loads(body)["data"] == []
        status, _, _ = request(
            model, "GET", "/v1/responses", body=None, headers={"Connection": "Upgrade", "Upgrade": "websocket"}
        )
        assert status == 426
        assert model.unexpected_requests == []
        assert request(model, "POST", "/v1/other")[0] == 404
        assert request(model, "GET", "/nope", body=None)[0] == 404
        assert [(r.method, r.path) for r in model.unexpected_requests] == [("POST", "/v1/other"), ("GET", "/nope")]
        assert len(model.requests) == 4
        assert model.model_requests == []


def test_426_status_line_is_http_1_1() -> None:
    # The engine's WebSocket client refuses an HTTP/1.0 answer and retries for seconds instead of falling back.
    with ScriptedModel() as model, socket.create_connection(("127.0.0.1", model.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/responses HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 426")


def test_wait_for_requests() -> None:
    with ScriptedModel("a", "b") as model:
        threading.Timer(0.1, lambda: (post_events(model), post_events(model))).start()
        got = model.wait_for_requests(2, timeout=5)
        assert len(got) == 2
        with pytest.raises(TimeoutError, match="expected 3 model requests"):
            model.wait_for_requests(3, timeout=0.1)


def test_quiet_no_stderr_logging(capfd: pytest.CaptureFixture[str]) -> None:
    with ScriptedModel("a") as model:
        post_events(model)
        request(model, "GET", "/nope", body=None)
    assert capfd.readouterr().err == ""


# -- shutdown ---------------------------------------------------------------------------------------------------


def test_close_leaves_no_thread_and_no_fd_and_is_idempotent() -> None:
    before_threads = set(threading.enumerate())
    before_fds = open_fds()
    model = ScriptedModel("a", "b")
    model.start()
    post_events(model)
    post_events(model)
    assert model_threads()
    model.close()
    model.close()
    assert set(threading.enumerate()) - before_threads == set()
    assert open_fds() == before_fds


def test_close_before_start_is_fine() -> None:
    model = ScriptedModel()
    model.close()
    model.close()
    with pytest.raises(RuntimeError):
        model.start()


def test_close_cuts_a_held_stream_and_an_idle_connection() -> None:
    before_threads = set(threading.enumerate())
    before_fds = open_fds()
    gate = Gate()  # 30 s timeout: close() must not wait for it
    model = ScriptedModel(reply(gate, message("never")))
    model.start()
    received: list[list[Json]] = []

    def client() -> None:
        received.append(post_events(model))  # the stream is cut: it ends without response.completed

    held = threading.Thread(target=client)
    held.start()
    gate.wait_reached(timeout=5)
    idle = socket.create_connection(("127.0.0.1", model.port))  # connected, never sends a request
    time.sleep(0.05)
    start = time.monotonic()
    model.close()
    assert time.monotonic() - start < 2
    held.join(timeout=5)
    idle.close()
    assert not held.is_alive()
    assert types(received[0]) == ["response.created"]
    assert set(threading.enumerate()) - before_threads == set()
    assert open_fds() == before_fds


def test_close_during_a_delay() -> None:
    model = ScriptedModel(reply(delay(30), message("late")))
    model.start()
    threading.Thread(target=lambda: request(model), daemon=True).start()
    model.wait_for_requests(1)
    start = time.monotonic()
    model.close()
    assert time.monotonic() - start < 2
    assert not model_threads()


# -- the offline home -------------------------------------------------------------------------------------------


def test_offline_toml_has_exactly_the_offline_settings() -> None:
    cfg = tomllib.loads(offline_toml(model_url="http://127.0.0.1:1234/v1"))
    assert cfg == {
        "model": DEFAULT_MODEL,
        "model_provider": "mock",
        "analytics": {"enabled": False},
        "features": {"plugins": False, "unbounded_connection_retries": False},
        "shell_environment_policy": {"inherit": "core"},
        "model_providers": {
            "mock": {
                "name": "mock",
                "base_url": "http://127.0.0.1:1234/v1",
                "wire_api": "responses",
                "request_max_retries": 0,
                "stream_max_retries": 0,
                "supports_websockets": False,
            }
        },
    }


def test_offline_toml_extras() -> None:
    text = offline_toml(
        model_url='http://x/"q"',
        model="mock-model",
        extra_toml='approval_policy = "never"\n[tools]\nview_image = false\n',
        features={"goals": True},
    )
    cfg = tomllib.loads(text)
    assert cfg["model"] == "mock-model" and cfg["approval_policy"] == "never"
    assert cfg["tools"] == {"view_image": False}
    assert cfg["features"]["goals"] is True
    assert cfg["model_providers"]["mock"]["base_url"] == 'http://x/"q"'
    with pytest.raises(ValueError):
        offline_toml(model_url="u", features={"bad key": True})


def test_write_offline_home(tmp_path: Path) -> None:
    home = write_offline_home(tmp_path / "a" / "home", model_url="http://127.0.0.1:9/v1")
    assert home == tmp_path / "a" / "home"
    cfg = tomllib.loads((home / "config.toml").read_text())
    assert cfg["model_providers"]["mock"]["base_url"] == "http://127.0.0.1:9/v1"


def test_offline_config(tmp_path: Path) -> None:
    with ScriptedModel() as model:
        config = offline_config(
            model, tmp_path / "home", cwd=tmp_path, env={"EXTRA": "1"}, client_name="t", codex_bin="/x/codex"
        )
        assert isinstance(config, CodexConfig)
        assert config.env == {**offline_env(tmp_path / "home"), "EXTRA": "1"}
        assert config.env["CODEX_APP_SERVER_DISABLE_MANAGED_CONFIG"] == "1"
        assert config.env["RUST_LOG"] == "warn"
        assert config.cwd == str(tmp_path)
        assert (config.client_name, config.codex_bin) == ("t", "/x/codex")
        cfg = tomllib.loads((tmp_path / "home" / "config.toml").read_text())
        assert cfg["model_providers"]["mock"]["base_url"] == model.url
        assert offline_config(model, tmp_path / "home2").cwd is None


def test_offline_engine_cleans_up(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with OfflineEngine("hi", client_name="demo") as offline:
        root = offline.root
        assert offline.workspace.is_dir() and (offline.codex_home / "config.toml").is_file()
        assert offline.config.cwd == str(offline.workspace)
        assert offline.config.client_name == "demo"
        assert offline.env["CODEX_HOME"] == str(offline.codex_home)
        assert post_events(offline.model)[1]["item"]["content"][0]["text"] == "hi"
    assert not root.exists()
    assert set(threading.enumerate()) - before == set()
    with OfflineEngine(root=tmp_path / "kept") as offline:
        pass
    assert (tmp_path / "kept" / "codex-home" / "config.toml").is_file()
    with pytest.raises(RuntimeError):
        _ = OfflineEngine().config


def test_http_error_is_a_reply_type() -> None:
    assert isinstance(as_reply(http_error(500)), HttpError)
    assert http_error(500).call_ids == []
