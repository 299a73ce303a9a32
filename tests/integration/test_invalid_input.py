"""Input that cannot be sent (a lone surrogate, a schema that is not JSON) fails before anything is sent.

On the REAL engine: the error is an ``InvalidInputError`` naming the field, from the sync and async APIs and
through a thread actor's ``RunTurn``; the scripted model sees no request, and the thread works on after.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex, TextInput
from codex_actors.actors import RunTurn
from codex_actors.errors import InvalidInputError
from codex_actors.testing import OfflineEngine, message

pytestmark = pytest.mark.integration

DENY = ApprovalMode.deny_all


def test_bad_input_is_refused_before_sending_and_the_thread_runs_on(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("still fine"))
    with Codex(offline.config) as codex:
        with pytest.raises(InvalidInputError) as start:
            codex.thread_start(approval_mode=DENY, model="gpt\ud800")
        assert start.value.field == "model"
        thread = codex.thread_start(approval_mode=DENY)
        cases: list[tuple[Any, dict[str, Any], str]] = [
            ("a\ud800b", {}, "input[0].text"),
            ([TextInput("fine"), TextInput("\udc00")], {}, "input[1].text"),
            (
                "hi",
                {"output_schema": {"type": "object", "properties": {"x": object()}}},
                "output_schema.properties.x",
            ),
            ("hi", {"cwd": "/tmp/\ud800"}, "cwd"),
        ]
        for prompt, options, field in cases:
            with pytest.raises(InvalidInputError) as info:
                thread.run(prompt, approval_mode=DENY, **options)
            assert info.value.field == field
            with pytest.raises(InvalidInputError):
                thread.turn(prompt, approval_mode=DENY, **options)
        assert offline.model.model_requests == []  # nothing reached the engine's model
        assert thread.run("ok", approval_mode=DENY).final_response == "still fine"
        assert len(offline.model.model_requests) == 1


def test_bad_input_from_the_async_api_and_a_run_turn_message(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("after"))

    async def scenario() -> str | None:
        async with AsyncCodex(offline.config) as codex:
            thread = await codex.thread_start(approval_mode=DENY)
            with pytest.raises(InvalidInputError) as info:
                await thread.run("x\ud800", approval_mode=DENY)
            assert info.value.field == "input[0].text"
            result = await thread.run("fine", approval_mode=DENY)
            return result.final_response

    assert asyncio.run(scenario()) == "after"
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=DENY)
        # Asked through the thread's address, a RunTurn is answered with the TurnFinished its sender is told.
        finished = thread.actor_ref.ask(RunTurn(input="\ud800", approval_mode=DENY), timeout=10)
        assert isinstance(finished.error, InvalidInputError) and finished.error.field == "input[0].text"
    assert len(offline.model.model_requests) == 1
