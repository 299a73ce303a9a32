"""The contract scenarios: each written once, as ``fn(sdk, rig)``, and run through both SDKs.

``sdk`` is the SDK's module (``openai_codex`` or ``codex_actors``); scenarios use its public names only, plus
``rig.raw`` (a request below the public API) and ``rig.bind_thread`` (a ``Thread`` for an id) where the public API
cannot reach a case (approvals asked of the client, client-side tools, the fake engine's test methods).
``rig.call(label, fn, ...)`` records what a call returned or raised. Everything runs on the real engine against
the scripted model, except the few cases it cannot show (``rig.fake_config``). See ``contract/harness.py`` and
``docs/fixtures.md``.

Rules that keep transcripts deterministic: nothing the engine must process is scripted before a ``Gate`` that a
scenario then races (an interrupt, a steer); before closing, a scenario waits (``rig.wait_for``) for notifications
that could race the close (``thread/started`` right after ``thread_start()``) and for background work it started
(compaction); after an engine died, a scenario gives the SDK a second before its next call (the official SDK's
next request either fails with ``BrokenPipeError`` or, while the dead engine's wrapper is still exiting, hangs
forever: its reader thread is gone); shell commands run with ``login=False`` (a login shell prints the machine's
profile noise).
"""

from __future__ import annotations

import base64
import json
import time
from types import ModuleType
from typing import Any

from codex_actors.testing import (
    Gate,
    Usage,
    apply_patch,
    exec_command,
    failed,
    http_error,
    message,
    reasoning,
    reply,
    streamed_message,
    tool_call,
)

from .harness import Rig, run_async, scenario

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}
UNKNOWN_THREAD = "00000000-0000-7000-8000-00000000abcd"
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+Hello from a patch!\n*** End Patch\n"


def deny_all_thread(sdk: ModuleType, codex: Any, **kwargs: Any) -> Any:
    """A thread that never asks for approvals (most scenarios do not need them)."""
    return codex.thread_start(approval_mode=sdk.ApprovalMode.deny_all, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# The client and its handshake


@scenario
def handshake_metadata_custom_client_info(sdk: ModuleType, rig: Rig) -> None:
    """Codex() with a custom client name, title and version: the initialize handshake and codex.metadata."""
    config = rig.config(client_name="contract_bot", client_title="Contract Bot", client_version="9.9.9")
    with sdk.Codex(config) as codex:
        rig.record("metadata", codex.metadata)
    rig.record("metadata_after_close", codex.metadata)


@scenario
def models_list_default_and_hidden(sdk: ModuleType, rig: Rig) -> None:
    """models() and models(include_hidden=True): the engine's bundled model list."""
    with sdk.Codex(rig.config()) as codex:
        rig.call("models", codex.models)
        rig.call("models_hidden", codex.models, include_hidden=True)


@scenario
def account_api_key_login_and_logout(sdk: ModuleType, rig: Rig) -> None:
    """account(), login_api_key(), account() again, logout(), account(): the account methods' wire and results."""
    with sdk.Codex(rig.config()) as codex:
        rig.call("account_before", codex.account)
        rig.call("login_api_key", codex.login_api_key, "sk-contract-test-key")
        rig.wait_for("account/updated")
        rig.call("account_after_login", codex.account, refresh_token=False)
        rig.call("logout", codex.logout)
        rig.call("account_after_logout", codex.account)


# ---------------------------------------------------------------------------------------------------------------
# Threads


@scenario
def thread_start_default_blocking_run(sdk: ModuleType, rig: Rig) -> None:
    """thread_start() with its defaults (auto_review), then a blocking run() of a one-message turn."""
    rig.model.enqueue(message("Hello from the scripted model."))
    with sdk.Codex(rig.config()) as codex:
        thread = rig.call("thread_start", codex.thread_start)
        rig.call("run", thread.run, "hello")


@scenario
def thread_start_every_option(sdk: ModuleType, rig: Rig) -> None:
    """thread_start() with every keyword argument set, then a turn on that thread."""
    rig.model.enqueue(message("Configured."))
    with sdk.Codex(rig.config()) as codex:
        thread = rig.call(
            "thread_start",
            codex.thread_start,
            approval_mode=sdk.ApprovalMode.deny_all,
            base_instructions="You are a contract test.",
            config={"model_reasoning_effort": "low"},
            cwd=str(rig.workspace),
            developer_instructions="Answer briefly.",
            ephemeral=False,
            model="gpt-5.5",
            model_provider="mock",
            personality="pragmatic",
            sandbox=sdk.Sandbox.workspace_write,
            service_name="contract-suite",
            service_tier="flex",
            session_start_source="startup",
            thread_source="user",
        )
        if thread is not None:
            rig.call("run", thread.run, "are you configured?")


@scenario
def thread_start_approval_mode_none_refused(sdk: ModuleType, rig: Rig) -> None:
    """thread_start(approval_mode=None) is refused with ValueError before anything is sent."""
    with sdk.Codex(rig.config()) as codex:
        rig.call("thread_start_none", codex.thread_start, approval_mode=None)


@scenario
def thread_resume_and_fork(sdk: ModuleType, rig: Rig) -> None:
    """thread_resume() (plain and with options) and thread_fork() of a thread with a turn; fork of an empty one."""
    rig.model.enqueue(message("The number is 42."), message("Still 42."), message("Forked: 42."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call("run", thread.run, "remember 42")
        resumed = rig.call("thread_resume", codex.thread_resume, thread.id)
        rig.call(
            "thread_resume_options",
            codex.thread_resume,
            thread.id,
            approval_mode=sdk.ApprovalMode.auto_review,
            developer_instructions="Be terse.",
            include_turns=True,
            model="gpt-5.5",
            sandbox=sdk.Sandbox.read_only,
        )
        rig.call("run_resumed", resumed.run, "what was the number?")
        forked = rig.call(
            "thread_fork",
            codex.thread_fork,
            thread.id,
            ephemeral=False,
            include_turns=False,
            sandbox=sdk.Sandbox.workspace_write,
        )
        rig.call("run_forked", forked.run, "and in the fork?")
        empty = deny_all_thread(sdk, codex)
        rig.call("fork_without_turns", codex.thread_fork, empty.id)
        rig.wait_for("thread/started", count=3)  # the notification of the last thread can race close()


@scenario
def thread_resume_after_engine_restart(sdk: ModuleType, rig: Rig) -> None:
    """A thread from one Codex() is resumed by a new Codex() (a new engine) and keeps its history."""
    rig.model.enqueue(message("Noted: blue."), message("It was blue."))
    with sdk.Codex(rig.config()) as first:
        thread = deny_all_thread(sdk, first)
        rig.call("run", thread.run, "my colour is blue")
    with sdk.Codex(rig.config()) as second:
        resumed = rig.call("thread_resume", second.thread_resume, thread.id)
        rig.call("run_resumed", resumed.run, "what was my colour?")


@scenario
def thread_list_archive_unarchive(sdk: ModuleType, rig: Rig) -> None:
    """thread_list() with and without filters around thread_archive() and thread_unarchive()."""
    rig.model.enqueue(message("alpha answer"), message("beta answer"))
    with sdk.Codex(rig.config()) as codex:
        alpha = deny_all_thread(sdk, codex)
        alpha.run("alpha question")
        beta = deny_all_thread(sdk, codex)
        beta.run("beta question")
        rig.call("thread_list", codex.thread_list)
        rig.call(
            "thread_list_filtered",
            codex.thread_list,
            archived=False,
            limit=1,
            search_term="alpha",
            sort_direction="asc",
            sort_key="created_at",
        )
        rig.call("thread_archive", codex.thread_archive, alpha.id)
        rig.call("thread_list_archived", codex.thread_list, archived=True)
        rig.call("thread_unarchive", codex.thread_unarchive, alpha.id)
        rig.call("thread_list_after", codex.thread_list, limit=5)


@scenario
def thread_read_and_set_name(sdk: ModuleType, rig: Rig) -> None:
    """Thread.set_name(), then Thread.read() without and with turns."""
    rig.model.enqueue(message("Named."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call("run", thread.run, "hi")
        rig.call("set_name", thread.set_name, "Contract thread")
        rig.wait_for("thread/name/updated")
        rig.call("read", thread.read)
        rig.call("read_with_turns", thread.read, include_turns=True)
        rig.wait_for("deprecationNotice")


@scenario
def thread_compact_history(sdk: ModuleType, rig: Rig) -> None:
    """Thread.compact() after a turn: the compaction turn runs on the engine, then the next turn continues."""
    rig.model.enqueue(
        message("A long answer."), message("Summary of the conversation."), message("After compaction.")
    )
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call("run", thread.run, "tell me a lot")
        rig.call("compact", thread.compact)
        rig.wait_for("turn/completed", count=2)
        rig.call("run_after", thread.run, "and now?")


# ---------------------------------------------------------------------------------------------------------------
# Turns


@scenario
def turn_stream_deltas_reasoning_and_usage(sdk: ModuleType, rig: Rig) -> None:
    """Thread.turn() then stream(): reasoning, streamed message deltas, token usage; a second stream() raises."""
    usage = Usage(input_tokens=120, cached_tokens=100, output_tokens=30, reasoning_tokens=12)
    rig.model.enqueue(reply(reasoning("Thinking it over."), streamed_message("Hel", "lo", " world"), usage=usage))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        handle = rig.call("turn", thread.turn, "stream please")
        rig.call("stream", lambda: list(handle.stream()))
        rig.call("stream_again", lambda: list(handle.stream()))
        rig.call("run_after_stream", handle.run)


@scenario
def turn_final_response_phases(sdk: ModuleType, rig: Rig) -> None:
    """final_response: final_answer phase wins, else the last phaseless message; None for commentary; "" kept."""
    rig.model.enqueue(
        reply(message("c", phase="commentary"), message("final!", phase="final_answer"), message("phaseless")),
        reply(message("a"), message("b")),
        reply(message("only commentary", phase="commentary")),
        message(""),
    )
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        for index in range(4):
            rig.call(f"run_{index}", thread.run, f"question {index}")


@scenario
def turn_start_every_option(sdk: ModuleType, rig: Rig) -> None:
    """Thread.run() with every keyword argument (cwd, effort, model, sandbox, source, tiers...) set."""
    rig.model.enqueue(message("All options seen."), message("Inherited."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call(
            "run",
            thread.run,
            "with options",
            approval_mode=sdk.ApprovalMode.deny_all,
            cwd=str(rig.workspace),
            effort="low",
            model="gpt-5.5",
            personality="pragmatic",
            sandbox=sdk.Sandbox.full_access,
            service_tier="flex",
            source="contract",
            summary="concise",
            turn_service_tier="default",
        )
        rig.call("run_plain", thread.run, "without options", sandbox=sdk.Sandbox.read_only)


@scenario
def turn_streams_of_two_threads_stay_separate(sdk: ModuleType, rig: Rig) -> None:
    """A turn held open on one thread while another thread's turn runs: each stream has only its own events."""
    gate = Gate()
    rig.model.enqueue(reply(gate, streamed_message("fir", "st")), reply(streamed_message("sec", "ond")))
    with sdk.Codex(rig.config()) as codex:
        one, two = deny_all_thread(sdk, codex), deny_all_thread(sdk, codex)
        first = one.turn("first")
        gate.wait_reached()
        second = two.turn("second")
        rig.call("second_stream", lambda: list(second.stream()))
        gate.open()
        rig.call("first_stream", lambda: list(first.stream()))


@scenario
def thread_steer_active_turn(sdk: ModuleType, rig: Rig) -> None:
    """TurnHandle.steer() while the model is answering; the steer reaches the model; steering a done turn fails."""
    gate = Gate()
    rig.model.enqueue(reply(gate, message("Counting: 1, 2, 3.")), message("Stopped at five, as asked."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        handle = thread.turn("count to ten")
        gate.wait_reached()
        rig.call("steer", handle.steer, "stop at five")
        gate.open()
        rig.call("run", handle.run)
        rig.call("steer_after_completion", handle.steer, "too late")


@scenario
def turn_interrupt_active_turn(sdk: ModuleType, rig: Rig) -> None:
    """TurnHandle.interrupt() while the model is answering: run() returns status interrupted."""
    gate = Gate()
    rig.model.enqueue(reply(gate, message("never sent")))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        handle = thread.turn("a long task")
        gate.wait_reached()
        rig.call("interrupt", handle.interrupt)
        rig.call("run", handle.run)
        gate.open()


@scenario
def turn_join_active_turn(sdk: ModuleType, rig: Rig) -> None:
    """A second Thread.turn() on a busy thread joins the active turn (same id); both handles run to the end."""
    gate = Gate()
    rig.model.enqueue(reply(gate, message("first done")), message("second done"))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        first = thread.turn("first")
        gate.wait_reached()
        second = rig.call("turn_join", thread.turn, "second", source="ignored-when-joining")
        rig.record("same_turn_id", second is not None and second.id == first.id)
        gate.open()
        rig.call("run_first", first.run)
        rig.call("run_second", second.run)
        rig.call("run_first_again", first.run)


@scenario
def turn_shell_command(sdk: ModuleType, rig: Rig) -> None:
    """The model runs a shell command: a commandExecution item with its output, then the final answer."""
    rig.model.enqueue(reply(exec_command("echo contract", login=False)), message("The command printed contract."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call("run", thread.run, "run echo")


@scenario
def turn_apply_patch_workspace_write(sdk: ModuleType, rig: Rig) -> None:
    """The model applies a patch under workspace_write: a fileChange item, and the file exists afterwards."""
    rig.model.enqueue(reply(apply_patch(PATCH)), message("Created hello.txt."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex, sandbox=sdk.Sandbox.workspace_write)
        rig.call("run", thread.run, "create hello.txt")
    rig.record("file", (rig.workspace / "hello.txt").read_text(encoding="utf-8"))


@scenario
def turn_failed_model_stream(sdk: ModuleType, rig: Rig) -> None:
    """A failed model response: run() raises RuntimeError with the message; stream() ends normally."""
    rig.model.enqueue(failed("the model broke"), failed("broke again"), message("recovered"))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call("run", thread.run, "fail")
        handle = thread.turn("fail again")
        rig.call("stream", lambda: list(handle.stream()))
        rig.call("run_after_failures", thread.run, "and now?")


@scenario
def turn_failed_http_errors(sdk: ModuleType, rig: Rig) -> None:
    """The model answers HTTP 400, 429 and 500: each turn fails and run() raises the engine's message."""
    rig.model.enqueue(http_error(400), http_error(429), http_error(500))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        for status in (400, 429, 500):
            rig.call(f"run_{status}", thread.run, f"status {status}")


@scenario
def turn_output_schema_structured(sdk: ModuleType, rig: Rig) -> None:
    """run(output_schema=...): the schema goes to the model as a JSON-schema format; the JSON answer comes back."""
    rig.model.enqueue(message(json.dumps({"answer": "42", "confidence": 0.9})))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        result = rig.call("run", thread.run, "the answer?", output_schema=SCHEMA)
        rig.record("parsed", json.loads(result.final_response) if result is not None else None)


@scenario
def turn_input_kinds(sdk: ModuleType, rig: Rig) -> None:
    """Text, image URL, local image, skill and mention inputs in one turn; then a str and a single TextInput."""
    (rig.workspace / "img.png").write_bytes(PNG)
    skill = rig.workspace / "skills" / "greeting" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text(
        "---\nname: greeting\ndescription: Greet politely.\n---\nSay hello politely.\n", encoding="utf-8"
    )
    rig.model.enqueue(message("Saw all five."), message("A plain string."), message("A single item."))
    image_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        items = [
            sdk.TextInput("look at these"),
            sdk.ImageInput(image_url),
            sdk.LocalImageInput(str(rig.workspace / "img.png")),
            sdk.SkillInput("greeting", str(skill)),
            sdk.MentionInput("docs", "app://docs"),
        ]
        rig.call("run_items", thread.run, items)
        rig.call("run_str", thread.run, "plain string")
        rig.call("run_single", thread.run, sdk.TextInput("single item"))


@scenario
def turn_external_message(sdk: ModuleType, rig: Rig) -> None:
    """ExternalMessage input (str content with a namespace, then content items); invalid ones are refused."""
    rig.model.enqueue(message("Noted the deployment failure."), message("Noted the weather."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        external = sdk.ExternalMessage("notifications", "Deploy failed: HTTP 503.", namespace="slack")
        rig.call("run_str_content", thread.run, external)
        items = [{"type": "input_text", "text": "rain"}, {"type": "input_text", "text": "wind"}]
        rig.call("run_items_content", thread.run, sdk.ExternalMessage("weather", items))
        rig.call("blank_tool_name", thread.run, sdk.ExternalMessage("  ", "x"))
        rig.call("invalid_content", thread.run, sdk.ExternalMessage("tool", [{"type": "bogus"}]))


@scenario
def input_validation_errors_before_sending(sdk: ModuleType, rig: Rig) -> None:
    """Bad inputs and non-enum presets raise TypeError/ValueError before any request goes out."""
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.wait_for("thread/started")  # nothing else reaches the engine: its notification could race close()
        rig.call("turn_int", thread.turn, 5)
        rig.call("turn_tuple", thread.turn, (sdk.TextInput("a"),))
        rig.call("turn_list_with_int", thread.turn, [sdk.TextInput("a"), 3])
        rig.call("thread_start_str_sandbox", codex.thread_start, sandbox="read-only")
        rig.call("thread_start_str_approval", codex.thread_start, approval_mode="deny_all")
        rig.call("turn_str_sandbox", thread.turn, "x", sandbox="workspace-write")
        rig.call("run_str_approval", thread.run, "x", approval_mode="auto_review")
        rig.call("resume_str_sandbox", codex.thread_resume, thread.id, sandbox="full-access")
        rig.call("fork_str_approval", codex.thread_fork, thread.id, approval_mode="never")


# ---------------------------------------------------------------------------------------------------------------
# Approvals


def escalated_touch(name: str) -> Any:
    """A command that asks to leave the sandbox (so the thread's approval policy decides)."""
    return exec_command(
        f"touch {name}", login=False, sandbox_permissions="require_escalated", justification="write"
    )


@scenario
def approval_deny_all_rejects_escalation(sdk: ModuleType, rig: Rig) -> None:
    """ApprovalMode.deny_all: an escalated command is rejected without asking anyone; the file is not written."""
    rig.model.enqueue(reply(escalated_touch("denied.txt")), message("It was not allowed."))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call("run", thread.run, "touch denied.txt")
    rig.record("file_written", (rig.workspace / "denied.txt").exists())


@scenario
def approval_auto_review_guardian_allows(sdk: ModuleType, rig: Rig) -> None:
    """ApprovalMode.auto_review (the default): the engine's reviewer model allows the escalation; it runs."""
    verdict = {"outcome": "allow", "risk_level": "low", "user_authorization": "high", "rationale": "harmless"}
    rig.model.enqueue(reply(escalated_touch("allowed.txt")), message(json.dumps(verdict)), message("Done."))
    with sdk.Codex(rig.config()) as codex:
        thread = rig.call("thread_start", codex.thread_start, approval_mode=sdk.ApprovalMode.auto_review)
        rig.call("run", thread.run, "touch allowed.txt")
    rig.record("file_written", (rig.workspace / "allowed.txt").exists())


@scenario
def approval_turn_override_and_inherit(sdk: ModuleType, rig: Rig) -> None:
    """A turn-level approval_mode overrides the thread's; approval_mode=None inherits (seen by thread_resume)."""
    rig.model.enqueue(message("one"), message("two"), message("three"))
    with sdk.Codex(rig.config()) as codex:
        thread = deny_all_thread(sdk, codex)
        rig.call("run_plain", thread.run, "plain")
        rig.call("run_auto_review", thread.run, "preset", approval_mode=sdk.ApprovalMode.auto_review)
        rig.call("run_inherit", thread.run, "inherit")
        rig.call("thread_resume", codex.thread_resume, thread.id)
        rig.wait_for("thread/goal/cleared")  # what the engine sends after a resume, else it races close()
        rig.wait_for("thread/tokenUsage/updated", count=4)


@scenario
def approval_user_reviewer_command_accepted(sdk: ModuleType, rig: Rig) -> None:
    """Reviewer "user" (below the public API): the engine asks the SDK about a command; it accepts; it runs."""
    rig.model.enqueue(reply(exec_command("touch approved.txt", login=False)), message("Done."))
    with sdk.Codex(rig.config()) as codex:
        params = {"approvalPolicy": "untrusted", "approvalsReviewer": "user", "sandbox": "workspace-write"}
        started = rig.raw(codex, "thread/start", params)
        thread = rig.bind_thread(codex, started["thread"]["id"])
        rig.call("run", thread.run, "touch approved.txt")
    rig.record("file_written", (rig.workspace / "approved.txt").exists())


@scenario
def approval_user_reviewer_patch_accepted(sdk: ModuleType, rig: Rig) -> None:
    """Reviewer "user": the engine asks the SDK about a patch; it accepts; the file is written."""
    rig.model.enqueue(reply(apply_patch(PATCH)), message("Patched."))
    with sdk.Codex(rig.config()) as codex:
        params = {"approvalPolicy": "untrusted", "approvalsReviewer": "user", "sandbox": "read-only"}
        started = rig.raw(codex, "thread/start", params)
        thread = rig.bind_thread(codex, started["thread"]["id"])
        rig.call("run", thread.run, "create hello.txt")
    rig.record("file_written", (rig.workspace / "hello.txt").exists())


@scenario
def dynamic_tool_call_without_handler(sdk: ModuleType, rig: Rig) -> None:
    """A client-side tool (dynamicTools, below the public API) that nobody handles: what the SDK answers."""
    rig.model.enqueue(reply(tool_call("lookup", {"query": "weather"})), message("The tool did not answer."))
    tool = {
        "type": "function",
        "name": "lookup",
        "description": "Look something up.",
        "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
    with sdk.Codex(rig.config()) as codex:
        started = rig.raw(codex, "thread/start", {"approvalPolicy": "never", "dynamicTools": [tool]})
        thread = rig.bind_thread(codex, started["thread"]["id"])
        rig.call("run", thread.run, "look up the weather")


# ---------------------------------------------------------------------------------------------------------------
# Errors and retries


@scenario
def bad_request_error_mapping(sdk: ModuleType, rig: Rig) -> None:
    """The real engine's errors for bad requests and their exception classes (all -32600 InvalidRequestError)."""
    rig.model.enqueue(message("done"))
    with sdk.Codex(rig.config()) as codex:
        rig.call("resume_unknown", codex.thread_resume, UNKNOWN_THREAD)
        rig.call("fork_unknown", codex.thread_fork, UNKNOWN_THREAD)
        rig.call("resume_bad_id", codex.thread_resume, "not-a-thread-id")
        thread = deny_all_thread(sdk, codex)
        handle = thread.turn("x")
        handle.run()
        rig.call("steer_done", handle.steer, "more")
        rig.call("interrupt_done", handle.interrupt)
        codex.thread_archive(thread.id)
        rig.call("compact_unloaded", thread.compact)
        rig.call("unknown_method", rig.raw, codex, "bogus/method", {})
        rig.call("missing_param", rig.raw, codex, "thread/read", {})


@scenario
def retry_on_overload_policy(sdk: ModuleType, rig: Rig) -> None:
    """retry_on_overload(): retries overload errors until success or the limit, re-raises others at once."""
    busy = {"codex_error_info": "server_overloaded"}

    def counted(fails: int, error: Any) -> tuple[list[int], Any]:
        attempts: list[int] = []

        def op() -> str:
            attempts.append(1)
            if len(attempts) <= fails:
                raise error
            return "ok"

        return attempts, op

    for label, fails, error, kwargs in (
        ("busy_twice_then_ok", 2, sdk.ServerBusyError(-32001, "busy", busy), {}),
        ("busy_always", 9, sdk.ServerBusyError(-32001, "busy", busy), {}),
        ("retry_limit", 9, sdk.RetryLimitExceededError(-32000, "retry limit exceeded", busy), {"max_attempts": 2}),
        ("not_retryable", 9, sdk.InvalidRequestError(-32600, "bad"), {}),
        ("plain_exception", 9, RuntimeError("boom"), {}),
    ):
        attempts, op = counted(fails, error)
        rig.call(label, sdk.retry_on_overload, op, initial_delay_s=0.001, max_delay_s=0.002, **kwargs)
        rig.record(f"{label}_attempts", len(attempts))
    attempts, op = counted(0, None)
    rig.call("max_attempts_zero", sdk.retry_on_overload, op, max_attempts=0)
    rig.record("max_attempts_zero_attempts", len(attempts))
    started = time.monotonic()
    attempts, op = counted(9, sdk.ServerBusyError(-32001, "busy", busy))
    rig.call("default_backoff", sdk.retry_on_overload, op)
    rig.record("default_backoff_attempts", len(attempts))
    rig.record("default_backoff_about_0_75s", 0.5 <= time.monotonic() - started < 1.5)
    with sdk.Codex(rig.config()) as codex:
        rig.call("real_engine_error", sdk.retry_on_overload, lambda: codex.thread_resume(UNKNOWN_THREAD))


#: JSON-RPC error objects for the fake engine to answer, one per models() call (FAKE_ENGINE_ERRORS).
ERROR_TABLE: list[dict[str, Any]] = [
    {"code": -32700, "message": "parse"},
    {"code": -32600, "message": "invalid request"},
    {"code": -32601, "message": "no such method"},
    {"code": -32602, "message": "bad params"},
    {"code": -32603, "message": "internal"},
    {"code": -32050, "message": "Retry limit exceeded"},
    {"code": -32000, "message": "too many failed attempts", "data": {"codex_error_info": "server_overloaded"}},
    {"code": -32001, "message": "busy", "data": {"details": [{"errorInfo": "server_overloaded"}]}},
    {"code": -32000, "message": "boom"},
    {"code": -1, "message": "odd", "data": "server_overloaded"},
    {"code": -32100, "message": "odd"},
    {"code": -32001, "message": "Server overloaded; retry later."},
    {"code": -32001, "message": "busy", "data": {"codexErrorInfo": "serverOverloaded"}},
]


@scenario
def jsonrpc_error_mapping_table(sdk: ModuleType, rig: Rig) -> None:
    """Every JSON-RPC error code class (fake engine): exception class, message, code, data, retryability."""
    env = {"FAKE_ENGINE_ERRORS": json.dumps(ERROR_TABLE)}
    with sdk.Codex(rig.fake_config(env=env)) as codex:
        for index, error in enumerate(ERROR_TABLE):
            rig.call(f"error{index:02d}_code{error['code']}", codex.models)
        rig.call("models_ok", codex.models)


@scenario
def retry_on_overload_engine_overload_answer(sdk: ModuleType, rig: Rig) -> None:
    """retry_on_overload() around the engine's own overload answer (-32001, no data; fake engine)."""
    overloaded = {"code": -32001, "message": "Server overloaded; retry later."}
    env = {"FAKE_ENGINE_ERRORS": json.dumps([overloaded, overloaded])}
    with sdk.Codex(rig.fake_config(env=env)) as codex:
        rig.call("retry", sdk.retry_on_overload, codex.models, initial_delay_s=0.01, max_delay_s=0.02)


# ---------------------------------------------------------------------------------------------------------------
# Transport


@scenario
def transport_close_then_calls_fail(sdk: ModuleType, rig: Rig) -> None:
    """close() twice, then every call raises TransportClosedError; metadata is still there."""
    codex = sdk.Codex(rig.config())
    thread = deny_all_thread(sdk, codex)
    rig.wait_for("thread/started")  # else the notification races close()
    rig.call("close", codex.close)
    rig.call("close_again", codex.close)
    rig.call("thread_start", codex.thread_start)
    rig.call("models", codex.models)
    rig.call("read", thread.read)
    rig.call("run", thread.run, "x")
    rig.record("metadata", codex.metadata)


@scenario
def async_client_stream_close_and_respawn(sdk: ModuleType, rig: Rig) -> None:
    """AsyncCodex: lazy start, an async streamed turn, close(), then the next call starts a fresh engine."""
    rig.model.enqueue(reply(streamed_message("as", "ync")), message("async run"))

    async def main() -> None:
        codex = sdk.AsyncCodex(rig.config())
        rig.call("metadata_before_init", lambda: codex.metadata)
        try:
            thread = await rig.acall("thread_start", codex.thread_start(approval_mode=sdk.ApprovalMode.deny_all))
            handle = await rig.acall("turn", thread.turn("stream it"))

            async def events() -> list[Any]:
                return [event async for event in handle.stream()]

            await rig.acall("stream", events())
            await rig.acall("run", thread.run("run it"))
            await rig.acall("close", codex.close())
            await rig.acall("close_again", codex.close())
            rig.call("metadata_after_close", lambda: codex.metadata)
            await rig.acall("account_respawns", codex.account())
            rig.record("metadata_after_respawn", codex.metadata)
        finally:
            await codex.close()

    run_async(main)


@scenario
def engine_killed_mid_turn(sdk: ModuleType, rig: Rig) -> None:
    """The engine is SIGKILLed during a turn: the turn fails with TransportClosedError; then later calls."""
    gate = Gate()
    rig.model.enqueue(reply(gate, message("never sent")), message("After the crash."))
    codex = sdk.Codex(rig.config())
    try:
        thread = deny_all_thread(sdk, codex)
        handle = thread.turn("a long task")
        gate.wait_reached()
        rig.kill_engine()
        rig.call("run_killed_turn", handle.run)
        gate.open()
        time.sleep(1.0)  # whatever the SDK does about a dead engine (restart it, or not), it has done it
        rig.call("run_after_kill", thread.run, "again")
    finally:
        rig.call("close", codex.close)


@scenario
def fake_engine_eof_fails_pending_request(sdk: ModuleType, rig: Rig) -> None:
    """The engine exits while a request is pending (fake engine): TransportClosedError with the stderr tail;
    then, a second later, the next request and close()."""
    codex = sdk.Codex(rig.fake_config())
    try:
        rig.call("die", rig.raw, codex, "test/die", {"stderr": "fake engine: bye", "code": 3})
        time.sleep(1.0)  # whatever the SDK does about a dead engine (restart it, or not), it has done it
        rig.call("echo_after_death", rig.raw, codex, "test/echo", {"after": "death"})
    finally:
        rig.call("close", codex.close)


@scenario
def fake_engine_malformed_line(sdk: ModuleType, rig: Rig) -> None:
    """The engine writes a non-JSON line before a reply (fake engine)."""
    with sdk.Codex(rig.fake_config()) as codex:
        rig.call("malformed", rig.raw, codex, "test/malformed")


@scenario
def fake_engine_bad_initialize(sdk: ModuleType, rig: Rig) -> None:
    """initialize answered without metadata, or the engine dying at start (fake engine): Codex() raises."""
    for label, mode in (("empty_metadata", "empty"), ("engine_dies", "die")):
        codex = rig.call(label, sdk.Codex, rig.fake_config(env={"FAKE_ENGINE_INIT": mode}))
        if codex is not None:
            codex.close()


#: The server requests of 0.163.0 other than the two approvals (``schema/ServerRequest.json``).
OTHER_SERVER_REQUESTS = (
    "item/tool/requestUserInput",
    "mcpServer/elicitation/request",
    "item/permissions/requestApproval",
    "item/tool/call",
    "account/chatgptAuthTokens/refresh",
    "attestation/generate",
    "applyPatchApproval",
    "execCommandApproval",
)


@scenario
def fake_engine_server_requests_answers(sdk: ModuleType, rig: Rig) -> None:
    """Every kind of server request (fake engine, empty params): what the SDK answers to each."""
    methods = ("item/commandExecution/requestApproval", "item/fileChange/requestApproval", *OTHER_SERVER_REQUESTS)
    with sdk.Codex(rig.fake_config()) as codex:
        for method in methods:
            rig.call(method, rig.raw, codex, "test/server-request", {"method": method})
