"""The reference's top-15 behaviours (§5), for ``Codex`` and ``AsyncCodex``, on the REAL engine and scripted model.

Each scenario is one ``async def`` run through our sync client, our async client and, where the official SDK
behaves the same, ``openai_codex`` too: the same assertions (exact wire dicts read from a :class:`WireTap`)
pass for all of them, which proves the wire is the official one. Stand-in engines are used only for what the
real engine cannot show (bad metadata, an engine that dies, malformed lines, scripted errors, an old version).

Deliberate deviations (asserted for ours only): ``TransportClosedError`` (never ``BrokenPipeError``) once the
engine died; a malformed line never hangs later requests; -32001 "Server overloaded; retry later." (with or
without data, ``serverOverloaded`` too) is retryable; server requests other than approvals are refused with an
error instead of the official schema-invalid ``{}``; request ids are integers (the official SDK sends uuid
strings).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai_codex
import psutil
import pytest

import codex_actors
from codex_actors._binary import pinned_engine_path
from codex_actors._failures import NOT_RUNNING
from codex_actors.testing import (
    Gate,
    OfflineEngine,
    Usage,
    WireTap,
    exec_command,
    failed,
    message,
    reply,
    streamed_message,
)
from tests.support.fixtures import FAKE_ENGINE
from tests.support.leaks import assert_nothing_leaked, snapshot
from tests.support.parity import (
    ALL,
    OURS,
    Aw,
    Rig,
    is_async,
    is_ours,
    item_type,
    masked,
    open_client,
    plain,
    run,
    sdk,
    turn_events_on_wire,
)
from tests.support.waiting import wait_until

FAKE = (sys.executable, str(FAKE_ENGINE))


@pytest.fixture
def rig() -> Iterator[Rig]:
    """An offline engine world with a wire tap; afterwards no engine, thread, fd or temp dir may be left."""
    before = snapshot()
    with OfflineEngine() as offline:
        the_rig = Rig(offline)
        yield the_rig
        the_rig.assert_no_engines()
    assert not offline.root.exists()
    if all(is_ours(kind) for kind in the_rig.kinds_used):
        assert_nothing_leaked(before)  # the official SDK keeps a module-level executor: threads not checked


def c2s_params(tap: WireTap, method: str) -> list[Any]:
    return [message.get("params") for message in tap.sent(method)]


def thread_id_of(tap: WireTap, index: int = -1) -> str:
    started = [m for m in tap.received() if "result" in m and isinstance(m["result"].get("thread"), dict)]
    return str(started[index]["result"]["thread"]["id"])


# ---------------------------------------------------------------------------------------------------------------
# The wire tap itself

STAND_IN = r"""
import json, os, signal, sys
mode = sys.argv[1]
if mode == "term":
    def on_term(*_):
        sys.stderr.write("stand-in: TERM\n"); sys.stderr.flush(); os._exit(42)
    signal.signal(signal.SIGTERM, on_term)
if mode == "stubborn":  # ignores SIGTERM (from before its hello: a test may send one right after) and EOF
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(json.dumps({"pid": os.getpid(), "argv": sys.argv[1:], "cwd": os.getcwd()}), flush=True)
if mode == "stubborn":  # only SIGKILL ends it
    sys.stdin.read()
    signal.pause()
for line in sys.stdin:
    sys.stdout.write(line); sys.stdout.flush()
sys.stderr.write("stand-in: eof\n"); sys.stderr.flush()
sys.exit(5)
"""


def start_wrapped(tap: WireTap, mode: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    proc = subprocess.Popen(
        [tap.codex_bin, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    hello = json.loads(proc.stdout.readline())
    return proc, hello


def test_tap_records_both_ways_passes_stderr_and_exits_with_the_engines_code(tmp_path: Path) -> None:
    with WireTap(tmp_path / "tap", command=(sys.executable, "-c", STAND_IN)) as tap:
        proc, hello = start_wrapped(tap, "eof")
        assert hello["argv"] == ["eof"]  # the wrapper's argv is passed on
        out, err = proc.communicate(b'{"id":1,"method":"a/b","params":{"x":[1]}}\nnot json\n', timeout=10)
        assert proc.returncode == 5  # closing the wrapper's stdin closed the engine's; its exit code came back
        assert err == b"stand-in: eof\n"  # stderr untouched
        assert out == b'{"id":1,"method":"a/b","params":{"x":[1]}}\nnot json\n'
        records = tap.lines()
        assert records[0] == {"dir": "s2c", "line": hello}
        request = {"id": 1, "method": "a/b", "params": {"x": [1]}}
        # each direction in order (the two directions interleave as the threads run)
        assert [r for r in records if r["dir"] == "c2s"] == [
            {"dir": "c2s", "line": request},
            {"dir": "c2s", "line": None, "raw": "not json"},
        ]
        assert [r for r in records[1:] if r["dir"] == "s2c"] == [
            {"dir": "s2c", "line": request},
            {"dir": "s2c", "line": None, "raw": "not json"},
        ]
        assert records.index({"dir": "c2s", "line": request}) < records.index({"dir": "s2c", "line": request}, 1)
        assert tap.sent("a/b") == [{"id": 1, "method": "a/b", "params": {"x": [1]}}]
        assert tap.received("a/b") == tap.sent("a/b")
        assert tap.sent("other") == []
        tap.clear()
        assert tap.lines() == []
        assert tap.directory == (tmp_path / "tap").resolve()
    assert (tmp_path / "tap").exists()  # a given directory is left in place


def test_tap_forwards_sigterm_and_mirrors_a_signal_death() -> None:
    with WireTap(command=(sys.executable, "-c", STAND_IN)) as tap:
        proc, _ = start_wrapped(tap, "term")
        proc.terminate()
        assert proc.wait(10) == 42  # the engine got the SIGTERM and chose its exit code
        assert proc.stderr is not None and proc.stderr.read() == b"stand-in: TERM\n"
        proc, _ = start_wrapped(tap, "plain")
        proc.terminate()
        assert proc.wait(10) == -signal.SIGTERM  # the engine died of it: so does the wrapper
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()
        proc, hello = start_wrapped(tap, "plain")
        os.kill(hello["pid"], signal.SIGKILL)  # the engine is killed: the wrapper mirrors it (or wait raises)
        assert proc.wait(10) == -signal.SIGKILL
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()
        directory = tap.directory
    assert not directory.exists()  # a temp dir the tap made is removed


def test_tap_sigkilled_wrapper_takes_the_engine_down() -> None:
    with WireTap(command=(sys.executable, "-c", STAND_IN)) as tap:
        proc, hello = start_wrapped(tap, "plain")
        engine = psutil.Process(hello["pid"])
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL
        wait_until(
            lambda: not engine.is_running() or engine.status() == psutil.STATUS_ZOMBIE, what="the engine to exit"
        )
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()
        # An engine that ignores EOF and SIGTERM dies with a SIGKILLed wrapper too, as it would without a wrapper.
        proc, hello = start_wrapped(tap, "stubborn")
        engine = psutil.Process(hello["pid"])
        proc.terminate()  # forwarded, and ignored
        time.sleep(0.1)
        assert engine.is_running() and proc.poll() is None
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL
        wait_until(
            lambda: not engine.is_running() or engine.status() == psutil.STATUS_ZOMBIE, what="the engine to die"
        )
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()


# ---------------------------------------------------------------------------------------------------------------
# 1. Launch argv / env


@pytest.mark.parametrize("kind", ALL)
def test_row01_launch_argv_cwd_and_env(kind: str, rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    import codex_cli_bin

    monkeypatch.setenv("PARITY_FROM_OS_ENVIRON", "inherited")
    helper_dir = str(codex_cli_bin.bundled_path_dir())
    override = 'model="gpt-5.5"'

    async def untapped() -> None:
        config = rig.config(kind, tapped=False, config_overrides=(override,), env={"PARITY_OVERLAY": "1"})
        async with open_client(kind, config):
            (engine,) = rig.real_engines()
            assert engine.cmdline() == [
                str(pinned_engine_path()),
                "--config",
                override,
                "app-server",
                "--listen",
                "stdio://",
            ]
            assert engine.cwd() == str(rig.workspace)
            env = engine.environ()
            assert env["PARITY_FROM_OS_ENVIRON"] == "inherited"  # os.environ, overlaid with config.env
            assert env["PARITY_OVERLAY"] == "1"
            assert env["CODEX_HOME"] == str(rig.offline.codex_home)
            assert env["PATH"].split(os.pathsep)[0] == helper_dir  # the pinned engine's helpers come first
            assert env["PATH"].split(os.pathsep).count(helper_dir) == 1

    async def tapped() -> None:
        async with open_client(kind, rig.config(kind)):
            (engine,) = rig.real_engines()
            assert engine.cmdline() == [str(pinned_engine_path()), "app-server", "--listen", "stdio://"]
            assert engine.environ()["PATH"] == os.environ["PATH"]  # an explicit codex_bin: PATH untouched

    run(untapped)
    rig.assert_no_engines()
    run(tapped)


@pytest.mark.parametrize("kind", ALL)
def test_row01_launch_args_override_is_taken_verbatim(kind: str, rig: Rig) -> None:
    async def scenario() -> None:
        config, _tap = rig.fake(kind, FAKE)
        config.launch_args_override = (*config.launch_args_override, "--extra", "arg")
        config.codex_bin = "/nonexistent/codex"  # ignored with an override
        config.config_overrides = ("ignored=1",)
        async with open_client(kind, config) as codex:
            assert codex.metadata.userAgent == "fake_engine/0.163.0 (test)"
            (wrapper,) = [
                p for p in rig.engines() if p.cmdline()[-2:] == ["--extra", "arg"] and "-I" in p.cmdline()
            ]
            (engine,) = wrapper.children()
            assert engine.cmdline() == [*FAKE, "--extra", "arg"]
        module = sdk(kind)
        missing = module.CodexConfig(codex_bin=str(rig.workspace / "no-such-codex"))
        message = f"Codex binary not found at {rig.workspace / 'no-such-codex'}. Set CodexConfig.codex_bin"
        with pytest.raises(FileNotFoundError, match=message):
            async with open_client(kind, missing):
                pass

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 2. Handshake


@pytest.mark.parametrize("kind", [*ALL, "official-async"])
def test_row02_handshake_bytes_and_metadata(kind: str, rig: Rig) -> None:
    async def scenario() -> None:
        config = rig.config(kind, client_name="acme_bot", client_title="Acme Bot", client_version="9.9.9")
        async with open_client(kind, config) as codex:
            await codex.models()  # anything after the handshake
            metadata = codex.metadata
        assert metadata.serverInfo is not None
        assert metadata.serverInfo.name == "acme_bot"  # the engine uses clientInfo.name as originator
        assert metadata.serverInfo.version.startswith("0.163.0 (")  # split at the first "/"
        assert metadata.userAgent == f"acme_bot/{metadata.serverInfo.version}"
        assert metadata.userAgent.endswith("(acme_bot; 9.9.9)")
        assert (metadata.platformFamily, metadata.platformOs) == ("unix", "linux")

    run(scenario)
    records = rig.tap.lines()
    sent = [record["line"] for record in records if record["dir"] == "c2s"]
    init, initialized = sent[0], sent[1]
    assert {key: value for key, value in init.items() if key != "id"} == {
        "method": "initialize",
        "params": {
            "clientInfo": {"name": "acme_bot", "title": "Acme Bot", "version": "9.9.9"},
            "capabilities": {"experimentalApi": True},
        },
    }
    assert initialized == {"method": "initialized"}  # no id, no params key
    assert all("jsonrpc" not in line for line in sent)
    assert all("jsonrpc" not in record["line"] for record in records if record["line"] is not None)
    # `initialized` goes out only after the engine answered `initialize`
    answered = next(i for i, r in enumerate(records) if r["dir"] == "s2c" and r["line"].get("id") == init["id"])
    assert answered < next(i for i, r in enumerate(records) if r["line"] == {"method": "initialized"})
    # Deliberate difference: our request ids are integers (1, 2, ...); the official SDK sends uuid strings.
    assert all(isinstance(line["id"], int if is_ours(kind) else str) for line in sent if "id" in line)


@pytest.mark.parametrize("kind", [*ALL, "official-async"])
def test_row02_missing_init_metadata_raises_runtime_error_and_closes(kind: str, rig: Rig) -> None:
    async def scenario() -> None:
        config, tap = rig.fake(kind, FAKE, env={"FAKE_ENGINE_INIT": "empty"})
        expected = (
            "initialize response missing required metadata (user_agent='', server_name='', server_version='')"
        )
        with pytest.raises(RuntimeError) as info:
            async with open_client(kind, config):
                pass
        assert str(info.value) == expected
        assert type(info.value) is RuntimeError
        assert len(tap.sent("initialize")) == 1

    run(scenario)
    rig.assert_no_engines()


# ---------------------------------------------------------------------------------------------------------------
# 3. Approval presets on the wire; None overrides send nothing


@pytest.mark.parametrize("kind", ALL)
def test_row03_approval_modes_and_none_overrides_on_the_wire(kind: str, rig: Rig) -> None:
    rig.model.enqueue(message("one"), message("two"), message("three"))
    approval = sdk(kind).ApprovalMode

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            first = await codex.thread_start()
            denied = await codex.thread_start(approval_mode=approval.deny_all)
            assert (await first.run("hi")).final_response == "one"
            await codex.thread_resume(first.id)
            await codex.thread_resume(first.id, approval_mode=approval.deny_all, include_turns=True)
            forked = await codex.thread_fork(first.id)
            assert forked.id != first.id
            await codex.thread_fork(first.id, approval_mode=approval.auto_review, include_turns=False)
            assert (await denied.run("plain")).final_response == "two"
            assert (await denied.run("preset", approval_mode=approval.auto_review)).final_response == "three"
            assert c2s_params(rig.tap, "thread/start") == [
                {"approvalPolicy": "on-request", "approvalsReviewer": "auto_review"},
                {"approvalPolicy": "never"},
            ]
            assert c2s_params(rig.tap, "thread/resume") == [
                {"threadId": first.id},
                {"threadId": first.id, "approvalPolicy": "never", "excludeTurns": False},
            ]
            assert c2s_params(rig.tap, "thread/fork") == [
                {"threadId": first.id},
                {
                    "threadId": first.id,
                    "approvalPolicy": "on-request",
                    "approvalsReviewer": "auto_review",
                    "excludeTurns": True,
                },
            ]
            assert c2s_params(rig.tap, "turn/start") == [
                {"threadId": first.id, "input": [{"type": "text", "text": "hi"}]},
                {"threadId": denied.id, "input": [{"type": "text", "text": "plain"}]},
                {
                    "threadId": denied.id,
                    "input": [{"type": "text", "text": "preset"}],
                    "approvalPolicy": "on-request",
                    "approvalsReviewer": "auto_review",
                },
            ]

    run(scenario)


@pytest.mark.parametrize("kind", ALL)
def test_row03_account_model_list_and_thread_method_params(kind: str, rig: Rig) -> None:
    rig.model.enqueue(message("named"))

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            account = await codex.account()
            assert plain(account).get("requiresOpenaiAuth") is not None
            assert await codex.logout() is None
            assert plain(await codex.models()).get("data") is not None
            await codex.models(include_hidden=True)
            await codex.thread_list()
            thread = await codex.thread_start(approval_mode=sdk(kind).ApprovalMode.deny_all)
            await thread.run("x")
            listed = await codex.thread_list(limit=5, archived=False, search_term="x")
            assert [entry["id"] for entry in plain(listed)["data"]] == [thread.id]
            assert plain(await thread.set_name("named")) == {}
            read = await thread.read()
            assert plain(read)["thread"]["name"] == "named"
            assert "turns" not in plain(read)["thread"] or plain(read)["thread"]["turns"] == []
            assert len(plain(await thread.read(include_turns=True))["thread"]["turns"]) == 1
            assert plain(await codex.thread_archive(thread.id)) == {}
            unarchived = await codex.thread_unarchive(thread.id)
            assert unarchived.id == thread.id
        tid = thread.id
        assert c2s_params(rig.tap, "account/read") == [{"refreshToken": False}]
        (logout,) = rig.tap.sent("account/logout")
        assert sorted(logout) == ["id", "method"]  # no params key at all
        assert c2s_params(rig.tap, "model/list") == [{"includeHidden": False}, {"includeHidden": True}]
        assert c2s_params(rig.tap, "thread/list") == [{}, {"limit": 5, "archived": False, "searchTerm": "x"}]
        assert c2s_params(rig.tap, "thread/name/set") == [{"threadId": tid, "name": "named"}]
        assert c2s_params(rig.tap, "thread/read") == [
            {"threadId": tid, "includeTurns": False},
            {"threadId": tid, "includeTurns": True},
        ]
        assert c2s_params(rig.tap, "thread/archive") == [{"threadId": tid}]
        assert c2s_params(rig.tap, "thread/unarchive") == [{"threadId": tid}]

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 4. Sandbox: thread strings vs turn policies; non-enum values refused before any request

SANDBOX_POLICIES = {
    "read_only": {"networkAccess": False, "type": "readOnly"},
    "workspace_write": {
        "excludeSlashTmp": False,
        "excludeTmpdirEnvVar": False,
        "networkAccess": False,
        "type": "workspaceWrite",
        "writableRoots": [],
    },
    "full_access": {"type": "dangerFullAccess"},
}
SANDBOX_MODES = {
    "read_only": "read-only",
    "workspace_write": "workspace-write",
    "full_access": "danger-full-access",
}


@pytest.mark.parametrize("kind", ALL)
def test_row04_sandbox_thread_strings_and_turn_policies(kind: str, rig: Rig) -> None:
    rig.model.enqueue(message("a"), message("b"), message("c"))
    module = sdk(kind)

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            threads = []
            for name in SANDBOX_MODES:
                sandbox = getattr(module.Sandbox, name)
                threads.append(
                    await codex.thread_start(approval_mode=module.ApprovalMode.deny_all, sandbox=sandbox)
                )
            for thread, name in zip(threads, SANDBOX_POLICIES, strict=True):
                await thread.run(name, sandbox=getattr(module.Sandbox, name))
            await codex.thread_resume(threads[0].id, sandbox=module.Sandbox.workspace_write)
            await codex.thread_fork(threads[0].id, sandbox=module.Sandbox.full_access)
            assert [p["sandbox"] for p in c2s_params(rig.tap, "thread/start")] == list(SANDBOX_MODES.values())
            assert [p["sandboxPolicy"] for p in c2s_params(rig.tap, "turn/start")] == list(
                SANDBOX_POLICIES.values()
            )
            assert c2s_params(rig.tap, "thread/resume") == [
                {"threadId": threads[0].id, "sandbox": "workspace-write"}
            ]
            assert c2s_params(rig.tap, "thread/fork") == [
                {"threadId": threads[0].id, "sandbox": "danger-full-access"}
            ]

    run(scenario)


@pytest.mark.parametrize("kind", [*ALL, "official-async"])
def test_row04_non_enum_presets_raise_value_error_before_any_request(kind: str, rig: Rig) -> None:
    sandbox_error = "sandbox must be one of: Sandbox.read_only, Sandbox.workspace_write, Sandbox.full_access"
    approval_error = "approval_mode must be one of: deny_all, auto_review"

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            with pytest.raises(ValueError, match=sandbox_error):
                await codex.thread_start(sandbox="read-only")
            with pytest.raises(ValueError, match=approval_error):
                await codex.thread_start(approval_mode="deny_all")
            thread = codex.bind_thread("00000000-0000-7000-8000-000000000001")
            with pytest.raises(ValueError, match=sandbox_error):
                await thread.turn("x", sandbox="workspace-write")
            with pytest.raises(ValueError, match=approval_error):
                await thread.run("x", approval_mode="auto_review")
            with pytest.raises(ValueError, match=sandbox_error):
                await codex.thread_resume(thread.id, sandbox="full-access")
            with pytest.raises(ValueError, match=sandbox_error):
                await codex.thread_fork(thread.id, sandbox=Path("read-only"))
        sent = {line.get("method") for line in rig.tap.sent()}
        assert sent == {"initialize", "initialized"}  # nothing else was ever sent

    run(scenario)


@pytest.mark.parametrize("kind", ["sync", "async", "official"])
def test_row03_thread_start_refuses_approval_mode_none(kind: str, rig: Rig) -> None:
    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            with pytest.raises(ValueError, match="approval_mode must be one of: deny_all, auto_review"):
                await codex.thread_start(approval_mode=None)
        assert rig.tap.sent("thread/start") == []

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 5. turn/start mapping and input shapes

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("kind", ALL)
def test_row05_turn_start_param_mapping_and_input_shapes(kind: str, rig: Rig) -> None:
    rig.model.enqueue(message('{"a": "b"}'), message("str"), message("one"), message("ext"), message("items"))
    module = sdk(kind)
    (rig.workspace / "img.png").write_bytes(PNG)
    image_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    local = str(rig.workspace / "img.png")
    skill = rig.workspace / "skill" / "SKILL.md"
    skill.parent.mkdir()
    skill.write_text("---\nname: s\ndescription: d\n---\nbody\n")

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=module.ApprovalMode.deny_all)
            items = [
                module.TextInput("t"),
                module.ImageInput(image_url),
                module.LocalImageInput(local),
                module.SkillInput("s", str(skill)),
                module.MentionInput("m", "app://x"),
            ]
            result = await thread.run(
                items,
                approval_mode=module.ApprovalMode.deny_all,
                cwd=str(rig.workspace),
                effort="low",
                model="gpt-5.5",
                output_schema=SCHEMA,
                personality="pragmatic",
                sandbox=module.Sandbox.read_only,
                service_tier="fast",
                source="cli",
                summary="concise",
                turn_service_tier="default",
            )
            assert result.final_response == '{"a": "b"}'
            assert plain(result.items[0])["content"][3] == {"type": "skill", "name": "s", "path": str(skill)}
            assert (await thread.run("str")).final_response == "str"
            assert (await thread.run(module.TextInput("one"))).final_response == "one"
            external = module.ExternalMessage("weather", "sunny", namespace="tools")
            ext = await thread.run(external)
            assert [item_type(item) for item in ext.items] == ["functionCallOutput", "agentMessage"]
            assert plain(ext.items[0])["name"] == "weather" and plain(ext.items[0])["output"] == "sunny"
            content = [{"type": "input_text", "text": "rain"}, {"type": "input_image", "image_url": image_url}]
            await thread.run(module.ExternalMessage("weather", content))

            for bad, shown in (
                (5, "int"),
                ((module.TextInput("a"),), "tuple"),
                ([module.TextInput("a"), 3], "int"),
            ):
                with pytest.raises(TypeError, match=rf"^unsupported input item: <class '{shown}'>$"):
                    await thread.turn(bad)
            with pytest.raises(ValueError, match=r"ExternalMessage\.tool_name must be a nonempty string"):
                await thread.run(module.ExternalMessage("  ", "x"))

        tid = thread.id
        assert c2s_params(rig.tap, "turn/start") == [
            {
                "threadId": tid,
                "input": [
                    {"type": "text", "text": "t"},
                    {"type": "image", "url": image_url},
                    {"type": "localImage", "path": local},
                    {"type": "skill", "name": "s", "path": str(skill)},
                    {"type": "mention", "name": "m", "path": "app://x"},
                ],
                "approvalPolicy": "never",
                "cwd": str(rig.workspace),
                "effort": "low",
                "model": "gpt-5.5",
                "outputSchema": SCHEMA,
                "personality": "pragmatic",
                "sandboxPolicy": {"networkAccess": False, "type": "readOnly"},
                "serviceTier": "fast",
                "turnTrigger": "cli",
                "summary": "concise",
                "serviceTierForTurn": "default",
            },
            {"threadId": tid, "input": [{"type": "text", "text": "str"}]},
            {"threadId": tid, "input": [{"type": "text", "text": "one"}]},
            {
                "threadId": tid,
                "input": [],
                "toolOutput": {"name": "weather", "namespace": "tools", "output": "sunny"},
            },
            {"threadId": tid, "input": [], "toolOutput": {"name": "weather", "output": content}},
        ]

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 6. TurnResult assembly


@pytest.mark.parametrize("kind", ALL)
def test_row06_turn_result_items_usage_and_timings(kind: str, rig: Rig) -> None:
    rig.model.enqueue(
        reply(exec_command("echo parity"), usage=Usage(input_tokens=10, output_tokens=2)),
        reply(
            message("ran it"), usage=Usage(input_tokens=30, cached_tokens=8, output_tokens=5, reasoning_tokens=1)
        ),
    )

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=sdk(kind).ApprovalMode.deny_all)
            result = await thread.run("run it")
        received = rig.tap.received()
        (completed,) = [m for m in received if m.get("method") == "turn/completed"]
        turn = completed["params"]["turn"]
        assert result.id == turn["id"]
        assert plain(result.status) == turn["status"] == "completed"
        assert result.error is None
        assert (result.started_at, result.completed_at, result.duration_ms) == (
            turn["startedAt"],
            turn["completedAt"],
            turn["durationMs"],
        )
        assert isinstance(result.started_at, int) and result.completed_at >= result.started_at  # unix seconds
        # items: every item/completed of the turn, in wire order, the user's own message included
        wire_items = [m["params"]["item"] for m in received if m.get("method") == "item/completed"]
        assert [item_type(item) for item in result.items] == [item["type"] for item in wire_items]
        assert [item_type(item) for item in result.items] == ["userMessage", "commandExecution", "agentMessage"]
        assert [plain(item)["id"] for item in result.items] == [item["id"] for item in wire_items]
        assert plain(result.items[1])["aggregatedOutput"].splitlines()[-1] == "parity"
        assert result.final_response == "ran it"
        # usage: the last thread/tokenUsage/updated of the turn
        usages = [m["params"]["tokenUsage"] for m in received if m.get("method") == "thread/tokenUsage/updated"]
        assert len(usages) == 2
        assert plain(result.usage) == {key: value for key, value in usages[-1].items() if value is not None}
        assert plain(result.usage)["last"]["inputTokens"] == 30
        assert plain(result.usage)["total"]["inputTokens"] == 40

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 7. final_response selection


@pytest.mark.parametrize("kind", ALL)
def test_row07_final_response_rules(kind: str, rig: Rig) -> None:
    rig.model.enqueue(
        reply(message("c", phase="commentary"), message("final!", phase="final_answer"), message("phaseless")),
        reply(message("a"), message("b")),
        reply(message("only commentary", phase="commentary")),
        message(""),
    )

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=sdk(kind).ApprovalMode.deny_all)
            answers = [await thread.run(f"q{i}") for i in range(4)]
        assert [r.final_response for r in answers] == ["final!", "b", None, ""]
        phases = [[plain(item).get("phase") for item in r.items[1:]] for r in answers]
        assert phases == [["commentary", "final_answer", None], [None, None], ["commentary"], [None]]

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 8. Failed and interrupted turns


@pytest.mark.parametrize("kind", ALL)
def test_row08_failed_turn_raises_from_run_but_not_from_stream(kind: str, rig: Rig) -> None:
    rig.model.enqueue(failed("the model broke"), failed("broke again"))

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=sdk(kind).ApprovalMode.deny_all)
            with pytest.raises(RuntimeError) as info:
                await thread.run("fail")
            handle = await thread.turn("fail again")
            events = await handle.events()  # no exception
        assert type(info.value) is RuntimeError  # a plain RuntimeError, not a CodexError
        first, second = [m["params"]["turn"] for m in rig.tap.received("turn/completed")]
        assert first["status"] == "failed"
        assert (
            str(info.value)
            == first["error"]["message"]
            == "stream disconnected before completion: the model broke"
        )
        assert [e.method for e in events][-1] == "turn/completed"
        assert "error" in [e.method for e in events]
        assert plain(events[-1].payload)["turn"]["status"] == "failed"
        assert plain(events[-1].payload)["turn"]["error"]["message"] == second["error"]["message"]

    run(scenario)


@pytest.mark.parametrize("kind", ALL)
def test_row08_interrupted_turn_returns_status_interrupted(kind: str, rig: Rig) -> None:
    gate = Gate()
    rig.model.enqueue(reply(gate, message("never sent")))

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=sdk(kind).ApprovalMode.deny_all)
            handle = await thread.turn("long")
            await asyncio.to_thread(gate.wait_reached)
            assert plain(await handle.interrupt()) == {}
            result = await handle.run()
            gate.open()
        assert plain(result.status) == "interrupted"
        assert result.final_response is None
        assert [item_type(item) for item in result.items] == ["userMessage"]
        assert c2s_params(rig.tap, "turn/interrupt") == [{"threadId": thread.id, "turnId": handle.id}]

    run(scenario)


def test_row08_failed_status_without_message_raises_the_generic_text() -> None:
    from codex_actors._protocol.generated import TurnCompletedNotification
    from codex_actors._results import TurnAccumulator, result_or_raise

    wire = {"threadId": "t", "turn": {"id": "u", "items": [], "status": "failed", "error": None}}
    import msgspec

    ours = TurnAccumulator("u")
    ours.add(msgspec.convert(wire, TurnCompletedNotification))
    with pytest.raises(RuntimeError, match=r"^turn failed with status failed$"):
        result_or_raise(ours.result())

    from openai_codex._run import _collect_turn_result
    from openai_codex.generated.v2_all import TurnCompletedNotification as Official
    from openai_codex.models import Notification

    official = [Notification("turn/completed", Official.model_validate(wire))]
    with pytest.raises(RuntimeError, match=r"^turn failed with status failed$"):
        _collect_turn_result(iter(official), turn_id="u")


# ---------------------------------------------------------------------------------------------------------------
# 9. Turn stream semantics


@pytest.mark.parametrize("kind", ALL)
def test_row09_stream_has_this_turns_events_only_and_loses_none(kind: str, rig: Rig) -> None:
    gate = Gate()
    rig.model.enqueue(
        reply(streamed_message("al", "pha"), gate, message("!")), reply(streamed_message("be", "ta"))
    )

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            deny = sdk(kind).ApprovalMode.deny_all
            one, two = await codex.thread_start(approval_mode=deny), await codex.thread_start(approval_mode=deny)
            first = await one.turn("first")
            await asyncio.to_thread(gate.wait_reached)
            second = await two.turn("second")  # runs while the first is held open
            second_events = await second.events()
            gate.open()
            first_events = await first.events()
        received = rig.tap.received()
        for handle, events in ((first, first_events), (second, second_events)):
            wire = turn_events_on_wire(received, handle.id)
            assert [e.method for e in events] == [m["method"] for m in wire]  # everything, nothing else
            assert events[0].method == "turn/started"
            assert events[-1].method == "turn/completed"
        deltas = [e.payload.delta for e in first_events if e.method == "item/agentMessage/delta"]
        assert deltas == ["al", "pha"]

    run(scenario)


@pytest.mark.parametrize("kind", ALL)
def test_row09_joined_turn_same_id_both_handles_see_everything(kind: str, rig: Rig) -> None:
    gate = Gate()
    rig.model.enqueue(reply(message("working"), gate, message("first done")), message("second done"))
    transport_closed = sdk(kind).TransportClosedError

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=sdk(kind).ApprovalMode.deny_all)
            h1 = await thread.turn("first")
            await asyncio.to_thread(gate.wait_reached)
            h2 = await thread.turn("second", source="ignored-when-joining")
            assert h2.id == h1.id
            gate.open()
            r1 = await h1.run()
            r2 = await h2.run()
            with pytest.raises(transport_closed, match="Turn subscription closed"):
                await h1.run()
            with pytest.raises(transport_closed, match="Turn subscription closed"):
                await h2.events()
        ids1, ids2 = [plain(i)["id"] for i in r1.items], [plain(i)["id"] for i in r2.items]
        assert [item_type(i) for i in r1.items].count("userMessage") == 2  # the joined input is in the turn
        assert item_type(r1.items[0]) == "userMessage"
        if is_ours(kind):
            assert ids2 == ids1  # ours: a joining handle reads the turn's log from its start
        else:
            # official: the joining handle sees the turn from its own turn/start on, so it misses the first
            # userMessage (the reference's "both see the whole turn" does not hold on 0.163.0)
            assert ids2 == ids1[len(ids1) - len(ids2) :]
            assert "userMessage" not in [item_type(i) for i in r2.items][:1]
        assert r1.final_response == r2.final_response == "second done"
        responses = [rig.tap.response_to(m) for m in rig.tap.sent("turn/start")]
        assert [r["result"]["turn"]["id"] for r in responses if r] == [h1.id, h1.id]

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 10. Notification typing (stand-in engine: the real one sends no unknown methods)


@pytest.mark.parametrize("kind", ALL)
def test_row10_unknown_and_invalid_notifications_are_routed_raw(kind: str, rig: Rig) -> None:
    unknown_type = (codex_actors.models if is_ours(kind) else openai_codex.models).UnknownNotification
    thread_id, turn_id = "thr_parity", "turn_parity"
    notes = [
        ("custom/unknown", {"threadId": thread_id, "turnId": turn_id, "x": [1, {"y": None}]}),  # unknown method
        ("item/completed", {"threadId": thread_id, "turnId": turn_id}),  # known method, params do not validate
        ("custom/nested", {"threadId": thread_id, "turn": {"id": turn_id}}),  # routed by turn.id
        ("custom/global", {"threadId": thread_id}),  # no turn id: not on the turn stream
        ("item/agentMessage/delta", {"threadId": thread_id, "turnId": "other", "itemId": "i", "delta": "no"}),
        ("turn/completed", {"threadId": thread_id, "turn": {"id": turn_id, "items": [], "status": "completed"}}),
    ]

    async def scenario() -> None:
        config, tap = rig.fake(kind, FAKE)
        async with open_client(kind, config) as codex:
            handle = codex.bind_turn(thread_id, turn_id)
            for method, params in notes:
                await codex.raw_request("test/notify", {"method": method, "params": params})
            events = await handle.events()
        assert [e.method for e in events] == [
            "custom/unknown",
            "item/completed",
            "custom/nested",
            "turn/completed",
        ]
        for event, (_, params) in zip(events[:3], notes[:3], strict=True):
            assert type(event.payload) is unknown_type
            assert event.payload.params == params
        assert type(events[3].payload).__name__ == "TurnCompletedNotification"
        assert len(tap.received("custom/unknown")) == 1

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 11. Server requests: approvals accepted echoing the integer id


@pytest.mark.parametrize("kind", ALL)
def test_row11_command_approval_is_accepted_echoing_the_integer_id(kind: str, rig: Rig) -> None:
    rig.model.enqueue(reply(exec_command("touch approved.txt")), message("done"))

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            # Only reachable below the public API (as in the reference): reviewer "user" makes the engine ask us.
            params = {"approvalPolicy": "untrusted", "approvalsReviewer": "user", "sandbox": "workspace-write"}
            started = await codex.raw_request("thread/start", params)
            thread = codex.bind_thread(started["thread"]["id"])
            result = await thread.run("touch it")
        assert result.final_response == "done"
        (ask,) = rig.tap.received("item/commandExecution/requestApproval")
        assert type(ask["id"]) is int
        assert rig.tap.response_to(ask) == {"id": ask["id"], "result": {"decision": "accept"}}
        (command,) = [i for i in result.items if item_type(i) == "commandExecution"]
        assert plain(command)["status"] == "completed"
        assert (rig.workspace / "approved.txt").exists()

    run(scenario)


@pytest.mark.parametrize("kind", OURS)
def test_row11_other_server_requests_are_refused_by_the_runtime(kind: str, rig: Rig) -> None:
    """Deviation: the official SDK answers every other server request with a schema-invalid ``{}``; here each
    gets a valid answer per its schema (``tests/integration/test_approvals.py`` has every method)."""

    async def scenario() -> None:
        config, tap = rig.fake(kind, FAKE)
        async with open_client(kind, config) as codex:
            accepted = await codex.raw_request(
                "test/server-request", {"method": "item/fileChange/requestApproval"}
            )
            refused = await codex.raw_request("test/server-request", {"method": "item/tool/requestUserInput"})
        # The fake sends no params: a malformed approval is declined (fail closed); user input gets no answers.
        assert accepted == {"answer": {"id": 0, "result": {"decision": "decline"}}}
        assert refused == {"answer": {"id": 1, "result": {"answers": {}}}}
        asks = [m for m in tap.received() if "method" in m and "id" in m]
        answers = [tap.response_to(ask) for ask in asks]
        assert [answer and answer["id"] for answer in answers] == [0, 1]  # the engine's integer ids, echoed

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 12. Error mapping


@pytest.mark.parametrize("kind", ALL)
def test_row12_real_engine_errors_are_typed(kind: str, rig: Rig) -> None:
    rig.model.enqueue(message("done"))
    module = sdk(kind)
    unknown = "00000000-0000-7000-8000-00000000abcd"

    async def scenario() -> dict[str, tuple[str, int, str]]:
        seen: dict[str, tuple[str, int, str]] = {}

        async def expect(name: str, call: Any) -> None:
            with pytest.raises(module.InvalidRequestError) as info:
                await call
            error = info.value
            assert str(error) == f"JSON-RPC error {error.code}: {error.message}"
            assert not module.is_retryable_error(error)
            seen[name] = (type(error).__name__, error.code, error.message)

        async with open_client(kind, rig.config(kind)) as codex:
            await expect("resume unknown", codex.thread_resume(unknown))
            await expect("fork unknown", codex.thread_fork(unknown))
            await expect("bad id", codex.thread_resume("not-a-thread-id"))
            thread = await codex.thread_start(approval_mode=module.ApprovalMode.deny_all)
            handle = await thread.turn("x")
            await handle.run()
            await expect("steer done", handle.steer("more"))
            await expect("interrupt done", handle.interrupt())
            await codex.thread_archive(thread.id)
            await expect("compact unloaded", thread.compact())
            await expect("unknown method", codex.raw_request("bogus/method", {}))
        return seen

    seen = run(scenario)
    assert {name: entry[:2] for name, entry in seen.items()} == dict.fromkeys(
        seen, ("InvalidRequestError", -32600)
    )
    assert seen["resume unknown"][2] == f"no rollout found for thread id {unknown}"
    assert seen["fork unknown"][2] == f"no rollout found for thread id {unknown}"
    assert seen["bad id"][2].startswith("invalid session id: ")
    assert seen["steer done"][2] == "no active turn to steer"
    assert seen["interrupt done"][2] == "no active turn to interrupt"
    assert seen["compact unloaded"][2].startswith("thread not found: ")
    assert seen["unknown method"][2].startswith("Invalid request: unknown variant `bogus/method`")
    assert len(seen) == 7


# (code, message, data) -> (class for ours, class for the official SDK, retryable ours, retryable official)
ERROR_TABLE: list[tuple[dict[str, Any], str, str, bool, bool]] = [
    ({"code": -32700, "message": "p"}, "ParseError", "ParseError", False, False),
    ({"code": -32600, "message": "r"}, "InvalidRequestError", "InvalidRequestError", False, False),
    ({"code": -32601, "message": "m"}, "MethodNotFoundError", "MethodNotFoundError", False, False),
    ({"code": -32602, "message": "a"}, "InvalidParamsError", "InvalidParamsError", False, False),
    ({"code": -32603, "message": "i"}, "InternalRpcError", "InternalRpcError", False, False),
    (
        {"code": -32050, "message": "Retry limit exceeded"},
        "RetryLimitExceededError",
        "RetryLimitExceededError",
        True,
        True,
    ),
    (
        {"code": -32000, "message": "too many failed attempts", "data": {"codex_error_info": "server_overloaded"}},
        "RetryLimitExceededError",
        "RetryLimitExceededError",
        True,
        True,
    ),
    (
        {"code": -32001, "message": "busy", "data": {"details": [{"errorInfo": "server_overloaded"}]}},
        "ServerBusyError",
        "ServerBusyError",
        True,
        True,
    ),
    ({"code": -32000, "message": "boom"}, "CodexRpcError", "CodexRpcError", False, False),
    ({"code": -1, "message": "odd", "data": "server_overloaded"}, "JsonRpcError", "JsonRpcError", True, True),
    ({"code": -32100, "message": "odd"}, "JsonRpcError", "JsonRpcError", False, False),
    # Deliberate deviations: the engine's real overload answer, and the v2 camelCase marker, are retryable here.
    (
        {"code": -32001, "message": "Server overloaded; retry later."},
        "ServerBusyError",
        "CodexRpcError",
        True,
        False,
    ),
    (
        {"code": -32001, "message": "busy", "data": {"codexErrorInfo": "serverOverloaded"}},
        "ServerBusyError",
        "CodexRpcError",
        True,
        False,
    ),
]


@pytest.mark.parametrize("kind", ALL)
def test_row12_error_table_end_to_end(kind: str, rig: Rig) -> None:
    errors = [entry[0] for entry in ERROR_TABLE]
    config, _tap = rig.fake(kind, rig.fake_engine(), env={"FAKE_ENGINE_ERRORS": json.dumps(errors)})
    module = sdk(kind)

    async def scenario() -> list[tuple[str, bool, int, str, Any, str]]:
        got = []
        async with open_client(kind, config) as codex:
            for _ in errors:
                with pytest.raises(module.JsonRpcError) as info:
                    await codex.models()
                e = info.value
                got.append((type(e).__name__, module.is_retryable_error(e), e.code, e.message, e.data, str(e)))
            assert plain(await codex.models()) == {"data": []}
        return got

    got = run(scenario)
    for (error, ours, official, ours_retry, official_retry), row in zip(ERROR_TABLE, got, strict=True):
        name, retryable, code, text, data, shown = row
        assert name == (ours if is_ours(kind) else official), error
        assert retryable == bool(ours_retry if is_ours(kind) else official_retry), error
        assert (code, text, data) == (error["code"], error["message"], error.get("data"))
        assert shown == f"JSON-RPC error {error['code']}: {error['message']}"


# ---------------------------------------------------------------------------------------------------------------
# 13. retry_on_overload (sync only in both SDKs)


def overload(data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": -32001, "message": "Server overloaded; retry later."}
    if data is not None:
        error["data"] = data
    return error


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("sync", None),  # the engine's own answer: retried here (a deviation: the official SDK does not)
        ("sync", {"codexErrorInfo": "serverOverloaded"}),  # the v2 camelCase marker: also a deviation
        ("sync", {"codex_error_info": "server_overloaded"}),
        ("official", {"codex_error_info": "server_overloaded"}),
    ],
)
def test_row13_retry_on_overload_retries_until_success(kind: str, data: Any, rig: Rig) -> None:
    module = sdk(kind)
    errors = [overload(data), overload(data)]
    config, tap = rig.fake(kind, rig.fake_engine(), env={"FAKE_ENGINE_ERRORS": json.dumps(errors)})
    with module.Codex(config) as codex:
        result = module.retry_on_overload(codex.models, initial_delay_s=0.01, max_delay_s=0.02)
    assert plain(result) == {"data": []}
    assert len(tap.sent("model/list")) == 3


@pytest.mark.parametrize("kind", ["sync", "official"])
def test_row13_retry_on_overload_gives_up_and_reraises(kind: str, rig: Rig) -> None:
    module = sdk(kind)
    busy = overload({"codex_error_info": "server_overloaded"})
    errors = [busy] * 3 + [{"code": -32600, "message": "not retryable"}] + [busy] * 2
    config, tap = rig.fake(kind, rig.fake_engine(), env={"FAKE_ENGINE_ERRORS": json.dumps(errors)})
    with module.Codex(config) as codex:
        started = time.monotonic()
        with pytest.raises(module.ServerBusyError):
            module.retry_on_overload(codex.models)  # the defaults: 3 attempts, sleeps 0.25 and 0.5 (+-20%)
        elapsed = time.monotonic() - started
        assert len(tap.sent("model/list")) == 3
        assert 0.6 <= elapsed < 2.0
        with pytest.raises(module.InvalidRequestError):  # not retryable: re-raised at once
            module.retry_on_overload(codex.models, initial_delay_s=5.0)
        assert len(tap.sent("model/list")) == 4
        with pytest.raises(module.ServerBusyError):  # the last exception is the one re-raised
            module.retry_on_overload(codex.models, max_attempts=1)
        with pytest.raises(ValueError, match=r"^max_attempts must be >= 1$"):
            module.retry_on_overload(codex.models, max_attempts=0)
        assert len(tap.sent("model/list")) == 5


# ---------------------------------------------------------------------------------------------------------------
# 14. Transport close


@pytest.mark.parametrize("kind", [*ALL, "official-async"])
def test_row14_close_is_idempotent_then_sync_raises_and_async_respawns(kind: str, rig: Rig) -> None:
    module = sdk(kind)

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=module.ApprovalMode.deny_all)
            await codex.close()
            await codex.close()  # idempotent
            if is_async(kind):
                with pytest.raises(RuntimeError, match="AsyncCodex is not initialized yet"):
                    _ = codex.metadata
                await codex.models()  # re-spawns and re-initializes a fresh engine
                assert codex.metadata.serverInfo is not None
                assert len(rig.tap.sent("initialize")) == 2
            else:
                for call in (codex.thread_start(), codex.models(), thread.read(), thread.run("x")):
                    with pytest.raises(module.TransportClosedError, match=f"^{NOT_RUNNING}$"):
                        await call
                assert codex.metadata.serverInfo is not None  # still available after close()
                assert len(rig.tap.sent("initialize")) == 1  # a sync client never re-spawns
                rig.assert_no_engines()  # close() stopped the engine for good

    run(scenario)


@pytest.mark.parametrize("kind", ALL)
def test_row14_engine_death_fails_the_live_turn_with_transport_closed(kind: str, rig: Rig) -> None:
    gate = Gate()
    rig.model.enqueue(reply(message("working"), gate, message("never")), message("after the crash"))
    module = sdk(kind)

    async def scenario() -> None:
        async with open_client(kind, rig.config(kind)) as codex:
            thread = await codex.thread_start(approval_mode=module.ApprovalMode.deny_all)
            handle = await thread.turn("long")
            await asyncio.to_thread(gate.wait_reached)
            (engine,) = rig.real_engines()
            engine.kill()
            started = time.monotonic()
            with pytest.raises(module.TransportClosedError, match=r"^Codex process closed stdout\. stderr_tail="):
                await handle.run()
            assert time.monotonic() - started < 2.0
            gate.open()
            if is_ours(kind):
                # Deviation: later calls never see a raw BrokenPipeError; ours restarts the engine and resumes
                # the thread, so the same thread object runs on.
                result = await thread.run("again")
                assert result.final_response == "after the crash"
                assert len(rig.tap.sent("initialize")) == 2
            else:
                codex.target._client._proc = None  # the official close() would raise BrokenPipeError

    run(scenario)
    rig.assert_no_engines()


@pytest.mark.parametrize("kind", OURS)
def test_row14_eof_fails_every_pending_request_with_the_stderr_tail(kind: str, rig: Rig) -> None:
    async def scenario() -> None:
        config, tap = rig.fake(kind, FAKE)
        async with open_client(kind, config) as codex:
            if is_async(kind):
                hang = asyncio.create_task(codex.raw_request("test/hang"))
            else:
                hang = asyncio.create_task(asyncio.to_thread(asyncio.run, codex.raw_request("test/hang")))
            await asyncio.to_thread(tap.wait_for, "test/hang", direction="c2s")
            with pytest.raises(codex_actors.TransportClosedError) as died:
                await codex.raw_request("test/die", {"stderr": "fake engine: bye", "code": 3})
            with pytest.raises(codex_actors.TransportClosedError) as pending:
                await hang
            for error in (died.value, pending.value):
                assert error.exit_code == 3
                assert error.stderr_tail is not None and "fake engine: bye" in error.stderr_tail
                assert str(error).startswith("Codex process closed stdout. stderr_tail=")
                assert "fake engine: bye" in str(error)
            # Later requests see TransportClosedError (never a raw BrokenPipeError) until the supervisor has
            # started a new engine; then they work again.
            deadline = time.monotonic() + 10
            while True:
                try:
                    assert await codex.raw_request("test/echo", {"after": "restart"}) == {"after": "restart"}
                    break
                except codex_actors.TransportClosedError:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)

    run(scenario)


@pytest.mark.parametrize("kind", OURS)
def test_row14_malformed_lines_never_hang_later_requests(kind: str, rig: Rig) -> None:
    """Deviation: the official reader dies on a malformed line and every later request blocks forever."""

    async def scenario() -> None:
        config, tap = rig.fake(kind, FAKE)
        async with open_client(kind, config) as codex:
            assert await codex.raw_request("test/malformed") == {"ok": True}
            assert await asyncio.wait_for(codex.raw_request("test/echo", {"a": 1}), 10) == {"a": 1}
        assert [r["raw"] for r in tap.lines() if r["line"] is None] == ["{this is not json at all"]
        assert [1, 2, 3] in [r["line"] for r in tap.lines()]  # valid JSON, not an object: dropped as well

    run(scenario)


# ---------------------------------------------------------------------------------------------------------------
# 15. Runtime gating and lifecycle


@pytest.mark.parametrize("kind", [*ALL, "official-async"])
def test_row15_gated_fields_are_refused_before_sending_to_an_old_engine(kind: str, rig: Rig) -> None:
    module = sdk(kind)
    env = {"FAKE_ENGINE_VERSION": "0.150.0", "FAKE_ENGINE_REFUSE": "turn/start"}
    config, tap = rig.fake(kind, rig.fake_engine(), env=env)
    hint = "Codex CLI 0.151.0 or newer is required; reported version is '0.150.0'. Configure CodexConfig.codex_bin"
    thread_id = "00000000-0000-7000-8000-000000000002"

    async def scenario() -> None:
        async with open_client(kind, config) as codex:
            thread = codex.bind_thread(thread_id)
            cases = [
                ("turn/start with turnTrigger", thread.turn("x", source="cli")),
                ("turn/start with serviceTierForTurn", thread.run("x", turn_service_tier="default")),
                ("turn/start with toolOutput", thread.turn(module.ExternalMessage("t", "out"))),
                (
                    "turn/start with turnTrigger, serviceTierForTurn",
                    thread.turn("x", source="a", turn_service_tier="b"),
                ),
                ("thread/resume with excludeTurns", codex.thread_resume(thread_id, include_turns=True)),
                ("thread/fork with excludeTurns", codex.thread_fork(thread_id, include_turns=False)),
            ]
            for prefix, call in cases:
                with pytest.raises(module.CodexError) as info:
                    await call
                assert type(info.value) is module.CodexError
                assert str(info.value) == f"{prefix}: {hint} with a supported CLI."
            with pytest.raises(module.InvalidRequestError):  # ungated fields go out (and the fake refuses)
                await thread.turn("x", service_tier="fast")
        assert [p.get("serviceTier") for p in c2s_params(tap, "turn/start")] == ["fast"]
        assert tap.sent("thread/resume") == tap.sent("thread/fork") == []

    run(scenario)


@pytest.mark.parametrize("kind", ["sync", "official"])
def test_row15_sync_init_is_eager_and_closes_on_failure(kind: str, rig: Rig) -> None:
    module = sdk(kind)
    config, tap = rig.fake(kind, FAKE, env={"FAKE_ENGINE_INIT": "die"})
    with pytest.raises(module.TransportClosedError, match="stderr_tail=fake engine: refusing to start"):
        module.Codex(config)
    assert len(tap.sent("initialize")) == 1
    rig.assert_no_engines()
    config, tap = rig.fake(kind, FAKE)
    codex = module.Codex(config)  # the handshake is done inside the constructor
    try:
        tap.wait_for("initialized", direction="c2s")
        assert [m.get("method") for m in tap.sent()] == ["initialize", "initialized"]
    finally:
        codex.close()


@pytest.mark.parametrize("kind", ["async", "official-async"])
def test_row15_async_init_is_lazy_single_and_retried_after_failure(kind: str, rig: Rig) -> None:
    module = sdk(kind)
    not_yet = (
        "AsyncCodex is not initialized yet. Prefer `async with AsyncCodex()`; "
        "initialization also happens on first awaited API use."
    )

    async def scenario() -> None:
        codex = Aw(module.AsyncCodex(rig.config(kind)), kind)
        try:
            await asyncio.sleep(0.2)
            assert rig.engines() == [] and rig.tap.lines() == []  # no I/O in the constructor
            with pytest.raises(RuntimeError, match=f"^{not_yet}$".replace("(", r"\(").replace(")", r"\)")):
                _ = codex.metadata
            await asyncio.gather(codex.models(), codex.models(), codex.thread_list(), codex.account())
            assert len(rig.tap.sent("initialize")) == 1  # concurrent first calls: one engine
            assert len(rig.real_engines()) == 1
            assert codex.metadata.serverInfo is not None
        finally:
            await codex.close()

        config, tap = rig.fake(kind, FAKE, env={"FAKE_ENGINE_INIT": "die"})
        failing = Aw(module.AsyncCodex(config), kind)
        for attempt in (1, 2):
            with pytest.raises(module.TransportClosedError):
                await failing.models()
            with pytest.raises(RuntimeError, match="AsyncCodex is not initialized yet"):
                _ = failing.metadata
            assert len(tap.sent("initialize")) == attempt  # a failed init is retried by the next call
        await failing.close()

    run(scenario)
    rig.assert_no_engines()


# ---------------------------------------------------------------------------------------------------------------
# Everything at once: the normalized client-to-engine wire of one rich scenario, ours vs the official SDK


async def rich_scenario(kind: str, rig: Rig) -> None:
    module = sdk(kind)
    gate = Gate()
    rig.model.enqueue(
        message("one"),
        reply(exec_command("touch rich.txt")),
        message("ran"),
        reply(message("held"), gate, message("never")),
        message("steered"),
    )
    async with open_client(kind, rig.config(kind, client_name="rich_bot")) as codex:
        await codex.account()
        await codex.models(include_hidden=True)
        thread = await codex.thread_start(
            approval_mode=module.ApprovalMode.deny_all,
            base_instructions="be brief",
            config={"model_reasoning_effort": "low"},
            cwd=str(rig.workspace),
            developer_instructions="dev",
            ephemeral=False,
            model="gpt-5.5",
            sandbox=module.Sandbox.workspace_write,
            service_name="svc",
        )
        await thread.run(
            [module.TextInput("a"), module.MentionInput("m", "app://x")],
            effort="low",
            summary="concise",
            output_schema=SCHEMA,
            source="cli",
            turn_service_tier="default",
        )
        await thread.set_name("rich")
        await thread.read(include_turns=True)
        await codex.thread_resume(thread.id, model="gpt-5.5", include_turns=False)
        forked = await codex.thread_fork(thread.id, ephemeral=False, sandbox=module.Sandbox.read_only)
        approvals = await codex.raw_request(
            "thread/start",
            {"approvalPolicy": "untrusted", "approvalsReviewer": "user", "sandbox": "workspace-write"},
        )
        asking = codex.bind_thread(approvals["thread"]["id"])
        await asking.run("touch it", approval_mode=None)
        handle = await forked.turn(module.ExternalMessage("tool", "out", namespace="ns"))
        await asyncio.to_thread(gate.wait_reached)
        await handle.steer("more")
        await handle.interrupt()
        gate.open()
        await handle.run()
        await codex.thread_list(limit=2, sort_direction="asc", use_state_db_only=False)
        await codex.thread_archive(forked.id)
        await codex.thread_unarchive(forked.id)
        await codex.logout()


@pytest.mark.parametrize(("ours", "official"), [("sync", "official"), ("async", "official-async")])
def test_the_whole_client_wire_equals_the_official_sdks(ours: str, official: str) -> None:
    wires = {}
    for kind in (ours, official):
        with OfflineEngine() as offline:
            rig = Rig(offline)
            run(functools.partial(rich_scenario, kind, rig))
            wires[kind] = masked(rig.tap.sent(), paths=[offline.root])
            rig.assert_no_engines()
    assert wires[ours] == wires[official]
    methods = [m.get("method", "<answer>") for m in wires[ours]]
    assert methods.count("turn/start") == 3 and "<answer>" in methods and "turn/steer" in methods
