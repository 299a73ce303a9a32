"""Lines over the limit fail what they belonged to at once (never a hang), on the fake engine; and answers
that cannot be encoded do not take the port down.

The real engine writes lines of any size (a 17 MB answer is a 17.8 MB line, see
tests/integration/test_long_lines.py); only a stand-in makes one that is over a test-sized limit in a chosen
layout (the JSON-RPC id or the thread's ids before or after the huge field).
"""

from __future__ import annotations

import dataclasses
import time

import msgspec
import pytest

from codex_actors import ApprovalMode, Codex, CodexConfig
from codex_actors.actors._connection import EngineConnection
from codex_actors.actors._messages import LineDroppedEvent, RunTurn
from codex_actors.actors._options import RuntimeOptions
from codex_actors.actors._router import Router
from codex_actors.errors import LineTooLongError
from tests.faults.test_port_faults import Events, echo, open_fake
from tests.support.fixtures import fake_engine_config

MIB = 1024 * 1024


@pytest.mark.parametrize("id_last", [False, True], ids=["id-first", "id-last"])
def test_a_dropped_reply_fails_its_request_at_once_not_at_its_timeout(id_last: bool) -> None:
    events = Events()
    with open_fake(events, RuntimeOptions(max_line_bytes=MIB)) as conn:
        started = time.monotonic()
        with pytest.raises(LineTooLongError) as info:
            conn.request("test/huge-reply", {"size": 2 * MIB, "idLast": id_last}, timeout=60)
        assert time.monotonic() - started < 30  # at once: not after the request's 60 s timeout
        assert info.value.limit == MIB and info.value.size > 2 * MIB
        assert "1,048,576 bytes" in str(info.value)
        assert events.wait(LineDroppedEvent).request_id is not None
        assert echo(conn, 1) == {"n": 1}  # reading resynced
        assert conn.status().pending_requests == 0


def huge_turn_config(layout: str) -> CodexConfig:
    config = fake_engine_config(FAKE_ENGINE_HUGE_ITEM=str(2 * MIB), FAKE_ENGINE_HUGE_LAYOUT=layout)
    return dataclasses.replace(config, max_line_bytes=MIB)


@pytest.mark.parametrize("layout", ["first", "last"], ids=["ids-before-the-item", "ids-after-the-item"])
def test_a_dropped_event_fails_its_turn_at_once_and_the_turn_completed_after_it_does_not_count(
    layout: str,
) -> None:
    with Codex(huge_turn_config(layout)) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        handle = thread.turn("say a lot")
        started = time.monotonic()
        methods: list[str] = []
        with pytest.raises(LineTooLongError) as info:
            for event in handle.stream():
                methods.append(event.method)
        assert time.monotonic() - started < 30  # at once: without the drop, the turn would never end
        assert "'item/completed'" in str(info.value) and handle.id in str(info.value)
        # The events before the dropped line are in the log, nothing after it (the turn/completed came later).
        assert methods[0] == "turn/started" and methods[-1] == "item/agentMessage/delta"
        assert "turn/completed" not in methods
        assert thread.run("again").final_response == "xxx"  # the same thread runs on


def test_a_run_turn_sender_is_told_the_line_too_long_error() -> None:
    with Codex(huge_turn_config("last")) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        # Asked through the thread's address, a RunTurn is answered with the TurnFinished its sender is told.
        finished = thread.actor_ref.ask(RunTurn(input="hi", approval_mode=ApprovalMode.deny_all), timeout=10)
        assert isinstance(finished.error, LineTooLongError) and finished.result is None


def test_an_answer_to_a_server_request_that_cannot_be_sent_becomes_an_error_answer() -> None:
    router = Router()
    conn = EngineConnection.open(fake_engine_config(), router=router)
    router.requests = lambda request: conn.reply(request.id, {"contentItems": [{"text": "bad \ud800"}]})
    with conn:
        answer = msgspec.json.decode(conn.request("test/server-request", {"method": "item/tool/call"}, timeout=5))
        assert answer["answer"]["id"] == 0
        assert "content_items[0].text" in answer["answer"]["error"]["message"]
        assert echo(conn, 2) == {"n": 2}  # the port lives on
