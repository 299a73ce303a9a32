"""The logging conventions: ANSI stripping, argv redaction, one-line reasons; and the supervisor's log lines."""

from __future__ import annotations

import logging
from typing import Any

import pykka
import pytest

from codex_actors import _logs
from codex_actors._logs import REDACTED, describe, redact_argv, strip_ansi
from codex_actors.actors._process import StderrTail
from codex_actors.actors._supervisor import ChildContext, ChildSpec, GetChild, SupervisedActor, Supervisor
from tests.support.waiting import ask, wait_until

# -- ANSI ---------------------------------------------------------------------------------------------------------

ENGINE_PLAIN = "2026-12-02T13:51:36.702953Z ERROR codex_app_server: Codex could not find bubblewrap on PATH."
ENGINE_LINE = (
    "\x1b[2m2026-12-02T13:51:36.702953Z\x1b[0m \x1b[31mERROR\x1b[0m \x1b[2mcodex_app_server\x1b[0m\x1b[2m:\x1b[0m "
    "Codex could not find bubblewrap on PATH."
)


@pytest.mark.parametrize(
    ("coloured", "plain"),
    [
        (ENGINE_LINE, ENGINE_PLAIN),
        ("\x1b[1;38;5;196mred\x1b[m and \x1b[38;2;1;2;3mtrue\x1b[0m", "red and true"),
        ("\x1b[2K\x1b[1Aup\x1b[?25l", "up"),  # erase line, cursor up, hide cursor
        ("\x1b]0;a title\x07text", "text"),  # OSC terminated by BEL
        ("\x1b]8;;https://x.test/\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST-terminated
        ("\x1bMreverse index\x1b7saved\x1b(Bcharset", "reverse indexsavedcharset"),  # other escapes
        ("\x9b31m8-bit\x9b0m", "8-bit"),
        ("no escapes [31m here", "no escapes [31m here"),
        ("", ""),
    ],
)
def test_strip_ansi_removes_csi_osc_and_escapes_and_keeps_the_text(coloured: str, plain: str) -> None:
    assert strip_ansi(coloured) == plain


def test_the_stderr_tail_reads_back_without_colour_codes() -> None:
    tail = StderrTail()
    tail.feed(ENGINE_LINE.encode()[:7])  # a sequence split across chunks is still removed
    tail.feed(ENGINE_LINE.encode()[7:] + b"\n\x1b[33mWARN\x1b[0m second\n")
    assert "\x1b" not in tail.text()
    assert tail.summary().splitlines()[-1] == "WARN second"


# -- redaction ----------------------------------------------------------------------------------------------------


def test_secret_config_values_are_redacted_and_the_rest_kept() -> None:
    argv = [
        "/bin/codex",
        "--config",
        'model="gpt-5.5"',
        "--config",
        'model_providers.mock.experimental_bearer_token="abc123"',
        "-c",
        "api_key=sk-live-0123456789",
        "--config=client_secret=xyz",
        "--config",
        'model_providers.m.http_headers={"Authorization"="Bearer abc"}',
        "--config",
        'password="hunter2"',
        "--config",
        'mcp_servers.search={command = "python3", env = {INDEX = "x"}}',
        "app-server",
        "--listen",
        "stdio://",
    ]
    assert redact_argv(argv) == [
        "/bin/codex",
        "--config",
        'model="gpt-5.5"',
        "--config",
        f"model_providers.mock.experimental_bearer_token={REDACTED}",
        "-c",
        f"api_key={REDACTED}",
        f"--config=client_secret={REDACTED}",
        "--config",
        f"model_providers.m.http_headers={REDACTED}",
        "--config",
        f"password={REDACTED}",
        "--config",
        f"mcp_servers.search={REDACTED}",
        "app-server",
        "--listen",
        "stdio://",
    ]


def test_secret_flags_and_bare_keys_are_redacted_anywhere_in_an_override_argv() -> None:
    argv = ["python", "engine.py", "--api-key", "k1", "--token=k2", "sk-abcdefghijkl", "Bearer zzz", "--verbose"]
    assert redact_argv(argv) == [
        "python",
        "engine.py",
        "--api-key",
        REDACTED,
        f"--token={REDACTED}",
        REDACTED,
        REDACTED,
        "--verbose",
    ]


def test_nothing_secret_is_left_alone() -> None:
    argv = [
        "codex",
        "--config",
        'model_providers.mock.env_key="MOCK_KEY_VAR"',
        "app-server",
        "--listen",
        "stdio://",
    ]
    assert redact_argv(argv) == argv


# -- reasons ------------------------------------------------------------------------------------------------------


def test_describe_gives_one_short_line() -> None:
    assert describe(None) == "normal"
    assert describe(RuntimeError()) == "RuntimeError"
    assert describe(ValueError("first\nsecond")) == "ValueError: first"
    long = describe(OSError("x" * 1000), limit=50)
    assert len(long) == 50 and long.endswith("...")


def test_the_package_adds_no_handler_but_a_null_one() -> None:
    import codex_actors

    root = logging.getLogger(codex_actors.__name__)
    assert all(isinstance(handler, logging.NullHandler) for handler in root.handlers)
    for logger in (_logs.ENGINE, _logs.STDERR, _logs.REQUESTS):
        assert logger.name.startswith("codex_actors.")
        assert logger.handlers == []


# -- the supervisor's lines ---------------------------------------------------------------------------------------


class Crasher(SupervisedActor):
    def on_receive(self, message: Any) -> Any:
        self.crash(RuntimeError(f"boom: {message}"))


def records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


def test_a_crash_and_its_restart_are_logged_with_child_reason_attempt_and_generation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="codex_actors")
    spec = ChildSpec("worker", lambda context: Crasher.start(context))
    supervisor = Supervisor.start([spec], name="sup")
    try:
        first = ask(supervisor, GetChild("worker"))
        first.tell("now")
        wait_until(lambda: any("restarted" in r.getMessage() for r in caplog.records), "the restart")
        crash = next(r for r in records(caplog, "codex_actors.supervisor") if r.levelno == logging.WARNING)
        assert crash.getMessage() == "sup: child 'worker' crashed: RuntimeError: boom: now"
        assert (crash.child, crash.reason, crash.supervisor, crash.generation) == (  # type: ignore[attr-defined]
            "worker",
            "RuntimeError: boom: now",
            "sup",
            0,
        )
        restart = next(r for r in records(caplog, "codex_actors.supervisor") if "restarted" in r.getMessage())
        assert restart.levelno == logging.INFO
        assert (restart.child, restart.attempt, restart.generation) == ("worker", 1, 1)  # type: ignore[attr-defined]
        assert restart.reason == "RuntimeError: boom: now"  # type: ignore[attr-defined]
        # The child's own "crashed" line is DEBUG (the supervisor's WARNING says it, with the name).
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        supervisor.stop()


def test_giving_up_is_logged_at_error_with_the_child_and_the_last_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="codex_actors.supervisor")

    def start(context: ChildContext) -> pykka.ActorRef[Any]:
        ref = Crasher.start(context)
        ref.tell(f"generation {context.generation}")
        return ref

    supervisor = Supervisor.start([ChildSpec("worker", start)], max_restarts=1, max_seconds=60, name="sup")
    try:
        wait_until(lambda: any(r.levelno == logging.ERROR for r in caplog.records), "the escalation")
        gave_up = next(r for r in records(caplog, "codex_actors.supervisor") if r.levelno == logging.ERROR)
        assert "gave up" in gave_up.getMessage()
        assert gave_up.child == "worker"  # type: ignore[attr-defined]
        assert gave_up.reason == "RuntimeError: boom: generation 1"  # type: ignore[attr-defined]
        assert gave_up.attempt == 2  # type: ignore[attr-defined]
    finally:
        supervisor.stop()
