"""The official SDK's README quickstart, documented snippets and ``sdk/python/examples``, run as written.

Each example is vendored as a text fixture under ``tests/support/official_examples/`` (a header names its source
path and commit; the code below it is upstream's, unchanged). Every example runs twice, in a fresh interpreter,
against the real engine offline (a :class:`~codex_actors.testing.OfflineEngine`: isolated ``CODEX_HOME``,
workspace as cwd, scripted model): once with the official ``openai_codex`` on the unchanged source, once with
``codex_actors``, where only the ``import``/``from`` lines are rewritten (``from openai_codex... import`` becomes
``from codex_actors... import``, ``import openai_codex`` becomes ``import codex_actors as openai_codex``). The
example's plain ``Codex()``/``AsyncCodex()`` (or the examples' ``runtime_config()``, a default ``CodexConfig()``)
finds the offline home through the environment.

The test is parametrized over the two SDKs. The ``openai_codex`` case checks the offline setup and what the
official SDK does with the script; the ``codex_actors`` case checks that the drop-in behaves the same: same exit
status, same output (ids, paths, ports normalized), same last error line, and the same model requests on the
wire. Both runs of an example happen together (concurrently, each with its own engine and model) the first time
either case needs them; the second case reuses the finished results, so nothing outlives a test.

Known differences are strict xfails naming the bug. ``14_turn_controls`` also hits an engine race that breaks
the official SDK too: ``turn/interrupt`` sent right after ``turn/start`` returns is rejected ("no active turn to
interrupt") until the engine has registered the turn.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from codex_actors.testing import (
    Gate,
    OfflineEngine,
    RecordedRequest,
    ReplyLike,
    Usage,
    http_error,
    message,
    reply,
    streamed_message,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "support" / "official_examples"
OFFICIAL = "openai_codex"
ACTORS = "codex_actors"
SDKS = (OFFICIAL, ACTORS)
RUN_TIMEOUT = 60.0

# --------------------------------------------------------------------------------------------------------------
# Running one example


def rewrite_imports(code: str) -> str:
    """Swap ``openai_codex`` for ``codex_actors`` on import lines only."""
    code = re.sub(r"^(\s*from\s+)openai_codex\b", r"\1codex_actors", code, flags=re.MULTILINE)
    return re.sub(
        r"^(\s*import\s+)openai_codex(?=\s*(?:#.*)?$)",
        r"\1codex_actors as openai_codex",
        code,
        flags=re.MULTILINE,
    )


@functools.cache
def sample_png() -> bytes:
    """The 96x96 four-colour PNG the examples' image helpers make (upstream ``_bootstrap``'s), via the shim."""
    spec = importlib.util.spec_from_file_location("official_examples_bootstrap", EXAMPLES / "_bootstrap.py")
    assert spec is not None and spec.loader is not None
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    data: bytes = shim.sample_png_bytes()
    return data


@dataclass
class Script:
    """What the scripted model answers, and an optional driver run beside the example (gates, late replies)."""

    replies: Sequence[ReplyLike] = ()
    default: ReplyLike | None = None
    driver: Callable[[OfflineEngine], None] | None = None


@dataclass
class Run:
    sdk: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    requests: list[RecordedRequest]
    pending: int
    unexpected: int
    stragglers: bool
    root: str
    driver_error: BaseException | None = None

    @property
    def last_error(self) -> str:
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return normalize(lines[-1], self.root) if lines else ""

    def describe(self) -> str:
        return (
            f"[{self.sdk}] exit {self.returncode} in {self.seconds:.2f} s, {len(self.requests)} model requests\n"
            f"--- stdout\n{self.stdout}--- stderr (tail)\n{self.stderr[-3000:]}"
        )


def run_example(fixture: str, sdk: str, script: Script, stdin: str) -> Run:
    """Run one vendored example with ``sdk`` against a fresh offline engine; return what it did."""
    source = (EXAMPLES / f"{fixture}.txt").read_text(encoding="utf-8")
    if sdk == ACTORS:
        source = rewrite_imports(source)
    with OfflineEngine(*script.replies, default=script.default) as offline:
        # The upstream layout: examples/<folder>/<file>.py next to examples/_bootstrap.py.
        examples = offline.root / "examples"
        target = examples / fixture
        target.parent.mkdir(parents=True)
        target.write_text(source, encoding="utf-8")
        shutil.copy(EXAMPLES / "_bootstrap.py", examples / "_bootstrap.py")
        (offline.workspace / "generated_sample.png").write_bytes(sample_png())
        env = {**os.environ, **offline.env, "OFFICIAL_EXAMPLES_SDK": sdk, "PYTHONDONTWRITEBYTECODE": "1"}
        driver_error: list[BaseException] = []
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, str(target)],
            cwd=offline.workspace,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        driver = None
        if script.driver is not None:
            drive = script.driver

            def guarded() -> None:
                try:
                    drive(offline)
                except BaseException as exc:  # reported with the run
                    driver_error.append(exc)

            driver = threading.Thread(target=guarded, name=f"example-driver:{fixture}", daemon=True)
            driver.start()
        try:
            stdout, stderr = proc.communicate(stdin, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            stderr += f"\n[test] killed after {RUN_TIMEOUT} s"
        seconds = time.monotonic() - started
        stragglers = _reap_group(proc.pid)
        offline.model.close()  # cuts any stream still held by a gate
        if driver is not None:
            driver.join(timeout=10)
        return Run(
            sdk=sdk,
            returncode=proc.returncode,
            stdout=stdout,
            stderr=stderr,
            seconds=seconds,
            requests=list(offline.model.model_requests),
            pending=offline.model.pending,
            unexpected=len(offline.model.unexpected_requests),
            stragglers=stragglers,
            root=str(offline.root),
            driver_error=driver_error[0] if driver_error else None,
        )


def _reap_group(pgid: int, settle: float = 3.0) -> bool:
    """Kill whatever is left of the example's process group (an engine outliving it); True if anything was."""
    deadline = time.monotonic() + settle
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return True


# --------------------------------------------------------------------------------------------------------------
# Normalizing for comparison

UUID = re.compile(r"(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])")


def normalize(text: str, root: str) -> str:
    """Make two runs' output comparable: the temp root, ids (numbered by first use), ports, login nonces."""
    text = text.replace(root, "<root>")
    ids: dict[str, str] = {}
    text = UUID.sub(lambda m: ids.setdefault(m.group(0), f"<id{len(ids) + 1}>"), text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(r"127\.0\.0\.1%3A\d+", "127.0.0.1%3A<port>", text)
    return re.sub(r"\b(code_challenge|state)=[\w-]+", r"\1=<nonce>", text)


def wire(run: Run, limit: int | None = None) -> list[str]:
    """The model requests as the engine sent them (body, and the x-/user-agent headers), normalized."""
    shown: list[str] = []
    for request in run.requests[:limit]:
        headers = {k: v for k, v in request.headers.items() if k.startswith("x-") or k in ("user-agent",)}
        text = json.dumps({"body": request.body, "headers": headers}, sort_keys=True, indent=1)
        text = re.sub(r'(\\?"(?:turn_started_at_unix_ms|created_at)\\?":\s*)\d+', r"\1<t>", text)
        shown.append(normalize(text, run.root))
    return shown


# --------------------------------------------------------------------------------------------------------------
# The examples


@dataclass(frozen=True)
class Example:
    fixture: str  # path under official_examples/, without the .txt
    script: Callable[[], Script]
    expect: tuple[str, ...] = ()  # lines (or runs of lines) the official run prints
    stdin: str = ""
    returncode: int = 0
    error: str | None = None  # a regex for the last stderr line when returncode != 0
    check: Callable[[Run], None] | None = None  # more checks on one SDK's run (requests on the wire...)
    compare_output: bool = True  # False where the output is SDK-specific by nature (help())
    compare_requests: int | None = -1  # -1: all model requests; n: the first n; None: none
    concurrent: bool = True  # False when the two runs would fight over a fixed port (ChatGPT login: 1455)
    actors_xfail: str | None = None
    label: str = ""

    @property
    def id(self) -> str:
        return self.label or self.fixture.removesuffix(".py")


def _const(*replies: ReplyLike, default: ReplyLike | None = None) -> Callable[[], Script]:
    return lambda: Script(list(replies), default)


HELLO = "Hello from the scripted model."
BULLETS = "- Vector registers\n- One instruction, many lanes\n- Faster loops"
STRUCTURED = {"summary": "Roll it out gradually.", "actions": ["Enable for 1% of users", "Watch error rates"]}
USAGE = Usage(input_tokens=120, cached_tokens=100, output_tokens=30, reasoning_tokens=12)


def _user_texts(request: RecordedRequest) -> list[str]:
    return request.message_texts("user")


def _images(request: RecordedRequest) -> list[str]:
    return [
        part["image_url"]
        for item in request.input
        if item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") == "input_image"
    ]


def check_image_sent(run: Run) -> None:
    (request,) = run.requests
    (url,) = _images(request)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == sample_png(), "the engine did not send the example's PNG"


def check_structured_request(run: Run) -> None:
    body = run.requests[-1].body
    assert body["text"]["format"]["type"] == "json_schema"
    assert body["text"]["format"]["schema"]["required"] == ["summary", "actions"]
    assert body["reasoning"]["summary"] == "concise"


def check_resumed_history(run: Run) -> None:
    _, second = run.requests
    assert "Tell me one fact about Saturn." in _user_texts(second), "the resumed thread lost its history"
    assert "Continue with one more fact." in _user_texts(second)


def check_lifecycle(run: Run) -> None:
    _, _, resumed, forked = run.requests[:4]
    assert "One sentence about structured planning." in _user_texts(resumed)
    texts = _user_texts(forked)
    assert "Now restate it for a junior engineer." in texts, "the fork lost the thread's history"
    assert "Take a different angle in one short sentence." in texts


def check_external_message(run: Run) -> None:
    _, second = run.requests
    outputs = [item for item in second.input if item.get("type") == "function_call_output"]
    assert [(o["name"], o["namespace"], o["output"]) for o in outputs] == [
        ("notifications", "slack", "Staging deployment failed: the health check returned HTTP 503.")
    ]
    metadata = json.loads(second.header("x-codex-turn-metadata") or "{}")
    assert metadata["turn_trigger"] == "slack_notification"
    assert metadata["sandbox_mode"] == "read-only"


def check_sandbox_override(run: Run) -> None:
    modes = [json.loads(r.header("x-codex-turn-metadata") or "{}")["sandbox_mode"] for r in run.requests]
    assert modes == ["workspace-write", "read-only"][-len(modes) :]


STEER = "Keep it brief and stop after 10 numbers."
INTERRUPT_RACE = re.compile(
    r"InvalidRequestError: JSON-RPC error -32600: "
    r"(no active turn to interrupt|expected active turn id <id\d+> but found <id\d+>)$"
)


def turn_controls_script() -> Script:
    """Hold the first answer until the steer is in, then answer the steered follow-up; hold the interrupted one."""
    held = Gate(timeout=20)

    def drive(offline: OfflineEngine) -> None:
        held.wait_reached()
        time.sleep(0.3)  # the example steers right after turn/start returns; give it ample time to arrive
        if STEER not in _user_texts(offline.model.requests[0]):
            offline.model.enqueue(streamed_message("1, 2, 3, 4, 5, 6, 7, 8, 9, 10.", " Counted to ten."))
        held.open()

    return Script(
        [reply(held, streamed_message("1, 2, 3, ", "4, 5, "))],
        # Held for the interrupt; when the interrupt loses the engine race the example exits with this turn
        # still running, and the engine's shutdown waits for the stream: so hold it 2 s at most.
        default=reply(Gate(timeout=2.0), message("never sent: the turn is interrupted")),
        driver=drive,
    )


def check_steer_reached_model(run: Run) -> None:
    texts = [_user_texts(r) for r in run.requests]
    assert any(STEER in t for t in texts), f"the steer never reached the model: {texts}"


def _examples() -> list[Example]:
    json_answer = json.dumps(STRUCTURED)
    structured_lines = (
        "Status: TurnStatus.completed\nsummary: Roll it out gradually.\nactions:\n"
        "- Enable for 1% of users\n- Watch error rates\nItems: 2"
    )
    found: list[Example] = [
        # README quickstart and the getting-started / API-reference snippets
        Example("docs/readme_quickstart.py", _const(message(BULLETS)), expect=(BULLETS,)),
        Example(
            "docs/getting_started_run_a_turn.py",
            _const(message(HELLO)),
            expect=(f"Text: {HELLO}", "Items: 2"),
        ),
        Example(
            "docs/getting_started_sandbox.py",
            _const(message("Changes made."), message("The diff looks fine.")),
            check=check_sandbox_override,
        ),
        Example(
            "docs/getting_started_continue_thread.py",
            _const(message("- Each value has one owner\n- Borrows are checked"), message("Think of refcounts.")),
            expect=("Think of refcounts.",),
        ),
        Example("docs/getting_started_async_client.py", _const(message(HELLO)), expect=(HELLO,)),
        Example(
            "docs/getting_started_help.py",
            _const(),
            expect=("class Codex", "class CodexConfig"),
            compare_output=False,  # the docstrings differ by nature
            compare_requests=None,
        ),
        Example("docs/api_reference_package_entry.py", _const(), compare_requests=None),
        Example("docs/api_reference_public_types.py", _const(), compare_requests=None),
        Example(
            "docs/api_reference_sandbox.py",
            _const(message("The diff looks fine.")),
            check=check_sandbox_override,
        ),
    ]
    for variant in ("sync", "async"):
        found += [
            Example(
                f"01_quickstart_constructor/{variant}.py",
                _const(message(HELLO)),
                expect=("Server: codex_python_sdk 0.163.0", "Items: 2", f"Text: {HELLO}"),
            ),
            Example(
                f"02_turn_run/{variant}.py",
                _const(message(BULLETS)),
                expect=("status: TurnStatus.completed", f"text: {BULLETS}", "items.count: 2"),
            ),
            Example(
                f"03_turn_stream_events/{variant}.py",
                _const(streamed_message("- Vector registers", "\n- Many lanes", "\n- Faster loops")),
                expect=(
                    "stream.started\nassistant> - Vector registers\n- Many lanes\n- Faster loops\n"
                    "stream.started.seen: True\nstream.completed: completed\nevents.count: ",
                ),
            ),
            Example(
                f"04_models_and_metadata/{variant}.py",
                _const(),
                expect=("server: codex_python_sdk 0.163.0", "models.count: "),
            ),
            Example(
                f"05_existing_thread/{variant}.py",
                _const(message("Saturn has rings."), message("Saturn could float in water.")),
                expect=("Created thread: <id1>", "Saturn could float in water."),
                check=check_resumed_history,
            ),
            Example(
                f"06_thread_lifecycle_and_controls/{variant}.py",
                # Four turns; compaction may or may not reach the model before the process exits.
                _const(
                    message("Plan the steps before coding."),
                    message("Write down the steps first."),
                    message("Keep the plan short."),
                    message("Plan backwards from the goal."),
                    default=message("Compacted summary."),
                ),
                expect=(
                    "Lifecycle OK: <id1>\nfirst: <id2> TurnStatus.completed\nsecond: <id3> TurnStatus.completed\n"
                    "read.turns: 2\nlist.active: 1\nlist.archived: 1\nresumed: <id4> TurnStatus.completed\n"
                    "forked: <id5> TurnStatus.completed\ncompact: {}",
                ),
                check=check_lifecycle,
                compare_requests=4,
            ),
            Example(
                f"07_image_and_text/{variant}.py",
                _const(message("- Four coloured squares")),
                expect=("Status: TurnStatus.completed\n- Four coloured squares",),
                check=check_image_sent,
            ),
            Example(
                f"08_local_image_and_text/{variant}.py",
                _const(message("- Blue, yellow, green and red quadrants")),
                expect=("Status: TurnStatus.completed\n- Blue, yellow, green and red quadrants",),
                check=check_image_sent,
            ),
            Example(
                f"10_error_handling_and_retry/{variant}.py",
                _const(message("- Back off exponentially")),
                expect=("Text: - Back off exponentially",),
            ),
            Example(
                f"10_error_handling_and_retry/{variant}.py",
                _const(http_error(503)),
                returncode=1,
                # 0.163.0 raises RuntimeError for a failed turn, which retry_on_overload does not retry: the
                # example's "Turn failed:" branch is unreachable and the error escapes.
                error=(
                    r"^RuntimeError: unexpected status 503 Service Unavailable: scripted HTTP 503 error, "
                    r"url: http://127\.0\.0\.1:<port>/v1/responses$"
                ),
                label=f"10_error_handling_and_retry/{variant}-model-503",
            ),
            Example(
                f"11_cli_mini_app/{variant}.py",
                _const(
                    reply(streamed_message("Hi", " there!"), usage=USAGE),
                    reply(message("Bye."), usage=USAGE),
                ),
                stdin="hello\n\nthanks\n/exit\n",
                expect=(
                    "you> assistant> Hi there!\nassistant.status> completed\nusage>\n"
                    "  last: input=120 output=30 reasoning=12 total=150 cached=100\n"
                    "  total: input=120 output=30 reasoning=12 total=150 cached=100\n",
                    "  total: input=240 output=60 reasoning=24 total=300 cached=200\nyou> ",
                ),
            ),
            Example(
                f"12_turn_params_kitchen_sink/{variant}.py",
                _const(message(json_answer)),
                expect=(structured_lines,),
                check=check_structured_request,
            ),
            Example(
                f"13_model_select_and_turn_params/{variant}.py",
                _const(message("Ship small, reversible changes."), message(json_answer)),
                expect=(
                    "selected.model: ",
                    "agent.message: Ship small, reversible changes.\nitems: 2\n"
                    f"agent.message.params: {json_answer}\nitems.params: 2",
                ),
                check=check_structured_request,
            ),
            Example(
                f"14_turn_controls/{variant}.py",
                turn_controls_script,
                check=check_steer_reached_model,
                compare_requests=None,
            ),
            Example(
                f"15_login_and_account/{variant}.py",
                _const(),
                expect=(
                    "login.auth_url: https://auth.openai.com/oauth/authorize?response_type=code",
                    "login.cancel.status: CancelLoginAccountStatus.canceled\nlogin.completed.success: False\n"
                    "account.requires_openai_auth: False",
                ),
                concurrent=False,
            ),
            Example(
                f"16_external_message/{variant}.py",
                _const(
                    message("Understood: I will summarize deployment notifications."),
                    message("Staging failed its health check (HTTP 503): check the service logs."),
                ),
                expect=(
                    "status: TurnStatus.completed\n"
                    "text: Staging failed its health check (HTTP 503): check the service logs.",
                ),
                check=check_external_message,
            ),
        ]
    found.append(
        Example(
            "09_async_parity/sync.py",
            _const(message(f"  {HELLO}  ")),
            expect=("Server: codex_python_sdk 0.163.0", f"Thread: <id1>\nTurn: <id2>\nText: {HELLO}"),
        )
    )
    return found


EXAMPLE_LIST = _examples()

# --------------------------------------------------------------------------------------------------------------
# Both runs of an example, done once


@dataclass
class Pair:
    runs: dict[str, Run] = field(default_factory=dict)


_PAIRS: dict[str, Pair] = {}


def pair_for(example: Example) -> Pair:
    """Run the example with both SDKs (concurrently unless it needs a fixed port), once per session."""
    found = _PAIRS.get(example.id)
    if found is not None:
        return found

    def one(sdk: str) -> Run:
        return run_example(example.fixture, sdk, example.script(), example.stdin)

    pair = Pair()
    if example.concurrent:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="official-example") as pool:
            futures = {sdk: pool.submit(one, sdk) for sdk in SDKS}
            pair.runs = {sdk: future.result() for sdk, future in futures.items()}
    else:
        pair.runs = {sdk: one(sdk) for sdk in SDKS}
    _PAIRS[example.id] = pair
    return pair


def check_run(example: Example, run: Run) -> None:
    """What one SDK's run must show: the exit status, the expected output, the checks on the wire."""
    assert run.driver_error is None, f"the test's driver failed: {run.driver_error!r}\n{run.describe()}"
    assert not run.stragglers, f"a process of the example outlived it (killed)\n{run.describe()}"
    assert run.returncode == example.returncode, run.describe()
    out = normalize(run.stdout, run.root)
    for expected in example.expect:
        assert expected in out, f"missing {expected!r}\n{run.describe()}"
    if example.error is not None:
        assert re.search(example.error, run.last_error), f"last error {run.last_error!r}\n{run.describe()}"
    if example.check is not None:
        example.check(run)
    assert run.unexpected == 0, f"{run.unexpected} model requests were not scripted\n{run.describe()}"


def compare_runs(example: Example, official: Run, actors: Run) -> None:
    """The drop-in must do what the official SDK does."""
    assert actors.returncode == official.returncode, (
        f"exit {actors.returncode}, official exit {official.returncode}\n{actors.describe()}"
    )
    if example.compare_output:
        assert normalize(actors.stdout, actors.root) == normalize(official.stdout, official.root), (
            f"different output\n{actors.describe()}\n{official.describe()}"
        )
    if official.returncode != 0:  # the same exception, whichever package defines it
        mine, theirs = (
            re.sub(r"\b(openai_codex|codex_actors)\.", "<sdk>.", r.last_error) for r in (actors, official)
        )
        assert mine == theirs, f"different error\n{actors.describe()}"
    if example.compare_requests is not None:
        limit = None if example.compare_requests < 0 else example.compare_requests
        my_requests, their_requests = wire(actors, limit), wire(official, limit)
        assert len(my_requests) == len(their_requests), (
            f"{len(my_requests)} model requests, official {len(their_requests)}"
        )
        for index, (a, b) in enumerate(zip(my_requests, their_requests, strict=True)):
            diff = difflib.unified_diff(b.splitlines(), a.splitlines(), OFFICIAL, ACTORS, lineterm="", n=2)
            assert a == b, f"model request {index + 1} differs from the official SDK's:\n" + "\n".join(
                list(diff)[:80]
            )


def _params() -> list[Any]:
    params = []
    for example in EXAMPLE_LIST:
        for sdk in SDKS:
            marks = []
            if sdk == ACTORS and example.actors_xfail:
                marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=example.actors_xfail))
            params.append(pytest.param(example, sdk, marks=marks, id=f"{example.id}-{sdk}"))
    return params


@pytest.mark.usefixtures("no_leaks")
@pytest.mark.parametrize(("example", "sdk"), _params())
def test_official_example(example: Example, sdk: str) -> None:
    pair = pair_for(example)
    official, actors = pair.runs[OFFICIAL], pair.runs[ACTORS]
    if example.fixture.startswith("14_turn_controls/"):
        check_turn_controls(example, sdk, official, actors)
        return
    if sdk == OFFICIAL:
        check_run(example, official)
        return
    try:
        check_run(example, official)
    except AssertionError as exc:  # not an xfail: the reference itself is broken
        pytest.fail(f"the official SDK's run, the reference, fails its checks: {exc}")
    compare_runs(example, official, actors)
    check_run(example, actors)


def check_turn_controls(example: Example, sdk: str, official: Run, actors: Run) -> None:
    """14_turn_controls: the steer works in both SDKs; the interrupt then races the engine in both.

    ``interrupt()`` right after ``thread.turn(...)`` returns is rejected by engine 0.163.0 ("no active turn to
    interrupt") until it has registered the turn, so the official SDK (quick to send it) fails there nearly
    every time; codex_actors (a few actor hops slower) sometimes gets through. Accepted: a full run, or the
    engine race; anything else fails.
    """
    run = official if sdk == OFFICIAL else actors
    for each in (official, actors) if sdk == ACTORS else (official,):
        assert each.driver_error is None, f"the test's driver failed: {each.driver_error!r}"
        check_steer_reached_model(each)
        assert not each.stragglers, each.describe()
    if official.returncode != 0:
        assert INTERRUPT_RACE.search(official.last_error), official.describe()
    else:
        out = normalize(official.stdout, official.root)
        assert "steer.final.status: completed" in out and "interrupt.final.status: interrupted" in out, out
    if sdk == OFFICIAL:
        return
    if run.returncode != 0 and INTERRUPT_RACE.search(run.last_error):
        return  # the same engine race as the official SDK, raised as the same InvalidRequestError
    assert run.returncode == 0, run.describe()
    out = normalize(run.stdout, run.root)
    assert "steer.final.status: completed" in out and "interrupt.final.status: interrupted" in out, out
    if official.returncode == 0:
        assert out == normalize(official.stdout, official.root), f"{run.describe()}\n{official.describe()}"


def test_every_fixture_is_run() -> None:
    """Each vendored example is in the list above (so a new fixture cannot be forgotten)."""
    fixtures = {str(p.relative_to(EXAMPLES)).removesuffix(".txt") for p in EXAMPLES.rglob("*.py.txt")}
    assert fixtures == {example.fixture for example in EXAMPLE_LIST}


def test_import_rewrite_touches_only_import_lines() -> None:
    code = (
        "import openai_codex\nfrom openai_codex import Codex\nfrom openai_codex.types import TurnStatus\n"
        "import asyncio\nx = 'openai_codex'\nhelp(openai_codex)\n"
    )
    assert rewrite_imports(code) == (
        "import codex_actors as openai_codex\nfrom codex_actors import Codex\n"
        "from codex_actors.types import TurnStatus\nimport asyncio\nx = 'openai_codex'\nhelp(openai_codex)\n"
    )
